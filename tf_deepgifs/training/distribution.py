"""Which devices a run trains on, and which process writes the run's files.

TensorFlow (tf.distribute):
- TF_CONFIG describing a cluster of several tasks: MultiWorkerMirroredStrategy, so the
  command that trains on one machine trains on several, unchanged.
- Otherwise, GPUs present: MirroredStrategy over all of them.
- Otherwise: TensorFlow's default strategy (one device).
Each replica takes its rows of the global batch; BatchNormalization normalises them by
their own statistics and each replica keeps its own moving averages, a running average
over its rows (the chief's are the ones saved). Synchronising them would put an
all-reduce in every BatchNorm call, and TensorFlow starts the all-reduces of parallel
branches (decoder, discriminator) in a different order on each replica: the step fails
("Shape mismatch in the collective instance"; see `models.layers.batch_norm`).

JAX (keras.distribution):
- More than one local device: `keras.distribution.DataParallel` over all of them, set
  before the model is built, so the variables are replicated and each batch is laid out
  across the devices. XLA computes on the batch as one global array, so BatchNorm's
  statistics are those of the whole global batch, the same as on one device.
- One device: no distribution.
"""

import contextlib
import dataclasses
import json
import os
from typing import Any


@dataclasses.dataclass
class Devices:
    """Where a run computes: a tf.distribute `strategy` (TensorFlow) or a Keras
    `distribution` (JAX, None on one device), and whether this process is the chief."""

    strategy: Any = None
    distribution: Any = None
    chief: bool = True
    worker: str = ""  # "<task type>_<task id>" of a worker that is not the chief

    def scope(self):
        """Variables made inside are laid out for these devices."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.distribution is not None:
            return self.distribution.scope()
        return contextlib.nullcontext()

    @property
    def count(self):
        if self.strategy is not None:
            return self.strategy.num_replicas_in_sync
        if self.distribution is not None:
            return len(self.distribution.device_mesh.devices.ravel())
        return 1

    def writing_dir(self, run_dir):
        """Where this process writes checkpoints: the run directory for the chief, a
        scratch one otherwise (under MultiWorkerMirroredStrategy every worker takes part
        in saving; only the chief's copy is kept)."""
        if self.chief:
            return run_dir
        return os.path.join(run_dir, "workers", self.worker)


def cluster_size():
    """Number of tasks TF_CONFIG describes (0 without TF_CONFIG)."""
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return sum(len(tasks) for tasks in cluster.values())


def make_strategy():
    import tensorflow as tf

    if cluster_size() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if tf.config.list_logical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy):
    """Whether this process writes the run's files (always, outside a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def tensorflow_devices(strategy=None):
    """`Devices` for TensorFlow: `strategy`, or the one `make_strategy` picks."""
    strategy = strategy or make_strategy()
    chief = is_chief(strategy)
    resolver = getattr(strategy, "cluster_resolver", None)
    worker = "" if chief else f"{resolver.task_type}_{resolver.task_id}"
    return Devices(strategy=strategy, chief=chief, worker=worker)


def jax_devices():
    """`Devices` for JAX: DataParallel over every local device when there are several
    (set as Keras' distribution, so models built afterwards are laid out for it)."""
    import keras

    devices = keras.distribution.list_devices()
    if len(devices) < 2:
        return Devices()
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    return Devices(distribution=distribution)


def for_backend(strategy=None):
    """`Devices` for the backend Keras runs on."""
    import keras

    if keras.backend.backend() == "jax":
        return jax_devices()
    return tensorflow_devices(strategy)
