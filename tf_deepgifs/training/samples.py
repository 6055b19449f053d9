"""Sample GIFs: ground truth beside generated frames (paper Figs. 2 and 4, animated)."""

import imageio.v2 as imageio
import numpy as np

# Grey level of the gap between panels, and of the bar that marks context frames.
_GAP_LEVEL, _CONTEXT_MARK_LEVEL = 96, 255


def side_by_side(truth, generated, context_frames, gap=2):
    """Frames of a grid: one row per sequence, ground truth left, generated right.

    Args:
      truth: uint8 (S, T, H, W, C), the whole videos.
      generated: uint8 (S, T - K, H, W, C), frames K..T-1 as generated.
      context_frames: K; in the right column the context frames are the ground truth's,
        marked by a bright bar under the panel.
      gap: pixels between panels.

    Returns:
      uint8 (T, rows, cols, C).
    """
    sequences, frames, height, width, channels = truth.shape
    right = np.concatenate([truth[:, :context_frames], generated], axis=1)
    panel_h, panel_w = height + 2 * gap, width + gap
    canvas = np.full((frames, sequences * panel_h, 2 * panel_w + gap, channels), _GAP_LEVEL, np.uint8)
    for s in range(sequences):
        top = s * panel_h + gap
        canvas[:, top : top + height, gap : gap + width] = truth[s]
        canvas[:, top : top + height, panel_w + gap : panel_w + gap + width] = right[s]
    for s in range(sequences):  # mark context frames under the generated panel
        bar = s * panel_h + gap + height
        canvas[:context_frames, bar : bar + gap, panel_w + gap : panel_w + gap + width] = _CONTEXT_MARK_LEVEL
    return canvas


def write_gif(path, frames, fps=5):
    """uint8 (T, H, W, C) frames, C = 1 or 3, to an endlessly looping GIF."""
    frames = frames[..., 0] if frames.shape[-1] == 1 else frames
    imageio.mimsave(path, list(frames), duration=1000 / fps, loop=0)
