"""A generator.tflite looped with LiteRT's interpreter alone (the `ai-edge-litert`
package, no TensorFlow): the runner's steps (`generate.Generator`) for TFLite files.

The file holds the contract's step as two signatures, one per input read
(`contract.LITE_SIGNATURES`, tflite.py); a step calls the one for what it reads.
"""

import json

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

from . import contract


def read_metadata(path):
    """The contract's metadata ({key: string}) of a TFLite file, or {} without it."""
    with open(path, "rb") as file:
        flatbuffer = file.read()
    model = schema.Model.GetRootAs(flatbuffer, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() == contract.LITE_METADATA:
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return {}


def load(path, threads=None):
    """(interpreter, metadata, {signature: its input and output names}) of a TFLite file;
    raises ValueError when LiteRT cannot read it."""
    interpreter = Interpreter(model_path=path, num_threads=threads)
    return interpreter, read_metadata(path), interpreter.get_signature_list()


class LiteSteps:
    """The step file's steps in LiteRT, as `generate.BoundSteps` takes them in ONNX
    Runtime: each step reads the seed frame given, or what the step before made.

    Args:
      generator: a `generate.Generator` of a TFLite file.
      batch: B sequences.
      on_step: optional, called with a copy of each step's inputs.
    """

    def __init__(self, generator, batch, on_step=None):
        self.runners = {name: generator.interpreter.get_signature_runner(name)
                        for name in contract.LITE_SIGNATURES}
        self.reads_back_frames, self.on_step = generator.reads_back_frames, on_step
        self.noise_dim = generator.noise_dim
        self.outputs = {contract.NEXT_FRAME: np.zeros((batch,) + generator.frame_shape, np.float32),
                        contract.NEXT_LATENT: np.zeros((batch, generator.latent_dim), np.float32),
                        contract.NEXT_STATE: np.zeros((batch, 2, generator.state_size), np.float32)}

    @property
    def frame(self):
        """(B, H, W, C): the frame the last step generated."""
        return self.outputs[contract.NEXT_FRAME]

    def step(self, frame, noise):
        """One step reading `frame` (B, H, W, C), or with None what the step before made;
        `noise` (B, noise_dim), None for zeros."""
        reads_frame = frame is not None or self.reads_back_frames
        if frame is None:
            frame = self.outputs[contract.NEXT_FRAME]
        read = frame if reads_frame else self.outputs[contract.NEXT_LATENT]
        if noise is None:
            noise = np.zeros((len(read), self.noise_dim), np.float32)
        inputs = {contract.FRAME if reads_frame else contract.LATENT: read,
                  contract.STATE: self.outputs[contract.NEXT_STATE], contract.NOISE: noise}
        inputs = {name: np.ascontiguousarray(value, np.float32) for name, value in inputs.items()}
        if self.on_step:
            self.on_step({name: value.copy() for name, value in inputs.items()})
        signature = contract.READ_FRAMES if reads_frame else contract.READ_LATENTS
        self.outputs = self.runners[signature](**inputs)
