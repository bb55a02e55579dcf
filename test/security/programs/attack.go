// cylo security battery: the Go attack program. Compiled ONCE per test run (the compile cache
// keeps it across runs) and run ONLY inside cylo's sandbox, after the pre-flight passed:
//
//	main ATTACK [ARGS...]
//
// Each probe prints one line "name=RESULT": "ok" or the exact errno name. Raw syscalls go
// through syscall.Syscall6, so the Go runtime's own wrappers hide nothing.
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

var errnoNames = map[syscall.Errno]string{
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.ESRCH: "ESRCH", syscall.EINTR: "EINTR",
	syscall.EIO: "EIO", syscall.E2BIG: "E2BIG", syscall.EBADF: "EBADF", syscall.ECHILD: "ECHILD",
	syscall.EAGAIN: "EAGAIN", syscall.ENOMEM: "ENOMEM", syscall.EACCES: "EACCES", syscall.EFAULT: "EFAULT",
	syscall.EBUSY: "EBUSY", syscall.EEXIST: "EEXIST", syscall.EXDEV: "EXDEV", syscall.ENODEV: "ENODEV",
	syscall.ENOTDIR: "ENOTDIR", syscall.EISDIR: "EISDIR", syscall.EINVAL: "EINVAL", syscall.ENFILE: "ENFILE",
	syscall.EMFILE: "EMFILE", syscall.ENOTTY: "ENOTTY", syscall.EFBIG: "EFBIG", syscall.ENOSPC: "ENOSPC",
	syscall.EROFS: "EROFS", syscall.EPIPE: "EPIPE", syscall.ENOSYS: "ENOSYS", syscall.ENOTSUP: "EOPNOTSUPP",
	syscall.EAFNOSUPPORT: "EAFNOSUPPORT", syscall.EADDRINUSE: "EADDRINUSE", syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL",
	syscall.ENETUNREACH: "ENETUNREACH", syscall.ECONNREFUSED: "ECONNREFUSED", syscall.EHOSTUNREACH: "EHOSTUNREACH",
	syscall.ETIMEDOUT: "ETIMEDOUT", syscall.ENOKEY: "ENOKEY", syscall.ELOOP: "ELOOP", syscall.EPROTONOSUPPORT: "EPROTONOSUPPORT",
}

func errName(err error) string {
	for err != nil {
		if e, ok := err.(syscall.Errno); ok {
			if n, ok := errnoNames[e]; ok {
				return n
			}
			return "errno" + strconv.Itoa(int(e))
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return "error:" + err.Error()
		}
		err = u.Unwrap()
	}
	return "ok"
}

func say(name, result string) { fmt.Printf("%s=%s\n", name, result) }

func sc(name string, trap uintptr, a ...uintptr) {
	var args [6]uintptr
	copy(args[:], a)
	r, _, e := syscall.Syscall6(trap, args[0], args[1], args[2], args[3], args[4], args[5])
	if e != 0 {
		say(name, errName(e))
		return
	}
	_ = r
	say(name, "ok")
}

func cstr(s string) uintptr {
	b := append([]byte(s), 0)
	return uintptr(unsafe.Pointer(&b[0]))
}

func sleeperChild() int {
	pid, err := syscall.ForkExec("/usr/bin/sleep", []string{"sleep", "30"}, &syscall.ProcAttr{})
	if err != nil {
		return -1
	}
	return pid
}

func reap(pid int) {
	if pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	}
}

func attackSyscalls() {
	sc("unshare_user", syscall.SYS_UNSHARE, syscall.CLONE_NEWUSER)
	sc("unshare_mount", syscall.SYS_UNSHARE, syscall.CLONE_NEWNS)
	sc("clone3", 435, 0, 0)
	sc("mount", syscall.SYS_MOUNT, cstr("none"), cstr("/work"), cstr("tmpfs"), 0, 0)
	sc("pivot_root", syscall.SYS_PIVOT_ROOT, cstr("."), cstr("."))
	sc("fsopen", 430, cstr("tmpfs"), 0)
	sc("open_tree", 428, ^uintptr(99) /* AT_FDCWD */, cstr("/usr"), 1)
	sc("move_mount", 429, ^uintptr(0), cstr(""), ^uintptr(99), cstr("/work"), 4)
	sc("ptrace_traceme", syscall.SYS_PTRACE, 0, 0, 0, 0)
	child := sleeperChild()
	sc("ptrace_attach", syscall.SYS_PTRACE, 16, uintptr(child), 0, 0)
	buf := make([]byte, 8)
	iov := [2]uintptr{uintptr(unsafe.Pointer(&buf[0])), 8}
	sc("process_vm_readv", 310, uintptr(child), uintptr(unsafe.Pointer(&iov)), 1, uintptr(unsafe.Pointer(&iov)), 1, 0)
	reap(child)
	sc("keyctl", 250, 0, ^uintptr(2) /* -3: session keyring */, 0)
	attr := make([]byte, 128)
	sc("bpf", 321, 0, uintptr(unsafe.Pointer(&attr[0])), 128)
	perf := make([]uint32, 32)
	perf[0], perf[1] = 1, 128
	sc("perf_event_open", 298, uintptr(unsafe.Pointer(&perf[0])), 0, ^uintptr(0), ^uintptr(0), 0)
	params := make([]byte, 120)
	sc("io_uring_setup", 425, 1, uintptr(unsafe.Pointer(&params[0])))
	sc("userfaultfd", 323, 0)
	c := []byte{'x'}
	sc("tiocsti", syscall.SYS_IOCTL, 0, syscall.TIOCSTI, uintptr(unsafe.Pointer(&c[0])))
	sc("tiocsti_high_bits", syscall.SYS_IOCTL, 0, 0x100005412, uintptr(unsafe.Pointer(&c[0])))
	sc("x32_getpid", 0x40000000|syscall.SYS_GETPID)
	sc("personality_addr_no_randomize", syscall.SYS_PERSONALITY, 0x0040000)
	sc("socket_vsock", syscall.SYS_SOCKET, 40, syscall.SOCK_STREAM, 0)
	fd, err := syscall.Open("/proc/self/ns/net", syscall.O_RDONLY, 0)
	if err == nil {
		sc("setns", 308, uintptr(fd), 0)
	} else {
		say("setns", "open:"+errName(err))
	}
	sc("setuid_0", syscall.SYS_SETUID, 0)
}

