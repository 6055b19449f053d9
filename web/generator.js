// The DeepGIFs generator in onnxruntime-web: the page's twin of export/generate.py.
//
// A generator.onnx of contract deepgifs-step-2 computes one generation step; this loops
// it exactly as the Python runner does (export/contract.py has the contract). Files of
// the legacy contract deepgifs-rollout-1 (one graph, seed and noise in, frames out) run as
// they are. Seeds are converted as the Python runner converts them: colour to the model's
// channels (BT.601 luma), alpha composited over black, other sizes centre-cropped to a
// square and resized with Pillow's box filter. Every array is a flat Float32Array in
// row-major order, pixels in [0, 1].

import { onnxMetadata, NotOnnxError } from "./metadata.js";

export const CONTRACT = "deepgifs-step-2";
export const LEGACY_CONTRACT = "deepgifs-rollout-1";
const STEP_INPUTS = ["frame", "latent", "state", "noise"];
const STEP_OUTPUTS = ["next_frame", "next_latent", "next_state"];
const LEGACY_INPUTS = ["noise", "seed"];
const LUMA = [0.299, 0.587, 0.114]; // ITU-R BT.601, Pillow's "L" and the Python runner's
export const MAX_FRAMES = 1000;
export const MAX_SAMPLES = 64;

export class UserError extends Error {}

function sameNames(actual, expected) {
  return [...actual].sort().join(",") === [...expected].sort().join(",");
}

export class Generator {
  // Reads a generator file's bytes; raises UserError (one sentence) for anything else.
  static async load(ort, buffer, name) {
    let metadata;
    try {
      metadata = onnxMetadata(buffer);
    } catch (error) {
      if (error instanceof NotOnnxError) throw new UserError(`${name} is not an ONNX model (${error.message}).`);
      throw error;
    }
    const contract = metadata.contract;
    if (contract !== CONTRACT && contract !== LEGACY_CONTRACT) {
      throw new UserError(`${name} is not a DeepGIFs generator of contract ${CONTRACT} (or ` +
        `${LEGACY_CONTRACT}): its contract is ${contract || "missing"}; export it with ` +
        "`python -m tf_deepgifs export`.");
    }
    let session;
    try {
      session = await ort.InferenceSession.create(buffer, { executionProviders: ["wasm"] });
    } catch (error) {
      throw new UserError(`${name} is not an ONNX model onnxruntime-web can load (${String(error.message || error).split("\n")[0]}).`);
    }
    const legacy = contract === LEGACY_CONTRACT;
    const [inputs, outputs] = legacy ? [LEGACY_INPUTS, ["frames"]] : [STEP_INPUTS, STEP_OUTPUTS];
    if (!sameNames(session.inputNames, inputs) || !sameNames(session.outputNames, outputs)) {
      throw new UserError(`${name} says it is a DeepGIFs generator but has inputs ` +
        `${session.inputNames.join(", ")} and outputs ${session.outputNames.join(", ")}.`);
    }
    return new Generator(ort, session, metadata, legacy);
  }

  constructor(ort, session, metadata, legacy) {
    this.ort = ort;
    this.session = session;
    this.metadata = metadata;
    this.legacy = legacy;
    const integer = (key) => parseInt(metadata[key], 10);
    this.contextFrames = integer("context_frames");
    this.channels = integer("channels");
    this.imageSize = integer("image_size");
    this.latentDim = integer("latent_dim");
    this.noiseDim = legacy ? this.latentDim : integer("noise_dim");
    this.stateSize = legacy ? 0 : integer("state_size");
    this.trainingFrames = integer("training_frames");
    this.readsBackFrames = (metadata.generation_feedback || "frames") === "frames";
    this.fixedFrames = legacy ? this.legacyFixedFrames() : null;
  }

  legacyFixedFrames() {
    const noise = (this.session.inputMetadata || []).find((input) => input.name === "noise");
    const frames = noise && noise.shape ? noise.shape[1] : null;
    return typeof frames === "number" ? frames : null;
  }

  get frameSize() {
    return this.imageSize * this.imageSize * this.channels;
  }

