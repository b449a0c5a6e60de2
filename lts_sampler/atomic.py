"""Writes that are whole or absent: a reader never sees a half-written file or folder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lts_sampler.errors import LtsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the block succeeds it is renamed over
    ``path``, otherwise removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a kit is for sharing
    try:
        yield Path(tmp)
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
    of ours (pointing -o at a sample folder must not delete it)."""
    if target.is_dir() and any(target.iterdir()) and not (target / marker).is_file():
        raise LtsError(f"{target} holds files but no {marker}: it is not a {what}, and writing would replace it; "
                       "choose another output folder (-o)")


@contextlib.contextmanager
def replacing_dir(target: str | Path) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``target``; on success it replaces ``target``.

    On any error (or interruption) the temporary folder is removed and ``target`` is left
    as it was. The old folder is swapped out by rename, so ``target`` is missing only for
    the instant between two renames, and never half-written.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        tmp.chmod(0o777 & ~_umask())
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.{os.getpid()}.old")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
