"""Security: the runtime unpickles nothing, checkpoints load tensors only, and neither the DAW
bridge nor the terminal UI opens a network socket (JACK and ALSA talk over local sockets)."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import signal
import socket
from pathlib import Path

from support.cli import ROOT, lts
from support.jack import Bridge
from support.pilot import settle

from lts_sampler.faces.tui.app import LtsApp

UNPICKLERS = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal", "cloudpickle"}


def _calls(folder: Path) -> list[tuple[Path, ast.AST]]:
    """Every import and call in the Python files under ``folder``."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.Call)):
                found.append((path, node))
    return found


def _name(call: ast.Call) -> str:
    """``np.load``, ``torch.load``, ``load`` … as written."""
    return ast.unparse(call.func)


def _keyword(call: ast.Call, name: str) -> str | None:
    return next((ast.unparse(k.value) for k in call.keywords if k.arg == name), None)


def test_no_module_unpickles_and_checkpoints_load_tensors_only():
    for path, node in _calls(ROOT / "lts_sampler") + _calls(ROOT / "export"):
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & UNPICKLERS, where
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in UNPICKLERS, where
        elif _name(node) in ("np.load", "numpy.load"):
            assert _keyword(node, "allow_pickle") in (None, "False"), where
        elif _name(node) == "torch.load":
            assert path.parts[-2] == "export" and _keyword(node, "weights_only") == "True", where


def _network_sockets(pid: int) -> list[str]:
    """The IPv4/IPv6 TCP and UDP sockets process ``pid`` holds, as lines of /proc/net/*."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    held = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        held += [f"{table}: {line.strip()}" for line in lines if line.split()[9] in inodes]
    return held


def test_the_bridge_and_the_terminal_ui_open_no_network_socket(tmp_path, keys_kit, jack_server):
    with socket.create_server(("127.0.0.1", 0)):  # the check itself sees a listening socket
        assert len(_network_sockets(os.getpid())) == 1
    kits = tmp_path / "kits"
    kits.mkdir()
    (kits / "keys").symlink_to(keys_kit)
    bridge = Bridge(kits, f"LTS security {os.getpid()}", server=jack_server)
    try:
        assert _network_sockets(bridge.process.pid) == []
    finally:
        bridge.stop(signal.SIGTERM)

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json").run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert pilot.app.silent_reason is None  # sound and MIDI were opened
            await pilot.press("f4")
            await settle(pilot)
            assert _network_sockets(os.getpid()) == []

    asyncio.run(drive())


def test_the_files_a_kit_is_made_of_are_named_from_sanitised_parts(tmp_path):
    """The folder is the user's; every name inside it comes from the kit's sanitised name and
    the layers' labels, whatever the folder is called and whatever the mix."""
    target = tmp_path / "kit; rm -rf ~ $(x) 'é'"
    result = lts("render", "--demo", "--n-iter", "0", "--duration", "0.3", "--weights", "1.5,-0.5;0.25,0.75",
                 "--round-robins", "2", "-o", str(target))
    assert result.returncode == 0, result.stderr
    names = [p.relative_to(target).as_posix() for p in target.rglob("*")]
    samples = [f"samples/{i:02d}_{label}_rr{rr}.wav"
               for i, label in enumerate(["w1.50-m0.50", "w0.25-0.75"]) for rr in (1, 2)]
    assert sorted(names) == sorted(["kit.json", "kit-rm--rf-x.sfz", "samples", *samples])
    assert all(re.fullmatch(r"[A-Za-z0-9._+/-]+", name) for name in names)
