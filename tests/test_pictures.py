"""Terminal pictures: their size, known signals drawn where they should be, degenerate input."""

from __future__ import annotations

import numpy as np
import pytest
from rich.style import Style
from rich.text import Text
from support.cli import python

from lts_sampler.faces.tui.pictures import ACCENT, LOOP, OUTSIDE, project_2d, spectrogram, trajectory_plot, waveform

SR = 44100
DOT_BITS = {(0, 0): 0x01, (1, 0): 0x02, (2, 0): 0x04, (0, 1): 0x08, (1, 1): 0x10, (2, 1): 0x20, (3, 0): 0x40, (3, 1): 0x80}
"""Unicode braille: bit of each dot, keyed (dot row 0–3, dot column 0–1)."""
LOUDEST = "#f0c929"  # the last colour of the spectrogram's colormap


def tone(freq_hz: float, seconds: float, amplitude: float = 0.8) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq_hz * np.arange(int(seconds * SR)) / SR)


def cell_styles(line: Text) -> list[str]:
    """The style of each cell of a line ("" where none); every test picture is one cell a char."""
    styles = [""] * len(line.plain)
    for span in line.spans:
        styles[span.start : span.end] = [str(span.style)] * (span.end - span.start)
    return styles


def lit_dots(lines: list[Text]) -> set[tuple[int, int]]:
    """(dot column, dot row) of every braille dot shown, counted from the top left."""
    dots = set()
    for row, line in enumerate(lines):
        for column, char in enumerate(line.plain):
            if "\u2801" <= char <= "\u28ff":
                code = ord(char) - 0x2800
                dots |= {(2 * column + c, 4 * row + r) for (r, c), bit in DOT_BITS.items() if code & bit}
    return dots


def pixel_rows_in(text: Text, colour: str) -> set[int]:
    """Half-block pixel rows (from the top) that show ``colour`` somewhere in a spectrogram."""
    rows = set()
    for row, line in enumerate(text.split()):
        for char, style in zip(line.plain, cell_styles(line)):
            parsed = Style.parse(style) if style else Style()
            if parsed.color and parsed.color.get_truecolor().hex == colour:
                rows.add(2 * row + (char == "▄"))
            if parsed.bgcolor and parsed.bgcolor.get_truecolor().hex == colour:
                rows.add(2 * row + 1)
    return rows


PICTURES = {
    "waveform": lambda width, height: waveform(tone(440, 0.5), sample_rate=SR, width=width, height=height),
    "waveform_excerpt": lambda width, height: waveform(
        tone(440, 0.5), sample_rate=SR, width=width, height=height, excerpt=(0.1, 0.2)
    ),
    "spectrogram": lambda width, height: spectrogram(tone(440, 0.5), sample_rate=SR, width=width, height=height),
    "trajectory_plot": lambda width, height: trajectory_plot(
        [("A", np.array([[0, 0], [1, 2], [3, -1]]), "red"), ("a much longer label than fits", np.ones((3, 2)), "blue")],
        width=width,
        height=height,
    ),
}


@pytest.mark.parametrize("width, height", [(60, 8), (13, 5), (1, 2)])
@pytest.mark.parametrize("name", PICTURES)
def test_every_picture_has_height_lines_of_width_cells(name, width, height):
    lines = PICTURES[name](width, height).split()
    assert len(lines) == height
    assert [line.cell_len for line in lines] == [width] * height


def test_waveform_of_a_burst_in_the_second_half_is_taller_on_the_right():
    y = np.concatenate([np.zeros(SR), tone(440, 1.0)])
    dots = lit_dots(waveform(y, sample_rate=SR, width=40, height=8).split())
    left_rows = {row for column, row in dots if column < 40}
    right_rows = {row for column, row in dots if column >= 40}
    assert left_rows == {15, 16}  # the centre line: dot rows 15 and 16 of 32
    assert right_rows == set(range(32))  # the burst is the peak, so it fills the height


