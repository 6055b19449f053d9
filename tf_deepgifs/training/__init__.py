"""The training layer: runs that turn data into trained networks.

    run_dir         a run directory: what is written, read back and resumed
    distribution    which devices a run trains on (tf.distribute, keras.distribution)
    trainer         training under TensorFlow (`python -m tf_deepgifs train`)
    jax_trainer     training under JAX (KERAS_BACKEND=jax)
    horizon_tuning  the LSTM trained over the whole horizon (`python -m tf_deepgifs tune`)
    samples         the ground-truth-beside-generated GIFs a run writes

May import: tf_deepgifs.config, tf_deepgifs.errors, tf_deepgifs.data, tf_deepgifs.models.
"""
