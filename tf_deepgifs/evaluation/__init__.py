"""The evaluation layer: what a trained run generates, measured against the truth.

    evaluate   `python -m tf_deepgifs evaluate`: every variant on the test split, a report
    figures    the report's plots, frame strips and latent traversal
    file_quality   an exported file's rollouts measured, and the bounds a smaller file
               (8 bits) is held to before it ships in the float file's place

May import: tf_deepgifs.config, tf_deepgifs.errors, tf_deepgifs.data, tf_deepgifs.models,
tf_deepgifs.training (a run directory read back, its sample GIFs).
"""
