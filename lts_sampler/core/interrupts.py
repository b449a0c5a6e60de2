"""Ctrl-C that is never lost.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT lands, and drops it
("Exception ignored in …") where that is a ``__del__`` method or a weakref callback, as while
a module is imported. :func:`catching_interrupts` remembers each SIGINT as well as raising it,
and a write calls :func:`raise_if_interrupted` before it replaces anything
(:mod:`lts_sampler.core.atomic`): a Ctrl-C dropped on the way still stops the command there.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_seen = threading.Event()


@contextlib.contextmanager
def catching_interrupts() -> Iterator[None]:
    """While the block runs, SIGINT raises KeyboardInterrupt (as by default) and is remembered
    until the block ends. Outside the main thread, where no signal handler can be set, nothing
    changes."""
    _seen.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        _seen.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        _seen.clear()


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if SIGINT came within :func:`catching_interrupts`, even where
    Python dropped the exception it raised then."""
    if _seen.is_set():
        raise KeyboardInterrupt
