"""Running ``lts-sampler`` and Python code in fresh interpreters, as a user would, optionally
with some modules refused (to show that they are never imported)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = "import sys\nfrom lts_sampler.faces.cli import main\nsys.exit(main(sys.argv[1:]))\n"
WITHOUT_TORCH = "import sys\nsys.modules['torch'] = None  # as where torch is not installed\n"
"""A prelude under which torch is not installed: looked up, it is not found; imported, it
raises ModuleNotFoundError."""


def import_guard(modules: Iterable[str], log: Path) -> str:
    """Python code to run first: every import of ``modules`` (top-level names, and so their
    submodules) raises ModuleNotFoundError, installed or not, and is appended to ``log``. A mere
    look-up (``importlib.util.find_spec``, as ``lts-sampler doctor`` makes to report versions)
    is no import: it finds what is installed."""
    return textwrap.dedent(f"""\
        import importlib.util, sys

        class ImportGuard:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] not in {sorted(modules)!r}:
                    return None
                if sys._getframe(2).f_code is importlib.util.find_spec.__code__:
                    return None  # a look-up through importlib.util.find_spec, not an import
                with open({str(log)!r}, "a") as tried:
                    tried.write(name + "\\n")
                raise ModuleNotFoundError(f"No module named {{name!r}} (refused by the test)", name=name)

        sys.meta_path.insert(0, ImportGuard())
        """)


def python(code: str, *args: str, refuse: Iterable[str] = (), env: dict[str, str] | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``code`` with ``args`` in a fresh interpreter in the checkout. With ``refuse``, under
    :func:`import_guard`: the test fails if the code tried to import any of those modules."""
    refuse = sorted(refuse)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "imports"
        log.touch()
        prelude = import_guard(refuse, log) if refuse else ""
        result = subprocess.run([sys.executable, "-c", prelude + code, *args], capture_output=True, text=True, cwd=ROOT,
                                env=env, timeout=timeout)
        tried = sorted(set(log.read_text().split()))
    assert not tried, f"tried to import {', '.join(tried)} (refused: {', '.join(refuse)}); stderr: {result.stderr[-2000:]}"
    return result


def lts(*args: str, prelude: str = "", refuse: Iterable[str] = (), timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter, as a user would: after ``prelude``, and refusing the
    modules ``refuse`` as :func:`python` does."""
    return python(prelude + CLI, *args, refuse=refuse, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """``result`` is a refusal: exit status 2, one stderr line ``lts-sampler: error: …`` holding ``words``."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # not even an empty line around it
    assert lines[0].startswith("lts-sampler: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def demo_kit(folder: Path, *args: str) -> Path:
    """A kit of the demo pair rendered by the CLI (4 phase iterations: quick)."""
    result = lts("render", "--demo", "-o", str(folder), "--n-iter", "4", "--json", *args)
    assert result.returncode == 0, result.stderr
    return folder
