"""Validating a tuning on the validation sequences: encoding them once, generating them as
users generate, and measuring the frames (and the balls, or the digits' identity, where
the data stores what that needs).
"""

import numpy as np

from tf_deepgifs.data import pixels
from tf_deepgifs.errors import UserError
from tf_deepgifs.metrics import ball_detector, digit_identity

# PSNR of a zero error is infinite; errors are floored here (100 dB) so means stay finite
LEAST_SQUARED_ERROR = 1e-10


def psnr(squared_error):
    """dB of mean squared errors of pixels in [0, 1], 10 log10(1 / MSE), elementwise: NumPy,
    so that validation needs no TensorFlow (the evaluation's is `metrics.images.psnr`)."""
    return -10.0 * np.log10(np.maximum(squared_error, LEAST_SQUARED_ERROR))


def encode(encode_batch, videos, batch_size):
    """Encoder means of uint8 videos (N, T, H, W, C), `batch_size` at a time: float32
    (N, T, L). Deterministic (z = mean), BatchNorm on its moving statistics, as generation
    encodes. `encode_batch`: a compiled videos --> means."""
    if not len(videos):
        raise UserError("No sequences to encode: the split is empty.")
    return np.concatenate([encode_batch(videos[s : s + batch_size])
                           for s in range(0, len(videos), batch_size)])


def balls_of(validation):
    """(positions (N, T, n, 2) px, radius px) of `arrays.load`'s validation dict, for
    `validation_scores`; None for data that does not store the balls."""
    if "radius" not in validation:
        return None
    return validation["positions"], float(validation["radius"][0])


def digits_of(validation, dataset):
    """(corners (N, T, n, 2), labels (N, n), reader) of `arrays.load`'s validation dict,
    for `validation_scores`; None for data whose digits have no reader here."""
    reader = digit_identity.reader_for(dataset)
    if reader is None or "labels" not in validation:
        return None
    return validation["positions"], validation["labels"], reader


def validation_scores(generate, videos, context_frames, batch_size, balls=None, digits=None):
    """The frames generated from uint8 `videos` (as the run generates, `batch_size` at a
    time) against the truth: {"rollout": their MSE on [-1, 1], what training runs select
    on too; "psnr": dB, the evaluation's per frame, averaged}, and with `balls`
    ((positions (N, T, n, 2) px, radius px)) the ball detector's "centre_error" (px, mean
    over sequences and frames) and "right_count" (fraction of frames), and the unsplit
    regions' "plausible" (fraction of frames, the evaluation's: our detector splits merged
    blobs, which hides fused balls); with `digits` (`digits_of`) "identity", the share of
    digits read as their own label at their true places, the evaluation's."""
    errors, psnrs, centre_errors, right_counts, plausible, identity = [], [], [], [], [], []
    for start in range(0, len(videos), batch_size):
        batch = videos[start : start + batch_size]
        generated = generate(batch)
        truth = pixels.from_uint8(batch[:, context_frames:])
        frame_errors = np.mean(np.square(generated - truth), axis=(2, 3, 4))
        errors.append(4.0 * frame_errors.mean(axis=1))  # on [-1, 1], twice as wide
        psnrs.append(psnr(frame_errors))
        grey = generated.mean(axis=-1)  # (B, N, H, W), what the detector and reader read
        if digits is not None:
            corners, labels, reader = digits
            identity.append(digit_identity.identity(
                reader, grey,
                corners[start : start + len(batch), context_frames:],
                labels[start : start + len(batch)]))
        if balls is not None:
            positions = balls[0][start : start + len(batch), context_frames:]
            found = ball_detector.motion_metrics(grey, positions, balls[1])
            centre_errors.append(found["centre_error"])
            right_counts.append(found["right_count"])
            regions = ball_detector.regions(grey, balls[1])
            plausible.append(ball_detector.plausible(regions, positions.shape[2]))
    scores = {"rollout": float(np.mean(np.concatenate(errors))),
              "psnr": float(np.mean(np.concatenate(psnrs)))}
    if digits is not None:
        scores["identity"] = float(np.mean(np.concatenate(identity)))
    if balls is not None:
        scores["centre_error"] = float(np.nanmean(np.concatenate(centre_errors)))
        scores["right_count"] = float(np.mean(np.concatenate(right_counts)))
        scores["plausible"] = float(np.mean(np.concatenate(plausible)))
    return scores


def ball_selection_score(scores, least_right_count):
    """What `select_on` "balls" minimises: the mean centre error, or infinity where the
    right count fell below `least_right_count` (the source networks') or no ball was found."""
    if scores["right_count"] < least_right_count or np.isnan(scores["centre_error"]):
        return float("inf")
    return scores["centre_error"]
