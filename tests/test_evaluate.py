"""`evaluate` on a tiny run and a small built test split: the report's numbers, checked
against an independent computation, and its figures."""

import contextlib
import dataclasses
import io
import json
import subprocess

import imageio.v2 as imageio
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import TINY_RUN_CONFIG, write_tiny_run
from tf_deepgifs.data import bouncing_balls, registry, splits
from tf_deepgifs.evaluation import evaluate
from tf_deepgifs.runs import run_directory
from tf_deepgifs.cli import main
from tf_deepgifs.config import EvaluationConfig

# Commands in processes of their own, or runs of seconds: the whole suite only.
pytestmark = pytest.mark.slow

SEQUENCES, SAMPLED, SAMPLES = 10, 6, 2
OPTIONS = EvaluationConfig(limit=SEQUENCES, samples=SAMPLES, sample_sequences=SAMPLED,
                           batch_size=4, strips=2, traversal_dims=3, traversal_steps=4,
                           long_frames=12, long_sequences=3)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """(run dir, data dir, what the command printed, its report) for a tiny run evaluated
    once by the command, in this process (tests/test_horizon_tuning.py starts one)."""
    data_dir = tmp_path_factory.mktemp("data")
    registry.build("bouncing_balls", str(data_dir), max_examples_per_split=12)
    run_dir = tmp_path_factory.mktemp("run")
    write_tiny_run(run_dir)
    options = [f"--{name.replace('_', '-')}={value}"
               for name, value in dataclasses.asdict(OPTIONS).items() if value is not None]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        returncode = main(["evaluate", "--run-dir", str(run_dir), "--data-dir", str(data_dir)] + options)
    assert returncode == 0, printed.getvalue()[-2000:]
    report = json.loads((run_dir / evaluate.EVALUATION_DIR / evaluate.REPORT_FILE).read_text())
    return run_dir, data_dir, printed.getvalue(), report


def _test_split(data_dir, count):
    builder = registry.builder("bouncing_balls", str(data_dir))
    examples = list(builder.as_dataset(split="test", shuffle_files=False).take(count).as_numpy_iterator())
    frames = TINY_RUN_CONFIG.data.num_frames
    video = np.stack([e["video"][:frames] for e in examples]).astype(np.float32) / 255.0
    return video


def test_the_report_covers_every_variant_and_frame(evaluated):
    _, _, _, report = evaluated
    horizon = TINY_RUN_CONFIG.data.num_frames - TINY_RUN_CONFIG.train.context_frames
    assert (report["sequences"], report["sampled_sequences"], report["horizon"]) == (
        SEQUENCES, SAMPLED, horizon)
    curves = report["curves"]
    assert set(curves) == {"model", f"best_of_{SAMPLES}", "samples", "baseline", "ground_truth"}
    image = {"mse", "psnr", "ssim"}
    motion = {"right_count", "centre_error", "radius_drift", "plausible", "apart_kept",
              "region_centre_error", "speed"}
    assert set(curves["model"]) == set(curves["baseline"]) == image | motion
    assert set(curves["ground_truth"]) == motion
    assert set(curves["samples"]) == motion | {"diversity"}
    # every sample of every sampled sequence counts in "samples"
    assert curves["samples"]["plausible"]["count"] == [SAMPLES * SAMPLED] * horizon
    for variant, expected in (("model", SEQUENCES), (f"best_of_{SAMPLES}", SAMPLED)):
        assert curves[variant]["mse"]["count"] == [expected] * horizon
    assert report["ssim"]["filter_size"] == 11 and report["ssim"]["k2"] == 0.03


def test_fewer_sampled_sequences_than_strips_draw_the_strips_without_a_sample_row(evaluated, tmp_path):
    _, data_dir, _, _ = evaluated
    write_tiny_run(tmp_path)
    options = dataclasses.replace(OPTIONS, sample_sequences=1, strips=3, long_sequences=0)
    report = evaluate.evaluate(str(tmp_path), dataclasses.replace(options, data_dir=str(data_dir)),
                               log=lambda line: None)
    assert report["sampled_sequences"] == 1
    strips = imageio.mimread(tmp_path / evaluate.EVALUATION_DIR / "strips.gif")
    assert len(strips) > 0 and "samples.png" in report["figures"]