@pytest.mark.parametrize("y", [np.zeros(1000), np.zeros(0), tone(440, 0.1, amplitude=1e-6)], ids=["zeros", "empty", "1e-6"])
def test_waveform_of_silence_or_nothing_is_a_flat_centre_line(y):
    lines = waveform(y, sample_rate=SR, width=10, height=4).split()
    assert [line.plain for line in lines] == [" " * 10, "⣀" * 10, "⠉" * 10, " " * 10]


@pytest.mark.parametrize(
    "excerpt, accented",
    [((0.5, 0.5), range(10, 20)), ((1.0, None), range(20, 40)), (None, range(40))],
    ids=["offset-duration", "to-the-end", "none"],
)
def test_waveform_accents_the_columns_of_the_excerpt(excerpt, accented):
    # 2 s over 40 columns: column c is centred on (c + 0.5) / 20 s.
    text = waveform(tone(440, 2.0), sample_rate=SR, width=40, height=6, excerpt=excerpt)
    expected = [ACCENT if column in accented else OUTSIDE for column in range(40)]
    assert all(cell_styles(line) == expected for line in text.split())


def test_waveform_marks_a_samples_loop_in_its_own_colour():
    text = waveform(tone(440, 2.0), sample_rate=SR, width=40, height=6, loop=(0.5, 1.5))
    expected = [LOOP if 10 <= column < 30 else ACCENT for column in range(40)]
    assert all(cell_styles(line) == expected for line in text.split())


def test_spectrogram_draws_a_low_sine_in_a_lower_band_than_a_high_sine():
    # 16 bands from 40 Hz by factors of 400 ** (1 / 16): 200 Hz falls in band 4, 4 kHz in band 12
    # (from the bottom), i.e. pixel rows 11 and 3 from the top.
    low = spectrogram(tone(200, 1.0), sample_rate=SR, width=20, height=8)
    high = spectrogram(tone(4000, 1.0), sample_rate=SR, width=20, height=8)
    assert pixel_rows_in(low, LOUDEST) == {11}
    assert pixel_rows_in(high, LOUDEST) == {3}


@pytest.mark.parametrize("y", [np.zeros(SR), np.zeros(0), np.zeros(10), tone(440, 0.1, amplitude=1e-6)])
def test_spectrogram_of_silence_or_nothing_is_blank(y):
    lines = spectrogram(y, sample_rate=SR, width=12, height=4).split()
    assert [line.plain for line in lines] == [" " * 12] * 4


def test_spectrogram_of_a_very_short_sound_is_drawn():
    lines = spectrogram(np.random.default_rng(0).uniform(-1, 1, 100), sample_rate=SR, width=12, height=4).split()
    assert len(lines) == 4 and any(line.plain.strip() for line in lines)


def test_project_2d_of_a_straight_line_keeps_its_order_and_length_on_the_first_axis(rng):
    direction = rng.standard_normal(16)
    line = rng.standard_normal(16) + np.linspace(0, 1, 30)[:, None] * direction
    first, second = project_2d([line[:10], line[10:]])
    assert first.shape == (10, 2) and second.shape == (20, 2) and first.dtype == np.float32
    along = np.concatenate([first, second])[:, 0]
    assert np.all(np.diff(along) > 0) or np.all(np.diff(along) < 0)
    assert np.ptp(along) == pytest.approx(np.linalg.norm(direction), rel=1e-5)
    assert np.all(np.concatenate([first, second])[:, 1] == 0)


def test_project_2d_points_each_axis_along_its_largest_loading():
    # Along -e3 by 2 per unit of t: the axis is +e3, so the coordinate is -2 (t - mean t).
    t = np.linspace(0, 1, 5)
    line = np.zeros((5, 8))
    line[:, 3] = -2 * t
    (projected,) = project_2d([line])
    np.testing.assert_allclose(projected[:, 0], -2 * (t - 0.5), atol=1e-6)
    np.testing.assert_allclose(project_2d([-line])[0], -projected, atol=1e-6)


