"""A :class:`~support.jack.JackRig` in a process of its own, driven over its stdin and stdout:
libjack serves one JACK server per process, and the tests' process is a client of the
session's first one (PortAudio stays connected to it once loaded).

    python -m support.rig SERVER NAME MIDI_PORT AUDIO_PORT...

prints ``ready RATE``, then answers each line it reads:

- ``send HEX...``: plays the events (raw MIDI, hex) at the start of the next period; prints
  their frame time;
- ``audio START STOP PATH``: saves the recording of those frames to PATH (``np.save``) and prints
  ``ok``, or ``gap`` (a :class:`~support.jack.Gap`) or ``fail`` (another failed assertion) and
  what went wrong.
"""

from __future__ import annotations

import sys

import numpy as np

from support.jack import Gap, JackRig


def main(server: str, name: str, midi_port: str, *audio_ports: str) -> None:
    rig = JackRig(name, midi_port=midi_port, audio_ports=list(audio_ports), server=server)
    print("ready", rig.rate, flush=True)
    try:
        for line in sys.stdin:
            command, *args = line.split()
            if command == "send":
                print(rig.send_raw([bytes.fromhex(event) for event in args]), flush=True)
            elif command == "audio":
                try:
                    np.save(args[2], rig.audio(int(args[0]), int(args[1])))
                except Gap as gap:
                    print("gap", gap, flush=True)
                except AssertionError as failure:
                    print("fail", failure, flush=True)
                else:
                    print("ok", flush=True)
    finally:
        rig.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
