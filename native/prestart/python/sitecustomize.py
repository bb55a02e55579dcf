# cylo's pre-start stub for Python (issue 19; docs/security.md "Pre-started runtimes").
#
# A pre-started interpreter is `python3 ENTRY` started before its request, with PYTHONPATH set to
# this directory only, so that `site` imports this file as sitecustomize once the interpreter is
# initialised (encodings, io, site-packages), BEFORE sys.path[0] is computed and before the
# entry file is opened. Here it blocks reading fd 1000 (PRESTART_HANDOVER_FD in native/prestart.h) for the request's extra arguments; after the
# handover the interpreter goes on exactly as a cold `python3 ENTRY ARGS...`: CPython itself
# computes sys.path[0], runs ENTRY as __main__, prints tracebacks and handles SystemExit,
# KeyboardInterrupt and signals, so nothing of this stub is on the program's stack.
#
# Trusted only until the handover: it runs with the program's uid, Landlock, seccomp and
# rlimits, and holds nothing the program may not see. It leaves no trace a program relies on:
# its directory is taken out of sys.path and of PYTHONPATH, the system's own sitecustomize (if
# any) is imported in its place, and it imports nothing new (sys and os are loaded by the
# interpreter's initialisation) except an environment's pre-imports (CYLO_PRESTART_IMPORTS),
# which are the one documented difference (docs/security.md "Pre-imported environments"):
# those modules are in sys.modules before the program starts. When the program's files could
# take the name of one of them, or a pre-import failed or wrote anything, the handover execs
# the interpreter again: a cold start.
import os
import sys


def _cylo_preimport():
    # An environment's pre-imports (CYLO_PRESTART_IMPORTS, comma-separated: src/sandbox/prestart.ts),
    # imported now, before sys.path[0] exists (nothing of /work can be found) and before the
    # request's files are written. Returns the top-level names of every module they loaded, or
    # None when one failed (the handover then starts the program cold: _cylo_cold).
    names = [n for n in os.environ.pop('CYLO_PRESTART_IMPORTS', '').split(',') if n]
    before, cached = set(sys.modules), set(sys.path_importer_cache)
    if _cylo_usercustomize_found():
        # A usercustomize already on the path (an environment's tree): a cold start runs it
        # before the program imports these modules, this stub would import them first (P2).
        _cylo_forget_finders(cached)
        return None
    # Whatever an import writes (a Python warning, a C library's message on fd 2) is not the
    # program's output: fds 1 and 2 point at an anonymous memory file meanwhile, and anything
    # in it makes the program start cold (where its own import writes it, if it imports the
    # module). The descriptors used here are closed again: the program's numbers are a cold
    # start's.
    captured = os.memfd_create('cylo-preimport', os.MFD_CLOEXEC)
    saved = (os.dup(1), os.dup(2))
    os.dup2(captured, 1)
    os.dup2(captured, 2)
    failed = False
    try:
        for name in names:
            __import__(name)
    except BaseException:  # noqa: B902 (whatever it was, the program must not see it)
        failed = True
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: B902 (a failed flush is output lost: start cold)
                failed = True
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        wrote = os.fstat(captured).st_size > 0
        os.close(captured)
    if failed or wrote:
        return None
    _cylo_forget_finders(cached)
    return {m.partition('.')[0] for m in set(sys.modules) - before}


def _cylo_forget_finders(cached):
    # The finders the imports cached for their packages' directories: dropped, so that the cache
    # is a cold start's (it only saves a lookup; the import system makes them again on demand).
    for path in set(sys.path_importer_cache) - cached:
        del sys.path_importer_cache[path]


def _cylo_usercustomize_found():
    # True when a cold start would import a usercustomize (site.execusercustomize: only with the
    # user site enabled) found on the path as it is now. Looked up with the path finder already
    # in sys.meta_path: nothing new is imported.
    site = sys.modules.get('site')
    if site is None or not getattr(site, 'ENABLE_USER_SITE', False):
        return False
    for finder in sys.meta_path:
        if getattr(finder, '__name__', '') == 'PathFinder' and finder.find_spec('usercustomize', None) is not None:
            return True
    return False


def _cylo_forget_workspace_finders():
    # A PYTHONPATH directory in the workspace (the request's own) was looked up while the
    # interpreter imported this stub, before the request's files existed: the import system
    # cached "no such directory" (None) for it and would never look again. Every cached finder of
    # the workspace is dropped: a cold start makes them on demand, from the files as they are.
    work = os.getcwd()
    for path in [p for p in sys.path_importer_cache if p == work or p.startswith(work + '/')]:
        del sys.path_importer_cache[path]


def _cylo_user_site_arrived():
    # True when the user site directory (HOME is the workspace) came with the request's files: a
    # cold start adds it to sys.path and runs its .pth files at start, before sitecustomize,
    # which this runtime did before the files existed. It then starts cold (P2).
    site = sys.modules.get('site')
    if site is None or not getattr(site, 'ENABLE_USER_SITE', False):
        return False
    user = site.getusersitepackages()
    return user not in sys.path and os.path.isdir(user)


