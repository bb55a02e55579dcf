# cylo security battery: the Python attack program. Run ONLY inside cylo's sandbox, after the
# pre-flight passed:  main.py ATTACK [ARGS...]
# Each probe prints one line "name=RESULT": "ok" or the exact errno name. Raw syscalls go
# through ctypes (libc.syscall), with harmless arguments.
import ctypes
import errno
import os
import signal
import socket
import sys
import threading
import time

libc = ctypes.CDLL(None, use_errno=True)


def name_of(e):
    return errno.errorcode.get(e, 'errno%d' % e)


def say(name, result):
    print('%s=%s' % (name, result), flush=True)


def sc(name, *args):
    ctypes.set_errno(0)
    r = libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    say(name, name_of(ctypes.get_errno()) if r < 0 else 'ok')


def attempt(name, fn):
    try:
        fn()
        say(name, 'ok')
    except OSError as e:
        say(name, name_of(e.errno))


def cbuf(s):
    return ctypes.create_string_buffer(s.encode())


def sleeper():
    pid = os.fork()
    if pid == 0:
        while True:
            signal.pause()
    return pid


def reap(pid):
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


# x86_64 numbers (the battery runs on x86_64 or skips these probes)
NR = dict(unshare=272, clone=56, clone3=435, setns=308, mount=165, umount2=166, pivot_root=155,
          chroot=161, fsopen=430, fspick=433, fsmount=432, open_tree=428, move_mount=429,
          mount_setattr=442, ptrace=101, process_vm_readv=310, process_vm_writev=311, keyctl=250,
          add_key=248, bpf=321, perf_event_open=298, io_uring_setup=425, userfaultfd=323,
          ioctl=16, getpid=39, personality=135, socket=41, setuid=105, init_module=175,
          kexec_load=246, open_by_handle_at=304)


def attack_syscalls():
    sc('unshare_user', NR['unshare'], 0x10000000)
    sc('unshare_mount', NR['unshare'], 0x00020000)
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(NR['clone']), ctypes.c_long(0x10000000 | 17), 0, 0, 0, 0)
    if r == 0:
        os._exit(0)
    if r > 0:
        os.waitpid(r, 0)
    say('clone_newuser', name_of(ctypes.get_errno()) if r < 0 else 'ok')
    args = (ctypes.c_uint64 * 11)(0x10000000, 0, 0, 0, 17)
    sc('clone3', NR['clone3'], ctypes.addressof(args), 88)
    fd = os.open('/proc/self/ns/net', os.O_RDONLY)
    sc('setns', NR['setns'], fd, 0)
    os.close(fd)
    sc('mount', NR['mount'], cbuf('none'), cbuf('/work'), cbuf('tmpfs'), 0, None)
    sc('umount2', NR['umount2'], cbuf('/work'), 2)
    sc('pivot_root', NR['pivot_root'], cbuf('.'), cbuf('.'))
    sc('chroot', NR['chroot'], cbuf('/work'))
    sc('fsopen', NR['fsopen'], cbuf('tmpfs'), 0)
    sc('fspick', NR['fspick'], -100, cbuf('/'), 0)
    sc('fsmount', NR['fsmount'], -1, 0, 0)
    sc('open_tree', NR['open_tree'], -100, cbuf('/usr'), 1)
    sc('move_mount', NR['move_mount'], -1, cbuf(''), -100, cbuf('/work'), 4)
    attr = ctypes.create_string_buffer(32)
    sc('mount_setattr', NR['mount_setattr'], -100, cbuf('/'), 0, attr, 32)
    sc('ptrace_traceme', NR['ptrace'], 0, 0, 0, 0)
    child = sleeper()
    sc('ptrace_attach', NR['ptrace'], 16, child, 0, 0)
    buf = ctypes.create_string_buffer(8)
    iov = (ctypes.c_uint64 * 2)(ctypes.addressof(buf), 8)
    sc('process_vm_readv', NR['process_vm_readv'], child, iov, 1, iov, 1, 0)
    sc('process_vm_writev', NR['process_vm_writev'], child, iov, 1, iov, 1, 0)
    reap(child)
    sc('keyctl', NR['keyctl'], 0, -3, 0)
    sc('add_key', NR['add_key'], cbuf('user'), cbuf('cylo'), cbuf('x'), 1, -2)
    bpf_attr = ctypes.create_string_buffer(128)
    sc('bpf', NR['bpf'], 0, bpf_attr, 128)
    perf = (ctypes.c_uint32 * 32)(1, 128)
    sc('perf_event_open', NR['perf_event_open'], perf, 0, -1, -1, 0)
    params = ctypes.create_string_buffer(120)
    sc('io_uring_setup', NR['io_uring_setup'], 1, params)
    sc('userfaultfd', NR['userfaultfd'], 0)
    c = ctypes.create_string_buffer(b'x')
    sc('tiocsti', NR['ioctl'], 0, 0x5412, c)
    sc('tiocsti_high_bits', NR['ioctl'], 0, 0x100005412, c)
    sc('x32_getpid', 0x40000000 | NR['getpid'])
    sc('personality_addr_no_randomize', NR['personality'], 0x0040000)
    sc('personality_query', NR['personality'], 0xffffffff)
    sc('socket_vsock', NR['socket'], 40, 1, 0)
    sc('setuid_0', NR['setuid'], 0)
    sc('init_module', NR['init_module'], None, 0, cbuf(''))
    sc('kexec_load', NR['kexec_load'], 0, 0, None, 0xffffffff)
    sc('open_by_handle_at', NR['open_by_handle_at'], -100, None, 0)