def test_model_and_baseline_curves_equal_an_independent_computation(evaluated):
    run_dir, data_dir, _, report = evaluated
    k = TINY_RUN_CONFIG.train.context_frames
    video = _test_split(data_dir, SEQUENCES)
    model = run_directory.load_model(TINY_RUN_CONFIG, run_directory.weights_of(str(run_dir)))
    generated = np.clip(model.rollout(tf.constant(video[:, :k]), video.shape[1] - k).numpy(), 0, 1)
    truth = video[:, k:]
    model_mse = np.mean((generated - truth) ** 2, axis=(0, 2, 3, 4))
    baseline_mse = np.mean((video[:, k - 1 : k] - truth) ** 2, axis=(0, 2, 3, 4))
    np.testing.assert_allclose(report["curves"]["model"]["mse"]["mean"], model_mse, rtol=1e-4)
    np.testing.assert_allclose(report["curves"]["baseline"]["mse"]["mean"], baseline_mse, rtol=1e-4)
    assert report["curves"]["baseline"]["ssim"]["mean"][0] > report["curves"]["baseline"]["ssim"]["mean"][-1]


def test_the_best_sample_is_chosen_by_its_balls_for_the_motion_metrics(evaluated):
    curves = evaluated[3]["curves"]
    best = np.nanmean(np.array(curves[f"best_of_{SAMPLES}"]["centre_error"]["mean"], float))
    every = np.nanmean(np.array(curves["samples"]["centre_error"]["mean"], float))
    assert best <= every + 1e-9
    truth = curves["ground_truth"]
    assert truth["plausible"]["mean"] == [1.0] * len(truth["plausible"]["mean"])
    assert all(m in (None, 1.0) for m in truth["apart_kept"]["mean"])


def test_long_rollouts_are_measured_against_the_truth_simulated_as_long(evaluated):
    run_dir, data_dir, _, report = evaluated
    long = report["long"]
    assert set(long["curves"]) == {"model", "ground_truth"}
    for variant in ("model", "ground_truth"):
        assert long["curves"][variant]["plausible"]["count"] == [3] * 12
    assert long["curves"]["ground_truth"]["plausible"]["mean"] == [1.0] * 12
    summary = long["summary"]
    assert summary["frames"] == 12
    assert summary["speed_ratio_second_half"] == pytest.approx(
        summary["speed_second_half"] / summary["true_speed_second_half"])
    assert 1.5 < summary["true_speed_second_half"] < 2.7  # ~2.1 px a frame, energy conserved
    for figure in ("long_rollout.png", "long_strip.png"):
        assert (run_dir / "evaluation" / figure).stat().st_size > 0


def test_the_simulated_truth_continues_the_stored_test_sequences(evaluated):
    data_dir = evaluated[1]
    stored = _test_split(data_dir, SEQUENCES)  # in the order the builder stored them
    config = bouncing_balls.DATASET_CONFIGS["paper"]
    longer = bouncing_balls.generate([splits.example_rng(config.seed, "test", i) for i in range(40)],
                                     30, config.num_balls, config.image_size).video
    longer = longer.astype(np.float32) / 255
    for video in stored:  # each stored sequence is the first frames of one simulated longer
        assert np.any(np.all(np.abs(longer[:, : video.shape[0]] - video) < 1e-6, axis=(1, 2, 3, 4)))


def test_the_detector_finds_the_true_balls_in_the_true_frames(evaluated):
    truth = evaluated[3]["curves"]["ground_truth"]
    assert truth["right_count"]["mean"] == [1.0] * len(truth["right_count"]["mean"])
    assert max(truth["centre_error"]["mean"]) < 1.0
    # The copied seed frame has the right balls, in places that drift away from the truth.
    baseline = evaluated[3]["curves"]["baseline"]
    assert baseline["right_count"]["mean"][0] == 1.0
    assert baseline["centre_error"]["mean"][-1] > baseline["centre_error"]["mean"][0]


def test_best_of_samples_equals_an_independent_computation(evaluated):
    run_dir, data_dir, _, report = evaluated
    k, latent = TINY_RUN_CONFIG.train.context_frames, TINY_RUN_CONFIG.model.latent_dim
    video = _test_split(data_dir, SAMPLED)
    horizon = video.shape[1] - k
    model = run_directory.load_model(TINY_RUN_CONFIG, run_directory.weights_of(str(run_dir)))
    psnr = []  # (S, B, N)
    for sample in range(SAMPLES):
        noise = evaluate.sampling_noise(OPTIONS.seed, np.arange(SAMPLED), sample, horizon, latent)
        frames = model.rollout(tf.constant(video[:, :k]), horizon, tf.constant(noise)).numpy()
        error = np.mean((np.clip(frames, 0, 1) - video[:, k:]) ** 2, axis=(2, 3, 4))
        psnr.append(10 * np.log10(1 / error))
    psnr = np.array(psnr)
    best = psnr[np.argmax(psnr.mean(axis=2), axis=0), np.arange(SAMPLED)]  # (B, N)
    assert np.abs(psnr[0] - psnr[1]).max() > 1e-3, "the two samples must differ"
    np.testing.assert_allclose(report["curves"][f"best_of_{SAMPLES}"]["psnr"]["mean"],
                               best.mean(axis=0), rtol=1e-4)


