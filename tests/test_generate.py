"""The deploy-side runner: seed images to a GIF with ONNX Runtime alone."""

import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from tf_deepgifs_export import contract, generate
from tf_deepgifs_export.generate import Generator, GeneratorError
from tests.conftest import ENV, REPO
from tf_deepgifs.data import bouncing_balls, splits

# Commands in processes of their own, or runs of seconds: the whole suite only.
pytestmark = pytest.mark.slow

# Modules the runner must never import: made unimportable in its process.
FORBIDDEN = ("tensorflow", "keras", "tf_deepgifs", "tf2onnx", "tensorflow_datasets")


@pytest.fixture(scope="module")
def model_path(exported_run):
    return str(exported_run[0] / contract.EXPORT_DIR / contract.ONNX_FILE)


@pytest.fixture(scope="module")
def seed_images(tmp_path_factory):
    """Two PNGs of a Bouncing Balls sequence's first frames, and a GIF of its 5 frames."""
    folder = tmp_path_factory.mktemp("seeds")
    video = bouncing_balls.generate([splits.example_rng(0, "test", 0)], 5, 2, 64).video[0, ..., 0]
    paths = [folder / "first.png", folder / "second.png"]
    for path, frame in zip(paths, video):
        iio.imwrite(path, frame)
    iio.imwrite(folder / "clip.gif", video, duration=200, loop=0)
    return [str(p) for p in paths], str(folder / "clip.gif"), video


def run_cli(*args):
    """`python -m export.generate ...` in a process where TensorFlow cannot be imported."""
    blocker = "; ".join(f"sys.modules[{name!r}] = None" for name in FORBIDDEN)
    code = f"import sys; {blocker}; from export.generate import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=120)


def test_a_png_seed_becomes_a_gif_of_seed_then_generated_frames(model_path, seed_images, tmp_path):
    pngs, _, video = seed_images
    out = tmp_path / "ball.gif"
    result = run_cli("--model", model_path, "--seed", *pngs, "--frames", 7, "--out", out,
                     "--deterministic")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith(f"Wrote {out}: 2 seed + 7 generated frames.")
    gif = iio.imread(out, index=None)[..., 0]  # Pillow reads grey GIFs as RGB
    assert gif.shape == (9, 64, 64)
    np.testing.assert_array_equal(gif[:2], video[:2])
    generator = Generator(model_path)
    expected = generator.generate(video[:2, ..., None] / 255.0, 7)[0]
    np.testing.assert_allclose(gif[2:], generate.to_uint8(expected)[..., 0], atol=1)


def test_samples_sit_side_by_side_and_a_gif_seed_gives_its_first_frames(model_path, seed_images, tmp_path):
    pngs, clip, _ = seed_images
    from_gif, from_pngs = tmp_path / "gif.gif", tmp_path / "pngs.gif"
    for seed, out in ((clip, from_gif), (pngs, from_pngs)):
        seed = [seed] if isinstance(seed, str) else seed
        result = run_cli("--model", model_path, "--seed", *seed, "--samples", 3, "--seed-value", 5,
                         "--out", out)
        assert result.returncode == 0, result.stderr
    frames = iio.imread(from_gif, index=None)[..., 0]
    assert frames.shape == (2 + 4, 64, 3 * 64 + 2 * generate.PANEL_GAP)  # 4: the trained horizon
    np.testing.assert_array_equal(frames, iio.imread(from_pngs, index=None)[..., 0])
    panels = [frames[:, :, s * (64 + generate.PANEL_GAP):][:, :, :64] for s in range(3)]
    assert np.array_equal(panels[0][:2], panels[1][:2]), "every sample shows the same seed"
    assert not np.array_equal(panels[0][2:], panels[1][2:]), "each sample has its own noise"


def test_the_python_api_samples_with_an_rng_and_is_deterministic_without(model_path, seed_images):
    generator = Generator(model_path)
    assert (generator.context_frames, generator.latent_dim, generator.frame_shape) == (2, 6, (64, 64, 1))
    seed = seed_images[2][:2, ..., None] / 255.0
    mean = generator.generate(seed, 3, samples=2)
    assert mean.shape == (2, 3, 64, 64, 1) and mean.dtype == np.float32
    assert 0.0 <= mean.min() and mean.max() <= 1.0
    np.testing.assert_array_equal(mean[0], mean[1])
    a = generator.generate(seed, 3, samples=2, rng=np.random.default_rng(0))
    b = generator.generate(seed, 3, samples=2, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a[0] - a[1]).max() > 1e-3
    noise = np.random.default_rng(0).standard_normal((2, 3, 6), np.float32)
    np.testing.assert_array_equal(a, generator.run(np.stack([seed, seed]), noise))


