"""tf_deepgifs: DeepGIFs (Malik, Troute and Capoor, 2018) in TensorFlow / Keras 3.

Learned motion synthesis from still frames: a VAE encoder/decoder, an LSTM in the latent
space and a GAN discriminator, trained on Bouncing Balls and Moving MNIST.
"""

__version__ = "0.1.0"
