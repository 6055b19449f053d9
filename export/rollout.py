"""The exported generator as TensorFlow functions: one step (the ONNX file), and the
rollout that loops it (the SavedModel's `rollout` signature).

The step is the contract's (`contract.py`): read frames (encoded and sampled) and latents
(as they are), step the LSTM, decode the next frame. It is the model's own
`DeepGIF.generation_step`, so the exported generator generates what `DeepGIF.rollout`
does.

`rollout_function` loops the same pieces in a `tf.while_loop` (one graph for any N), or
unrolls them for one N (`fixed_frames`): the two legacy ONNX files (contract
deepgifs-rollout-1), which `benchmarks/rollout_latency.py` measures the step file against.
"""

import tensorflow as tf

from tf_deepgifs.data import pixels
from tf_deepgifs.models.deepgif import GenerationStep

from . import contract


def step_signature(model):
    c = model.config
    return [
        tf.TensorSpec([None, c.image_size, c.image_size, c.channels], tf.float32,
                      name=contract.FRAME),
        tf.TensorSpec([None, c.latent_dim], tf.float32, name=contract.LATENT),
        tf.TensorSpec([None, 2, c.lstm_units], tf.float32, name=contract.STATE),
        tf.TensorSpec([None, c.noise_dim], tf.float32, name=contract.NOISE),
    ]


def _as_outputs(model, step):
    """A `GenerationStep` as the contract's outputs: the frame in [0, 1], the state as one
    (B, 2, state_size) tensor."""
    return {contract.NEXT_FRAME: pixels.from_network_range(step.frame),
            contract.NEXT_LATENT: step.latent,
            contract.NEXT_STATE: tf.stack(step.state, axis=1)}


def _network_frames(frame):
    """Frames (B, H, W, C) in [0, 1] --> [-1, 1], converted flat: ONNX Runtime's CPU Mul
    and Sub on a tensor whose last dimension is 1 (a grey frame, NHWC) take a per-element
    broadcasting path many times slower than on the same numbers as (B, H * W * C)
    (results/notes.md); the values are the same."""
    flat = tf.reshape(frame, [tf.shape(frame)[0], -1])
    return tf.reshape(pixels.to_network_range(flat), tf.shape(frame))


def step_function(model, reads=(contract.FRAME, contract.LATENT)):
    """`tf.function(frame, latent, state, noise) -> {next_frame, next_latent, next_state}`:
    the contract's step, `DeepGIF.generation_step` in inference mode (BatchNorm's moving
    statistics), frames in [0, 1].

    `reads`: the read inputs it takes, both for the ONNX step; one for a TFLite signature
    (LiteRT refuses the empty batch of the input a step does not read, tflite.py).
    For ONNX: TensorFlow's CPU convolutions refuse an empty batch too, so TensorFlow itself
    loops `rollout_function` instead.
    """
    specs = [spec for spec in step_signature(model)
             if spec.name in reads or spec.name not in (contract.FRAME, contract.LATENT)]

    def step(*inputs):
        given = {spec.name: value for spec, value in zip(specs, inputs)}
        frames = given.get(contract.FRAME)
        state = given[contract.STATE]
        return _as_outputs(model, model.generation_step(
            [state[:, 0], state[:, 1]], latents=given.get(contract.LATENT),
            frames=None if frames is None else _network_frames(frames),
            noise=given[contract.NOISE], training=False))

    return tf.function(step, input_signature=specs, autograph=False)


def rollout_signature(model, fixed_frames=None):
    """The (seed, noise) specs: batch dynamic, N unless fixed."""
    c = model.config
    return [
        tf.TensorSpec([None, model.context_frames, c.image_size, c.image_size, c.channels],
                      tf.float32, name=contract.SEED),
        tf.TensorSpec([None, fixed_frames, c.noise_dim], tf.float32, name=contract.NOISE),
    ]


def rollout_function(model, fixed_frames=None):
    """`tf.function(seed, noise) -> {"frames": ...}`: the step looped as the runner loops it.

    seed (B, K, H, W, C) and frames (B, N, H, W, C) in [0, 1]; noise (B, N, noise_dim),
    one entry per step: entry 0 samples the last seed frame's latent, entry n the latent
    of generated frame n - 1 ("frames" feedback), and a mixture's entry n draws generated
    frame n's component (`DeepGIF.rollout`). `fixed_frames` N: noise must have N frames,
    and the steps are unrolled rather than looped.
    """
    k, c = model.context_frames, model.config

    def seeded(seed, noise):
        """The K steps reading the seed frames, the earlier ones as their mean latent: the
        step that made generated frame 1."""
        state = [tf.zeros([tf.shape(seed)[0], c.lstm_units])] * 2
        for i in range(k):
            step = model.generation_step(
                state, frames=_network_frames(seed[:, i]), training=False,
                noise=noise[:, 0] if i == k - 1 else tf.zeros_like(noise[:, 0]))
            state = step.state
        return step

    def next_step(step, row_noise):
        """The step after `step`, reading back what it made (`DeepGIF.next_input`)."""
        read = model.next_input(step.frame, step.latent, row_noise[:, : c.latent_dim])
        return model.generation_step(step.state, latents=read, noise=row_noise,
                                     training=False)

    def frame_of(step):
        return pixels.from_network_range(step.frame)

    @tf.function(input_signature=rollout_signature(model, fixed_frames), autograph=False)
    def unrolled(seed, noise):
        step = seeded(seed, noise)
        frames = [frame_of(step)]
        for n in range(1, fixed_frames):
            step = next_step(step, noise[:, n])
            frames.append(frame_of(step))
        return {contract.FRAMES: tf.stack(frames, axis=1)}

    @tf.function(input_signature=rollout_signature(model), autograph=False)
    def looped(seed, noise):
        num_frames = tf.shape(noise)[1]
        first = seeded(seed, noise)
        frames = tf.TensorArray(tf.float32, size=num_frames,
                                element_shape=[None, c.image_size, c.image_size, c.channels])

        def one_more(n, frame, latent, state, frames):
            # Frame n is written at the loop's own index (tf2onnx converts no other
            # pattern), then the next made; after the last frame that one is unused.
            step = GenerationStep(frame, latent, state, None)
            frames = frames.write(n, frame_of(step))
            step = next_step(step, noise[:, tf.minimum(n + 1, num_frames - 1)])
            return n + 1, step.frame, step.latent, step.state, frames

        *_, frames = tf.while_loop(
            lambda n, *_: n < num_frames, one_more,
            (tf.constant(0), first.frame, first.latent, first.state, frames))
        # (N, B, H, W, C) --> (B, N, H, W, C)
        return {contract.FRAMES: tf.transpose(frames.stack(), [1, 0, 2, 3, 4])}

    return unrolled if fixed_frames else looped
