"""Terminal pictures for the TUI: waveform, spectrogram and latent trajectories as rich Text.

Pure functions from arrays to :class:`rich.text.Text`: one line per terminal row, each line
exactly ``width`` cells, the same output for the same input. Colours are mid-luminance and
quiet cells are left blank (default background), so the pictures read on light and dark
terminals alike. Imports numpy, librosa and rich only.
"""

from __future__ import annotations

import itertools

import librosa
import numpy as np
from rich.text import Text

ACCENT = "bold #3b82f6"  # the waveform inside the excerpt (everywhere without one)
OUTSIDE = "#8a8a8a"  # the waveform outside the excerpt
LOOP = "bold #10b981"  # the sustain loop of a kit's sample
COLORMAP = np.array([(76, 42, 156), (139, 31, 169), (192, 58, 131), (229, 98, 92), (248, 149, 64), (240, 201, 41)])
"""Spectrogram colours, quiet to loud (RGB 0–255): plasma without its near-black and near-white ends."""
SILENCE_PEAK = 1e-4  # a signal is scaled to its peak, but at least this one: silence stays flat
TOP_DB = 70.0  # range of the spectrogram below its loudest pixel
BLANK_LEVEL = 0.1  # spectrogram levels (0: TOP_DB down, 1: loudest) at or below this are blank
SPECTROGRAM_HZ = (40.0, 16000.0)  # lowest and highest band edge (the top capped at Nyquist)
N_FFT = 4096  # STFT size, Blackman-Harris window: little leakage across log bands
MARGIN = 0.05  # fraction of the trajectory plot left empty on each side
BRAILLE = np.array([" "] + [chr(0x2800 + code) for code in range(1, 256)])  # by dot pattern
BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]])  # [dot row, dot column]


def waveform(
    y: np.ndarray,
    *,
    sample_rate: int,
    width: int,
    height: int,
    excerpt: tuple[float, float | None] | None = None,
    loop: tuple[float, float] | None = None,
) -> Text:
    """Min/max envelope of a mono signal around a centre line, in braille (2 × 4 dots a cell).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
        Mono audio, scaled to its peak |y| but by at least ``SILENCE_PEAK``: silence and empty
        input give a flat centre line.
    sample_rate : int
        Sample rate of ``y`` in Hz; places the excerpt.
    width, height : int
        Size of the picture in terminal cells.
    excerpt : (offset_s, duration_s or None) or None
        Columns whose middle lies in this span of seconds (None: to the end) are drawn in
        ``ACCENT``, the others in ``OUTSIDE``; without an excerpt all are ``ACCENT``.
    loop : (start_s, end_s) or None
        A sample's sustain loop: columns whose middle lies in it are drawn in ``LOOP``.

    Returns
    -------
    Text
        ``height`` lines of ``width`` cells.
    """
    y = _mono(y)
    _check_size(width, height)
    highs = lows = np.zeros(2 * width)
    if y.size:
        scaled = y / max(np.abs(y).max(), SILENCE_PEAK)
        starts = _pool_starts(y.size, 2 * width)
        highs, lows = np.maximum.reduceat(scaled, starts), np.minimum.reduceat(scaled, starts)
    # Dot row i covers [i, i + 1) of (1 - amplitude) / 2 * n_dots; the two rows at 0 always show.
    n_dots, middle = 4 * height, 2 * height
    top = np.minimum(np.floor((1 - highs) / 2 * n_dots), middle - 1)
    bottom = np.maximum(np.ceil((1 - lows) / 2 * n_dots) - 1, middle)
    dot_rows = np.arange(n_dots)[:, None]
    chars = BRAILLE[_braille_codes((dot_rows >= top) & (dot_rows <= bottom))]
    seconds = (np.arange(width) + 0.5) / width * y.size / sample_rate
    inside = np.ones(width, dtype=bool)
    if excerpt is not None:
        offset, duration = excerpt
        inside = (seconds >= offset) & (duration is None or seconds < offset + duration)
    styles = np.where(inside, ACCENT, OUTSIDE)
    if loop is not None:
        styles = np.where((seconds >= loop[0]) & (seconds <= loop[1]), LOOP, styles)
    styles = np.broadcast_to(styles, (height, width))
    return _picture(_lines(chars, styles))


