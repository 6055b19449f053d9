"""Horizon tuning (`python -m tf_deepgifs tune`): the LSTM trained on its own predictions."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny import TINY_ARGS, TINY_MODEL, ball_videos
from tf_deepgifs.cli import main
from tf_deepgifs.config import Config, DataConfig, HorizonTuningConfig, TrainConfig
from tf_deepgifs.data import arrays, bouncing_balls, pixels
from tf_deepgifs.data.splits import example_rng
from tf_deepgifs.errors import UserError
from tf_deepgifs.runs import run_directory
from tf_deepgifs.training import (
    backends, distribution, horizon_tuning, latent_dynamics, tuning_validation,
)

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
CONTEXT = 2


def _tiny_model(feedback="latent"):
    model_config = dataclasses.replace(TINY_MODEL, generation_feedback=feedback)
    config = Config(model=model_config, train=TrainConfig(context_frames=CONTEXT))
    return run_directory.build_model(config, (6, 64, 64, 1), precision="float32")


def _latents(model, seed=0):
    videos = ball_videos(batch=4, frames=6, seed=seed)
    mean, _, _ = model.encode_sequence(videos, np.zeros((4, 6, TINY_MODEL.latent_dim), np.float32),
                                       training=False)
    return mean


def _by_hand(model, latents, through_frames):
    """The rollout stepped here with the networks themselves: (predictions, fed back)."""
    state = model.predictor.initial_state(4)
    for k in range(CONTEXT):
        predicted, state = model.predictor.step(latents[:, k], state)
    predictions, fed_back = [predicted], []
    for _ in range(6 - CONTEXT - 1):
        if through_frames:  # decoded, then the encoder's mean of that frame
            frame = model.decoder(predicted, training=False)
            fed_back.append(model.encoder(frame, training=False)[0])
        else:
            fed_back.append(predicted)
        predicted, state = model.predictor.step(fed_back[-1], state)
        predictions.append(predicted)
    return np.stack(predictions, axis=1), np.stack(fed_back, axis=1)


def test_the_rollout_reads_the_context_then_only_its_own_predictions():
    model = _tiny_model("latent")
    latents = _latents(model)
    predicted, fed_back = latent_dynamics.latent_rollout(model, latents, CONTEXT)
    assert predicted.shape == (4, 6 - CONTEXT, TINY_MODEL.latent_dim)

    future_replaced = tf.concat([latents[:, :CONTEXT], 10.0 + latents[:, CONTEXT:]], axis=1)
    np.testing.assert_array_equal(
        latent_dynamics.latent_rollout(model, future_replaced, CONTEXT)[0], predicted)
    expected, expected_fed_back = _by_hand(model, latents, through_frames=False)
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fed_back, expected_fed_back, rtol=1e-5, atol=1e-6)


def test_frames_feedback_trains_the_rollout_that_generation_makes():
    model = _tiny_model("frames")
    videos = ball_videos(batch=4, frames=6, seed=1)
    latents = _latents(model, seed=1)
    predicted, _ = latent_dynamics.latent_rollout(model, latents, CONTEXT)
    np.testing.assert_allclose(predicted, _by_hand(model, latents, through_frames=True)[0],
                               rtol=1e-4, atol=1e-5)
    decoded = model.decode_latents(tf.reshape(predicted, (-1, TINY_MODEL.latent_dim)))
    generated = model.rollout(videos[:, :CONTEXT], 6 - CONTEXT)
    np.testing.assert_allclose(tf.reshape(decoded, generated.shape), generated, atol=1e-4)

    as_latents, _ = latent_dynamics.latent_rollout(_with_weights(model, "latent"), latents, CONTEXT)
    np.testing.assert_allclose(as_latents[:, 0], predicted[:, 0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(as_latents[:, 1:], predicted[:, 1:], atol=1e-4)


def _with_weights(model, feedback):
    """A model generating with `feedback`, with `model`'s networks."""
    other = _tiny_model(feedback)
    other.set_weights(model.get_weights())
    return other


def _started_tuning(model, options):
    """A HorizonTuning stage on 4 ball videos (training and validation), started on the
    TensorFlow backend."""
    videos = bouncing_balls.generate([example_rng(0, "train", i) for i in range(4)], 6, 2, 64).video
    config = Config(model=model.config, train=TrainConfig(context_frames=CONTEXT),
                    data=DataConfig(num_frames=6))
    horizon_tuning.compile_tuning_optimizers(model, options)
    stage = horizon_tuning.HorizonTuning(config, options, model, videos, {"video": videos})
    backend = backends.TensorFlowBackend(stage, distribution.tensorflow_devices())
    backend.start()
    stage.start(backend, log=lambda line: None)
    return stage, backend


