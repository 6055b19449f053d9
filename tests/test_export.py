"""The exported generator: one step in ONNX (the caller loops), a SavedModel rollout, and
both agree with the model at every frame."""

import dataclasses
import json
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import onnx
import onnxruntime
import pytest
import tensorflow as tf

from tf_deepgifs_export import contract, exporter, quantize, verify
from tf_deepgifs_export.generate import Generator
from tf_deepgifs_export.rollout import rollout_function
from tests.conftest import ENV, TINY_RUN_CONFIG, write_tiny_run
from tests.tiny import TINY_MODEL
from tf_deepgifs.runs import run_directory
from tf_deepgifs.cli import main

# Commands in processes of their own, or runs of seconds: the whole suite only.
pytestmark = pytest.mark.slow


def _inputs(batch, frames, seed=0):
    metadata = {"context_frames": 2, "channels": 1, "image_size": 64, "latent_dim": TINY_MODEL.latent_dim}
    return verify.verification_inputs(metadata, batch, frames, seed)


@pytest.mark.parametrize("feedback", ["frames", "latent"])
@pytest.mark.parametrize("frames", [1, 5])
def test_the_loop_rollout_generates_what_the_model_generates(tmp_path, frames, feedback):
    config = dataclasses.replace(TINY_RUN_CONFIG, model=dataclasses.replace(
        TINY_RUN_CONFIG.model, generation_feedback=feedback))
    model = write_tiny_run(tmp_path, config)
    seed, noise = _inputs(3, frames)
    expected = model.rollout(tf.constant(seed), frames, tf.constant(noise)).numpy()
    for function in (rollout_function(model), rollout_function(model, fixed_frames=frames)):
        exported = function(seed, noise)[contract.FRAMES].numpy()
        assert exported.shape == (3, frames, 64, 64, 1)
        np.testing.assert_allclose(exported, expected, atol=1e-6)
    zero_noise = rollout_function(model)(seed, np.zeros_like(noise))[contract.FRAMES].numpy()
    assert np.abs(zero_noise - exported).max() > 1e-3, "the noise must reach the frames"


def test_export_writes_every_format_agreeing_at_every_frame(exported_run):
    run_dir, result = exported_run
    folder = run_dir / contract.EXPORT_DIR
    report = json.loads((folder / contract.REPORT_FILE).read_text())
    kept = [name for name, checked in report["smaller"].items() if checked["passed"]]
    assert contract.TFLITE_FILE in kept  # float16 holds even the tiny untrained networks
    assert set(report["smaller"]) == set(contract.SMALLER_FILES)
    assert sorted(p.name for p in folder.iterdir()) == sorted([
        contract.ONNX_FILE, contract.SAVED_MODEL_DIR, contract.REPORT_FILE, *kept])
    assert not (run_dir / "export.partial").exists()
    assert report["passed"] and report["opset"] == exporter.OPSET
    # 1 frame, the trained horizon (4), and more than twice it: one file, any length.
    assert [(c["batch"], c["frames"]) for c in report["cases"]] == [
        (1, 1), (1, 4), (1, 11), (3, 1), (3, 4), (3, 11)]
    for case in report["cases"]:
        for fmt in verify.FORMATS:
            assert len(case[fmt]) == case["frames"]
            assert max(case[fmt]) <= verify.TOLERANCE
    assert "batch  3, 11 frames: onnx_runtime max" in result.stdout  # the per-case summary


def test_past_the_horizon_the_step_file_is_checked_on_the_reference_frames(exported_run):
    """The runner fed its own frames back gives them again; fed others, it follows them."""
    run_dir, _ = exported_run
    folder = run_dir / contract.EXPORT_DIR
    report = json.loads((folder / contract.REPORT_FILE).read_text())
    assert [case["fed"] for case in report["cases"]] == [
        "its own frames", "its own frames", "the reference's frames"] * 2
    runner = Generator(str(folder / contract.ONNX_FILE))
    seed, noise = _inputs(3, 6)
    seed = seed[:, : runner.context_frames]
    own = runner.run(seed, noise)
    np.testing.assert_array_equal(verify.rollout_fed(runner, seed, noise, own), own)
    other = verify.rollout_fed(runner, seed, noise, np.zeros_like(own))
    np.testing.assert_array_equal(other[:, 0], own[:, 0])  # from the seeds alone
    assert np.abs(other[:, 1:] - own[:, 1:]).max() > 1e-3


