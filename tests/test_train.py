"""The training command, run as users run it: `python -m tf_deepgifs train`, `make train`."""

import dataclasses
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import imageio.v2 as imageio
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny import TINY_ARGS, TINY_MODEL
from tf_deepgifs.data import bouncing_balls
from tf_deepgifs.training import joint_training
from tf_deepgifs.runs import run_directory
from tf_deepgifs.cli import main
from tf_deepgifs.config import Config, DataConfig, TrainConfig
from tf_deepgifs.errors import UserError
from tf_deepgifs.models import DeepGIF

# Commands in processes of their own, or runs of seconds: the whole suite only.
pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parent.parent
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """A Bouncing Balls slice of 8 sequences per split, built once for this module (the
    data command's own tests, tests/test_data_cli.py, start it as users do)."""
    data_dir = tmp_path_factory.mktemp("data")
    assert main(["data", "--data-dir", str(data_dir), "--max-examples-per-split", "8"]) == 0
    return data_dir


def _train_arguments(data_dir, run_dir):
    """The tiny run's `train` arguments, for `main` in this process or a command."""
    return ["train", "--preset", "smoke", *TINY_ARGS, "--data-dir", str(data_dir),
            "--max-examples-per-split", "8", "--num-frames", "4", "--batch-size", "2",
            "--epochs", "2", "--steps-per-epoch", "3", "--checkpoint-every", "1",
            "--validation-steps", "1", "--run-dir", str(run_dir)]


def _train_command(data_dir, run_dir):
    return [sys.executable, "-m", "tf_deepgifs", *_train_arguments(data_dir, run_dir)]


def _final_weights(run_dir):
    config = Config.from_dict(json.loads((run_dir / "config.json").read_text()))
    model = run_directory.build_model(config, (4, 64, 64, 1))
    model.load_weights(run_directory.Checkpoints(run_dir / "checkpoints", 1).latest())
    return model.weights + model.g_optimizer.variables + model.d_optimizer.variables


@pytest.fixture(scope="module")
def finished_run(small_data, tmp_path_factory):
    """A smoke run of 2 epochs of 3 steps, trained without interruption, by the command's
    main in this process (the killed run it is compared with runs in processes of its own)."""
    run_dir = tmp_path_factory.mktemp("runs") / "whole"
    assert main(_train_arguments(small_data, run_dir)) == 0
    return run_dir


def _history(run_dir):
    return [{k: v for k, v in line.items() if k != "seconds"}
            for line in run_directory.History(run_dir).lines()]


def test_a_killed_run_resumes_to_the_weights_and_history_of_an_uninterrupted_one(
        small_data, finished_run, tmp_path):

    killed_dir = tmp_path / "killed"
    command = _train_command(small_data, killed_dir)
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed_dir / "checkpoints" / "step_4.weights.h5").exists():
        assert process.poll() is None and time.time() < deadline, "no checkpoint at step 4"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # in the second epoch, with no warning
    process.wait()
    half_written = killed_dir / "checkpoints" / "partial_5.weights.h5"
    half_written.write_bytes(b"what a kill leaves")  # as if killed while writing step 5's
    resumed = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout
    assert not half_written.exists()

    assert run_directory.Checkpoints(killed_dir / "checkpoints", 1).latest().name == "step_6.weights.h5"
    for a, b in zip(_final_weights(finished_run), _final_weights(killed_dir)):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)
    ours, theirs = _history(killed_dir), _history(finished_run)
    assert [(line["split"], line["step"]) for line in ours] == [
        (line["split"], line["step"]) for line in theirs]
    for one, other in zip(ours, theirs):
        for name in one.keys() - {"split", "step"}:
            np.testing.assert_allclose(one[name], other[name], rtol=1e-5, err_msg=name)


def test_a_run_logs_its_history_and_keeps_the_networks_of_its_best_validation(finished_run):
    lines = [json.loads(line) for line in (finished_run / "logs" / "history.jsonl").read_text().splitlines()]
    validations = [line for line in lines if line["split"] == "validation"]
    assert [line["step"] for line in validations] == [3, 6]
    assert {"prediction", "rollout", "d_loss"} <= set(validations[0])
    best = json.loads((finished_run / "best.json").read_text())
    assert best["rollout"] == min(line["rollout"] for line in validations)
    assert best["step"] in (3, 6)
    saved = keras.saving.load_model(finished_run / "best.keras")
    assert isinstance(saved, DeepGIF) and saved.context_frames == 1


