"""Horizon tuning (`python -m tf_deepgifs tune`): the LSTM trained on its own predictions."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny import TINY_ARGS, TINY_MODEL, ball_videos
from tf_deepgifs import horizon_tuning, run_files
from tf_deepgifs.config import Config, HorizonTuningConfig, TrainConfig

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
CONTEXT = 2


def _tiny_model():
    config = Config(model=TINY_MODEL, train=TrainConfig(context_frames=CONTEXT))
    return run_files.build_model(config, (6, 64, 64, 1), precision="float32")


def _latents(model, seed=0):
    videos = ball_videos(batch=4, frames=6, seed=seed)
    mean, _ = model.encoder(videos.reshape((-1, 64, 64, 1)), training=False)
    return tf.reshape(mean, (4, 6, -1))


def test_the_rollout_reads_the_context_then_only_its_own_predictions():
    model = _tiny_model()
    latents = _latents(model)
    predicted = horizon_tuning.latent_rollout(model.predictor, latents, CONTEXT)
    assert predicted.shape == (4, 6 - CONTEXT, TINY_MODEL.latent_dim)

    future_replaced = tf.concat([latents[:, :CONTEXT], 10.0 + latents[:, CONTEXT:]], axis=1)
    np.testing.assert_array_equal(
        horizon_tuning.latent_rollout(model.predictor, future_replaced, CONTEXT), predicted)

    state = model.predictor.initial_state(4)
    for k in range(CONTEXT):
        expected, state = model.predictor.step(latents[:, k], state)
    for t in range(6 - CONTEXT):
        np.testing.assert_allclose(predicted[:, t], expected, rtol=1e-5, atol=1e-6)
        expected, state = model.predictor.step(expected, state)


def test_tuning_lowers_the_loss_and_changes_the_predictor_alone():
    model = _tiny_model()
    latents = _latents(model)
    frozen = {name: [w.numpy() for w in getattr(model, name).weights]
              for name in ("encoder", "decoder", "discriminator")}
    predictor_before = [w.numpy() for w in model.predictor.weights]
    tuner = horizon_tuning.HorizonTuner(model, CONTEXT, HorizonTuningConfig(learning_rate=1e-2))

    first = float(tuner.step(latents)["loss"])
    for _ in range(30):
        last = float(tuner.step(latents)["loss"])
    assert last < 0.7 * first

    for name, weights in frozen.items():  # BatchNorm's moving statistics included
        for before, after in zip(weights, getattr(model, name).weights):
            np.testing.assert_array_equal(before, after.numpy(), err_msg=name)
    assert any(not np.array_equal(b, a.numpy())
               for b, a in zip(predictor_before, model.predictor.weights))


def test_the_loss_is_the_latent_mse_plus_the_weighted_first_frame_mse():
    model = _tiny_model()
    latents = _latents(model)
    without = horizon_tuning.horizon_losses(model, latents, CONTEXT, first_frame_weight=0.0)
    weighted = horizon_tuning.horizon_losses(model, latents, CONTEXT, first_frame_weight=5.0)
    predicted = horizon_tuning.latent_rollout(model.predictor, latents, CONTEXT)
    expected = np.mean(np.square(predicted - latents[:, CONTEXT:]), axis=(0, 2))
    np.testing.assert_allclose(without["latent"], expected, rtol=1e-5)
    np.testing.assert_allclose(without["loss"], expected.mean(), rtol=1e-5)
    assert float(weighted["first_frame"]) > 0
    np.testing.assert_allclose(
        weighted["loss"], expected.mean() + 5.0 * float(weighted["first_frame"]), rtol=1e-5)


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tf_deepgifs", *map(str, args)], env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A smoke training run (K = 2) on a built slice of 8 sequences per split."""
    data_dir = tmp_path_factory.mktemp("data")
    run_dir = tmp_path_factory.mktemp("runs") / "source"
    trained = _run("train", "--preset", "smoke", *TINY_ARGS, "--data-dir", data_dir,
                   "--max-examples-per-split", 8, "--num-frames", 5, "--context-frames", CONTEXT,
                   "--batch-size", 2, "--epochs", 1, "--steps-per-epoch", 2,
                   "--validation-steps", 1, "--run-dir", run_dir)
    assert trained.returncode == 0, trained.stderr[-3000:]
    return run_dir


def test_tune_writes_a_run_that_evaluate_takes_with_the_source_encoder(source_run, tmp_path):
    tuned = tmp_path / "tuned"
    result = _run("tune", "--from-run", source_run, "--run-dir", tuned, "--steps", 4,
                  "--batch-size", 2, "--validate-every", 2, "--validation-sequences", 4,
                  "--encode-batch-size", 4)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Encoded 8 training and 4 validation sequences" in result.stdout

    source_config = json.loads((source_run / "config.json").read_text())
    assert json.loads((tuned / "config.json").read_text()) == source_config
    record = json.loads((tuned / horizon_tuning.TUNING_FILE).read_text())
    assert record["steps"] == 4 and record["source_run"] == str(source_run)
    validations = [json.loads(line) for line in (tuned / "logs" / "history.jsonl").open()
                   if json.loads(line)["split"] == "validation"]
    assert [v["step"] for v in validations] == [2, 4]
    assert all(json.loads(line).get("seconds", 0) > 0 for line in (tuned / "logs" / "history.jsonl").open()
               if json.loads(line)["split"] == "train")
    assert json.loads((tuned / "best.json").read_text())["rollout"] == min(
        v["rollout"] for v in validations)

    import keras
    source, result_model = (keras.saving.load_model(path) for path in
                            (source_run / "model.keras", tuned / "best.keras"))
    for before, after in zip(source.encoder.weights, result_model.encoder.weights):
        np.testing.assert_array_equal(before.numpy(), after.numpy())

    evaluated = _run("evaluate", "--run-dir", tuned, "--weights", tuned / "best.keras",
                     "--limit", 4, "--samples", 0, "--strips", 0, "--batch-size", 4)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert (tuned / "evaluation" / "report.json").exists()


@pytest.mark.parametrize("target, message", [
    ("source", "must be a new directory"),
    ("missing", "is not a run directory"),
])
def test_tune_refuses_the_source_as_target_and_a_missing_run(source_run, tmp_path, target,
                                                             message):
    from_run = source_run if target == "source" else tmp_path / "nowhere"
    result = _run("tune", "--from-run", from_run, "--run-dir", source_run)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_tune_under_the_jax_backend_is_one_clear_line(monkeypatch, capsys):
    from tf_deepgifs.__main__ import main

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert main(["tune", "--from-run", "a", "--run-dir", "b"]) == 2
    assert "tune runs on TensorFlow" in capsys.readouterr().err
