"""The page (web/, `make web`) in a real browser: headless Chromium, driven by
puppeteer-core (web/drive.mjs), generates what Python's ONNX Runtime generates."""

import base64
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import TINY_RUN_CONFIG, write_tiny_run
from tf_deepgifs_export import exporter, generate, quantize, verify
from tf_deepgifs_export.generate import Generator

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "web"))
import serve  # noqa: E402  (web/serve.py)

pytestmark = pytest.mark.slow  # a browser and a server in processes of their own

REPO = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHIPPED_PAPER = next(p for p in (REPO / "pretrained" / "bouncing_balls-paper" / name
                                 for name in ("generator.onnx", "generator_fixed.onnx"))
                     if p.exists())
ONE_GREY_LEVEL = 1 / 255


def _needs_a_browser():
    missing = [what for what, there in (
        ("Chromium (Debian's chromium package)", shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)),
        ("web/node_modules (make web-deps)", (REPO / "web" / "node_modules" / "puppeteer-core").is_dir()),
        ("node", shutil.which("node"))) if not there]
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI must have {', '.join(missing)}: .ci/run and make test install them.")
    if missing:
        pytest.skip(f"no {', '.join(missing)} here; .ci/run and make test install them.")


@pytest.fixture(scope="module")
def site(exported_run, tmp_path_factory):
    """The page served (web/serve.py) with test files at /extra/: the tiny K = 2 run's
    export (frames fed back), a K = 3 export that feeds back its latents and draws them
    from a mixture (its noise is wider than a latent), not a model."""
    _needs_a_browser()
    extra = tmp_path_factory.mktemp("extra")
    shutil.copy(exported_run[0] / "export" / "generator.onnx", extra / "k2.onnx")
    k3 = extra / "k3_run"
    config = dataclasses.replace(
        TINY_RUN_CONFIG, train=dataclasses.replace(TINY_RUN_CONFIG.train, context_frames=3),
        model=dataclasses.replace(TINY_RUN_CONFIG.model, generation_feedback="latent",
                                  mixture_components=3))
    write_tiny_run(k3, config)
    export = exporter.export_run(k3, log=lambda line: None)  # as `tf_deepgifs export` does
    shutil.copy(export / "generator.onnx", extra / "k3.onnx")
    metadata = exporter.properties_as_values(Generator(str(extra / "k2.onnx")).metadata)
    seeds, _ = verify.verification_inputs(metadata, 8, 1)
    quantize.quantize(extra / "k2.onnx", extra / "k2_int8.onnx", seeds, 4)
    (extra / "not_a_model.onnx").write_text("a text file, not a model")
    with serve.in_background(extra) as base:
        yield base, extra


CASES = {
    "shipped": f"model={SHIPPED_PAPER.relative_to(REPO)}&seed=pretrained/seeds/balls.png&frames=19&deterministic=1",
    "k3_gif": "model=extra/k3.onnx&seed=pretrained/seeds/balls.gif&frames=12&deterministic=1",
    "k2_samples": "model=extra/k2.onnx&seed=pretrained/seeds/balls.gif&frames=6&samples=2&deterministic=1",
    "int8": "model=extra/k2_int8.onnx&seed=pretrained/seeds/balls.gif&frames=6&deterministic=1",
    "first_load": "",
    "sampled": "model=extra/k2.onnx&seed=pretrained/seeds/balls.gif&frames=6&samples=3",
    "k3_sampled": "model=extra/k3.onnx&seed=pretrained/seeds/balls.gif&frames=8&samples=3",
    "not_a_model": "model=extra/not_a_model.onnx&seed=pretrained/seeds/balls.png&frames=4",
    "too_few_frames": "model=extra/k3.onnx&seed=pretrained/seeds/balls.png&frames=4",
    "not_an_image": "model=extra/k2.onnx&seed=extra/not_a_model.onnx&frames=4",
}


@pytest.fixture(scope="module")
def pages(site, tmp_path_factory):
    """Every case's page, loaded in one headless Chromium: {case: its record}."""
    base, _ = site
    out = tmp_path_factory.mktemp("browser") / "pages.json"
    urls = [f"{base}?{q}" if q else base for q in CASES.values()]
    result = subprocess.run(["node", "web/drive.mjs", str(out), *urls],
                            cwd=REPO, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, CHROMIUM=CHROMIUM))
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(zip(CASES, json.loads(out.read_text())))


