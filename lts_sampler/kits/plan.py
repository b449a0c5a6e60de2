"""One plan for a render request (DESIGN §2): what the command line's flags and the terminal
UI's fields ask for, checked by one set of rules and turned into what :func:`make_kit` takes.

A face fills a :class:`RenderRequest` with values as the user gave them (text or numbers);
:func:`check` applies every rule without reading audio, fast enough to run on each keystroke;
:func:`plan` checks, then reads the note sets and pairs them into banks by pitch. A value
that breaks a rule raises :class:`~lts_sampler.core.errors.BadValue` naming the request's
field, so each face can word it as a flag or a form field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from lts_sampler.core.banks import QUALITY_ITERATIONS, Bank, Layer, RenderSettings, Source
from lts_sampler.core.errors import BadValue
from lts_sampler.core.kitformat import MODES, SOURCE_LABELS, kit_name, safe_name, single_bank
from lts_sampler.core.mixing import parse_alphas, parse_curve, parse_weights
from lts_sampler.core.pad import Grid, check_corners, parse_range
from lts_sampler.kits.make import check_writable
from lts_sampler.synthesis.model import resolve_bundle
from lts_sampler.synthesis.pitches import is_note_set, pair_by_pitch, read_note_set

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"
DEMO_SOURCES = ("bass_thick_c.flac", "ambi_choir.flac")
DEMO_GRID_SOURCES = DEMO_SOURCES + ("guit_harmonics.flac", "elec_chime.flac")
DEMO_SECONDS = 1.5
DEFAULT_ALPHAS = "-0.5:1.5:0.25"
MAX_ROUND_ROBINS = 16
LOOPS = (None, "auto", "off")


@dataclasses.dataclass(frozen=True)
class SourceRequest:
    """A source as given: an audio file, or a set of notes (a folder or a quoted glob); its
    excerpt's offset and duration in seconds, as text or numbers (None or "": from the start,
    to the end)."""

    spec: str
    offset: str | float | None = None
    duration: str | float | None = None


@dataclasses.dataclass(frozen=True)
class RenderRequest:
    """A kit to render, as a face collects it. The fields are ``render``'s long option names;
    numbers may come as typed text. ``mode`` None: grid when a grid size is given, morph for
    note sets, else keys. ``loop`` "auto" (a sustain loop in every sample with room for one) or
    "off"; None: auto, but off in keys kits. ``out`` None: ``kits/NAME``, NAME from ``name`` or
    the first two sources."""

    sources: tuple[SourceRequest, ...] = ()
    mode: str | None = None
    alphas: str | None = None
    curve: str | None = None
    weights: str | None = None
    grid: int | str | None = None
    grid_range: str = "0:1"
    cc_x: int | str = 1
    cc_y: int | str = 2
    root: int | str = 60
    quality: str = "normal"
    n_iter: int | str | None = None
    normalize: bool = True
    trim: bool = False
    round_robins: int | str = 1
    seed: int | str = 0
    loop: str | None = None
    model: str | None = None
    out: str | None = None
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class NoteSet:
    """A source that is a set of notes, not yet read: its folder or glob and its excerpt."""

    spec: str
    offset: float
    duration: float | None


@dataclasses.dataclass(frozen=True)
class Checked:
    """A request whose every value is good, before any audio is read: ``sources`` are
    excerpts of files or note sets; ``root`` is None for a kit of note sets."""

    sources: list[Source | NoteSet]
    layers: list[Layer]
    settings: RenderSettings
    out: Path
    mode: str
    grid: Grid | None
    root: int | None
    model: Path

    @property
    def samples_per_bank(self) -> int:
        return len(self.layers) * self.settings.round_robins


@dataclasses.dataclass(frozen=True)
class Plan:
    """A render ready to run: everything :func:`lts_sampler.kits.make.make_kit` takes, and the
    model bundle's folder."""

    banks: list[Bank]
    layers: list[Layer]
    settings: RenderSettings
    out: Path
    mode: str
    grid: Grid | None
    model: Path

    @property
    def samples(self) -> int:
        return len(self.banks) * len(self.layers) * self.settings.round_robins


def check(request: RenderRequest) -> Checked:
    """Every rule of ``request`` but the note sets' contents; BadValue for the first broken one."""
    mode, grid = _mode_and_grid(request)
    if grid is not None:
        check_corners(len(request.sources))
    if len(request.sources) < 2:
        raise BadValue("sources", None, f"give two sources or more, not {len(request.sources)}")
    sources = [source(i, s) for i, s in enumerate(request.sources)]
    note_sets = any(isinstance(s, NoteSet) for s in sources)
    mode = mode or ("morph" if note_sets else "keys")
    if note_sets and mode == "keys":
        raise BadValue("mode", mode, "a kit of several pitches plays in morph or grid mode, not keys")
    layers = grid.layers() if grid else _layers(request, len(sources))
    root = None if note_sets else root_note(request.root)
    out = output_folder(request)
    kit_name(out)
    check_writable(out)
    return Checked(sources, layers, _settings(request, mode), out, mode, grid, root, resolve_bundle(request.model or None))


def plan(request: RenderRequest, *, report: Callable[[str], None] = print) -> Plan:
    """:func:`check`, then the note sets read (each estimated pitch ``report``-ed) and paired by
    pitch into banks; a kit of plain files is one bank at the root note."""
    checked = check(request)
    sources = checked.sources
    if checked.root is not None:
        banks = single_bank(sources, checked.root)
    else:
        read = [{note: Source(path, s.offset, s.duration)
                 for note, path in read_note_set(s.spec, offset=s.offset, report=report).items()}
                if isinstance(s, NoteSet) else s for s in sources]
        banks = pair_by_pitch(read, [f"source {SOURCE_LABELS[i]}" for i in range(len(read))], report=report)
    return Plan(banks, checked.layers, checked.settings, checked.out, checked.mode, checked.grid, checked.model)


