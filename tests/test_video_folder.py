"""video_folder: the user's own videos as a dataset, on clips these tests make: GIFs, MP4,
WebM, a folder of numbered frames, grey and colour, a damaged file and a short one."""

import json
import os
import pathlib
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests.tiny import TINY_ARGS
from tf_deepgifs.cli import main
from tf_deepgifs.data import bouncing_balls, registry, video_files
from tf_deepgifs.data.splits import example_rng

REPO = pathlib.Path(__file__).resolve().parent.parent
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
RATIOS = video_files.ClipSettings().split_ratios


def _colour_video(frames, seed, height=80, width=96):
    """uint8 (frames, height, width, 3): balls, each channel its own, on a wider frame."""
    video = bouncing_balls.generate([example_rng(seed, "train", 0)], frames, 2, 64).video[0]
    rgb = np.concatenate([video, np.roll(video, 6, axis=2), video // 2], axis=-1)
    return np.pad(rgb, ((0, 0), ((height - 64) // 2,) * 2, ((width - 64) // 2,) * 2, (0, 0)))


def _names_in(split, count, pattern="clip_{}.gif", start=0):
    """`count` file names the hash puts in `split`."""
    found, i = [], start
    while len(found) < count:
        if video_files.split_of(pattern.format(i), RATIOS) == split:
            found.append(pattern.format(i))
        i += 1
    return found


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A folder of sources: GIFs in every split, an MP4, a WebM, a folder of numbered
    frames, a damaged file, a GIF shorter than one clip."""
    folder = tmp_path_factory.mktemp("clips")
    names = _names_in("train", 2) + _names_in("validation", 1) + _names_in("test", 1)
    for seed, name in enumerate(names):
        iio.imwrite(folder / name, _colour_video(30, seed), duration=100, loop=0)
    iio.imwrite(folder / "movie.mp4", _colour_video(40, 10), plugin="pyav", fps=10, codec="libx264")
    iio.imwrite(folder / "movie.webm", _colour_video(40, 11), plugin="pyav", fps=10, codec="libvpx-vp9")
    (folder / "frames").mkdir()
    for n, frame in enumerate(_colour_video(25, 12)):
        iio.imwrite(folder / "frames" / f"{n + 1}.png", frame)  # 1.png ... 25.png, in number order
    (folder / "damaged.mp4").write_bytes(b"not a video")
    iio.imwrite(folder / "short.gif", _colour_video(5, 13), duration=100, loop=0)
    return folder


def _data(*arguments):
    return subprocess.run([sys.executable, "-m", "tf_deepgifs", "data", *map(str, arguments)],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)


def _examples(dataset, data_dir, split):
    builder = registry.builder(dataset, str(data_dir))
    return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))


@pytest.fixture(scope="module")
def built(clips, tmp_path_factory):
    """(data dir, the grey build's command result): the grey clips built by the data command
    in a process of its own, the colour ones by its main in this process."""
    data_dir = tmp_path_factory.mktemp("data")
    result = _data("--dataset", "video_folder", "--manual-dir", clips, "--data-dir", data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert main(["data", "--dataset", "video_folder/colour", "--manual-dir", str(clips),
                 "--data-dir", str(data_dir)]) == 0
    return data_dir, result


@pytest.mark.slow  # builds in processes of their own
def test_every_kind_of_source_becomes_clips_in_exactly_one_split(clips, built):
    data_dir, result = built
    assert "1 unreadable and 1 too short, skipped" in result.stderr
    seen = {}
    for split in video_files.SPLITS:
        for example in _examples("video_folder", data_dir, split):
            seen.setdefault(example["source"].decode(), set()).add(split)
            assert example["video"].shape == (20, 64, 64, 1) and example["video"].dtype == np.uint8
    assert set(seen) == set(video_files.sources(clips)) - {"damaged.mp4", "short.gif"}
    assert {"movie.mp4", "movie.webm", "frames"} <= set(seen)
    for source, splits in seen.items():
        assert splits == {video_files.split_of(source, RATIOS)}, source
    starts = sorted(int(e["start"]) for e in _examples("video_folder", data_dir, "train")
                    if e["source"] == b"movie.mp4")
    if starts:  # 40 frames, clips of 20 every 10: starting at 0, 10, 20
        assert starts == [0, 10, 20]


@pytest.mark.slow
def test_colour_clips_keep_their_channels(built):
    data_dir, _ = built
    example = _examples("video_folder/colour", data_dir, "validation")[0]
    assert example["video"].shape == (20, 64, 64, 3)
    channels = example["video"].reshape(-1, 3).astype(int)
    assert np.abs(channels[:, 0] - channels[:, 2]).max() > 50, "the channels differ"


@pytest.mark.slow
def test_adding_a_file_moves_no_clip_and_a_changed_folder_is_built_again(clips, built, tmp_path,
                                                                         capsys):
    data_dir, _ = built
    before = {split: sorted((e["source"], int(e["start"])) for e in _examples("video_folder", data_dir, split))
              for split in video_files.SPLITS}
    grown = tmp_path / "grown"
    subprocess.run(["cp", "-r", str(clips), str(grown)], check=True)
    iio.imwrite(grown / "added.gif", _colour_video(30, 20), duration=100, loop=0)
    # The data command's main, in this process (the fixtures build through the command).
    data = ["data", "--dataset", "video_folder", "--manual-dir", str(grown), "--data-dir", str(data_dir)]
    assert main(data) == 0
    assert "is not the folder video_folder was built from" in capsys.readouterr().out
    after = {split: sorted((e["source"], int(e["start"])) for e in _examples("video_folder", data_dir, split))
             for split in video_files.SPLITS}
    added = video_files.split_of("added.gif", RATIOS)
    for split in video_files.SPLITS:
        new = [clip for clip in after[split] if clip[0] == b"added.gif"]
        assert after[split] == sorted(before[split] + new)
        assert bool(new) == (split == added)
    assert main(data) == 0
    assert "built from" not in capsys.readouterr().out  # the same folder: reused


def test_a_split_left_empty_and_a_missing_folder_are_one_clear_line(tmp_path, capsys):
    """The data command's refusals (its `main`, what `python -m tf_deepgifs` exits with)."""
    only_train = tmp_path / "few"
    only_train.mkdir()
    for seed, name in enumerate(_names_in("train", 2)):
        iio.imwrite(only_train / name, _colour_video(25, seed), duration=100, loop=0)
    data_dir = str(tmp_path / "d")
    assert main(["data", "--dataset", "video_folder", "--manual-dir", str(only_train),
                 "--data-dir", data_dir]) == 2
    assert _errors(capsys) == [
        f"error: No clip for the validation and test split from {only_train}: "
        "2 sources went to train, 0 sources went to validation, 0 sources went to "
        "test (split_ratios (0.8, 0.1, 0.1), by a hash of each path); add videos."]
    assert main(["data", "--dataset", "video_folder", "--data-dir", data_dir]) == 2
    missing = _errors(capsys)
    assert len(missing) == 1
    assert "reads your files from a folder: pass it with --manual-dir" in missing[0]


def _errors(capsys):
    """The error lines written to stderr since the last call; no traceback among them."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_tfds_build_on_the_builder_folder(clips, tmp_path):
    result = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "tfds"), "build", "datasets/video_folder",
         "--config=grey", f"--manual_dir={clips}", f"--data_dir={tmp_path}"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert registry.builder("video_folder", str(tmp_path)).info.splits["train"].num_examples > 0


@pytest.mark.slow
def test_a_colour_model_trains_exports_and_generates_through_the_runner(built, tmp_path, capsys):
    data_dir, _ = built
    run = tmp_path / "run"
    # The train and export commands' main, in this process (their own tests start them as
    # users do); the runner in a process of its own, as it is deployed.
    assert main(["train", "--dataset", "video_folder/colour", "--data-dir", str(data_dir),
                 "--preset", "smoke", *TINY_ARGS, "--channels", "3", "--context-frames", "3",
                 "--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "2",
                 "--validation-steps", "1", "--run-dir", str(run)]) == 0, capsys.readouterr().err
    assert main(["export", "--run-dir", str(run)]) == 0, capsys.readouterr().err
    report = json.loads((run / "export" / "verification.json").read_text())
    assert report["passed"] and report["metadata"]["channels"] == "3"
    seed = tmp_path / "seed.gif"
    iio.imwrite(seed, _colour_video(3, 30), duration=100, loop=0)
    out = tmp_path / "out.gif"
    generated = subprocess.run(
        [sys.executable, "-m", "export.generate", "--model", str(run / "export" / "generator.onnx"),
         "--seed", str(seed), "--frames", "8", "--out", str(out)],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert generated.returncode == 0, generated.stderr
    assert "cropped and resized the 96x80 seed to 64x64" in generated.stderr
    frames = iio.imread(out, index=None)
    assert frames.shape == (3 + 8, 64, 64, 3)


def test_clips_start_every_stride_frames_of_every_kth_frame(tmp_path):
    video = np.arange(30, dtype=np.uint8)[:, None, None] * np.ones((1, 8, 12), np.uint8)
    iio.imwrite(tmp_path / "count.gif", video, duration=100, loop=0)
    settings = video_files.ClipSettings(clip_frames=4, stride=3, frame_step=2, image_size=8)
    clips, starts = video_files.clips(tmp_path / "count.gif", settings)
    assert starts == [0, 3, 6, 9]  # 15 kept frames (0, 2, ..., 28): clips of 4 every 3
    assert clips.shape == (4, 4, 8, 8, 1)
    np.testing.assert_array_equal(clips[1, :, 0, 0, 0], [6, 8, 10, 12])  # kept frames 3..6


def test_a_wide_frame_is_centre_cropped_then_resized():
    frame = np.zeros((16, 32), np.uint8)
    frame[:, 8:24] = 200  # the centre square is all 200; the sides are 0
    square = video_files._to_square(frame, 8, 1)
    assert square.shape == (8, 8, 1) and np.all(square == 200)
    colour = video_files._to_square(np.dstack([frame, frame // 2, frame // 4]), 4, 3)
    assert colour.shape == (4, 4, 3) and tuple(colour[0, 0]) == (200, 100, 50)


def test_the_split_of_a_source_is_a_function_of_its_path_alone():
    names = [f"clip_{i}.gif" for i in range(2000)]
    splits = [video_files.split_of(name, RATIOS) for name in names]
    assert splits == [video_files.split_of(name, RATIOS) for name in names]
    shares = [splits.count(s) / len(splits) for s in video_files.SPLITS]
    np.testing.assert_allclose(shares, RATIOS, atol=0.03)
    with pytest.raises(ValueError, match="split_ratios must be three shares summing to 1"):
        video_files.ClipSettings(split_ratios=(0.5, 0.5, 0.5))
