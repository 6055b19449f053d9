"""`python -m tf_deepgifs export` (and `make export`): a run's generator as ONNX and SavedModel.

    <run dir>/export/
        generator.onnx      one generation step through tf2onnx (contract.py), with the
                            contract in its metadata_props: any number of frames, the
                            caller looping
        generator_int8.onnx the same step in 8 bits (quantize.py), for pages and phones
        generator.tflite    the same step for TensorFlow Lite, float16 weights (tflite.py)
        generator_int8.tflite   the same with 8-bit weights
        saved_model/        TensorFlow SavedModel, signature "rollout" (seed, noise) -> frames
        verification.json   per-frame errors of both against the TensorFlow rollout, and
                            of the smaller files against the float one (each is written
                            only where its first frame keeps close to the float file's)

The files are written to `export.partial/`, verified, and only then renamed to `export/`
(replacing an earlier export), so a failed or interrupted export leaves no files that
look finished.
"""

import pathlib

import keras
import onnx
import tf2onnx

import tf_deepgifs
from . import contract, quantize, tflite, verify
from .rollout import rollout_function, step_function
from tf_deepgifs.runs import run_directory
from tf_deepgifs.errors import UserError

# tf2onnx 1.17 knows opsets up to 18; ONNX Runtime runs 18 from release 1.14 on.
OPSET = 18
# The contract's dynamic axes, named in the ONNX file's inputs and outputs.
_DYNAMIC_DIMS = {name: {0: "batch"} for name in contract.INPUTS + contract.OUTPUTS}
_DYNAMIC_DIMS.update({contract.FRAME: {0: "frames_read"}, contract.LATENT: {0: "latents_read"},
                      contract.SEED: {0: "batch"}, contract.FRAMES: {0: "batch", 1: "frames"}})
BATCH_SIZES = (1, 3)  # verified batch sizes


class ExportError(UserError):
    """The run cannot be exported, or its exports disagree with the model."""


def verification_lengths(config):
    """A short length, the horizon the model was trained on, and more than twice that:
    one file generates any number of frames."""
    horizon = config.data.num_frames - config.train.context_frames
    return (1, horizon, 2 * horizon + 3)


def metadata(config, preset):
    """The ONNX file's metadata_props (strings), keyed as `contract.METADATA_KEYS`."""
    values = {
        "contract": contract.CONTRACT_VERSION,
        "dataset": config.data.dataset,
        "context_frames": config.train.context_frames,
        "channels": config.model.channels,
        "image_size": config.model.image_size,
        "latent_dim": config.model.latent_dim,
        "noise_dim": config.model.noise_dim,
        "state_size": config.model.lstm_units,
        "pixel_range": contract.PIXEL_RANGE,
        "training_frames": config.data.num_frames - config.train.context_frames,
        "generation_feedback": config.model.generation_feedback,
        "training_mode": config.train.mode,
        "preset": preset,
        "tf_deepgifs_version": tf_deepgifs.__version__,
    }
    assert tuple(values) == contract.METADATA_KEYS
    return {key: str(value) for key, value in values.items()}


def legacy_metadata(properties):
    """The metadata_props of a legacy file (contract deepgifs-rollout-1) for a model of
    `properties`: what `benchmarks/rollout_latency.py` compares the step file with."""
    values = {key: properties[key] for key in contract.LEGACY_METADATA_KEYS}
    return {**values, "contract": contract.LEGACY_VERSION}


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


def write_onnx(function, path, properties, opset=OPSET):
    """`function` (the step, or a legacy rollout) through tf2onnx, its dynamic axes named,
    `properties` as metadata_props."""
    proto, _ = tf2onnx.convert.from_function(
        function, input_signature=function.input_signature, opset=opset)
    for value in list(proto.graph.input) + list(proto.graph.output):
        for axis, name in _DYNAMIC_DIMS.get(value.name, {}).items():
            dim = value.type.tensor_type.shape.dim[axis]
            if not dim.HasField("dim_value"):  # a legacy fixed file's N stays a number
                dim.dim_param = name
    proto.producer_name = "tf_deepgifs"
    proto.producer_version = tf_deepgifs.__version__
    proto.doc_string = contract.__doc__
    onnx.helper.set_model_props(proto, properties)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))