def _cylo_workspace_sitecustomize():
    # True when a directory of the workspace on sys.path (a PYTHONPATH of the request's) holds a
    # sitecustomize: a cold start imports the first one on the path, which is that one, where
    # this runtime imported the system's (or none) before the files existed (P2: start cold).
    work = os.getcwd()
    for path in sys.path:
        if path != work and not path.startswith(work + '/'):
            continue
        try:
            entries = os.listdir(path)
        except OSError:
            continue
        if any(e == 'sitecustomize' or e.startswith('sitecustomize.') for e in entries):
            return True
    return False


def _cylo_workspace_names(roots):
    # The names a module of the program's files could be imported by: every file and directory
    # anywhere under ROOTS (its stem up to the first dot: main.py, x.cpython-311.so, pkg/). At
    # most 10000 entries; None beyond (too many to tell: the program starts cold).
    names, seen = set(), 0
    for root in roots:
        for _dir, dirs, files in os.walk(root):
            for entry in dirs + files:
                seen += 1
                if seen > 10000:
                    return None
                names.add(entry.partition('.')[0])
    return names


def _cylo_cold(args):
    # The program's files could take the name of a module the pre-import loaded (a json.py, a
    # random.py: a cold start imports the program's, this runtime has the library's in
    # sys.modules), or the pre-import failed: exec the interpreter again with the program's
    # argv and environment, a cold start of the same process under the same layers.
    os.execv(sys.orig_argv[0], sys.orig_argv[:-1] + args)


def _cylo_zygote_serve(fds):
    # The zygote's loop (native/zygote/zygote.c), from a directory bound only into the zygote's
    # view: taken out of sys.path, its cache and sys.modules again at once, so that the runtimes
    # it forks look up and hold no module a cold start would not (the shared object stays mapped:
    # /proc/self/maps shows it). serve() returns only in a runtime injected into a sandbox, under
    # every layer of that sandbox; the zygote itself never gets past it.
    where = '/.cylo/zygote'
    sys.path.insert(0, where)
    try:
        import _cylo_zygote
    finally:
        sys.path.remove(where)
        sys.path_importer_cache.pop(where, None)
        sys.modules.pop('_cylo_zygote', None)
    _cylo_zygote.serve(*fds)


def _cylo_prestart():
    here = os.path.dirname(__file__)
    # Not on the program's module search path, not in its environment (nor its children's).
    sys.path[:] = [p for p in sys.path if p != here]
    sys.path_importer_cache.pop(here, None)
    # The job's own PYTHONPATH (a built environment's, the request's) came after this directory.
    # Replaced in place (setenv keeps its slot, so children see the variables in a cold start's
    # order), or removed when there was none.
    own = os.environ.get('PYTHONPATH', '').partition(':')[2]
    if own:
        os.environ['PYTHONPATH'] = own
    else:
        os.environ.pop('PYTHONPATH', None)
    # The system's sitecustomize, as a cold start imports it (site.execsitecustomize), BEFORE the
    # pre-imports: in a cold start it runs before the program imports anything (P2: it may set
    # the variables or warning filters the pre-imported modules read when they are imported).
    del sys.modules['sitecustomize']
    try:
        import sitecustomize  # noqa: F401
        found = True
    except ImportError as exc:
        if exc.name != 'sitecustomize':
            raise
        found = False
    loaded = _cylo_preimport() if 'CYLO_PRESTART_IMPORTS' in os.environ else set()
    # A zygote (src/sandbox/zygote.ts): this interpreter never becomes a program itself; it
    # forks one runtime into each prepared sandbox the host names, and only those return here.
    zygote = os.environ.pop('CYLO_ZYGOTE_FDS', None)
    if zygote is not None:
        _cylo_zygote_serve([int(fd) for fd in zygote.split(',')])
    # Ready: initialised, argv copied (PID 1 may now write the program's argv into this
    # process's command line). Then the handover: the program's extra argv, each
    # NUL-terminated, then end of file.
    os.write(1001, b'\1')
    os.close(1001)
    chunks = []
    while True:
        chunk = os.read(1000, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(1000)
    data = b''.join(chunks)
    args = [os.fsdecode(a) for a in data.split(b'\0')[:-1]] if data else []
    # The request's files are in place now, and the interpreter may have looked at the workspace
    # before they were (always for a zygote's runtime; for PID 1's, when the request came after
    # the start): what it concluded then is dropped, or the program starts cold.
    _cylo_forget_workspace_finders()
    if loaded is None or _cylo_user_site_arrived() or _cylo_workspace_sitecustomize():
        _cylo_cold(args)
    if loaded:
        # The request's files are in place (PID 1 wrote them before the handover).
        names = _cylo_workspace_names(sorted({os.getcwd(), os.path.dirname(os.path.realpath(sys.argv[0]))}))
        # A usercustomize of the program's (site.execusercustomize imports it after this stub
        # returns) would run after the pre-imports, where a cold start runs it before the
        # program imports them (P2): start cold.
        if names is None or names & loaded or 'usercustomize' in names:
            _cylo_cold(args)
    # The last pre-start argument only reserved room for the program's command line.
    sys.argv[-1:] = args
    sys.orig_argv[-1:] = args
    return found


if not _cylo_prestart():
    # No system sitecustomize: a cold start has none in sys.modules either. This ImportError is
    # the one site.py ignores silently (its name is 'sitecustomize'), and the failed import
    # takes this module out of sys.modules.
    raise ImportError('no sitecustomize', name='sitecustomize')
