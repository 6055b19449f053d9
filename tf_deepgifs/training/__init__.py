"""The training layer: runs that turn data into trained networks, on TensorFlow or JAX.

    loop            the one training loop every stage runs through
    stages          what a stage gives the loop (players, batches, validation, schedule)
    joint_training  the paper's four networks and losses (`python -m tf_deepgifs train`)
    horizon_tuning  the LSTM trained over the whole horizon (`python -m tf_deepgifs tune`)
    latent_dynamics its rollouts in latent space and their losses
    tuning_validation  encoding the sequences once, generating and measuring them
    autoencoder     the encoder and decoder on single frames (the staged method's first stage)
    staged_training `train` by stages: the autoencoder, then the LSTM in its latent space
    backends        the step, the one part that differs by backend
    distribution    which devices a run trains on (tf.distribute, keras.distribution)
    samples         the ground-truth-beside-generated GIFs a run writes

May import: tf_deepgifs.config, tf_deepgifs.errors, tf_deepgifs.data, tf_deepgifs.metrics,
tf_deepgifs.models.
"""