def attack_fork_bomb():
    started, reported = 0, False
    while True:
        try:
            if os.fork() == 0:
                while True:
                    try:
                        os.fork()
                    except OSError:
                        time.sleep(0.01)
            started += 1
        except OSError as e:
            if not reported:
                say('fork', name_of(e.errno))
                reported = True
            time.sleep(0.001)


def attack_thread_bomb():
    n = 0
    threading.stack_size(64 * 1024)
    try:
        while True:
            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
            n += 1
    except RuntimeError as e:
        say('thread', 'refused')
        print('threads=%d' % n, flush=True)
    os._exit(0)


def attack_memory_bomb():
    keep = []
    while True:
        keep.append(bytearray(b'\x5a' * (1 << 20)))


def attack_fill_bytes():
    total = 0
    chunk = b'x' * 65536
    try:
        with open('/work/fill', 'wb', buffering=0) as f:
            while True:
                total += f.write(chunk)
    except OSError as e:
        say('write', name_of(e.errno))
        print('bytes=%d' % total)


def attack_efbig():
    # Python ignores SIGXFSZ, so the kernel's answer shows as an errno.
    fd = os.open('/work/sparse', os.O_WRONLY | os.O_CREAT, 0o644)
    attempt('pwrite_beyond_fsize', lambda: os.pwrite(fd, b'x', 1 << 40))


