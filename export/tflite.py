"""generator.tflite: the contract's step for TensorFlow Lite (LiteRT), float16 weights;
generator_int8.tflite: the same with 8-bit weights (LiteRT's dynamic range quantization:
convolutions and matrix products run in 8 bits on activations quantized as each step runs,
so no calibration is needed).

LiteRT's CPU kernels (XNNPack) refuse the empty batch the contract gives the input a step
does not read, so the file holds the step twice, as two signatures that differ only in
what they read (`contract.LITE_SIGNATURES`):

    read_frames    frame, state, noise   ->  next_frame, next_latent, next_state
    read_latents   latent, state, noise  ->  next_frame, next_latent, next_state

The contract's metadata (the ONNX file's metadata_props) is the file's metadata entry
`contract.LITE_METADATA`, as JSON. The file is converted from a SavedModel of the two
steps: the TFLite converter given the step's concrete function alone drops the weights
it captures, and the frames come out NaN.
"""

import json
import tempfile

import flatbuffers
import keras
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema

from . import contract
from .rollout import step_function

FILE_IDENTIFIER = b"TFL3"  # what every TFLite flatbuffer is finished with
NOT_CONVERTIBLE = ("a mixture model draws its components through erf, which TFLite's "
                   "built-in ops lack")


def convertible(model):
    """Whether TFLite's built-in ops hold the model's step (`NOT_CONVERTIBLE` says why not)."""
    return not model.config.mixture_components


WEIGHTS = ("float32", "float16", "int8")  # what `convert` stores the weights as


def convert(model, weights="float16"):
    """The model's two step signatures as TFLite flatbuffer bytes, weights stored as
    `weights` (one of WEIGHTS)."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}.")
    archive = keras.export.ExportArchive()
    for network in (model.encoder, model.predictor, model.decoder):
        archive.track(network)
    for name, inputs in contract.LITE_SIGNATURES.items():
        archive.add_endpoint(name=name, fn=step_function(model, reads=inputs))
    with tempfile.TemporaryDirectory() as folder:
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            folder, signature_keys=list(contract.LITE_SIGNATURES))
        if weights != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]  # alone: int8 weights
        if weights == "float16":
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


def with_metadata(flatbuffer, properties):
    """The flatbuffer with `properties` ({key: string}) as its contract metadata entry."""
    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    buffer = schema.BufferT()
    buffer.data = list(json.dumps(properties).encode())
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = contract.LITE_METADATA
    entry.buffer = len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [entry]
    builder = flatbuffers.Builder(len(flatbuffer) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def write_tflite(model, path, properties, weights="float16"):
    """Writes a TFLite step file: the step's two signatures, weights as `weights`, with
    the contract."""
    with open(path, "wb") as file:
        file.write(with_metadata(convert(model, weights), properties))
