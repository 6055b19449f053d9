"""`make train`'s default run, the staged method (`training/staged_training.py`), at a toy
size: each stage gets what it needs from the one before, and the run is one that
evaluate, export and tune take."""

import json

import numpy as np
import pytest

from tests.tiny import TINY_ARGS
from tf_deepgifs import cli
from tf_deepgifs.config import DEFAULT_PRESET, PRESETS, Config
from tf_deepgifs.data import arrays, pixels
from tf_deepgifs.training import staged_training
from tf_deepgifs.runs import run_directory

pytestmark = pytest.mark.slow  # trains three stages and builds a dataset slice

SEQUENCES = 8
TINY_STAGES = ["--num-frames", "6", "--max-examples-per-split", str(SEQUENCES),
               "--autoencoder-steps", "4", "--autoencoder-batch-size", "4",
               "--autoencoder-validate-every", "2", "--autoencoder-validation-batch-size", "4",
               "--dynamics-steps", "3", "--dynamics-batch-size", "2",
               "--dynamics-validate-every", "3", "--dynamics-validation-sequences", "4",
               "--dynamics-encode-batch-size", "4", "--dynamics-first-frame-sequences", "1",
               "--dynamics-training-sequences", str(SEQUENCES),
               "--finetune-steps", "2", "--finetune-batch-size", "2", "--finetune-validate-every", "1"]


@pytest.fixture(scope="module")
def staged_run(tmp_path_factory):
    """`train` with no --preset (what `make train` runs), shrunk, and the log it wrote."""
    root = tmp_path_factory.mktemp("staged")
    data_dir, run_dir = root / "data", root / "run"
    assert cli.main(["data", "--data-dir", str(data_dir), "--max-examples-per-split",
                     str(SEQUENCES)]) == 0
    assert cli.main(["train", *TINY_ARGS, *TINY_STAGES, "--data-dir", str(data_dir),
                     "--run-dir", str(run_dir)]) == 0
    return run_dir, data_dir


def _config(run_dir):
    return Config.from_dict(json.loads((run_dir / "config.json").read_text()))


def test_the_default_preset_is_the_staged_method_of_the_papers_model():
    staged = PRESETS[DEFAULT_PRESET]
    assert DEFAULT_PRESET == "staged" and staged.train.method == "staged"
    assert staged.train.context_frames == PRESETS["paper"].train.context_frames == 1
    assert PRESETS["paper"].train.method == "joint"  # `make train PRESET=paper` stays joint


