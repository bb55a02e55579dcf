// The Python session driver: run inside the sandbox as `python3 -u -c DRIVER OUTPUT_CAP FILE_CAP`
// (passed as argv, never written to the workspace, so user code cannot replace it). It reads one
// JSON request per line on a private copy of stdin and answers one JSON line per request on a
// private copy of stdout; fds 0, 1 and 2 of the user code are /dev/null and two pipes whose
// bytes are captured per run (so neither print() nor a subprocess can forge a response by
// accident). One globals dict keeps variables, imports and definitions between runs; the last
// statement, when it is an expression, is evaluated and its repr() returned as `result` (as a
// Jupyter kernel does). SIGINT (sent by the host when a run's wall time is over) raises
// KeyboardInterrupt in the user code. File operations open every path component relative to
// the workspace with O_NOFOLLOW: a symlink never leads out of /work.
// The host treats every byte this driver writes as untrusted (protocol.ts).
export const PYTHON_DRIVER = String.raw`
import ast, base64, io, json, os, stat, sys, threading, traceback
OUT_CAP = int(sys.argv[1]); FILE_CAP = int(sys.argv[2]); WS = '/work'
sys.dont_write_bytecode = True
if WS not in sys.path: sys.path.insert(0, WS)
_proto_in = os.fdopen(os.dup(0), 'rb')
_proto_out = os.fdopen(os.dup(1), 'wb', buffering=0)
_null = os.open('/dev/null', os.O_RDONLY); os.dup2(_null, 0); os.close(_null)
sys.stdin = open('/dev/null')
class _Capture:
    def __init__(self, fd):
        r, w = os.pipe(); os.dup2(w, fd); os.close(w)
        self.r = r; self.buf = bytearray(); self.truncated = False
        self.cv = threading.Condition(); self.marks = 0
        threading.Thread(target=self.pump, daemon=True).start()
    def pump(self):
        pending = b''
        while True:
            data = os.read(self.r, 65536)
            if not data: return
            pending += data
            while True:
                i = pending.find(_MARK)
                if i < 0: break
                self.add(pending[:i]); pending = pending[i + len(_MARK):]
                with self.cv: self.marks += 1; self.cv.notify_all()
            keep = len(_MARK) - 1
            if len(pending) > keep:
                self.add(pending[:-keep]); pending = pending[-keep:]
    def add(self, data):
        with self.cv:
            room = OUT_CAP - len(self.buf)
            if len(data) > room: self.truncated = True; data = data[:max(room, 0)]
            self.buf += data
    def take(self, fd):
        with self.cv: want = self.marks + 1
        os.write(fd, _MARK)
        with self.cv:
            self.cv.wait_for(lambda: self.marks >= want, timeout=5)
            data = bytes(self.buf); t = self.truncated
            self.buf = bytearray(); self.truncated = False
        return data.decode('utf-8', 'replace'), t
_MARK = b'\x00cylo-sync-' + os.urandom(12).hex().encode() + b'\x00'
_out = _Capture(1); _err = _Capture(2)
sys.stdout = io.TextIOWrapper(io.FileIO(1, 'w', closefd=False), encoding='utf-8', errors='replace', write_through=True)
sys.stderr = io.TextIOWrapper(io.FileIO(2, 'w', closefd=False), encoding='utf-8', errors='replace', write_through=True)
G = {'__name__': '__main__', '__builtins__': __builtins__}
_cells = [0]

def _figures():
    plt = sys.modules.get('matplotlib.pyplot')
    if plt is None: return []
    images = []
    for n in plt.get_fignums():
        b = io.BytesIO(); plt.figure(n).savefig(b, format='png')
        images.append({'mimeType': 'image/png', 'data': base64.b64encode(b.getvalue()).decode()})
    plt.close('all')
    return images

def _exec(code):
    _cells[0] += 1; name = '<cell %d>' % _cells[0]
    result = None; error = None
    try:
        import linecache; linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        tree = ast.parse(code, name, 'exec')
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, name, 'exec'), G)
        if last is not None:
            value = eval(compile(last, name, 'eval'), G)
            if value is not None:
                G['_'] = value; result = repr(value)[:OUT_CAP]
    except BaseException as e:
        te = traceback.TracebackException(type(e), e, e.__traceback__)
        te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename != '<string>'])
        error = {'type': type(e).__name__, 'message': str(e)[:OUT_CAP], 'traceback': ''.join(te.format())[-OUT_CAP:]}
    try: images = _figures()
    except BaseException: images = []
    sys.stdout.flush(); sys.stderr.flush()
    out, ot = _out.take(1); err, et = _err.take(2)
    return {'stdout': out, 'stderr': err, 'stdoutTruncated': ot, 'stderrTruncated': et, 'result': result, 'images': images, 'error': error}

class _BadPath(Exception): pass

def _check(path):
    if not isinstance(path, str) or path == '' or path.startswith('/') or '\\' in path or any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise _BadPath('bad path')
    parts = path.split('/')
    if any(p in ('', '.', '..') or len(p.encode()) > 255 for p in parts): raise _BadPath('bad path')
    return parts

def _parent(parts, create):
    fd = os.open(WS, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for p in parts[:-1]:
            if create:
                try: os.mkdir(p, 0o755, dir_fd=fd)
                except FileExistsError: pass
            nfd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd); fd = nfd
        return fd
    except BaseException:
        os.close(fd); raise

def _file_op(req):
    op = req['op']
    if op == 'list': return {'files': _list()}
    parts = _check(req.get('path'))
    fd = _parent(parts, op == 'write')
    try:
        if op == 'write':
            data = base64.b64decode(req['content'], validate=True)
            if len(data) > FILE_CAP: return {'error': {'type': 'FileTooLarge', 'message': 'larger than %d bytes' % FILE_CAP}}
            f = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644, dir_fd=fd)
            try:
                if not stat.S_ISREG(os.fstat(f).st_mode): raise _BadPath('not a regular file')
                view = memoryview(data)
                while view: view = view[os.write(f, view):]
            finally: os.close(f)
            return {'size': len(data)}
        if op == 'read':
            f = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
            try:
                st = os.fstat(f)
                if not stat.S_ISREG(st.st_mode): raise _BadPath('not a regular file')
                if st.st_size > FILE_CAP: return {'error': {'type': 'FileTooLarge', 'message': 'larger than %d bytes' % FILE_CAP}}
                chunks = []; total = 0
                while True:
                    c = os.read(f, 1 << 20)
                    if not c: break
                    total += len(c)
                    if total > FILE_CAP: return {'error': {'type': 'FileTooLarge', 'message': 'larger than %d bytes' % FILE_CAP}}
                    chunks.append(c)
            finally: os.close(f)
            data = b''.join(chunks)
            return {'size': len(data), 'content': base64.b64encode(data).decode()}
        if op == 'delete':
            st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                import shutil; shutil.rmtree(parts[-1], dir_fd=fd)
            else: os.unlink(parts[-1], dir_fd=fd)
            return {}
    finally: os.close(fd)
    raise _BadPath('unknown op')

def _list():
    files = []
    for root, dirs, names, rfd in os.fwalk(WS, follow_symlinks=False):
        rel = os.path.relpath(root, WS)
        if rel == '.':
            rel = ''
            if '.tmp' in dirs: dirs.remove('.tmp')
        for n in names:
            st = os.stat(n, dir_fd=rfd, follow_symlinks=False)
            kind = 'file' if stat.S_ISREG(st.st_mode) else 'symlink' if stat.S_ISLNK(st.st_mode) else 'other'
            files.append({'path': (rel + '/' if rel else '') + n, 'size': st.st_size, 'type': kind})
            if len(files) >= 10000: return files
    return files

def _answer(msg):
    _proto_out.write(json.dumps(msg, separators=(',', ':')).encode() + b'\n')

def _main():
    for line in _proto_in:
        try: req = json.loads(line)
        except ValueError: _answer({'id': None, 'error': {'type': 'ProtocolError', 'message': 'bad request line'}}); continue
        rid = req.get('id')
        try:
            if req.get('op') == 'exec': body = _exec(req.get('code', ''))
            elif req.get('op') == 'ping': body = {}
            else: body = _file_op(req)
        except KeyboardInterrupt:
            body = {'error': {'type': 'KeyboardInterrupt', 'message': 'interrupted'}}
        except _BadPath as e:
            body = {'error': {'type': 'BadPath', 'message': str(e)}}
        except OSError as e:
            import errno
            if e.errno == errno.ELOOP: body = {'error': {'type': 'BadPath', 'message': 'a symbolic link: links are not followed'}}
            else: body = {'error': {'type': 'OSError', 'message': '%s: %s' % (type(e).__name__, e.strerror or e)}}
        except Exception as e:
            body = {'error': {'type': type(e).__name__, 'message': str(e)[:4096]}}
        body['id'] = rid
        _answer(body)

while True:
    try:
        _main(); break
    except KeyboardInterrupt:
        continue
`;