def test_a_model_that_feeds_back_its_latents_exports_agreeing_at_every_frame(tmp_path, capsys):
    """Tuned runs generate from their latents (`generation_feedback` "latent"): the
    shipped improved generator is one."""
    write_tiny_run(tmp_path, dataclasses.replace(TINY_RUN_CONFIG, model=dataclasses.replace(
        TINY_RUN_CONFIG.model, generation_feedback="latent")))
    assert main(["export", "--run-dir", str(tmp_path)]) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / contract.EXPORT_DIR / contract.REPORT_FILE).read_text())
    assert report["passed"]
    assert all(fmt in case for case in report["cases"] for fmt in verify.FORMATS)
    for case in report["cases"]:
        assert all(max(case[fmt]) <= verify.TOLERANCE for fmt in verify.FORMATS if fmt in case)


def test_the_onnx_file_is_one_step_names_its_axes_and_says_what_it_holds(exported_run):
    proto = onnx.load(str(exported_run[0] / contract.EXPORT_DIR / contract.ONNX_FILE))

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    inputs = {value.name: dims(value) for value in proto.graph.input}
    assert inputs == {"frame": ["frames_read", 64, 64, 1], "latent": ["latents_read", 6],
                      "state": ["batch", 2, 8], "noise": ["batch", 6]}
    assert {o.name: dims(o) for o in proto.graph.output} == {
        "next_frame": ["batch", 64, 64, 1], "next_latent": ["batch", 6], "next_state": ["batch", 2, 8]}
    assert {op.domain: op.version for op in proto.opset_import}[""] == exporter.OPSET
    properties = {p.key: p.value for p in proto.metadata_props}
    assert set(properties) == set(contract.METADATA_KEYS)
    assert properties["contract"] == contract.CONTRACT_VERSION and properties["preset"] == "smoke"
    assert (properties["context_frames"], properties["latent_dim"], properties["noise_dim"],
            properties["state_size"], properties["training_frames"]) == ("2", "6", "6", "8", "4")
    assert properties["dataset"] == "bouncing_balls" and properties["pixel_range"] == "0,1"
    assert properties["generation_feedback"] == "frames"
    operations = {node.op_type for node in proto.graph.node}
    assert not operations & {"Loop", "If", "Scan"}, "every step in the main graph"
    assert not any(op.startswith("Random") for op in operations)


def test_no_elementwise_op_of_the_step_runs_on_a_trailing_dimension_of_one(exported_run):
    """ONNX Runtime's CPU Add, Sub, Mul and Div broadcast a constant over a tensor whose
    last dimension is 1 (a grey frame, NHWC) many times slower than over the same numbers
    flat; the pixel conversion of the frames read is exported flat."""
    proto = onnx.shape_inference.infer_shapes(
        onnx.load(str(exported_run[0] / contract.EXPORT_DIR / contract.ONNX_FILE)))
    shapes = {value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
              for value in [*proto.graph.value_info, *proto.graph.input, *proto.graph.output]}
    elementwise = [node for node in proto.graph.node if node.op_type in ("Add", "Sub", "Mul", "Div")]
    assert elementwise and all(len(shapes.get(node.output[0], [])) > 1 for node in elementwise), (
        "shapes inferred for every elementwise op")
    slow = [(node.op_type, shapes[name]) for node in elementwise for name in node.input
            if len(shapes.get(name, [])) > 1 and shapes[name][-1] == 1]
    assert not slow, slow


def test_the_step_file_generates_what_the_model_generates_at_any_length_and_batch(exported_run):
    run_dir = exported_run[0]
    runner = Generator(str(run_dir / contract.EXPORT_DIR / contract.ONNX_FILE))
    model = run_directory.load_model(TINY_RUN_CONFIG, run_directory.weights_of(str(run_dir)))
    for batch, frames in [(2, 1), (5, 9)]:  # 9 frames: longer than the model was trained for
        seed, noise = _inputs(batch, frames, seed=7)
        expected = model.rollout(tf.constant(seed), frames, tf.constant(noise)).numpy()
        np.testing.assert_allclose(runner.run(seed, noise), expected, atol=1e-4)


