"""Ctrl-C and SIGTERM that cannot be lost.

Python raises KeyboardInterrupt wherever the main thread happens to be; inside a
weakref callback during Keras's `clear_session()` it is printed and dropped. So the
handler also sets a flag, and the engines check it at safe points (each epoch, each
fit, each trial): a stop request always ends the run, just possibly a moment later.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

_requested = threading.Event()


def _handler(signum: int, frame: FrameType | None) -> None:
    _requested.set()
    raise KeyboardInterrupt


def _unraisable(info: sys.UnraisableHookArgs) -> None:
    # The swallowed KeyboardInterrupt is remembered by the flag: no traceback for it.
    if not isinstance(info.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(info)


def install() -> None:
    """Route SIGINT and SIGTERM to a KeyboardInterrupt that is also remembered."""
    _requested.clear()
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    sys.unraisablehook = _unraisable


def check() -> None:
    """Raise KeyboardInterrupt if a stop was requested (even if the first raise was swallowed)."""
    if _requested.is_set():
        raise KeyboardInterrupt


def requested() -> bool:
    """Was a stop requested? A library that turns the KeyboardInterrupt into another
    exception (Optuna, when it lands while a trial is being told) is still stopped by it."""
    return _requested.is_set()