def test_the_autoencoder_stage_hands_the_dynamics_its_networks_and_latent_statistics(staged_run):
    run_dir, data_dir = staged_run
    ae_dir = run_dir / staged_training.AUTOENCODER_DIR
    dynamics_dir = run_dir / staged_training.DYNAMICS_DIR
    config = _config(run_dir)
    assert (config.train.method, _config(ae_dir).train.method) == ("staged", "staged")
    autoencoder = run_directory.load_model(config, str(ae_dir / "model.keras"))
    trained = run_directory.load_model(config, str(dynamics_dir / "model.keras"))
    for frozen in ("encoder", "decoder"):
        for before, after in zip(getattr(autoencoder, frozen).weights,
                                 getattr(trained, frozen).weights):
            np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(before, after) for before, after in
               zip(autoencoder.predictor.trainable_weights, trained.predictor.trainable_weights))
    # The statistics the dynamics normalise by are the autoencoder's latents' on the
    # training frames, and the dynamics keep them.
    videos = arrays.load(config.data, "train", SEQUENCES, lambda line: None)["video"]
    frames = pixels.to_network_range(pixels.from_uint8(videos.reshape((-1, 64, 64, 1))))
    means = np.asarray(autoencoder.encoder(frames, training=False)[0])
    np.testing.assert_allclose(trained.predictor.latent_mean, means.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(trained.predictor.latent_std, means.std(0), rtol=1e-4, atol=1e-5)
    tuning = json.loads((dynamics_dir / "tuning.json").read_text())
    assert tuning["source_weights"] == str(ae_dir / "model.keras")
    assert tuning["feedback"] == PRESETS["staged"].dynamics.feedback
    del data_dir


def test_the_finetune_trains_all_four_networks_from_the_dynamics_selected_ones(staged_run):
    run_dir, _ = staged_run
    dynamics_dir = run_dir / staged_training.DYNAMICS_DIR
    config = _config(run_dir)
    record = json.loads((run_dir / staged_training.FINETUNE_FILE).read_text())
    assert record["source_weights"] == str(dynamics_dir / "best.keras")
    assert record["steps"] == config.finetune.steps == 2
    source = run_directory.load_model(config, str(dynamics_dir / "best.keras"))
    finetuned = run_directory.load_model(config, str(run_dir / "model.keras"))
    for network in ("encoder", "decoder", "predictor", "discriminator"):
        assert any(not np.array_equal(before, after) for before, after in zip(
            getattr(source, network).trainable_weights, getattr(finetuned, network).trainable_weights)), network
    np.testing.assert_array_equal(finetuned.predictor.latent_mean, source.predictor.latent_mean)


def test_the_finetune_keeps_its_most_plausible_validation(staged_run):
    run_dir, _ = staged_run
    lines = [json.loads(line) for line in (run_dir / "logs" / "history.jsonl").read_text().splitlines()]
    validations = [line for line in lines if line["split"] == "validation"]
    assert [line["step"] for line in validations] == [0, 1, 2]
    best = json.loads((run_dir / "best.json").read_text())
    least = min(line["implausible"] for line in validations)
    first = next(line for line in validations if line["implausible"] == least)
    assert (best["step"], best["implausible"]) == (first["step"], 1 - first["plausible"])


def test_the_run_generates_as_the_papers_model_and_logs_each_stage(staged_run):
    run_dir, _ = staged_run
    config = _config(run_dir)
    assert config.train.context_frames == 1 and config.model.generation_feedback == "frames"
    for folder, measure in ((run_dir / staged_training.AUTOENCODER_DIR, "region_centre_error"),
                            (run_dir / staged_training.DYNAMICS_DIR, "right_count"),
                            (run_dir, "plausible")):
        lines = [json.loads(line) for line in
                 (folder / "logs" / "history.jsonl").read_text().splitlines()]
        validations = [line for line in lines if line["split"] == "validation"]
        assert validations and all(measure in line and line["seconds"] > 0
                                   for line in validations)
        assert (folder / "best.json").exists() and (folder / "best.keras").exists()


def test_run_again_the_finished_stages_are_kept(staged_run, capsys):
    run_dir, data_dir = staged_run
    before = (run_dir / "model.keras").stat().st_mtime_ns
    autoencoder = (run_dir / staged_training.AUTOENCODER_DIR / "model.keras").stat().st_mtime_ns
    assert cli.main(["train", *TINY_ARGS, *TINY_STAGES, "--data-dir", str(data_dir),
                     "--run-dir", str(run_dir)]) == 0
    shown = capsys.readouterr().out
    assert "Stage 1 of 3" not in shown and "has finished all 2 steps already" in shown
    assert (run_dir / staged_training.AUTOENCODER_DIR / "model.keras").stat().st_mtime_ns == autoencoder
    assert (run_dir / "model.keras").stat().st_mtime_ns >= before


def test_the_progress_line_counts_the_whole_run_and_the_time_left():
    shown = []
    progress = staged_training.WholeRunProgress(
        [("autoencoder", 10, 1.0), ("encoding", 1, 5.0), ("dynamics", 5, 2.0)], shown.append)
    progress.stage("autoencoder").update(5, {"loss": 0.5})
    progress.stage("dynamics").update(5, {"loss": 0.1})
    assert "autoencoder step 5/10" in shown[0] and "whole run 20%" in shown[0]
    assert "dynamics step 5/5" in shown[1] and "whole run 100%" in shown[1]
    assert "min left" in shown[1]
