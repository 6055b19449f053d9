"""tf_deepgifs: DeepGIFs (Malik, Troute and Capoor, 2018) in TensorFlow / Keras 3.

Learned motion synthesis from still frames: a VAE encoder/decoder, an LSTM in the latent
space and a GAN discriminator, trained on Bouncing Balls and Moving MNIST.

The package's layers, each importing only those before it:

    config, errors   every hyper-parameter (frozen dataclasses, presets); user errors
    data/            simulators, datasets (TFDS builders), pipelines, pixel ranges
    models/          the four networks and the model that trains them together
    training/        runs: the run directory, the trainers, horizon tuning
    evaluation/      a run measured on the test split: metrics, report, figures
    cli              `python -m tf_deepgifs <command>`, the top

Importing the package registers the models with Keras, so `keras.models.load_model`
reads a run's `.keras` files without further imports.
"""

import os

__version__ = "0.1.0"

# oneDNN's CPU kernels (convolutions and their gradients, fused BatchNorm): TensorFlow
# turns them on by default only on CPUs with AVX-512 VNNI, BF16 or AMX. Elsewhere (AVX2
# CPUs) a paper train step is much slower without them (BENCHMARKS.md). TensorFlow reads the variable once, when it loads: import
# tf_deepgifs before tensorflow, or set it yourself (TF_ENABLE_ONEDNN_OPTS=0 turns it off).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# TensorFlow's C++ start-up notices (oneDNN, missing CUDA drivers) hidden unless asked for:
# TF_CPP_MIN_LOG_LEVEL=0 shows them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tf_deepgifs import models  # noqa: E402, F401  (after the variable: it loads TensorFlow)
