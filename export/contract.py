"""The exported rollout's contract, shared by the exporter and the ONNX runner.

Both formats take the same inputs and give the same output:

    seed    float32 [batch, K, image_size, image_size, channels], pixels in [0, 1]:
            the K context frames the model was trained with.
    noise   float32 [batch, N, latent_dim], standard normal: entry 0 samples the last
            seed frame's latent, entry n the latent of generated frame n - 1 as it is fed
            back (unused where the model feeds back its predicted latent instead,
            `generation_feedback` "latent"). Zeros give the deterministic (mean) rollout.
            N >= 1 is read from its shape.
    frames  float32 [batch, N, image_size, image_size, channels], pixels in [0, 1].

Batch and N are dynamic, except in generator_fixed.onnx, which fixes N to the horizon
the model was trained on (the noise input's shape says it) and runs faster in ONNX
Runtime. The graph holds no random op, so the same inputs give the same frames in
TensorFlow and in ONNX Runtime.

This module imports nothing, so the runner can use it without TensorFlow.
"""

SEED, NOISE, FRAMES = "seed", "noise", "frames"
SIGNATURE = "rollout"  # the SavedModel signature's name
CONTRACT_VERSION = "deepgifs-rollout-1"  # bumped when inputs, output or metadata change
PIXEL_RANGE = "0,1"

ONNX_FILE = "generator.onnx"
FIXED_ONNX_FILE = "generator_fixed.onnx"  # N fixed to training_frames, unrolled
SAVED_MODEL_DIR = "saved_model"
REPORT_FILE = "verification.json"
EXPORT_DIR = "export"  # inside the run directory

# ONNX metadata_props: every value is a string.
METADATA_KEYS = (
    "contract",  # CONTRACT_VERSION
    "dataset",  # e.g. bouncing_balls
    "context_frames",  # K
    "channels",  # C
    "latent_dim",
    "image_size",  # frames are image_size x image_size
    "pixel_range",  # PIXEL_RANGE, for seed and frames
    "training_frames",  # N the model was trained to generate (num_frames - K)
    "training_mode",  # teacher_forced, rollout or scheduled
    "preset",  # the training preset
    "tf_deepgifs_version",
)
INTEGER_KEYS = ("context_frames", "channels", "latent_dim", "image_size", "training_frames")
