"""Test session set-up, run before any test imports TensorFlow's devices.

The CPU is split into two logical devices so that a MirroredStrategy over them trains
on two replicas, as over two GPUs; everything else keeps using the first device.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tf_deepgifs  # noqa: E402, F401  (first: it sets TensorFlow's options before TF loads)
import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)
