"""The staged method's first stage: the encoder and decoder as an autoencoder on frames."""

import dataclasses

import numpy as np

from tests.tiny import TINY_MODEL, ball_pixels
from tf_deepgifs.config import AutoencoderConfig, Config, DataConfig, TrainConfig
from tf_deepgifs.data import pixels
from tf_deepgifs.models import losses
from tf_deepgifs.training import autoencoder, backends, distribution
from tf_deepgifs.runs import run_directory

CONFIG = Config(model=dataclasses.replace(TINY_MODEL, latent_normalization=True),
                train=TrainConfig(), data=DataConfig(num_frames=6))
OPTIONS = AutoencoderConfig(steps=30, batch_size=8, learning_rate=3e-3, validate_every=2,
                            validation_batch_size=7)


def _validation(count=4):
    from tf_deepgifs.data import bouncing_balls
    from tf_deepgifs.data.splits import example_rng

    sequences = bouncing_balls.generate([example_rng(5, "validation", i) for i in range(count)],
                                        6, 2, 64)
    return {"video": sequences.video, "positions": sequences.positions,
            "radius": np.full(count, sequences.radius, np.float32)}


def _stage(videos=None):
    videos = ball_pixels(batch=6, frames=6) if videos is None else videos
    model = run_directory.build_model(CONFIG, videos.shape[1:])
    autoencoder.compile_autoencoder_optimizers(model, OPTIONS)
    stage = autoencoder.AutoencoderTraining(CONFIG, OPTIONS, model, videos, _validation())
    backend = backends.TensorFlowBackend(stage, distribution.tensorflow_devices())
    backend.start()
    stage.start(backend, log=lambda line: None)
    return stage, backend


def test_the_loss_is_the_papers_reconstruction_and_kl_terms_of_one_frame():
    stage, _ = _stage()
    frames = pixels.from_uint8(ball_pixels(batch=3, frames=1)[:, 0])
    noise = np.random.default_rng(0).standard_normal((3, TINY_MODEL.latent_dim)).astype(np.float32)
    values = autoencoder.reconstruction_losses(stage.model, frames, noise, 1e-3, training=False)

    images = frames * 2.0 - 1.0
    mean, log_variance = (np.asarray(x) for x in stage.model.encoder(images, training=False))
    z = mean + np.exp(0.5 * log_variance) * noise
    expected = np.mean(np.square(np.asarray(stage.model.decoder(z, training=False)) - images))
    kl = np.mean(-0.5 * np.sum(1 + log_variance - mean**2 - np.exp(log_variance), axis=-1))
    np.testing.assert_allclose(values["reconstruction"], expected, rtol=1e-5)
    np.testing.assert_allclose(values["kl"], kl, rtol=1e-4)
    np.testing.assert_allclose(values["loss"], expected + 1e-3 * kl, rtol=1e-5)


def test_batches_are_single_frames_drawn_from_seed_and_step():
    videos = ball_pixels(batch=6, frames=6)
    stage, _ = _stage(videos)
    first, again = stage.batch(3)["frame"], stage.batch(3)["frame"]
    assert first.shape == (8, 64, 64, 1) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, stage.batch(4)["frame"])
    pool = {frame.tobytes() for frame in videos.reshape((-1, 64, 64, 1))}
    assert all(frame.tobytes() in pool for frame in first)


def test_steps_move_the_encoder_and_decoder_alone_and_lower_the_reconstruction():
    stage, backend = _stage()
    model = stage.model
    frozen = {name: [w.numpy().copy() for w in getattr(model, name).weights]
              for name in ("predictor", "discriminator")}
    before = stage.validate(backend, 0, None)["reconstruction"]
    for step in range(30):
        backend.train_step(stage.batch(step), step)
    after = stage.validate(backend, 30, None)
    assert after["reconstruction"] < 0.8 * before
    for name, weights in frozen.items():
        for old, new in zip(weights, getattr(model, name).weights):
            np.testing.assert_array_equal(old, new.numpy(), err_msg=new.path)
    assert set(after) == {"reconstruction", "psnr", "region_centre_error", "plausible"}


def test_validation_reconstructs_every_fourth_frame_and_measures_its_balls():
    stage, backend = _stage()
    scores = stage.validate(backend, 0, None)
    frames = _validation()["video"][:, ::autoencoder.VALIDATION_FRAME_STRIDE]
    truth = pixels.from_uint8(frames.reshape((-1, 64, 64, 1)))
    images = truth * 2.0 - 1.0
    mean, _ = stage.model.encoder(images, training=False)
    reconstructed = (np.asarray(stage.model.decoder(mean, training=False)) + 1.0) / 2.0
    np.testing.assert_allclose(scores["reconstruction"],
                               float(losses.mean_squared_error(reconstructed * 2 - 1, images)),
                               rtol=1e-4)
    np.testing.assert_allclose(scores["psnr"],
                               -10 * np.log10(np.mean(np.square(reconstructed - truth))), rtol=1e-4)


def test_finishing_records_the_training_latents_statistics_in_the_predictor(tmp_path):
    videos = ball_pixels(batch=6, frames=6)
    stage, _ = _stage(videos)
    stage.finish(str(tmp_path))
    images = pixels.to_network_range(pixels.from_uint8(videos.reshape((-1, 64, 64, 1))))
    mean = np.asarray(stage.model.encoder(images, training=False)[0])
    np.testing.assert_allclose(stage.model.predictor.latent_mean, mean.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stage.model.predictor.latent_std, mean.std(0), rtol=1e-4, atol=1e-5)
    saved = run_directory.load_model(CONFIG, str(tmp_path / "model.keras"))
    np.testing.assert_array_equal(saved.predictor.latent_std, stage.model.predictor.latent_std)
