"""Which tf.distribute strategy a training run uses, and which worker writes the files.

- TF_CONFIG describing a cluster of several tasks: MultiWorkerMirroredStrategy, so the
  command that trains on one machine trains on several, unchanged.
- Otherwise, GPUs present: MirroredStrategy over all of them.
- Otherwise: TensorFlow's default strategy (one device).

`DeepGIF.train_step` scales its losses by the number of replicas, so N replicas make
the update one device would make on the same global batch, and gives each sequence the
same noise however the batch is split. BatchNormalization normalises each replica's share
of the batch by that share's statistics (see `models.layers.batch_norm` for why), and
each replica keeps its own moving statistics, a running average over its shard; the
chief's are the ones saved. Averaging them would put an all-reduce in every
BatchNorm call, with the ordering problem described there.
"""

import json
import os

import tensorflow as tf


def cluster_size():
    """Number of tasks TF_CONFIG describes (0 without TF_CONFIG)."""
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return sum(len(tasks) for tasks in cluster.values())


def make_strategy():
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


def worker_dir(run_dir, strategy):
    """Where this process writes: the run directory for the chief, a scratch one otherwise.

    Under MultiWorkerMirroredStrategy every worker must take part in saving a checkpoint;
    only the chief's copy is kept.
    """
    if is_chief(strategy):
        return run_dir
    resolver = strategy.cluster_resolver
    return os.path.join(run_dir, "workers", f"{resolver.task_type}_{resolver.task_id}")
