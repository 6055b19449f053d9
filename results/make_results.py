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
from tf_deepgifs.data import bouncing_balls  # noqa: E402
from tf_deepgifs.evaluation import figures  # noqa: E402

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

    A run `python -m tf_deepgifs tune` wrote (it has tuning.json) carries the training
    run it tuned as "source"; `evaluated` False skips evaluation/ (a source run's).
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
    tuning = run_dir / "tuning.json"
    if tuning.exists():
        run["tuning"] = json.loads(tuning.read_text())
        run["source"] = read_run(run["tuning"]["source_run"], evaluated=False)
    return run


def curve(run, variant, metric):
    """Mean per generated frame (NaN where undefined) of one variant's metric."""
    values = run["report"]["curves"].get(variant, {}).get(metric)
    return None if values is None else np.array([np.nan if v is None else v for v in values["mean"]])


def lineage(run):
    """[the training run, its first horizon tuning, ...] ending with `run` itself."""
    return lineage(run["source"]) + [run] if "source" in run else [run]


def plot_training(runs, path):
    """Training losses and the validation rollout MSE against steps, both runs; a third
    panel for horizon tuning where a run was tuned (stages one after another in steps)."""
    tuned = {name: run for name, run in runs.items() if "tuning" in run}
    figure, panels = plt.subplots(1, 3 if tuned else 2, figsize=(16 if tuned else 11, 4))
    left, right = panels[:2]
    for name, run in runs.items():
        run = lineage(run)[0]
        steps = [h["step"] for h in run["train"]]
        left.plot(steps, [h["prediction"] for h in run["train"]], label=f"{name}: prediction (train)")
        left.plot(steps, [h["reconstruction"] for h in run["train"]], alpha=0.6,
                  label=f"{name}: reconstruction (train)")
        right.plot([h["step"] for h in run["validation"]], [h["rollout"] for h in run["validation"]],
                   "-o", label=f"{name}: free rollout (validation)")
        right.axvline(run["best"]["step"], linestyle=":", color=right.lines[-1].get_color())
    left.set_yscale("log")
    titles = [(left, "training losses (MSE, pixels in [-1, 1])"),
              (right, "validation rollout MSE; dotted: the selected step")]
    for name, run in tuned.items():
        tuning = panels[2]
        rollout = tuning.twinx()  # pixels: a scale 30 times smaller than the latents'
        offset = 0
        for stage, tuned_run in enumerate(lineage(run)[1:]):
            feedback = tuned_run["tuning"].get("feedback", "latent")
            steps = [offset + h["step"] for h in tuned_run["validation"]]
            tuning.plot(steps, [h["latent"] for h in tuned_run["validation"]], "-s",
                        color=f"C{2 + 2 * stage}",
                        label=f"{name}, {feedback} feedback: latent MSE (validation, left axis)")
            rollout.plot(steps, [h["rollout"] for h in tuned_run["validation"]], "-o",
                         color=f"C{1 + 2 * stage}",
                         label=f"{name}, {feedback} feedback: rollout MSE (validation, right axis)")
            tuning.axvline(offset + tuned_run["best"]["step"], linestyle=":", color="gray")
            offset += tuned_run["train"][-1]["step"]
        rollout.legend(fontsize=8, loc="upper center")
        titles.append((tuning, "horizon tuning (encoder, decoder frozen); dotted: selected"))
    for axes, title in titles:
        axes.set_xlabel("step")
        axes.set_title(title, fontsize=10)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


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
    """The targets as a table: each with what was measured and whether it is met.

    Two detectors measure the balls: ours (`detect`, which splits touching balls by
    k-means) and the regions as they are (`regions`), which hides no fused ball."""
    improved, paper = runs["improved"], runs["paper"]
    psnr, base = curve(improved, "model", "psnr"), curve(improved, "baseline", "psnr")
    above = int(np.sum(psnr > base))
    centre = curve(improved, "model", "centre_error")
    regions = curve(improved, "model", "region_centre_error")
    fifth = min(5, len(centre)) - 1  # generated frame 5 (a shorter horizon: its last)
    apart = np.nanmean(curve(improved, "model", "apart_kept"))
    count = np.nanmean(curve(improved, "model", "right_count"))
    plausible = np.nanmean(curve(paper, "model", "plausible"))

    rows = [
        ("improved: where the truth shows every ball apart, so does the generated frame "
         "(regions as they are), at least 98% of those frames",
         f"{apart:.2%} (our detector's right count: {count:.2%})", verdict(apart >= 0.98)),
        (f"improved: mean centre error under 1.5 px at generated frame {fifth + 1}",
         f"{centre[fifth]:.2f} px (regions: {regions[fifth]:.2f} px)", verdict(centre[fifth] < 1.5)),
        ("improved: mean centre error under 4 px at the last frame",
         f"{centre[-1]:.2f} px (regions: {regions[-1]:.2f} px)", verdict(centre[-1] < 4)),
        ("improved: PSNR above the copy-last-frame baseline at every generated frame",
         f"above at {above} of {len(psnr)}", verdict(above == len(psnr))),
        ("paper: every generated frame plausible without the truth, at least 99.5% of frames",
         f"{plausible:.2%}", verdict(plausible >= 0.995)),
    ]
    long = (improved["report"].get("long") or {}).get("summary")
    if long:
        ratio = long["speed_ratio_second_half"]
        rows += [
            (f"improved, {long['frames']} generated frames: plausible in at least 97% of the "
             "last tenth", f"{long['plausible_last_tenth']:.2%}",
             verdict(long["plausible_last_tenth"] >= 0.97)),
            ("improved, the same: mean ball speed over the second half within 15% of the "
             "truth's", f"{ratio:.3f} x the truth's ({long['speed_second_half']:.2f} against "
             f"{long['true_speed_second_half']:.2f} px a frame)", verdict(abs(ratio - 1) <= 0.15)),
        ]
    if "stochastic" in runs:
        rows += stochastic_target_rows(runs["stochastic"], paper)
    if "digits" in runs:
        rows += digits_target_rows(runs["digits"])
    return targets_table(rows)


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
                     verdict(ratio <= 1.25)))
    every = np.nanmean(curve(run, "samples", "plausible"))
    deterministic = np.nanmean(curve(run, "model", "plausible"))
    rows += [
        (f"stochastic: every sample plausible, at least 98% of all frames of all {samples} "
         "samples", f"{every:.2%}", verdict(every >= 0.98)),
        ("stochastic: the deterministic rollout (zero noise) plausible in at least 98% of frames",
         f"{deterministic:.2%}", verdict(deterministic >= 0.98)),
    ]
    return rows


