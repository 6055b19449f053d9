"""Specifications of the Moving MNIST generator, the IDX reader and the builder's inputs."""

import gzip
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tf_deepgifs.data import moving_mnist, registry, splits, testing
from tf_deepgifs.errors import IDXFormatError, MissingMNISTError

MOTION = moving_mnist.DigitMotion()


def _starts(num_sequences, seed=0):
    starts = [
        moving_mnist.sample_start(np.random.default_rng([seed, i]), 2, 100)
        for i in range(num_sequences)
    ]
    return np.stack([s[1] for s in starts]), np.stack([s[2] for s in starts])


def test_start_follows_the_original_script():
    positions, velocities = _starts(500)
    assert np.all((positions >= 0) & (positions < MOTION.travel))
    speeds = np.linalg.norm(velocities, axis=-1)
    np.testing.assert_allclose(speeds, np.round(speeds), atol=1e-12)
    assert set(np.round(speeds).astype(int).ravel()) == {2, 3, 4, 5, 6}


def test_digits_bounce_within_the_margin_and_keep_their_speed():
    positions, velocities = _starts(200)
    xs, vs = moving_mnist.trajectories(positions, velocities, 60)
    assert np.all(xs >= -MOTION.bounce_margin)
    assert np.all(xs <= MOTION.travel + MOTION.bounce_margin)
    np.testing.assert_allclose(np.abs(vs), np.abs(vs[:, :1]).repeat(60, axis=1))
    # velocities[t] is exactly the move from frame t to t + 1
    np.testing.assert_allclose(xs[:, 1:] - xs[:, :-1], vs[:, :-1], atol=1e-12)
    assert np.any(np.sign(vs[:, 1:]) != np.sign(vs[:, :-1])), "60 frames must include bounces"


def test_a_component_flips_only_when_the_next_step_would_leave():
    xs, vs = moving_mnist.trajectories(np.array([[[10.0, 35.0]]]), np.array([[[0.0, 4.0]]]), 3)
    # 35 + 4 = 39 > 38: flip at once; then 35 -> 31 -> 27
    np.testing.assert_allclose(xs[0, :, 0, 1], [35.0, 31.0, 27.0])
    np.testing.assert_allclose(vs[0, :, 0, 1], [-4.0, -4.0, -4.0])


def test_render_pastes_at_the_rounded_corner_and_adds_with_clipping():
    digit = np.zeros((28, 28), np.uint8)
    digit[0, 0], digit[27, 27] = 200, 100
    digits = np.stack([digit, digit])[None]  # (1, 2, 28, 28)
    positions = np.array([[[[4.5, 10.4], [4.5, 10.4]], [[-2.0, 30.0], [0.0, 0.0]]]])
    video = moving_mnist.render(digits, positions)
    # frame 0: both digits at (5, 10) (half rounds away from zero): 200 + 200 clips
    assert video[0, 0, 5, 10] == 255 and video[0, 0, 32, 37] == 200
    # frame 1: the first digit's (0, 0) pixel lands on row -2, cropped (not wrapped)
    assert video[0, 1, 25, 57] == 100 and video[0, 1, 0, 0] == 200
    assert video[0, 1].astype(int).sum() == 100 + 200 + 100


def test_round_half_away_from_zero_as_python2():
    np.testing.assert_array_equal(
        moving_mnist.round_half_away(np.array([0.5, 1.5, -2.5, -0.4, 2.49])), [1, 2, -3, 0, 2]
    )


def test_generate_is_deterministic_and_batch_independent():
    images, _ = testing.fake_digits(30)
    alone = moving_mnist.generate([splits.example_rng(3, "test", 4)], images, 20)
    batched = moving_mnist.generate([splits.example_rng(3, "test", i) for i in range(6)], images, 20)
    np.testing.assert_array_equal(alone.video[0], batched.video[4])
    np.testing.assert_array_equal(alone.digit_indices[0], batched.digit_indices[4])
    assert batched.video.shape == (6, 20, 64, 64, 1) and batched.video.dtype == np.uint8
    other = moving_mnist.generate([splits.example_rng(3, "train", 4)], images, 20)
    assert not np.array_equal(alone.video, other.video)


