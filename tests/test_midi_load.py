"""MIDI under load: a long seeded stream of messages, valid and not, into the sampler engine and
into the ``lts-sampler bridge`` over JACK MIDI. Nothing throws, nothing runs away, and after
all notes off, sustain off and the release time, there is silence.
"""

from __future__ import annotations

import os
import shutil
import signal
import time

import mido
import numpy as np
import pytest
from support.jack import ONSET, Bridge, note_off, note_on

from lts_sampler.core.kitformat import RELEASE_S
from lts_sampler.playing.sampler import Sampler, load_kit

BLOCK = 256
VOICES = 32
REAL_TIME = (0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF)
CONTROLLERS = (1,) * 20 + (2,) * 10 + (64,) * 12 + (7, 10, 11) * 3 + (120, 121, 123)
"""Mostly the pad's two controllers (CC1 is the mod wheel) and the pedal; all sound off, reset
and all notes off once in ~350 events."""


def random_events(rng: np.random.Generator, n: int) -> list[bytes]:
    """``n`` MIDI events as a wire or a driver might deliver them, each some raw bytes: notes (some
    never released, some with data bytes out of range), controllers (mod wheel, sustain, all sound
    off, reset, all notes off), pitch bend, program change, SysEx with real-time bytes inside
    (some never ended), running status, stray data bytes, truncated messages, system bytes."""
    events = []
    kinds = rng.choice(13, size=n, p=[.22, .12, .06, .16, .05, .04, .04, .08, .06, .05, .05, .04, .03])
    for kind in kinds:
        channel = int(rng.integers(16))
        data = [int(b) for b in rng.integers(128, size=3)]
        if kind == 0:  # note on, around the kits' keys
            event = [0x90 | channel, int(rng.integers(36, 96)), int(rng.integers(1, 128))]
        elif kind == 1:  # note off, as 0x80 or as a note on with velocity 0
            event = [(0x80 if rng.random() < 0.5 else 0x90) | channel, int(rng.integers(36, 96)), 0]
        elif kind == 2:  # a data byte out of range (a status byte where data belongs)
            event = [0x90 | channel, int(rng.integers(256)), int(rng.integers(256))]
        elif kind == 3:  # controllers
            event = [0xB0 | channel, int(rng.choice(CONTROLLERS)), data[0]]
        elif kind == 4:
            event = [0xE0 | channel, data[0], data[1]]  # pitch bend
        elif kind == 5:
            event = [0xC0 | channel, int(rng.integers(4))]  # program change: kits 0, 1 and two missing
        elif kind == 6:  # SysEx with real-time bytes inside, sometimes never ended
            body = [int(b) for b in rng.integers(128, size=int(rng.integers(1, 40)))]
            for _ in range(int(rng.integers(0, 3))):
                body.insert(int(rng.integers(len(body) + 1)), int(rng.choice(REAL_TIME)))
            event = [0xF0, *body] + ([0xF7] if rng.random() < 0.8 else [])
        elif kind == 7:  # running status: data bytes for the last status
            event = [int(rng.integers(36, 96)), data[0]]
        elif kind == 8:  # stray data bytes
            event = data[: int(rng.integers(1, 4))]
        elif kind == 9:  # truncated: a status byte and fewer data bytes than it needs
            event = [int(rng.choice([0x80, 0x90, 0xA0, 0xB0, 0xE0])) | channel, data[0]][: int(rng.integers(1, 3))]
        elif kind == 10:  # real-time bytes, alone or inside a message
            byte = int(rng.choice(REAL_TIME))
            event = [byte] if rng.random() < 0.5 else [0x90 | channel, byte, int(rng.integers(36, 96)), 100]
        elif kind == 11:  # system common and undefined status bytes, with data after them
            event = [int(rng.choice([0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF9, 0xFD])), data[0], data[1]]
        else:  # aftertouch and channel pressure
            event = [0xA0 | channel, data[0], data[1]] if rng.random() < 0.5 else [0xD0 | channel, data[0]]
        events.append(bytes(event))
    return events


ALL_OFF = [mido.Message("control_change", control=123, value=0), mido.Message("control_change", control=64, value=0)]


@pytest.mark.parametrize("which", ["keys_kit", "morph_kit", "grid_kit"])
def test_a_hundred_thousand_random_messages_then_all_notes_off_is_silence(which, request):
    kit = load_kit(request.getfixturevalue(which))
    sampler = Sampler(kit, max_voices=VOICES)
    rng = np.random.default_rng(0)
    events = random_events(rng, 100_000)
    most = found = 0
    start = 0
    while start < len(events):
        step = int(rng.integers(10, 31))  # a block every ~20 messages
        found += len(sampler.feed(b"".join(events[start : start + step])))
        start += step
        most = max(most, sampler.active_voices)
        assert len(sampler.voices) <= VOICES
        assert sampler.active_voices <= 2 * VOICES, "voices fading out after a steal pile up"
        out = sampler.render(BLOCK)
        assert out.shape == (BLOCK,) and np.all(np.isfinite(out))
    assert found > 50_000 and most >= VOICES, (found, most)
    sampler.feed(b"".join(m.bin() for m in ALL_OFF))
    for _ in range(int(np.ceil(RELEASE_S * kit.sample_rate / BLOCK)) + 1):
        sampler.render(BLOCK)
    assert sampler.active_voices == 0
    assert not np.any(sampler.render(BLOCK))


def test_a_burst_of_notes_within_one_block_keeps_the_work_of_a_block_bounded(keys_kit):
    sampler = Sampler(load_kit(keys_kit), max_voices=VOICES)
    sampler.feed(b"".join(bytes([0x90, 60 + n % 9, 100]) for n in range(2000)))
    assert len(sampler.voices) == VOICES and sampler.active_voices == 2 * VOICES
    sampler.render(BLOCK)  # the stolen ones fade within the block
    assert sampler.active_voices == VOICES


@pytest.mark.slow
def test_the_bridge_plays_on_after_a_hundred_thousand_random_events(keys_kit, morph_kit, tmp_path,
                                                                     synchronous_jack_server):
    kits = tmp_path / "kits"
    shutil.copytree(keys_kit, kits / "a-keys")
    shutil.copytree(morph_kit, kits / "b-morph")
    bridge = Bridge(kits, f"LTS load {os.getpid()}", server=synchronous_jack_server)
    rig = bridge.rig(f"lts-load-rig-{os.getpid()}")
    try:
        events = random_events(np.random.default_rng(1), 100_000)
        for start in range(0, len(events), 64):  # as fast as JACK takes them: 64 events a period
            rig.send_raw(events[start : start + 64])
            assert bridge.process.poll() is None, "the bridge died"
        time.sleep(1)  # the bridge's MIDI queue drained: what comes next is not lost to a full queue

        off = rig.send(*ALL_OFF)
        quiet = rig.audio(off + int((RELEASE_S + 0.05) * rig.rate), off + int((RELEASE_S + 0.25) * rig.rate))
        rig.send(mido.Message("program_change", program=0))
        on = rig.send(note_on(60))
        time.sleep(0.2)
        rig.send(note_off(60))
        note = rig.audio(on, on + int(0.2 * rig.rate))
    finally:
        rig.close()
        status, stderr = bridge.stop(signal.SIGTERM)
    assert status == 0 and "Traceback" not in stderr, stderr
    assert not np.any(quiet), "still sounding after all notes off and the release"
    assert np.abs(note).max() > ONSET, "a note after the storm does not sound"
    print(bridge.lines[-1])