def digits_target_rows(run):
    """Moving digits: identity and PSNR above the copy-last-frame baseline at every frame."""
    rows = []
    for metric, name in (("identity", "digits read as their own label at their true places"),
                         ("psnr", "PSNR")):
        model, base = curve(run, "model", metric), curve(run, "baseline", metric)
        above = int(np.sum(model > base))
        rows.append((f"digits: {name} above the copy-last-frame baseline at every generated "
                     "frame", f"above at {above} of {len(model)} (frame 1: {model[0]:.3g} "
                     f"against {base[0]:.3g}; last: {model[-1]:.3g} against {base[-1]:.3g})",
                     verdict(above == len(model))))
    return rows


def training_lines(name, run):
    """The training table's rows of a run: its training, then each horizon tuning."""
    stages = lineage(run)
    if len(stages) == 1:
        return [training_line(name, run)]
    return [training_line(f"{name}: training", stages[0])] + [
        tuning_line(f"{name}: horizon tuning" + (f" {number}" if len(stages) > 2 else ""), stage)
        for number, stage in enumerate(stages[1:], start=1)]


GENERATING = {"frames": "generating through frames", "latent": "generating from latents"}


def training_sequences(config):
    """The training split's size of a run's dataset, from its builder's configuration."""
    dataset = config["data"]["dataset"]
    if dataset.startswith("bouncing_balls"):
        return dict(bouncing_balls.DatasetConfig().split_sizes)["train"]
    from tf_deepgifs_datasets.moving_sklearn_digits import moving_sklearn_digits_dataset_builder as digits
    return dict(digits.Builder.BUILDER_CONFIGS[0].split_sizes)["train"]


