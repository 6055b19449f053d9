"""The page's Bouncing Balls (web/balls.js, web/drawing.js) against the dataset's own
simulator and renderer (tf_deepgifs/data/bouncing_balls.py), run by node: a drawn seed
must be what the dataset would have drawn."""

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from tf_deepgifs.data import bouncing_balls
from tf_deepgifs.data.splits import example_rng

REPO = pathlib.Path(__file__).resolve().parent.parent
POSITION_TOLERANCE_PX = 0.01
ONE_GREY_LEVEL = 1


def _node(script, payload):
    """What `script` (an ES module body reading `input`) prints as JSON, run by node."""
    if not shutil.which("node"):
        if os.environ.get("CI"):
            pytest.fail("CI must have node: .ci/run and make test install it.")
        pytest.skip("no node here; .ci/run and make test install it.")
    module = (f"import * as balls from {json.dumps((REPO / 'web' / 'balls.js').as_uri())};\n"
              f"const input = {json.dumps(payload)};\n{script}")
    result = subprocess.run(["node", "--input-type=module", "-e", module],
                            capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout)


def _starts(num_sequences, num_balls):
    starts = [bouncing_balls.sample_initial_state(example_rng(7, "test", i), num_balls)
              for i in range(num_sequences)]
    return np.stack([s[0] for s in starts]), np.stack([s[1] for s in starts])


@pytest.mark.parametrize("num_balls", [2, 3])
def test_the_page_simulates_and_renders_the_balls_as_the_dataset_does(num_balls):
    frames, size = 60, 64  # long enough for walls and collisions in most sequences
    positions, velocities = _starts(12, num_balls)
    expected, _ = bouncing_balls.simulate(positions, velocities, frames)
    expected_video = bouncing_balls.to_uint8(bouncing_balls.render(expected, size))
    page = _node("""
        const out = input.positions.map((p, s) => {
          const states = balls.simulate(p, input.velocities[s], input.frames);
          return {positions: states.map((state) => state.positions),
                  frames: states.map((state) => Array.from(balls.render(state.positions, input.size)))};
        });
        console.log(JSON.stringify(out));
    """, {"positions": positions.tolist(), "velocities": velocities.tolist(),
          "frames": frames, "size": size})
    page_positions = np.array([s["positions"] for s in page])
    page_video = np.array([s["frames"] for s in page]).reshape(expected_video.shape)
    to_px = size / bouncing_balls.BallPhysics().box_size
    assert np.abs(page_positions - expected).max() * to_px < POSITION_TOLERANCE_PX
    assert np.abs(page_video.astype(int) - expected_video).max() <= ONE_GREY_LEVEL
    # the sequences did bounce off walls and off each other
    moved = np.diff(expected, axis=1)
    assert np.any(np.sign(moved[:, 1:]) != np.sign(moved[:, :-1]))


def test_the_page_holds_the_datasets_constants():
    page = _node("""
        console.log(JSON.stringify({physics: balls.PHYSICS,
          balls: input.names.map((name) => balls.ballsOf(name)),
          unknown: balls.ballsOf("moving_mnist")}));
    """, {"names": ["bouncing_balls"] + [f"bouncing_balls/{n}" for n in bouncing_balls.DATASET_CONFIGS]})
    physics = bouncing_balls.BallPhysics()
    assert page["physics"] == {"boxSize": physics.box_size, "radius": physics.radius,
                               "speedNorm": physics.speed_norm, "substeps": physics.substeps,
                               "substepDt": physics.substep_dt}
    configs = bouncing_balls.DATASET_CONFIGS
    assert page["balls"] == [configs["paper"].num_balls] + [c.num_balls for c in configs.values()]
    assert page["unknown"] is None
    drawing = (REPO / "web" / "drawing.js").read_text()
    assert f"DATASET_PIXELS = {bouncing_balls.DatasetConfig().image_size};" in drawing


def test_a_placed_ball_is_refused_where_the_dataset_would_not_start_one():
    rng = np.random.default_rng(0)
    physics = bouncing_balls.BallPhysics()
    placed = [[3.0, 3.0]]
    candidates = rng.uniform(0, physics.box_size, (300, 2)).tolist()
    page = _node("""
        console.log(JSON.stringify(input.candidates.map((c) => balls.refusal(input.placed, c))));
    """, {"placed": placed, "candidates": candidates})
    for candidate, refusal in zip(candidates, page):
        valid = bouncing_balls._is_valid_start(np.array(placed + [candidate]), physics)
        assert (refusal is None) == valid, (candidate, refusal)
    assert {r.split(":")[0] for r in page if r} == {
        "A ball there would cross a wall", "A ball there would overlap another"}


def test_drawn_velocities_are_held_to_the_datasets_speed():
    directions = [[3.0, -4.0], [0.0, 0.0], [1.0, 1.0]]
    page = _node("console.log(JSON.stringify([balls.heldToSpeed(input.v), balls.heldToSpeed(input.still)]));",
                 {"v": directions, "still": [[0.0, 0.0], [0.0, 0.0]]})
    held, still = np.array(page[0]), np.array(page[1])
    assert np.linalg.norm(held) == pytest.approx(bouncing_balls.BallPhysics().speed_norm)
    np.testing.assert_allclose(held / np.linalg.norm(held), directions / np.linalg.norm(directions))
    assert not still.any()
