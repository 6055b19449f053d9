"""moving_sklearn_digits: scikit-learn's digits as a Moving MNIST stand-in, and the
measure of whether generated digits stay the digits they were."""

import dataclasses
import hashlib

import numpy as np
import pytest

from tf_deepgifs.config import PRESETS, DataConfig, HorizonTuningConfig
from tf_deepgifs.data import arrays, moving_mnist, pixels, small_digits
from tf_deepgifs.errors import UserError
from tf_deepgifs.training import autoencoder, horizon_tuning, tuning_validation
from tf_deepgifs.runs import run_directory
from tf_deepgifs.data.splits import example_rng
from tf_deepgifs.metrics import digit_identity


@pytest.fixture(scope="module")
def digits():
    return small_digits.load()


def test_the_digits_are_mnist_sized_and_centred(digits):
    images, labels = digits
    assert images.shape == (1797, 28, 28) and images.dtype == np.uint8 and images.max() == 255
    assert set(labels) == set(range(10))
    assert not images[:, :4].any() and not images[:, -4:].any()  # MNIST's 4-pixel margin
    assert not images[:, :, :4].any() and not images[:, :, -4:].any()


def test_no_digit_image_is_in_two_splits(digits):
    pools = small_digits.split_pools(*digits)
    assert sum(len(images) for images, _ in pools.values()) == 1797
    seen = {split: {hashlib.sha256(i.tobytes()).hexdigest() for i in images}
            for split, (images, _) in pools.items()}
    assert not seen["train"] & seen["validation"] and not seen["train"] & seen["test"]
    assert not seen["validation"] & seen["test"]
    shares = [len(pools[s][0]) / 1797 for s in ("train", "validation", "test")]
    np.testing.assert_allclose(shares, small_digits.POOL_SHARES, atol=0.01)
    for _, labels in pools.values():
        assert set(labels) == set(range(10))


def test_the_identity_reads_true_frames_and_not_a_copied_frame(digits):
    images, labels = small_digits.split_pools(*digits)["test"]
    sequences = moving_mnist.generate([example_rng(0, "test", i) for i in range(40)], images, 20)
    frames = sequences.video[..., 0] / 255.0
    reader = digit_identity.reader_for("moving_sklearn_digits")
    corners, own = sequences.positions[:, 3:], labels[sequences.digit_indices]
    truth = digit_identity.identity(reader, frames[:, 3:], corners, own)
    copied = digit_identity.identity(reader, np.repeat(frames[:, 2:3], 17, axis=1), corners, own)
    assert truth.mean() > 0.8
    assert copied[:, 5:].mean() < 0.35
    swapped = digit_identity.identity(reader, frames[:, 3:], corners, own[:, ::-1])
    assert swapped.mean() < 0.5 * truth.mean(), "a digit read as the other's label is wrong"
    assert digit_identity.reader_for("moving_mnist") is None


def test_validation_reads_the_generated_digits_as_the_evaluation_does(digits):
    """Training's validation measures what the digits' targets are on: the identity of the
    generated digits at their true places, and PSNR; a copy of the last seed frame loses
    both, and a validation dict without labels has no identity to give."""
    images, labels = small_digits.split_pools(*digits)["validation"]
    sequences = moving_mnist.generate([example_rng(0, "validation", i) for i in range(12)],
                                      images, 20)
    validation = {"video": sequences.video, "positions": sequences.positions,
                  "labels": labels[sequences.digit_indices]}
    found = tuning_validation.digits_of(validation, "moving_sklearn_digits")
    context = 3

    def exact(videos):
        return pixels.from_uint8(videos[:, context:])

    def copied(videos):
        return np.repeat(pixels.from_uint8(videos[:, context - 1 : context]), 17, axis=1)

    truth = tuning_validation.validation_scores(exact, sequences.video, context, 5, digits=found)
    copy = tuning_validation.validation_scores(copied, sequences.video, context, 5, digits=found)
    assert truth["identity"] > 0.8 and copy["identity"] < 0.5
    assert truth["psnr"] == pytest.approx(100.0) and copy["psnr"] < 20
    assert copy["rollout"] > truth["rollout"] == 0
    assert tuning_validation.digits_of({"video": sequences.video}, "moving_sklearn_digits") is None
    assert tuning_validation.digits_of(validation, "bouncing_balls") is None

    # the autoencoder's validation frames keep each frame's own corners and labels
    frames, balls, (corners, own, reader) = autoencoder.validation_frames(
        validation, "moving_sklearn_digits")
    assert balls is None and len(frames) == len(corners) == len(own) == 12 * 5
    read = digit_identity.identity(reader, frames[:, None, ..., 0] / 255.0, corners, own)
    assert read.mean() > 0.8


@pytest.mark.slow  # builds a slice of the dataset
def test_a_built_slice_loads_for_training_without_ball_positions(tmp_path):
    """Moving digits store their corners as "positions" but no radius: training and tuning
    read their videos, corners and labels (for the digits' identity), never balls, and
    selecting on the balls is refused before any run exists."""
    data = DataConfig(dataset="moving_sklearn_digits", data_dir=str(tmp_path / "data"),
                      max_examples_per_split=4)
    loaded = arrays.load(data, "validation", log=lambda *_: None)
    assert set(loaded) == {"video", "positions", "labels"}
    assert loaded["video"].shape == (4, 20, 64, 64, 1)
    assert loaded["positions"].shape == (4, 20, 2, 2) and loaded["labels"].shape == (4, 2)
    assert tuning_validation.balls_of(loaded) is None
    assert tuning_validation.digits_of(loaded, data.dataset) is not None
    run, weights = tmp_path / "run", tmp_path / "weights.keras"
    run_directory.write_config(run, dataclasses.replace(PRESETS["improved"], data=data), "improved")
    weights.write_bytes(b"")  # never read: the selection is refused first
    with pytest.raises(UserError, match="does not store; use --select-on rollout"):
        horizon_tuning.tune(str(run), str(tmp_path / "tuned"),
                            HorizonTuningConfig(select_on="balls"), weights=str(weights))
    assert not (tmp_path / "tuned").exists()
