"""`make reproduce`: the published models remade from nothing, by the stages of a recipe.

    python results/reproduce.py [--recipe results/recipe.toml] [--runs DIR] [--out DIR]
        [--stages a,b,...] [--tiny]

Runs each stage of the recipe (results/recipe.toml says what each does) as its own
`python -m tf_deepgifs` process, in order, skipping the finished ones: run again, it goes
on where it stopped (training and tuning resume at their checkpoints). `<runs>/stages.json`
records each finished stage: its command, the seconds it took (over every run of the
recipe that worked on it: a killed stage's time so far is saved each minute), the backend
and machine it ran on, and the reference step's seconds on that machine that hour
(REFERENCE_COMMAND); RESULTS.md reports them. The publish stage copies the exported
generators into `<out>/pretrained/` and writes `<out>/RESULTS.md` and `<out>/results/`.

--stages runs those stages only (a GPU machine runs the training ones, see the recipe);
--tiny runs every stage at a toy size (its `tiny` options), what the test suite checks.
"""

import argparse
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import time
import tomllib

from tf_deepgifs_export import contract

REPO = pathlib.Path(__file__).resolve().parent.parent
RECIPE = REPO / "results" / "recipe.toml"
STAGES_FILE = "stages.json"
UNFINISHED_FILE = "stages.unfinished.json"
JAX_CACHE = "jax_cache"  # JAX's compiled programs, for stages run under JAX
INT8_FILE = contract.INT8_ONNX_FILE
QUALITY_SEQUENCES = 500  # test sequences a smaller file is measured on before it ships
PROGRESS_EVERY_SECONDS = 60  # how often a running stage's time is saved: a kill loses less
# The reference timing each stage's minutes are read beside: the paper's train step at
# batch 32 x 20 frames, float32 (benchmarks/train_step.py), taken again when the last one
# is this old, since a machine's speed drifts by the hour.
REFERENCE_COMMAND = ["benchmarks/train_step.py", "--batch-size", "32", "--frames", "20"]
REFERENCE_EVERY_SECONDS = 3600
CPU_FEATURES = ("amx_tile", "avx512_bf16", "avx512f", "avx2")  # what decides a CPU's speed here


class RecipeError(Exception):
    """A stage failed, or the recipe cannot be run as asked: one line for the user."""


def read_recipe(path):
    recipe = tomllib.loads(pathlib.Path(path).read_text())
    names = [stage["name"] for stage in recipe["stage"]]
    if len(set(names)) != len(names):
        raise RecipeError(f"{path}: two stages share a name.")
    return recipe


def fill(text, places):
    """A recipe string with {runs} and {out} replaced."""
    return text.format(**places)