def _tiny_model(context_frames=1, seed=0, latent_dim=TINY_MODEL.latent_dim):
    model_config = dataclasses.replace(TINY_MODEL, latent_dim=latent_dim)
    config = Config(model=model_config, train=TrainConfig(context_frames=context_frames, seed=seed),
                    data=DataConfig(num_frames=4))
    return run_directory.build_model(config, (4, 64, 64, 1))


def test_a_new_run_can_start_from_saved_networks_with_fresh_optimizers(tmp_path):
    source = _tiny_model()
    source.g_optimizer.iterations.assign(5)
    run_directory.save_inference_model(source, (4, 64, 64, 1), tmp_path / "source.keras")
    fine_tuned = _tiny_model(context_frames=2, seed=1)  # other training settings, other init
    empty = run_directory.Checkpoints(tmp_path / "checkpoints", 1)
    assert run_directory.restore_latest(fine_tuned, empty, str(tmp_path / "source.keras")) == (0, {})
    assert len(fine_tuned.weights) == len(source.weights)
    for a, b in zip(source.weights, fine_tuned.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)

    with pytest.raises(UserError, match="no such file"):
        run_directory.initialise_networks(fine_tuned, str(tmp_path / "missing.keras"))
    (tmp_path / "notes.keras").write_text("not a model")
    with pytest.raises(UserError, match="is not a saved DeepGIF model"):
        run_directory.initialise_networks(fine_tuned, str(tmp_path / "notes.keras"))
    with pytest.raises(UserError, match="holds other networks"):
        run_directory.initialise_networks(_tiny_model(latent_dim=7), str(tmp_path / "source.keras"))


