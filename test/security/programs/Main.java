// cylo security battery: the Java attack program. Run ONLY inside cylo's sandbox, after the
// pre-flight passed:  java Main ATTACK [ARGS...]
// Each probe prints one line "name=RESULT": "ok", or what refused it. Java has no fork() and no
// errno: processes go through ProcessBuilder (its IOException names the errno's text), signals
// through ProcessHandle (absent when the pid does not exist in this PID namespace).
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

public class Main {
  static void say(String name, Object result) {
    System.out.println(name + "=" + result);
    System.out.flush();
  }

  /** The errno name in an IOException's text ("error=11, Resource temporarily unavailable"). */
  static String why(Throwable e) {
    String m = String.valueOf(e.getMessage());
    String[][] known = {{"Resource temporarily unavailable", "EAGAIN"}, {"Permission denied", "EACCES"}, {"Operation not permitted", "EPERM"},
      {"No such file or directory", "ENOENT"}, {"Read-only file system", "EROFS"}, {"No space left on device", "ENOSPC"},
      {"Connection refused", "ECONNREFUSED"}, {"Network is unreachable", "ENETUNREACH"}};
    for (String[] k : known) if (m.contains(k[0])) return k[1];
    return e.getClass().getSimpleName() + ":" + m.replace('\n', ' ');
  }

  interface Probe { void run() throws Exception; }

  static void attempt(String name, Probe p) {
    try {
      p.run();
      say(name, "ok");
    } catch (Exception e) {
      say(name, why(e));
    }
  }

  static void forkBomb() throws InterruptedException {
    List<Process> kept = new ArrayList<>();
    boolean reported = false;
    for (;;) {
      try {
        kept.add(new ProcessBuilder("/usr/bin/sleep", "30").start());
      } catch (IOException | Error e) {
        if (!reported) {
          say("spawn", why(e));
          say("started", kept.size());
          reported = true;
        }
        Thread.sleep(1);
      }
    }
  }

  static void memoryBomb() {
    List<byte[]> keep = new ArrayList<>();
    for (;;) {
      byte[] b = new byte[1 << 20];
      java.util.Arrays.fill(b, (byte) 0x5a);
      keep.add(b);
    }
  }

  static void fillBytes() throws IOException {
    long total = 0;
    byte[] chunk = new byte[65536];
    try (FileOutputStream f = new FileOutputStream("/work/fill")) {
      for (;;) {
        f.write(chunk);
        total += chunk.length;
      }
    } catch (IOException e) {
      say("write", why(e));
      say("bytes", total);
    }
  }

  static void kill(String[] pids) {
    Optional<ProcessHandle> pid1 = ProcessHandle.of(1);
    say("pid1_visible", pid1.isPresent() ? "yes" : "no");
    say("kill_pid1", pid1.map(h -> h.destroyForcibly() ? "sent" : "refused").orElse("ESRCH"));
    for (int i = 0; i < pids.length; i++) {
      Optional<ProcessHandle> h = ProcessHandle.of(Long.parseLong(pids[i]));
      say("kill_host_" + i, h.map(x -> x.destroyForcibly() ? "sent" : "refused").orElse("ESRCH"));
    }
    say("survived", "ok");
  }

  public static void main(String[] argv) throws Exception {
    List<String> args = new ArrayList<>(List.of(argv));
    // A trailing "cylomark..." argument only marks the process for the host-side checks.
    if (!args.isEmpty() && args.get(args.size() - 1).startsWith("cylomark")) args.remove(args.size() - 1);
    if (args.isEmpty()) {
      System.err.println("usage: Main ATTACK [ARGS...]");
      System.exit(2);
    }
    String[] rest = args.subList(1, args.size()).toArray(new String[0]);
    switch (args.get(0)) {
      case "hello" -> say("hello", "ok");
      case "fork-bomb" -> forkBomb();
      case "memory-bomb" -> memoryBomb();
      case "fill-bytes" -> fillBytes();
      case "read" -> { for (String p : rest) attempt(p, () -> { try (RandomAccessFile f = new RandomAccessFile(p, "r")) { f.read(new byte[64]); } }); }
      case "write" -> { for (String p : rest) attempt(p, () -> Files.writeString(Path.of(p), "planted\n")); }
      case "net" -> {
        attempt("tcp4_canary", () -> { try (Socket s = new Socket()) { s.connect(new InetSocketAddress("127.0.0.1", Integer.parseInt(rest[0])), 1000); } });
        attempt("unix_pathname", () -> { try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) { c.connect(UnixDomainSocketAddress.of(rest[1])); } });
      }
      case "kill" -> kill(rest);
      default -> {
        System.err.println("unknown attack " + args.get(0));
        System.exit(2);
      }
    }
  }
}
