"""The evaluation's figures: metric curves, frame strips (paper Figs. 2 and 4) and the
latent traversal (paper Figs. 3 and 5), as PNG files (and the strips as a GIF too).

Matplotlib draws with its file-only Agg backend, so no display is needed.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tf_deepgifs.training import samples  # noqa: E402

# metric --> (axis label, short label for tables)
METRIC_LABELS = {
    "mse": ("MSE (pixels in [0, 1]), lower is better", "MSE"),
    "psnr": ("PSNR (dB), higher is better", "PSNR dB"),
    "ssim": ("SSIM, higher is better", "SSIM"),
    "right_count": ("frames with the right number of balls (fraction)", "right count"),
    "centre_error": ("centre error (pixels), lower is better", "centre err px"),
    "radius_drift": ("|radius - true radius| (pixels), lower is better", "radius drift px"),
    "plausible": ("plausible frames (regions as they are; fraction)", "plausible"),
    "apart_kept": ("balls apart where the truth's are (regions; fraction)", "apart kept"),
    "region_centre_error": ("centre error of the regions (pixels), lower is better",
                            "region err px"),
    "speed": ("the balls' mean speed (pixels per frame)", "speed px/frame"),
    "diversity": ("distance between samples' balls (pixels)", "diversity px"),
    "identity": ("digits read as their own label at their true place (fraction)", "identity"),
}
# best_of_S: "-^"; ideal_best_of_S: "--^"
VARIANT_STYLES = {"model": "-o", "baseline": "--s", "ground_truth": ":", "samples": "-.",
                  "ideal_samples": "--x"}
IDEAL_BEST_STYLE = "--^"
SEED_MARK_COLOUR = "tab:red"
GAP = 2  # pixels between frames in the strips and the traversal grid
DPI = 100


def metric_plots(folder, curves):
    """One PNG per metric: its mean per generated frame for every variant that has it.

    Args:
      folder: a pathlib.Path to write into.
      curves: {variant: {metric: {"mean": [N], ...}}} (`evaluate.Curves.as_dict`).

    Returns:
      the file names written.
    """
    names = []
    for metric, (label, _) in METRIC_LABELS.items():
        present = [(v, c[metric]["mean"]) for v, c in curves.items() if metric in c]
        if not present:
            continue
        figure, axes = plt.subplots(figsize=(6, 4))
        for variant, mean in present:
            frames = np.arange(1, len(mean) + 1)
            values = np.array([np.nan if m is None else m for m in mean])
            style = VARIANT_STYLES.get(
                variant, IDEAL_BEST_STYLE if variant.startswith("ideal_") else "-^")
            axes.plot(frames, values, style, label=variant, markersize=3)
        axes.set_xlabel("generated frame")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        names.append(f"{metric}.png")
        figure.savefig(folder / names[-1], dpi=DPI, bbox_inches="tight")
        plt.close(figure)
    return names


def tile(frames, rows, gap=GAP, level=1.0):
    """float (rows * cols, H, W, C) --> one (rows*(H+gap)-gap, cols*(W+gap)-gap, C) image."""
    count, height, width, channels = frames.shape
    cols = count // rows
    canvas = np.full((rows * (height + gap) - gap, cols * (width + gap) - gap, channels), level,
                     np.float32)
    for i, frame in enumerate(frames):
        r, c = divmod(i, cols)
        canvas[r * (height + gap) : r * (height + gap) + height,
               c * (width + gap) : c * (width + gap) + width] = frame
    return canvas


def _show(axes, image):
    if image.shape[-1] == 1:
        axes.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axes.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest")


def frame_strips(folder, strip, context_frames):
    """Ground truth over the generated frames for a few sequences: strips.png and .gif.

    Args:
      folder: a pathlib.Path.
      strip: {"video": (S, T, H, W, C) truth, "generated": (S, N, ...) the deterministic
        rollout, "sample": (S, N, ...) one stochastic rollout or None}, all in [0, 1].
      context_frames: K; the seed frames, repeated at the start of the generated rows,
        are outlined.

    Returns:
      the file names written.
    """
    video = strip["video"]
    count, frames, height, width = video.shape[:4]
    rows = {"ground truth": video}
    rows["model"] = np.concatenate([video[:, :context_frames], strip["generated"]], axis=1)
    if strip.get("sample") is not None:
        rows["sample"] = np.concatenate([video[:, :context_frames], strip["sample"]], axis=1)
    figure, all_axes = plt.subplots(count, 1, squeeze=False,
                                    figsize=(frames * 0.55 + 1.2, count * len(rows) * 0.6 + 0.6))
    for s, axes in enumerate(all_axes[:, 0]):
        _show(axes, tile(np.concatenate([r[s] for r in rows.values()]), len(rows)))
        axes.set_yticks([r * (height + GAP) + height / 2 for r in range(len(rows))], list(rows))
        axes.set_xticks([c * (width + GAP) + width / 2 for c in range(frames)],
                        ["seed" if c < context_frames else str(c - context_frames + 1)
                         for c in range(frames)], fontsize=6)
        axes.tick_params(length=0)
        for r in range(1, len(rows)):  # outline the seed frames in the generated rows
            axes.add_patch(matplotlib.patches.Rectangle(
                (-0.5, r * (height + GAP) - 0.5), context_frames * (width + GAP) - GAP, height,
                fill=False, edgecolor=SEED_MARK_COLOUR, linewidth=1.5))
    all_axes[0, 0].set_title("test sequences: ground truth, then generated (seed frames outlined)",
                             fontsize=8)
    figure.tight_layout()
    figure.savefig(folder / "strips.png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    to_uint8 = lambda x: np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)  # noqa: E731
    samples.write_gif(folder / "strips.gif", samples.side_by_side(
        to_uint8(video), to_uint8(strip["generated"]), context_frames))
    return ["strips.png", "strips.gif"]


def sample_futures(folder, strip, context_frames):
    """One seed's samples side by side with the ideal sampler's: samples.png.

    Rows: the ground truth, the model's S samples, then the ideal sampler's S (where there
    is one), each starting with the seed frames (outlined).

    Args:
      folder: a pathlib.Path.
      strip: as `frame_strips`', with "samples" (S, N, H, W, C) the first sequence's
        samples and "ideal" (S, N, H, W, C) or None.
      context_frames: K.

    Returns:
      the file names written ([] without samples).
    """
    if strip.get("samples") is None:
        return []
    video = strip["video"][0]
    seed = video[:context_frames]
    rows = [("ground truth", video)]
    rows += [(f"sample {i + 1}", np.concatenate([seed, s])) for i, s in enumerate(strip["samples"])]
    if strip.get("ideal") is not None:
        rows += [(f"ideal {i + 1}", np.concatenate([seed, s]))
                 for i, s in enumerate(strip["ideal"])]
    frames, height, width = video.shape[:3]
    figure, axes = plt.subplots(figsize=(frames * 0.55 + 1.4, len(rows) * 0.6 + 0.6))
    _show(axes, tile(np.concatenate([r for _, r in rows]), len(rows)))
    axes.set_yticks([r * (height + GAP) + height / 2 for r in range(len(rows))],
                    [name for name, _ in rows], fontsize=6)
    axes.set_xticks([c * (width + GAP) + width / 2 for c in range(frames)],
                    ["seed" if c < context_frames else str(c - context_frames + 1)
                     for c in range(frames)], fontsize=6)
    axes.tick_params(length=0)
    for r in range(1, len(rows)):
        axes.add_patch(matplotlib.patches.Rectangle(
            (-0.5, r * (height + GAP) - 0.5), context_frames * (width + GAP) - GAP, height,
            fill=False, edgecolor=SEED_MARK_COLOUR, linewidth=1.0))
    axes.set_title("one test seed: the truth, the model's samples, the ideal sampler's",
                   fontsize=8)
    figure.tight_layout()
    figure.savefig(folder / "samples.png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return ["samples.png"]


def latent_traversal(folder, model, frames, dims, steps):
    """Decodes one frame's latent with one dimension swept at a time: latent_traversal.png.

    The latent of frames[0] is the start. The swept dimensions are the `dims` with the
    largest spread over the encodings of all `frames` (the ones the data uses), each over
    its 1st to 99th percentile there.

    Args:
      folder: a pathlib.Path.
      model: a DeepGIF.
      frames: float (M, H, W, C) in [0, 1], M >= 1 frames to encode.
      dims, steps: rows and columns of the grid.

    Returns:
      the file name written.
    """
    zeros = np.zeros((len(frames), 1, model.config.latent_dim), np.float32)
    mean = np.asarray(model.encode_sequence(frames[:, None], zeros, training=False)[0][:, 0])
    spread = mean.std(axis=0)
    chosen = np.argsort(-spread)[: min(dims, mean.shape[1])]
    low, high = np.percentile(mean[:, chosen], [1, 99], axis=0)
    latents = np.repeat(mean[:1], len(chosen) * steps, axis=0)
    for row, dim in enumerate(chosen):
        latents[row * steps : (row + 1) * steps, dim] = np.linspace(low[row], high[row], steps)
    decoded = np.asarray(model.decode_latents(latents))
    height = frames.shape[1]
    figure, axes = plt.subplots(figsize=(steps * 0.75 + 2.0, len(chosen) * 0.75 + 0.6))
    _show(axes, tile(decoded, len(chosen)))
    axes.set_yticks([r * (height + GAP) + height / 2 for r in range(len(chosen))],
                    [f"z[{d}] {lo:.2f}..{hi:.2f}" for d, lo, hi in zip(chosen, low, high)],
                    fontsize=7)
    axes.set_xticks([])
    axes.set_title("latent traversal: one dimension swept per row", fontsize=8)
    figure.tight_layout()
    figure.savefig(folder / "latent_traversal.png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return "latent_traversal.png"


LONG_STRIP_COLUMNS = 10  # generated frames the long strip shows, evenly spaced


def long_rollout(folder, curves, strip):
    """long_rollout.png: per generated frame of the long rollouts, the plausible frames,
    both detectors' centre errors and the balls' speed against the truth's; and
    long_strip.png: one sequence's truth above its rollout, at LONG_STRIP_COLUMNS frames.
    Returns the file names written."""
    model, truth = curves["model"], curves["ground_truth"]
    frames = np.arange(1, len(model["plausible"]["mean"]) + 1)

    def values(curve):
        return np.array([np.nan if m is None else m for m in curve["mean"]], float)

    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].plot(frames, values(model["plausible"]), label="model")
    axes[0].set_ylabel(METRIC_LABELS["plausible"][0], fontsize=8)
    axes[1].plot(frames, values(model["centre_error"]), label="model, our detector")
    axes[1].plot(frames, values(model["region_centre_error"]), label="model, regions as they are")
    axes[1].set_ylabel(METRIC_LABELS["centre_error"][0], fontsize=8)
    axes[2].plot(frames, values(model["speed"]), label="model")
    axes[2].plot(frames, values(truth["speed"]), ":", label="truth (simulated)")
    axes[2].set_ylabel(METRIC_LABELS["speed"][0], fontsize=8)
    for ax in axes:
        ax.set_xlabel("generated frame")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(folder / "long_rollout.png", dpi=DPI)
    plt.close(figure)

    k = strip["context_frames"]
    every = max(1, len(strip["generated"]) // LONG_STRIP_COLUMNS)
    shown = np.arange(every - 1, len(strip["generated"]), every)
    rows = np.concatenate([strip["truth"][k + shown], strip["generated"][shown]])
    figure, axes = plt.subplots(figsize=(len(shown) * 0.8 + 1, 2.2))
    _show(axes, tile(rows, 2))
    axes.set_xticks([(i + 0.5) * (strip["truth"].shape[2] + GAP) for i in range(len(shown))],
                    [str(n + 1) for n in shown], fontsize=7)
    axes.set_yticks([])
    axes.set_title("truth (top) and rollout (bottom) at generated frames", fontsize=8)
    figure.tight_layout()
    figure.savefig(folder / "long_strip.png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return ["long_rollout.png", "long_strip.png"]
