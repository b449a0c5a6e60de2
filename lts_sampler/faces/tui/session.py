"""A session: the library of named source pairs the terminal UI edits, saved as JSON.

Each pair keeps its sources (path, excerpt offset and duration in seconds) and its bank
settings as the user typed them (``render``'s option syntax), so that a half-typed value is
kept as typed and checked only when rendering. Every change is written at once, atomically.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from lts_sampler.core.atomic import write_json
from lts_sampler.core.errors import LtsError

FORMAT = "lts-session/2"


@dataclasses.dataclass
class Excerpt:
    """A source: an audio file's path, and the excerpt's offset and duration in seconds
    (empty duration: to the end). Strings as typed."""

    path: str = ""
    offset: str = "0"
    duration: str = ""


@dataclasses.dataclass
class Pair:
    """Two sources (or more, for weighted mixes; four for a grid) and how to render their
    bank; every setting a string as typed, but the flags ``normalize`` and ``trim``. A
    source's path may be a folder or a glob of notes: a kit of several pitches."""

    name: str
    sources: list[Excerpt] = dataclasses.field(default_factory=lambda: [Excerpt(), Excerpt()])
    alphas: str = "-0.5:1.5:0.25"
    curve: str = ""  # time:α breakpoints; when given, one sample along the curve instead of the α list
    weights: str = ""  # three or more sources: one weight vector per sample, "1,0,0;0.5,0.25,0.25"
    mode: str = "keys"  # keys, morph, or grid (four sources on the corners of a pad)
    grid: str = "5"  # mode grid: cells a side, 2–17
    grid_range: str = "0:1"  # mode grid: the corners' range, LOW:HIGH (beyond 0:1 extrapolates)
    cc_x: str = "1"  # mode grid: the controllers that move the pad
    cc_y: str = "2"
    root: str = "60"
    quality: str = "normal"
    round_robins: str = "1"
    normalize: bool = True
    trim: bool = False
    seed: str = "0"
    model: str = ""  # a name from `lts-sampler models`, or a path; empty: the bundled default
    out: str = ""  # empty: kits/NAME

    @classmethod
    def from_dict(cls, data: dict) -> Pair:
        fields = {f.name for f in dataclasses.fields(cls)} - {"sources", "normalize", "trim"}
        pair = cls(**{k: str(v) for k, v in data.items() if k in fields})
        pair.sources = [Excerpt(**{k: str(v) for k, v in s.items() if k in ("path", "offset", "duration")})
                        for s in data.get("sources", [])] or pair.sources
        pair.normalize = bool(data.get("normalize", True))
        pair.trim = bool(data.get("trim", False))
        return pair


@dataclasses.dataclass
class Session:
    """The pairs of ``path``, and the UI's theme (empty: the default); :meth:`save` after each change."""

    path: Path
    pairs: list[Pair] = dataclasses.field(default_factory=list)
    theme: str = ""

    @classmethod
    def open(cls, path: str | Path) -> Session:
        """The session saved at ``path``, or a new empty one if there is none yet."""
        path = Path(path)
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            pairs = [Pair.from_dict(p) for p in data["pairs"]]
            theme = str(data.get("theme", ""))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise LtsError(f"cannot read session {path} ({err}); give another file, or move this one away") from None
        return cls(path, pairs, theme)

    def save(self) -> None:
        write_json(self.path, {"format": FORMAT, "theme": self.theme,
                               "pairs": [dataclasses.asdict(p) for p in self.pairs]})

    def unique_name(self, wanted: str) -> str:
        """``wanted``, or ``wanted 2``, ``wanted 3`` … whichever no pair has."""
        names = {p.name for p in self.pairs}
        name, n = wanted, 1
        while name in names:
            n += 1
            name = f"{wanted} {n}"
        return name

    def add(self, pair: Pair) -> Pair:
        pair.name = self.unique_name(pair.name)
        self.pairs.append(pair)
        self.save()
        return pair

    def duplicate(self, pair: Pair) -> Pair:
        copy = Pair.from_dict(dataclasses.asdict(pair))
        copy.name, copy.out = f"{pair.name} copy", ""
        return self.add(copy)

    def delete(self, pair: Pair) -> None:
        self.pairs.remove(pair)
        self.save()
