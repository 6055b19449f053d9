// Bouncing Balls in the page: tf_deepgifs/data/bouncing_balls.py's physics and renderer,
// so a seed drawn on the canvas is what the dataset would have drawn (tests/test_web.py
// checks both against the Python module: positions within 0.01 px, frames within one
// grey level).
//
// Positions are [row, col] pairs in box units (a box of side PHYSICS.boxSize), velocities
// in units per sub-step, as in the Python module; `toPixels` maps units to pixel-index
// coordinates, where the centre of pixel (i, j) is at (i, j).

// BallPhysics' fields, under their Python names.
export const PHYSICS = Object.freeze({
  boxSize: 10.0, // box_size
  radius: 1.2, // radius
  speedNorm: 0.5, // speed_norm: sqrt(sum over balls of |v|^2), units per sub-step
  substeps: 2, // substeps per frame
  substepDt: 0.5, // substep_dt
});

// Balls per dataset, by the name a generator's metadata gives (DATASET_CONFIGS).
const BALLS = Object.freeze({
  bouncing_balls: 2,
  "bouncing_balls/paper": 2,
  "bouncing_balls/three_balls": 3,
});

export function ballsOf(dataset) {
  return BALLS[dataset] ?? null;
}

export function toPixels(units, imageSize) {
  return units * (imageSize / PHYSICS.boxSize) - 0.5;
}

export function toUnits(pixels, imageSize) {
  return (pixels + 0.5) * (PHYSICS.boxSize / imageSize);
}

// Why a ball at `position` cannot join `positions` (the dataset's start rule: inside the
// box, apart from every other ball), or null when it can.
export function refusal(positions, position) {
  const r = PHYSICS.radius;
  if (position.some((x) => x - r < 0 || x + r > PHYSICS.boxSize)) {
    return "A ball there would cross a wall: place it further inside the box.";
  }
  if (positions.some((other) => Math.hypot(other[0] - position[0], other[1] - position[1]) < 2 * r)) {
    return "A ball there would overlap another: place it apart.";
  }
  return null;
}

// Velocities scaled together so that the sum over balls of squared speeds is the
// dataset's speedNorm squared; all zero stay zero.
export function heldToSpeed(velocities) {
  const norm = Math.hypot(...velocities.flat());
  if (norm === 0) return velocities.map((v) => [...v]);
  return velocities.map((v) => v.map((x) => (x * PHYSICS.speedNorm) / norm));
}

// simulate(): `numFrames` states from the start, each recorded before its frame's
// sub-steps (move, bounce off walls, collide touching and approaching pairs).
export function simulate(positions, velocities, numFrames) {
  const x = positions.map((p) => [...p]);
  const v = velocities.map((p) => [...p]);
  const states = [];
  for (let t = 0; t < numFrames; t++) {
    states.push({ positions: x.map((p) => [...p]), velocities: v.map((p) => [...p]) });
    for (let s = 0; s < PHYSICS.substeps; s++) {
      x.forEach((p, i) => p.forEach((_, d) => { p[d] += PHYSICS.substepDt * v[i][d]; }));
      bounceOffWalls(x, v);
      collidePairs(x, v);
    }
  }
  return states;
}

function bounceOffWalls(x, v) {
  const r = PHYSICS.radius;
  x.forEach((p, i) => p.forEach((coordinate, d) => {
    if (coordinate - r < 0) v[i][d] = Math.abs(v[i][d]);
    if (coordinate + r > PHYSICS.boxSize) v[i][d] = -Math.abs(v[i][d]);
  }));
}

// 1-D elastic collisions along the line of centres, pair by pair in the Python order;
// the dataset's balls have equal masses, so a colliding pair swaps its normal components.
function collidePairs(x, v) {
  for (let i = 0; i < x.length; i++) {
    for (let j = 0; j < i; j++) {
      const offset = [x[i][0] - x[j][0], x[i][1] - x[j][1]];
      const distance = Math.hypot(...offset);
      const normal = offset.map((o) => o / Math.max(distance, Number.MIN_VALUE));
      const vi = normal[0] * v[i][0] + normal[1] * v[i][1];
      const vj = normal[0] * v[j][0] + normal[1] * v[j][1];
      if (!(distance < 2 * PHYSICS.radius && vi - vj < 0)) continue;
      for (let d = 0; d < 2; d++) {
        v[i][d] += normal[d] * (vj - vi);
        v[j][d] += normal[d] * (vi - vj);
      }
    }
  }
}

// render() then to_uint8(): each ball exp(-(d^2 / r^2)^4), summed, clipped to 1, as
// 0..255 levels in a Uint8ClampedArray [imageSize * imageSize], row-major.
export function render(positions, imageSize) {
  const radius = (PHYSICS.radius * imageSize) / PHYSICS.boxSize;
  const centres = positions.map((p) => p.map((x) => toPixels(x, imageSize)));
  const out = new Uint8ClampedArray(imageSize * imageSize);
  for (let row = 0; row < imageSize; row++) {
    for (let col = 0; col < imageSize; col++) {
      let intensity = 0;
      for (const [y, x] of centres) {
        const d = ((row - y) ** 2 + (col - x) ** 2) / radius ** 2;
        intensity += Math.exp(-(d ** 4));
      }
      out[row * imageSize + col] = Math.round(Math.min(intensity, 1) * 255);
    }
  }
  return out;
}
