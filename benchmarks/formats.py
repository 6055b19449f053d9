"""Every exported format of the shipped models side by side: size, speed and quality.

    python benchmarks/formats.py [--models pretrained/bouncing_balls-paper ...]
        [--sequences 500] [--data-dir DIR] [--rounds 7] [--page-rounds 3]

For each model folder (default: those in pretrained/ holding a step file) and each of its
files of the step contract (generator.onnx and the smaller files beside it; the TFLite
files, which export writes and pretrained/ does not ship, made here from the folder's
networks.keras as export makes them):

    MB            the file's size
    runtime ms    a frame at batch 1 over the trained horizon, in ONNX Runtime on the CPU
                  (LiteRT's interpreter for the TFLite file), looped by the runner users
                  run: each file timed alone in its own process, the files taking turns,
                  the median of `rounds` rounds
    page ms       the same in onnxruntime-web in headless Chromium (`page_latency.py`;
                  ONNX files only)
    quality       on the first `sequences` test sequences, the deterministic rollout over
                  the trained horizon, measured by the regions as they are
                  (`file_quality.rollout_quality`): plausible frames, balls kept apart
                  where the truth's are, and the centre error at frame 5 and the last

Every file is measured in one run, one after another, so the machine's hour is the same
for all. Prints a Markdown table for BENCHMARKS.md, then a JSON record.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tf_deepgifs.evaluation import file_quality  # noqa: E402
from tf_deepgifs_export import contract  # noqa: E402
from tf_deepgifs_export.generate import Generator  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from page_latency import page_ms_per_frame  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
FORMATS = {contract.ONNX_FILE: "ONNX float32", **contract.SMALLER_FILES}
SEEDS = {1: "pretrained/seeds/balls.png", 3: "pretrained/seeds/balls.gif"}  # by K


def shipped_models():
    """The folders of pretrained/ holding a step file."""
    return sorted(p.parent for p in (REPO / "pretrained").glob(f"*/{contract.ONNX_FILE}"))


def lite_files(folder, into):
    """{file name: path} of the TFLite files of `folder`'s model, written into `into` from
    its networks.keras with its generator.onnx's contract, as export writes them; none
    where the folder has no networks or TFLite's ops cannot hold the step."""
    networks = folder / contract.NETWORKS_FILE
    if not networks.exists():
        return {}
    import keras
    import onnx

    import tf_deepgifs  # noqa: F401 (registers the networks' classes for load_model)
    from tf_deepgifs_export import tflite

    model = keras.saving.load_model(networks, compile=False)
    if not tflite.convertible(model):
        return {}
    properties = {p.key: p.value for p in onnx.load(str(folder / contract.ONNX_FILE)).metadata_props}
    made = {}
    for name, weights in ((contract.TFLITE_FILE, "float16"), (contract.INT8_TFLITE_FILE, "int8")):
        if not (folder / name).exists():
            tflite.write_tflite(model, into / name, properties, weights)
            made[name] = into / name
    return made


def runtime_ms_per_frame(paths, frames, rounds, repeats=15):
    """{name: median ms a frame at batch 1} of the files `paths` ({name: path}), each
    timed alone in a process of its own (`time_alone`: a warm-up, then the median of
    `repeats` deterministic rollouts of `frames` frames), the files taking turns for
    `rounds` rounds. Alone, as a user runs one generator: an ONNX Runtime session's idle
    threads keep spinning and slow another session run beside them in one process. In
    turns: the machine's speed drifts within minutes, and one file timed after the other
    would read the drift as the formats' difference."""
    times = {name: [] for name in paths}
    for _ in range(rounds):
        for name, path in paths.items():
            result = subprocess.run([sys.executable, __file__, "--time-alone", str(path),
                                     "--frames", str(frames), "--repeats", str(repeats)],
                                    capture_output=True, text=True, check=True)
            times[name].append(float(result.stdout.split()[-1]))
    return {name: float(np.median(values)) for name, values in times.items()}


