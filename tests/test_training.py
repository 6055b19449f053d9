"""Specifications of DeepGIF's training step, on tiny networks and real ball videos."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny import TINY_MODEL, ball_videos
from tf_deepgifs.config import TrainConfig
from tf_deepgifs.models import DeepGIF


def _model(mode="teacher_forced", context_frames=1, g_rate=1e-3, d_rate=1e-3, **train):
    keras.utils.set_random_seed(0)
    model = DeepGIF.from_configs(TINY_MODEL, TrainConfig(mode=mode, context_frames=context_frames, **train))
    model.build((None, 6, 64, 64, 1))
    model.compile(keras.optimizers.Adam(g_rate), keras.optimizers.Adam(d_rate))
    model.build_optimizers()
    return model


def _step_values(model, videos, steps):
    """Per-step (not running-mean) metrics of `steps` compiled train steps."""
    step = tf.function(model.train_step)
    history = []
    for _ in range(steps):
        for tracker in model.metrics:
            tracker.reset_state()
        history.append({k: float(v) for k, v in step(videos).items()})
    return history


@pytest.mark.parametrize("mode", ["teacher_forced", "rollout"])
def test_a_few_steps_reduce_reconstruction_and_prediction(mode):
    videos = tf.constant(ball_videos(batch=4, frames=6))
    history = _step_values(_model(mode, g_rate=3e-3), videos, 15)
    for name in ("reconstruction", "prediction"):
        assert history[-1][name] < 0.85 * history[0][name], (name, history[0][name], history[-1][name])
    assert all(np.isfinite(v) for v in history[-1].values())


def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_each_player_moves_only_under_its_own_optimizer():
    videos = tf.constant(ball_videos(batch=4, frames=6))
    frozen_d = _model(d_rate=0.0)
    g_before, d_before = _snapshot(frozen_d.generator_variables), _snapshot(frozen_d.discriminator.trainable_variables)
    frozen_d.train_step(videos)
    assert all(_changed(g_before, frozen_d.generator_variables))
    assert not any(_changed(d_before, frozen_d.discriminator.trainable_variables))

    frozen_g = _model(g_rate=0.0)
    g_before, d_before = _snapshot(frozen_g.generator_variables), _snapshot(frozen_g.discriminator.trainable_variables)
    frozen_g.train_step(videos)
    assert not any(_changed(g_before, frozen_g.generator_variables))
    assert all(_changed(d_before, frozen_g.discriminator.trainable_variables))


def test_closed_loop_fed_the_ground_truth_is_teacher_forcing():
    model = _model(context_frames=2)
    videos = ball_videos(batch=3, frames=6)
    mean, _, _ = model.encode_sequence(videos, np.zeros((3, 6, 6), np.float32), training=False)
    teacher = model.teacher_forced(mean, training=False)
    loop = model.closed_loop(
        mean[:, :2], 4, np.zeros((3, 3, 6), np.float32), teacher_latents=mean[:, 2:-1],
        use_own=np.zeros((3, 3), bool), training=False,
    )
    assert teacher.shape == loop.shape == (3, 4, 64, 64, 1)
    np.testing.assert_allclose(loop, teacher, atol=1e-5)


def _moving_statistics(model):
    return [v.numpy().copy() for v in model.non_trainable_variables if "moving" in v.path]


def test_generated_frames_are_decoded_in_training_as_in_generation():
    """Batch statistics would let training ignore the predicted latents' offsets, which the
    shipped generator (moving statistics) then decodes wrongly; training must see what
    generation does, and predicted frames must not move the moving statistics."""
    model = _model(context_frames=2)
    videos = ball_videos(batch=3, frames=6)
    tf.function(model.train_step)(tf.constant(videos))  # moving statistics away from 0 and 1
    mean, _, _ = model.encode_sequence(videos, np.zeros((3, 6, 6), np.float32), training=False)
    # Shifted latents: per-channel offsets that batch statistics would normalise away.
    latents = mean + 3.0
    before = _moving_statistics(model)
    for mode_call in (
        lambda training: model.teacher_forced(latents, training=training),
        lambda training: model.closed_loop(latents[:, :2], 4, np.zeros((3, 3, 6), np.float32),
                                           training=training),
    ):
        np.testing.assert_allclose(mode_call(True), mode_call(False), atol=1e-6)
    for old, new in zip(before, _moving_statistics(model)):
        np.testing.assert_array_equal(old, new)


def test_fed_back_frames_are_inputs_not_paths_for_gradients():
    """As in scheduled sampling (Bengio et al. 2015): backpropagating through the chain of
    decoded and re-encoded frames drove rollout training to a blur (prediction MSE 0.03 ->
    0.2 as the feeding went own); the encoder reads the generated frames only as inputs."""
    model = _model(context_frames=2)
    mean, _, _ = model.encode_sequence(ball_videos(batch=2, frames=6), np.zeros((2, 6, 6), np.float32))
    with tf.GradientTape(persistent=True) as tape:
        frames = model.closed_loop(mean[:, :2], 4, np.zeros((2, 3, 6), np.float32), training=True)
        later = tf.reduce_sum(frames[:, 1:] ** 2)
    encoder_gradients = tape.gradient(later, model.encoder.trainable_variables)
    assert all(g is None or not np.any(g.numpy()) for g in encoder_gradients)
    predictor_gradients = tape.gradient(later, model.predictor.trainable_variables)
    assert all(g is not None and np.any(g.numpy()) for g in predictor_gradients)


def test_scheduled_sampling_ramps_from_teacher_forcing_to_rollout():
    model = _model("scheduled", scheduled_sampling_steps=100)
    probabilities = [float(model.sampling_probability(tf.constant(s, tf.int64))) for s in (0, 25, 100, 400)]
    assert probabilities == pytest.approx([0.0, 0.25, 1.0, 1.0])
    assert float(_model("rollout").sampling_probability(tf.constant(5, tf.int64))) == 0.0
    history = _step_values(model, tf.constant(ball_videos(batch=2, frames=6)), 2)
    assert all(np.isfinite(v) for v in history[-1].values())


@pytest.mark.parametrize("mode", ["teacher_forced", "rollout", "scheduled"])
def test_context_frames_leave_t_minus_k_frames_to_predict(mode):
    model = _model(mode, context_frames=3)
    videos = ball_videos(batch=2, frames=6)
    assert model(videos).shape == (2, 3, 64, 64, 1)
    logs = model.test_step(tf.constant(videos))
    assert np.isfinite(float(logs["rollout"]))


def test_training_noise_differs_between_steps_and_repeats_for_a_step():
    model = _model()
    videos = tf.constant(ball_videos(batch=2, frames=6))
    first = model._replica_noise(videos, tf.constant(0, tf.int64))["latent"]
    again = model._replica_noise(videos, tf.constant(0, tf.int64))["latent"]
    later = model._replica_noise(videos, tf.constant(1, tf.int64))["latent"]
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, later)
    assert abs(float(tf.math.reduce_std(first)) - 1.0) < 0.1


def test_keras_fit_runs_the_custom_train_step():
    model = _model()
    videos = ball_videos(batch=4, frames=6)
    history = model.fit(tf.data.Dataset.from_tensor_slices(videos).batch(2), epochs=1, verbose=0,
                        shuffle=False)
    assert {"reconstruction", "prediction", "d_loss"} <= set(history.history)


@pytest.mark.parametrize("mode", ["teacher_forced", "scheduled"])
def test_mixed_bfloat16_computes_in_bfloat16_and_matches_float32_losses(mode, tmp_path):
    from tf_deepgifs.training import run_directory
    from tf_deepgifs.config import Config, DataConfig

    videos = tf.constant(ball_videos(batch=4, frames=6))
    configs = {precision: Config(model=TINY_MODEL, data=DataConfig(num_frames=6), train=TrainConfig(
        mode=mode, context_frames=2, batch_size=4, precision=precision))
        for precision in ("float32", "mixed_bfloat16")}
    models = {p: run_directory.build_model(c, (6, 64, 64, 1)) for p, c in configs.items()}
    models["mixed_bfloat16"].set_weights(models["float32"].get_weights())
    assert models["mixed_bfloat16"].encoder.compute_dtype == "bfloat16"
    assert keras.config.dtype_policy().name == "float32", "the global policy is restored"
    first = {p: _step_values(m, videos, 1)[0] for p, m in models.items()}
    for name in ("reconstruction", "prediction", "g_loss", "d_loss"):
        np.testing.assert_allclose(first["mixed_bfloat16"][name], first["float32"][name],
                                   rtol=0.03, err_msg=name)
    mixed = models["mixed_bfloat16"]
    slots = [v for v in mixed.g_optimizer.variables if v.dtype != "int64"]  # not the counter
    assert all(v.dtype == "float32" for v in mixed.weights + slots)
    run_directory.write_config(tmp_path, configs["mixed_bfloat16"], "smoke")
    run_directory.Checkpoints(tmp_path / "checkpoints", 1).save(mixed, 1)
    loaded = run_directory.load_model(configs["mixed_bfloat16"], str(run_directory.Checkpoints(
        tmp_path / "checkpoints", 1).latest()))
    assert loaded.decoder.compute_dtype == "float32", "exports and metrics run in float32"
    for a, b in zip(loaded.weights, mixed.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