@pytest.fixture(scope="module")
def every_smaller_file(exported_run):
    """The tiny run's export folder, every smaller file within its bound (8-bit weights
    and float16 keep the tiny networks' first frame near the float file's), and what the
    export command said."""
    run_dir, result = exported_run
    return run_dir / contract.EXPORT_DIR, result.stdout


def test_the_8_bit_file_is_the_same_step_in_8_bits(every_smaller_file):
    folder, said = every_smaller_file
    assert f"Wrote {contract.INT8_ONNX_FILE} (8-bit ONNX)" in said
    float_model = onnx.load(str(folder / contract.ONNX_FILE))
    quantized = onnx.load(str(folder / contract.INT8_ONNX_FILE))
    # The same inputs, outputs and metadata: every runner takes either file.
    for part in ("input", "output"):
        assert ([v.name for v in getattr(quantized.graph, part)]
                == [v.name for v in getattr(float_model.graph, part)])
    assert ({p.key: p.value for p in quantized.metadata_props}
            == {p.key: p.value for p in float_model.metadata_props})
    # Every weight of a convolution, transposed convolution or matrix product is stored
    # in 8 bits, rebuilt by a Cast and a Mul; no large float tensor is left.
    initializers = {t.name: t for t in quantized.graph.initializer}
    producers = {output: n for n in quantized.graph.node for output in n.output}
    weights = {n.input[1]: n.op_type for n in quantized.graph.node
               if n.op_type in quantize.STORED_IN_8_BITS}
    assert set(weights.values()) == {"Conv", "ConvTranspose", "MatMul"}
    assert len(weights) == sum(n.op_type in quantize.STORED_IN_8_BITS for n in float_model.graph.node)
    for name in weights:
        assert producers[name].op_type == "Mul"
        cast = producers[producers[name].input[0]]
        assert cast.op_type == "Cast" and initializers[cast.input[0]].data_type == onnx.TensorProto.INT8
    assert not [t.name for t in quantized.graph.initializer
                if t.data_type == onnx.TensorProto.FLOAT and np.prod(t.dims) > 256]
    # The runner loops it; its frames are near the float file's, not the same.
    seed, noise = _inputs(3, 4)
    difference = np.abs(Generator(str(folder / contract.ONNX_FILE)).run(seed, noise)
                        - Generator(str(folder / contract.INT8_ONNX_FILE)).run(seed, noise))
    report = json.loads((folder / contract.REPORT_FILE).read_text())["smaller"]
    report = report[contract.INT8_ONNX_FILE]
    assert report["passed"] and len(report["cases"]) == 6
    assert 0 < difference[:, 0].mean() < 0.1
    np.testing.assert_allclose(report["cases"][4]["mean_abs"], difference.mean(axis=(0, 2, 3, 4)),
                               rtol=1e-5)