def spectrogram(y: np.ndarray, *, sample_rate: int, width: int, height: int) -> Text:
    """Log-frequency magnitude over time, two bands a row in half blocks, low at the bottom.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
        Mono audio; padded with zeros to ``N_FFT`` samples when shorter.
    sample_rate : int
        Sample rate of ``y`` in Hz.
    width, height : int
        Size of the picture in terminal cells: ``width`` columns of time (the loudest STFT frame
        in each) by ``2 * height`` log-spaced bands from 40 Hz to 16 kHz (the loudest bin in each).

    Returns
    -------
    Text
        ``height`` lines of ``width`` cells, "▀" in the upper band's colour on the lower band's.
        dB below the loudest pixel map through ``COLORMAP``; the quietest ``BLANK_LEVEL`` of
        ``TOP_DB``, and all of a silent signal, are blank.
    """
    y = _mono(y)
    _check_size(width, height)
    padded = np.pad(y, (0, max(0, N_FFT - y.size)))
    power = np.abs(librosa.stft(padded, n_fft=N_FFT, hop_length=N_FFT // 8, window="blackmanharris")) ** 2
    edges = np.geomspace(SPECTROGRAM_HZ[0], min(SPECTROGRAM_HZ[1], sample_rate / 2), 2 * height + 1)
    first_bins = np.searchsorted(librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT), edges)
    bands = np.maximum.reduceat(power[: first_bins[-1]], np.minimum(first_bins[:-1], first_bins[-1] - 1))
    pixels = np.maximum.reduceat(bands, _pool_starts(bands.shape[1], width), axis=1)[::-1]
    levels = np.zeros_like(pixels)
    if y.size and np.abs(y).max() >= SILENCE_PEAK:
        levels = 1 + librosa.power_to_db(pixels, ref=np.max, top_db=TOP_DB) / TOP_DB
    colours = _level_colours(levels)
    cells = [_half_block(upper, lower) for upper, lower in zip(colours[0::2].flat, colours[1::2].flat)]
    chars, styles = (np.reshape(part, (height, width)) for part in zip(*cells))
    return _picture(_lines(chars, styles))


def project_2d(trajectories: list[np.ndarray]) -> list[np.ndarray]:
    """Project latent trajectories onto the two principal axes of all their frames together.

    Parameters
    ----------
    trajectories : list of np.ndarray [shape=(frames_i, latent_dim)], float
        One PCA is fitted to all frames stacked, centred on their mean.

    Returns
    -------
    list of np.ndarray [shape=(frames_i, 2)], float32
        Each trajectory in principal coordinates. Each axis points where its largest loading
        is positive; an axis without variance (one frame, identical frames, the second axis
        of a straight line) gives zeros.
    """
    arrays = [np.asarray(trajectory, dtype=np.float64) for trajectory in trajectories]
    if sum(len(array) for array in arrays) == 0:
        return [np.zeros((len(array), 2), dtype=np.float32) for array in arrays]
    stacked = np.concatenate(arrays)
    mean = stacked.mean(axis=0)
    _, singular, axes = np.linalg.svd(stacked - mean, full_matrices=False)
    components = np.zeros((2, stacked.shape[1]))
    kept = min(2, len(axes))
    components[:kept] = axes[:kept] * (singular[:kept, None] > 1e-9 * singular[0])
    largest = components[[0, 1], np.abs(components).argmax(axis=1)]
    components *= np.where(largest < 0, -1.0, 1.0)[:, None]
    return [((array - mean) @ components.T).astype(np.float32) for array in arrays]


def trajectory_plot(curves: list[tuple[str, np.ndarray, str]], *, width: int, height: int) -> Text:
    """Braille line plot of 2-D curves on one scale for x and y, with a legend on the last row.

    Parameters
    ----------
    curves : list of (label, points, style)
        ``points`` np.ndarray [shape=(n, 2)], float, joined in order; ``style`` a rich style.
        Later curves are drawn over earlier ones; each curve starts with a "●".
    width, height : int
        Size of the picture in terminal cells, ``height`` ≥ 2: the plot, then the legend.

    Returns
    -------
    Text
        ``height`` lines of ``width`` cells, the last "● label  ● label …".
    """
    _check_size(width, height, min_height=2)
    plot_rows = height - 1
    dot_curves = _fit_to_dots([points for _, points, _ in curves], 2 * width, 4 * plot_rows)
    dots = np.zeros((4 * plot_rows, 2 * width), dtype=bool)
    owner = np.full((plot_rows, width), len(curves))  # the curve drawn last in each cell; len: none
    for index, points in enumerate(dot_curves):
        path = _polyline(points)
        dots[path[:, 1], path[:, 0]] = True
        owner[path[:, 1] // 4, path[:, 0] // 2] = index
    chars = BRAILLE[_braille_codes(dots)]
    for index, points in enumerate(dot_curves):
        if len(points):
            chars[points[0, 1] // 4, points[0, 0] // 2] = "●"
            owner[points[0, 1] // 4, points[0, 0] // 2] = index
    styles = np.array([style for _, _, style in curves] + [""])[owner]
    legend = Text("  ").join(Text(f"● {label}", style=style) for label, _, style in curves)
    legend.truncate(width, overflow="ellipsis", pad=True)
    return _picture([*_lines(chars, styles), legend])


def _mono(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or not np.isfinite(y).all():
        raise ValueError(f"y must be finite mono audio of shape (n,), got shape {y.shape}")
    return y


def _check_size(width: int, height: int, *, min_height: int = 1) -> None:
    if width < 1 or height < min_height:
        raise ValueError(f"a picture needs at least 1 × {min_height} cells, got {width} × {height}")


def _pool_starts(n_items: int, n_columns: int) -> np.ndarray:
    """First item of each column, for ``np.ufunc.reduceat`` (with fewer items, they repeat)."""
    return np.arange(n_columns) * n_items // n_columns


def _braille_codes(dots: np.ndarray) -> np.ndarray:
    """Dots [4 · rows, 2 · columns] bool → braille patterns [rows, columns] int."""
    rows, columns = dots.shape[0] // 4, dots.shape[1] // 2
    return (dots.reshape(rows, 4, columns, 2) * BRAILLE_BITS[:, None, :]).sum(axis=(1, 3))


def _level_colours(levels: np.ndarray) -> np.ndarray:
    """Levels in [0, 1] → "#rrggbb" through ``COLORMAP``, "" (blank) up to ``BLANK_LEVEL``."""
    position = (levels - BLANK_LEVEL) / (1 - BLANK_LEVEL) * (len(COLORMAP) - 1)
    below = np.clip(np.floor(position).astype(int), 0, len(COLORMAP) - 2)
    fraction = np.clip(position - below, 0, 1)[..., None]
    rgb = np.rint(COLORMAP[below] * (1 - fraction) + COLORMAP[below + 1] * fraction).astype(int)
    hexes = np.array([f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb.reshape(-1, 3)]).reshape(levels.shape)
    return np.where(levels > BLANK_LEVEL, hexes, "")


def _half_block(upper: str, lower: str) -> tuple[str, str]:
    """Character and style of a cell showing two stacked pixels ("" is a blank pixel)."""
    if upper and lower:
        return "▀", f"{upper} on {lower}"
    if upper:
        return "▀", upper
    return ("▄", lower) if lower else (" ", "")


def _fit_to_dots(curves: list[np.ndarray], n_dots_x: int, n_dots_y: int) -> list[np.ndarray]:
    """Points [n, 2] (y up) → dots [n, 2] int (column, row down), one scale for both, centred."""
    curves = [np.asarray(points, dtype=np.float64).reshape(-1, 2) for points in curves]
    stacked = np.concatenate([np.zeros((0, 2)), *curves])
    low, high = (stacked.min(axis=0), stacked.max(axis=0)) if len(stacked) else (np.zeros(2), np.zeros(2))
    room = np.array([n_dots_x - 1, n_dots_y - 1])
    scale = np.min(room * (1 - 2 * MARGIN) / np.maximum(high - low, 1e-12)) * np.array([1, -1])
    return [np.clip(np.rint(room / 2 + (points - (low + high) / 2) * scale), 0, room).astype(int) for points in curves]


def _polyline(points: np.ndarray) -> np.ndarray:
    """Dots [m, 2] joining dots [n, 2] in order, one per step along the longer axis (as Bresenham)."""
    pieces = [points[:1]]
    for start, end in itertools.pairwise(points):
        steps = np.abs(end - start).max()
        pieces.append(np.rint(np.linspace(start, end, steps + 1)[1:]).astype(int))
    return np.concatenate(pieces)


def _lines(chars: np.ndarray, styles: np.ndarray) -> list[Text]:
    """One Text per row of cells [rows, columns] str; neighbouring cells of one style share a span."""
    lines = []
    for row_chars, row_styles in zip(chars, styles):
        line = Text()
        for style, run in itertools.groupby(zip(row_chars, row_styles), key=lambda cell: str(cell[1])):
            line.append("".join(str(char) for char, _ in run), style=style)
        lines.append(line)
    return lines


def _picture(lines: list[Text]) -> Text:
    return Text("\n", no_wrap=True, overflow="crop").join(lines)
