"""Distributed training makes the same updates as one device."""

import dataclasses
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny import TINY_ARGS, TINY_MODEL, ball_pixels, started_joint_training
from tf_deepgifs.cli import main
from tf_deepgifs.training import distribution
from tf_deepgifs.runs import run_directory
from tf_deepgifs.config import Config, DataConfig, TrainConfig

# Commands in processes of their own, or runs of seconds: the whole suite only.
pytestmark = pytest.mark.slow


def _config(mode, batch_size=4):
    return Config(model=TINY_MODEL, train=TrainConfig(batch_size=batch_size, mode=mode),
                  data=DataConfig(num_frames=5))


class _ZeroNoise:
    """Stands in for a backend's noise: zeros of the same shapes (the noise is the one
    thing a different split of the batch may change)."""

    def __init__(self, backend):
        self.draw = backend._noise

    def __call__(self, batch_size, step):
        return {k: tf.zeros_like(x) for k, x in self.draw(batch_size, step).items()}


def _one_step(config, strategy, initial_weights, videos, jit_compile=False):
    """Weights and losses after one step of the training loop's TensorFlow step, SGD and
    zero sampling noise, on `strategy`."""
    config = dataclasses.replace(config, train=dataclasses.replace(
        config.train, jit_compile=jit_compile, batch_size=len(videos)))
    devices = distribution.tensorflow_devices(strategy)
    with devices.scope():
        model = run_directory.build_model(config, videos.shape[1:])
        model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
        model.build_optimizers()
    model.set_weights(initial_weights)
    stage, backend = started_joint_training(config, videos, strategy, model)
    backend._noise = _ZeroNoise(backend)
    logs = backend.train_step({"video": videos}, 0)
    return model.get_weights(), {name: float(value) for name, value in logs.items()}


def test_an_xla_compiled_step_updates_as_the_plain_one():
    config = _config("teacher_forced")
    videos = ball_pixels(batch=2, frames=5)
    initial = run_directory.build_model(config, videos.shape[1:]).get_weights()
    plain, plain_logs = _one_step(config, tf.distribute.get_strategy(), initial, videos)
    xla, xla_logs = _one_step(config, tf.distribute.get_strategy(), initial, videos, jit_compile=True)
    for name in plain_logs:
        assert xla_logs[name] == pytest.approx(plain_logs[name], rel=1e-4, abs=1e-6), name
    # XLA fuses and reorders float sums; the tiny untrained network amplifies that to
    # about 1e-4 in the weights after one SGD step, against updates of about 1e-2.
    for index, (a, b, start) in enumerate(zip(plain, xla, initial)):
        np.testing.assert_allclose(b - start, a - start, rtol=0.05, atol=5e-4, err_msg=str(index))
    assert not np.allclose(plain[0], initial[0]), "the step must have moved the weights"


def _mirrored():
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored.num_replicas_in_sync == 2
    return mirrored


@pytest.mark.parametrize("mode", ["teacher_forced", "rollout"])
def test_two_replicas_update_as_one_device(mode):
    """2 replicas on [a, b, a, b] against one device on [a, b].

    Each replica normalises by its own half's BatchNorm statistics, so with the same two
    sequences in both halves the replicas' statistics are the one device's; what is left
    is what the strategy must get right: the loss scaling (without it the update doubles)
    and the gradient sum. (One device on [a, b, a, b] itself differs by float rounding
    that this tiny untrained network amplifies to about 1e-3.)
    """
    config = _config(mode)
    half = ball_pixels(batch=2, frames=5)
    initial = run_directory.build_model(config, half.shape[1:]).get_weights()
    one, one_logs = _one_step(config, tf.distribute.get_strategy(), initial, half)
    two, two_logs = _one_step(config, _mirrored(), initial, np.concatenate([half, half]))
    for name in one_logs:
        assert two_logs[name] == pytest.approx(one_logs[name], rel=1e-5, abs=1e-6), name
    for index, (a, b) in enumerate(zip(one, two)):  # BatchNorm's moving statistics too
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=str(index))
    assert not np.allclose(one[0], initial[0]), "the step must have moved the weights"


