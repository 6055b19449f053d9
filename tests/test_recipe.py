"""`make reproduce` (results/reproduce.py, results/recipe.toml): the published models
remade from nothing, here at a toy size, into a temporary folder only."""

import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tomllib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
SHIPPED = ("RESULTS.md", "pretrained")

pytestmark = pytest.mark.slow  # every stage in a process of its own


def _reproduce(*arguments):
    return subprocess.run([sys.executable, "results/reproduce.py", *map(str, arguments)],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900)


def _fingerprint():
    """A hash of what the repository ships, which the test run must not touch."""
    digest = hashlib.sha256()
    for name in SHIPPED:
        path = REPO / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(REPO)).encode() + file.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    before = _fingerprint()
    result = _reproduce("--tiny", "--runs", root / "runs", "--out", root / "out")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _fingerprint() == before, "the tiny recipe wrote into the repository"
    return root / "runs", root / "out", result.stdout


def test_every_stage_ran_in_order_and_is_recorded_with_its_time(recipe_run):
    runs, _, _ = recipe_run
    recipe = tomllib.loads((REPO / "results" / "recipe.toml").read_text())
    stages = json.loads((runs / "stages.json").read_text())
    assert list(stages) == [stage["name"] for stage in recipe["stage"]]
    for stage in stages.values():
        assert stage["seconds"] > 0 and stage["machine"]["backend"] == "tensorflow"


def test_each_stage_hands_the_next_what_it_needs(recipe_run):
    runs, out, _ = recipe_run
    paper = json.loads((runs / "paper" / "config.json").read_text())
    improved = json.loads((runs / "improved" / "config.json").read_text())
    assert paper["preset"] == "paper" and paper["train"]["context_frames"] == 1
    assert improved["preset"] == "improved" and improved["train"]["context_frames"] == 3
    assert improved["train"]["init_weights"] == str(runs / "paper" / "model.keras")
    tuning = json.loads((runs / "improved-tuned" / "tuning.json").read_text())
    assert (tuning["source_run"], tuning["source_weights"]) == (
        str(runs / "improved"), str(runs / "improved" / "best.keras"))
    assert tuning["select_on"] == "balls"
    tuned = json.loads((runs / "improved-tuned" / "config.json").read_text())
    assert tuned["model"]["generation_feedback"] == "latent"
    stochastic = json.loads((runs / "stochastic" / "tuning.json").read_text())
    assert (stochastic["source_weights"], stochastic["select_on"]) == (
        str(runs / "paper" / "model.keras"), "loss")
    mixture = json.loads((runs / "stochastic" / "config.json").read_text())["model"]
    assert mixture["mixture_components"] == stochastic["mixture_components"] > 0
    digits = json.loads((runs / "digits" / "config.json").read_text())
    assert digits["data"]["dataset"] == "moving_sklearn_digits"
    assert digits["train"]["context_frames"] == 3
    for run, weights in (("paper", "model.keras"), ("improved-tuned", "best.keras"),
                         ("stochastic", "best.keras"), ("digits", "best.keras")):
        report = json.loads((runs / run / "evaluation" / "report.json").read_text())
        assert report["weights"] == str(runs / run / weights)
        verification = json.loads((runs / run / "export" / "verification.json").read_text())
        assert verification["passed"] and verification["weights"] == str(runs / run / weights)
    stochastic_report = json.loads((runs / "stochastic" / "evaluation" / "report.json").read_text())
    assert {"ideal_best_of_2", "ideal_samples"} <= set(stochastic_report["curves"])
    for folder, run in (("bouncing_balls-paper", "paper"), ("bouncing_balls-improved", "improved-tuned"),
                        ("bouncing_balls-stochastic", "stochastic"),
                        ("moving_sklearn_digits-improved", "digits")):
        published = out / "pretrained" / folder / "generator.onnx"
        assert published.read_bytes() == (runs / run / "export" / "generator.onnx").read_bytes()
    text = (out / "RESULTS.md").read_text()
    assert "## How long each stage of the recipe took" in text
    before_publishing = list(json.loads((runs / "stages.json").read_text()))[:-1]
    assert all(f"| {name} |" in text for name in before_publishing)  # publish writes the file
    assert (out / "results" / "training_curves.png").stat().st_size > 0
    for section in ("## Futures that differ: the stochastic model", "## Moving digits"):
        assert section in text
    for figure in ("stochastic_samples.png", "digits_strips.png", "digits_identity.png"):
        assert (out / "results" / figure).stat().st_size > 0


def test_run_again_it_goes_on_where_it_stopped(recipe_run):
    runs, out, _ = recipe_run
    again = _reproduce("--tiny", "--runs", runs, "--out", out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "==" not in again.stdout  # every stage had finished: none runs again


def test_an_unknown_stage_is_one_clear_line(tmp_path):
    result = _reproduce("--stages", "paper,dessert", "--runs", tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: No stage dessert in") and result.stderr.count("\n") == 1
