"""BatchNormalization that trains with TensorFlow's fused kernel.

Keras 3's BatchNormalization computes the batch moments and the normalisation as separate
ops (ops.moments, then ops.batch_normalization), forward and backward. On TensorFlow,
FusedBatchNormV3 does the statistics and the normalisation in one kernel and has one
fused gradient kernel, which is faster on a CPU (BENCHMARKS.md).
Everything else (the variables, inference, other backends, masks) is Keras' own.
"""

import keras


@keras.saving.register_keras_serializable(package="tf_deepgifs")
class BatchNormalization(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization; in training on TensorFlow, one fused kernel.

    Same variables and same results as the Keras layer (tested): the output normalised
    by the batch's mean and (biased) variance over every axis but the last, and the moving
    statistics updated as Keras does, `moving = moving * momentum + batch * (1 - momentum)`
    with the biased variance. One difference, TensorFlow's: the fused kernel raises
    epsilon to at least 1.001e-5 (cuDNN's minimum); the paper preset's 1e-5 becomes
    1.001e-5 in training, a 1e-3 relative change of a term added to variances of order 1.
    """

    def call(self, inputs, training=None, mask=None):
        if training and self._fusable(inputs, mask):
            return self._fused_training_call(inputs)
        return super().call(inputs, training=training, mask=mask)

    def _fusable(self, inputs, mask):
        """The fused kernel covers trainable, last-axis, unmasked, per-replica batches."""
        last_axis = self.axis in (-1, len(inputs.shape) - 1)
        return (
            keras.backend.backend() == "tensorflow"
            and self.trainable
            and mask is None
            and last_axis
            and not self.synchronized
            and not getattr(self, "renorm", False)
        )

    def _fused_training_call(self, inputs):
        """inputs (..., C) float --> normalised (..., C), moving statistics updated."""
        import tensorflow as tf

        channels = inputs.shape[-1]
        x = tf.cast(inputs, tf.float32)
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        # The kernel wants NHWC: every axis but the channels' is reduced, so fold them all.
        folded = tf.reshape(x, [-1, 1, 1, channels])
        outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
            folded, gamma, beta, epsilon=self.epsilon, is_training=True)
        # The kernel's variance output is n / (n - 1) times the batch's; Keras keeps the latter.
        count = tf.cast(tf.shape(folded)[0], tf.float32)
        variance = unbiased_variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(tf.reshape(outputs, tf.shape(inputs)), self.compute_dtype)