def _write_and_verify(model, rollout, folder, properties, config, opset):
    """Writes every format into `folder` and returns the verification report."""
    write_saved_model(model, rollout, folder / contract.SAVED_MODEL_DIR)
    float_path = folder / contract.ONNX_FILE
    write_onnx(step_function(model), float_path, properties, opset)
    quantize.quantize(float_path, folder / contract.INT8_ONNX_FILE)
    if tflite.convertible(model):
        tflite.write_tflite(model, folder / contract.TFLITE_FILE, properties)
        tflite.write_tflite(model, folder / contract.INT8_TFLITE_FILE, properties, "int8")
    cases = [(batch, frames) for batch in BATCH_SIZES for frames in verification_lengths(config)]
    values = properties_as_values(properties)
    try:
        report = verify.verify(rollout, str(float_path), str(folder / contract.SAVED_MODEL_DIR),
                               values, cases)
    except RuntimeError as error:
        raise ExportError(str(error)) from None
    made = [name for name in contract.SMALLER_FILES if (folder / name).exists()]
    checked = verify.verify_smaller(str(float_path), [str(folder / name) for name in made],
                                    values, cases)
    report["smaller"] = {name: checked[str(folder / name)] for name in made}
    report.update(opset=opset, metadata=properties)
    return report


def _keep_smaller_files(folder, report, log):
    """Removes each smaller file that failed its check, saying so; logs the kept ones."""
    tolerance = f"{verify.SMALLER_FIRST_FRAME_TOLERANCE:.2g} of the float file's on average"
    for name, label in contract.SMALLER_FILES.items():
        if name not in report["smaller"]:
            log(f"Did not write {name} ({label}): {tflite.NOT_CONVERTIBLE}.")
        elif report["smaller"][name]["passed"]:
            log(f"Wrote {name} ({label}): its first frame within {tolerance}.")
        else:
            (folder / name).unlink()
            log(f"Did not write {name} ({label}): this model's first frame in it is not "
                f"within {tolerance}; use {contract.ONNX_FILE}.")


def export_run(run_dir, weights=None, opset=OPSET, log=print):
    """Exports and verifies the run's generator; returns the export folder.

    Raises ExportError if ONNX Runtime or the reloaded SavedModel differ from the
    TensorFlow function by more than `verify.TOLERANCE` at any frame.
    """
    config, preset = run_directory.read_run(run_dir)
    source = run_directory.weights_of(run_dir, weights)
    log(f"Exporting {source} (dataset {config.data.dataset}, preset {preset}).")
    model = run_directory.load_model(config, source)
    rollout = rollout_function(model)
    properties = metadata(config, preset)

    final = pathlib.Path(run_dir) / contract.EXPORT_DIR
    with run_directory.replaced_when_done(final) as partial:
        report = _write_and_verify(model, rollout, partial, properties, config, opset)
        report["weights"] = source
        verify.write_report(partial / contract.REPORT_FILE, report)
        log("Max abs difference from the TensorFlow rollout, per case (pixels in [0, 1]):")
        for line in verify.summary_lines(report):
            log(line)
        for name, label in contract.SMALLER_FILES.items():
            for line in verify.smaller_summary_lines(report["smaller"].get(name), label):
                log(line)
        if not report["passed"]:
            raise ExportError(f"the exported files differ from the model by more than "
                              f"{verify.TOLERANCE:.2g} (per-frame errors above); nothing was written.")
        log(f"Wrote {final / contract.ONNX_FILE} and {contract.SAVED_MODEL_DIR}; both agree "
            f"with the model within {verify.TOLERANCE:.2g} at every frame.")
        _keep_smaller_files(partial, report, log)
    return final
