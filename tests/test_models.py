"""Specifications of the networks: the paper's shapes and sizes, and saving."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from tests.tiny import TINY_MODEL, ball_pixels, ball_videos, started_joint_training
from tf_deepgifs.data import pixels
from tf_deepgifs.config import Config, DataConfig, ModelConfig, TrainConfig
from tf_deepgifs.models import Decoder, DeepGIF, Discriminator, Encoder, Predictor

PAPER = ModelConfig()
FRAMES = np.zeros((2, 64, 64, 1), np.float32)

# Parameter counts from the paper's section 4.1, layer by layer.
TRUNK = [4 * 4 * 1 * 32 + 32, 4 * 4 * 32 * 64 + 64, 4 * 4 * 64 * 128 + 128, 4 * 4 * 128 * 256 + 256]
TRUNK_BN = 4 * (32 + 64 + 128 + 256)  # gamma, beta, moving mean, moving variance
FLAT = 4 * 4 * 256


def test_encoder_follows_section_4_1_1():
    encoder = Encoder(PAPER)
    mean, log_variance = encoder(FRAMES)
    assert mean.shape == log_variance.shape == (2, 95)
    shapes, x = [], FRAMES
    for conv, norm, act in zip(encoder.trunk.convs, encoder.trunk.norms, encoder.trunk.activations):
        x = act(norm(conv(x)))
        shapes.append(tuple(x.shape[1:]))
        assert act.negative_slope == pytest.approx(0.01)
    assert shapes == [(32, 32, 32), (16, 16, 64), (8, 8, 128), (4, 4, 256)]
    assert encoder.count_params() == sum(TRUNK) + TRUNK_BN + 2 * (FLAT * 95 + 95)


def test_decoder_inverts_the_encoder():
    decoder = Decoder(PAPER)
    frames = decoder(np.random.default_rng(0).normal(size=(2, 95)).astype(np.float32) * 50)
    assert frames.shape == (2, 64, 64, 1)
    assert np.all(np.abs(frames) <= 1.0), "tanh output"
    # Dense to 4x4x256 (no BatchNorm), three upsample-conv-BN blocks, a last conv without BN.
    convs = [256 * 3 * 3 * 128 + 128, 128 * 3 * 3 * 64 + 64, 64 * 3 * 3 * 32 + 32, 32 * 3 * 3 * 1 + 1]
    assert len(decoder.norms) == 3
    assert decoder.count_params() == (95 * FLAT + FLAT) + sum(convs) + 4 * (128 + 64 + 32)


def test_predictor_is_one_lstm_of_200_and_a_readout():
    predictor = Predictor(PAPER)
    latents = np.random.default_rng(0).normal(size=(2, 5, 95)).astype(np.float32)
    assert predictor(latents).shape == (2, 5, 95)
    lstm = 4 * (200 * (95 + 200) + 200)
    assert predictor.count_params() == lstm + 200 * 95 + 95
    # Stepping by the cell gives the same predictions as the sequence call.
    state = predictor.initial_state(2)
    stepped = []
    for t in range(5):
        prediction, state = predictor.step(latents[:, t], state)
        stepped.append(prediction)
    np.testing.assert_allclose(np.stack(stepped, 1), predictor(latents), atol=1e-6)


def test_discriminator_follows_section_4_1_3():
    discriminator = Discriminator(PAPER)
    assert discriminator(FRAMES).shape == (2, 1)
    head = (FLAT * 95 + 95) + 4 * 95 + (95 + 1)
    assert discriminator.count_params() == sum(TRUNK) + TRUNK_BN + head


def test_kernels_are_xavier_uniform_with_gain_sqrt2():
    encoder = Encoder(PAPER)
    encoder(FRAMES)
    weights = encoder.mean_head.kernel.numpy()  # Dense 4096 -> 95
    expected_std = np.sqrt(2.0) * np.sqrt(2.0 / (FLAT + 95))
    assert np.std(weights) == pytest.approx(expected_std, rel=0.03)
    assert np.max(np.abs(weights)) <= expected_std * np.sqrt(3) + 1e-6  # uniform's bound


def _tiny_model(model_config=TINY_MODEL):
    model = DeepGIF.from_configs(model_config, TrainConfig(context_frames=2))
    model.build((None, 6, 64, 64, 1))
    return model


def test_deepgif_generates_the_frames_after_the_context():
    model = _tiny_model()  # K = 2, the paper's generation: each frame re-encoded
    videos = ball_videos(batch=3, frames=6)
    generated = model(videos)
    # By hand from the networks alone: the context's encoder means read by the LSTM, then
    # each predicted latent decoded and the decoded frame's encoder mean read next.
    mean, _, _ = model.encode_sequence(videos[:, :2], np.zeros((3, 2, 6), np.float32), training=False)
    state = model.predictor.initial_state(3)
    for k in range(2):
        latent, state = model.predictor.step(mean[:, k], state)
    expected = []
    for _ in range(4):
        frame = model.decode_latents(latent)
        expected.append(frame)
        encoded, _ = model.encoder(pixels.to_network_range(frame), training=False)
        latent, state = model.predictor.step(encoded, state)
    np.testing.assert_allclose(generated, np.stack(expected, axis=1), atol=1e-5)
    assert not np.allclose(generated[:, 0], generated[:, -1], atol=1e-3)  # it moves on


def test_the_generation_step_reads_frames_then_latents_as_the_contract_says():
    """One step (the exported file's cut): F frames encoded and sampled with their noise
    rows, then R latents read as they are, in one batch; the LSTM's prediction decoded."""
    model = _tiny_model()
    frames = pixels.to_network_range(ball_videos(batch=2, frames=1)[:, 0])
    latents = np.random.default_rng(0).normal(size=(1, 6)).astype(np.float32)
    noise = np.random.default_rng(1).normal(size=(3, 6)).astype(np.float32)
    state = [np.random.default_rng(2).normal(size=(3, 8)).astype(np.float32)] * 2
    step = model.generation_step(state, frames=frames, latents=latents, noise=noise)

    mean, log_variance = model.encoder(frames, training=False)
    read = np.concatenate([mean + np.exp(0.5 * log_variance) * noise[:2], latents])
    latent, (h, c) = model.predictor.step(read, state)
    np.testing.assert_allclose(step.latent, latent, atol=1e-5)
    np.testing.assert_allclose(step.state[0], h, atol=1e-5)
    np.testing.assert_allclose(step.state[1], c, atol=1e-5)
    np.testing.assert_allclose(step.frame, model.decoder(latent, training=False), atol=1e-5)
    assert step.mixture is None

    two_rows = [s[:2] for s in state]
    deterministic = model.generation_step(two_rows, frames=frames)  # no noise: the means
    expected, _ = model.predictor.step(mean, two_rows)
    np.testing.assert_allclose(deterministic.latent, expected, atol=1e-5)


def test_latent_feedback_generates_from_the_predicted_latents_alone(tmp_path):
    frames_model = _tiny_model()
    model = _tiny_model(dataclasses.replace(TINY_MODEL, generation_feedback="latent"))
    model.set_weights(frames_model.get_weights())
    videos = ball_videos(batch=3, frames=6)

    mean, _, _ = model.encode_sequence(videos[:, :2], np.zeros((3, 2, 6), np.float32), training=False)
    state = model.predictor.initial_state(3)
    for k in range(2):
        latent, state = model.predictor.step(mean[:, k], state)
    expected = []
    for _ in range(4):  # each prediction read as it is: no frame is encoded
        expected.append(model.decode_latents(latent))
        latent, state = model.predictor.step(latent, state)
    generated = model(videos)
    np.testing.assert_allclose(generated, np.stack(expected, axis=1), atol=1e-5)

    through_frames = frames_model(videos)
    np.testing.assert_allclose(through_frames[:, 0], generated[:, 0], atol=1e-6)
    assert np.abs(through_frames[:, 1:] - generated[:, 1:]).max() > 1e-4

    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.config.generation_feedback == "latent"
    np.testing.assert_array_equal(reloaded(videos), generated)


def test_generation_feedback_is_frames_unless_said_and_checked():
    written_before = json.loads(Config().to_json())  # a config.json from before the field
    del written_before["model"]["generation_feedback"]
    assert Config.from_dict(written_before).model.generation_feedback == "frames"
    with pytest.raises(ValueError, match="generation_feedback must be one of frames, latent"):
        ModelConfig(generation_feedback="pixels")


def test_trained_deepgif_saved_and_reloaded_gives_identical_outputs(tmp_path):
    model = _tiny_model()
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    model.build_optimizers()
    videos = ball_videos(batch=4, frames=6)
    config = Config(model=model.config, data=DataConfig(num_frames=6),
                    train=TrainConfig(context_frames=2, batch_size=4))
    _, backend = started_joint_training(config, ball_pixels(batch=4, frames=6), model=model)
    for step in range(2):  # moves weights and BatchNorm statistics off their start
        backend.train_step({"video": ball_pixels(batch=4, frames=6)}, step)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(reloaded, DeepGIF) and reloaded.context_frames == 2
    assert reloaded.g_optimizer.iterations.numpy() == 2, "optimizer state comes back too"
    np.testing.assert_array_equal(reloaded(videos), model(videos))
    for name in ("encoder", "decoder", "predictor", "discriminator"):
        for a, b in zip(getattr(model, name).weights, getattr(reloaded, name).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


@pytest.mark.parametrize("network", [Encoder, Decoder, Predictor, Discriminator])
def test_each_network_round_trips_its_config(network):
    rebuilt = network.from_config(network(PAPER).get_config())
    assert rebuilt.config == PAPER


def test_after_importing_tf_deepgifs_keras_loads_a_runs_model(tmp_path):
    """As Keras' own models do: `import tf_deepgifs` registers the classes, nothing more."""
    import subprocess
    import sys

    model = _tiny_model()
    model.save(tmp_path / "model.keras")
    code = ("import tf_deepgifs, keras; model = keras.models.load_model('model.keras'); "
            "print(type(model).__name__, model.context_frames)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["DeepGIF", "2"]


def test_a_normalising_predictor_reads_and_writes_latents_in_their_own_scale():
    """With `latent_normalization`, the LSTM reads (z - mean) / std and its readout is
    scaled back: the same cell and readout as a plain predictor's, on standardised latents."""
    config = dataclasses.replace(TINY_MODEL, latent_normalization=True)
    normalising, plain = Predictor(config), Predictor(TINY_MODEL)
    normalising.build((None, 6))
    plain.build((None, 6))
    plain.cell.set_weights(normalising.cell.get_weights())
    plain.readout.set_weights(normalising.readout.get_weights())
    rng = np.random.default_rng(3)
    latents = (5.0 + 4.0 * rng.standard_normal((500, 6))).astype(np.float32)
    normalising.set_latent_statistics(latents.reshape(50, 10, 6))
    np.testing.assert_allclose(normalising.latent_mean, latents.mean(0), rtol=1e-5)
    np.testing.assert_allclose(normalising.latent_std, latents.std(0), rtol=1e-5)

    read = latents[:3]
    scaled = (read - latents.mean(0)) / latents.std(0)
    state = normalising.initial_state(3)
    got, got_state = normalising.step(read, state)
    expected, expected_state = plain.step(scaled, state)
    np.testing.assert_allclose(got, np.asarray(expected) * latents.std(0) + latents.mean(0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_state[0], expected_state[0], atol=1e-6)


def test_normalisation_statistics_are_saved_with_the_model(tmp_path):
    model = _tiny_model(dataclasses.replace(TINY_MODEL, latent_normalization=True))
    model.predictor.set_latent_statistics(np.arange(60, dtype=np.float32).reshape(10, 6))
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(reloaded.predictor.latent_mean, model.predictor.latent_mean)
    np.testing.assert_array_equal(reloaded.predictor.latent_std, model.predictor.latent_std)
    videos = ball_videos(batch=2, frames=6)
    np.testing.assert_array_equal(reloaded(videos), model(videos))
