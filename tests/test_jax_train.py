"""The training loop under JAX (`KERAS_BACKEND=jax python -m tf_deepgifs train`, `tune`):
it runs without TensorFlow, survives a kill, trains data parallel through
`keras.distribution`, and what it writes is the TensorFlow model's."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.jax_run import tiny_jax_config
from tf_deepgifs.data import arrays, bouncing_balls, pixels, splits
from tf_deepgifs.errors import UserError
from tf_deepgifs.runs import run_directory

# Commands in processes of their own, or runs of seconds: the whole suite only.
pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parent.parent
JAX_ENV = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")


@pytest.fixture(scope="module", autouse=True)
def _compile_once(tmp_path_factory):
    """JAX's persistent compilation cache, shared by this file's runs: a run started again
    after a kill, or another run of the same networks, loads the steps compiled before."""
    JAX_ENV["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax_cache"))


def _command(*arguments):
    return [sys.executable, "-m", "tests.jax_run", *map(str, arguments)]


def _run_jax(*arguments, env=JAX_ENV):
    result = subprocess.run(_command(*arguments), cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def _kill_once(marker, *arguments):
    """Starts the run, SIGKILLs it as soon as `marker` exists, then runs it again."""
    process = subprocess.Popen(_command(*arguments), cwd=REPO, env=JAX_ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not marker.exists():
        assert process.poll() is None and time.time() < deadline, f"never wrote {marker}"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return _run_jax(*arguments)


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory):
    """(uninterrupted run, run killed after its step-4 checkpoint and run again), 6 steps."""
    root = tmp_path_factory.mktemp("jax_runs")
    _run_jax("train", root / "straight")
    resumed = _kill_once(root / "killed" / "checkpoints" / "step_4.weights.h5",
                         "train", root / "killed")
    assert "Resuming" in resumed
    return root / "straight", root / "killed"


def _tensorflow_model(run_dir, weights=None):
    """The TensorFlow DeepGIF with the run's newest checkpoint (or `weights`) loaded."""
    config = tiny_jax_config(str(run_dir))
    model = run_directory.build_model(config, (4, 64, 64, 1))
    model.load_weights(weights or run_directory.Checkpoints(run_dir / "checkpoints", 1).latest())
    return model


def _history(run_dir, split=None):
    return [{k: v for k, v in line.items() if k != "seconds"}
            for line in run_directory.History(run_dir).lines(split)]


def _assert_same_history(ours, theirs):
    """The same lines (split, step, names), the values equal to float rounding."""
    assert [(line["split"], line["step"], sorted(line)) for line in ours] == [
        (line["split"], line["step"], sorted(line)) for line in theirs]
    for one, other in zip(ours, theirs):
        for name, value in one.items():
            if name not in ("split", "step"):
                np.testing.assert_allclose(value, other[name], rtol=1e-5, err_msg=name)


def test_a_killed_jax_run_resumes_to_the_weights_and_history_of_an_uninterrupted_one(jax_runs):
    straight, killed = (_tensorflow_model(run) for run in jax_runs)
    assert int(straight.g_optimizer.iterations.numpy()) == 6

    def everything(model):
        return model.weights + model.g_optimizer.variables + model.d_optimizer.variables

    for a, b in zip(everything(straight), everything(killed), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)
    _assert_same_history(_history(jax_runs[1]), _history(jax_runs[0]))
    assert [line["step"] for line in _history(jax_runs[1], "train")] == [3, 6]


def test_every_network_and_the_batchnorm_statistics_were_trained(jax_runs):
    trained = _tensorflow_model(jax_runs[0])
    initial = run_directory.build_model(tiny_jax_config(str(jax_runs[0])), (4, 64, 64, 1))
    for before, after in zip(initial.weights, trained.weights, strict=True):
        assert not np.allclose(before.numpy(), after.numpy()), f"{after.path} did not move"


def _validation_losses(model):
    """The TensorFlow model's validation losses on the tiny run's 2 validation sequences."""
    config = bouncing_balls.DATASET_CONFIGS["paper"]
    frames = bouncing_balls.dataset_videos(config, "validation", range(2))[:, :4]
    return model.validation_losses(tf.constant(pixels.from_uint8(frames)))


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
    assert (run_dir / "model.keras").exists() and (run_dir / "samples" / "epoch_002.gif").exists()


