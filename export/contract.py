"""The exported generator's contract, shared by the exporter, the runners and the web page.

One ONNX file per model, `generator.onnx`, computes one generation step; the caller
loops, as language models are deployed, so one file generates any number of frames and
every step runs in ONNX Runtime's main graph (a Loop's body is optimised far less).

    inputs   frame    float32 [F, H, W, C], pixels in [0, 1]: frames to read
             latent   float32 [R, latent_dim]: latents to read as they are
             state    float32 [F + R, 2, state_size]: the LSTM's (h, c), zeros at first
             noise    float32 [F + R, noise_dim], standard normal, zeros for the
                      deterministic step: a read frame's latent is sampled with the
                      row's first latent_dim numbers (zeros: the mean); a mixture model
                      draws the next latent's component with the rest (zeros: the most
                      likely one; noise_dim = latent_dim + components)
    outputs  next_frame   float32 [F + R, H, W, C] in [0, 1]: the frame generated
             next_latent  float32 [F + R, latent_dim]: its latent
             next_state   float32 [F + R, 2, state_size]

The batch is the F read frames followed by the R read latents; a step gives each
sequence one input, so one of the two is usually empty (a batch of 0). No branch in the
graph, no random op: the same inputs give the same frames in TensorFlow, ONNX Runtime in
Python and onnxruntime-web.

Generating N frames from K seed frames: K steps reading the seed frames (the noise of
the last samples it, the earlier ones read their mean), whose last `next_frame` is
generated frame 1; then N - 1 steps, each reading back what the step before made, with
noise entry n: its `next_frame` for a model whose `generation_feedback` is "frames" (the
paper's), its `next_latent` for one whose feedback is "latent" (as `tune`'s runs; no
frame is then encoded after the seeds).

The contract, its version and the model's sizes are in the file's `metadata_props`
(`METADATA_KEYS`, all strings). The SavedModel's `rollout` signature takes (seed
[batch, K, H, W, C], noise [batch, N, noise_dim]) and gives frames [batch, N, H, W, C],
the same loop for TensorFlow users.

This module imports nothing, so the runner can use it without TensorFlow.
"""

CONTRACT_VERSION = "deepgifs-step-2"  # bumped when inputs, outputs or metadata change
# The version before: one graph (seed, noise) -> frames, looped or with N fixed
# (generator.onnx, generator_fixed.onnx); the runner still reads it.
LEGACY_VERSION = "deepgifs-rollout-1"

FRAME, LATENT, STATE, NOISE = "frame", "latent", "state", "noise"
NEXT_FRAME, NEXT_LATENT, NEXT_STATE = "next_frame", "next_latent", "next_state"
INPUTS = (FRAME, LATENT, STATE, NOISE)
OUTPUTS = (NEXT_FRAME, NEXT_LATENT, NEXT_STATE)
# The legacy graph's names.
SEED, FRAMES = "seed", "frames"

SIGNATURE = "rollout"  # the SavedModel signature's name: (seed, noise) -> frames
PIXEL_RANGE = "0,1"

ONNX_FILE = "generator.onnx"
INT8_ONNX_FILE = "generator_int8.onnx"  # the same step, quantized to 8 bits
# The same step for TensorFlow Lite (LiteRT): float16 weights, and two signatures, one per
# input read, since LiteRT's kernels refuse an empty batch (tflite.py). The metadata is
# the file's metadata entry LITE_METADATA, the ONNX file's metadata_props as JSON.
TFLITE_FILE = "generator.tflite"
# The same with 8-bit weights, activations quantized as each step runs (LiteRT's dynamic
# range quantization)
INT8_TFLITE_FILE = "generator_int8.tflite"
# The smaller files beside generator.onnx, each held to the float file (verify.py), and
# what reports call them.
SMALLER_FILES = {INT8_ONNX_FILE: "8-bit ONNX", TFLITE_FILE: "TFLite float16",
                 INT8_TFLITE_FILE: "TFLite 8-bit weights"}
READ_FRAMES, READ_LATENTS = "read_frames", "read_latents"
LITE_SIGNATURES = {READ_FRAMES: (FRAME, STATE, NOISE), READ_LATENTS: (LATENT, STATE, NOISE)}
LITE_METADATA = "deepgifs_contract"
LEGACY_FIXED_ONNX_FILE = "generator_fixed.onnx"  # the legacy file with N fixed
# A published model's networks (its run's selected .keras), beside its step file in
# pretrained/: what the TFLite files, which are not shipped, are made from
NETWORKS_FILE = "networks.keras"
SAVED_MODEL_DIR = "saved_model"
REPORT_FILE = "verification.json"
EXPORT_DIR = "export"  # inside the run directory

# ONNX metadata_props: every value is a string.
METADATA_KEYS = (
    "contract",  # CONTRACT_VERSION
    "dataset",  # e.g. bouncing_balls
    "context_frames",  # K, the seed frames a rollout reads
    "channels",  # C
    "image_size",  # frames are image_size x image_size
    "latent_dim",
    "noise_dim",  # the noise input's last dimension
    "state_size",  # the state input's last dimension
    "pixel_range",  # PIXEL_RANGE, for frames in and out
    "training_frames",  # N the model was trained to generate (num_frames - K)
    "generation_feedback",  # frames or latent: what a step reads back after the seeds
    "training_mode",  # teacher_forced, rollout or scheduled
    "preset",  # the training preset
    "tf_deepgifs_version",
)
INTEGER_KEYS = ("context_frames", "channels", "image_size", "latent_dim", "noise_dim",
                "state_size", "training_frames")
# What a legacy file's metadata holds.
LEGACY_METADATA_KEYS = ("contract", "dataset", "context_frames", "channels", "latent_dim",
                        "image_size", "pixel_range", "training_frames", "training_mode",
                        "preset", "tf_deepgifs_version")
