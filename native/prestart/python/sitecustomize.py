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
# any) is imported in its place, and it imports nothing new (sys and os are loaded by site).
import os
import sys


def _cylo_prestart():
    here = os.path.dirname(__file__)
    # Not on the program's module search path, not in its environment (nor its children's).
    sys.path[:] = [p for p in sys.path if p != here]
    sys.path_importer_cache.pop(here, None)
    os.environ.pop('PYTHONPATH', None)
    # The system's sitecustomize, as a cold start imports it (site.execsitecustomize).
    del sys.modules['sitecustomize']
    try:
        import sitecustomize  # noqa: F401
        found = True
    except ImportError as exc:
        if exc.name != 'sitecustomize':
            raise
        found = False
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
    # The last pre-start argument only reserved room for the program's command line.
    sys.argv[-1:] = args
    sys.orig_argv[-1:] = args
    return found


if not _cylo_prestart():
    # No system sitecustomize: a cold start has none in sys.modules either. This ImportError is
    # the one site.py ignores silently (its name is 'sitecustomize'), and the failed import
    # takes this module out of sys.modules.
    raise ImportError('no sitecustomize', name='sitecustomize')
