"""Evaluation: `python -m tf_deepgifs evaluate` (and `make evaluate`) measures a run.

The paper judged its videos by eye; this compares them with the ground truth of the test
split, frame by frame over the generated horizon:

    model          the deterministic rollout (every latent its mean)
    best_of_S      S stochastic rollouts per sequence, the best one by each metric's
                   horizon mean (as SVG and OpenSTL report), the motion metrics those of
                   the sample whose balls are closest to the truth; on the first
                   `sample_sequences` sequences, because S rollouts cost S times as much
    samples        every one of the S rollouts (plausible frames, ball counts) and how
                   far apart their balls are (diversity)
    ideal_best_of_S, ideal_samples   the same for the ideal sampler (`ideal_sampler.py`):
                   the simulator from the seed's true balls with velocities from its
                   prior; Bouncing Balls with one seed frame
    baseline       the last seed frame copied over the whole horizon
    ground_truth   (motion metrics only) the ball detector on the true frames: the
                   floor the detector itself sets

Image metrics (`metrics/images.py`): MSE, PSNR, SSIM. Motion metrics on Bouncing Balls
(`metrics/ball_detector.py`, against the stored ball positions): right ball count, centre error,
radius drift. The run directory gets

    evaluation/report.json      every curve, the summary table, settings and timing
    evaluation/<metric>.png     one plot per metric, all variants on the same axes
    evaluation/strips.png, strips.gif, latent_traversal.png   (figures.py)

Each sequence's sampling noise derives from (seed, its index, sample), so the numbers of
a sequence do not depend on the batch size or on `limit`.
"""

import dataclasses
import json
import pathlib
import time

import numpy as np
import tensorflow as tf

from tf_deepgifs.data import arrays, bouncing_balls, pipeline, pixels, registry, splits
from tf_deepgifs.evaluation import figures, ideal_sampler
from tf_deepgifs.metrics import ball_detector, digit_identity
from tf_deepgifs.metrics import images as metrics
from tf_deepgifs.runs import run_directory
from tf_deepgifs.training.backends import TF_FUNCTION
from tf_deepgifs.config import EvaluationConfig
from tf_deepgifs.errors import UserError

EVALUATION_DIR = "evaluation"
REPORT_FILE = "report.json"
SUMMARY_FRAMES = (1, 5, 10)  # and the last generated frame
NOISE_SEED_OFFSET = 1  # sampling noise streams: (seed, index, NOISE_SEED_OFFSET + sample)


class Curves:
    """Running per-frame sums of (B, N) metric values over batches; NaN values skipped."""

    def __init__(self):
        self._sums = {}

    def add(self, variant, name, values):
        values = np.asarray(values, np.float64)
        present = ~np.isnan(values)
        clean = np.where(present, values, 0.0)
        total = np.stack([present.sum(0), clean.sum(0), np.square(clean).sum(0)])
        key = (variant, name)
        self._sums[key] = self._sums[key] + total if key in self._sums else total

    def as_dict(self):
        """{variant: {metric: {"mean": [N], "std": [N], "count": [N]}}}, NaN as None."""
        result = {}
        for (variant, name), (count, total, squares) in sorted(self._sums.items()):
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = total / count
                std = np.sqrt(np.maximum(squares / count - np.square(mean), 0.0))
            result.setdefault(variant, {})[name] = {
                "mean": _jsonable(mean), "std": _jsonable(std), "count": count.astype(int).tolist()}
        return result


def _jsonable(values):
    return [None if np.isnan(v) else float(v) for v in values]


def compiled_rollout(model, context_frames, horizon, frame_shape):
    """A compiled function: context (B, K, H, W, C) in [0, 1], noise (B, N, noise_dim)
    --> generated frames (B, N, H, W, C) in [0, 1]."""
    signature = [tf.TensorSpec((None, context_frames) + tuple(frame_shape), tf.float32),
                 tf.TensorSpec((None, horizon, model.config.noise_dim), tf.float32)]

    @tf.function(input_signature=signature, **TF_FUNCTION)
    def rollout(context, noise):
        return tf.clip_by_value(model.rollout(context, horizon, noise, training=False), 0.0, 1.0)

    return rollout


def sampling_noise(seed, indices, sample, horizon, noise_dim):
    """float32 (B, N, noise_dim) standard-normal noise, one stream per (seed, sequence,
    sample)."""
    return np.stack([np.random.default_rng([seed, int(i), NOISE_SEED_OFFSET + sample])
                     .standard_normal((horizon, noise_dim), np.float32) for i in indices])


def copy_last_frame(context, horizon):
    """The baseline: the last context frame (B, K, ...) repeated --> (B, N, ...)."""
    return np.repeat(context[:, -1:], horizon, axis=1)


def gray(frames):
    """(..., H, W, C) --> (..., H, W): the detector's single channel."""
    return frames[..., 0] if frames.shape[-1] == 1 else frames.mean(axis=-1)