def machine():
    """What a stage ran on: the CPU (with which of CPU_FEATURES it has), and the
    accelerator JAX sees, if any."""
    cpu, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as info:
            lines = info.read().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        flags = next(line.split(":", 1)[1].split() for line in lines if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    described = {"cpu": cpu, "cores": os.cpu_count(),
                 "features": [feature for feature in CPU_FEATURES if feature in flags],
                 "backend": os.environ.get("KERAS_BACKEND", "tensorflow")}
    if described["backend"] == "jax":
        import jax

        described["devices"] = [str(d.device_kind) for d in jax.devices()]
    return described


class Record:
    """<runs>/stages.json: the finished stages, each {command, seconds, machine}; and
    <runs>/stages.unfinished.json: the seconds spent so far on each unfinished stage, saved
    while it runs, so that a stage killed and run again is recorded with all its time."""

    def __init__(self, runs):
        self.path = pathlib.Path(runs) / STAGES_FILE
        self.unfinished_path = pathlib.Path(runs) / UNFINISHED_FILE
        self.stages = _read_json(self.path)
        self.unfinished = _read_json(self.unfinished_path)

    def done(self, name):
        return name in self.stages

    def spent(self, name):
        """Seconds spent on the stage by earlier, interrupted runs of the recipe."""
        return self.unfinished.get(name, 0.0)

    def progress(self, name, seconds):
        self.unfinished[name] = round(seconds, 1)
        _write_json(self.unfinished_path, self.unfinished)

    def finish(self, name, **values):
        self.stages[name] = values
        _write_json(self.path, self.stages)
        if self.unfinished.pop(name, None) is not None:
            _write_json(self.unfinished_path, self.unfinished)


def _read_json(path):
    return json.loads(path.read_text()) if path.exists() else {}


def _write_json(path, value):
    """Writes `value` whole or not at all (a kill mid-write leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2))
    os.replace(partial, path)


def stage_command(stage, places, tiny):
    """The stage's `python -m tf_deepgifs` arguments, filled in (with its tiny ones)."""
    arguments = [fill(a, places) for a in stage["command"]]
    return arguments + ([fill(a, places) for a in stage.get("tiny", [])] if tiny else [])


def stage_environment(runs, environ=None):
    """The stages' environment variables: under JAX (KERAS_BACKEND=jax), its persistent
    compilation cache in <runs>/jax_cache unless JAX_COMPILATION_CACHE_DIR names another,
    so that a training stage run again after a kill loads its compiled steps."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get("KERAS_BACKEND") == "jax":
        environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(runs) / JAX_CACHE))
    return environ


def run_command(arguments, log, on_progress=lambda: None, env=None):
    """Runs `python -m tf_deepgifs <arguments>`, its output shown as it comes, calling
    on_progress every PROGRESS_EVERY_SECONDS while it runs and once when it ends."""
    log("$ python -m tf_deepgifs " + " ".join(arguments))
    process = subprocess.Popen([sys.executable, "-m", "tf_deepgifs", *arguments], cwd=REPO, env=env)
    try:
        returncode = wait_reporting(process, on_progress)
    finally:
        on_progress()
    if returncode != 0:
        raise RecipeError(f"`python -m tf_deepgifs {' '.join(arguments)}` failed (exit "
                          f"{returncode}); fix what it says and run the recipe again.")


def wait_reporting(process, on_progress, every=None):
    """The process's exit status, calling on_progress every `every` seconds until then."""
    while True:
        try:
            return process.wait(timeout=every or PROGRESS_EVERY_SECONDS)
        except subprocess.TimeoutExpired:
            on_progress()


def publish(stage, places, record, log):
    """Writes <out>/RESULTS.md from the runs (results/make_results.py, each entry's model
    its --<model> run), and copies into <out>/pretrained/<its folder>/ the exported
    generator (generator.onnx, in place of a legacy file there, and generator_int8.onnx
    where export kept one) and the selected networks (networks.keras) of each model that
    meets every one of its targets; the others leave
    their folder as it was, and RESULTS.md says so."""
    out = pathlib.Path(places["out"])
    runs = {entry["model"]: pathlib.Path(fill(entry["run"], places)) for entry in stage["publish"]}
    for model, run in list(runs.items()):
        if not run.exists():  # its stages were left out (--stages)
            log(f"Not published: {model} was not trained ({run} does not exist).")
            del runs[model]
    met = targets_met(runs)
    for entry in (entry for entry in stage["publish"] if entry["model"] in runs):
        model, run = entry["model"], runs[entry["model"]]
        folder = out / "pretrained" / entry["pretrained"]
        if not met.get(model, False):
            log(f"Not published: {model} misses its targets (RESULTS.md); {folder} stays.")
            continue
        if not (run / "export" / "generator.onnx").exists():
            raise RecipeError(f"{run / 'export' / 'generator.onnx'} does not exist: export "
                              f"{run} first.")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run / "export" / "generator.onnx", folder / "generator.onnx")
        # the 8-bit file, where export kept it (it held the float file's frames) and it
        # generates as well as the float file; never one left from another publication
        quantized = run / "export" / INT8_FILE
        if quantized.exists() and smaller_file_holds(quantized, log):
            shutil.copyfile(quantized, folder / INT8_FILE)
        else:
            (folder / INT8_FILE).unlink(missing_ok=True)
        shutil.copyfile(selected_weights(run), folder / contract.NETWORKS_FILE)
        (folder / "generator_fixed.onnx").unlink(missing_ok=True)  # the legacy file it replaces
        log(f"Published {folder / 'generator.onnx'} and {folder / contract.NETWORKS_FILE}.")
    published = [model for model in runs if met.get(model, False)]
    arguments = [str(REPO / "results" / "make_results.py"),
                 *(a for model, run in runs.items() for a in (f"--{model}", str(run))),
                 "--published", ",".join(published),
                 "--stages", str(record.path),
                 "--notes", str(REPO / "results" / "notes.md"), "--out", str(out / "RESULTS.md")]
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, *arguments], cwd=out)
    if result.returncode != 0:
        raise RecipeError("results/make_results.py failed; see above.")


def smaller_file_holds(path, log):
    """Whether the exported smaller file `path` generates as well as the float
    generator.onnx beside it, within `file_quality`'s bounds, on the first QUALITY_SEQUENCES
    test sequences of its dataset (the run's data folder). Data without the balls has no
    such measure, and its smaller files are not shipped."""
    from tf_deepgifs.evaluation import file_quality
    from tf_deepgifs_export.generate import Generator

    reference = Generator(str(path.parent / contract.ONNX_FILE))
    data_dir = json.loads((path.parent.parent / "config.json").read_text())["data"]["data_dir"]
    data = file_quality.first_test_sequences(reference.metadata["dataset"],
                                       reference.context_frames + reference.training_frames,
                                       QUALITY_SEQUENCES, data_dir)
    if "radius" not in data:
        log(f"Not published: {path}; {reference.metadata['dataset']} has no balls to "
            "measure it against the float file by.")
        return False
    smaller = file_quality.rollout_quality(Generator(str(path)), data)
    float_ = file_quality.rollout_quality(reference, data)
    found = file_quality.shortfalls(smaller, float_)
    log(f"{path} on {QUALITY_SEQUENCES} test sequences: "
        + (f"not published: {'; '.join(found)}." if found else "holds the float file's quality."))
    return not found


