"""The rollout as one TensorFlow function, in the shape both export formats need.

`DeepGIF.rollout` unrolls its frames in Python, so a traced graph would fix N. Here the
generated frames come from one `tf.while_loop` whose trip count is read from the noise,
so one graph serves any length; tf2onnx turns it into a single ONNX `Loop`. The LSTM is
stepped by its cell inside the loop: a whole keras LSTM layer in a loop does not
convert, and on a GPU machine Keras would pick a cuDNN kernel tf2onnx cannot read.

With `fixed_frames` the same steps are unrolled for that one N instead. ONNX Runtime
optimises a Loop's body far less than a plain graph (no layout change to its blocked
NCHWc convolutions, no transposes removed, every step's overhead): the unrolled graph
runs a 19-frame rollout about 10 times faster at batch 1 (BENCHMARKS.md).
"""

import tensorflow as tf

from . import contract
from tf_deepgifs.data import pixels
from tf_deepgifs.models.encoder import sample_latent


def input_signature(model, fixed_frames=None):
    """The contract's (seed, noise) specs for `model`: batch dynamic, N unless fixed."""
    c = model.config
    return [
        tf.TensorSpec([None, model.context_frames, c.image_size, c.image_size, c.channels],
                      tf.float32, name=contract.SEED),
        tf.TensorSpec([None, fixed_frames, c.latent_dim], tf.float32, name=contract.NOISE),
    ]


def rollout_function(model, fixed_frames=None):
    """A `tf.function(seed, noise) -> {"frames": ...}` generating as `model.rollout` does.

    Inference mode throughout (BatchNorm's running statistics). Same semantics as
    `DeepGIF.rollout`: earlier seed frames enter the LSTM as their mean latent, the last
    one sampled with noise[:, 0]; each generated frame n is encoded and fed back with
    noise[:, n + 1] (with `generation_feedback` "latent" its latent is fed back as it is
    and noise[:, 1:] is unused). `fixed_frames` N: noise must have N frames, and the steps are
    unrolled rather than looped.
    """
    c, k = model.config, model.context_frames
    decoder, predictor = model.decoder, model.predictor
    frame_shape = [c.image_size, c.image_size, c.channels]

    def first_latent(seed, noise):
        """The seed frames through the encoder and the LSTM: (latent, h, c) for frame 1."""
        batch = tf.shape(seed)[0]
        mean, log_variance, _ = model.encode_sequence(
            seed, tf.zeros([batch, k, c.latent_dim]), training=False)
        state = predictor.initial_state(batch)
        for i in range(k - 1):
            _, state = predictor.step(mean[:, i], state, training=False)
        last = sample_latent(mean[:, -1], log_variance[:, -1], noise[:, 0])
        latent, (h, c_state) = predictor.step(last, state, training=False)
        return latent, h, c_state

    def next_frame(latent, h, c_state, frame_noise, kernels):
        """One step: the frame of `latent`, and the state after feeding it back.

        kernels: the decoder's `transposed_kernels()`, folded once before the frames (a
        fold per frame would cost TensorFlow about a third of a batch-1 frame)."""
        frame, fed_back = model.generation_step(latent, frame_noise, kernels)
        latent, (h, c_state) = predictor.step(fed_back, [h, c_state], training=False)
        return pixels.from_network_range(frame), latent, h, c_state

    @tf.function(input_signature=input_signature(model, fixed_frames), autograph=False)
    def unrolled(seed, noise):
        latent, h, c_state = first_latent(seed, noise)
        frames, kernels = [], decoder.transposed_kernels()
        for n in range(fixed_frames):
            if n == fixed_frames - 1:  # the last frame is not fed back
                frames.append(pixels.from_network_range(
                    decoder(latent, training=False, transposed_kernels=kernels)))
                break
            frame, latent, h, c_state = next_frame(latent, h, c_state, noise[:, n + 1], kernels)
            frames.append(frame)
        return {contract.FRAMES: tf.stack(frames, axis=1)}

    @tf.function(input_signature=input_signature(model), autograph=False)
    def looped(seed, noise):
        num_frames = tf.shape(noise)[1]
        latent, h, c_state = first_latent(seed, noise)
        kernels = decoder.transposed_kernels()  # loop invariants, captured by the body

        def generate_one(n, latent, h, c_state, frames):
            # After the last frame this feeds it back once more and the result is unused:
            # tf2onnx needs every frame written at the loop's own index, and TensorFlow
            # cannot stack an empty list of frames whose batch size is unknown.
            frame, latent, h, c_state = next_frame(
                latent, h, c_state, noise[:, tf.minimum(n + 1, num_frames - 1)], kernels)
            return n + 1, latent, h, c_state, frames.write(n, frame)

        frames = tf.TensorArray(tf.float32, size=num_frames, element_shape=[None] + frame_shape)
        *_, frames = tf.while_loop(
            lambda n, *_: n < num_frames, generate_one,
            (tf.constant(0), latent, h, c_state, frames),
        )
        # (N, B, H, W, C) --> (B, N, H, W, C)
        generated = tf.transpose(frames.stack(), [1, 0, 2, 3, 4])
        return {contract.FRAMES: generated}

    return unrolled if fixed_frames else looped
