"""The exported generator as TensorFlow functions: one step (the ONNX file), and the
rollout that loops it (the SavedModel's `rollout` signature).

The step is the contract's (`contract.py`): read frames (encoded and sampled) and latents
(as they are), step the LSTM, decode the next frame. It is made of the model's own pieces
(`DeepGIF.read_frame`, the predictor, the decoder), so the exported generator generates
what `DeepGIF.rollout` does.

`rollout_function` loops the same pieces in a `tf.while_loop` (one graph for any N), or
unrolls them for one N (`fixed_frames`): the two legacy ONNX files (contract
deepgifs-rollout-1), which `benchmarks/rollout_latency.py` measures the step file against.
"""

import tensorflow as tf

from tf_deepgifs.data import pixels

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


def _advance(model, read, state, noise):
    """The LSTM reads `read` (B, L): its prediction, decoded, and the new state. A mixture
    model draws the prediction's component with the rest of `noise` (B, noise_dim) after
    its first latent_dim numbers."""
    choice = noise[:, model.config.latent_dim :] if model.config.mixture_components else None
    latent, (h, c) = model.predictor.step(read, [state[:, 0], state[:, 1]], training=False,
                                          noise=choice)
    frame = pixels.from_network_range(model.decoder(latent, training=False))
    return {contract.NEXT_FRAME: frame, contract.NEXT_LATENT: latent,
            contract.NEXT_STATE: tf.stack([h, c], axis=1)}


def _read(model, frame, noise):
    """Frames (B, H, W, C) in [0, 1] --> the latents the LSTM reads for them (B, L),
    sampled with the first latent_dim numbers of `noise` (B, noise_dim)."""
    # Converted flat: ONNX Runtime's CPU Mul and Sub on a tensor whose last dimension is 1
    # (a grey frame, NHWC) take a per-element broadcasting path many times slower than on
    # the same numbers as (B, H * W * C) (results/notes.md); the values are the same.
    flat = tf.reshape(frame, [tf.shape(frame)[0], -1])
    frame = tf.reshape(pixels.to_network_range(flat), tf.shape(frame))
    return model.read_frame(frame, noise[:, : model.config.latent_dim])


def step_function(model):
    """`tf.function(frame, latent, state, noise) -> {next_frame, next_latent, next_state}`,
    the contract's step, in inference mode (BatchNorm's moving statistics).

    For ONNX: TensorFlow's CPU convolutions refuse an empty batch, which the step is given
    (frames or latents), so TensorFlow itself loops `rollout_function` instead.
    """

    @tf.function(input_signature=step_signature(model), autograph=False)
    def step(frame, latent, state, noise):
        reading_frames = tf.shape(frame)[0]
        read = tf.concat([_read(model, frame, noise[:reading_frames]), latent], axis=0)
        return _advance(model, read, state, noise)

    return step


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
    read_back_frames = c.generation_feedback == "frames"

    def seeded(seed, noise):
        """The K steps reading the seed frames: (generated frame 1, latent, state)."""
        batch = tf.shape(seed)[0]
        state = tf.zeros([batch, 2, c.lstm_units])
        for i in range(k):  # the earlier seed frames read as their mean latent
            frame_noise = noise[:, 0] if i == k - 1 else tf.zeros_like(noise[:, 0])
            out = _advance(model, _read(model, seed[:, i], frame_noise), state, frame_noise)
            state = out[contract.NEXT_STATE]
        return out[contract.NEXT_FRAME], out[contract.NEXT_LATENT], state

    def next_step(frame, latent, state, frame_noise):
        read = _read(model, frame, frame_noise) if read_back_frames else latent
        out = _advance(model, read, state, frame_noise)
        return out[contract.NEXT_FRAME], out[contract.NEXT_LATENT], out[contract.NEXT_STATE]

    @tf.function(input_signature=rollout_signature(model, fixed_frames), autograph=False)
    def unrolled(seed, noise):
        frame, latent, state = seeded(seed, noise)
        frames = [frame]
        for n in range(1, fixed_frames):
            frame, latent, state = next_step(frame, latent, state, noise[:, n])
            frames.append(frame)
        return {contract.FRAMES: tf.stack(frames, axis=1)}

    @tf.function(input_signature=rollout_signature(model), autograph=False)
    def looped(seed, noise):
        num_frames = tf.shape(noise)[1]
        frame, latent, state = seeded(seed, noise)
        frames = tf.TensorArray(tf.float32, size=num_frames,
                                element_shape=[None, c.image_size, c.image_size, c.channels])

        def one_more(n, frame, latent, state, frames):
            # Frame n is written at the loop's own index (tf2onnx converts no other
            # pattern), then the next made; after the last frame that one is unused.
            frames = frames.write(n, frame)
            frame, latent, state = next_step(
                frame, latent, state, noise[:, tf.minimum(n + 1, num_frames - 1)])
            return n + 1, frame, latent, state, frames

        *_, frames = tf.while_loop(lambda n, *_: n < num_frames, one_more,
                                   (tf.constant(0), frame, latent, state, frames))
        # (N, B, H, W, C) --> (B, N, H, W, C)
        return {contract.FRAMES: tf.transpose(frames.stack(), [1, 0, 2, 3, 4])}

    return unrolled if fixed_frames else looped
