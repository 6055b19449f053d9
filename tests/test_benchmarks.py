"""The benchmark scripts: each runs at a tiny size (no timings asserted), and the
PyTorch reference and the FLOP count describe the same networks as the library."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import torch

from tests.conftest import ENV, REPO
from tf_deepgifs.runs import run_directory
from tf_deepgifs.config import Config, ModelConfig
from tf_deepgifs.evaluation import file_quality

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import flops  # noqa: E402
import formats  # noqa: E402
import run_all  # noqa: E402
import torch_reference  # noqa: E402  (benchmarks/requirements.txt, installed by make)


def _run(*argv):
    return subprocess.run([sys.executable] + list(argv), cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=600)


def _paper_model():
    return run_directory.build_model(Config(), (20, 64, 64, 1))


def test_the_pytorch_reference_has_the_same_networks():
    model, reference = _paper_model(), torch_reference.DeepGIF()
    for name in ("encoder", "decoder", "predictor", "discriminator"):
        ours = sum(int(tf.size(v)) for v in getattr(model, name).trainable_variables)
        theirs = sum(p.numel() for p in getattr(reference, name).parameters())
        if name == "predictor":  # PyTorch's LSTM keeps two bias vectors where Keras has one
            theirs -= 4 * ModelConfig().lstm_units
        assert ours == theirs, name


def test_the_reference_transposed_decoder_is_the_same_function():
    c = ModelConfig()
    torch.manual_seed(0)
    upsampling = torch_reference.Decoder(c).eval()
    folded = torch_reference.Decoder(c, transposed=True).eval()
    with torch.no_grad():  # same parameters in the same order (fresh BatchNorm statistics in both)
        for mine, theirs in zip(folded.parameters(), upsampling.parameters(), strict=True):
            mine.copy_(theirs)
    latents = torch.randn(3, c.latent_dim)
    with torch.no_grad():
        np.testing.assert_allclose(folded(latents).numpy(), upsampling(latents).numpy(), atol=2e-5)


def test_the_folded_decoder_does_16_multiply_adds_per_input_pixel_where_upsampling_does_36():
    c = ModelConfig()
    project = 2 * 95 * 4096
    # (side, in, out) of each upsample + 3x3 conv: 4x4x256 -> 8x8x128 -> ... -> 64x64x1.
    blocks = [(4, 256, 128), (8, 128, 64), (16, 64, 32), (32, 32, 1)]
    assert flops.decoder_flops(c) == project + sum(2 * s * s * 16 * i * o for s, i, o in blocks)
    assert flops.decoder_flops(c, folded=False) == project + sum(2 * (2 * s) ** 2 * 9 * i * o for s, i, o in blocks)


def test_the_flop_count_of_a_conv_and_a_dense_layer_is_twice_their_multiply_adds():
    c = ModelConfig()
    # Encoder: 64x64x1 -> 32x32x32 -> 16x16x64 -> 8x8x128 -> 4x4x256, 4x4 kernels; two heads.
    convs = 32 * 32 * 32 * 16 * 1 + 16 * 16 * 64 * 16 * 32 + 8 * 8 * 128 * 16 * 64 + 4 * 4 * 256 * 16 * 128
    assert flops.encoder_flops(c) == 2 * (convs + 2 * 4096 * 95)
    assert flops.predictor_flops(c) == 2 * ((95 + 200) * 800 + 200 * 95)
    assert flops.train_step_flops(c, 32, 20) == 3 * (
        640 * flops.encoder_flops(c) + 1248 * flops.decoder_flops(c) + 608 * flops.predictor_flops(c)
        + 1856 * flops.discriminator_flops(c))


def test_a_benchmarks_peak_memory_is_its_own_not_the_larger_parents():
    import resource

    parent_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # TensorFlow, PyTorch
    allocate = "import json; x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096]); print('{}')"
    _, small, _ = run_all.run(["-c", "print('{}')"], log=lambda line: None)
    _, large, _ = run_all.run(["-c", allocate], log=lambda line: None)
    assert parent_mib > 400 and small < 100 and 300 < large < 400, (parent_mib, small, large)


@pytest.mark.slow  # every benchmark script in a process of its own
def test_every_benchmark_runs_at_a_tiny_size_and_the_report_names_its_commands(tmp_path):
    report = tmp_path / "BENCHMARKS.md"
    # No dataset in --data-dir: the input pipeline reads the one --build has just written.
    result = _run("benchmarks/run_all.py", "--tiny", "--build", "--out", str(report),
                  "--data-dir", str(tmp_path / "empty"), "--scratch", str(tmp_path / "scratch"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    text = report.read_text()
    for heading in ("Training throughput", "Rollout latency", "Input pipeline",
                    "The shipped generators' formats", "Peak resident memory"):
        assert heading in text, heading
    for script in ("flops.py", "train_step.py", "torch_reference.py", "train_step_parts.py",
                   "rollout_latency.py", "page_latency.py", "input_pipeline.py", "formats.py",
                   "export.generate"):
        assert f"python benchmarks/{script}" in text or f"python -m {script}" in text, script
    for runtime in ("step", "legacy_loop", "legacy_fixed", "saved_model, oneDNN on"):
        assert f"| {runtime} | 1 | 19 |" in text, runtime
    assert "| step | 32 | 100 |" in text and "| legacy_fixed | 32 | 100 |" not in text
    assert "The web page (web/, onnxruntime-web's WebAssembly backend) in headless Chromium" in text
    assert "TF_ENABLE_ONEDNN_OPTS=1 python benchmarks/rollout_latency.py" in text
    for row in ("tf_deepgifs, oneDNN off", "tf_deepgifs, XLA", "tf_deepgifs, mixed precision",
                "PyTorch reference, eager, NCHW",
                "PyTorch reference, eager, channels_last",
                "PyTorch reference, eager, channels_last, transposed-conv decoder"):
        assert f"| {row}" in text, row
    assert "`TF_ENABLE_ONEDNN_OPTS=0 python benchmarks/train_step.py" in text
    assert "| bouncing_balls |" in text and "| moving_mnist |" in text  # --build
    assert "| export | ONNX float32 |" in text  # the tiny run's files, measured by format


def test_the_formats_table_makes_the_tflite_files_pretrained_does_not_ship(exported_run, tmp_path):
    """A published folder holds generator.onnx and networks.keras: the table's TFLite rows
    are made from those networks as export makes them, the float file's step and contract."""
    from tf_deepgifs_export import contract
    from tf_deepgifs_export.generate import Generator

    run_dir, _ = exported_run
    exported = run_dir / contract.EXPORT_DIR
    folder, made = tmp_path / "published", tmp_path / "made"
    folder.mkdir(), made.mkdir()
    shutil.copy(exported / contract.ONNX_FILE, folder)
    assert formats.lite_files(folder, made) == {}  # no networks: nothing to make them from
    config, _ = run_directory.read_run(str(run_dir))
    run_directory.load_model(config, run_directory.weights_of(str(run_dir))).save(
        folder / contract.NETWORKS_FILE)
    files = formats.lite_files(folder, made)
    assert set(files) == {contract.TFLITE_FILE, contract.INT8_TFLITE_FILE}
    seed = np.random.default_rng(0).uniform(size=(2, 2, 64, 64, 1)).astype(np.float32)
    noise = np.zeros((2, 4, config.model.noise_dim), np.float32)
    assert formats.time_alone(folder / contract.ONNX_FILE, 3, 2) > 0  # what each process times
    float_file = Generator(str(folder / contract.ONNX_FILE))
    expected = float_file.run(seed, noise)
    for name, path in files.items():
        lite = Generator(str(path))
        assert lite.metadata == float_file.metadata
        frames = lite.run(seed, noise)
        assert frames.shape == expected.shape
        # float16 weights keep the frames within a grey level; 8-bit weights near them
        tolerance = 1 / 255 if name == contract.TFLITE_FILE else 0.1
        assert np.abs(frames - expected).mean() < tolerance, name