def tuning_line(name, run):
    tuning, last = run["tuning"], run["train"][-1]
    generating = GENERATING[run["config"]["model"].get("generation_feedback", "frames")]
    return (f"| {name} | {run['config']['preset']} | horizon tuning "
            f"({tuning.get('feedback', 'latent')} feedback, {generating}) | "
            f"{run['config']['train']['context_frames']} | `{shown(tuning['source_weights'])}` | "
            f"{last['step']} | {last['step'] * tuning['batch_size'] / (tuning['training_sequences'] or training_sequences(run['config'])):.1f} | "
            f"{last['seconds'] / 60:.1f} | {run['best']['step']} | {run['best']['rollout']:.4f} |")


def training_line(name, run):
    t = run["config"]["train"]
    last = run["train"][-1]
    steps = last["step"]
    start = f"`{shown(t['init_weights'])}`" if t.get("init_weights") else "random"
    return (f"| {name} | {run['config']['preset']} | {t['mode']} | {t['context_frames']} | "
            f"{start} | {steps} | {steps * t['batch_size'] / training_sequences(run['config']):.1f} | "
            f"{last['seconds'] / 60:.1f} | "
            f"{run['best']['step']} | {run['best']['rollout']:.4f} |")


def stage_lines(stages):
    """The recipe's stages (results/reproduce.py's stages.json): each stage's command, the
    minutes it took and what it ran on."""
    lines = ["## How long each stage of the recipe took", "",
             "`make reproduce` (results/recipe.toml) ran these stages in this order:", "",
             "| stage | minutes | backend | ran on | command |", "| --- | --- | --- | --- | --- |"]
    for name, stage in stages.items():
        machine = stage["machine"]
        where = ", ".join(machine.get("devices", [])) or f"{machine['cpu']} ({machine['cores']} cores)"
        command = f"`{stage['command']}`" if stage["command"] != "publish" else "copies, writes this file"
        lines.append(f"| {name} | {stage['seconds'] / 60:.1f} | {machine['backend']} | {where} | "
                     f"{command} |")
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
    targets = targets_table(digits_target_rows(run)) + [""] if with_targets else []
    return [
        f"{DIGITS_HEADING} (scikit-learn's digits: a Moving MNIST stand-in, not MNIST)", "",
        *targets,
        f"{report['sequences']} test sequences of `moving_sklearn_digits` (its test digits are "
        f"images no training sequence shows), K = {report['context_frames']}, "
        f"{report['horizon']} generated frames. Identity: the share of digits a classifier "
        "trained on the digit source reads as their own label in the window where the truth "
        "has them (`tf_deepgifs/evaluation/digit_identity.py`).", "",
        "| metric | generated frame | " + " | ".join(variants) + " |",
        "| --- | --- | " + " | ".join("---" for _ in variants) + " |",
        *variant_rows(run, DIGITS_METRICS, variants), "",
        "![digits strips](results/digits_strips.png)", "",
        "The same sequences as a GIF: [results/digits_strips.gif](results/digits_strips.gif)", "",
        "![digits PSNR](results/digits_psnr.png)", "",
        "![digits identity](results/digits_identity.png)", ""]


def write_results(runs, out, command, notes="", stages=None):
    FIGURES.mkdir(exist_ok=True)
    balls = {name: runs[name] for name in BOUNCING_BALLS}
    plot_training(balls, FIGURES / "training_curves.png")
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
        notes.strip(),
        "",
        *(stage_lines(stages) if stages else []),
        "## Training",
        "",
        "| model | preset | mode | K | initialised from | steps | epochs | minutes | selected step "
        "| validation rollout MSE |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(line for name, run in runs.items() for line in training_lines(name, run)),
        "",
        "![training curves](results/training_curves.png)",
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
    command = " ".join(shown(a) if pathlib.Path(a).exists() else a for a in sys.argv[1:])
    stages = json.loads(pathlib.Path(args.stages).read_text()) if args.stages else None
    write_results(runs, args.out, "python results/make_results.py " + command, notes, stages)
    print(f"Wrote {args.out} and the figures in {FIGURES}/.")


if __name__ == "__main__":
    main()
