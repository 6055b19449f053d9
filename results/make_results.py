"""RESULTS.md and its figures from the evaluated runs of the recipe.

    python results/make_results.py --paper RUN --improved RUN [--stochastic RUN]
        [--digits RUN] [--notes results/notes.md] [--stages stages.json]
    python results/make_results.py --digits RUN --into RESULTS.md

Each RUN is a run directory that `python -m tf_deepgifs train` (either backend) or
`python -m tf_deepgifs tune` wrote and `python -m tf_deepgifs evaluate` has evaluated
(a tuned run's table and curves include the training run it started from): it reads config.json, logs/history.jsonl
(both trainers write it), best.json and evaluation/report.json, and writes RESULTS.md and
results/*.png, *.gif. Every number in RESULTS.md is read from those files, except in the
--notes file, which is copied in after the targets (how the runs were made, what they show).
With --into, only the moving digits' section (its targets, table, strips and curves) is
written, in place of the one the file has: for a RESULTS.md whose other runs are not on
this machine.
"""

import argparse
import json
import pathlib
import shutil
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tf_deepgifs.config import HorizonTuningConfig  # noqa: E402
from tf_deepgifs.data import bouncing_balls  # noqa: E402
from tf_deepgifs.evaluation import figures  # noqa: E402
from tf_deepgifs.training import staged_training  # noqa: E402

FIGURES = pathlib.Path("results")
SUMMARY_METRICS = ("psnr", "ssim", "right_count", "centre_error", "apart_kept",
                   "region_centre_error", "plausible")
PLOTTED_METRICS = ("psnr", "ssim", "right_count", "centre_error", "apart_kept", "plausible")
STOCHASTIC_METRICS = ("centre_error", "plausible", "diversity")
DIGITS_METRICS = ("psnr", "ssim", "identity")
BOUNCING_BALLS = ("paper", "improved")  # the models the Bouncing Balls figures compare
DPI = 120


def read_run(run_dir, evaluated=True):
    """Everything RESULTS.md needs from one run directory.

    A run `python -m tf_deepgifs tune` wrote (it has tuning.json), or a staged run's
    fine-tune (finetune.json), carries the run its networks came from as "source";
    `evaluated` False skips evaluation/ (a source run's).
    """
    run_dir = pathlib.Path(run_dir)
    history = [json.loads(line) for line in (run_dir / "logs" / "history.jsonl").read_text().splitlines()]
    run = {
        "dir": run_dir,
        "config": json.loads((run_dir / "config.json").read_text()),
        "best": json.loads((run_dir / "best.json").read_text()),
        "train": [h for h in history if h["split"] == "train"],
        "validation": [h for h in history if h["split"] == "validation"],
    }
    if evaluated:
        run["report"] = json.loads((run_dir / "evaluation" / "report.json").read_text())
    for kind, record in (("tuning", "tuning.json"), ("finetune", staged_training.FINETUNE_FILE)):
        if (run_dir / record).exists():
            run[kind] = json.loads((run_dir / record).read_text())
            run["source"] = read_run(run[kind]["source_run"], evaluated=False)
    return run


def curve(run, variant, metric):
    """Mean per generated frame (NaN where undefined) of one variant's metric."""
    values = run["report"]["curves"].get(variant, {}).get(metric)
    return None if values is None else np.array([np.nan if v is None else v for v in values["mean"]])


def lineage(run):
    """[the training run, its first horizon tuning, ...] ending with `run` itself."""
    return lineage(run["source"]) + [run] if "source" in run else [run]


def is_autoencoder(run):
    """Whether `run` is a staged run's first stage (its autoencoder folder)."""
    return run["dir"].name == staged_training.AUTOENCODER_DIR


def validation_count(run):
    """How many validation sequences the run's stages validate on (the staged method's
    dynamics and fine-tune; config.json files older than it: the default)."""
    return run["config"].get("dynamics", {}).get(
        "validation_sequences", HorizonTuningConfig.validation_sequences)


def stage_minutes(run):
    """Minutes the stage trained (its last logged time)."""
    return max(h.get("seconds", 0.0) for h in run["train"] + run["validation"]) / 60


def validation_seconds(run):
    """Seconds of training before each validation of a stage: its own record, or (logs
    written before validations recorded it) that of the last training line before it."""
    seconds = []
    for line in run["validation"]:
        before = [h["seconds"] for h in run["train"] if h["step"] <= line["step"]]
        seconds.append(line.get("seconds", before[-1] if before else 0.0))
    return seconds