def test_the_formats_are_timed_alone_and_taking_turns(monkeypatch):
    """Each file in a process of its own (one session alive, as a user runs it), the files
    alternating round by round, each file's median over the rounds."""
    timed_files = []

    def one_process(argv, capture_output, text, check):
        timed_files.append(argv[argv.index("--time-alone") + 1])
        return subprocess.CompletedProcess(argv, 0, stdout=f"{len(timed_files)}.0\n")

    monkeypatch.setattr(formats.subprocess, "run", one_process)
    assert formats.runtime_ms_per_frame({"a": "a.onnx", "b": "b.onnx"}, 3, 3) == {"a": 3.0, "b": 4.0}
    assert timed_files == ["a.onnx", "b.onnx"] * 3


def test_the_formats_table_says_which_smaller_file_holds_the_float_files_quality():
    def row(name, plausible, centre):
        return {"model": "m", "format": name, "mb": 1.0, "runtime_ms": 1.0, "page_ms": None,
                "plausible": plausible, "apart_kept": 1.0, "centre_error_5": centre,
                "centre_error_last": centre}

    rows = [row("float", 0.99, 2.0), row("int8 kept", 0.986, 2.1), row("int8 lost", 0.98, 2.1)]
    rows[0]["shortfalls"] = None
    for smaller in rows[1:]:
        smaller["shortfalls"] = file_quality.shortfalls(smaller, rows[0])
    lines = formats.table(rows, 500).splitlines()
    assert lines[2].endswith("| - |") and lines[3].endswith("| held |")
    assert lines[4].endswith("| plausible frames 98.00% against 99.00% |")
