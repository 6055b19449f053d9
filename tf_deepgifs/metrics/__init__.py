"""The metrics layer: how generated frames are measured, for training's validation and
for evaluation alike.

    ball_detector  the renderer's inverse: balls found in frames (split by our detector,
                   or the regions as they are), matched to the truth, plausible frames
    images         per-frame image metrics (MSE, PSNR, SSIM)
    digit_identity whether moving digits stay their digits: a classifier trained on the
                   dataset's own training digits reads each digit's window

May import: tf_deepgifs.config, tf_deepgifs.errors, tf_deepgifs.data. Training and
evaluation import it, never the other way round.
"""