@pytest.mark.parametrize(
    "trajectories",
    [[np.ones((1, 16))], [np.full((5, 16), 3.0)], [np.ones((3, 4)), np.ones((2, 4))], [np.zeros((0, 16))], []],
    ids=["one-frame", "identical", "identical-two", "no-frames", "no-trajectories"],
)
def test_project_2d_of_degenerate_input_is_zeros_without_nan(trajectories):
    projected = project_2d(trajectories)
    assert [p.shape for p in projected] == [(len(t), 2) for t in trajectories]
    assert all(np.all(p == 0) for p in projected)


def test_project_2d_of_one_latent_dimension_has_a_zero_second_axis():
    (projected,) = project_2d([np.arange(4.0)[:, None]])
    np.testing.assert_allclose(projected, [[-1.5, 0], [-0.5, 0], [0.5, 0], [1.5, 0]])


def test_trajectory_plot_of_a_diagonal_lights_dots_on_the_diagonal():
    # 20 × 5 cells of plot = 40 × 20 dots centred on (19.5, 9.5); one scale for x and y keeps
    # the diagonal at 45°, so every dot has column + row = 29 (± 1 from rounding).
    lines = trajectory_plot([("A", np.array([[0.0, 0.0], [1.0, 1.0]]), "red")], width=20, height=6).split()
    dots = lit_dots(lines[:-1])
    assert all(abs(column + row - 29) <= 1 for column, row in dots)
    assert max(column for column, _ in dots) - min(column for column, _ in dots) >= 15
    assert lines[4].plain[5] == "●"  # the start (0, 0) is dot (11, 18): cell row 4, column 5


def test_trajectory_plot_legend_lists_labels_in_their_colours():
    curves = [("A", np.zeros((2, 2)), "red"), ("α 0.50", np.ones((2, 2)), "blue")]
    legend = trajectory_plot(curves, width=20, height=4).split()[-1]
    assert legend.plain == "● A  ● α 0.50".ljust(20)
    assert cell_styles(legend)[:13] == ["red"] * 3 + [""] * 2 + ["blue"] * 8


def test_trajectory_plot_draws_later_curves_over_earlier_ones():
    points = np.array([[0.0, 0.0], [1.0, 0.5], [2.0, 2.0]])
    lines = trajectory_plot([("A", points, "red"), ("B", points, "blue")], width=20, height=6).split()
    drawn = {style for line in lines[:-1] for char, style in zip(line.plain, cell_styles(line)) if char != " "}
    assert drawn == {"blue"}


@pytest.mark.parametrize("points", [np.array([[3.0, 3.0]]), np.full((4, 2), 3.0)], ids=["single", "repeated"])
def test_trajectory_plot_of_one_point_is_a_start_mark_in_the_middle(points):
    # 40 × 20 dots: the middle (19.5, 9.5) rounds to dot (20, 10), cell row 2, column 10.
    lines = trajectory_plot([("A", points, "red")], width=20, height=6).split()
    assert [line.plain for line in lines[:-1]] == [" " * 20] * 2 + [" " * 10 + "●" + " " * 9] + [" " * 20] * 2


def test_trajectory_plot_of_no_curves_is_blank():
    assert [line.plain for line in trajectory_plot([], width=5, height=3).split()] == [" " * 5] * 3


@pytest.mark.parametrize(
    "draw, message",
    [
        (lambda: waveform(np.zeros(10), sample_rate=SR, width=0, height=4), "at least 1 × 1 cells, got 0 × 4"),
        (lambda: trajectory_plot([], width=10, height=1), "at least 1 × 2 cells, got 10 × 1"),
        (lambda: spectrogram(np.zeros((2, 10)), sample_rate=SR, width=8, height=4), r"shape \(n,\), got shape \(2, 10\)"),
        (lambda: waveform(np.array([0.0, np.nan]), sample_rate=SR, width=8, height=4), "finite mono audio"),
    ],
)
def test_pictures_reject_bad_input_with_a_message_naming_it(draw, message):
    with pytest.raises(ValueError, match=message):
        draw()


def test_importing_pictures_brings_in_neither_textual_nor_torch_nor_sounddevice():
    done = python("import lts_sampler.faces.tui.pictures", refuse=["textual", "torch", "sounddevice"])
    assert done.returncode == 0, done.stderr
