"""What C libraries print: decoders (mpg123), PortAudio, ALSA, JACK and rtmidi write to file
descriptors 1 and 2 behind Python's back. The one place that silences or redirects them.

:func:`quiet_native` is reference-counted and thread-safe: threads inside at once share one
silence. The first in points fd 2 at /dev/null, the last out points it back (were each to
save and restore fd 2 itself, one could "restore" another's /dev/null and silence the
process for good). While anyone is inside, ``JACK_NO_START_SERVER`` keeps a JACK client from
starting a server of its own.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

NO_JACK_AUTOSTART = "JACK_NO_START_SERVER"


class _Silence:
    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self._saved_fd: int | None = None
        self._saved_env: str | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._inside == 0:
                self._saved_fd = _stderr_to_devnull()
                self._saved_env = os.environ.get(NO_JACK_AUTOSTART)
                os.environ[NO_JACK_AUTOSTART] = "1"
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    if self._saved_fd is not None:
                        os.dup2(self._saved_fd, 2)
                        os.close(self._saved_fd)
                        self._saved_fd = None
                    if self._saved_env is None:
                        os.environ.pop(NO_JACK_AUTOSTART, None)
                    else:
                        os.environ[NO_JACK_AUTOSTART] = self._saved_env


quiet_native = _Silence()
"""``with quiet_native(): ...``: C libraries' stderr silenced, JACK server autostart forbidden."""


def _stderr_to_devnull() -> int | None:
    """Point fd 2 at /dev/null; a copy of what it was, or None without a real one (captured)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        return None
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    return saved


@contextlib.contextmanager
def native_output_to(log: Path) -> Iterator[None]:
    """For a full-screen app (Textual draws on stderr and sizes the screen from stdout): the app
    gets its own copies of the terminal as ``sys.__stdout__``/``sys.__stderr__``, and fds 1 and
    2, where C libraries write over the screen, go to ``log`` while it runs. Enter it once, on
    the main thread, before any other thread starts; :func:`quiet_native` nests inside it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    originals = sys.__stdout__, sys.__stderr__
    sys.__stdout__, sys.__stderr__ = (os.fdopen(os.dup(f.fileno()), "w", encoding=f.encoding, errors="replace")
                                      for f in originals)
    with open(log, "a") as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
    try:
        yield
    finally:
        sys.__stdout__.close()
        sys.__stderr__.close()
        sys.__stdout__, sys.__stderr__ = originals
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