def test_stop_after_minutes_ends_with_a_checkpoint_that_resumes(small_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(_train_arguments(small_data, run_dir) + ["--stop-after-minutes", "1e-9"]) == 0
    assert "Stopped at step 1 of 6; the same command resumes." in capsys.readouterr().out
    assert run_directory.Checkpoints(run_dir / "checkpoints", 1).latest().name == "step_1.weights.h5"
    assert not (run_dir / "model.keras").exists()


def test_a_run_directory_of_another_configuration_is_refused(tmp_path, capsys):
    config = Config(model=TINY_MODEL, train=TrainConfig(batch_size=2), data=DataConfig(num_frames=4))
    run_directory.write_config(tmp_path, config, "smoke")
    assert json.loads((tmp_path / "config.json").read_text())["preset"] == "smoke"
    other = Config(model=TINY_MODEL, train=TrainConfig(batch_size=4), data=DataConfig(num_frames=4))
    with pytest.raises(run_directory.ConfigMismatchError, match="holds a run with another configuration"):
        run_directory.write_config(tmp_path, other, "smoke")
    run_directory.write_config(tmp_path, config, "paper")  # the same configuration resumes


def test_a_non_finite_loss_stops_training_naming_the_step():
    run_directory.check_finite({"g_loss": 1.0, "d_loss": 0.5}, 7, "runs/x")
    with pytest.raises(run_directory.TrainingDivergedError, match="Step 7: d_loss became nan"):
        run_directory.check_finite({"g_loss": 1.0, "d_loss": float("nan")}, 7, "runs/x")
    with pytest.raises(run_directory.TrainingDivergedError, match="Step 9: g_loss became inf"):
        run_directory.check_finite({"g_loss": float("inf")}, 9, "runs/x")


def test_the_loop_stops_at_the_first_non_finite_step_and_keeps_the_checkpoint_before(
        small_data, tmp_path, monkeypatch, capsys):
    """Losses are read back every few steps, but each step's are checked and named: here
    the fifth step (index 4) diverges between the logs at steps 3 and 6."""
    losses = joint_training.JointTraining.losses

    def diverging_at_index_4(self, batch, noise, step, training):
        values = losses(self, batch, noise, step, training)
        values["g_loss"] = values["g_loss"] + tf.where(step == 4, np.nan, 0.0)
        return values

    monkeypatch.setattr(joint_training.JointTraining, "losses", diverging_at_index_4)
    run_dir = tmp_path / "run"
    argv = _train_arguments(small_data, run_dir) + ["--checkpoint-every", "100"]
    assert main(argv) == 2
    assert "error: Step 5: g_loss became nan" in capsys.readouterr().err
    assert run_directory.Checkpoints(run_dir / "checkpoints", 1).latest().name == "step_3.weights.h5"


def test_every_config_field_is_a_command_line_option(monkeypatch):
    seen = {}
    monkeypatch.setattr(joint_training, "train", lambda config, preset, minutes: seen.update(
        config=config, preset=preset, minutes=minutes))
    assert main(["train", "--preset", "smoke", "--encoder-filters", "4,8,8,8", "--steps-per-epoch",
                 "none", "--mode", "rollout", "--lambda-kl", "0.5", "--dataset", "moving_mnist",
                 "--stop-after-minutes", "2.5"]) == 0
    config = seen["config"]
    assert seen["minutes"] == 2.5
    assert seen["preset"] == "smoke" and config.model.encoder_filters == (4, 8, 8, 8)
    assert config.train.steps_per_epoch is None and config.train.mode == "rollout"
    assert config.train.lambda_kl == 0.5 and config.data.dataset == "moving_mnist"
    assert config.train.batch_size == 4, "the smoke preset's value where no option is given"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--mode", "sideways"], "mode must be one of teacher_forced, rollout, scheduled"),
        (["--context-frames", "20"], "context_frames (20) must be less than num_frames (20)"),
        (["--dataset", "cats"], "Unknown dataset 'cats'"),
    ],
)
def test_bad_options_are_one_clear_line(argv, message, capsys):
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_make_train_then_make_export_run_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        ["make", "--no-print-directory", "train", "DATASET=bouncing_balls", "PRESET=smoke",
         f"PY={sys.executable}", "INSTALLED=", f"DATA_DIR={tmp_path / 'data'}",
         f"ARGS=--run-dir {run_dir}"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    progress = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # the progress bar, uncoloured
    assert re.search(r"6/6 .* \d+m?s/step", progress), progress[-2000:]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["latent_dim"] == 95 and config["train"]["batch_size"] == 4
    assert run_directory.Checkpoints(run_dir / "checkpoints", 1).latest().name == "step_6.weights.h5"
    assert list((run_dir / "logs" / "train").iterdir()) and list((run_dir / "logs" / "validation").iterdir())
    gif = imageio.mimread(run_dir / "samples" / "epoch_002.gif")
    assert len(gif) == 20  # one GIF frame per video frame
    assert (run_dir / "model.keras").exists()

    exported = subprocess.run(
        ["make", "--no-print-directory", "export", f"RUN={run_dir}", f"PY={sys.executable}",
         "INSTALLED="], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert exported.returncode == 0, exported.stdout[-2000:] + exported.stderr[-3000:]
    assert f"Exporting {run_dir / 'model.keras'}" in exported.stdout
    report = json.loads((run_dir / "export" / "verification.json").read_text())
    assert report["passed"] and report["metadata"]["preset"] == "smoke"
    assert [case["frames"] for case in report["cases"]] == [1, 19, 41, 1, 19, 41]

    seed = tmp_path / "seed.png"
    imageio.imwrite(seed, bouncing_balls.dataset_videos(
        bouncing_balls.DATASET_CONFIGS["paper"], "test", [0])[0, 0, ..., 0])
    make_generate = ["make", "--no-print-directory", "generate", f"RUN={run_dir}",
                     f"PY={sys.executable}", "INSTALLED=", f"GIF={tmp_path / 'out.gif'}"]
    generated = subprocess.run(make_generate + [f"SEED={seed}"], cwd=REPO, env=ENV,
                               capture_output=True, text=True, timeout=300)
    assert generated.returncode == 0, generated.stdout[-2000:] + generated.stderr[-3000:]
    # (Pillow merges identical consecutive GIF frames, so the runner's count is the check.)
    assert f"Wrote {tmp_path / 'out.gif'}: 1 seed + 19 generated frames" in generated.stderr
    assert (tmp_path / "out.gif").stat().st_size > 0
    unseeded = subprocess.run(make_generate, cwd=REPO, env=ENV, capture_output=True, text=True)
    assert unseeded.returncode != 0 and "make generate SEED=path/to/image.png" in unseeded.stderr
