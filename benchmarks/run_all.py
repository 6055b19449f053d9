"""`make bench`: every benchmark, each in its own process, and BENCHMARKS.md from them.

    python benchmarks/run_all.py [--out BENCHMARKS.md] [--steps 3] [--rounds 3]
        [--export-dir DIR] [--data-dir DIR] [--build] [--tiny]

1. train step, paper preset (batch 32 x 20 frames): TensorFlow (as tf_deepgifs runs it,
   oneDNN on), TensorFlow without oneDNN, TensorFlow with XLA, and the PyTorch reference
   (benchmarks/torch_reference.py) in its default NCHW layout, in channels_last, and in
   channels_last with tf_deepgifs' transposed-convolution decoder (the same arithmetic as
   ours), frames/s and the ratios, each the median of --rounds interleaved runs; where
   the time goes per network (train_step_parts.py)
2. FLOPs of a train step and of a generated frame, against the measured matmul rate
3. rollout latency, 1 and 32 sequences x 19 and 100 frames: the step file looped by the
   runner, the legacy looped and fixed-length files of the same model, and the SavedModel
   (with TensorFlow's default for this CPU, and with oneDNN on)
4. the input pipeline from the built dataset (skipped if it is not built); with
   --build, the wall time of building each dataset's 100,000 sequences from scratch
   (Moving MNIST from generated stand-in digits in the MNIST file format: the time is
   the rendering's, whatever the digits)
5. every format of the shipped generators in pretrained/ (benchmarks/formats.py): size,
   ms a frame in ONNX Runtime, LiteRT and the page, quality on the test split (skipped
   without Chromium or the built dataset; --tiny: the untrained export's files)
6. peak resident memory of every process above, and of the ONNX runner making a GIF

Without --export-dir an untrained paper-preset run is exported into a temporary folder
(the weights do not change the time). --tiny runs everything at a toy size, only to
check that the scripts work (the test suite does that); its numbers mean nothing.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import shutil
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # this process imports TensorFlow too
REPO = pathlib.Path(__file__).resolve().parent.parent
PYTHON = sys.executable
sys.path.insert(0, str(REPO))  # tf_deepgifs, for the untrained export and the stand-in digits

# The train-step rows: (results key, label, whether its decoder is the folded one, script
# and options, environment).
LATENCY_ROUNDS = 30  # interleaved rollout calls per runtime, batch and length (median)

TRAINING_ROWS = (
    ("tensorflow", "tf_deepgifs (TensorFlow, oneDNN on: the default)", True,
     ["benchmarks/train_step.py"], {}),
    ("tensorflow_no_onednn", "tf_deepgifs, oneDNN off", True,
     ["benchmarks/train_step.py"], {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    ("tensorflow_xla", "tf_deepgifs, XLA (`jit_compile`)", True,
     ["benchmarks/train_step.py", "--jit-compile"], {}),
    ("tensorflow_bf16", "tf_deepgifs, mixed precision (`--precision mixed_bfloat16`)", True,
     ["benchmarks/train_step.py", "--precision", "mixed_bfloat16"], {}),
    ("pytorch", "PyTorch reference, eager, NCHW (PyTorch's default)", False,
     ["benchmarks/torch_reference.py"], {}),
    ("pytorch_channels_last", "PyTorch reference, eager, channels_last", False,
     ["benchmarks/torch_reference.py", "--channels-last"], {}),
    ("pytorch_transposed", "PyTorch reference, eager, channels_last, transposed-conv decoder", True,
     ["benchmarks/torch_reference.py", "--channels-last", "--transposed-decoder"], {}),
)


# Linux reports a child's peak memory (ru_maxrss) as at least its parent's own peak at
# the fork, which exec carries over; this process has TensorFlow loaded by the time most
# benchmarks run. So each benchmark is started by this small launcher, whose peak is
# small, and the launcher writes its child's peak (KiB) to the file named first.
PEAK_LAUNCHER = """
import resource, subprocess, sys
status = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as peak:
    peak.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(status)