def demo_sources(*, grid: bool = False) -> list[str]:
    """The bundled demo sounds: two, or four for a pad's corners (play DEMO_SECONDS of each)."""
    return [str(DEMO_DIR / name) for name in (DEMO_GRID_SOURCES if grid else DEMO_SOURCES)]


def root_note(value: int | str) -> int:
    """A MIDI note from a number (60) or a note name (C4)."""
    text = str(value).strip()
    try:
        note = int(text)
    except ValueError:
        import librosa

        try:
            note = int(librosa.note_to_midi(text))
        except librosa.ParameterError:
            raise BadValue("root", value, "give a MIDI number (60) or a note name (C4)") from None
    if not 0 <= note <= 127:
        raise BadValue("root", value, "give a MIDI note 0–127")
    return note


def _mode_and_grid(request: RenderRequest) -> tuple[str | None, Grid | None]:
    """The mode asked for (None: decided by the sources) and a grid kit's pad."""
    mode = request.mode or ("grid" if request.grid is not None else None)
    if mode is not None and mode not in MODES:
        raise BadValue("mode", mode, f"give {', '.join(MODES)}")
    if request.grid is not None and mode != "grid":
        raise BadValue("grid", request.grid, f"a grid size makes a grid kit; leave it out of a {mode} kit")
    mixes = [f for f in ("alphas", "curve", "weights") if getattr(request, f) is not None]
    if mode == "grid" and mixes:
        raise BadValue(mixes[0], getattr(request, mixes[0]), "a grid mixes by cell position; leave it out")
    if len(mixes) > 1:
        raise BadValue(mixes[1], getattr(request, mixes[1]), "give α values, an α curve or weights: only one of them")
    if mode != "grid":
        return mode, None
    lo, hi = parse_range(request.grid_range)
    size = _whole("grid", request.grid if request.grid is not None else 5)
    return mode, Grid(size, lo, hi, _whole("cc_x", request.cc_x), _whole("cc_y", request.cc_y))


def _settings(request: RenderRequest, mode: str) -> RenderSettings:
    if request.quality not in QUALITY_ITERATIONS:
        raise BadValue("quality", request.quality, f"give {', '.join(QUALITY_ITERATIONS)}")
    n_iter = QUALITY_ITERATIONS[request.quality] if request.n_iter is None else _whole("n_iter", request.n_iter)
    round_robins = _whole("round_robins", request.round_robins, low=1)
    if round_robins > MAX_ROUND_ROBINS:
        raise BadValue("round_robins", round_robins, f"give 1 to {MAX_ROUND_ROBINS}")
    if request.loop not in LOOPS:
        raise BadValue("loop", request.loop, "give auto (a sustain loop wherever a sample has room) or off")
    loop = mode != "keys" if request.loop is None else request.loop == "auto"
    return RenderSettings(n_iter=n_iter, normalize=request.normalize, trim=request.trim, round_robins=round_robins,
                          seed=_whole("seed", request.seed), loop=loop)


def _whole(field: str, value: int | str, *, low: int = 0) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadValue(field, value, f"give a whole number, {low} or more") from None
    if number < low:
        raise BadValue(field, value, f"give a whole number, {low} or more")
    return number


def _seconds(field: str, value: str | float | None, index: int) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise BadValue(field, value, "give seconds, e.g. 0.5", source=index) from None
    if not seconds >= 0 or seconds == float("inf"):
        raise BadValue(field, value, "give seconds, 0 or more", source=index)
    return seconds


def source(index: int, wanted: SourceRequest) -> Source | NoteSet:
    """Source ``index`` of a request, a file or a note set, its excerpt checked."""
    offset = _seconds("offset", wanted.offset, index) or 0.0
    duration = _seconds("duration", wanted.duration, index)
    spec = wanted.spec.strip()
    if not spec:
        raise BadValue("sources", spec, "choose an audio file, or a folder or glob of notes", source=index)
    if is_note_set(spec):
        return NoteSet(spec, offset, duration)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise BadValue("sources", spec, "no such file; check the path", source=index)
    return Source(path, offset, duration)


def _layers(request: RenderRequest, n_sources: int) -> list[Layer]:
    if request.weights is not None:
        return [Layer(weights=tuple(w)) for w in parse_weights(request.weights, n_sources)]
    if n_sources > 2:
        example = ";".join(",".join("1" if i == j else "0" for i in range(n_sources)) for j in range(2))
        raise BadValue("weights", "", f"{n_sources} sources mix by weights: give one vector per sample, e.g. {example}")
    if request.curve is not None:
        return [Layer(curve=tuple(parse_curve(request.curve)))]
    return [Layer(alpha=a) for a in parse_alphas(request.alphas or DEFAULT_ALPHAS)]


def output_folder(request: RenderRequest) -> Path:
    """Where the kit goes: ``out``, or ``kits/NAME`` (NAME made file-safe)."""
    if request.out is not None and request.out.strip():
        return Path(request.out.strip()).expanduser()
    if request.name is not None:
        name = safe_name(request.name) or "kit"
    else:
        first, second = (safe_name(Path(s.spec.strip()).stem) or safe_name(Path(s.spec.strip()).parent.name)
                         for s in request.sources[:2])
        name = f"{first}-{second}"
    return Path("kits") / name
