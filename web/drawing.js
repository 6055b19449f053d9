// The seed a user draws for a Bouncing Balls generator: balls placed on a canvas, each
// dragged to give it a velocity, then the seed frames simulated and rendered as the
// dataset makes them (balls.js).
//
// On the canvas: press where there is no ball to place one (refused past a wall, on
// another ball, or beyond the dataset's number of balls), press on a ball to take it;
// drag to point its velocity. All velocities together are held to the dataset's total
// speed, so the seed stays inside what the model was trained on.

import { PHYSICS, ballsOf, heldToSpeed, refusal, render, simulate, toUnits } from "./balls.js";
import { UserError } from "./generator.js";

export const DRAWN = "drawn"; // the seed select's value that means "the drawing"
export const DATASET_PIXELS = 64; // DatasetConfig.image_size: the frame the query's pixels are on
const ARROW_FRAMES = 4; // an arrow shows where its ball would be this many frames on
const ARROW_COLOUR = "#d02020";

export class Drawing {
  constructor(canvas, say) {
    this.canvas = canvas;
    this.say = say; // (message) => shown on the page
    this.positions = []; // [row, col] in box units
    this.directions = []; // [row, col] the drags, any length
    this.limit = ballsOf("bouncing_balls");
    this.taken = null; // the ball being dragged
    canvas.addEventListener("pointerdown", (event) => {
      canvas.setPointerCapture(event.pointerId); // the drag goes on outside the canvas
      this.press(this.units(event));
    });
    canvas.addEventListener("pointermove", (event) => this.move(this.units(event)));
    canvas.addEventListener("pointerup", () => { this.taken = null; });
    this.paint();
  }

  // The generator's dataset decides how many balls a drawing holds.
  useDataset(dataset) {
    this.limit = ballsOf(dataset);
  }

  clear() {
    this.positions = [];
    this.directions = [];
    this.paint();
  }

  // "row,col,drow,dcol;..." in pixels of the dataset's 64 x 64 frame (the address's
  // `balls`): each ball placed as a press there and a drag by (drow, dcol) would.
  fromText(text) {
    this.clear();
    for (const ball of text.split(";")) {
      const numbers = ball.split(",").map(Number);
      if (numbers.length !== 4 || numbers.some((x) => !Number.isFinite(x))) {
        throw new UserError(`balls must be "row,col,drow,dcol" per ball, separated by ";"; got "${ball}".`);
      }
      const [row, col, dRow, dCol] = numbers;
      this.add([row, col].map((p) => toUnits(p, DATASET_PIXELS))); // counted at generation
      this.directions[this.directions.length - 1] = [dRow, dCol].map(unitsOfLength);
    }
    this.paint();
  }

  // Adds a ball at `position` (units) or throws UserError saying why it cannot.
  place(position) {
    if (this.limit !== null && this.positions.length >= this.limit) {
      throw new UserError(`This model's dataset has ${this.limit} balls: press on one to drag it, or clear the drawing.`);
    }
    this.add(position);
  }

  // Adds a ball where the dataset could start one, or throws UserError saying why not.
  add(position) {
    const why = refusal(this.positions, position);
    if (why) throw new UserError(why);
    this.positions.push(position);
    this.directions.push([0, 0]);
  }

  press(point) {
    const hit = this.positions.findIndex(
      (p) => Math.hypot(p[0] - point[0], p[1] - point[1]) <= PHYSICS.radius);
    if (hit >= 0) {
      this.taken = hit;
      return;
    }
    try {
      this.place(point);
      this.taken = this.positions.length - 1;
      this.say(null);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      this.say(error.message);
    }
    this.paint();
  }

  move(point) {
    if (this.taken === null) return;
    const centre = this.positions[this.taken];
    this.directions[this.taken] = [point[0] - centre[0], point[1] - centre[1]];
    this.paint();
  }

  // The K seed frames as images ({width, height, rgba}) at the generator's size and the
  // start they were simulated from ({positions, velocities}, units), or a UserError
  // saying what the drawing lacks.
  seed(generator) {
    const dataset = generator.metadata.dataset;
    const wanted = ballsOf(dataset);
    if (wanted === null) {
      throw new UserError(`A drawn seed is Bouncing Balls; this generator was trained on ${dataset}.`);
    }
    if (this.positions.length !== wanted) {
      throw new UserError(`Place ${wanted} balls on the canvas (${this.positions.length} placed).`);
    }
    const velocities = heldToSpeed(this.directions);
    if (generator.contextFrames > 1 && velocities.flat().every((x) => x === 0)) {
      throw new UserError(`Drag a ball to give it a velocity: this model reads ${generator.contextFrames} seed frames.`);
    }
    const size = generator.imageSize;
    const states = simulate(this.positions, velocities, generator.contextFrames);
    return {
      images: states.map(({ positions }) => greyImage(render(positions, size), size)),
      start: states[0],
    };
  }

  units(event) {
    const box = this.canvas.getBoundingClientRect();
    const scale = PHYSICS.boxSize;
    return [((event.clientY - box.top) / box.height) * scale, ((event.clientX - box.left) / box.width) * scale];
  }

  paint() {
    const context = this.canvas.getContext("2d");
    const size = DATASET_PIXELS;
    const frame = new ImageData(greyImage(render(this.positions, size), size).rgba, size, size);
    context.imageSmoothingEnabled = false;
    createImageBitmap(frame).then((bitmap) => {
      context.drawImage(bitmap, 0, 0, this.canvas.width, this.canvas.height);
      this.paintArrows(context);
    });
  }

  paintArrows(context) {
    const perUnit = this.canvas.width / PHYSICS.boxSize;
    const frameStep = PHYSICS.substeps * PHYSICS.substepDt;
    context.strokeStyle = ARROW_COLOUR;
    context.lineWidth = 2;
    heldToSpeed(this.directions).forEach((v, i) => {
      const [row, col] = this.positions[i];
      context.beginPath();
      context.moveTo(col * perUnit, row * perUnit);
      context.lineTo((col + v[1] * frameStep * ARROW_FRAMES) * perUnit,
        (row + v[0] * frameStep * ARROW_FRAMES) * perUnit);
      context.stroke();
    });
  }
}

function unitsOfLength(pixels) {
  return pixels * (PHYSICS.boxSize / DATASET_PIXELS);
}

function greyImage(levels, size) {
  const rgba = new Uint8ClampedArray(size * size * 4);
  levels.forEach((level, i) => rgba.set([level, level, level, 255], 4 * i));
  return { width: size, height: size, rgba };
}
