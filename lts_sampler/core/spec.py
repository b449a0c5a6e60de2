"""The audio spec a model is trained and run at (DESIGN §3)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from lts_sampler.core.errors import LtsError

PEAK_DBFS = -1.0
"""Where rendered samples (normalised) and offline renders (when they would clip) peak."""


@dataclasses.dataclass(frozen=True)
class AudioSpec:
    """Constant-Q analysis settings, stored with every model.

    Attributes
    ----------
    sample_rate : int
        Hz; sources are resampled to it.
    hop_length : int
        Samples between frames (128 at 44.1 kHz is about 2.9 ms).
    bins_per_octave : int
    n_bins : int
        Frequency bins per frame; a magnitude frame has shape ``(n_bins,)``.
    fmin_hz : float
        Centre frequency of the lowest bin.
    """

    sample_rate: int = 44100
    hop_length: int = 128
    bins_per_octave: int = 48
    n_bins: int = 384
    fmin_hz: float = 32.703

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AudioSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(data)
        if missing:
            raise LtsError(f"audio spec lacks {', '.join(sorted(missing))}; expected {sorted(names)}")
        return cls(**{name: data[name] for name in names})

    @property
    def key(self) -> str:
        """A short stable hash of the spec, for cache keys."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def frames_to_seconds(self, n_frames: int) -> float:
        return n_frames * self.hop_length / self.sample_rate
