"""The 8-bit step file: generator.onnx with its weights stored in 8 bits.

    generator_int8.onnx   the same inputs, outputs and metadata as generator.onnx; every
                          weight of a convolution, transposed convolution or matrix
                          product stored as int8 per output channel, rebuilt as float32
                          when ONNX Runtime loads the file

Each such weight becomes constant Cast (int8 to float32) and Mul (its channels' scales)
nodes, which ONNX Runtime's constant folding (onnxruntime and onnxruntime-web alike) turns
back into a float32 weight at load: the file is a quarter of the float file's bytes, and a
step computes as the float file's does, on weights rounded to 8 bits. Quantizing the
activations as well (ONNX Runtime's static quantizer, QDQ) made a step slower at a batch
of one, its CPU kernels fusing no 8-bit transposed convolution, and lost more quality;
its dequantization of constant weights is not folded (results/notes.md).
"""

import numpy as np
import onnx
from onnx import helper, numpy_helper

# op type: the output-channel axis of its weight (input 1): Conv (O, I, kH, kW),
# ConvTranspose (I, O, kH, kW), MatMul (K, N)
STORED_IN_8_BITS = {"Conv": 0, "ConvTranspose": 1, "MatMul": 1}
INT8_LIMIT = 127  # symmetric int8 weights in -127..127, as ONNX Runtime's quantizer makes them


def quantize(float_path, quantized_path):
    """Writes `float_path` with the weights of STORED_IN_8_BITS in 8 bits to
    `quantized_path`: the same inputs, outputs and metadata_props."""
    model = onnx.load(str(float_path))
    store_weights_in_8_bits(model, STORED_IN_8_BITS)
    onnx.save(model, str(quantized_path))


def store_weights_in_8_bits(model, ops):
    """Stores the float weights of `ops` ({op type: output-channel axis}) in `model`, in
    place, as int8 per output channel, each rebuilt by a Cast and a Mul of constants."""
    weights = {tensor.name: tensor for tensor in model.graph.initializer}
    rebuilt = []  # the Cast and Mul nodes, placed first: they read constants only
    for node in model.graph.node:
        axis = ops.get(node.op_type)
        if axis is None or node.input[1] not in weights:
            continue
        name = node.input[1]
        values, scale = int8_per_channel(numpy_helper.to_array(weights[name]), axis)
        model.graph.initializer.remove(weights.pop(name))
        model.graph.initializer.extend([numpy_helper.from_array(values, f"{name}_int8"),
                                        numpy_helper.from_array(scale, f"{name}_scale")])
        rebuilt += [helper.make_node("Cast", [f"{name}_int8"], [f"{name}_cast"],
                                     to=onnx.TensorProto.FLOAT),
                    helper.make_node("Mul", [f"{name}_cast", f"{name}_scale"], [name])]
    nodes = rebuilt + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)


def int8_per_channel(weight, axis):
    """float32 weight --> (int8 values, float32 scale broadcastable to it), values * scale
    within half a step of weight; symmetric, one scale per index along `axis`."""
    others = tuple(i for i in range(weight.ndim) if i != axis)
    largest = np.abs(weight).max(axis=others, keepdims=True)
    scale = (np.where(largest > 0, largest, 1.0) / INT8_LIMIT).astype(np.float32)
    values = np.clip(np.round(weight / scale), -INT8_LIMIT, INT8_LIMIT).astype(np.int8)
    return values, scale