def stages_by_minutes(run):
    """Each stage of `run`'s lineage, one after another: (the stage's run, the minutes of
    training before each of its validations, counted from the first stage's start)."""
    offset = 0.0
    for stage in lineage(run):
        yield stage, [offset + seconds / 60 for seconds in validation_seconds(stage)]
        offset += stage_minutes(stage)


def plot_validation_by_minutes(runs, path):
    """What a shorter or longer run buys: each model's validation measures against the
    minutes of training that led to them, its stages one after another (the autoencoder's
    reconstructions, then the dynamics' rollouts from the validation seeds)."""
    figure, panels = plt.subplots(1, 3, figsize=(16, 4))
    shown_dirs = set()
    for index, (name, run) in enumerate(runs.items()):
        for stage, minutes in stages_by_minutes(run):
            rows = stage["validation"]
            if is_autoencoder(stage):
                if stage["dir"] not in shown_dirs:
                    panels[0].plot(minutes, [h["region_centre_error"] for h in rows], "-o",
                                   markersize=3, label=f"{name}: autoencoder")
            elif "rollout" in rows[0]:
                label = f"{name}: {stage['dir'].name}"
                panels[1].plot(minutes, [h.get("centre_error") for h in rows], "-o",
                               color=f"C{index}", markersize=3, label=label)
                panels[2].plot(minutes, [h.get("right_count") for h in rows], "-o",
                               color=f"C{index}", markersize=3, label=label)
                if "plausible" in rows[0]:  # the unsplit regions, beside our detector's count
                    panels[2].plot(minutes, [h["plausible"] for h in rows], "--",
                                   color=f"C{index}")
            shown_dirs.add(stage["dir"])
    titles = ("autoencoder: reconstructed balls' centre error (regions, px)",
              "rollouts: mean centre error (px)",
              "rollouts: right ball count (dashed: plausible frames)")
    finish_by_minutes(figure, panels, titles)
    panels[0].set_yscale("log")
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def plot_digits_validation_by_minutes(run, path):
    """The digits model's validation against minutes of training, its stages one after
    another: the digits' identity and PSNR of the autoencoder's reconstructions, then of
    the rollouts from the validation seeds."""
    figure, panels = plt.subplots(1, 2, figsize=(12, 4))
    for stage, minutes in stages_by_minutes(run):
        rows = stage["validation"]
        label = ("autoencoder: reconstructions" if is_autoencoder(stage)
                 else f"{stage['dir'].name}: rollouts")
        for axes, metric in zip(panels, ("identity", "psnr")):
            if metric in rows[0]:
                axes.plot(minutes, [h[metric] for h in rows], "-o", markersize=3, label=label)
    titles = ("digits read as their own label (identity)", "PSNR (dB)")
    finish_by_minutes(figure, panels, titles)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def finish_by_minutes(figure, panels, titles):
    """Labels the panels of a plot against minutes of training."""
    for axes, title in zip(panels, titles):
        axes.set_xlabel("minutes of training (stages one after another)")
        axes.set_title(title, fontsize=10)
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:  # a panel no run of this kind reached has none
            axes.legend(fontsize=8)
    figure.tight_layout()


def plot_by_frame(runs, metric, path):
    """One metric against the frame's index in the video (1 = first frame), every model,
    its best of S, and each model's copy-last-frame baseline: the models start at
    different frames (K + 1), so the x axis is the video's, not the rollout's."""
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for name, run in runs.items():
        k = run["report"]["context_frames"]
        samples = run["report"]["samples"]
        for variant, style in (("model", "-o"), (f"best_of_{samples}", "-^"), ("baseline", "--s")):
            values = curve(run, variant, metric)
            if values is not None:
                axes.plot(np.arange(k + 1, k + 1 + len(values)), values, style, markersize=3,
                          label=f"{name}: {variant}")
    finish_metric_plot(figure, axes, metric, "frame of the video (the seed frames come first)",
                       path, legend_size=7)


