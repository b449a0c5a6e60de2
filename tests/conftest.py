"""Shared fixtures (a seeded rng, a tiny model bundle, demo kits, the JACK server) and the
``live`` and ``slow`` marks. Helpers shared by several test modules live in ``support/``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("support")

from support.bundles import write_bundle, write_tones  # noqa: E402 (after the rewrite is registered)
from support.cli import demo_kit  # noqa: E402
from support.jack import start_jackd, stop_jackd  # noqa: E402

JACK_SERVER = f"lts-tests-{os.getpid()}"
"""The name of the session's own JACK server: a server the user runs is never played into, and
two test runs at once do not share one."""


def pytest_configure(config: pytest.Config) -> None:
    """Register the marks; every JACK client the tests open, in this process or another, goes to
    :data:`JACK_SERVER` (set before anything loads PortAudio, which connects as it loads)."""
    os.environ["JACK_DEFAULT_SERVER"] = JACK_SERVER
    config.addinivalue_line("markers", "live: plays through the session's own JACK server (dummy driver)")
    config.addinivalue_line("markers", "slow: takes more than about ten seconds; -m 'not slow' leaves it out")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses a JACK server is ``live``."""
    for item in items:
        if {"jack_server", "synchronous_jack_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)


@pytest.fixture(scope="session")
def jack_server() -> str:
    """The name of the session's own dummy-driver JACK server (no sound card),
    :data:`JACK_SERVER`, asynchronous as users run JACK; the test skips where JACK or PortAudio
    is not installed."""
    server = start_jackd(JACK_SERVER)
    yield JACK_SERVER
    stop_jackd(server)


@pytest.fixture(scope="session")
def synchronous_jack_server() -> str:
    """The name of a second server of the session, in synchronous mode (``support.jack.SYNCHRONOUS``):
    a player in another process recorded there is recorded whole, however late a loaded machine
    makes it."""
    name = f"{JACK_SERVER}-sync"
    server = start_jackd(name, synchronous=True)
    yield name
    stop_jackd(server)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def tiny_bundle(tmp_path: Path) -> Path:
    """A valid bundle folder: 384 bins, latent_dim 8, linear encoder, MatMul + Relu decoder."""
    return write_bundle(tmp_path / "tiny")


@pytest.fixture
def audio_folder(tmp_path) -> Path:
    write_tones(tmp_path / "audio")
    return tmp_path / "audio"


@pytest.fixture(scope="session")
def keys_kit(tmp_path_factory) -> Path:
    """The demo pair in keys mode: 9 samples on C4–G#4."""
    return demo_kit(tmp_path_factory.mktemp("kits") / "keys")


@pytest.fixture(scope="session")
def morph_kit(tmp_path_factory) -> Path:
    """The demo pair in morph mode: 5 layers (α −0.5…1.5) over every key, CC1 morphs."""
    return demo_kit(tmp_path_factory.mktemp("kits") / "morph", "--mode", "morph", "--alphas", "-0.5:1.5:0.5")


@pytest.fixture(scope="session")
def grid_kit(tmp_path_factory) -> Path:
    """The four demo clips on a 3 × 3 pad: 9 cells of 0.6 s over every key, CC1 moves X, CC2 Y."""
    return demo_kit(tmp_path_factory.mktemp("kits") / "grid", "--grid", "3", "--quality", "draft", "--duration", "0.6")
