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
from tf_deepgifs.data import bouncing_balls
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
# What the page loads by default: a folder's 8-bit file where it ships one (web/app.js)
DEFAULT_PAPER = next(p for p in (REPO / "pretrained" / "bouncing_balls-paper" / name
                                 for name in ("generator_int8.onnx", "generator.onnx",
                                              "generator_fixed.onnx"))
                     if p.exists())
ONE_GREY_LEVEL = 1 / 255
DRAWN_BALLS = "8.5,20,-3,0.5;40,44,0,2"  # row,col,drow,dcol per ball, 64 x 64 pixels


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
    quantize.quantize(extra / "k2.onnx", extra / "k2_int8.onnx")
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
    # drawn seeds: by the address (the first ball bounces off the top wall within the seed)
    "drawn": f"model=extra/k3.onnx&seed=drawn&balls={DRAWN_BALLS}&frames=5&deterministic=1",
    "drawn_overlap": "model=extra/k3.onnx&seed=drawn&balls=20,20,0,1;24,20,0,1&frames=4",
    "drawn_too_few": "model=extra/k3.onnx&seed=drawn&balls=20,20,0,1&frames=4",
    "drawn_still": "model=extra/k3.onnx&seed=drawn&balls=20,20,0,0;40,40,0,0&frames=4",
    # and with the mouse (CSS pixels on the 256-pixel canvas): two balls pressed and dragged
    "drawn_by_mouse": "model=extra/k3.onnx&seed=pretrained/seeds/balls.gif&frames=4"
                      "&deterministic=1#actions=drag:60,50,100,20;drag:180,170,170,200;generate",
    "mouse_overlap": "#actions=drag:60,50,100,20;drag:105,50,105,50",  # 45 px: under 2 radii
    "mouse_third_ball": "#actions=drag:60,50,60,50;drag:180,170,180,170;drag:60,180,60,180",
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


def _frames(record, key="frames"):
    data = np.frombuffer(base64.b64decode(record[key]), np.float32)
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
    assert record["form"]["model"] == f"{site[0]}pretrained/{DEFAULT_PAPER.parent.name}/{DEFAULT_PAPER.name}"
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


def _drawn_seed(positions, directions, frames, size=64):
    """The dataset's frames (K, size, size, 1) in [0, 1] from a drawn start in units,
    its velocities held to the dataset's speed as the page holds them."""
    directions = np.asarray(directions, np.float64)
    velocities = directions * bouncing_balls.BallPhysics().speed_norm / np.linalg.norm(directions)
    states, _ = bouncing_balls.simulate(np.asarray(positions)[None], velocities[None], frames)
    return bouncing_balls.to_uint8(bouncing_balls.render(states[0], size))[..., None] / 255


def test_a_drawn_seed_is_the_datasets_frames_and_the_model_continues_it(pages, site):
    record = pages["drawn"]
    assert record["status"] == "done", record
    balls = np.array([b.split(",") for b in DRAWN_BALLS.split(";")], np.float64)
    units = bouncing_balls.to_units(balls[:, :2], 64)
    seed = _drawn_seed(units, balls[:, 2:], 3)
    _, velocities = bouncing_balls.simulate(units[None], balls[None, :, 2:], 3)
    assert velocities[0, 0, 0, 0] < 0 < velocities[0, 2, 0, 0], "the seed holds a bounce"
    page_seed = _frames(dict(record, shape=list(seed.shape)), "seed")
    assert np.abs(page_seed - seed).max() <= ONE_GREY_LEVEL
    expected = Generator(str(site[1] / "k3.onnx")).generate(seed.astype(np.float32), 5)
    assert np.abs(_frames(record) - expected).max() <= ONE_GREY_LEVEL


def test_balls_pressed_and_dragged_on_the_canvas_are_the_seed(pages):
    record = pages["drawn_by_mouse"]
    assert record["status"] == "done", record
    per_unit = record["canvas"] / bouncing_balls.BallPhysics().box_size
    presses = np.array([[50, 60], [170, 180]]) / per_unit  # (row, col) from (x, y)
    drags = np.array([[20 - 50, 100 - 60], [200 - 170, 170 - 180]], np.float64)
    start = {key: np.array(value) for key, value in record["drawnStart"].items()}
    assert np.abs(start["positions"] - presses).max() < 1 / per_unit  # within a CSS pixel
    speed = bouncing_balls.BallPhysics().speed_norm
    np.testing.assert_allclose(start["velocities"], drags * speed / np.linalg.norm(drags), atol=0.03)
    seed = _drawn_seed(start["positions"], start["velocities"], 3)
    assert np.abs(_frames(dict(record, shape=list(seed.shape)), "seed") - seed).max() <= ONE_GREY_LEVEL


@pytest.mark.parametrize("case, status, message", [
    ("drawn_overlap", "error", "A ball there would overlap another"),
    ("drawn_too_few", "error", "Place 2 balls on the canvas (1 placed)."),
    ("drawn_still", "error", "Drag a ball to give it a velocity: this model reads 3 seed frames."),
    ("mouse_overlap", "refused", "A ball there would overlap another"),
    ("mouse_third_ball", "refused", "This model's dataset has 2 balls"),
])
def test_a_drawing_the_dataset_would_not_make_is_refused_with_a_message(pages, case, status, message):
    record = pages[case]
    assert record["status"] == status and record["message"].startswith(message), record