def finish_metric_plot(figure, axes, metric, xlabel, path, legend_size=8):
    """Labels, grid and legend of a per-frame plot of `metric`; saves it to `path`."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(figures.METRIC_LABELS[metric][0])
    axes.grid(alpha=0.3)
    axes.legend(fontsize=legend_size)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def summary_rows(run):
    """Markdown rows: metric, generated frame, model, best of S, baseline."""
    report = run["report"]
    rows = []
    for entry in report["summary"]:
        if entry["metric"] not in SUMMARY_METRICS:
            continue
        cells = [entry.get(v) for v in ("model", f"best_of_{report['samples']}", "baseline")]
        rows.append(f"| {figures.METRIC_LABELS[entry['metric']][1]} | {entry['frame']} | "
                    + " | ".join("-" if c is None else f"{c:.4g}" for c in cells) + " |")
    return rows


def target_lines(runs):
    """The targets as a table: each with what was measured and whether it is met."""
    return targets_table([(target, measured, verdict(met))
                          for rows in model_targets(runs).values()
                          for target, measured, met in rows])


def model_targets(runs):
    """{model: [(target, measured, met)]} for each model of `runs` that has targets.

    Two detectors measure the balls: ours (`detect`, which splits touching balls by
    k-means) and the regions as they are (`regions`), which hides no fused ball. The
    regions decide each target; ours is reported beside them."""
    targets = {}
    if "paper" in runs:
        targets["paper"] = paper_target_rows(runs["paper"])
    if "improved" in runs:
        targets["improved"] = improved_target_rows(runs["improved"])
    if "stochastic" in runs:
        targets["stochastic"] = stochastic_target_rows(runs["stochastic"], runs["paper"])
    if "digits" in runs:
        targets["digits"] = digits_target_rows(runs["digits"])
    return targets


def paper_target_rows(paper):
    plausible = np.nanmean(curve(paper, "model", "plausible"))
    return [("paper: every generated frame plausible without the truth, at least 99.5% of "
             "frames", f"{plausible:.2%}", bool(plausible >= 0.995))]


def improved_target_rows(improved):
    psnr, base = curve(improved, "model", "psnr"), curve(improved, "baseline", "psnr")
    above = int(np.sum(psnr > base))
    centre = curve(improved, "model", "centre_error")
    regions = curve(improved, "model", "region_centre_error")
    fifth = min(5, len(centre)) - 1  # generated frame 5 (a shorter horizon: its last)
    apart = np.nanmean(curve(improved, "model", "apart_kept"))
    count = np.nanmean(curve(improved, "model", "right_count"))
    rows = [
        ("improved: where the truth shows every ball apart, so does the generated frame "
         "(regions as they are), at least 98% of those frames",
         f"{apart:.2%} (our detector's right count: {count:.2%})", bool(apart >= 0.98)),
        (f"improved: mean centre error (regions) under 1.5 px at generated frame {fifth + 1}",
         f"{regions[fifth]:.2f} px (our detector: {centre[fifth]:.2f} px)",
         bool(regions[fifth] < 1.5)),
        ("improved: mean centre error (regions) under 4 px at the last frame",
         f"{regions[-1]:.2f} px (our detector: {centre[-1]:.2f} px)", bool(regions[-1] < 4)),
        ("improved: PSNR above the copy-last-frame baseline at every generated frame",
         f"above at {above} of {len(psnr)}", above == len(psnr)),
    ]
    long = (improved["report"].get("long") or {}).get("summary")
    if long:
        ratio = long["speed_ratio_second_half"]
        rows += [
            (f"improved, {long['frames']} generated frames: plausible in at least 97% of the "
             "last tenth", f"{long['plausible_last_tenth']:.2%}",
             bool(long["plausible_last_tenth"] >= 0.97)),
            ("improved, the same: mean ball speed over the second half within 15% of the "
             "truth's", f"{ratio:.3f} x the truth's ({long['speed_second_half']:.2f} against "
             f"{long['true_speed_second_half']:.2f} px a frame)", bool(abs(ratio - 1) <= 0.15)),
        ]
    return rows


def targets_table(rows):
    """(target, measured, verdict) rows as a Markdown table."""
    return (["| target | measured | |", "| --- | --- | --- |"]
            + [f"| {target} | {measured} | {met} |" for target, measured, met in rows])


def verdict(ok):
    return "met" if ok else "**not met**"


def best_of_ratio(run, frame):
    """(best of S, the ideal sampler's best of S, their ratio) of the centre error at a
    generated frame (1-based), or None where the run has no ideal sampler."""
    samples = run["report"]["samples"]
    best = curve(run, f"best_of_{samples}", "centre_error")
    ideal = curve(run, f"ideal_best_of_{samples}", "centre_error")
    if best is None or ideal is None:
        return None
    return best[frame - 1], ideal[frame - 1], best[frame - 1] / ideal[frame - 1]


def stochastic_target_rows(run, paper):
    """Futures that differ: best of S against the ideal sampler's, every sample plausible."""
    samples, horizon = run["report"]["samples"], run["report"]["horizon"]
    rows = []
    for frame in sorted({min(5, horizon), min(10, horizon), horizon}):
        best, ideal, ratio = best_of_ratio(run, frame)
        before = best_of_ratio(paper, frame)
        compared = f"; the paper model's: {before[2]:.2f} x" if before else ""
        rows.append((f"stochastic: best-of-{samples} mean centre error within 1.25 x the ideal "
                     f"sampler's at generated frame {frame}",
                     f"{best:.2f} px against {ideal:.2f} px: {ratio:.2f} x{compared}",
                     bool(ratio <= 1.25)))
    every = np.nanmean(curve(run, "samples", "plausible"))
    deterministic = np.nanmean(curve(run, "model", "plausible"))
    rows += [
        (f"stochastic: every sample plausible, at least 98% of all frames of all {samples} "
         "samples", f"{every:.2%}", bool(every >= 0.98)),
        ("stochastic: the deterministic rollout (zero noise) plausible in at least 98% of frames",
         f"{deterministic:.2%}", bool(deterministic >= 0.98)),
    ]
    return rows


DIGITS_IDENTITY_FLOORS = {1: 0.80, 5: 0.70, 10: 0.60, 17: 0.50}  # generated frame: least identity


def digits_target_rows(run):
    """Moving digits: identity above its floors at frames 1, 5, 10 and 17; identity, SSIM
    and PSNR above the copy-last-frame baseline at every generated frame."""
    identity = curve(run, "model", "identity")
    floors = {frame: floor for frame, floor in DIGITS_IDENTITY_FLOORS.items()
              if frame <= len(identity)}
    rows = [("digits: identity at generated frames " + ", ".join(map(str, floors))
             + " at least " + ", ".join(f"{f:.2f}" for f in floors.values()),
             ", ".join(f"{identity[frame - 1]:.3f}" for frame in floors),
             all(identity[frame - 1] >= floor for frame, floor in floors.items()))]
    for metric, name in (("identity", "digits read as their own label at their true places"),
                         ("ssim", "SSIM"), ("psnr", "PSNR")):
        model, base = curve(run, "model", metric), curve(run, "baseline", metric)
        above = int(np.sum(model > base))
        rows.append((f"digits: {name} above the copy-last-frame baseline at every generated "
                     "frame", f"above at {above} of {len(model)} (frame 1: {model[0]:.3g} "
                     f"against {base[0]:.3g}; last: {model[-1]:.3g} against {base[-1]:.3g})",
                     above == len(model)))
    return rows


def training_table(runs):
    """The training table's rows: every stage of every model once, in the order trained,
    each named by its model and kind ("improved: horizon tuning 2"); a one-stage model by
    its name alone."""
    rows, listed = [], set()
    for name, run in runs.items():
        stages = lineage(run)
        tunings = [stage for stage in stages if stage_name(stage) == "horizon tuning"]
        for stage in stages:
            if stage["dir"] in listed:
                continue
            listed.add(stage["dir"])
            label = stage_name(stage)
            if label == "horizon tuning" and len(tunings) > 1:
                label += f" {tunings.index(stage) + 1}"
            rows.append(training_line(name if len(stages) == 1 else f"{name}: {label}", stage))
    return rows


def stage_name(run):
    if is_autoencoder(run):
        return "autoencoder"
    if "finetune" in run:
        return "joint fine-tune"
    return "horizon tuning" if "tuning" in run else "training"


GENERATING = {"frames": "generating through frames", "latent": "generating from latents"}


def training_sequences(config):
    """The training split's size of a run's dataset, from its builder's configuration."""
    dataset = config["data"]["dataset"]
    if dataset.startswith("bouncing_balls"):
        return dict(bouncing_balls.DatasetConfig().split_sizes)["train"]
    from tf_deepgifs_datasets.moving_sklearn_digits import moving_sklearn_digits_dataset_builder as digits
    return dict(digits.Builder.BUILDER_CONFIGS[0].split_sizes)["train"]


def training_line(name, run):
    """A training-table row of one stage: a joint training, an autoencoder or a tuning."""
    if is_autoencoder(run):
        return autoencoder_line(name, run)
    if "tuning" in run:
        return tuning_line(name, run)
    t = run["config"]["train"]
    steps = run["train"][-1]["step"]
    if "finetune" in run:  # the staged method's last stage: the paper's step, briefly
        mode, start = f"{t['mode']}, joint fine-tune", run["finetune"]["source_weights"]
        sequences = steps * run["finetune"]["batch_size"]
    else:
        mode, start, sequences = t["mode"], t.get("init_weights"), steps * t["batch_size"]
    start = f"`{shown(start)}`" if start else "random"
    return (f"| {name} | {run['config']['preset']} | {mode} | {t['context_frames']} | "
            f"{start} | {steps} | {sequences / training_sequences(run['config']):.1f} | "
            f"{stage_minutes(run):.1f} | {run['best']['step']} | {rollout_measures(run['best'])} |")


def autoencoder_line(name, run):
    """The staged method's first stage: single frames of the training sequences."""
    config, last = run["config"], run["train"][-1]
    frames = (config["dynamics"]["training_sequences"] or training_sequences(config)) * \
        config["data"]["num_frames"]
    epochs = last["step"] * config["autoencoder"]["batch_size"] / frames
    return (f"| {name} | {config['preset']} | autoencoder on single frames | - | random | "
            f"{last['step']} | {epochs:.1f} | {stage_minutes(run):.1f} | {run['best']['step']} | "
            f"{reconstruction_measures(run['best'])} |")


def reconstruction_measures(values):
    """An autoencoder validation's measures: PSNR, and the balls' centres or the digits'
    identity where measured."""
    text = f"PSNR {values['psnr']:.1f} dB"
    if "region_centre_error" in values:
        text += f", reconstructed centres {values['region_centre_error']:.2f} px (regions)"
    if "identity" in values:
        text += f", digits read as their own {values['identity']:.1%}"
    return text


def rollout_measures(values):
    """A rollout validation's measures: the balls' plausibility where measured, else the
    rollout's MSE (and the digits' identity where measured)."""
    if "plausible" in values:
        return f"plausible {values['plausible']:.1%}, right count {values['right_count']:.1%}"
    text = f"rollout MSE {values['rollout']:.4f}"
    if "identity" in values:
        text += f", identity {values['identity']:.1%}"
    return text


def tuning_line(name, run):
    tuning, last = run["tuning"], run["train"][-1]
    generating = GENERATING[run["config"]["model"].get("generation_feedback", "frames")]
    sequences = tuning["training_sequences"] or training_sequences(run["config"])
    return (f"| {name} | {run['config']['preset']} | horizon tuning "
            f"({tuning.get('feedback', 'latent')} feedback, {generating}) | "
            f"{run['config']['train']['context_frames']} | `{shown(tuning['source_weights'])}` | "
            f"{last['step']} | {last['step'] * tuning['batch_size'] / sequences:.1f} | "
            f"{stage_minutes(run):.1f} | {run['best']['step']} | "
            f"{rollout_measures(run['best'])} |")


def stage_lines(stages):
    """The recipe's stages (results/reproduce.py's stages.json): each stage's command, the
    minutes it took and what it ran on."""
    lines = ["## How long each stage of the recipe took", "",
             "`make reproduce` (results/recipe.toml) ran these stages in this order. A "
             "machine's speed varies by the hour: beside each stage is the reference step "
             "(`python benchmarks/train_step.py --batch-size 32 --frames 20`, the paper's "
             "train step in float32) timed on it that hour.", "",
             "| stage | minutes | reference step s | backend | ran on | command |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, stage in stages.items():
        machine = stage["machine"]
        where = ", ".join(machine.get("devices", [])) or (
            f"{machine['cpu']} ({machine['cores']} cores"
            + "".join(f", {f}" for f in machine.get("features", [])) + ")")
        command = f"`{stage['command']}`" if stage["command"] != "publish" else "copies, writes this file"
        reference = stage.get("reference_step_seconds")
        lines.append(f"| {name} | {stage['seconds'] / 60:.1f} | "
                     f"{'-' if reference is None else f'{reference:.2f}'} | {machine['backend']} | "
                     f"{where} | {command} |")
    total = sum(stage["seconds"] for stage in stages.values()) / 3600
    return lines + ["", f"{total:.2f} hours in all.", ""]


def variant_rows(run, metrics, variants):
    """Markdown rows of the summary: metric, generated frame, then each variant's value."""
    rows = []
    for entry in run["report"]["summary"]:
        if entry["metric"] in metrics:
            cells = [entry.get(v) for v in variants]
            rows.append(f"| {figures.METRIC_LABELS[entry['metric']][1]} | {entry['frame']} | "
                        + " | ".join("-" if c is None else f"{c:.4g}" for c in cells) + " |")
    return rows


def plot_variants(run, metric, variants, path, others=()):
    """One metric per generated frame for the named variants of a run (and of `others`,
    (name, run, variant) triples)."""
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for label, source, variant in [("", run, v) for v in variants] + list(others):
        values = curve(source, variant, metric)
        if values is not None:
            axes.plot(np.arange(1, len(values) + 1), values,
                      figures.VARIANT_STYLES.get(variant, "-^"), markersize=3,
                      label=f"{label}{variant}")
    finish_metric_plot(figure, axes, metric, "generated frame", path)


def stochastic_lines(run, paper):
    """The stochastic model's section: its samples against the ideal sampler's."""
    report, samples = run["report"], run["report"]["samples"]
    variants = ["model", f"best_of_{samples}", "samples", f"ideal_best_of_{samples}",
                "ideal_samples", "baseline"]
    shutil.copyfile(run["dir"] / "evaluation" / "samples.png", FIGURES / "stochastic_samples.png")
    plot_variants(run, "centre_error", variants[:2] + variants[3:4] + variants[5:],
                  FIGURES / "stochastic_centre_error.png",
                  others=[("paper: ", paper, f"best_of_{paper['report']['samples']}")])
    plot_variants(run, "diversity", ["samples", "ideal_samples"],
                  FIGURES / "stochastic_diversity.png",
                  others=[("paper: ", paper, "samples")])
    return [
        "## Futures that differ: the stochastic model", "",
        f"One seed frame, {report['samples']} samples per sequence on the first "
        f"{report['sampled_sequences']} test sequences. `best_of_{samples}` is the sample "
        "whose balls are closest to the truth (mean centre error over the horizon), "
        "`samples` every sample (plausible frames; diversity: the mean distance between two "
        "samples' matched balls), `ideal_...` the same for the ideal sampler (the simulator "
        "from the seed's true balls, velocities drawn from its prior).", "",
        "| metric | generated frame | " + " | ".join(variants) + " |",
        "| --- | --- | " + " | ".join("---" for _ in variants) + " |",
        *variant_rows(run, STOCHASTIC_METRICS, variants), "",
        "![one seed's samples beside the ideal sampler's](results/stochastic_samples.png)", "",
        "![centre error](results/stochastic_centre_error.png)", "",
        "![diversity](results/stochastic_diversity.png)", ""]


DIGITS_HEADING = "## Moving digits"


def digits_lines(run, with_targets=False):
    """The moving digits' section: image metrics and identity, strips and curves; its
    targets' rows too where the section is written alone (`--into`)."""
    report, samples = run["report"], run["report"]["samples"]
    variants = ["model", f"best_of_{samples}", "baseline", "ground_truth"]
    for figure in ("strips.png", "strips.gif"):
        shutil.copyfile(run["dir"] / "evaluation" / figure, FIGURES / f"digits_{figure}")
    for metric in ("psnr", "identity"):
        plot_variants(run, metric, variants, FIGURES / f"digits_{metric}.png")
    plot_digits_validation_by_minutes(run, FIGURES / "digits_training_curves.png")
    targets = targets_table([(target, measured, verdict(met)) for target, measured, met
                             in digits_target_rows(run)]) + [""] if with_targets else []
    return [
        f"{DIGITS_HEADING} (scikit-learn's digits: a Moving MNIST stand-in, not MNIST)", "",
        *targets,
        f"{report['sequences']} test sequences of `moving_sklearn_digits` (its test digits are "
        f"images no training sequence shows), K = {report['context_frames']}, "
        f"{report['horizon']} generated frames. Identity: the share of digits a classifier "
        "trained on the digit source reads as their own label in the window where the truth "
        "has them (`tf_deepgifs/metrics/digit_identity.py`).", "",
        "| metric | generated frame | " + " | ".join(variants) + " |",
        "| --- | --- | " + " | ".join("---" for _ in variants) + " |",
        *variant_rows(run, DIGITS_METRICS, variants), "",
        "![digits strips](results/digits_strips.png)", "",
        "The same sequences as a GIF: [results/digits_strips.gif](results/digits_strips.gif)", "",
        "![digits PSNR](results/digits_psnr.png)", "",
        "![digits identity](results/digits_identity.png)", "",
        f"Validation (the first {validation_count(run)} validation sequences) against minutes "
        "of training, the stages one after another:", "",
        "![digits validation against minutes](results/digits_training_curves.png)", ""]


def shipping_lines(runs, published):
    """What pretrained/ holds after the recipe: each model's stages and objectives, and
    whether this recipe's generator replaced the folder's file (it does only when every
    target of the model is met)."""
    lines = ["## What ships", "",
             "| model | stages, each with its objective | published by this recipe |",
             "| --- | --- | --- |"]
    met = {model: all(ok for _, _, ok in rows) for model, rows in model_targets(runs).items()}
    for name, run in runs.items():
        stages = "; ".join(f"{stage_name(stage)}: {objective(stage)}" for stage in lineage(run))
        shipped = ("yes" if name in published else
                   "no: it meets its targets but was not published (results/notes.md says "
                   "why), so pretrained/ keeps what it had for it" if met.get(name) else
                   "no: it misses a target, so pretrained/ keeps what it had for it")
        lines.append(f"| {name} | {stages} | {shipped} |")
    return lines + [""]


def objective(run):
    """What a stage minimised, in a few words."""
    config = run["config"]
    if is_autoencoder(run):
        return (f"reconstruction MSE + {config['train']['lambda_kl']:g} x KL on single frames "
                "(the paper's VAE terms)")
    if "tuning" in run:
        tuning = run["tuning"]
        if config["model"].get("mixture_components"):
            return "negative log-likelihood of the next latent under the mixture readout"
        return (f"latent MSE over the horizon ({tuning.get('feedback', 'latent')} feedback) "
                "+ the first predicted frame's image MSE")
    return f"the paper's losses, jointly ({config['train']['mode']}, with the discriminator)"


def write_results(runs, out, command, notes="", stages=None, published=None):
    FIGURES.mkdir(exist_ok=True)
    balls = {name: runs[name] for name in BOUNCING_BALLS}
    plot_validation_by_minutes({name: run for name, run in runs.items() if name != "digits"},
                               FIGURES / "training_curves.png")
    for metric in PLOTTED_METRICS:
        plot_by_frame(balls, metric, FIGURES / f"{metric}_by_frame.png")
    for name, run in balls.items():
        for figure in ("strips.png", "strips.gif"):
            shutil.copyfile(run["dir"] / "evaluation" / figure, FIGURES / f"{name}_{figure}")
    report = runs["paper"]["report"]
    lines = [
        "# Results",
        "",
        f"Written by `{command}` from the runs' own files; the sections below say how each "
        "run and each number was made.",
        "",
        "## Targets",
        "",
        *target_lines(runs),
        "",
        *(shipping_lines(runs, published) if published is not None else []),
        notes.strip(),
        "",
        *(stage_lines(stages) if stages else []),
        "## Training",
        "",
        "| stage | preset | mode | K | initialised from | steps | epochs | minutes | selected step "
        "| validation at the selected step |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *training_table(runs),
        "",
        f"Validation (the first {validation_count(runs['paper'])} validation sequences) "
        "against minutes of training:",
        "",
        "![validation against minutes](results/training_curves.png)",
        "",
        "## Bouncing Balls: test split",
        "",
        f"{report['sequences']} test sequences; `model` is the deterministic rollout (z = mean), "
        f"`best_of_{report['samples']}` the best of {report['samples']} sampled rollouts per "
        f"sequence on the first {report['sampled_sequences']}, `baseline` the last seed frame "
        "copied. Generated frame 1 is the video's frame K + 1.",
        "",
    ]
    for name, run in balls.items():
        samples = run["report"]["samples"]
        lines += [f"### {name} (K = {run['report']['context_frames']}, "
                  f"{run['report']['horizon']} generated frames)", "",
                  f"| metric | generated frame | model | best of {samples} | baseline |",
                  "| --- | --- | --- | --- | --- |", *summary_rows(run), "",
                  f"![{name} strips](results/{name}_strips.png)", "",
                  f"The same sequences as a GIF: [results/{name}_strips.gif](results/{name}_strips.gif)",
                  ""]
    lines += ["### Per frame", ""]
    lines += [f"![{metric}](results/{metric}_by_frame.png)" for metric in PLOTTED_METRICS]
    lines += long_lines(balls)
    if "stochastic" in runs:
        lines += [""] + stochastic_lines(runs["stochastic"], runs["paper"])
    if "digits" in runs:
        lines += [""] + digits_lines(runs["digits"])
    pathlib.Path(out).write_text("\n".join(lines) + "\n")


def long_lines(runs):
    """The long rollouts' section, with each model's plot and strip copied into results/."""
    lines = []
    for name, run in runs.items():
        long = run["report"].get("long")
        if not long:
            continue
        for figure in ("long_rollout.png", "long_strip.png"):
            shutil.copyfile(run["dir"] / "evaluation" / figure, FIGURES / f"{name}_{figure}")
        summary = long["summary"]
        lines += ["", f"### {name}: {summary['frames']} generated frames",
                  "", f"The deterministic rollout of the first "
                  f"{long['curves']['model']['plausible']['count'][0]} test sequences, "
                  f"{summary['frames']} frames past the seed, against the truth simulated as long "
                  "(the test sequences continued by the same simulator). Plausible in "
                  f"{summary['plausible_last_tenth']:.1%} of the last tenth of the frames; the "
                  f"balls' mean speed over the second half {summary['speed_second_half']:.2f} px "
                  f"a frame against the truth's {summary['true_speed_second_half']:.2f} "
                  f"({summary['speed_ratio_second_half']:.2f} x).", "",
                  f"![{name} long rollouts](results/{name}_long_rollout.png)", "",
                  f"![{name} long strip](results/{name}_long_strip.png)"]
    return ["", "## Long rollouts"] + lines if lines else []


def write_section_into(path, heading, lines):
    """Replaces the section whose "## " line starts with `heading` (up to the next "## "
    line) in the Markdown file `path` by `lines`, or adds them at the end; the rest of the
    file stays."""
    old = pathlib.Path(path).read_text().rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(old) if line.startswith(heading)), None)
    if start is None:
        new = old + [""] + lines
    else:
        end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
        new = old[:start] + lines + ([""] if end < len(old) else []) + old[end:]
    pathlib.Path(path).write_text("\n".join(new).rstrip("\n") + "\n")


