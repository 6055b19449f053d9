"""Per-frame image metrics on cases with known answers."""

import numpy as np
import pytest
import tensorflow as tf

from tf_deepgifs.metrics import images as metrics


def _videos(batch=2, frames=3, seed=0):
    return np.random.default_rng(seed).random((batch, frames, 64, 64, 1)).astype(np.float32)


def test_identical_videos_have_zero_mse_ssim_one_and_capped_psnr():
    video = _videos()
    values = {name: v.numpy() for name, v in metrics.per_frame(video, video).items()}
    assert all(v.shape == (2, 3) for v in values.values())
    np.testing.assert_array_equal(values["mse"], 0.0)
    np.testing.assert_allclose(values["ssim"], 1.0, atol=1e-6)
    np.testing.assert_allclose(values["psnr"], metrics.PSNR_CAP_DB, rtol=1e-6)


def test_a_uniform_error_gives_its_square_as_mse_and_the_psnr_of_that():
    truth = np.zeros((1, 2, 64, 64, 1), np.float32)
    generated = truth + np.array([0.1, 0.5], np.float32)[None, :, None, None, None]
    np.testing.assert_allclose(metrics.mse(truth, generated).numpy(), [[0.01, 0.25]], rtol=1e-5)
    np.testing.assert_allclose(metrics.psnr(truth, generated).numpy(),
                               [[20.0, 10 * np.log10(4.0)]], rtol=1e-5)


def test_ssim_falls_as_noise_grows_and_each_frame_is_scored_on_its_own():
    truth = _videos(batch=1, frames=1)
    noise = np.random.default_rng(1).standard_normal(truth.shape).astype(np.float32)
    noisy = np.concatenate([np.clip(truth + s * noise, 0, 1) for s in (0.0, 0.05, 0.2, 0.5)], axis=1)
    scores = metrics.ssim(np.repeat(truth, 4, axis=1), noisy).numpy()[0]
    assert scores[0] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(scores) < 0), scores


def test_best_of_keeps_each_sequences_best_whole_sample_not_the_best_frames():
    # 3 samples x 2 sequences x 2 frames of PSNR.
    values = np.array([
        [[30.0, 10.0], [20.0, 20.0]],   # sample 0: mean 20 for seq 0, 20 for seq 1
        [[25.0, 25.0], [10.0, 10.0]],   # sample 1: mean 25 (best for seq 0)
        [[10.0, 30.0], [22.0, 21.0]],   # sample 2: mean 20, 21.5 (best for seq 1)
    ])
    best = metrics.best_of(values, higher_is_better=True).numpy()
    np.testing.assert_array_equal(best, [[25.0, 25.0], [22.0, 21.0]])
    # Picking the best frame of any sample would give [30, 30] for sequence 0.
    np.testing.assert_array_equal(metrics.best_of(values, higher_is_better=False).numpy(),
                                  [[30.0, 10.0], [10.0, 10.0]])


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_is_tf_image_ssim(channels):
    rng = np.random.default_rng(2)
    truth = rng.random((2, 3, 64, 64, channels)).astype(np.float32)
    generated = np.clip(truth + 0.1 * rng.standard_normal(truth.shape), 0, 1).astype(np.float32)
    generated[1, 2] = rng.random((64, 64, channels))  # unrelated frame
    expected = tf.image.ssim(truth.reshape((-1, 64, 64, channels)),
                             generated.reshape((-1, 64, 64, channels)), max_val=1.0)
    np.testing.assert_allclose(metrics.ssim(truth, generated).numpy(),
                               expected.numpy().reshape(2, 3), atol=1e-5)
