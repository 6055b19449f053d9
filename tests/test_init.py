"""Importing tf_deepgifs sets TensorFlow's CPU options before TensorFlow loads."""

import os
import subprocess
import sys

import pytest

# Commands in processes of their own, or runs of seconds: the whole suite only.
pytestmark = pytest.mark.slow

ONEDNN_ON = "oneDNN custom operations are on"  # TensorFlow's own log line when it loads


def tensorflow_log(environment):
    """What TensorFlow logs when loaded after tf_deepgifs in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env.update(environment, TF_CPP_MIN_LOG_LEVEL="0")
    result = subprocess.run([sys.executable, "-c", "import tf_deepgifs, tensorflow"],
                            env=env, capture_output=True, text=True, timeout=120, check=True)
    return result.stderr


@pytest.mark.parametrize("setting, on", [(None, True), ("0", False)])
def test_onednn_is_on_unless_the_user_turns_it_off(setting, on):
    log = tensorflow_log({} if setting is None else {"TF_ENABLE_ONEDNN_OPTS": setting})
    assert (ONEDNN_ON in log) == on
