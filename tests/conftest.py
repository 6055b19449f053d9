"""The test environment (XLA compiling fast), how the tests are shared between processes
(tests/scheduling.py), and fixtures shared by the export tests: a tiny run directory,
exported once per session."""

import os
import subprocess
import sys

# The tests compile tiny networks for a step or a few, where XLA's compiling (LLVM's
# optimisation passes) takes longer than running (README, Development, has the figures).
# Set before TensorFlow or JAX loads, so it holds in this process and in every command a
# test starts; the programs compute the same functions.
os.environ["XLA_FLAGS"] = " ".join(
    filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"]))

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from tests.scheduling import pytest_collection_modifyitems  # noqa: F401  (a hook)
from tests.tiny import TINY_MODEL
from tf_deepgifs.runs import run_directory
from tf_deepgifs.config import Config, DataConfig, TrainConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
# K = 2 and 4 trained frames, so the tests see more than one seed frame and both of the
# export's verification lengths (2 and the trained horizon, 4).
TINY_RUN_CONFIG = Config(model=TINY_MODEL, train=TrainConfig(context_frames=2),
                         data=DataConfig(num_frames=6))


def write_tiny_run(run_dir, config=TINY_RUN_CONFIG):
    """A run directory as training leaves it: config.json and one checkpoint.

    The weights are freshly initialised, then the BatchNorm statistics moved off their
    (0, 1) start so that inference mode is really exercised.
    """
    run_directory.write_config(run_dir, config, "smoke")
    shape = (config.data.num_frames, config.model.image_size, config.model.image_size,
             config.model.channels)
    model = run_directory.build_model(config, shape)
    for variable in model.variables:
        if "moving_mean" in variable.path:
            variable.assign(tf.random.stateless_normal(variable.shape, [1, 2]) * 0.1)
        elif "moving_variance" in variable.path:
            variable.assign(tf.random.stateless_uniform(variable.shape, [3, 4], 0.5, 2.0))
    run_directory.Checkpoints(os.path.join(run_dir, "checkpoints"), 1).save(model, 1)
    return model


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory):
    """(run dir, the export command's result) for a tiny run exported with the CLI, the run
    named relative to the folder the command runs in (as `make export`'s default RUN is)."""
    run_dir = tmp_path_factory.mktemp("exported_run")
    write_tiny_run(run_dir)
    result = subprocess.run(
        [sys.executable, "-m", "tf_deepgifs", "export", "--run-dir", run_dir.name],
        cwd=run_dir.parent, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return run_dir, result