def _moving_statistics(model_weights, model):
    return [w for w, v in zip(model_weights, model.weights) if "moving" in v.path]


def test_under_tensorflow_each_replica_normalises_by_its_own_rows():
    """TensorFlow's promise (distribution.py): the chief's BatchNorm statistics after a step
    on [a, b, c, d] over 2 replicas are those of one device on its rows [a, b], not of
    the whole batch."""
    config = _config("teacher_forced")
    videos = ball_pixels(batch=4, frames=5)
    model = run_directory.build_model(config, videos.shape[1:])
    initial = model.get_weights()
    two, _ = _one_step(config, _mirrored(), initial, videos)
    first_half, _ = _one_step(config, tf.distribute.get_strategy(), initial, videos[:2])
    whole, _ = _one_step(config, tf.distribute.get_strategy(), initial, videos)
    for ours, rows, everything in zip(*(_moving_statistics(w, model)
                                        for w in (two, first_half, whole))):
        np.testing.assert_allclose(ours, rows, rtol=1e-4, atol=1e-6)
    assert any(not np.allclose(ours, everything, rtol=1e-3, atol=1e-5) for ours, everything in zip(
        _moving_statistics(two, model), _moving_statistics(whole, model)))


def test_each_sequence_gets_the_same_noise_however_the_batch_is_split():
    config = _config("rollout")
    videos = ball_pixels(batch=4, frames=5)
    step = tf.constant(3, tf.int64)
    _, single = started_joint_training(config, videos)
    expected = single._noise(4, step)["latent"]
    mirrored = _mirrored()
    _, backend = started_joint_training(config, videos, mirrored)
    per_replica = mirrored.run(tf.function(lambda: backend._noise(2, step)["latent"]))
    np.testing.assert_array_equal(tf.concat(mirrored.experimental_local_results(per_replica), 0), expected)


def test_strategy_choice_follows_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribution.cluster_size() == 0
    assert distribution.make_strategy() is tf.distribute.get_strategy()
    assert distribution.tensorflow_devices().chief
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert distribution.cluster_size() == 2


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_loopback_finish_and_agree(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    data_dir = tmp_path / "data"
    # The data command's main, in this process: its own tests start it as users do.
    assert main(["data", "--data-dir", str(data_dir), "--max-examples-per-split", "8"]) == 0
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "tf_deepgifs", "train", "--preset", "smoke", *TINY_ARGS,
               "--data-dir", str(data_dir), "--max-examples-per-split", "8", "--num-frames", "4",
               "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "2",
               "--validation-steps", "1", "--run-dir", str(run_dir)]
    processes = [
        subprocess.Popen(command, env={**env, "TF_CONFIG": json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=400)[0] for p in processes]
    for p, output in zip(processes, outputs):
        assert p.returncode == 0, output[-3000:]
    chief = run_directory.Checkpoints(run_dir / "checkpoints", 1).latest()
    worker = run_directory.Checkpoints(run_dir / "workers" / "worker_1" / "checkpoints", 1).latest()
    assert chief.name == worker.name == "step_2.weights.h5"
    models = []
    for path in (chief, worker):
        model = run_directory.build_model(_config("teacher_forced"), (4, 64, 64, 1))
        model.load_weights(path)
        models.append(model)
    # Weights and optimizer states agree; BatchNorm's moving statistics are each worker's
    # own running average over its shard (see distribution.py).
    for a, b in zip(models[0].trainable_weights + models[0].g_optimizer.variables
                    + models[0].d_optimizer.variables,
                    models[1].trainable_weights + models[1].g_optimizer.variables
                    + models[1].d_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert (run_dir / "model.keras").exists() and (run_dir / "config.json").exists()