REPO = pathlib.Path(__file__).resolve().parent.parent


def shown(path):
    """A path as RESULTS.md names it: relative to the repository where it is absolute."""
    path = pathlib.Path(path)
    return str(path.relative_to(REPO) if path.is_absolute() and path.is_relative_to(REPO)
               else path)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper", help="the paper preset's run directory")
    parser.add_argument("--improved", help="the improved preset's run directory")
    parser.add_argument("--stochastic", help="the stochastic (mixture) model's run directory")
    parser.add_argument("--digits", help="the moving digits model's run directory")
    parser.add_argument("--notes", help="a Markdown file copied in after the targets")
    parser.add_argument("--out", default="RESULTS.md")
    parser.add_argument("--stages", help="results/reproduce.py's stages.json, for the stages' times")
    parser.add_argument("--published", default=None,
                        help="the models (comma-separated) whose generators this recipe "
                        "published into pretrained/; RESULTS.md says which shipped")
    parser.add_argument("--into", help="an existing RESULTS.md whose moving digits section "
                        "(with its targets) alone is written from --digits, the rest kept")
    args = parser.parse_args()
    if args.into:
        if not args.digits or args.paper or args.improved or args.stochastic:
            parser.error("--into writes the moving digits section alone: give --digits only.")
        FIGURES.mkdir(exist_ok=True)
        section = digits_lines(read_run(args.digits), with_targets=True)
        write_section_into(args.into, DIGITS_HEADING, section)
        print(f"Wrote the moving digits section into {args.into} and its figures in {FIGURES}/.")
        return
    if not (args.paper and args.improved):
        parser.error("--paper and --improved are needed to write RESULTS.md (or --into).")
    runs = {"paper": read_run(args.paper), "improved": read_run(args.improved)}
    runs.update({name: read_run(path) for name, path in
                 (("stochastic", args.stochastic), ("digits", args.digits)) if path})
    notes = pathlib.Path(args.notes).read_text() if args.notes else ""
    command = " ".join(shown(a) if a and pathlib.Path(a).exists() else a for a in sys.argv[1:])
    stages = json.loads(pathlib.Path(args.stages).read_text()) if args.stages else None
    published = None if args.published is None else [m for m in args.published.split(",") if m]
    write_results(runs, args.out, "python results/make_results.py " + command, notes, stages,
                  published)
    print(f"Wrote {args.out} and the figures in {FIGURES}/.")


if __name__ == "__main__":
    main()