def _validation_loss(stage):
    return float(stage._losses(stage.validation_latents)["loss"])


def _tune_steps(stage, backend, steps):
    for step in range(steps):
        backend.train_step(stage.batch(step), step)


def test_frames_feedback_tuning_lowers_the_loss_and_keeps_the_networks_frozen():
    model = _tiny_model("frames")
    frozen = [w.numpy() for w in model.encoder.weights + model.decoder.weights]
    stage, backend = _started_tuning(model, HorizonTuningConfig(
        learning_rate=1e-2, feedback="frames", manifold_weight=1.0, batch_size=4))
    first = _validation_loss(stage)
    _tune_steps(stage, backend, 30)
    assert _validation_loss(stage) < 0.7 * first
    for before, after in zip(frozen, model.encoder.weights + model.decoder.weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_the_manifold_term_is_the_gap_between_predictions_and_their_round_trips():
    model = _tiny_model("frames")
    latents = _latents(model)
    values = latent_dynamics.horizon_losses(model, latents, CONTEXT, first_frame_weight=2.0,
                                           manifold_weight=3.0)
    predicted, trips = _by_hand(model, latents, through_frames=True)
    gap = np.mean(np.square(trips - predicted[:, :-1]))
    assert gap > 0
    np.testing.assert_allclose(values["manifold"], gap, rtol=1e-4)
    np.testing.assert_allclose(values["loss"], float(np.mean(values["latent"])) + 2.0 * float(
        values["first_frame"]) + 3.0 * gap, rtol=1e-4)
    as_latents = latent_dynamics.horizon_losses(_with_weights(model, "latent"), latents, CONTEXT,
                                               2.0, manifold_weight=3.0)
    assert float(as_latents["manifold"]) == 0.0


def test_an_unknown_feedback_is_refused():
    with pytest.raises(ValueError, match="feedback must be one of latent, frames"):
        HorizonTuningConfig(feedback="pixels")
    with pytest.raises(ValueError, match="must be 0 or more"):
        HorizonTuningConfig(manifold_weight=-1.0)
    with pytest.raises(ValueError, match="applies to feedback 'frames' only"):
        HorizonTuningConfig(manifold_weight=1.0)


def test_tuning_lowers_the_loss_and_changes_the_predictor_alone():
    model = _tiny_model()
    frozen = {name: [w.numpy() for w in getattr(model, name).weights]
              for name in ("encoder", "decoder", "discriminator")}
    predictor_before = [w.numpy() for w in model.predictor.weights]
    stage, backend = _started_tuning(model, HorizonTuningConfig(learning_rate=1e-2, batch_size=4))
    first = _validation_loss(stage)
    _tune_steps(stage, backend, 30)
    assert _validation_loss(stage) < 0.7 * first

    for name, weights in frozen.items():  # BatchNorm's moving statistics included
        for before, after in zip(weights, getattr(model, name).weights):
            np.testing.assert_array_equal(before, after.numpy(), err_msg=name)
    assert any(not np.array_equal(b, a.numpy())
               for b, a in zip(predictor_before, model.predictor.weights))


def test_cosine_decay_takes_the_learning_rate_from_its_value_to_zero_over_the_steps():
    steps = 4
    stage, backend = _started_tuning(_tiny_model(), HorizonTuningConfig(
        learning_rate=1e-2, learning_rate_decay="cosine", steps=steps))
    optimizer = stage.model.g_optimizer
    rates = []
    for step in range(steps):
        rates.append(float(optimizer.learning_rate))
        backend.train_step(stage.batch(step), step)
    rates.append(float(optimizer.learning_rate))
    expected = [1e-2 * 0.5 * (1 + np.cos(np.pi * step / steps)) for step in range(steps + 1)]
    np.testing.assert_allclose(rates, expected, rtol=1e-5, atol=1e-9)

    constant, backend = _started_tuning(_tiny_model(), HorizonTuningConfig(learning_rate=1e-2))
    backend.train_step(constant.batch(0), 0)
    assert float(constant.model.g_optimizer.learning_rate) == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="learning_rate_decay must be one of constant, cosine"):
        HorizonTuningConfig(learning_rate_decay="linear")


