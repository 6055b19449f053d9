"""Specifications of DeepGIF's training step, on tiny networks and real ball videos."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny import TINY_MODEL, ball_pixels, ball_videos, started_joint_training
from tf_deepgifs.data import pixels
from tf_deepgifs.config import Config, DataConfig, TrainConfig
from tf_deepgifs.models import DeepGIF


def _model(mode="teacher_forced", context_frames=1, g_rate=1e-3, d_rate=1e-3, **train):
    keras.utils.set_random_seed(0)
    model = DeepGIF.from_configs(TINY_MODEL, TrainConfig(mode=mode, context_frames=context_frames, **train))
    model.build((None, 6, 64, 64, 1))
    model.compile(keras.optimizers.Adam(g_rate), keras.optimizers.Adam(d_rate))
    model.build_optimizers()
    return model


def _backend(model, videos):
    """The training loop's TensorFlow step for `model` (its own settings) on `videos`."""
    config = Config(model=model.config, data=DataConfig(num_frames=videos.shape[1]),
                    train=TrainConfig(mode=model.mode, context_frames=model.context_frames,
                                      batch_size=len(videos)))
    return started_joint_training(config, videos, model=model)[1]


def _step_values(model, videos, steps):
    """Each step's losses over `steps` steps of the training loop's step on `videos`."""
    backend = _backend(model, videos)
    return [{k: float(v) for k, v in backend.train_step({"video": videos}, step).items()}
            for step in range(steps)]


@pytest.mark.parametrize("mode", ["teacher_forced", "rollout"])
def test_a_few_steps_reduce_reconstruction_and_prediction(mode):
    history = _step_values(_model(mode, g_rate=3e-3), ball_pixels(batch=4, frames=6), 25)
    for name in ("reconstruction", "prediction"):
        assert history[-1][name] < 0.85 * history[0][name], (name, history[0][name], history[-1][name])
    assert all(np.isfinite(v) for v in history[-1].values())


def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_each_player_moves_only_under_its_own_optimizer():
    videos = ball_pixels(batch=4, frames=6)
    frozen_d = _model(d_rate=0.0)
    g_before, d_before = _snapshot(frozen_d.generator_variables), _snapshot(frozen_d.discriminator.trainable_variables)
    _step_values(frozen_d, videos, 1)
    assert all(_changed(g_before, frozen_d.generator_variables))
    assert not any(_changed(d_before, frozen_d.discriminator.trainable_variables))

    frozen_g = _model(g_rate=0.0)
    g_before, d_before = _snapshot(frozen_g.generator_variables), _snapshot(frozen_g.discriminator.trainable_variables)
    _step_values(frozen_g, videos, 1)
    assert not any(_changed(g_before, frozen_g.generator_variables))
    assert all(_changed(d_before, frozen_g.discriminator.trainable_variables))


def test_closed_loop_fed_the_ground_truth_is_teacher_forcing():
    model = _model(context_frames=2)
    videos = ball_videos(batch=3, frames=6)
    mean, _, _ = model.encode_sequence(videos, np.zeros((3, 6, 6), np.float32), training=False)
    teacher, teacher_latents = model.teacher_forced(mean, training=False)
    loop, loop_latents = model.closed_loop(
        mean[:, :2], 4, np.zeros((3, 4, 6), np.float32), teacher_latents=mean[:, 2:-1],
        use_own=np.zeros((3, 3), bool), training=False,
    )
    assert teacher.shape == loop.shape == (3, 4, 64, 64, 1)
    np.testing.assert_allclose(loop, teacher, atol=1e-5)
    assert teacher_latents.shape == loop_latents.shape == (3, 4, 6)
    np.testing.assert_allclose(loop_latents, teacher_latents, atol=1e-5)


def _moving_statistics(model):
    return [v.numpy().copy() for v in model.non_trainable_variables if "moving" in v.path]