func attackForkBomb() {
	started := 0
	reported := false
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, err := syscall.ForkExec("/usr/bin/sleep", []string{"sleep", "30"}, &syscall.ProcAttr{})
		if err != nil {
			if !reported {
				say("fork", errName(err))
				fmt.Printf("started=%d\n", started)
				reported = true
			}
			time.Sleep(time.Millisecond)
			continue
		}
		started++
	}
}

// Goroutines blocked in raw syscalls each hold an OS thread: the runtime needs ever more threads
// until pthread_create/clone fails and the runtime aborts.
func attackThreadBomb() {
	for i := 0; i < 10000; i++ {
		go func() {
			runtime.LockOSThread()
			syscall.Syscall(syscall.SYS_PAUSE, 0, 0, 0)
		}()
		time.Sleep(time.Millisecond)
	}
	time.Sleep(30 * time.Second)
}

func attackMemoryBomb() {
	var keep [][]byte
	for {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 0x5a
		}
		keep = append(keep, b)
	}
}

func attackFillBytes() {
	f, err := os.Create("/work/fill")
	if err != nil {
		say("open", errName(err))
		return
	}
	buf := make([]byte, 64*1024)
	total := 0
	for {
		n, err := f.Write(buf)
		total += n
		if err != nil {
			say("write", errName(err))
			fmt.Printf("bytes=%d\n", total)
			return
		}
	}
}

func attackFlood(f *os.File) {
	buf := []byte(strings.Repeat("G", 64*1024))
	for {
		if _, err := f.Write(buf); err != nil {
			os.Exit(3)
		}
	}
}

func attackDaemon() {
	// A re-executed copy of this program in its own session: the Go way to daemonise.
	cmd := exec.Command("/proc/self/exe", append([]string{"daemon-child"}, os.Args[2:]...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		say("daemon", errName(err))
		return
	}
	time.Sleep(100 * time.Millisecond)
	say("daemon", "started")
}

func attackKill(pids []string) {
	say("kill_minus_1_alone", errName(syscall.Kill(-1, syscall.SIGKILL)))
	say("kill_pid1", errName(syscall.Kill(1, syscall.SIGKILL)))
	for i, p := range pids {
		n, _ := strconv.Atoi(p)
		say(fmt.Sprintf("kill_host_%d", i), errName(syscall.Kill(n, syscall.SIGKILL)))
	}
	say("survived", "ok")
}

func attackRead(paths []string) {
	for _, p := range paths {
		f, err := os.Open(p)
		if err == nil {
			_, err = f.Read(make([]byte, 64))
			f.Close()
		}
		say(p, errName(err))
	}
}

func attackWrite(paths []string) {
	for _, p := range paths {
		err := os.WriteFile(p, []byte("planted\n"), 0o644)
		say(p, errName(err))
	}
}

func attackNet(args []string) {
	dial := func(name, network, addr string) {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
		}
		say(name, errName(err))
	}
	dial("tcp4_canary", "tcp4", "127.0.0.1:"+args[0])
	if args[1] != "0" {
		dial("tcp6_canary", "tcp6", "[::1]:"+args[1])
	}
	u, err := net.Dial("udp4", "127.0.0.1:"+args[2])
	if err == nil {
		for i := 0; i < 3 && err == nil; i++ {
			_, err = u.Write([]byte("cylo"))
			time.Sleep(20 * time.Millisecond)
		}
		u.Close()
	}
	say("udp_canary", errName(err))
	dial("unix_abstract", "unix", "@"+args[3])
	dial("unix_pathname", "unix", args[4])
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: main ATTACK [ARGS...]")
		os.Exit(2)
	}
	args := os.Args[2:]
	// A trailing "cylomark..." argument only marks the process for the host-side checks.
	if len(args) > 0 && strings.HasPrefix(args[len(args)-1], "cylomark") {
		args = args[:len(args)-1]
	}
	switch os.Args[1] {
	case "hello":
		say("hello", "ok")
	case "syscalls":
		attackSyscalls()
	case "fork-bomb":
		attackForkBomb()
	case "thread-bomb":
		attackThreadBomb()
	case "memory-bomb":
		attackMemoryBomb()
	case "fill-bytes":
		attackFillBytes()
	case "stdout-flood":
		attackFlood(os.Stdout)
	case "stderr-flood":
		attackFlood(os.Stderr)
	case "busy":
		for {
		}
	case "sleep":
		select {}
	case "sigstop":
		say("stopping", "ok")
		syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		say("resumed", "ok")
	case "daemon":
		attackDaemon()
	case "daemon-child":
		select {}
	case "kill":
		attackKill(args)
	case "read":
		attackRead(args)
	case "write":
		attackWrite(args)
	case "net":
		attackNet(args)
	default:
		fmt.Fprintln(os.Stderr, "unknown attack", os.Args[1])
		os.Exit(2)
	}
}