def test_the_summary_is_printed_and_the_figures_are_images(evaluated):
    run_dir, _, printed, report = evaluated
    assert "metric" in printed and f"best_of_{SAMPLES}" in printed
    assert [row["frame"] for row in report["summary"] if row["metric"] == "psnr"] == [1, 4]
    folder = run_dir / evaluate.EVALUATION_DIR
    assert not (run_dir / "evaluation.partial").exists()
    for name in ("mse", "psnr", "ssim", "right_count", "centre_error", "radius_drift"):
        assert f"{name}.png" in report["figures"]
    for name in report["figures"]:
        image = imageio.imread(folder / name)
        assert image.ndim >= 2 and min(image.shape[:2]) > 50, name
    gif = imageio.mimread(folder / "strips.gif")
    assert len(gif) == TINY_RUN_CONFIG.data.num_frames


def test_numbers_do_not_depend_on_the_batch_size(evaluated, tmp_path):
    run_dir, data_dir, _, report = evaluated
    other = tmp_path / "run"
    other.mkdir()
    for name in ("config.json", "checkpoints"):
        src = run_dir / name
        subprocess.run(["cp", "-r", str(src), str(other / name)], check=True)
    options = dataclasses.replace(OPTIONS, batch_size=3, strips=0, data_dir=str(data_dir))
    again = evaluate.evaluate(str(other), options, log=lambda *_: None)
    for variant, curves in report["curves"].items():
        for name, curve in curves.items():
            np.testing.assert_allclose(np.array(again["curves"][variant][name]["mean"], float),
                                       np.array(curve["mean"], float), rtol=1e-5,
                                       err_msg=f"{variant} {name}")  # None: NaN, equal too


def test_without_ball_positions_only_image_metrics_are_measured():
    batches = [{"video": np.random.default_rng(0).random((3, 5, 64, 64, 1), np.float32),
                "index": np.arange(3)}]

    def rollout(context, noise):
        return tf.repeat(tf.constant(context[:, -1:]), noise.shape[1], axis=1)

    curves, count, _ = evaluate.evaluate_batches(rollout, batches, 2, 3, 4, OPTIONS, lambda *_: None)
    curves = curves.as_dict()
    assert count == 3 and set(curves) == {"model", f"best_of_{SAMPLES}", "baseline"}
    assert set(curves["model"]) == {"mse", "psnr", "ssim"}
    # This rollout is the baseline itself.
    np.testing.assert_allclose(curves["model"]["mse"]["mean"], curves["baseline"]["mse"]["mean"])


@pytest.mark.parametrize("argv, message", [
    (["--limit", "-1"], "limit must be 0 or more"),
    (["--batch-size", "0"], "batch_size must be at least 1"),
])
def test_bad_options_are_one_clear_line(argv, message, tmp_path, capsys):
    assert main(["evaluate", "--run-dir", str(tmp_path)] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_folder_that_is_not_a_run_is_one_clear_line(tmp_path, capsys):
    assert main(["evaluate", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not a run directory" in err and len(err.strip().splitlines()) == 1


def test_moving_digits_are_read_where_they_truly_are():
    """The stand-in's digits: a rollout that copies the last seed frame reads as the
    baseline does, and the true frames read far better than either."""
    from tf_deepgifs.data import moving_mnist, small_digits
    from tf_deepgifs.metrics import digit_identity

    images, labels = small_digits.split_pools(*small_digits.load())["test"]
    sequences = moving_mnist.generate([splits.example_rng(1, "test", i) for i in range(6)], images, 12)
    batches = [{"video": sequences.video.astype(np.float32) / 255, "index": np.arange(6),
                "positions": sequences.positions, "labels": labels[sequences.digit_indices]}]

    def rollout(context, noise):
        return tf.repeat(tf.constant(context[:, -1:]), noise.shape[1], axis=1)

    reader = digit_identity.reader_for("moving_sklearn_digits")
    options = dataclasses.replace(OPTIONS, samples=0)
    curves, _, _ = evaluate.evaluate_batches(rollout, batches, 3, 9, 4, options, lambda *_: None, reader)
    curves = curves.as_dict()
    assert {variant for variant in curves if "identity" in curves[variant]} == {
        "model", "baseline", "ground_truth"}
    model, truth = (np.array(curves[v]["identity"]["mean"]) for v in ("model", "ground_truth"))
    np.testing.assert_allclose(model, curves["baseline"]["identity"]["mean"])
    assert truth.mean() > 0.75 and truth.mean() > model.mean() + 0.3