def test_generated_frames_are_decoded_in_training_as_in_generation():
    """Batch statistics would let training ignore the predicted latents' offsets, which the
    shipped generator (moving statistics) then decodes wrongly; training must see what
    generation does, and predicted frames must not move the moving statistics."""
    model = _model(context_frames=2)
    videos = ball_videos(batch=3, frames=6)
    _step_values(model, ball_pixels(batch=3, frames=6), 1)  # moving statistics off 0 and 1
    mean, _, _ = model.encode_sequence(videos, np.zeros((3, 6, 6), np.float32), training=False)
    # Shifted latents: per-channel offsets that batch statistics would normalise away.
    latents = mean + 3.0
    before = _moving_statistics(model)
    for mode_call in (
        lambda training: model.teacher_forced(latents, training=training)[0],
        lambda training: model.closed_loop(latents[:, :2], 4, np.zeros((3, 4, 6), np.float32),
                                           training=training)[0],
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
        frames, _ = model.closed_loop(mean[:, :2], 4, np.zeros((2, 4, 6), np.float32),
                                      training=True)
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
    # Scheduled mode feeds the truth with probability 0 and its own frame with 1: its
    # losses there are teacher forcing's and the rollout's, on the same networks.
    videos = ball_videos(batch=3, frames=6)
    coins = {"coin": np.full((3, 4), 0.5, np.float32)}

    def prediction(mode, probability):
        other = _model(mode)
        other.set_weights(model.get_weights())
        noise = {**_zero_noise(other, 3, 6), **{k: v for k, v in coins.items()
                                                 if k in other.noise_shapes(6)}}
        return float(other.compute_losses(videos, noise, False, probability)["prediction"])

    teacher, own = prediction("teacher_forced", 0.0), prediction("rollout", 0.0)
    assert teacher != pytest.approx(own, rel=1e-3)
    assert prediction("scheduled", 0.0) == pytest.approx(teacher, rel=1e-5)
    assert prediction("scheduled", 1.0) == pytest.approx(own, rel=1e-5)


@pytest.mark.parametrize("mode", ["teacher_forced", "rollout", "scheduled"])
def test_context_frames_leave_t_minus_k_frames_to_predict(mode):
    model = _model(mode, context_frames=3)
    videos = ball_videos(batch=2, frames=6)
    generated = np.asarray(model(videos))
    assert generated.shape == (2, 3, 64, 64, 1)
    # Generation reads the K context frames, every one of them, and nothing after them.
    later_blanked, first_moved = videos.copy(), videos.copy()
    later_blanked[:, 3:] = 0.0
    first_moved[:, 0] = videos[:, 2]
    np.testing.assert_allclose(model(later_blanked), generated, atol=1e-6)
    assert np.abs(np.asarray(model(first_moved)) - generated).max() > 1e-4
    # The losses compare the predictions with frames K..T-1, in [-1, 1].
    logs = model.validation_losses(tf.constant(videos))
    truth = pixels.to_network_range(videos[:, 3:])
    rollout = np.mean((pixels.to_network_range(generated) - truth) ** 2)
    assert float(logs["rollout"]) == pytest.approx(rollout, rel=1e-4)
    if mode == "teacher_forced":
        mean, _, _ = model.encode_sequence(videos, np.zeros((2, 6, 6), np.float32), training=False)
        predicted = model.teacher_forced(mean, training=False)[0]
        expected = np.mean((np.asarray(predicted) - truth) ** 2)
    else:  # validation feeds the own frames everywhere: the rollout's frames
        expected = rollout
    assert float(logs["prediction"]) == pytest.approx(expected, rel=1e-4)


def test_training_noise_differs_between_steps_and_repeats_for_a_step():
    backend = _backend(_model("rollout"), ball_pixels(batch=2, frames=6))
    first = backend._noise(2, tf.constant(0, tf.int64))["latent"]
    again = backend._noise(2, tf.constant(0, tf.int64))["latent"]
    later = backend._noise(2, tf.constant(1, tf.int64))["latent"]
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, later)
    assert first.shape == (2, 6, TINY_MODEL.latent_dim)
    assert abs(float(tf.math.reduce_std(first)) - 1.0) < 0.1


@pytest.mark.parametrize("mode", ["teacher_forced", "scheduled"])
def test_mixed_bfloat16_computes_in_bfloat16_and_matches_float32_losses(mode, tmp_path):
    from tf_deepgifs.runs import run_directory

    videos = ball_pixels(batch=4, frames=6)
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


def _zero_noise(model, batch, frames):
    return {name: np.zeros((batch,) + tuple(shape), np.float32)
            for name, shape in model.noise_shapes(frames).items()}


def test_the_latent_term_is_the_predictions_distance_to_the_encoders_means():
    """The paper's losses reach the LSTM only through the decoder; `lambda_latent` adds the
    MSE of each predicted latent to the encoder's mean of the frame it predicts, a
    gradient for the LSTM (and, through its inputs, the encoder) but not for that target."""
    videos = ball_videos(batch=3, frames=6)
    paper, with_term = _model(context_frames=2), _model(context_frames=2, lambda_latent=0.5)
    noise = _zero_noise(paper, 3, 6)
    values = paper.compute_losses(videos, noise, False, 0.0)
    termed = with_term.compute_losses(videos, noise, False, 0.0)
    # By hand from the networks: each frame's encoder mean, the LSTM over the true means.
    frames = pixels.to_network_range(videos.reshape((-1, 64, 64, 1)))
    mean = np.asarray(paper.encoder(frames, training=False)[0]).reshape((3, 6, -1))
    predicted = np.asarray(paper.predictor(mean[:, :-1], training=False))[:, 1:]
    expected = np.mean((predicted - mean[:, 2:]) ** 2)
    assert float(values["latent"]) == pytest.approx(expected, rel=1e-5)
    assert float(termed["g_loss"]) == pytest.approx(
        float(values["g_loss"]) + 0.5 * expected, rel=1e-5)
    with tf.GradientTape(persistent=True) as tape:
        latent = with_term.compute_losses(videos, noise, True, 0.0)["latent"]
    assert all(g is None or not np.any(g.numpy())
               for g in tape.gradient(latent, with_term.decoder.trainable_variables))
    assert all(g is not None and np.any(g.numpy())
               for g in tape.gradient(latent, with_term.predictor.trainable_variables))