def test_reverse_some_plays_half_the_sequences_backwards_and_leaves_the_rest():
    latents = np.random.default_rng(1).standard_normal((1000, 6, 3)).astype(np.float32)
    augmented = latent_dynamics.reverse_some(latents, np.random.default_rng(0))
    same = np.all(augmented == latents, axis=(1, 2))
    reversed_ = np.all(augmented == latents[:, ::-1], axis=(1, 2))
    assert np.all(same ^ reversed_)  # each sequence whole, one way or the other
    assert 0.45 < reversed_.mean() < 0.55
    again = latent_dynamics.reverse_some(latents, np.random.default_rng(0))
    np.testing.assert_array_equal(again, augmented)  # the draw is the generator's
    with pytest.raises(ValueError, match="augment must be one of none, reverse"):
        HorizonTuningConfig(augment="flip")


def test_the_loss_is_the_latent_mse_plus_the_weighted_first_frame_mse():
    model = _tiny_model()
    latents = _latents(model)
    without = latent_dynamics.horizon_losses(model, latents, CONTEXT, first_frame_weight=0.0)
    weighted = latent_dynamics.horizon_losses(model, latents, CONTEXT, first_frame_weight=5.0)
    predicted, _ = _by_hand(model, latents, through_frames=False)
    expected = np.mean(np.square(predicted - latents[:, CONTEXT:]), axis=(0, 2))
    np.testing.assert_allclose(without["latent"], expected, rtol=1e-5)
    np.testing.assert_allclose(without["loss"], expected.mean(), rtol=1e-5)
    first_frame = np.mean(np.square(model.decoder(predicted[:, 0], training=False)
                                    - model.decoder(latents[:, CONTEXT], training=False)))
    assert first_frame > 0
    np.testing.assert_allclose(weighted["first_frame"], first_frame, rtol=1e-4)
    np.testing.assert_allclose(weighted["loss"], expected.mean() + 5.0 * first_frame, rtol=1e-4)


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tf_deepgifs", *map(str, args)], env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A smoke training run (K = 2) on a built slice of 8 sequences per split."""
    data_dir = tmp_path_factory.mktemp("data")
    run_dir = tmp_path_factory.mktemp("runs") / "source"
    # The train command's main, in this process (tests/test_train.py starts it as users do).
    assert main(["train", "--preset", "smoke", *TINY_ARGS, "--data-dir", str(data_dir),
                 "--max-examples-per-split", "8", "--num-frames", "5", "--context-frames",
                 str(CONTEXT), "--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "2",
                 "--validation-steps", "1", "--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.mark.slow  # a training run, then tuning and evaluation in processes of their own
def test_tune_writes_a_run_that_evaluate_takes_with_the_source_encoder(source_run, tmp_path):
    tuned = tmp_path / "tuned"
    result = _run("tune", "--from-run", source_run, "--run-dir", tuned, "--steps", 4,
                  "--batch-size", 2, "--validate-every", 2, "--validation-sequences", 4,
                  "--encode-batch-size", 4)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Encoded 8 training and 4 validation sequences" in result.stdout

    source_config = json.loads((source_run / "config.json").read_text())
    tuned_config = json.loads((tuned / "config.json").read_text())
    assert source_config["model"].pop("generation_feedback") == "frames"
    assert tuned_config["model"].pop("generation_feedback") == "latent"  # as it was tuned
    assert tuned_config == source_config
    record = json.loads((tuned / horizon_tuning.TUNING_FILE).read_text())
    assert record["steps"] == 4 and record["source_run"] == str(source_run)
    validations = [json.loads(line) for line in (tuned / "logs" / "history.jsonl").open()
                   if json.loads(line)["split"] == "validation"]
    assert [v["step"] for v in validations] == [0, 2, 4]  # step 0: the source networks
    assert all(0 <= v["right_count"] <= 1 and v["centre_error"] >= 0 for v in validations)
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
                     "--limit", 4, "--samples", 0, "--strips", 0, "--batch-size", 4,
                     "--long-frames", 8, "--long-sequences", 2)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    report = json.loads((tuned / "evaluation" / "report.json").read_text())
    assert report["weights"] == str(tuned / "best.keras") and report["sequences"] == 4
    # The evaluation measured the tuned networks generating as tuned (from their latents),
    # not the source's: its MSE per frame is the tuned model's own rollout's.
    config = Config.from_dict(json.loads((tuned / "config.json").read_text()))
    test = arrays.load(config.data, "test", 4, lambda line: None)["video"]
    videos = pixels.from_uint8(test)
    generated = np.asarray(result_model.rollout(videos[:, :CONTEXT], videos.shape[1] - CONTEXT))
    mse = np.mean(np.square(generated - videos[:, CONTEXT:]), axis=(0, 2, 3, 4))
    np.testing.assert_allclose(report["curves"]["model"]["mse"]["mean"], mse, rtol=1e-4, atol=1e-6)


def _tune_here(*args):
    """`python -m tf_deepgifs tune ...` run by its `main` in this process: its exit status."""
    return main(["tune", *map(str, args)])


@pytest.mark.slow  # a training run, then tuning
def test_a_tuned_run_tunes_again_with_frames_feedback(source_run, tmp_path, capsys):
    common = ("--steps", 2, "--batch-size", 2, "--validate-every", 2,
              "--validation-sequences", 4, "--encode-batch-size", 4)
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert _tune_here("--from-run", source_run, "--run-dir", once, *common) == 0
    assert _tune_here("--from-run", once, "--weights", once / "best.keras", "--run-dir", twice,
                      "--feedback", "frames", "--manifold-weight", 1, *common) == 0
    record = json.loads((twice / horizon_tuning.TUNING_FILE).read_text())
    assert record["feedback"] == "frames" and record["manifold_weight"] == 1.0
    assert record["source_run"] == str(once)
    validations = [json.loads(line) for line in (twice / "logs" / "history.jsonl").open()
                   if json.loads(line)["split"] == "validation"]
    assert validations and all(v["manifold"] > 0 for v in validations)
    assert json.loads((twice / "config.json").read_text()) == json.loads(
        (source_run / "config.json").read_text())

    capsys.readouterr()
    assert _tune_here("--from-run", once, "--run-dir", tmp_path / "thrice",
                      "--feedback", "pixels") == 2
    refused = capsys.readouterr().err
    assert refused.startswith("error: ") and refused.count("\n") == 1
    assert "feedback must be one of latent, frames" in refused
    assert not (tmp_path / "thrice").exists()


@pytest.mark.slow  # a training run, then tuning
def test_selecting_on_balls_keeps_the_closest_balls_that_kept_the_source_count(source_run,
                                                                              tmp_path, capsys):
    tuned = tmp_path / "balls"
    assert _tune_here("--from-run", source_run, "--run-dir", tuned, "--steps", 4,
                      "--batch-size", 2, "--validate-every", 1, "--validation-sequences", 4,
                      "--encode-batch-size", 4, "--select-on", "balls", "--learning-rate", 0.05) == 0
    printed = capsys.readouterr().out
    assert "right count" in printed
    validations = [json.loads(line) for line in (tuned / "logs" / "history.jsonl").open()
                   if json.loads(line)["split"] == "validation"]
    # The count to keep is the source's as the source run generates (through frames); the
    # tuned run generates from latents, step 0 included.
    import keras
    source = keras.saving.load_model(source_run / "model.keras")
    assert source.config.generation_feedback == "frames"
    config = run_directory.read_run(source_run)[0]
    validation = arrays.load(config.data, "validation", 4)
    balls = (validation["positions"], float(validation["radius"][0]))
    least = tuning_validation.validation_scores(
        lambda batch: source(pixels.from_uint8(batch)).numpy(), validation["video"], CONTEXT, 4,
        balls)["right_count"]
    assert f"right count {least:.2%}, the least a selected step must keep" in printed
    for v in validations:
        expected = v["centre_error"] if v["right_count"] >= least else float("inf")
        assert v["balls"] == expected
    best = json.loads((tuned / "best.json").read_text())
    assert best["balls"] == min(v["balls"] for v in validations)
    assert best["step"] == min((v["balls"], v["step"]) for v in validations)[1]


class _Interrupted(Exception):
    """Stands in for a kill: raised from the log, between a validation and its checkpoint."""


def _history(run_dir):
    lines = [json.loads(line) for line in (run_dir / "logs" / "history.jsonl").open()]
    return [{k: v for k, v in line.items() if k != "seconds"} for line in lines]


@pytest.mark.slow  # a training run, then tuning
def test_an_interrupted_tuning_resumes_and_ends_as_an_uninterrupted_one(source_run, tmp_path):
    import keras

    options = HorizonTuningConfig(
        steps=6, batch_size=2, validate_every=2, validation_sequences=4, encode_batch_size=4,
        learning_rate=0.05, learning_rate_decay="cosine", select_on="balls", augment="reverse")
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    horizon_tuning.tune(source_run, whole, options, log=lambda line: None)

    def killed_at_step_4(line):
        if line.lstrip().startswith("step 4:"):  # its validation is written; its checkpoint is not
            raise _Interrupted
    with pytest.raises(_Interrupted):
        horizon_tuning.tune(source_run, resumed, options, log=killed_at_step_4)
    assert not (resumed / "model.keras").exists()
    (resumed / "checkpoints" / "partial_5.weights.h5").write_bytes(b"half of a file")
    with pytest.raises(UserError, match="unfinished tuning of other networks or options"):
        horizon_tuning.tune(source_run, resumed, dataclasses.replace(options, steps=8))

    logged = []
    horizon_tuning.tune(source_run, resumed, options, log=logged.append)
    assert any(line.startswith("Resuming") and "at step 2 of 6" in line for line in logged)
    assert not any(line.lstrip().startswith("step 2:") for line in logged)
    assert not list((resumed / "checkpoints").glob("partial_*"))
    assert _history(resumed) == _history(whole)
    assert [line["step"] for line in _history(resumed) if line["split"] == "validation"] == [0, 2, 4, 6]
    assert json.loads((resumed / "best.json").read_text()) == json.loads((whole / "best.json").read_text())
    for one, other in zip(*(keras.saving.load_model(run / "model.keras").predictor.weights
                            for run in (whole, resumed))):
        np.testing.assert_allclose(one.numpy(), other.numpy(), rtol=1e-6, atol=1e-7)
    with pytest.raises(UserError, match="already holds a run"):
        horizon_tuning.tune(source_run, resumed, options)


@pytest.mark.slow  # a training run first
def test_selecting_on_balls_without_positions_is_refused_before_the_run_exists(
        source_run, tmp_path, monkeypatch):
    videos_only = {"video": np.zeros((4, 5, 64, 64, 1), np.uint8)}
    monkeypatch.setattr(arrays, "load", lambda *args, **kwargs: videos_only)
    with pytest.raises(UserError, match="--select-on balls needs the balls' true positions"):
        horizon_tuning.tune(source_run, tmp_path / "tuned", HorizonTuningConfig(select_on="balls"))
    assert not (tmp_path / "tuned").exists()


def test_validation_scores_measure_the_generated_balls_against_the_truth():
    rngs = [example_rng(3, "train", i) for i in range(4)]
    truth = bouncing_balls.generate(rngs, 6, 2, 64)
    balls = (truth.positions, float(truth.radius))

    def copied(videos):
        return pixels.from_uint8(videos[:, CONTEXT:])

    exact = tuning_validation.validation_scores(copied, truth.video, CONTEXT, 2, balls)
    assert exact["rollout"] == 0 and exact["right_count"] == 1
    assert exact["centre_error"] < 0.5 and exact["plausible"] == 1
    # balls faded below half intensity are no balls to the unsplit regions
    faded = tuning_validation.validation_scores(
        lambda v: 0.4 * copied(v), truth.video, CONTEXT, 2, balls)
    assert faded["plausible"] == 0

    shifted = tuning_validation.validation_scores(
        lambda v: np.roll(copied(v), 3, axis=3), truth.video, CONTEXT, 2, balls)
    assert shifted["rollout"] > 0
    assert 2.5 < shifted["centre_error"] < 3.5
    assert "centre_error" not in tuning_validation.validation_scores(copied, truth.video, CONTEXT, 2)


def test_the_ball_score_is_the_centre_error_while_the_count_holds():
    scores = {"centre_error": 2.5, "right_count": 0.98}
    assert tuning_validation.ball_selection_score(scores, 0.98) == 2.5
    assert tuning_validation.ball_selection_score(scores, 0.981) == float("inf")
    nothing_found = {"centre_error": float("nan"), "right_count": 0.0}
    assert tuning_validation.ball_selection_score(nothing_found, 0.0) == float("inf")


@pytest.mark.parametrize("target, message", [
    ("source", "must be a new directory"),
    ("missing", "is not a run directory"),
])
@pytest.mark.slow  # a training run first
def test_tune_refuses_the_source_as_target_and_a_missing_run(source_run, tmp_path, target,
                                                             message, capsys):
    from_run = source_run if target == "source" else tmp_path / "nowhere"
    assert _tune_here("--from-run", from_run, "--run-dir", source_run) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
