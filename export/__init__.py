"""Deploying the generator: the rollout exported as a SavedModel and as ONNX.

  contract.py  the exported rollout's inputs, output and metadata (no dependencies)
  rollout.py   the rollout as one TensorFlow function with a `tf.while_loop` (TensorFlow)
  exporter.py  writes both formats from a run directory and verifies them (TensorFlow)
  verify.py    ONNX Runtime against TensorFlow; the SavedModel in a fresh process
  generate.py  seed images to a GIF with ONNX Runtime, NumPy and imageio alone

Nothing here is imported by `tf_deepgifs` except for the `export` command, and
`generate.py` imports neither TensorFlow nor `tf_deepgifs`.
"""