def _contract_loop(session, seeds, noise, k):
    """The contract's loop written plainly with `session.run` (contract.py), frames
    feedback: what the runner's bound buffers must reproduce bit for bit."""
    state = np.zeros((len(seeds), 2, 8), np.float32)
    no_latents = np.zeros((0, 6), np.float32)
    frames = []
    for n in range(k + noise.shape[1] - 1):
        frame = seeds[:, n] if n < k else frames[-1]
        row = noise[:, max(n - k + 1, 0)] if n >= k - 1 else np.zeros_like(noise[:, 0])
        next_frame, _, state = session.run(list(contract.OUTPUTS), {
            contract.FRAME: frame, contract.LATENT: no_latents, contract.STATE: state,
            contract.NOISE: row})
        if n >= k - 1:
            frames.append(next_frame)
    return np.stack(frames, axis=1)


def test_the_runner_loops_the_step_exactly_as_the_contract_says(model_path):
    """The runner binds each step's outputs to the buffers the next step reads (I/O
    binding): the frames are those of the plain loop, and a call's frames are its own."""
    generator = Generator(model_path)
    rng = np.random.default_rng(3)
    runs = []
    for batch, frames in ((3, 6), (1, 1), (2, 11)):
        seeds = rng.random((batch, 2, 64, 64, 1), np.float32)
        noise = rng.standard_normal((batch, frames, 6), np.float32)
        generated = generator.run(seeds, noise)
        np.testing.assert_array_equal(generated, _contract_loop(generator.session, seeds, noise, 2))
        runs.append((seeds, noise, generated.copy(), generated))
    for seeds, noise, copy, returned in runs:
        np.testing.assert_array_equal(returned, copy)  # later calls wrote elsewhere
        np.testing.assert_array_equal(generator.run(seeds, noise), copy)


def test_colour_and_size_are_converted_with_a_note(model_path, tmp_path):
    colour = np.zeros((100, 80, 3), np.uint8)
    colour[..., 0] = 200  # pure red: BT.601 grey is 0.299 * 200
    for name in ("a.png", "b.png"):
        iio.imwrite(tmp_path / name, colour)
    notes = set()
    seed = generate.load_seed([str(tmp_path / "a.png"), str(tmp_path / "b.png")], Generator(model_path), notes)
    assert seed.shape == (2, 64, 64, 1)
    np.testing.assert_allclose(seed, 0.299 * 200 / 255, atol=1e-5)
    assert notes == {"converted the colour seed to grey", "cropped and resized the 80x100 seed to 64x64"}
    result = run_cli("--model", model_path, "--seed", tmp_path / "a.png", tmp_path / "b.png",
                     "--out", tmp_path / "out.gif")
    assert result.returncode == 0, result.stderr
    assert "note: converted the colour seed to grey." in result.stderr


def test_grey_seeds_feed_a_colour_model_and_16_bit_images_are_scaled():
    notes = set()
    grey = generate.to_unit_range(np.full((4, 4), 65535, np.uint16))
    assert grey.shape == (4, 4, 1) and grey.max() == 1.0
    rgb = generate.to_channels(grey, 3, notes)
    assert rgb.shape == (4, 4, 3) and not notes
    rgba = generate.to_unit_range(np.dstack([np.full((4, 4, 3), 255, np.uint8), np.full((4, 4), 51, np.uint8)]))
    np.testing.assert_allclose(rgba, 0.2, atol=1e-6)  # composited over black


@pytest.fixture(scope="module")
def not_a_generator(tmp_path_factory):
    """A valid ONNX file with another contract: y = x + 1."""
    import onnx
    from onnx import TensorProto, helper

    path = tmp_path_factory.mktemp("other") / "other.onnx"
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])], "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return str(path)


