// cylo security battery: the Rust attack program. Run ONLY inside cylo's sandbox, after the
// pre-flight passed:  main ATTACK [ARGS...]
// Each probe prints one line "name=RESULT": "ok" or the errno name. No crates: the few libc
// calls std does not wrap (fork, kill) are declared here; std links libc anyway.
use std::fs::{File, OpenOptions};
use std::io::{Error, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

extern "C" {
    fn fork() -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn pause() -> i32;
}
const SIGKILL: i32 = 9;

fn errno_name(e: &Error) -> String {
    match e.raw_os_error() {
        Some(1) => "EPERM".into(),
        Some(2) => "ENOENT".into(),
        Some(3) => "ESRCH".into(),
        Some(11) => "EAGAIN".into(),
        Some(12) => "ENOMEM".into(),
        Some(13) => "EACCES".into(),
        Some(27) => "EFBIG".into(),
        Some(28) => "ENOSPC".into(),
        Some(30) => "EROFS".into(),
        Some(101) => "ENETUNREACH".into(),
        Some(111) => "ECONNREFUSED".into(),
        Some(n) => format!("errno{}", n),
        None => format!("error:{}", e),
    }
}

fn say(name: &str, result: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}={}", name, result);
    let _ = out.flush();
}

fn attempt<T>(name: &str, r: std::io::Result<T>) {
    match r {
        Ok(_) => say(name, "ok"),
        Err(e) => say(name, &errno_name(&e)),
    }
}

fn last_error(rc: i32) -> std::io::Result<i32> {
    if rc < 0 { Err(Error::last_os_error()) } else { Ok(rc) }
}

fn fork_bomb() {
    let mut started = 0;
    let mut reported = false;
    loop {
        let pid = unsafe { fork() };
        if pid == 0 {
            loop {
                if unsafe { fork() } < 0 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        if pid < 0 {
            if !reported {
                say("fork", &errno_name(&Error::last_os_error()));
                say("started", &started.to_string());
                reported = true;
            }
            std::thread::sleep(Duration::from_millis(1));
        } else {
            started += 1;
        }
    }
}

fn memory_bomb() {
    let mut keep: Vec<Vec<u8>> = Vec::new();
    loop {
        keep.push(vec![0x5a; 1 << 20]);
    }
}

fn fill_bytes() {
    let mut total: u64 = 0;
    let chunk = [b'x'; 65536];
    let mut f = File::create("/work/fill").expect("create /work/fill");
    loop {
        match f.write(&chunk) {
            Ok(n) => total += n as u64,
            Err(e) => {
                say("write", &errno_name(&e));
                say("bytes", &total.to_string());
                return;
            }
        }
    }
}

fn read_files(paths: &[String]) {
    for p in paths {
        let mut buf = [0u8; 64];
        attempt(p, File::open(p).and_then(|mut f| f.read(&mut buf)));
    }
}

fn write_files(paths: &[String]) {
    for p in paths {
        attempt(p, OpenOptions::new().write(true).create(true).truncate(true).open(p).and_then(|mut f| f.write_all(b"planted\n")));
    }
}

fn net(args: &[String]) {
    let addr = format!("127.0.0.1:{}", args[0]);
    attempt("tcp4_canary", TcpStream::connect_timeout(&addr.parse().expect("address"), Duration::from_secs(1)));
    attempt("unix_pathname", UnixStream::connect(&args[1]));
}

fn kill_all(pids: &[String]) {
    attempt("kill_minus_1_alone", last_error(unsafe { kill(-1, SIGKILL) }));
    let child = unsafe { fork() };
    if child == 0 {
        loop {
            unsafe { pause() };
        }
    }
    attempt("kill_minus_1_with_child", last_error(unsafe { kill(-1, SIGKILL) }));
    let mut status = 0;
    unsafe { waitpid(child, &mut status, 0) };
    say("child_killed_by", if status & 0x7f == SIGKILL { "SIGKILL" } else { "nothing" });
    attempt("kill_pid1", last_error(unsafe { kill(1, SIGKILL) }));
    for (i, p) in pids.iter().enumerate() {
        attempt(&format!("kill_host_{}", i), last_error(unsafe { kill(p.parse().expect("pid"), SIGKILL) }));
    }
    say("survived", "ok");
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // A trailing "cylomark..." argument only marks the process for the host-side checks.
    if args.last().map_or(false, |a| a.starts_with("cylomark")) {
        args.pop();
    }
    if args.is_empty() {
        eprintln!("usage: main ATTACK [ARGS...]");
        std::process::exit(2);
    }
    let rest = &args[1..];
    match args[0].as_str() {
        "hello" => say("hello", "ok"),
        "fork-bomb" => fork_bomb(),
        "memory-bomb" => memory_bomb(),
        "fill-bytes" => fill_bytes(),
        "read" => read_files(rest),
        "write" => write_files(rest),
        "net" => net(rest),
        "kill" => kill_all(rest),
        other => {
            eprintln!("unknown attack {}", other);
            std::process::exit(2);
        }
    }
}