def add_image_metrics(curves, variant, truth, generated):
    for name, values in metrics.per_frame(truth, generated).items():
        curves.add(variant, name, values.numpy())


def add_motion_metrics(curves, variant, frames, balls):
    """The motion metrics of frames (B, N, H, W, C) against `balls` (`TrueBalls`)."""
    found = ball_detector.motion_metrics(gray(frames), balls.positions, balls.radius, balls.apart)
    for name, values in found.items():
        curves.add(variant, name, values)
    return found


def sample_diversity(samples, radius):
    """Per sequence and frame, the mean over pairs of samples of the matched distance
    between their balls (our detector): how far apart the futures they offer are.
    samples (S, B, N, H, W, C) --> (B, N), NaN with one sample."""
    found = [ball_detector.detect(gray(s), radius) for s in samples]
    shape = samples[0].shape[:2]
    pairs = []
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            counts = np.minimum(found[j].counts, ball_detector.MAX_BALLS)
            distance = np.full(len(counts), np.nan)
            for n in map(int, np.unique(counts[counts > 0])):
                group = np.nonzero((counts == n) & (found[i].counts > 0))[0]
                distance[group] = ball_detector.matched_distance(
                    found[i].centres[group], found[i].counts[group], found[j].centres[group, :n])
            pairs.append(distance.reshape(shape))
    return np.nanmean(pairs, axis=0) if pairs else np.full(shape, np.nan)


def add_samples(curves, variant, truth, samples, balls, every="samples"):
    """S samples per sequence, (S, B, N, H, W, C): best-of-S image metrics, each metric's
    best sample (whole, as SVG and OpenSTL report); the motion metrics of the sample whose
    balls are closest to the truth (mean centre error over the horizon); and, as the
    variant `every`, every sample's motion metrics averaged (each sample plausible, not
    only the best) and their diversity."""
    values = {name: tf.stack([metric(truth, s) for s in samples])
              for name, metric in metrics.METRICS.items()}
    for name, per_sample in values.items():
        curves.add(variant, name, metrics.best_of(per_sample, metrics.HIGHER_IS_BETTER[name]).numpy())
    if balls is None:
        return
    found = [ball_detector.motion_metrics(gray(s), balls.positions, balls.radius, balls.apart)
             for s in samples]
    errors = np.stack([np.nanmean(np.where(np.isnan(f["centre_error"]), np.inf,
                                           f["centre_error"]), axis=1) for f in found])  # (S, B)
    best = np.argmin(errors, axis=0)
    for name in found[0]:
        per_sample = np.stack([f[name] for f in found])  # (S, B, N)
        curves.add(variant, name, per_sample[best, np.arange(len(best))])
        curves.add(every, name, per_sample.reshape((-1,) + per_sample.shape[2:]))
    curves.add(every, "diversity", sample_diversity(samples, balls.radius))


class TrueBalls:
    """The true balls of a batch's generated horizon: positions (B, N, n, 2) px, radius px,
    and where the true frames show every ball as its own region (B, N)."""

    def __init__(self, positions, radius, truth):
        self.positions, self.radius = positions, radius
        self.apart = ball_detector.truth_apart(gray(truth), radius, positions.shape[2])

    def rows(self, selected):
        chosen = TrueBalls.__new__(TrueBalls)
        chosen.positions, chosen.radius = self.positions[selected], self.radius
        chosen.apart = self.apart[selected]
        return chosen