def targets_met(runs):
    """{model: whether every target of it is met}, from the runs' evaluation reports, as
    RESULTS.md's targets table decides them."""
    sys.path.insert(0, str(REPO / "results"))
    import make_results

    read = {model: make_results.read_run(run) for model, run in runs.items()}
    return {model: all(met for _, _, met in rows)
            for model, rows in make_results.model_targets(read).items()}


def reference_step_seconds(log=print):
    """Seconds of the reference step (REFERENCE_COMMAND) on this machine now, or None
    (said) when it cannot be timed."""
    log("Timing the reference step: " + " ".join(REFERENCE_COMMAND))
    result = subprocess.run([sys.executable, *REFERENCE_COMMAND], cwd=REPO, capture_output=True,
                            text=True)
    if result.returncode != 0:
        log("The reference step could not be timed; the stages are recorded without it.")
        return None
    return round(json.loads(result.stdout.strip().splitlines()[-1])["seconds"], 2)


def selected_weights(run):
    """The networks file the run's export was made from (its verification record)."""
    record = json.loads((run / "export" / "verification.json").read_text())
    return REPO / record["weights"]


def reproduce(recipe_path, runs=None, out=REPO, stages=None, tiny=False, log=print,
              run=run_command, reference=None):
    """Runs the recipe's stages (or those named) that have not finished; returns the
    names of those it ran. `run(arguments, log, on_progress, env)` runs one stage's
    command (run_command: a process of its own, which keeps each stage's memory and
    TensorFlow state apart from the next's). `reference(log)`: the reference step's
    seconds, taken before a stage when the last is REFERENCE_EVERY_SECONDS old and
    recorded with it (reference_step_seconds; None: none)."""
    recipe = read_recipe(recipe_path)
    runs = pathlib.Path(runs).resolve() if runs else REPO / recipe["runs"]
    # Named relative to the repository where they are inside it (the commands run there):
    # the commands recorded, and RESULTS.md, name no machine's folders.
    shown = runs.relative_to(REPO) if runs.is_relative_to(REPO) else runs
    places = {"runs": str(shown), "out": str(pathlib.Path(out).resolve())}
    known = [stage["name"] for stage in recipe["stage"]]
    unknown = set(stages or []) - set(known)
    if unknown:
        raise RecipeError(f"No stage {', '.join(sorted(unknown))} in {recipe_path}; its stages "
                          f"are {', '.join(known)}.")
    record, ran = Record(runs), []
    timed, timed_at = None, -float("inf")
    for stage in recipe["stage"]:
        name = stage["name"]
        if (stages and name not in stages) or record.done(name):
            continue
        if reference and time.monotonic() - timed_at >= REFERENCE_EVERY_SECONDS:
            timed, timed_at = reference(log), time.monotonic()
        log(f"== {name}: {fill(stage['does'], places)}")
        started, before = time.monotonic(), record.spent(name)

        def seconds():  # spent on this stage by every run of the recipe
            return before + time.monotonic() - started

        if "publish" in stage:
            publish(stage, places, record, log)
            command = "publish"
        else:
            arguments = stage_command(stage, places, tiny)
            run(arguments, log, lambda: record.progress(name, seconds()), stage_environment(runs))
            command = "python -m tf_deepgifs " + " ".join(arguments)
        record.finish(name, command=command, seconds=round(seconds(), 1), machine=machine(),
                      reference_step_seconds=timed)
        ran.append(name)
    return ran


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default=str(RECIPE), help="the recipe (default results/recipe.toml)")
    parser.add_argument("--runs", help="where the runs go (default: the recipe's, runs/recipe)")
    parser.add_argument("--out", default=str(REPO),
                        help="where pretrained/, RESULTS.md and results/ are written (default: the repository)")
    parser.add_argument("--stages", help="only these stages, comma-separated (default: all)")
    parser.add_argument("--tiny", action="store_true", help="every stage at a toy size (tests)")
    args = parser.parse_args(argv)
    try:
        reproduce(args.recipe, args.runs, args.out,
                  args.stages.split(",") if args.stages else None, args.tiny,
                  reference=None if args.tiny else reference_step_seconds)
    except RecipeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