  tensor(data, dims) {
    return new this.ort.Tensor("float32", data, dims);
  }

  // seeds: [batch, K, H, W, C]; noise: [batch, frames, noiseDim] --> [batch, frames, H, W, C].
  async run(seeds, noise, batch, frames) {
    if (this.legacy) return this.runLegacy(seeds, noise, batch, frames);
    const size = this.frameSize;
    const shape = [this.imageSize, this.imageSize, this.channels];
    const noFrames = this.tensor(new Float32Array(0), [0, ...shape]);
    const noLatents = this.tensor(new Float32Array(0), [0, this.latentDim]);
    const still = new Float32Array(batch * this.noiseDim);
    let state = this.tensor(new Float32Array(batch * 2 * this.stateSize), [batch, 2, this.stateSize]);
    const out = new Float32Array(batch * frames * size);
    let result;
    for (let k = 0; k < this.contextFrames; k++) { // earlier seed frames read as their mean
      const seed = rows(seeds, batch, this.contextFrames, k, size);
      const seedNoise = k === this.contextFrames - 1 ? rows(noise, batch, frames, 0, this.noiseDim) : still;
      result = await this.session.run({
        frame: this.tensor(seed, [batch, ...shape]), latent: noLatents, state,
        noise: this.tensor(seedNoise, [batch, this.noiseDim]),
      });
      state = result.next_state;
    }
    place(out, result.next_frame.data, batch, frames, 0, size);
    for (let n = 1; n < frames; n++) { // each step reads back what the step before made
      result = await this.session.run({
        frame: this.readsBackFrames ? result.next_frame : noFrames,
        latent: this.readsBackFrames ? noLatents : result.next_latent,
        state: result.next_state,
        noise: this.tensor(rows(noise, batch, frames, n, this.noiseDim), [batch, this.noiseDim]),
      });
      place(out, result.next_frame.data, batch, frames, n, size);
    }
    return out;
  }

  async runLegacy(seeds, noise, batch, frames) {
    let fed = noise;
    let length = frames;
    if (this.fixedFrames) {
      if (frames > this.fixedFrames) {
        throw new UserError(`this legacy model (${LEGACY_CONTRACT}) generates at most ` +
          `${this.fixedFrames} frames (${frames} asked); export it again with ` +
          "`python -m tf_deepgifs export` for any number.");
      }
      length = this.fixedFrames;
      fed = new Float32Array(batch * length * this.noiseDim);
      for (let b = 0; b < batch; b++) {
        fed.set(noise.subarray(b * frames * this.noiseDim, (b + 1) * frames * this.noiseDim),
          b * length * this.noiseDim);
      }
    }
    const shape = [this.imageSize, this.imageSize, this.channels];
    const result = await this.session.run({
      seed: this.tensor(seeds, [batch, this.contextFrames, ...shape]),
      noise: this.tensor(fed, [batch, length, this.noiseDim]),
    });
    const size = this.frameSize;
    const out = new Float32Array(batch * frames * size);
    for (let b = 0; b < batch; b++) {
      out.set(result.frames.data.subarray(b * length * size, (b * length + frames) * size), b * frames * size);
    }
    return out;
  }
}

// Row k of every batch item of a [batch, count, ...size] array: [batch, ...size].
function rows(array, batch, count, k, size) {
  const out = new Float32Array(batch * size);
  for (let b = 0; b < batch; b++) out.set(array.subarray((b * count + k) * size, (b * count + k + 1) * size), b * size);
  return out;
}

// Writes [batch, ...size] as row n of [batch, frames, ...size].
function place(out, data, batch, frames, n, size) {
  for (let b = 0; b < batch; b++) out.set(data.subarray(b * size, (b + 1) * size), (b * frames + n) * size);
}

// Seeds.

