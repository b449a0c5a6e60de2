"""Latent mixing: α syntax, curves, weights, trajectory resampling, the mix itself."""

from __future__ import annotations

import numpy as np
import pytest

from lts_sampler.core.errors import LtsError
from lts_sampler.core.mixing import (
    curve_at,
    mix,
    parse_alphas,
    parse_curve,
    parse_weights,
    resample_trajectory,
    sample_latent,
    two_source_weights,
)


@pytest.mark.parametrize("text, expected", [
    ("-0.5:1.5:0.25", [-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]),
    ("0:1:0.5", [0.0, 0.5, 1.0]),
    ("0,0.3,1.2", [0.0, 0.3, 1.2]),
    ("-0.1", [-0.1]),
])
def test_alphas_parse_ranges_and_lists(text, expected):
    assert parse_alphas(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "a,b", "0:1", "1:0:0.1", "0:1:0", "0:1:-0.5", "nan", "0:1000:1"])
def test_bad_alphas_are_refused_with_the_syntax(text):
    with pytest.raises(LtsError, match="α"):
        parse_alphas(text)


def test_curve_breakpoints_interpolate_linearly():
    points = parse_curve("0:0,0.5:1,1:0")
    assert curve_at(points, 5) == pytest.approx([0, 0.5, 1, 0.5, 0])


@pytest.mark.parametrize("text", ["0:0,0.5", "0.2:0,1:1", "0:0,0.5:1,0.4:0,1:1", "x:y"])
def test_bad_curves_are_refused(text):
    with pytest.raises(LtsError, match="curve"):
        parse_curve(text)


def test_weights_need_one_value_per_source_summing_to_one():
    assert parse_weights("1,0,0;0.5,0.25,0.25", 3) == [[1, 0, 0], [0.5, 0.25, 0.25]]
    with pytest.raises(LtsError, match=r"3 numbers \(one per source\) summing to 1"):
        parse_weights("0.5,0.5", 3)
    with pytest.raises(LtsError, match="summing to 1"):
        parse_weights("1,1,0", 3)


def test_mix_follows_the_alpha_convention():
    a, b = np.zeros((4, 2), np.float32), np.ones((4, 2), np.float32)
    assert mix([a, b], two_source_weights(0.0)) == pytest.approx(a)
    assert mix([a, b], two_source_weights(1.0)) == pytest.approx(b)
    assert mix([a, b], two_source_weights(0.1)) == pytest.approx(np.full((4, 2), 0.1))
    # 10 % beyond B, away from A; 10 % beyond A, away from B.
    assert mix([a, b], two_source_weights(1.1)) == pytest.approx(np.full((4, 2), 1.1))
    assert mix([a, b], two_source_weights(-0.1)) == pytest.approx(np.full((4, 2), -0.1))
    # Per-frame weights (a curve).
    ramp = mix([a, b], two_source_weights(np.array([0, 0.5, 1, 1.5])))
    assert ramp[:, 0] == pytest.approx([0, 0.5, 1, 1.5])


def test_trajectories_are_resampled_in_time_not_truncated():
    z = np.array([[0.0], [1.0], [2.0]], np.float32)
    assert resample_trajectory(z, 5)[:, 0] == pytest.approx([0, 0.5, 1, 1.5, 2])
    assert resample_trajectory(z, 2)[:, 0] == pytest.approx([0, 2])


def test_sampling_is_seeded():
    mu, logvar = np.zeros((3, 4), np.float32), np.full((3, 4), -2.0, np.float32)
    one = sample_latent(mu, logvar, np.random.default_rng(5))
    assert one == pytest.approx(sample_latent(mu, logvar, np.random.default_rng(5)))
    assert not np.allclose(one, sample_latent(mu, logvar, np.random.default_rng(6)))
    assert np.std(sample_latent(np.zeros((2000, 8), np.float32), np.full((2000, 8), -2.0, np.float32),
                                np.random.default_rng(0))) == pytest.approx(np.exp(-1), rel=0.05)
