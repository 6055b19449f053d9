"""Distributed training makes the same updates as one device."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny import TINY_ARGS, TINY_MODEL, ball_videos
from tf_deepgifs.training import distribution, run_directory, trainer
from tf_deepgifs.config import Config, DataConfig, TrainConfig


def _config(mode):
    return Config(model=TINY_MODEL, train=TrainConfig(batch_size=4, mode=mode),
                  data=DataConfig(num_frames=5))


def _one_step(config, strategy, initial_weights, videos, jit_compile=False):
    """Weights and metrics after one distributed step with SGD and zero sampling noise."""
    model = run_directory.build_model(config, videos.shape[1:], strategy.scope())
    with strategy.scope():
        model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
        model.build_optimizers()
    model.set_weights(initial_weights)
    noise = model._replica_noise
    model._replica_noise = lambda v, s: {k: tf.zeros_like(x) for k, x in noise(v, s).items()}
    step = trainer.distributed(strategy, model, model.train_step, jit_compile)
    for batch in strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(videos)):
        logs = step(batch)
    return model.get_weights(), {name: float(value) for name, value in logs.items()}


def test_an_xla_compiled_step_updates_as_the_plain_one():
    config = _config("teacher_forced")
    videos = ball_videos(batch=2, frames=5)
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
    half = ball_videos(batch=2, frames=5)
    initial = run_directory.build_model(config, half.shape[1:]).get_weights()
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored.num_replicas_in_sync == 2
    one, one_logs = _one_step(config, tf.distribute.get_strategy(), initial, half)
    two, two_logs = _one_step(config, mirrored, initial, np.concatenate([half, half]))
    for name in one_logs:
        assert two_logs[name] == pytest.approx(one_logs[name], rel=1e-5, abs=1e-6), name
    for index, (a, b) in enumerate(zip(one, two)):  # BatchNorm's moving statistics too
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=str(index))
    assert not np.allclose(one[0], initial[0]), "the step must have moved the weights"


def test_each_sequence_gets_the_same_noise_however_the_batch_is_split():
    config = _config("rollout")
    videos = tf.constant(ball_videos(batch=4, frames=5))
    step = tf.constant(3, tf.int64)
    single = run_directory.build_model(config, videos.shape[1:])
    expected = single._replica_noise(videos, step)["latent"]
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    model = run_directory.build_model(config, videos.shape[1:], mirrored.scope())
    batch = next(iter(mirrored.experimental_distribute_dataset(tf.data.Dataset.from_tensors(videos))))
    per_replica = mirrored.run(tf.function(lambda v: model._replica_noise(v, step)["latent"]), args=(batch,))
    np.testing.assert_array_equal(tf.concat(mirrored.experimental_local_results(per_replica), 0), expected)


def test_strategy_choice_follows_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribution.cluster_size() == 0
    assert distribution.make_strategy() is tf.distribute.get_strategy()
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
    built = subprocess.run(
        [sys.executable, "-m", "tf_deepgifs", "data", "--data-dir", data_dir,
         "--max-examples-per-split", "8"], env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
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