"""


def run(argv, log, env=None):
    """Runs one benchmark; returns (its JSON record, its peak RSS in MiB, its command).

    env: {name: value} set for this benchmark only (and written before its command).
    """
    env = env or {}
    command = " ".join([f"{k}={shlex.quote(v)}" for k, v in env.items()]
                       + [shlex.quote(str(a)) for a in ["python"] + list(argv)])
    log(f"$ {command}")
    started = time.perf_counter()
    with (tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err,
          tempfile.NamedTemporaryFile("r") as peak):
        returncode = subprocess.call(
            [PYTHON, "-c", PEAK_LAUNCHER, peak.name, PYTHON] + [str(a) for a in argv], cwd=REPO,
            stdout=out, stderr=err, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env))
        out.seek(0)
        err.seek(0)
        lines = out.read().splitlines()
        if returncode != 0:
            raise RuntimeError(f"`{command}` failed:\n{err.read()[-3000:]}")
        peak_kib = int(peak.read())  # Linux reports KiB
    for line in lines[:-1]:
        log(f"  {line}")
    log(f"  ({time.perf_counter() - started:.1f} s)")
    record = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return record, peak_kib / 1024, command


def machine():
    """CPU model, cores, memory and the versions that matter."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    memory_kib = next(int(line.split()[1]) for line in open("/proc/meminfo")
                      if line.startswith("MemTotal"))
    names = ("tensorflow", "keras", "onnxruntime", "torch", "numpy")
    versions = [importlib.metadata.version(name) for name in names]  # installed, not imported
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_kib / 2**20, 1),
            "python": platform.python_version(), **dict(zip(names, versions))}


def untrained_export(folder, tiny, log):
    """A run directory with untrained weights, exported, with the same model's legacy files
    in its export folder's legacy/; returns the export folder."""
    from tf_deepgifs.config import Config, ModelConfig
    from tf_deepgifs.runs import run_directory
    from tf_deepgifs_export import exporter
    from tf_deepgifs_export.rollout import rollout_function

    model = ModelConfig(encoder_filters=(4, 8, 8, 8), latent_dim=6, lstm_units=8,
                        discriminator_units=6) if tiny else ModelConfig()
    config = Config(model=model)
    run_directory.write_config(folder, config, "paper")
    network = run_directory.build_model(config, (20, 64, 64, 1))
    run_directory.Checkpoints(os.path.join(folder, "checkpoints"), 1).save(network, 0)
    exporter.export_run(folder, log=log)  # what `python -m tf_deepgifs export` runs
    legacy = os.path.join(folder, "export", "legacy")
    os.makedirs(legacy)
    properties = exporter.legacy_metadata(exporter.metadata(config, "paper"))
    model = run_directory.load_model(config, run_directory.weights_of(folder))
    horizon = config.data.num_frames - config.train.context_frames
    for name, fixed in (("generator.onnx", None), ("generator_fixed.onnx", horizon)):
        exporter.write_onnx(rollout_function(model, fixed), os.path.join(legacy, name), properties)
    return os.path.join(folder, "export")


def seed_png(path):
    """A Bouncing Balls frame to seed the ONNX runner with."""
    import imageio.v2 as imageio

    from tf_deepgifs.data import bouncing_balls, splits

    video = bouncing_balls.generate([splits.example_rng(0, "test", 0)], 1, 2, 64).video
    imageio.imwrite(path, video[0, 0, ..., 0])
    return path


def measure(args, log):
    """Every benchmark's record, peak memory and command, by name."""
    size = ["--batch-size", "1", "--frames", "3"] if args.tiny else ["--batch-size", "32", "--frames", "20"]
    steps = ["--steps", "1" if args.tiny else str(args.steps)]
    results = {}
    results["flops"] = run(["benchmarks/flops.py", *size] + (["--matmul-size", "64"] if args.tiny else []), log)
    results.update(measure_training(size + steps, 1 if args.tiny else args.rounds, log))
    results["parts"] = run(["benchmarks/train_step_parts.py", *size], log)
    scratch = args.scratch  # relative to the repository: the commands written stay so
    shutil.rmtree(os.path.join(REPO, scratch), ignore_errors=True)
    os.makedirs(os.path.join(REPO, scratch))
    export_dir = args.export_dir or untrained_export(os.path.join(scratch, "run"), args.tiny, log)
    # A batch-1 rollout lasts ~20 ms: 5 calls sat inside one burst of a neighbour's load
    # and read 40 % slow in one run; 30 calls span a few seconds.
    rounds = ["--rounds", "1" if args.tiny else str(LATENCY_ROUNDS)]
    legacy = os.path.join(export_dir, "legacy")
    legacy = ["--legacy-dir", legacy] if os.path.isdir(os.path.join(REPO, legacy)) else []
    results["latency"] = run(["benchmarks/rollout_latency.py", "--export-dir", export_dir,
                              *legacy, *rounds], log)
    results["latency_onednn"] = run(
        ["benchmarks/rollout_latency.py", "--export-dir", export_dir, *rounds, "--runtimes",
         "saved_model"], log, env={"TF_ENABLE_ONEDNN_OPTS": "1"})
    if shutil.which("node") and os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")):
        results["page"] = run(["benchmarks/page_latency.py", "--export-dir", export_dir,
                               *(["--rounds", "1", "--frames", "4"] if args.tiny else [])], log)
    else:
        log("No Chromium (or node) here: the page is not measured.")
    png = seed_png(os.path.join(scratch, "seed.png"))
    results["runner"] = run(["-m", "export.generate", "--model",
                             os.path.join(export_dir, "generator.onnx"), "--seed", png,
                             "--out", os.path.join(scratch, "out.gif")], log)
    if args.build:
        results["builds"] = measure_builds(os.path.join(scratch, "builds"), args.tiny, log)

    from tf_deepgifs.data import registry

    # The dataset users train from; else the one --build has just written.
    data_dir = args.data_dir
    if args.build and not registry.builder("bouncing_balls", data_dir).is_prepared():
        data_dir = os.path.join(scratch, "builds", "bouncing_balls")
    extra = ["--data-dir", data_dir] if data_dir else []
    if registry.builder("bouncing_balls", data_dir).is_prepared():
        batches = ["--batch-size", "2", "--batches", "1"] if args.tiny else []
        results["pipeline"] = run(["benchmarks/input_pipeline.py", *extra, *batches], log)
    else:
        log("bouncing_balls is not built (make data): the input pipeline is not measured.")
    if "page" in results and "pipeline" in results:
        # the shipped generators (--tiny: the untrained export's files), on the test split
        small = (["--models", export_dir, "--sequences", "2", "--rounds", "1",
                  "--page-rounds", "1"] if args.tiny else [])
        results["formats"] = run(["benchmarks/formats.py", *extra, *small], log)
    else:
        log("No Chromium or no bouncing_balls test split: the formats are not measured.")
    return results


