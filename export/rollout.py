"""The rollout as one TensorFlow function, in the shape both export formats need.

`DeepGIF.rollout` unrolls its frames in Python, so a traced graph would fix N. Here the
generated frames come from one `tf.while_loop` whose trip count is read from the noise,
so one graph serves any length; tf2onnx turns it into a single ONNX `Loop`. The LSTM is
stepped by its cell inside the loop: a whole keras LSTM layer in a loop does not
convert, and on a GPU machine Keras would pick a cuDNN kernel tf2onnx cannot read.
"""

import tensorflow as tf

from export import contract
from tf_deepgifs.models.encoder import sample_latent


def input_signature(model):
    """The contract's (seed, noise) specs for `model`: batch and N dynamic."""
    c = model.config
    return [
        tf.TensorSpec([None, model.context_frames, c.image_size, c.image_size, c.channels],
                      tf.float32, name=contract.SEED),
        tf.TensorSpec([None, None, c.latent_dim], tf.float32, name=contract.NOISE),
    ]


def _to_model_range(pixels):
    """[0, 1] --> the model's [-1, 1]."""
    return pixels * 2.0 - 1.0


def _to_pixel_range(images):
    """The model's [-1, 1] --> [0, 1]."""
    return (images + 1.0) / 2.0


def rollout_function(model):
    """A `tf.function(seed, noise) -> {"frames": ...}` generating as `model.rollout` does.

    Inference mode throughout (BatchNorm's running statistics). Same semantics as
    `DeepGIF.rollout`: earlier seed frames enter the LSTM as their mean latent, the last
    one sampled with noise[:, 0]; each generated frame n is encoded and fed back with
    noise[:, n + 1].
    """
    c, k = model.config, model.context_frames
    encoder, decoder, predictor = model.encoder, model.decoder, model.predictor
    frame_shape = [c.image_size, c.image_size, c.channels]

    @tf.function(input_signature=input_signature(model), autograph=False)
    def rollout(seed, noise):
        batch, num_frames = tf.shape(seed)[0], tf.shape(noise)[1]
        mean, log_variance = encoder(tf.reshape(_to_model_range(seed), [-1] + frame_shape),
                                     training=False)
        mean = tf.reshape(mean, [batch, k, c.latent_dim])
        log_variance = tf.reshape(log_variance, [batch, k, c.latent_dim])
        state = predictor.initial_state(batch)
        for i in range(k - 1):
            _, state = predictor.step(mean[:, i], state, training=False)
        last = sample_latent(mean[:, -1], log_variance[:, -1], noise[:, 0])
        latent, state = predictor.step(last, state, training=False)

        def generate_one(n, latent, h, c_state, frames):
            frame = decoder(latent, training=False)
            frame_mean, frame_log_variance = encoder(frame, training=False)
            # After the last frame this feeds it back once more and the result is unused:
            # tf2onnx needs every frame written at the loop's own index, and TensorFlow
            # cannot stack an empty list of frames whose batch size is unknown.
            fed_back = sample_latent(frame_mean, frame_log_variance,
                                     noise[:, tf.minimum(n + 1, num_frames - 1)])
            latent, (h, c_state) = predictor.step(fed_back, [h, c_state], training=False)
            return n + 1, latent, h, c_state, frames.write(n, frame)

        frames = tf.TensorArray(tf.float32, size=num_frames, element_shape=[None] + frame_shape)
        *_, frames = tf.while_loop(
            lambda n, *_: n < num_frames, generate_one,
            (tf.constant(0), latent, state[0], state[1], frames),
        )
        # (N, B, H, W, C) --> (B, N, H, W, C)
        generated = tf.transpose(frames.stack(), [1, 0, 2, 3, 4])
        return {contract.FRAMES: _to_pixel_range(generated)}

    return rollout
