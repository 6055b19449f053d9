"""The DeepGIFs networks (paper 4.1) and the model that trains them together."""

from tf_deepgifs.models.decoder import Decoder
from tf_deepgifs.models.deepgif import DeepGIF
from tf_deepgifs.models.discriminator import Discriminator
from tf_deepgifs.models.encoder import Encoder, sample_latent
from tf_deepgifs.models.predictor import Predictor

__all__ = ["Decoder", "DeepGIF", "Discriminator", "Encoder", "Predictor", "sample_latent"]