def measure_training(options, rounds, log):
    """Every train-step row, once per round, the rounds interleaved: a shared host's load
    varies over minutes, and interleaving lets it slow every row alike. Each row's record
    keeps the median over rounds of the per-process medians, and every round's value."""
    runs = {name: [] for name, *_ in TRAINING_ROWS}
    for round_number in range(rounds):
        log(f"# train steps, round {round_number + 1} of {rounds}")
        for name, _, _, script, env in TRAINING_ROWS:
            runs[name].append(run(script[:1] + options + script[1:], log, env=env))
    results = {}
    for name, measured in runs.items():
        records, memories, commands = zip(*measured)
        round_seconds = [r["seconds"] for r in records]
        record = dict(records[0], seconds=float(np.median(round_seconds)), round_seconds=round_seconds)
        results[name] = (record, max(memories), commands[0])
    return results


def measure_builds(folder, tiny, log):
    """{dataset: (seconds, peak MiB, command)} for a build from scratch into `folder`."""
    from tf_deepgifs.data import testing

    builds = {}
    # MNIST's own sizes; the builder keeps 10,000 train digits for validation.
    counts = (10_050, 20) if tiny else (60_000, 10_000)
    manual = testing.write_fake_mnist(os.path.join(folder, "mnist"), *counts)
    for dataset, extra in (("bouncing_balls", []), ("moving_mnist", ["--manual-dir", manual])):
        limit = ["--max-examples-per-split", "4"] if tiny else []
        started = time.perf_counter()
        _, memory, command = run(["-m", "tf_deepgifs", "data", "--dataset", dataset, "--data-dir",
                                  os.path.join(folder, dataset), *extra, *limit], log)
        builds[dataset] = (time.perf_counter() - started, memory, command)
    return builds


def write_report(path, results, info, argv):
    """BENCHMARKS.md: every number beside the command that gave it."""
    lines = ["# Benchmarks\n", f"Written by `python benchmarks/run_all.py {' '.join(argv)}` "
             f"(`make bench`) on {datetime.date.today()}.\n",
             f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; Python "
             f"{info['python']}, TensorFlow {info.get('tensorflow')}, Keras {info.get('keras')}, "
             f"ONNX Runtime {info.get('onnxruntime')}, PyTorch {info.get('torch')}, NumPy "
             f"{info.get('numpy')}.\n"]
    lines += training_section(results) + latency_section(results) + pipeline_section(results)
    lines += formats_section(results) + memory_section(results)
    pathlib.Path(path).write_text("\n".join(lines) + "\n")