def test_onnx_runtime_folds_the_weights_stored_in_8_bits_back_to_float(every_smaller_file, tmp_path):
    """The Cast and Mul nodes rebuilding the weights read constants only: ONNX Runtime
    folds them when it loads the file, so a step computes on float weights, with no work
    added to it."""
    folder, _ = every_smaller_file
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    onnxruntime.InferenceSession(str(folder / contract.INT8_ONNX_FILE), options,
                                 providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    constants = {t.name: t for t in optimized.graph.initializer}
    weighted = [n for n in optimized.graph.node if n.op_type in ("ConvTranspose", "MatMul")]
    assert weighted
    for node in weighted:
        assert constants[node.input[1]].data_type == onnx.TensorProto.FLOAT
    assert not [t.name for t in optimized.graph.initializer if t.data_type == onnx.TensorProto.INT8]


def test_weights_stored_in_8_bits_are_within_half_a_step_per_output_channel():
    weight = np.random.default_rng(0).normal(size=(6, 3, 4, 4)).astype(np.float32)
    weight[:, 2] *= 100  # one output channel far larger: its own scale
    values, scale = quantize.int8_per_channel(weight, axis=1)
    assert values.dtype == np.int8 and scale.shape == (1, 3, 1, 1)
    assert np.abs(values).max() == quantize.INT8_LIMIT
    assert np.all(np.abs(values * scale - weight) <= scale / 2 + 1e-7)
    assert scale[0, 2, 0, 0] > 50 * scale[0, 0, 0, 0]


def test_an_8_bit_file_far_from_the_float_one_is_not_written(tmp_path):
    """A smaller file whose first frame is further from the float file's than the bound
    is left out, and export says so; here the bound is set below what 8-bit weights keep."""
    write_tiny_run(tmp_path)
    lines = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(verify, "SMALLER_FIRST_FRAME_TOLERANCE", 1e-9)
        folder = exporter.export_run(str(tmp_path), log=lines.append)
    report = json.loads((folder / contract.REPORT_FILE).read_text())["smaller"][contract.INT8_ONNX_FILE]
    assert not report["passed"]
    assert report["cases"][0]["mean_abs"][0] > 1e-9
    assert not (folder / contract.INT8_ONNX_FILE).exists()
    said = "\n".join(lines)
    assert f"Did not write {contract.INT8_ONNX_FILE} (8-bit ONNX)" in said
    assert "8-bit ONNX, batch  3, 11 frames: mean abs" in said


def test_the_tflite_file_is_the_step_in_two_signatures_with_the_contract(every_smaller_file):
    folder, said = every_smaller_file
    assert f"Wrote {contract.TFLITE_FILE} (TFLite float16)" in said
    from tf_deepgifs_export import litert

    interpreter, metadata, signatures = litert.load(str(folder / contract.TFLITE_FILE))
    assert metadata == {p.key: p.value for p in onnx.load(str(folder / contract.ONNX_FILE)).metadata_props}
    assert {name: sorted(s["inputs"]) for name, s in signatures.items()} == {
        contract.READ_FRAMES: sorted([contract.FRAME, contract.STATE, contract.NOISE]),
        contract.READ_LATENTS: sorted([contract.LATENT, contract.STATE, contract.NOISE])}
    assert all(sorted(s["outputs"]) == sorted(contract.OUTPUTS) for s in signatures.values())
    # float16 weights, and frames a rounding away from the float file's.
    assert any(d["dtype"] == np.float16 for d in interpreter.get_tensor_details())
    seed, noise = _inputs(3, 4)
    lite = Generator(str(folder / contract.TFLITE_FILE)).run(seed, noise)
    difference = np.abs(Generator(str(folder / contract.ONNX_FILE)).run(seed, noise) - lite)
    assert 0 < difference.max() <= 1 / 255


def test_the_8_bit_tflite_file_is_the_same_step_with_8_bit_weights(every_smaller_file):
    folder, said = every_smaller_file
    assert f"Wrote {contract.INT8_TFLITE_FILE} (TFLite 8-bit weights)" in said
    from tf_deepgifs_export import litert

    interpreter, metadata, signatures = litert.load(str(folder / contract.INT8_TFLITE_FILE))
    _, float16_metadata, float16_signatures = litert.load(str(folder / contract.TFLITE_FILE))
    assert (metadata, signatures) == (float16_metadata, float16_signatures)
    assert any(d["dtype"] == np.int8 for d in interpreter.get_tensor_details())
    assert not any(d["dtype"] == np.float16 for d in interpreter.get_tensor_details())
    seed, noise = _inputs(3, 4)
    lite = Generator(str(folder / contract.INT8_TFLITE_FILE)).run(seed, noise)
    assert lite.shape == (3, 4, 64, 64, 1) and np.isfinite(lite).all()


def test_the_tflite_file_runs_without_tensorflow(every_smaller_file, tmp_path):
    """LiteRT's interpreter alone: TensorFlow unimportable, the runner's command works."""
    folder, _ = every_smaller_file
    script = ("import sys; sys.modules['tensorflow'] = None; import runpy; "
              "sys.argv = ['generate'] + sys.argv[1:]; "
              "runpy.run_module('tf_deepgifs_export.generate', run_name='__main__')")
    out = tmp_path / "lite.gif"
    result = subprocess.run(
        [sys.executable, "-c", script, "--model", str(folder / contract.TFLITE_FILE), "--seed",
         "pretrained/seeds/balls.gif", "--frames", "5", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    assert iio.imread(out).shape[0] == 2 + 5  # the seed frames, then the generated ones


def test_a_file_litert_cannot_read_is_one_line(tmp_path, capsys):
    from tf_deepgifs_export.generate import main as generate_main

    bad = tmp_path / "generator.tflite"
    bad.write_bytes(b"not a flatbuffer")
    assert generate_main(["--model", str(bad), "--seed", "pretrained/seeds/balls.png",
                          "--out", str(tmp_path / "x.gif")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad} is not a TFLite model LiteRT can load") and "\n" not in err


def test_the_saved_model_check_fails_when_the_project_is_needed(tmp_path):
    with pytest.raises(RuntimeError, match="failed in a fresh process"):
        verify.saved_model_in_fresh_process(str(tmp_path / "missing"), {"a": _inputs(1, 1)})


def test_an_export_that_disagrees_fails_loudly_and_writes_nothing(tmp_path, monkeypatch, capsys):
    write_tiny_run(tmp_path)
    monkeypatch.setattr(verify, "TOLERANCE", 0.0)  # float rounding alone now fails it
    assert main(["export", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the exported files differ from the model by more than 0 (per-frame errors above)")
    assert not (tmp_path / "export").exists() and not (tmp_path / "export.partial").exists()


def test_a_failed_re_export_keeps_the_previous_export(exported_run, monkeypatch):
    run_dir = exported_run[0]
    before = (run_dir / contract.EXPORT_DIR / contract.ONNX_FILE).read_bytes()
    monkeypatch.setattr(exporter, "write_onnx", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        exporter.export_run(str(run_dir), log=lambda line: None)
    assert (run_dir / contract.EXPORT_DIR / contract.ONNX_FILE).read_bytes() == before
    assert not (run_dir / "export.partial").exists()


def test_export_errors_are_one_line(tmp_path, capsys):
    assert main(["export", "--run-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path} is not a run directory (no config.json); "
        "pass the --run-dir a training run wrote.\n")

    other = dataclasses.replace(TINY_RUN_CONFIG, model=dataclasses.replace(TINY_MODEL, latent_dim=3))
    write_tiny_run(tmp_path / "other", other)
    write_tiny_run(tmp_path / "run")
    wrong = tmp_path / "other" / "checkpoints" / "step_1.weights.h5"
    assert main(["export", "--run-dir", str(tmp_path / "run"), "--weights", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {wrong} does not hold this run's model") and err.count("\n") == 1
    assert main(["export", "--run-dir", str(tmp_path / "run"), "--weights", "nothing.h5"]) == 2
    assert capsys.readouterr().err == "error: No weights file nothing.h5.\n"
    (tmp_path / "run" / "checkpoints" / "step_1.weights.h5").unlink()
    assert main(["export", "--run-dir", str(tmp_path / "run")]) == 2
    assert "has neither model.keras nor a checkpoint" in capsys.readouterr().err


def test_a_mixture_model_exports_and_its_noise_draws_different_futures(tmp_path, capsys):
    """A mixture readout's component is drawn from the step's noise after the latent's:
    the runner's samples differ, the same noise gives the model's own frames, and zero
    noise the deterministic rollout."""
    components = 3
    config = dataclasses.replace(TINY_RUN_CONFIG, model=dataclasses.replace(
        TINY_RUN_CONFIG.model, generation_feedback="latent", mixture_components=components))
    model = write_tiny_run(tmp_path, config)
    assert main(["export", "--run-dir", str(tmp_path)]) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / contract.EXPORT_DIR / contract.REPORT_FILE).read_text())
    assert report["passed"]
    # TFLite's built-in ops have no erf, which the component draw uses: no TFLite file.
    assert f"Did not write {contract.TFLITE_FILE} (TFLite float16): a mixture model" in capsys.readouterr().out
    assert not (tmp_path / contract.EXPORT_DIR / contract.TFLITE_FILE).exists()
    runner = Generator(str(tmp_path / contract.EXPORT_DIR / contract.ONNX_FILE))
    assert runner.noise_dim == TINY_MODEL.latent_dim + components
    seed, _ = _inputs(2, 6)
    rng = np.random.default_rng(3)
    noises = [rng.standard_normal((2, 6, runner.noise_dim)).astype(np.float32) for _ in range(2)]
    first, second = (runner.run(seed, noise) for noise in noises)
    np.testing.assert_allclose(first, model.rollout(tf.constant(seed), 6, tf.constant(noises[0])),
                               atol=1e-4)
    assert np.abs(first - second).max() > 1e-2
    np.testing.assert_allclose(runner.run(seed, np.zeros_like(noises[0])),
                               model.rollout(tf.constant(seed), 6), atol=1e-4)
