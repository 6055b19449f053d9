"""Deploying the generator: one generation step, exported and verified.

  contract.py  the step's inputs, outputs and metadata, and the file names (no dependencies)
  rollout.py   the step (and the SavedModel's rollout looping it) as TensorFlow functions
  exporter.py  writes every format from a run directory and verifies them (TensorFlow)
  quantize.py  the step with its weights stored in 8 bits
  tflite.py    the step for TensorFlow Lite, float16 or 8-bit weights (TensorFlow)
  verify.py    ONNX Runtime against TensorFlow; the SavedModel in a fresh process; the
               smaller files against the float one
  generate.py  seed images to a GIF with ONNX Runtime, NumPy and imageio alone
  litert.py    the runner's steps for a generator.tflite, with LiteRT's interpreter alone

Nothing here is imported by `tf_deepgifs` except for the `export` command; `generate.py`
and `litert.py` import neither TensorFlow nor `tf_deepgifs`.
"""
