#!/usr/bin/env bash
# Trains both Bouncing Balls presets from scratch side by side on one GPU with the JAX
# trainer (KERAS_BACKEND=jax), each for MINUTES minutes, into RUNS/bouncing_balls-<preset>.
# RESULTS.md's models started from the paper run this made (8 minutes on an H100; its
# networks at step 1,000), fine-tuned on a CPU: results/notes.md has every command.
# Needs JAX with CUDA, Keras and this repository; no TensorFlow. Run again to resume.
#   bash results/train_on_gpu.sh [MINUTES] [RUNS]
set -euo pipefail
minutes=${1:-6.5}
runs=${2:-runs}
mkdir -p "$runs"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.45  # two processes share the GPU's memory
for preset in paper improved; do
  # 1,000-step epochs: a validation (and the best-model check) every 1,000 steps.
  python3 -m tf_deepgifs train --preset "$preset" --steps-per-epoch 1000 --epochs 50 \
      --run-dir "$runs/bouncing_balls-$preset" --stop-after-minutes "$minutes" \
      > "$runs/bouncing_balls-$preset.log" 2>&1 &
done
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
tail -n 5 "$runs"/bouncing_balls-*.log
exit $status
