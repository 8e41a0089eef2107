import atexit
import os
import sys
import threading

from hpsearch.cli import dispatch

code = dispatch()
# The threads are joined and the exit handlers run (process pools, logging), in the
# interpreter's own order; then its teardown is skipped:
# after a stopped run, native threads of XLA / TensorFlow sometimes crashed it (SIGSEGV with
# "<no Python frame>"), turning a clean Ctrl-C's exit code 130 into -11. Every file is
# already written (atomically) and closed by then.
sys.stdout.flush()
sys.stderr.flush()
threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter would: join threads first (pools wait on it),
atexit._run_exitfuncs()  # then the exit handlers
os._exit(code)
