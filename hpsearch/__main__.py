import atexit
import os
import sys

from hpsearch.cli import dispatch

code = dispatch()
# The exit handlers run (process pools, logging), then the interpreter's teardown is skipped:
# after a stopped run, native threads of XLA / TensorFlow sometimes crashed it (SIGSEGV with
# "<no Python frame>"), turning a clean Ctrl-C's exit code 130 into -11. Every file is
# already written (atomically) and closed by then.
sys.stdout.flush()
sys.stderr.flush()
atexit._run_exitfuncs()
os._exit(code)
