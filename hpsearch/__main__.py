from hpsearch.cli import dispatch
from hpsearch.compat import stdlib

code = dispatch()
# The threads are joined and the exit handlers run (process pools, logging), in the
# interpreter's own order; then its teardown is skipped:
# after a stopped run, native threads of XLA / TensorFlow sometimes crashed it (SIGSEGV with
# "<no Python frame>"), turning a clean Ctrl-C's exit code 130 into -11. Every file is
# already written (atomically) and closed by then.
stdlib.exit_now(code)