def _frames(record):
    data = np.frombuffer(base64.b64decode(record["frames"]), np.float32)
    return data.reshape(record["shape"])


def _python(model, seeds, frames, samples=1):
    """What the Python runner generates: the zero-noise rollout of the seed files."""
    generator = Generator(str(model))
    seed = generate.load_seed([str(REPO / s) for s in seeds], generator, set())
    return generator.generate(seed, frames, samples)


def test_the_shipped_generator_runs_in_the_page_as_in_python(pages):
    record = pages["shipped"]
    assert record["status"] == "done", record
    assert record["shape"] == [1, 19, 64, 64, 1] and record["gif"]
    expected = _python(SHIPPED_PAPER, ["pretrained/seeds/balls.png"], 19)
    assert np.abs(_frames(record) - expected).max() <= ONE_GREY_LEVEL


def test_a_k3_model_reads_the_first_three_frames_of_a_gif_seed(pages, site):
    record = pages["k3_gif"]
    assert record["status"] == "done", record
    assert record["message"].startswith("3 seed + 12 generated frames")
    expected = _python(site[1] / "k3.onnx", ["pretrained/seeds/balls.gif"], 12)
    assert np.abs(_frames(record) - expected).max() <= ONE_GREY_LEVEL


def test_samples_side_by_side_and_the_noise_reaches_them(pages, site):
    deterministic = _frames(pages["k2_samples"])
    expected = _python(site[1] / "k2.onnx", ["pretrained/seeds/balls.gif"], 6, samples=2)
    assert deterministic.shape == (2, 6, 64, 64, 1)
    assert np.abs(deterministic - expected).max() <= ONE_GREY_LEVEL
    sampled = _frames(pages["sampled"])
    assert sampled.shape == (3, 6, 64, 64, 1)
    assert np.abs(sampled[0] - sampled[1]).max() > 1e-3, "each sample has its own noise"
    mixture = _frames(pages["k3_sampled"])
    assert mixture.shape == (3, 8, 64, 64, 1)
    assert Generator(str(site[1] / "k3.onnx")).noise_dim == TINY_RUN_CONFIG.model.latent_dim + 3
    assert np.abs(mixture[0] - mixture[1]).max() > 1e-2, "the mixture's components differ"


def test_the_8_bit_file_runs_in_the_page_as_in_python(pages, site):
    record = pages["int8"]
    assert record["status"] == "done", record
    expected = _python(site[1] / "k2_int8.onnx", ["pretrained/seeds/balls.gif"], 6)
    # onnxruntime-web and ONNX Runtime's CPU kernels round 8-bit arithmetic differently:
    # the page keeps to the bound export holds an 8-bit file to, at every frame.
    per_frame = np.abs(_frames(record) - expected).mean(axis=(0, 2, 3, 4))
    assert per_frame.max() <= verify.SMALLER_FIRST_FRAME_TOLERANCE, per_frame


def test_the_form_shows_the_address_it_was_opened_with(pages, site):
    # A shipped seed is chosen among the offered ones; a model not offered is added.
    assert pages["k2_samples"]["form"] == {
        "model": "extra/k2.onnx", "seed": f"{site[0]}pretrained/seeds/balls.gif", "frames": "6",
        "samples": "2", "noise-seed": "0", "deterministic": True}
    assert pages["sampled"]["form"]["deterministic"] is False


def test_the_page_generates_on_first_load_with_the_first_shipped_model_and_seed(pages, site):
    record = pages["first_load"]
    assert record["status"] == "done", record
    assert record["shape"] == [1, 19, 64, 64, 1] and record["gif"]
    assert record["form"]["model"] == f"{site[0]}pretrained/{SHIPPED_PAPER.parent.name}/{SHIPPED_PAPER.name}"
    assert record["form"]["seed"] == f"{site[0]}pretrained/seeds/balls.png"
    assert 0 < record["settledMs"]


@pytest.mark.parametrize("case, message", [
    ("not_a_model", "extra/not_a_model.onnx is not an ONNX model"),
    ("too_few_frames", "The model needs 3 seed frames, and the seed gave 1"),
    ("not_an_image", "extra/not_a_model.onnx is not an image or GIF the page can read."),
])
def test_bad_input_is_one_clear_message_in_the_page(pages, case, message):
    record = pages[case]
    assert record["status"] == "error" and record["message"].startswith(message), record
    assert record["frames"] is None
