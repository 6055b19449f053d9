"""The LSTM's rollouts in a frozen latent space, and the losses horizon tuning trains
them by (`horizon_tuning.py`; the staged method's dynamics stage).

    read_context            K true latents read by the model's generation step
    latent_rollout          then the LSTM's own feedback, step by step (B, T - K, L)
    horizon_losses          latent MSE per frame + the first frame's image MSE (+ manifold)
    mixture_rollout         the same for a mixture readout, following the nearest component
    mixture_horizon_losses  the mixture's negative log-likelihood + the first frame's MSE
    reverse_some            sequences played backwards (elastic bouncing is reversible)
    summary                 the scalars a step or a validation logs

Backend-portable (`keras.ops`) but for `reverse_some` and `summary` (numpy, on the host).
"""

import numpy as np
from keras import ops

from tf_deepgifs.models.predictor import mixture_log_likelihood, nearest_component


def read_context(model, latents, context_frames):
    """The first K latents of (B, T, L) read by `model.generation_step`: its last step,
    which predicts frame K."""
    state = model.predictor.initial_state(ops.shape(latents)[0])
    for k in range(context_frames):
        step = model.generation_step(state, latents=latents[:, k])
        state = step.state
    return step


def latent_rollout(model, latents, context_frames):
    """The LSTM fed its own predictions as the model generates: latents (B, T, L) -->
    (predicted (B, T - K, L), fed back (B, T - K - 1, L)).

    After the K context latents, each step's `model.next_input` is read by the next
    `model.generation_step`: the prediction itself ("latent" feedback) or its frame
    re-encoded ("frames"), with the gradient passed as if that round trip were the
    identity (straight through; results/notes.md says why not through it).
    """
    step = read_context(model, latents, context_frames)
    predictions, fed_back = [step.latent], []
    for _ in range(latents.shape[1] - context_frames - 1):
        fed_back.append(ops.stop_gradient(model.next_input(step.frame, step.latent)))
        straight_through = step.latent + (fed_back[-1] - ops.stop_gradient(step.latent))
        step = model.generation_step(step.state, latents=straight_through)
        predictions.append(step.latent)
    return ops.stack(predictions, axis=1), ops.stack(fed_back, axis=1)


def horizon_losses(model, latents, context_frames, first_frame_weight, manifold_weight=0.0,
                   teacher_forced=False, first_frame_sequences=0):
    """{"latent": per-frame latent MSE (T - K,), "first_frame": image MSE, "manifold":
    latent MSE of the fed-back inputs to the predictions they come from (0 with "latent"
    feedback), "loss": latent MSE + first_frame_weight * first_frame + manifold_weight *
    manifold}; a mixture readout's are `mixture_horizon_losses`.

    latents (B, T, L): the encoder's means of real videos. The first frame's target is the
    decoder's rendering of the true latent, so no pixels are needed. The rollout feeds
    back as the model generates (`latent_rollout`). The manifold term pulls a prediction
    towards the latent of the frame it decodes to, where a real frame's latent already is
    (it survives the round trip to 0.14 % of its variance).
    """
    if model.config.mixture_components:
        return mixture_horizon_losses(model, latents, context_frames, first_frame_weight,
                                      first_frame_sequences)
    if teacher_forced:
        predicted = model.predictor(latents[:, :-1])[:, context_frames - 1:]
        fed_back = predicted[:, :-1]  # the truth is read, not the predictions: no manifold term
    else:
        predicted, fed_back = latent_rollout(model, latents, context_frames)
    per_frame = ops.mean(ops.square(predicted - latents[:, context_frames:]), axis=(0, 2))
    rows = first_frame_sequences or None
    first = model.decoder(predicted[:rows, 0], training=False)  # in [-1, 1], as the losses
    target = ops.stop_gradient(model.decoder(latents[:rows, context_frames], training=False))
    first_frame = ops.mean(ops.square(first - target))
    manifold = ops.mean(ops.square(fed_back - predicted[:, :-1]))
    loss = ops.mean(per_frame) + first_frame_weight * first_frame + manifold_weight * manifold
    return {"latent": per_frame, "first_frame": first_frame, "manifold": manifold, "loss": loss}


def mixture_rollout(model, latents, context_frames):
    """A mixture LSTM over the horizon: latents (B, T, L) --> its mixture for each of the
    T - K predicted frames: logits (B, T - K, M), means (B, T - K, M, L), log standard
    deviations (B, T - K, M). After the K context latents each `model.generation_step`
    reads the component nearest the truth: from one seed frame the truth's direction is
    one of many the mixture offers, and the rollout goes on along the one it took."""
    step = read_context(model, latents, context_frames)
    mixtures = [step.mixture]
    for t in range(context_frames, latents.shape[1] - 1):
        nearest = nearest_component(step.mixture[1], latents[:, t])
        step = model.generation_step(step.state, latents=nearest)
        mixtures.append(step.mixture)
    return tuple(ops.stack(part, axis=1) for part in zip(*mixtures))


def mixture_horizon_losses(model, latents, context_frames, first_frame_weight,
                           first_frame_sequences=0):
    """`horizon_losses` for a mixture readout: "nll", the negative log-likelihood of each
    true latent per dimension (T - K,), "latent", the nearest component's MSE to it
    (T - K,), "first_frame", the image MSE of the first frame decoded from its nearest
    component, and "loss": mean nll + first_frame_weight * first_frame."""
    logits, means, log_scales = mixture_rollout(model, latents, context_frames)
    targets = latents[:, context_frames:]
    batch, frames, size = ops.shape(targets)[0], targets.shape[1], targets.shape[2]
    flat_means = ops.reshape(means, (-1, means.shape[2], size))
    flat_targets = ops.reshape(targets, (-1, size))
    nll = -ops.reshape(mixture_log_likelihood(
        ops.reshape(logits, (-1, logits.shape[-1])), flat_means,
        ops.reshape(log_scales, (-1, log_scales.shape[-1])), flat_targets), (batch, frames))
    nearest = ops.reshape(nearest_component(flat_means, flat_targets), (batch, frames, size))
    rows = first_frame_sequences or None
    first = model.decoder(nearest[:rows, 0], training=False)
    target = ops.stop_gradient(model.decoder(targets[:rows, 0], training=False))
    first_frame = ops.mean(ops.square(first - target))
    per_frame_nll = ops.mean(nll, axis=0)
    loss = ops.mean(per_frame_nll) + first_frame_weight * first_frame
    return {"nll": per_frame_nll,
            "latent": ops.mean(ops.square(nearest - targets), axis=(0, 2)),
            "first_frame": first_frame, "manifold": ops.zeros(()), "loss": loss}


def reverse_some(latents, rng):
    """latents (B, T, L) with each sequence, with probability 1/2, in reverse time order
    (the rows drawn from `rng`)."""
    backwards = rng.random(len(latents)) < 0.5
    return np.where(backwards[:, None, None], latents[:, ::-1], latents)


def summary(values):
    """Scalars for the log: the loss, the first-frame MSE, the latent MSE's mean and ends
    (and a mixture's mean negative log-likelihood)."""
    latent = np.asarray(values["latent"])
    scalars = {"loss": float(values["loss"]), "first_frame": float(values["first_frame"]),
               "manifold": float(values["manifold"]),
               "latent": float(latent.mean()), "latent_first": float(latent[0]),
               "latent_last": float(latent[-1])}
    if "nll" in values:
        scalars["nll"] = float(np.mean(values["nll"]))
    return scalars
