"""The JAX trainer (`KERAS_BACKEND=jax python -m tf_deepgifs train`): it runs without
TensorFlow, resumes exactly, and what it writes is the TensorFlow model's."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.jax_run import tiny_jax_config
from tf_deepgifs.data import bouncing_balls, pixels, splits
from tf_deepgifs.training import jax_trainer, run_directory
from tf_deepgifs.errors import UserError

REPO = pathlib.Path(__file__).resolve().parent.parent
JAX_ENV = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")


def _run_jax(run_dir, stop_at_step=0, precision="float32"):
    result = subprocess.run(
        [sys.executable, "-m", "tests.jax_run", str(run_dir), str(stop_at_step), precision],
        cwd=REPO, env=JAX_ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory):
    """(uninterrupted run, run stopped at step 4 and resumed), 6 steps each."""
    root = tmp_path_factory.mktemp("jax_runs")
    _run_jax(root / "straight")
    assert "Stopped at step 4 of 6" in _run_jax(root / "interrupted", stop_at_step=4)
    assert "Resuming" in _run_jax(root / "interrupted")
    return root / "straight", root / "interrupted"


def _tensorflow_model(run_dir, weights=None):
    """The TensorFlow DeepGIF with the run's newest checkpoint (or `weights`) loaded."""
    config = tiny_jax_config(str(run_dir))
    model = run_directory.build_model(config, (4, 64, 64, 1))
    model.load_weights(weights or run_directory.Checkpoints(run_dir / "checkpoints", 1).latest())
    return model


def _history(run_dir, split):
    lines = (run_dir / "logs" / "history.jsonl").read_text().splitlines()
    return [entry for entry in map(json.loads, lines) if entry["split"] == split]


def test_an_interrupted_jax_run_resumes_to_the_same_weights_as_an_uninterrupted_one(jax_runs):
    straight, interrupted = (_tensorflow_model(run) for run in jax_runs)
    assert int(straight.g_optimizer.iterations.numpy()) == 6

    def everything(model):
        return model.weights + model.g_optimizer.variables + model.d_optimizer.variables

    for a, b in zip(everything(straight), everything(interrupted), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)


def test_every_network_and_the_batchnorm_statistics_were_trained(jax_runs):
    trained = _tensorflow_model(jax_runs[0])
    initial = run_directory.build_model(tiny_jax_config(str(jax_runs[0])), (4, 64, 64, 1))
    for before, after in zip(initial.weights, trained.weights, strict=True):
        assert not np.allclose(before.numpy(), after.numpy()), f"{after.path} did not move"


def _validation_losses(model):
    """The TensorFlow model's test_step on the tiny run's 2 validation sequences."""
    config = bouncing_balls.DATASET_CONFIGS["paper"]
    frames = bouncing_balls.dataset_videos(config, "validation", range(2))[:, :4]
    return model.test_step(tf.constant(pixels.from_uint8(frames)))


def test_jax_validation_losses_equal_the_tensorflow_models_on_the_same_weights(jax_runs):
    expected = _validation_losses(_tensorflow_model(jax_runs[0]))
    logged = _history(jax_runs[0], "validation")[-1]
    assert logged["step"] == 6
    for name in ("reconstruction", "prediction", "rollout", "kl", "g_loss", "d_loss"):
        np.testing.assert_allclose(logged[name], float(expected[name]), rtol=1e-4, err_msg=name)


def test_best_keras_holds_the_networks_of_the_lowest_validation_rollout(jax_runs):
    run_dir = jax_runs[0]
    best = json.loads((run_dir / "best.json").read_text())
    assert best["rollout"] == min(e["rollout"] for e in _history(run_dir, "validation"))
    config, _ = run_directory.read_run(run_dir)
    model = run_directory.load_model(config, str(run_dir / "best.keras"))
    np.testing.assert_allclose(float(_validation_losses(model)["rollout"]), best["rollout"],
                               rtol=1e-4)
    assert (run_dir / "model.keras").exists()


def test_training_history_has_every_logged_step_once(jax_runs):
    steps = [entry["step"] for entry in _history(jax_runs[1], "train")]
    assert steps == [3, 6]  # the ends of both epochs, the resumed run adding the second


def test_mixed_bfloat16_under_jax_tracks_float32_and_keeps_float32_weights(jax_runs, tmp_path):
    _run_jax(tmp_path / "mixed", stop_at_step=3, precision="mixed_bfloat16")
    mixed = _history(tmp_path / "mixed", "validation")[-1]
    full = next(e for e in _history(jax_runs[0], "validation") if e["step"] == 3)
    assert mixed["step"] == 3
    for name in ("reconstruction", "prediction", "rollout"):
        np.testing.assert_allclose(mixed[name], full[name], rtol=0.05, err_msg=name)
    model = _tensorflow_model(tmp_path / "mixed")  # its checkpoint loads as float32 weights
    assert int(model.g_optimizer.iterations.numpy()) == 3


def test_the_simulated_split_is_the_tfds_builders_in_any_number_of_processes(monkeypatch):
    config = bouncing_balls.DATASET_CONFIGS["paper"]
    monkeypatch.setattr(jax_trainer, "SIMULATION_CHUNK", 2)
    spawned = jax_trainer.simulated_videos(config, "validation", 5, workers=2)
    rngs = [splits.example_rng(config.seed, "validation", i) for i in range(5)]
    expected = bouncing_balls.generate(rngs, config.num_frames, config.num_balls,
                                       config.image_size).video
    np.testing.assert_array_equal(spawned, expected)


@pytest.mark.parametrize("dataset, message", [
    ("moving_mnist", "train it with the TensorFlow backend"),
    ("bouncing_balls/five_balls", "has no config 'five_balls'"),
])
def test_the_jax_trainer_refuses_what_it_cannot_simulate(dataset, message):
    with pytest.raises(UserError, match=message):
        jax_trainer.dataset_config(dataset)
    assert jax_trainer.dataset_config("bouncing_balls/three_balls").num_balls == 3
