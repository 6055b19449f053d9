"""Dataset splits and the random generator of each example (TensorFlow-free).

Seeds are derived per (config seed, split, example index), never from global state, so
an example is the same wherever it is made: in a TFDS builder, in a test, or in the JAX
trainer's own simulation of Bouncing Balls on a machine without TensorFlow.
"""

import numpy as np

SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}


def example_rng(seed, split, index):
    """The generator that owns one example: the same (seed, split, index), the same data."""
    return np.random.default_rng([seed, SPLIT_IDS[split], index])
