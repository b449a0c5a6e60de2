"""A session: the library of named source pairs the terminal UI edits, saved as JSON.

Each pair keeps its sources (path, excerpt offset and duration in seconds) and its bank
settings as the user typed them (``render``'s option syntax), so that a half-typed value is
kept as typed and checked only when rendering. Every change is written at once, atomically.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from lts_sampler.atomic import write_json
from lts_sampler.errors import LtsError

FORMAT = "lts-session/1"


@dataclasses.dataclass
class Pair:
    """Two sources and how to render their bank; every value a string as typed."""

    name: str
    source_a: str = ""
    source_b: str = ""
    offsets: str = "0"  # seconds, one for both or "a,b"
    durations: str = ""  # seconds, one for both or "a,b"; empty: to the end
    alphas: str = "-0.5:1.5:0.25"
    mode: str = "keys"
    root: str = "60"
    quality: str = "normal"
    round_robins: str = "1"
    out: str = ""  # empty: kits/NAME


@dataclasses.dataclass
class Session:
    """The pairs of ``path``; :meth:`save` after each change."""

    path: Path
    pairs: list[Pair] = dataclasses.field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path) -> Session:
        """The session saved at ``path``, or a new empty one if there is none yet."""
        path = Path(path)
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text())
            fields = {f.name for f in dataclasses.fields(Pair)}
            pairs = [Pair(**{k: str(v) for k, v in p.items() if k in fields}) for p in data["pairs"]]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise LtsError(f"cannot read session {path} ({err}); give another file, or move this one away") from None
        return cls(path, pairs)

    def save(self) -> None:
        write_json(self.path, {"format": FORMAT, "pairs": [dataclasses.asdict(p) for p in self.pairs]})

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
        return self.add(dataclasses.replace(pair, name=f"{pair.name} copy", out=""))

    def delete(self, pair: Pair) -> None:
        self.pairs.remove(pair)
        self.save()