def evaluate_batches(rollout, batches, context_frames, horizon, noise_dim, options, log,
                     reader=None):
    """Runs every variant on every batch; returns (Curves, sequences, strip data).
    reader: the digits' classifier (`digit_identity.reader_for`), for moving digits."""
    curves, count, strip = Curves(), 0, None
    best_of = f"best_of_{options.samples}"
    for batch in batches:
        video, indices = batch["video"], batch["index"]
        context, truth = video[:, :context_frames], video[:, context_frames:]
        deterministic = rollout(context, np.zeros((len(video), horizon, noise_dim),
                                                  np.float32)).numpy()
        baseline = copy_last_frame(context, horizon)
        add_image_metrics(curves, "model", truth, deterministic)
        add_image_metrics(curves, "baseline", truth, baseline)
        balls = None  # the balls' true positions, where the data has them
        if reader is not None:  # digits: do they stay the digits they were?
            corners = batch["positions"][:, context_frames:]
            for variant, frames in (("model", deterministic), ("baseline", baseline),
                                    ("ground_truth", truth)):
                curves.add(variant, "identity",
                           digit_identity.identity(reader, gray(frames), corners, batch["labels"]))
        if "radius" in batch:
            balls = TrueBalls(batch["positions"][:, context_frames:], float(batch["radius"][0]),
                              truth)
            for variant, frames in (("model", deterministic), ("baseline", baseline),
                                    ("ground_truth", truth)):
                add_motion_metrics(curves, variant, frames, balls)
        sampled = indices < options.sample_sequences if options.sample_sequences else indices >= 0
        samples, ideal = [], None
        if options.samples and sampled.any():
            samples = [rollout(context[sampled], sampling_noise(options.seed, indices[sampled], s,
                                                                horizon, noise_dim)).numpy()
                       for s in range(options.samples)]
            add_samples(curves, best_of, truth[sampled], samples,
                        None if balls is None else balls.rows(sampled))
            if balls is not None and context_frames == 1:
                ideal = ideal_sampler.ideal_samples(
                    batch["positions"][sampled, 0], indices[sampled], options.samples, horizon,
                    truth.shape[2], options.seed)
                add_samples(curves, f"ideal_{best_of}", truth[sampled], list(ideal),
                            balls.rows(sampled), every="ideal_samples")
        if strip is None:  # the first batch gives the figures their sequences
            sampled_strips = samples and len(samples[0]) >= min(options.strips, len(video))
            strip = {"video": video[: options.strips], "generated": deterministic[: options.strips],
                     # a row of samples where every sequence drawn has them
                     "sample": samples[0][: options.strips] if sampled_strips else None,
                     "seed_frames": context.reshape((-1,) + context.shape[2:]),
                     # every sample of the first sequence (S, N, H, W, C), and the ideal's
                     "samples": np.stack([s[0] for s in samples]) if samples else None,
                     "ideal": ideal[:, 0] if ideal is not None else None}
        count += len(video)
        log(f"  {count} sequences")
    return curves, count, strip


def summary_table(curves, horizon, variants):
    """Rows {"metric", "frame", <variant>: value} at SUMMARY_FRAMES and the last frame."""
    frames = [f for f in SUMMARY_FRAMES if f < horizon] + [horizon]
    rows = []
    for name in (list(metrics.METRICS) + list(ball_detector.MOTION_HIGHER_IS_BETTER)
                 + ["diversity", "identity"]):
        if not any(name in curves.get(v, {}) for v in variants):
            continue
        for frame in frames:
            row = {"metric": name, "frame": frame}
            for variant in variants:
                curve = curves.get(variant, {}).get(name)
                row[variant] = curve["mean"][frame - 1] if curve else None
            rows.append(row)
    return rows


def format_summary(rows, variants):
    """The summary table as aligned text lines."""
    width = max(12, *(len(v) + 2 for v in variants))
    lines = [f"{'metric':<16}{'frame':>6}" + "".join(f"{v:>{width}}" for v in variants)]
    for row in rows:
        cells = "".join(f"{'-' if row[v] is None else format(row[v], '.4g'):>{width}}"
                        for v in variants)
        lines.append(f"{figures.METRIC_LABELS[row['metric']][1]:<16}{row['frame']:>6}" + cells)
    return lines


def long_rollouts(model, config, options, log):
    """The deterministic rollout `options.long_frames` frames past the seed of the first
    `options.long_sequences` test sequences, against the truth simulated as long (the
    builder's own sequences, continued): per frame, both detectors' centre errors, the
    plausible frames, and the balls' speed, generated ("model") and true ("ground_truth").
    Returns (Curves as a dict, strip data), or (None, None) where the data cannot be
    simulated (datasets other than Bouncing Balls) or no sequence is asked for."""
    if not options.long_sequences or not config.data.dataset.startswith("bouncing_balls"):
        return None, None
    simulation = arrays.simulation_config(config.data.dataset)
    k, frames = config.train.context_frames, options.long_frames
    rollout = compiled_rollout(model, k, frames, (simulation.image_size,) * 2 + (1,))
    curves, strip = Curves(), None
    for start in range(0, options.long_sequences, options.batch_size):
        indices = range(start, min(start + options.batch_size, options.long_sequences))
        truth = bouncing_balls.generate(
            [splits.example_rng(simulation.seed, "test", i) for i in indices], k + frames,
            simulation.num_balls, simulation.image_size)
        video = pixels.from_uint8(truth.video)
        generated = rollout(video[:, :k], np.zeros((len(video), frames, model.config.noise_dim),
                                                  np.float32)).numpy()
        balls = TrueBalls(truth.positions[:, k:], float(truth.radius), video[:, k:])
        add_motion_metrics(curves, "model", generated, balls)
        add_motion_metrics(curves, "ground_truth", video[:, k:], balls)
        if strip is None:
            strip = {"truth": video[0], "generated": generated[0], "context_frames": k}
    log(f"  {options.long_sequences} long rollouts of {frames} frames")
    return curves.as_dict(), strip


