"""Writes that are whole or absent: a reader never sees a half-written file or folder."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lts_sampler.core.errors import BadValue
from lts_sampler.core.interrupts import raise_if_interrupted


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the block succeeds it is renamed over
    ``path``, otherwise (or after a Ctrl-C, even one Python dropped) removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a kit is for sharing
    try:
        yield Path(tmp)
        raise_if_interrupted()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    with replacing_file(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def check_replaceable(target: Path, *, marker: str, what: str) -> None:
    """Refuse to replace a folder that holds files but not ``marker``: it is not a ``what``
    of ours (pointing the output at a sample folder must not delete it)."""
    if target.is_dir() and any(target.iterdir()) and not (target / marker).is_file():
        raise BadValue("out", str(target), f"it holds files but no {marker}: it is not a {what}, and writing would "
                       "replace it; choose another output folder")


@contextlib.contextmanager
def replacing_dir(target: str | Path) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``target``; on success it replaces ``target``.

    On any error (or interruption, even one Python dropped: :mod:`lts_sampler.core.interrupts`) the
    temporary folder is removed and ``target`` is left as it was. Where the system can (Linux),
    the new folder and the old one swap places in one step, so a reader finds ``target`` whole,
    old or new, at every instant; elsewhere the old folder is swapped out by rename and
    ``target`` is missing only between two renames.

    The temporary folders are named ``.<target>.<pid>.<random>.tmp`` (and ``.<target>.<pid>.old``),
    so that a process killed on the way (SIGKILL, power cut) leaves only hidden folders, which
    the next write to ``target`` removes once their process is gone.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp"))
    try:
        tmp.chmod(0o777 & ~_umask())
        yield tmp
        raise_if_interrupted()
        if not (target.is_dir() and _exchange(tmp, target)):  # after an exchange tmp holds the old folder
            _replace_by_renames(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _replace_by_renames(tmp: Path, target: Path) -> None:
    """``target`` aside, ``tmp`` in its place, the old one removed; put back if interrupted."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or the file system cannot, OSError when the swap itself fails."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@functools.cache
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def clean_stale(target: str | Path) -> None:
    """Remove what killed writers of ``target`` left beside it: their hidden temporary folders,
    and put back the old folder where one was killed between its two renames."""
    target = Path(target)
    pattern = re.compile(re.escape(f".{target.name}.") + r"(\d+)\.(?:\w+\.tmp|old)")
    try:
        entries = [e for e in target.parent.iterdir() if e.name.startswith(f".{target.name}.")]
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or _alive(int(match[1])) or not entry.is_dir() or entry.is_symlink():
            continue
        if entry.name.endswith(".old") and not target.exists():
            os.replace(entry, target)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True
