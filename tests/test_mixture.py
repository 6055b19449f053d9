"""A mixture-density readout (`ModelConfig.mixture_components`): the LSTM offers several
next latents, and the noise of each step draws one, so one seed gives different futures."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny import TINY_MODEL, ball_videos
from tf_deepgifs.config import Config, HorizonTuningConfig, TrainConfig
from tf_deepgifs.errors import UserError
from tf_deepgifs.models import predictor
from tf_deepgifs.training import horizon_tuning, joint_training, latent_dynamics
from tf_deepgifs.runs import run_directory
from tests.test_horizon_tuning import _started_tuning, _tune_steps, _validation_loss

COMPONENTS = 3
SOURCE = Config(model=dataclasses.replace(TINY_MODEL, generation_feedback="latent"),
                train=TrainConfig(context_frames=2))


def _source():
    return run_directory.build_model(SOURCE, (6, 64, 64, 1), precision="float32")


def _mixture(source, spread=0.1, components=COMPONENTS):
    options = HorizonTuningConfig(mixture_components=components, mixture_init_spread=spread)
    config = horizon_tuning.generating_as_tuned(SOURCE, options)
    return horizon_tuning.with_mixture_readout(source, config, options), options


def test_zero_noise_takes_the_likeliest_component_and_noise_draws_by_the_weights():
    logits = np.log(np.array([[0.2, 0.5, 0.3]], np.float32))
    means = np.arange(3, dtype=np.float32)[None, :, None] * np.ones((1, 3, 2), np.float32)
    assert np.asarray(predictor.choose(logits, means)).tolist() == [[1.0, 1.0]]
    assert np.asarray(predictor.choose(logits, means, np.zeros((1, 3), np.float32))).tolist() == [[1.0, 1.0]]
    draws = 20_000
    noise = np.random.default_rng(0).standard_normal((draws, 3)).astype(np.float32)
    chosen = np.asarray(predictor.choose(np.repeat(logits, draws, 0), np.repeat(means, draws, 0),
                                         noise))[:, 0]
    frequencies = np.bincount(chosen.astype(int), minlength=3) / draws
    np.testing.assert_allclose(frequencies, [0.2, 0.5, 0.3], atol=0.015)


def test_the_likelihood_is_the_mixtures_density_per_dimension():
    rng = np.random.default_rng(1)
    logits, means = rng.standard_normal((4, 3)), rng.standard_normal((4, 3, 5))
    log_scales, target = 0.3 * rng.standard_normal((4, 3)), rng.standard_normal((4, 5))
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    scales = np.exp(log_scales)
    densities = np.prod(np.exp(-0.5 * ((target[:, None] - means) / scales[..., None]) ** 2)
                        / (np.sqrt(2 * np.pi) * scales[..., None]), axis=-1)
    expected = np.log(np.sum(weights * densities, axis=-1)) / 5
    got = predictor.mixture_log_likelihood(*(x.astype(np.float32) for x in
                                             (logits, means, log_scales, target)))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_a_new_mixture_starts_as_the_source_readout_and_its_noise_makes_futures_differ():
    source = _source()
    videos = ball_videos(batch=3, frames=6)
    context = videos[:, :2]
    expected = np.asarray(source.rollout(context, 4))
    same, _ = _mixture(source, spread=0.0)
    np.testing.assert_allclose(np.asarray(same.rollout(context, 4)), expected, atol=1e-6)

    mixture, _ = _mixture(source)
    assert mixture.config.noise_dim == TINY_MODEL.latent_dim + COMPONENTS
    rng = np.random.default_rng(0)
    samples = [np.asarray(mixture.rollout(context, 4, rng.standard_normal(
        (3, 4, mixture.config.noise_dim)).astype(np.float32))) for _ in range(3)]
    assert np.abs(samples[0] - samples[1]).max() > 1e-3
    zeros = np.zeros((3, 4, mixture.config.noise_dim), np.float32)
    np.testing.assert_array_equal(np.asarray(mixture.rollout(context, 4, zeros)),
                                  np.asarray(mixture.rollout(context, 4)))
    for name in ("encoder", "decoder", "discriminator"):
        for a, b in zip(getattr(source, name).weights, getattr(mixture, name).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_tuning_rolls_out_along_the_component_nearest_the_truth():
    mixture, _ = _mixture(_source(), spread=0.5)
    videos = ball_videos(batch=4, frames=6)
    latents, _, _ = mixture.encode_sequence(videos, np.zeros((4, 6, TINY_MODEL.latent_dim),
                                                             np.float32), training=False)
    logits, means, log_scales = latent_dynamics.mixture_rollout(mixture, latents, 2)
    assert means.shape == (4, 4, COMPONENTS, TINY_MODEL.latent_dim)
    state = mixture.predictor.initial_state(4)
    for k in range(2):
        (_, step_means, _), state = mixture.predictor.mixture_step(latents[:, k], state)
    for t in range(2, 5):
        np.testing.assert_allclose(means[:, t - 2], step_means, rtol=1e-5, atol=1e-6)
        distances = np.sum((np.asarray(step_means) - np.asarray(latents[:, t])[:, None]) ** 2, -1)
        nearest = np.asarray(step_means)[np.arange(4), distances.argmin(-1)]
        (_, step_means, _), state = mixture.predictor.mixture_step(tf.constant(nearest), state)
    losses = latent_dynamics.horizon_losses(mixture, latents, 2, first_frame_weight=0.0)
    expected = -np.mean(predictor.mixture_log_likelihood(
        tf.reshape(logits, (-1, COMPONENTS)), tf.reshape(means, (-1, COMPONENTS, TINY_MODEL.latent_dim)),
        tf.reshape(log_scales, (-1, COMPONENTS)), tf.reshape(latents[:, 2:], (-1, TINY_MODEL.latent_dim))))
    assert float(losses["loss"]) == pytest.approx(float(expected), rel=1e-5)


def test_mixture_tuning_lowers_its_loss_and_moves_the_predictor_alone():
    mixture, options = _mixture(_source())
    frozen = [w.numpy() for w in mixture.encoder.weights + mixture.decoder.weights]
    stage, backend = _started_tuning(mixture, dataclasses.replace(
        options, learning_rate=1e-2, batch_size=4))
    first = _validation_loss(stage)
    _tune_steps(stage, backend, 30)
    assert _validation_loss(stage) < first - 0.5
    for before, after in zip(frozen, mixture.encoder.weights + mixture.decoder.weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_a_mixture_is_refused_where_it_cannot_be_trained():
    config = dataclasses.replace(SOURCE, model=dataclasses.replace(SOURCE.model, mixture_components=2))
    with pytest.raises(UserError, match="tune --mixture-components"):
        joint_training.train(config)
    with pytest.raises(UserError, match="mixture of 2 components"):
        horizon_tuning.generating_as_tuned(config, HorizonTuningConfig(mixture_components=3))
    with pytest.raises(ValueError, match="feedback 'latent'"):
        HorizonTuningConfig(mixture_components=3, feedback="frames")