def long_summary(curves):
    """What the long rollouts show, in numbers: plausible frames over the last tenth and
    the balls' speed against the truth's over the second half (mean over frames)."""
    frames = len(curves["model"]["plausible"]["mean"])
    last_tenth, second_half = slice(frames - max(1, frames // 10), frames), slice(frames // 2, frames)

    def mean(variant, name, frames):
        return float(np.nanmean(np.array(curves[variant][name]["mean"][frames], float)))

    speed, true_speed = mean("model", "speed", second_half), mean("ground_truth", "speed", second_half)
    return {"frames": frames,
            "plausible_last_tenth": mean("model", "plausible", last_tenth),
            "speed_second_half": speed, "true_speed_second_half": true_speed,
            "speed_ratio_second_half": speed / true_speed}


def evaluate(run_dir, options=EvaluationConfig(), weights=None, log=print):
    """Evaluates the run on its dataset's test split; returns the report (a dict).

    Writes `<run_dir>/evaluation/` (report.json and the figures), replacing an earlier
    evaluation only once everything is written.
    """
    config, preset = run_directory.read_run(run_dir)
    source = run_directory.weights_of(run_dir, weights)
    if options.data_dir:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, data_dir=options.data_dir))
    builder = registry.prepare(config.data)
    model = run_directory.load_model(config, source)
    k, num_frames = config.train.context_frames, config.data.num_frames
    horizon = num_frames - k
    frame_shape = builder.info.features["video"].shape[1:]
    log(f"Evaluating {source} on {config.data.dataset} test "
        f"({options.limit or 'all'} sequences, best of {options.samples} on "
        f"{options.sample_sequences or 'all'}).")

    started = time.perf_counter()
    rollout = compiled_rollout(model, k, horizon, frame_shape)
    batches = pipeline.examples(builder, "test", num_frames, options.batch_size,
                                      options.limit)
    reader = digit_identity.reader_for(config.data.dataset)
    curves, count, strip = evaluate_batches(rollout, batches, k, horizon, config.model.noise_dim,
                                            options, log, reader)
    if not count:
        raise UserError(f"The test split of {config.data.dataset} is empty.")
    long_curves, long_strip = long_rollouts(model, config, options, log)
    seconds = time.perf_counter() - started

    curves = curves.as_dict()
    best_of = f"best_of_{options.samples}"
    variants = [v for v in ("model", best_of, "samples", f"ideal_{best_of}", "ideal_samples",
                            "baseline", "ground_truth") if v in curves]
    report = {
        "run_dir": str(run_dir), "weights": source, "preset": preset,
        "dataset": config.data.dataset, "split": "test", "sequences": count,
        "context_frames": k, "horizon": horizon,
        "samples": options.samples,
        "sampled_sequences": min(count, options.sample_sequences or count) if options.samples else 0,
        "options": dataclasses.asdict(options),
        "ssim": {"function": "tf.image.ssim", "filter_size": metrics.SSIM_FILTER_SIZE,
                 "filter_sigma": metrics.SSIM_FILTER_SIGMA, "k1": metrics.SSIM_K1,
                 "k2": metrics.SSIM_K2, "max_val": metrics.MAX_PIXEL},
        "psnr_cap_db": metrics.PSNR_CAP_DB,
        "detector": ({"threshold": ball_detector.THRESHOLD}
                     if "right_count" in curves.get("ground_truth", {}) else None),
        "curves": curves,
        "summary": summary_table(curves, horizon, variants),
        "long": {"curves": long_curves, "summary": long_summary(long_curves)} if long_curves else None,
        "seconds": round(seconds, 1),
        "sequences_per_second": round(count / seconds, 2),
    }
    final = pathlib.Path(run_dir) / EVALUATION_DIR
    with run_directory.replaced_when_done(final) as partial:
        report["figures"] = write_figures(partial, model, report, strip, options, long_strip)
        (partial / REPORT_FILE).write_text(json.dumps(report, indent=1))
    for line in format_summary(report["summary"], variants):
        log(line)
    if report["long"]:
        long = report["long"]["summary"]
        log(f"Long rollouts, {long['frames']} frames: plausible {long['plausible_last_tenth']:.1%} "
            f"of the last tenth; speed {long['speed_ratio_second_half']:.2f} x the truth's over "
            "the second half.")
    log(f"{count} sequences in {seconds:.0f} s; report and figures in {final}.")
    return report


def write_figures(folder, model, report, strip, options, long_strip=None):
    """Every figure of the report into `folder`; returns their file names."""
    names = figures.metric_plots(folder, report["curves"])
    if report["long"]:
        names += figures.long_rollout(folder, report["long"]["curves"], long_strip)
    if options.strips:
        names += figures.frame_strips(folder, strip, report["context_frames"])
        names += figures.sample_futures(folder, strip, report["context_frames"])
    names.append(figures.latent_traversal(folder, model, strip["seed_frames"],
                                          options.traversal_dims, options.traversal_steps))
    return names