def time_alone(path, frames, repeats):
    """Median ms a frame of `repeats` deterministic rollouts of one seed by the file at
    `path`, after a warm-up: what `runtime_ms_per_frame` runs in each process."""
    generator = Generator(str(path))
    seeds = np.zeros((1, generator.context_frames) + generator.frame_shape, np.float32)
    noise = np.zeros((1, frames, generator.noise_dim), np.float32)
    generator.run(seeds, noise)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generator.run(seeds, noise)
        times.append((time.perf_counter() - start) * 1000 / frames)
    return float(np.median(times))


def measure(folder, args):
    """One row per format file of `folder`'s model, present or made (`lite_files`)."""
    with tempfile.TemporaryDirectory() as made:
        files = {name: folder / name for name in FORMATS if (folder / name).exists()}
        files.update(lite_files(folder, pathlib.Path(made)))
        return measure_files(folder.name, files, args)


def measure_files(model, files, args):
    """The rows of one model's files ({name: path}), in FORMATS' order, the float file
    first: the smaller files are held to it."""
    generators = {name: Generator(str(files[name])) for name in FORMATS if name in files}
    horizon = generators[contract.ONNX_FILE].training_frames
    runtime = runtime_ms_per_frame({name: files[name] for name in generators}, horizon,
                                   args.rounds)
    reference = generators[contract.ONNX_FILE]
    data = file_quality.first_test_sequences(reference.metadata["dataset"],
                                             reference.context_frames + horizon,
                                             args.sequences, args.data_dir)
    rows = []
    for name, generator in generators.items():
        path = files[name]
        row = {"model": model, "format": FORMATS[name], "mb": path.stat().st_size / 1e6,
               "runtime_ms": runtime[name], "page_ms": None,
               **file_quality.rollout_quality(generator, data)}
        row["shortfalls"] = file_quality.shortfalls(row, rows[0]) if rows else None
        if name.endswith(".onnx"):
            seed = SEEDS[generator.context_frames]
            row["page_ms"] = page_ms_per_frame(path.parent, name, [horizon], args.page_rounds,
                                               seed)[horizon]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def table(rows, sequences):
    lines = ["| model | format | MB | ms a frame, runtime | ms a frame, page | plausible "
             f"| apart kept | centre error px, frame {file_quality.REPORTED_FRAME} / last "
             "| the float file's quality |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        page = "-" if r["page_ms"] is None else f"{r['page_ms']:.3g}"
        held = "-" if r["shortfalls"] is None else "; ".join(r["shortfalls"]) or "held"
        lines.append(f"| {r['model']} | {r['format']} | {r['mb']:.1f} | {r['runtime_ms']:.3g} "
                     f"| {page} | {100 * r['plausible']:.1f}% | {100 * r['apart_kept']:.1f}% "
                     f"| {r['centre_error_5']:.2f} / {r['centre_error_last']:.2f} | {held} |")
    lines.append(f"\nQuality on the first {sequences} test sequences, deterministic rollout. "
                 "A smaller file holds the float file's quality with at most "
                 f"{100 * file_quality.PLAUSIBLE_POINTS_LOST:.1f} points fewer plausible frames "
                 f"and centre errors at most {file_quality.CENTRE_ERROR_GROWTH:.2f} times its "
                 "own; publishing ships it only then.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", type=pathlib.Path,
                        help="model folders holding the files (default: pretrained/'s)")
    parser.add_argument("--sequences", type=int, default=500)
    parser.add_argument("--data-dir", help="the TFDS data directory of the test split")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--time-alone", type=pathlib.Path, help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--page-rounds", type=int, default=3)
    args = parser.parse_args()
    if args.time_alone:  # one timing process of runtime_ms_per_frame
        print(time_alone(args.time_alone, args.frames, args.repeats))
        return
    folders = args.models or shipped_models()
    if not folders:
        raise SystemExit("No model folder holds a generator.onnx of the step contract.")
    rows = [row for folder in folders for row in measure(folder, args)]
    print(table(rows, args.sequences))
    print(json.dumps({"benchmark": "formats", "sequences": args.sequences, "rows": rows}))


if __name__ == "__main__":
    main()