def test_mixed_bfloat16_under_jax_tracks_float32_and_keeps_float32_weights(jax_runs, tmp_path):
    _run_jax("train", tmp_path / "mixed", 3, "mixed_bfloat16")
    mixed = _history(tmp_path / "mixed", "validation")[-1]
    full = next(e for e in _history(jax_runs[0], "validation") if e["step"] == 3)
    assert mixed["step"] == 3
    for name in ("reconstruction", "prediction", "rollout"):
        np.testing.assert_allclose(mixed[name], full[name], rtol=0.05, err_msg=name)
    model = _tensorflow_model(tmp_path / "mixed")  # its checkpoint loads as float32 weights
    assert int(model.g_optimizer.iterations.numpy()) == 3


def test_horizon_tuning_runs_under_jax_and_resumes_after_a_kill(jax_runs, tmp_path):
    _run_jax("tune", jax_runs[0], tmp_path / "whole")
    resumed = _kill_once(tmp_path / "killed" / "checkpoints" / "step_2.weights.h5",
                         "tune", jax_runs[0], tmp_path / "killed")
    assert "Resuming" in resumed
    whole, killed = (_history(tmp_path / run) for run in ("whole", "killed"))
    _assert_same_history(killed, whole)
    assert [line["step"] for line in whole if line["split"] == "validation"] == [0, 2, 4]
    config, _ = run_directory.read_run(tmp_path / "whole")
    assert config.model.generation_feedback == "latent"
    best = json.loads((tmp_path / "whole" / "best.json").read_text())
    assert best["balls"] == min(line["balls"] for line in whole if line["split"] == "validation")


def _parameters(path):
    with np.load(path) as saved:
        return int(saved["devices"]), {k: saved[k] for k in saved.files if k != "devices"}


def test_two_devices_train_one_global_batch_as_one_device_does(tmp_path):
    """JAX's promise (distribution.py): keras.distribution.DataParallel lays the batch out
    over the devices as one global array, so one step on 2 devices equals one step on
    one device, BatchNorm's statistics being the whole batch's (not each device's half)."""
    two = dict(JAX_ENV, XLA_FLAGS=f"{JAX_ENV['XLA_FLAGS']} --xla_force_host_platform_device_count=2")
    _run_jax("step", tmp_path / "two.npz", 4, env=two)
    _run_jax("step", tmp_path / "one.npz", 4)
    _run_jax("step", tmp_path / "half.npz", 2)
    (devices, on_two), (_, on_one), (_, on_half) = (
        _parameters(tmp_path / f"{name}.npz") for name in ("two", "one", "half"))
    assert devices == 2
    for name, value in on_one.items():
        np.testing.assert_allclose(on_two[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    moving = [name for name in on_one if "moving_mean" in name]
    assert moving and any(not np.allclose(on_two[n], on_half[n], atol=1e-5) for n in moving)


def test_the_simulated_split_is_the_tfds_builders_in_any_number_of_processes(monkeypatch):
    config = bouncing_balls.DATASET_CONFIGS["paper"]
    monkeypatch.setattr(arrays, "SIMULATION_CHUNK", 2)
    spawned = arrays.simulate(config, "validation", 5, workers=2).video
    rngs = [splits.example_rng(config.seed, "validation", i) for i in range(5)]
    expected = bouncing_balls.generate(rngs, config.num_frames, config.num_balls,
                                       config.image_size).video
    np.testing.assert_array_equal(spawned, expected)


@pytest.mark.parametrize("dataset, message", [
    ("moving_mnist", "needs tensorflow-datasets installed"),
    ("bouncing_balls/five_balls", "has no config 'five_balls'"),
])
def test_without_tfds_only_bouncing_balls_is_simulated(dataset, message):
    with pytest.raises(UserError, match=message):
        arrays.simulation_config(dataset)
    assert arrays.simulation_config("bouncing_balls/three_balls").num_balls == 3
