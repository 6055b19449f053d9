"""The commands users run to build data: `tfds build`, `python -m tf_deepgifs`, `make`.

Each builds in a separate process, as a user would run it, on a few examples per split;
the refusals of `python -m tf_deepgifs data` are its `main`'s, in this process.
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tf_deepgifs.cli import main
from tf_deepgifs.data import registry, testing

# Commands in processes of their own, or runs of seconds: the whole suite only.
pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _run(*command, cwd=REPO):
    return subprocess.run(
        [str(c) for c in command], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600
    )


def test_tfds_cli_builds_bouncing_balls_from_the_folder(tmp_path):
    result = _run(
        BIN / "tfds", "build", "datasets/bouncing_balls", "--config=three_balls",
        f"--data_dir={tmp_path}", "--max_examples_per_split=3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    builder = registry.builder("bouncing_balls/three_balls", data_dir=str(tmp_path))
    assert {s: builder.info.splits[s].num_examples for s in ("train", "validation", "test")} == {
        "train": 3, "validation": 3, "test": 3,
    }
    example = next(iter(tfds.as_numpy(builder.as_dataset(split="validation"))))
    assert example["video"].shape == (20, 64, 64, 1) and example["video"].dtype == np.uint8
    assert example["positions"].shape == (20, 3, 2)
    assert example["radius"] == pytest.approx(7.68)


def test_project_cli_builds_moving_mnist_from_manual_files(tmp_path):
    # The paper config keeps 10,000 training digits for validation: more are needed.
    manual = testing.write_fake_mnist(tmp_path / "manual", train_count=10_050)
    result = _run(
        sys.executable, "-m", "tf_deepgifs", "data", "--dataset", "moving_mnist",
        "--data-dir", tmp_path / "data", "--manual-dir", manual, "--max-examples-per-split", "2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    builder = registry.builder("moving_mnist", data_dir=str(tmp_path / "data"))
    assert builder.name == "deepgifs_moving_mnist"
    example = next(iter(tfds.as_numpy(builder.as_dataset(split="test"))))
    assert example["video"].shape == (20, 64, 64, 1)
    assert example["labels"].shape == (2,)


def _assert_one_line_error(returncode, stderr, *fragments):
    assert returncode != 0
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, stderr[-3000:]
    for fragment in fragments:
        assert fragment in error_lines[0]


# The command's own refusals run in this process (cli.main, what `python -m tf_deepgifs`
# exits with); make's, below, in a process of its own.
def test_project_cli_unknown_dataset_is_one_clear_line(capsys):
    returncode = main(["data", "--dataset", "cats"])
    _assert_one_line_error(returncode, capsys.readouterr().err, "Unknown dataset 'cats'",
                           "bouncing_balls", "moving_mnist")


def test_project_cli_corrupt_idx_file_is_one_clear_line(tmp_path, capsys):
    manual = testing.write_fake_mnist(tmp_path / "manual")
    (manual / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    returncode = main(["data", "--dataset", "moving_mnist", "--data-dir", str(tmp_path / "data"),
                       "--manual-dir", str(manual)])
    _assert_one_line_error(returncode, capsys.readouterr().err, "t10k-images-idx3-ubyte.gz",
                           "damaged gzip")
    assert not (tmp_path / "data" / "deepgifs_moving_mnist" / "paper" / "1.0.0").exists()


def test_make_rejects_an_unknown_dataset():
    result = _run("make", "--no-print-directory", "data", "DATASET=cats", f"PY={sys.executable}",
                  "INSTALLED=")
    _assert_one_line_error(result.returncode, result.stderr, "Unknown dataset 'cats'")