def test_read_idx_round_trip(tmp_path):
    images, labels = testing.fake_digits(5)
    testing.write_idx(tmp_path / "images.gz", images)
    testing.write_idx(tmp_path / "labels.gz", labels)
    np.testing.assert_array_equal(moving_mnist.read_idx(tmp_path / "images.gz", 3), images)
    np.testing.assert_array_equal(moving_mnist.read_idx(tmp_path / "labels.gz", 1), labels)
    # uncompressed IDX files are read too
    (tmp_path / "raw").write_bytes(gzip.decompress((tmp_path / "images.gz").read_bytes()))
    np.testing.assert_array_equal(moving_mnist.read_idx(tmp_path / "raw", 3), images)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x1f\x8b\x08\x00garbage", "damaged gzip"),
        (b"not an idx file at all", "wrong magic number"),
        ((0x0803).to_bytes(4, "big") + b"\x00\x00\x00\x05" + b"\x00\x00\x00\x1c" * 2 + b"\x00" * 9, "truncated"),
    ],
)
def test_corrupt_idx_files_are_clear_errors(tmp_path, content, message):
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(IDXFormatError, match=message):
        moving_mnist.read_idx(tmp_path / "bad", 3)


def test_labels_file_given_as_images_is_rejected(tmp_path):
    testing.write_idx(tmp_path / "labels.gz", np.arange(5))
    with pytest.raises(IDXFormatError, match="not an MNIST IDX images file"):
        moving_mnist.read_idx(tmp_path / "labels.gz", 3)


# The builder's inputs, through the Python API.


def _tiny_builder(tmp_path):
    builder_cls = registry.builder_class("moving_mnist")
    config = sys.modules[builder_cls.__module__].MovingMNISTConfig(
        name="tiny", split_sizes=(("train", 2), ("validation", 2), ("test", 2)), validation_digits=20
    )
    return builder_cls(data_dir=str(tmp_path / "data"), config=config)


def _prepare(builder, manual_dir):
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )


def test_builder_uses_manual_files_and_labels_match_digits(tmp_path):
    fake = testing.write_fake_mnist(tmp_path / "manual")
    builder = _tiny_builder(tmp_path)
    _prepare(builder, fake)
    test_images = moving_mnist.read_idx(fake / "t10k-images-idx3-ubyte.gz", 3)
    test_labels = moving_mnist.read_idx(fake / "t10k-labels-idx1-ubyte.gz", 1)
    for example in tfds.as_numpy(builder.as_dataset(split="test")):
        np.testing.assert_array_equal(example["labels"], test_labels[example["digit_ids"]])
        corner = moving_mnist.round_half_away(example["positions"][0, 0])
        if np.all(corner >= 0) and np.all(corner <= MOTION.travel):
            digit = test_images[example["digit_ids"][0]]
            patch = example["video"][0, corner[0] : corner[0] + 28, corner[1] : corner[1] + 28, 0]
            assert np.all(patch >= digit), "the first digit must be drawn at its corner"


def test_builder_names_missing_manual_files(tmp_path):
    fake = testing.write_fake_mnist(tmp_path / "manual")
    (fake / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MissingMNISTError, match="t10k-labels-idx1-ubyte.gz missing"):
        _prepare(_tiny_builder(tmp_path), fake)


def test_builder_reports_a_corrupt_manual_file(tmp_path):
    fake = testing.write_fake_mnist(tmp_path / "manual")
    (fake / "train-images-idx3-ubyte.gz").write_bytes(b"junk")
    with pytest.raises(IDXFormatError, match="train-images-idx3-ubyte.gz is not an MNIST IDX"):
        _prepare(_tiny_builder(tmp_path), fake)


def test_builder_without_manual_files_or_download_says_where_to_put_them(tmp_path, monkeypatch):
    builder = _tiny_builder(tmp_path)
    module = sys.modules[type(builder).__module__]

    def offline(data_dir):
        raise ConnectionError("no network")

    monkeypatch.setattr(module, "_download_tfds_mnist", offline)
    empty = tmp_path / "empty_manual"
    with pytest.raises(MissingMNISTError) as error:
        _prepare(builder, empty)
    message = str(error.value)
    assert str(empty) in message and "t10k-images-idx3-ubyte.gz" in message
    assert "ConnectionError" in message


def test_builder_says_when_mnist_is_too_small_for_the_validation_digits(tmp_path):
    fake = testing.write_fake_mnist(tmp_path / "manual", train_count=15)
    with pytest.raises(MissingMNISTError, match="has 15 images; 20 go to validation"):
        _prepare(_tiny_builder(tmp_path), fake)
