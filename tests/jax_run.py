"""Runs the JAX trainer on a tiny configuration in a process of its own, as on a GPU
machine without TensorFlow:
`KERAS_BACKEND=jax python -m tests.jax_run RUN_DIR [STEP [PRECISION]]`.

TensorFlow and TFDS are made unimportable first, so the run fails if the JAX path needs
them. STEP > 0 stops the run once that many steps are done (it resumes when run again).
"""

import sys


class _NoTensorFlow:
    """An import hook refusing tensorflow and tensorflow_datasets (and their modules)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
            raise ImportError(f"{name} is not installed here (tests.jax_run)")
        return None


def tiny_jax_config(run_dir, precision="float32"):
    """Scheduled sampling with K = 2, so the closed loop and all noise streams are used."""
    from tests.tiny import TINY_MODEL
    from tf_deepgifs.config import Config, DataConfig, TrainConfig

    return Config(
        model=TINY_MODEL,
        train=TrainConfig(mode="scheduled", context_frames=2, scheduled_sampling_steps=4,
                          batch_size=2, epochs=2, steps_per_epoch=3, validation_steps=1,
                          checkpoint_every=1, run_dir=run_dir, precision=precision),
        data=DataConfig(num_frames=4, max_examples_per_split=8),
    )


def main(run_dir, stop_at_step=0, precision="float32"):
    sys.meta_path.insert(0, _NoTensorFlow())
    from tf_deepgifs.training import jax_trainer

    jax_trainer.train(tiny_jax_config(run_dir, precision), "smoke",
                    stop_at_step=stop_at_step or None)
    assert "tensorflow" not in sys.modules


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) if a.isdigit() else a for a in sys.argv[2:]))