def attack_fill_inodes():
    n = 0
    try:
        while True:
            os.close(os.open('/work/i%d' % n, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            n += 1
    except OSError as e:
        say('create', name_of(e.errno))
        print('files=%d' % n, flush=True)


def attack_flood(stream):
    chunk = b'P' * 65536
    while True:
        stream.write(chunk)


def attack_busy():
    while True:
        pass


def attack_daemon():
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            os.write(w, b'u')
            os.close(1)
            os.close(2)
            while True:
                signal.pause()
        os._exit(0)
    os.wait()
    say('daemon', 'started' if os.read(r, 1) == b'u' else 'failed')


def attack_kill(pids):
    attempt('kill_minus_1_alone', lambda: os.kill(-1, signal.SIGKILL))
    child = sleeper()
    attempt('kill_minus_1_with_child', lambda: os.kill(-1, signal.SIGKILL))
    _, status = os.waitpid(child, 0)
    say('child_killed_by', signal.Signals(os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else 'nothing')
    attempt('kill_pid1', lambda: os.kill(1, signal.SIGKILL))
    for i, p in enumerate(pids):
        attempt('kill_host_%d' % i, lambda p=p: os.kill(int(p), signal.SIGKILL))
    say('survived', 'ok')


def attack_read(paths):
    for p in paths:
        def read(p=p):
            with open(p, 'rb') as f:
                f.read(64)
        attempt(p, read)


def attack_write(paths):
    for p in paths:
        def write(p=p):
            with open(p, 'w') as f:
                f.write('planted\n')
        attempt(p, write)


def attack_net(args):
    tcp4, tcp6, udp, abstract, pathname = args
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    attempt('tcp4_canary', lambda: s.connect(('127.0.0.1', int(tcp4))))
    if tcp6 != '0':
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s6.settimeout(1)
        attempt('tcp6_canary', lambda: s6.connect(('::1', int(tcp6))))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect(('127.0.0.1', int(udp)))

    def send3():
        for _ in range(3):
            u.send(b'cylo')
            time.sleep(0.02)
    attempt('udp_canary', send3)
    ux = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    attempt('unix_abstract', lambda: ux.connect('\0' + abstract))
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    attempt('unix_pathname', lambda: up.connect(pathname))


def attack_routes():
    # The "metadata address" row: no packet is ever sent; the proof is that nothing routes.
    say('interfaces', ','.join(sorted(n for _, n in socket.if_nameindex())))
    route = open('/proc/net/route').read().splitlines()[1:]
    say('ipv4_routes', len(route))
    v6 = [line.split() for line in open('/proc/net/ipv6_route').read().splitlines()]
    say('ipv6_default_routes', sum(1 for f in v6 if f[0] == '0' * 32 and f[1] == '00' and f[9] != 'lo'))
    say('ipv6_route_devices', ','.join(sorted(set(f[9] for f in v6))))
    say('sys_class_net', 'present' if os.path.exists('/sys/class/net') else 'absent')


def attack_fastopen():
    # TCP Fast Open: sendto(MSG_FASTOPEN) connects without the LSM connect hook, past Landlock's
    # port rules. Loopback only: a listener of its own (listen() without bind() auto-binds, which
    # Landlock's bind rule does not see either), inside the sandbox's own network namespace.
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.listen(1)
    port = server.getsockname()[1]
    say('listen_autobind', 'ok')
    attempt('connect', lambda: socket.create_connection(('127.0.0.1', port), timeout=5).close())
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    attempt('fastopen', lambda: client.sendto(b'x', socket.MSG_FASTOPEN, ('127.0.0.1', port)))


def main():
    if len(sys.argv) < 2:
        print('usage: main.py ATTACK [ARGS...]', file=sys.stderr)
        sys.exit(2)
    attack, args = sys.argv[1], sys.argv[2:]
    # A trailing "cylomark..." argument only marks the process for the host-side checks.
    if args and args[-1].startswith('cylomark'):
        args = args[:-1]
    table = {
        'hello': lambda: say('hello', 'ok'),
        'syscalls': attack_syscalls,
        'fork-bomb': attack_fork_bomb,
        'thread-bomb': attack_thread_bomb,
        'memory-bomb': attack_memory_bomb,
        'fill-bytes': attack_fill_bytes,
        'efbig': attack_efbig,
        'fill-inodes': attack_fill_inodes,
        'stdout-flood': lambda: attack_flood(sys.stdout.buffer),
        'stderr-flood': lambda: attack_flood(sys.stderr.buffer),
        'busy': attack_busy,
        'sleep': lambda: time.sleep(1 << 20),
        'sigstop': lambda: (say('stopping', 'ok'), os.kill(os.getpid(), signal.SIGSTOP), say('resumed', 'ok')),
        'daemon': attack_daemon,
        'kill': lambda: attack_kill(args),
        'read': lambda: attack_read(args),
        'write': lambda: attack_write(args),
        'net': lambda: attack_net(args),
        'routes': attack_routes,
        'fastopen': attack_fastopen,
        'env': lambda: (say('environ', ';'.join(sorted(os.environ))), attempt('proc_self_environ', lambda: print('raw=' + open('/proc/self/environ', 'rb').read().decode().replace('\0', ';'))), attempt('proc_1_environ', lambda: open('/proc/1/environ', 'rb').read())),
    }
    fn = table.get(attack)
    if fn is None:
        print('unknown attack ' + attack, file=sys.stderr)
        sys.exit(2)
    fn()


main()