// {width, height, rgba: Uint8ClampedArray} frames --> the model's K frames, Float32Array
// [K, H, W, C] in [0, 1], and the notes of what was converted (as the Python runner's).
export function seedFrames(images, generator) {
  const k = generator.contextFrames;
  if (images.length < k) {
    throw new UserError(`The model needs ${k} seed frame${k > 1 ? "s" : ""}, and the seed ` +
      `gave ${images.length}: give ${k} images or a GIF of at least ${k} frames.`);
  }
  const notes = new Set();
  const size = generator.imageSize;
  const out = new Float32Array(k * size * size * generator.channels);
  images.slice(0, k).forEach((image, index) => {
    const unit = toUnitRange(image);
    const converted = toChannels(unit, image.width * image.height, generator.channels, notes);
    const resized = toSize(converted, image.width, image.height, generator.channels, size, notes);
    out.set(resized, index * resized.length);
  });
  return { frames: out, notes: [...notes].sort() };
}

// RGBA bytes --> RGB in [0, 1], alpha composited over black (opaque pixels unchanged).
function toUnitRange(image) {
  const pixels = image.width * image.height;
  const rgb = new Float32Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const alpha = image.rgba[4 * i + 3] / 255;
    for (let c = 0; c < 3; c++) rgb[3 * i + c] = (image.rgba[4 * i + c] / 255) * alpha;
  }
  return rgb;
}

function toChannels(rgb, pixels, channels, notes) {
  if (channels === 3) return rgb;
  const grey = new Float32Array(pixels);
  let colour = false;
  for (let i = 0; i < pixels; i++) {
    const [r, g, b] = [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]];
    if (r !== g || r !== b) colour = true;
    grey[i] = r;
  }
  if (!colour) return grey; // a grey image stays as it is, as in Python
  notes.add("converted the colour seed to grey");
  for (let i = 0; i < pixels; i++) {
    grey[i] = LUMA[0] * rgb[3 * i] + LUMA[1] * rgb[3 * i + 1] + LUMA[2] * rgb[3 * i + 2];
  }
  return grey;
}

// Pillow's box filter (ImagingResample, BOX): the weights of each output pixel's inputs.
function boxWeights(input, output) {
  const scale = input / output;
  const filterScale = Math.max(scale, 1);
  const support = 0.5 * filterScale;
  const weights = [];
  for (let x = 0; x < output; x++) {
    const centre = (x + 0.5) * scale;
    const low = Math.max(Math.trunc(centre - support + 0.5), 0);
    const high = Math.min(Math.trunc(centre + support + 0.5), input);
    const taps = [];
    let total = 0;
    for (let i = low; i < high; i++) {
      const at = (i - centre + 0.5) / filterScale;
      const w = at > -0.5 && at <= 0.5 ? 1 : 0;
      taps.push([i, w]);
      total += w;
    }
    weights.push(taps.map(([i, w]) => [i, total ? w / total : 0]));
  }
  return weights;
}

// [h, w, c] --> [size, size, c]: centre-cropped to a square, resized by the box filter.
function toSize(frame, width, height, channels, size, notes) {
  if (width === size && height === size) return frame;
  const side = Math.min(width, height);
  const top = Math.floor((height - side) / 2);
  const left = Math.floor((width - side) / 2);
  notes.add(`${width !== height ? "cropped and " : ""}resized the ${width}x${height} seed to ${size}x${size}`);
  const across = boxWeights(side, size);
  const wide = new Float32Array(side * size * channels); // horizontal pass first, as Pillow
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (const [i, w] of across[x]) sum += w * frame[((top + y) * width + left + i) * channels + c];
        wide[(y * size + x) * channels + c] = sum;
      }
    }
  }
  const out = new Float32Array(size * size * channels);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (const [i, w] of across[y]) sum += w * wide[(i * size + x) * channels + c];
        out[(y * size + x) * channels + c] = sum;
      }
    }
  }
  return out;
}

// Noise: standard normal from a seeded generator (mulberry32, Box-Muller); zeros when
// deterministic. The Python runner draws other numbers: only the zero-noise rollout is
// the same on both sides.
export function noise(count, seed, deterministic) {
  const out = new Float32Array(count);
  if (deterministic) return out;
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = 0; i < count; i += 2) {
    const u = 1 - uniform();
    const v = uniform();
    const radius = Math.sqrt(-2 * Math.log(u));
    out[i] = radius * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(2 * Math.PI * v);
  }
  return out;
}