def training_section(results):
    flops, _, flops_command = results["flops"]
    first = results[TRAINING_ROWS[0][0]][0]
    rate = flops["matmul_flops_per_second"]
    lines = ["## 1-2. Training throughput and the arithmetic floor\n",
             f"One train step of batch {flops['batch']} x {flops['frames']} frames is "
             f"{flops['train_step_flops'] / 1e9:.1f} GFLOP as tf_deepgifs computes it (forward x 3; "
             f"counted from the layer shapes in `benchmarks/flops.py`), "
             f"{flops['reference_train_step_flops'] / 1e9:.1f} GFLOP when the decoder upsamples "
             f"then convolves, as the original does (the same function: tf_deepgifs folds each "
             f"upsample + 3 x 3 conv into one stride-2 transposed conv, `UpsampleConv2D`); one "
             f"generated frame {flops['generated_frame_flops'] / 1e6:.1f} MFLOP. The machine's "
             f"float32 matmul rate is {rate / 1e9:.1f} GFLOP/s: a step cannot take less than "
             f"{flops['train_step_flops'] / rate:.2f} s. (`{flops_command}`)\n",
             f"Each row: the median over {len(first['round_seconds'])} rounds, run interleaved "
             f"(every row once per round), of each run's median of {first['steps']} steps after a "
             "warm-up step; the rounds' values beside it. GFLOP/s counts the FLOPs each "
             "implementation performs; the rate beside it is float32's (bfloat16 arithmetic "
             "can exceed it on CPUs with AVX-512 BF16 or AMX).\n",
             "| implementation | s per step | rounds | frames/s | GFLOP/s | of the matmul rate | command |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, label, folded, _, _ in TRAINING_ROWS:
        record, _, command = results[name]
        performed = flops["train_step_flops" if folded else "reference_train_step_flops"]
        achieved = performed / record["seconds"]
        rounds = ", ".join(f"{seconds:.2f}" for seconds in record["round_seconds"])
        lines.append(f"| {label} | {record['seconds']:.2f} | {rounds} | "
                     f"{record['batch'] * record['frames'] / record['seconds']:.1f} | "
                     f"{achieved / 1e9:.1f} | {achieved / rate:.0%} | `{command}` |")
    seconds = {name: results[name][0]["seconds"] for name, *_ in TRAINING_ROWS}
    ours = seconds["tensorflow"]
    lines.append(f"\ntf_deepgifs runs the step {seconds['pytorch'] / ours:.2f}x as fast as the "
                 f"PyTorch reference in PyTorch's default layout, "
                 f"{seconds['pytorch_channels_last'] / ours:.2f}x as fast as the reference in "
                 f"channels_last, and {seconds['pytorch_transposed'] / ours:.2f}x as fast as PyTorch "
                 f"doing the same arithmetic (channels_last, transposed-conv decoder); "
                 f"{seconds['tensorflow_no_onednn'] / ours:.2f}x as fast as TensorFlow without "
                 f"oneDNN, {seconds['tensorflow_xla'] / ours:.2f}x as fast as with XLA. Mixed "
                 f"precision (bfloat16 compute, float32 variables) takes "
                 f"{seconds['tensorflow_bf16'] / ours:.2f}x the float32 step's time here.\n")
    parts, _, command = results["parts"]
    lines += ["Where the time goes (each network alone on its share of one step; "
              f"`{command}`):\n", "| network | pass | frames | ms | GFLOP/s |", "| --- | --- | --- | --- | --- |"]
    for part in parts["results"]:
        lines.append(f"| {part['network']} | {part['pass']} | {part['items']} | "
                     f"{part['seconds'] * 1000:.0f} | {part['flops_per_second'] / 1e9:.1f} |")
    return lines + [""]


def latency_section(results):
    record, _, command = results["latency"]
    onednn, _, onednn_command = results["latency_onednn"]
    flops = results["flops"][0]
    floor = flops["generated_frame_flops"] / flops["matmul_flops_per_second"] * 1000
    lines = ["## 3. Rollout latency\n",
             "Generating N frames from one seed frame per sequence, the median of "
             f"{record['rounds']} calls after a warm-up, the runtimes interleaved call by call: "
             "`step` is generator.onnx, one generation step per call, looped by the runner "
             "(export/generate.py); `legacy_loop` and `legacy_fixed` are the same model in the "
             "legacy files (one ONNX Loop over the frames; the frames unrolled, its trained 19 "
             f"only). ONNX Runtime on its CPU provider with {record['onnx_threads']} intra-op "
             "threads; the SavedModel loaded by TensorFlow alone, once with TensorFlow's default "
             "for this CPU (oneDNN only on CPUs with AVX-512 VNNI, BF16 or AMX) and once with "
             "TF_ENABLE_ONEDNN_OPTS=1, as tf_deepgifs runs it. The floor is the FLOPs at the "
             f"matmul rate ({floor:.2f} ms per frame). (`{command}`; `{onednn_command}`)\n",
             "| runtime | batch | frames | ms | ms a frame | frames/s | x the floor |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    rows = record["results"] + [dict(r, runtime="saved_model, oneDNN on") for r in onednn["results"]]
    for r in sorted(rows, key=lambda r: (r["batch"], r["frames"])):
        lines.append(f"| {r['runtime']} | {r['batch']} | {r['frames']} | {r['ms']:.1f} | "
                     f"{r['ms'] / r['frames']:.2f} | {r['frames_per_second']:.0f} | "
                     f"{r['ms'] / (floor * r['batch'] * r['frames']):.2f} |")
    if "page" in results:
        page, _, page_command = results["page"]
        times = ", ".join(f"{r['ms_per_frame']:.2f} ms a frame at {r['frames']} frames"
                          for r in page["results"])
        lines += ["", f"The web page (web/, onnxruntime-web's WebAssembly backend) in headless "
                      f"Chromium, one sequence, the same generator.onnx: {times} (the page's own "
                      f"timing of its generation loop, median of {page['rounds']} loads). "
                      f"(`{page_command}`)"]
    return lines + [""]


def pipeline_section(results):
    lines = ["## 4. Input pipeline\n"]
    if "pipeline" in results:
        record, _, command = results["pipeline"]
        step = results["tensorflow"][0]
        consumed = step["batch"] / step["seconds"]
        lines.append(f"Training reads the split into memory once at {record['loaded_per_second']:.0f} "
                     f"sequences/s from the built Bouncing Balls, then draws batches at "
                     f"{record['sequences_per_second']:.0f} sequences/s; a train step consumes "
                     f"{consumed:.1f} sequences/s: "
                     f"{record['sequences_per_second'] / consumed:.0f}x headroom. (`{command}`)\n")
    else:
        lines.append("Not measured: the dataset was not built.\n")
    if "builds" in results:
        lines += ["Building each dataset from scratch (train 80,000 + validation 10,000 + test "
                  "10,000 sequences; Moving MNIST from stand-in digits in MNIST's file format, "
                  "written by `tf_deepgifs.data.testing.write_fake_mnist`):\n",
                  "| dataset | wall time | peak MiB | command |", "| --- | --- | --- | --- |"]
        for dataset, (seconds, memory, command) in results["builds"].items():
            lines.append(f"| {dataset} | {seconds // 60:.0f} min {seconds % 60:.0f} s | {memory:.0f} | `{command}` |")
        lines.append("")
    return lines


def formats_section(results):
    if "formats" not in results:
        return []
    import formats

    record, _, command = results["formats"]
    return ["## 5. The shipped generators' formats\n",
            "Every format of each model in pretrained/ holding a step file: generator.onnx, "
            "the smaller files beside it, and the TFLite files (export writes them, pretrained/ "
            "does not ship them) made from its networks.keras as export makes them. ms a frame "
            "at batch 1 over the trained horizon: in ONNX Runtime on the CPU (LiteRT's "
            "interpreter for the TFLite files), each file alone in a process of its own, the files "
            "taking turns round by round, and in "
            f"onnxruntime-web in headless Chromium (the page). (`{command}`)\n",
            formats.table(record["rows"], record["sequences"]), ""]


def memory_section(results):
    lines = ["## 6. Peak resident memory\n", "| process | MiB |", "| --- | --- |"]
    others = ["latency", "latency_onednn", "page", "runner", "pipeline", "formats"]
    for name in [row[0] for row in TRAINING_ROWS] + others:
        if name in results:
            lines.append(f"| `{results[name][2]}` | {results[name][1]:.0f} |")
    return lines + [""]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="BENCHMARKS.md")
    parser.add_argument("--steps", type=int, default=3, help="timed train steps per run (median)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved runs of every train-step row (median)")
    parser.add_argument("--export-dir", help="an export/ folder (default: an untrained one)")
    parser.add_argument("--scratch", default=os.path.join("runs", "bench"),
                        help="where the benchmarks write their files, emptied first (default runs/bench)")
    parser.add_argument("--data-dir", help="TFDS data directory (default: TFDS's)")
    parser.add_argument("--build", action="store_true",
                        help="also time building both datasets from scratch (about 10 minutes)")
    parser.add_argument("--tiny", action="store_true", help="toy sizes: checks the scripts run")
    args = parser.parse_args()
    args.out = os.path.abspath(args.out)
    os.chdir(REPO)  # every path the report's commands name is relative to the repository
    log = lambda line: print(line, flush=True)  # noqa: E731
    info = machine()
    results = measure(args, log)
    write_report(args.out, results, info, sys.argv[1:])
    log(f"Wrote {os.path.relpath(args.out)}.")


if __name__ == "__main__":
    main()
