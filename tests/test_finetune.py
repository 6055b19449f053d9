"""The staged method's fine-tune (`training/finetune.py`): its learning rates over its
steps, and the BatchNorm statistics it keeps."""

import json

import numpy as np
import pytest

from tests.tiny import TINY_MODEL, ball_pixels
from tf_deepgifs.config import PRESETS, Config, DataConfig, FinetuneConfig, TrainConfig
from tf_deepgifs.runs import run_directory
from tf_deepgifs.training import backends, distribution, finetune

STEPS = 4


def _config(**options):
    return Config(model=TINY_MODEL, train=TrainConfig(sample_sequences=1),
                  data=DataConfig(num_frames=6),
                  finetune=FinetuneConfig(steps=STEPS, batch_size=2, **options))


def _trained(tmp_path, steps, **options):
    """(source model, fine-tuned model) after `steps` fine-tune steps on 4 sequences."""
    config = _config(**options)
    videos = ball_pixels(batch=4, frames=6)
    source = run_directory.build_model(config, videos.shape[1:])
    weights = tmp_path / "source.keras"
    run_directory.save_inference_model(source, videos.shape[1:], weights)
    model = run_directory.build_model(config, videos.shape[1:])
    stage = finetune.Finetune(config, model, videos, {"video": videos}, weights)
    backend = backends.TensorFlowBackend(stage, distribution.tensorflow_devices(None))
    backend.start()
    run_directory.initialise_networks(model, str(weights))
    stage.start(backend, log=lambda line: None)
    for step in range(steps):
        backend.train_step(stage.batch(step), step)
    return source, model


def _batch_norms(network):
    return [layer for layer in network._flatten_layers(include_self=False)
            if layer.__class__.__name__ == "BatchNormalization"]


def _statistics(network):
    return [np.array(v) for layer in _batch_norms(network) for v in layer.weights]


def test_frozen_the_encoder_and_decoder_keep_their_statistics_and_the_rest_trains(tmp_path):
    source, tuned = _trained(tmp_path, 2, freeze_batchnorm=True)
    for network in ("encoder", "decoder"):
        assert _batch_norms(getattr(tuned, network)), network
        for before, after in zip(_statistics(getattr(source, network)),
                                 _statistics(getattr(tuned, network))):
            np.testing.assert_array_equal(before, after)
    for network in ("encoder", "decoder", "discriminator"):  # kernels, the critic's statistics
        assert any(not np.array_equal(before, after) for before, after in zip(
            getattr(source, network).weights, getattr(tuned, network).weights)), network
    assert any(not np.array_equal(before, after) for before, after in zip(
        _statistics(source.discriminator), _statistics(tuned.discriminator)))


def test_unfrozen_the_statistics_follow_the_batches(tmp_path):
    source, tuned = _trained(tmp_path, 2, freeze_batchnorm=False)
    for network in ("encoder", "decoder"):
        assert any(not np.array_equal(before, after) for before, after in zip(
            _statistics(getattr(source, network)), _statistics(getattr(tuned, network)))), network


@pytest.mark.parametrize("decay, last", [("cosine", 0.0), ("constant", 1.0)])
def test_both_players_rates_start_at_the_papers_and_decay_over_the_steps(decay, last):
    config = _config(learning_rate_decay=decay)
    model = run_directory.build_model(config, (6, 64, 64, 1))
    finetune.compile_finetune_optimizers(model, config)
    for optimizer, rate in ((model.g_optimizer, config.train.g_learning_rate),
                            (model.d_optimizer, config.train.d_learning_rate)):
        assert float(optimizer.learning_rate) == pytest.approx(rate, rel=1e-6)
        optimizer.iterations.assign(STEPS)
        assert float(optimizer.learning_rate) == pytest.approx(last * rate, rel=1e-6, abs=1e-12)


def test_a_run_written_before_the_decay_keeps_the_constant_rates_and_updated_statistics():
    values = json.loads(PRESETS["staged"].to_json())
    assert (values["finetune"]["learning_rate_decay"], values["finetune"]["freeze_batchnorm"]) \
        == ("cosine", True)
    for name in ("learning_rate_decay", "freeze_batchnorm"):
        del values["finetune"][name]
    read = Config.from_dict(values).finetune
    assert (read.learning_rate_decay, read.freeze_batchnorm) == ("constant", False)
    del values["finetune"]
    assert Config.from_dict(values).finetune.steps == 0
