"""The data layer: everything about the videos, before any network sees them.

    splits          per-example random generators (seed, split, index)
    bouncing_balls  the Bouncing Balls simulator and renderer (paper 3.1)
    moving_mnist    the Moving MNIST generator and MNIST's IDX files (paper 3.1)
    registry        the datasets users can name, their TFDS builders, preparing them
    encoding        writing a builder's examples (PNG-encoded in worker threads)
    pipeline        batches from a prepared TFDS builder
    pixels          the pixel ranges, converted in one place
    testing         small fake inputs in the real file formats, for tests

May import: tf_deepgifs.config, tf_deepgifs.errors (and the builders of
`tf_deepgifs_datasets` through the registry). Nothing above it: models, training,
evaluation and the command line import the data layer, never the other way round.
"""
