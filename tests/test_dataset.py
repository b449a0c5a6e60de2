"""The dataset builder: analysis, cache, split, unreadable files."""

from __future__ import annotations

import numpy as np
import pytest
from lts_sampler.training.dataset import build_dataset, read_name_list, split_dataset, stack_frames

from lts_sampler.core.errors import LtsError
from lts_sampler.core.spec import AudioSpec

SPEC = AudioSpec()


def test_frames_follow_the_audio_spec(audio_folder, tmp_path):
    dataset = build_dataset(audio_folder, SPEC, cache_dir=tmp_path / "cache", workers=1, show_progress=False)
    assert [item.name for item in dataset.items] == ["chirp.flac", "noise.ogg", "tone.wav"]
    for item in dataset.items:
        frames = item.load()
        assert frames.dtype == np.float32 and frames.shape[1] == SPEC.n_bins
        assert frames.shape[0] == item.frames == pytest.approx(item.seconds * SPEC.sample_rate / SPEC.hop_length, abs=2)
        assert item.seconds == pytest.approx(0.6, abs=1e-3)
    # The 220 Hz tone peaks in the bin of 220 Hz: 48 bins an octave above 32.703 Hz.
    tone = dataset.items[2].load()
    expected_bin = round(48 * np.log2(220 / SPEC.fmin_hz))
    assert abs(int(np.argmax(tone[len(tone) // 2])) - expected_bin) <= 1


@pytest.mark.slow
def test_cache_hits_on_rerun_and_misses_on_changed_files(audio_folder, tmp_path):
    cache = tmp_path / "cache"
    first = build_dataset(audio_folder, SPEC, cache_dir=cache, workers=2, show_progress=False)
    assert first.analysed == 3
    again = build_dataset(audio_folder, SPEC, cache_dir=cache, workers=1, show_progress=False)
    assert again.analysed == 0
    assert [i.cache_path for i in again.items] == [i.cache_path for i in first.items]
    # A changed file is analysed again; the others come from the cache.
    import soundfile as sf

    sf.write(audio_folder / "tone.wav", np.zeros(4410, np.float32) + 0.1, 22050)
    changed = build_dataset(audio_folder, SPEC, cache_dir=cache, workers=1, show_progress=False)
    assert changed.analysed == 1
    # Another spec is another cache entry.
    other = build_dataset(audio_folder, AudioSpec(n_bins=336), cache_dir=cache, workers=1, show_progress=False)
    assert other.analysed == 3 and other.items[0].load().shape[1] == 336


def test_unreadable_files_are_skipped_and_named(audio_folder, tmp_path):
    (audio_folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (audio_folder / "notes.txt").write_text("not audio, not even looked at")
    dataset = build_dataset(audio_folder, SPEC, cache_dir=tmp_path / "cache", workers=1, show_progress=False)
    assert len(dataset.items) == 3
    assert list(dataset.skipped) == ["broken.wav"]
    assert "broken.wav" in dataset.skipped["broken.wav"]


def test_a_folder_without_audio_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hello")
    with pytest.raises(LtsError, match="no audio files under"):
        build_dataset(tmp_path / "empty", SPEC, cache_dir=tmp_path / "cache", show_progress=False)


def test_a_folder_of_corrupt_files_is_refused(tmp_path):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    for name in ("a.wav", "b.flac"):
        (folder / name).write_bytes(b"\x00garbage" * 100)
    with pytest.raises(LtsError, match="none of the 2 audio files"):
        build_dataset(folder, SPEC, cache_dir=tmp_path / "cache", workers=1, show_progress=False)


def _fake_dataset(n, tmp_path):
    from lts_sampler.training.dataset import AudioItem, Dataset

    items = [AudioItem(f"f{i:02d}.wav", tmp_path / f"f{i:02d}.wav", "0" * 64, 1.0, 10, tmp_path / "x.npy") for i in range(n)]
    return Dataset(items, {})


def test_split_is_by_file_and_repeatable(tmp_path):
    dataset = _fake_dataset(40, tmp_path)
    a = split_dataset(dataset, seed=7)
    b = split_dataset(dataset, seed=7)
    c = split_dataset(dataset, seed=8)
    names = lambda items: [i.name for i in items]  # noqa: E731
    assert names(a.heldout) == names(b.heldout) and names(a.validation) == names(b.validation)
    assert names(a.heldout) != names(c.heldout)
    assert len(a.heldout) == 4 and len(a.validation) == 4 and len(a.train) == 32
    assert not set(names(a.heldout)) & set(names(a.train) + names(a.validation))


def test_a_heldout_list_fixes_the_heldout_files(tmp_path):
    listing = tmp_path / "heldout.txt"
    listing.write_text("# held out\nf03.wav\n\nf11.wav\n")
    split = split_dataset(_fake_dataset(20, tmp_path), heldout_names=read_name_list(listing), seed=0)
    assert [i.name for i in split.heldout] == ["f03.wav", "f11.wav"]
    assert "f03.wav" not in [i.name for i in split.train + split.validation]
    with pytest.raises(LtsError, match="not in the data folder: nope.wav"):
        split_dataset(_fake_dataset(20, tmp_path), heldout_names=["nope.wav"])


def test_stack_frames_concatenates_files(audio_folder, tmp_path):
    dataset = build_dataset(audio_folder, SPEC, cache_dir=tmp_path / "cache", workers=1, show_progress=False)
    frames = stack_frames(dataset.items)
    assert frames.shape == (sum(i.frames for i in dataset.items), SPEC.n_bins)
