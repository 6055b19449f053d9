"""`python -m tf_deepgifs export` (and `make export`): a run's generator as SavedModel and ONNX.

    <run dir>/export/
        saved_model/        TensorFlow SavedModel, signature "rollout"
        generator.onnx      the same function through tf2onnx, with metadata_props
        verification.json   per-frame errors of both against the TensorFlow function

The files are written to `export.partial/`, verified, and only then renamed to `export/`
(replacing an earlier export), so a failed or interrupted export leaves no files that
look finished.
"""

import json
import os
import pathlib
import shutil

import keras
import onnx
import tensorflow as tf
import tf2onnx

import tf_deepgifs
from export import contract, verify
from export.rollout import input_signature, rollout_function
from tf_deepgifs import train
from tf_deepgifs.config import Config
from tf_deepgifs.errors import UserError

# tf2onnx 1.17 knows opsets up to 18; ONNX Runtime runs 18 from release 1.14 on.
OPSET = 18
# Dims of the contract's dynamic axes, named in the ONNX file's inputs and output.
_DYNAMIC_DIMS = {contract.SEED: {0: "batch"}, contract.NOISE: {0: "batch", 1: "frames"},
                 contract.FRAMES: {0: "batch", 1: "frames"}}
BATCH_SIZES = (1, 3)  # verified batch sizes


class ExportError(UserError):
    """The run cannot be exported, or its exports disagree with the model."""


def verification_lengths(config):
    """Two lengths: a short one, and the horizon the model was trained on."""
    horizon = config.data.num_frames - config.train.context_frames
    return (min(2, horizon), horizon) if horizon > 2 else (1, horizon + 1)


def read_run(run_dir):
    """(Config, preset name) from the run's config.json."""
    path = pathlib.Path(run_dir) / "config.json"
    if not path.exists():
        raise ExportError(f"{run_dir} is not a run directory (no config.json); "
                          "pass the --run-dir a training run wrote.")
    values = json.loads(path.read_text())
    return Config.from_dict(values), values.get("preset", "unknown")


def weights_of(run_dir, weights=None):
    """The weights to export: the given file, model.keras, or the newest checkpoint."""
    if weights:
        if not os.path.exists(weights):
            raise ExportError(f"No weights file {weights}.")
        return weights
    finished = os.path.join(run_dir, "model.keras")
    if os.path.exists(finished):
        return finished
    latest = train.Checkpoints(os.path.join(run_dir, "checkpoints"), keep=1).latest()
    if latest is None:
        raise ExportError(f"{run_dir} has neither model.keras nor a checkpoint to export.")
    return str(latest)


def load_model(config, weights):
    """The run's DeepGIF with the given weights (a .keras model or a .weights.h5 file)."""
    c = config.model
    video_shape = (config.data.num_frames, c.image_size, c.image_size, c.channels)
    model = train.build_model(config, tf.distribute.get_strategy(), video_shape)
    try:
        if weights.endswith(".keras"):
            model.set_weights(keras.saving.load_model(weights).get_weights())
        else:
            model.load_weights(weights)
    except (ValueError, OSError) as error:
        reason = first_line(error).rstrip(":")
        raise ExportError(f"{weights} does not hold this run's model ({reason}).") from None
    return model


def first_line(error):
    """An exception's message cut to its first line (Keras' run to dozens)."""
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def metadata(config, preset):
    """The ONNX file's metadata_props (strings), keyed as `contract.METADATA_KEYS`."""
    values = {
        "contract": contract.CONTRACT_VERSION,
        "dataset": config.data.dataset,
        "context_frames": config.train.context_frames,
        "channels": config.model.channels,
        "latent_dim": config.model.latent_dim,
        "image_size": config.model.image_size,
        "pixel_range": contract.PIXEL_RANGE,
        "training_frames": config.data.num_frames - config.train.context_frames,
        "training_mode": config.train.mode,
        "preset": preset,
        "tf_deepgifs_version": tf_deepgifs.__version__,
    }
    assert tuple(values) == contract.METADATA_KEYS
    return {key: str(value) for key, value in values.items()}


def properties_as_values(properties):
    """metadata_props strings --> values, integers where the contract says so."""
    return {key: int(value) if key in contract.INTEGER_KEYS else value
            for key, value in properties.items()}


def write_saved_model(model, rollout, path):
    """A SavedModel whose "rollout" signature is `rollout`, needing no project code.

    It holds the generator's networks only: the discriminator has no part in generation.
    """
    archive = keras.export.ExportArchive()
    for network in (model.encoder, model.predictor, model.decoder):
        archive.track(network)
    archive.add_endpoint(name=contract.SIGNATURE, fn=rollout)
    archive.write_out(str(path), verbose=False)


def write_onnx(rollout, path, properties, opset=OPSET):
    """`rollout` through tf2onnx, its dynamic axes named, `properties` as metadata_props."""
    proto, _ = tf2onnx.convert.from_function(
        rollout, input_signature=rollout.input_signature, opset=opset)
    for value in list(proto.graph.input) + list(proto.graph.output):
        for axis, name in _DYNAMIC_DIMS.get(value.name, {}).items():
            value.type.tensor_type.shape.dim[axis].dim_param = name
    proto.producer_name = "tf_deepgifs"
    proto.producer_version = tf_deepgifs.__version__
    proto.doc_string = contract.__doc__
    onnx.helper.set_model_props(proto, properties)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _write_and_verify(model, rollout, folder, properties, config, opset):
    """Writes both formats into `folder` and returns the verification report."""
    write_saved_model(model, rollout, folder / contract.SAVED_MODEL_DIR)
    write_onnx(rollout, folder / contract.ONNX_FILE, properties, opset)
    cases = [(batch, frames) for batch in BATCH_SIZES for frames in verification_lengths(config)]
    try:
        report = verify.verify(rollout, str(folder / contract.ONNX_FILE),
                               str(folder / contract.SAVED_MODEL_DIR),
                               properties_as_values(properties), cases)
    except RuntimeError as error:
        raise ExportError(str(error)) from None
    report.update(opset=opset, metadata=properties)
    return report


def export_run(run_dir, weights=None, opset=OPSET, log=print):
    """Exports and verifies the run's generator; returns the export folder.

    Raises ExportError if ONNX Runtime or the reloaded SavedModel differ from the
    TensorFlow function by more than `verify.TOLERANCE` at any frame.
    """
    config, preset = read_run(run_dir)
    source = weights_of(run_dir, weights)
    log(f"Exporting {source} (dataset {config.data.dataset}, preset {preset}).")
    model = load_model(config, source)
    rollout = rollout_function(model)
    properties = metadata(config, preset)

    final = pathlib.Path(run_dir) / contract.EXPORT_DIR
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        report = _write_and_verify(model, rollout, partial, properties, config, opset)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    report["weights"] = source
    verify.write_report(partial / contract.REPORT_FILE, report)
    log("Max abs difference from the TensorFlow rollout, per case (pixels in [0, 1]):")
    for line in verify.summary_lines(report):
        log(line)
    if not report["passed"]:
        shutil.rmtree(partial)
        raise ExportError(f"the exported files differ from the model by more than "
                          f"{verify.TOLERANCE} (per-frame errors above); nothing was written.")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    log(f"Wrote {final / contract.ONNX_FILE} and {final / contract.SAVED_MODEL_DIR}; both agree "
        f"with the model within {verify.TOLERANCE} at every frame.")
    return final