@pytest.mark.parametrize("case, message", [
    ("missing seed", "No seed file {tmp}/nothing.png."),
    ("not an image", "{model} is not an image or GIF that imageio can read."),
    ("too few frames", "The model needs 2 seed frames, and {png} gave 1: pass 2 images or a GIF"),
    ("not onnx", "{png} is not an ONNX model ONNX Runtime can load"),
    ("other contract", "{other} is not a DeepGIFs generator of contract deepgifs-step-2 (or "
                       "deepgifs-rollout-1)"),
    ("missing model", "No model file {tmp}/nothing.onnx."),
    ("negative frames", "--frames must be a whole number from 1 to 1000, got -3."),
    ("absurd frames", "--frames must be a whole number from 1 to 1000, got 1000000."),
    ("zero samples", "--samples must be a whole number from 1 to 64, got 0."),
    ("missing folder", "The output's folder {tmp}/no/such does not exist."),
    ("output is a folder", "The output {tmp}/folder.gif is a folder."),
    ("not a gif", "The output must be a .gif file, got {tmp}/out.mp4."),
])
def test_bad_input_is_one_line_and_writes_nothing(case, message, model_path, seed_images,
                                                   not_a_generator, tmp_path):
    pngs = seed_images[0]
    (tmp_path / "folder.gif").mkdir()
    out = str(tmp_path / "out.gif")
    args = {"--model": [model_path], "--seed": pngs, "--out": [out]}
    change = {
        "missing seed": {"--seed": [str(tmp_path / "nothing.png"), pngs[0]]},
        "not an image": {"--seed": [model_path, pngs[0]]},
        "too few frames": {"--seed": [pngs[0]]},
        "not onnx": {"--model": [pngs[0]]},
        "other contract": {"--model": [not_a_generator]},
        "missing model": {"--model": [str(tmp_path / "nothing.onnx")]},
        "negative frames": {"--frames": ["-3"]},
        "absurd frames": {"--frames": ["1000000"]},
        "zero samples": {"--samples": ["0"]},
        "missing folder": {"--out": [str(tmp_path / "no" / "such" / "x.gif")]},
        "output is a folder": {"--out": [str(tmp_path / "folder.gif")]},
        "not a gif": {"--out": [str(tmp_path / "out.mp4")]},
    }[case]
    args.update(change)
    result = run_cli(*[item for flag, values in args.items() for item in (flag, *values)])
    expected = message.format(tmp=tmp_path, model=model_path, png=pngs[0], other=not_a_generator)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {expected}") and result.stderr.count("\n") == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.gif"], "nothing written"


def test_generator_errors_from_python_name_the_problem(model_path):
    generator = Generator(model_path)
    with pytest.raises(GeneratorError, match=r"the seed must be \(2, 64, 64, 1\) frames, got \(1, 64, 64, 1\)"):
        generator.generate(np.zeros((1, 64, 64, 1)), 3)
    with pytest.raises(GeneratorError, match="frames must be a whole number from 1 to 1000, got 0"):
        generator.generate(np.zeros((2, 64, 64, 1)), 0)


@pytest.fixture(scope="module")
def legacy_files(exported_run, tmp_path_factory):
    """The tiny run exported in the legacy contract (as pretrained/ shipped it): the looped
    file and the one unrolled for the trained horizon (4 frames)."""
    from tf_deepgifs.runs import run_directory
    from tf_deepgifs_export import exporter
    from tf_deepgifs_export.rollout import rollout_function

    run_dir = exported_run[0]
    config, preset = run_directory.read_run(run_dir)
    model = run_directory.load_model(config, run_directory.weights_of(str(run_dir)))
    properties = exporter.legacy_metadata(exporter.metadata(config, preset))
    folder = tmp_path_factory.mktemp("legacy")
    for name, fixed in (("looped.onnx", None), ("fixed.onnx", 4)):
        exporter.write_onnx(rollout_function(model, fixed), folder / name, properties)
    return str(folder / "looped.onnx"), str(folder / "fixed.onnx")


def test_legacy_files_still_generate_what_the_step_file_generates(model_path, legacy_files,
                                                                  seed_images):
    steps = Generator(model_path)
    looped, fixed = (Generator(path) for path in legacy_files)
    assert (steps.legacy, looped.legacy, fixed.legacy) == (False, True, True)
    assert (looped.fixed_frames, fixed.fixed_frames) == (None, 4)
    seed = seed_images[2][:2, ..., None].astype(np.float32) / 255.0
    for frames in (2, 4):
        expected = steps.generate(seed, frames, samples=2, rng=np.random.default_rng(3))
        for legacy in (looped, fixed):
            np.testing.assert_allclose(
                legacy.generate(seed, frames, samples=2, rng=np.random.default_rng(3)),
                expected, atol=1e-5)
    with pytest.raises(GeneratorError, match="this legacy model .deepgifs-rollout-1. generates at "
                                             "most 4 frames .5 asked.; export it again"):
        fixed.generate(seed, 5)


def test_one_step_file_generates_from_one_to_a_thousand_frames(model_path, seed_images):
    generator = Generator(model_path)
    seed = seed_images[2][:2, ..., None].astype(np.float32) / 255.0
    long = generator.generate(seed, 1000)
    assert long.shape == (1, 1000, 64, 64, 1) and np.all(np.isfinite(long))
    np.testing.assert_allclose(generator.generate(seed, 1)[0, 0], long[0, 0], atol=1e-6)
    np.testing.assert_allclose(generator.generate(seed, 9)[0], long[0, :9], atol=1e-5)


def test_the_gif_gets_the_permissions_the_users_umask_gives(model_path, seed_images, tmp_path):
    out = tmp_path / "ball.gif"
    code = (f"import os, sys; os.umask(0o027); sys.argv[1:] = {['--model', model_path, '--seed', *seed_images[0], '--out', str(out)]!r}; "
            "from export.generate import main; sys.exit(main())")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=ENV, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert oct(out.stat().st_mode & 0o777) == oct(0o640)
