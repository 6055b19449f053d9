// The page: pick a generator and a seed, generate, watch and download the GIF.
//
// Also driven by its address, so any test can drive it:
//   ?model=URL&seed=URL&frames=N&samples=S[&deterministic=1][&noise-seed=K]
// is shown in the form and generated on load (without a query, the form's first model
// and seed are), then document.body.dataset.status is "done" (or "error", the message
// in the page) and the frames are window.generated: a Float32Array in [0, 1] of shape
// [S, N, H, W, C], row-major (window.generatedShape holds the shape), the seed frames
// window.seedFrames [K, H, W, C]. A drawn seed is seed=drawn&balls=row,col,drow,dcol;...
// (drawing.js), a ball per group, in pixels of a 64 x 64 frame; window.drawnStart holds
// the start its frames were simulated from.

import * as ort from "./node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";
import { GIFEncoder, applyPalette, quantize } from "./node_modules/gifenc/dist/gifenc.esm.js";
import { Generator, MAX_FRAMES, MAX_SAMPLES, UserError, noise, seedFrames } from "./generator.js";
import { DRAWN, Drawing } from "./drawing.js";

ort.env.wasm.wasmPaths = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;

// The shipped generators and seeds, at their repository paths (the server's root is the
// repository's): each model folder holds generator_int8.onnx (loaded first: a third of
// the download) and generator.onnx, or a legacy generator_fixed.onnx.
const MODELS = [
  ["bouncing_balls-paper", "Bouncing Balls, paper (1 seed frame)"],
  ["bouncing_balls-improved", "Bouncing Balls, improved (3 seed frames)"],
];
const SEEDS = ["balls.png", "balls.gif"];
const SEED_SEPARATOR = " "; // between the seed files of one option (URLs hold no spaces)
const GIF_DELAY_MS = 200; // 5 frames a second, as the Python runner's GIFs
const PANEL_GAP = 2; // pixels between samples, and their grey, as export/generate.py
const GAP_LEVEL = 96;

let drawing; // the canvas seed (drawing.js), made by setUp

const page = {
  status: (value, message = "") => {
    document.body.dataset.status = value;
    document.getElementById("message").textContent = message;
    // ms from navigation until the page had its frames (or its error)
    if (value === "done" || value === "error") window.settledMs = performance.now();
  },
};

async function bytesOf(source) {
  if (source instanceof File) return { buffer: await source.arrayBuffer(), name: source.name };
  const response = await fetch(source);
  if (!response.ok) throw new UserError(`Cannot fetch ${source} (HTTP ${response.status}).`);
  return { buffer: await response.arrayBuffer(), name: source };
}

// Generators by address, loaded once (a user's own file each time it is chosen).
const loaded = new Map();
async function generatorOf(model) {
  if (model instanceof File || !loaded.has(model)) {
    const file = await bytesOf(model);
    const generator = Generator.load(ort, file.buffer, file.name);
    if (model instanceof File) return generator;
    loaded.set(model, generator);
  }
  return loaded.get(model);
}

async function shippedModel(folder) {
  for (const file of ["generator_int8.onnx", "generator.onnx", "generator_fixed.onnx"]) {
    const path = new URL(`../pretrained/${folder}/${file}`, import.meta.url).href;
    const response = await fetch(path, { method: "HEAD" });
    if (response.ok) return path;
  }
  throw new UserError(`pretrained/${folder} holds no generator.`); // (not shipped here)
}

// A seed file's frames as {width, height, rgba}: every frame of a GIF, one of an image.
async function imageFrames({ buffer, name }) {
  const head = new Uint8Array(buffer, 0, Math.min(4, buffer.byteLength));
  if (String.fromCharCode(...head) === "GIF8") {
    let reader;
    try {
      reader = new GifReader(new Uint8Array(buffer)); // omggif, loaded by index.html
    } catch (error) {
      throw new UserError(`${name} is not a GIF the page can read (${error.message || error}).`);
    }
    const frames = [];
    const canvas = new Uint8ClampedArray(reader.width * reader.height * 4);
    for (let i = 0; i < reader.numFrames(); i++) {
      reader.decodeAndBlitFrameRGBA(i, canvas); // frames drawn over the ones before
      frames.push({ width: reader.width, height: reader.height, rgba: canvas.slice() });
    }
    return frames;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([buffer]),
      { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new UserError(`${name} is not an image or GIF the page can read.`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { colorSpace: "srgb" });
  context.drawImage(bitmap, 0, 0);
  const data = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  return [{ width: bitmap.width, height: bitmap.height, rgba: data }];
}

function checkCount(name, value, maximum) {
  if (!Number.isInteger(value) || value < 1 || value > maximum) {
    throw new UserError(`${name} must be a whole number from 1 to ${maximum}, got ${value}.`);
  }
}

// Seed then generated frames, samples side by side: uint8 RGBA frames [K + N][height][width].
function gifFrames(seed, generated, generator, samples, frames) {
  const { imageSize: size, channels, contextFrames: k } = generator;
  const width = samples * (size + PANEL_GAP) - PANEL_GAP;
  const out = [];
  for (let t = 0; t < k + frames; t++) {
    const rgba = new Uint8ClampedArray(width * size * 4).fill(GAP_LEVEL);
    for (let s = 0; s < samples; s++) {
      const source = t < k ? seed.subarray(t * size * size * channels)
        : generated.subarray(((s * frames) + t - k) * size * size * channels);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const at = (y * width + s * (size + PANEL_GAP) + x) * 4;
          for (let c = 0; c < 3; c++) {
            const value = source[(y * size + x) * channels + (channels === 1 ? 0 : c)];
            rgba[at + c] = Math.round(Math.min(Math.max(value, 0), 1) * 255);
          }
          rgba[at + 3] = 255;
        }
      }
    }
    out.push(rgba);
  }
  return { frames: out, width, height: size };
}

function encodeGif({ frames, width, height }, grey) {
  const gif = GIFEncoder();
  const greys = Array.from({ length: 256 }, (_, i) => [i, i, i]);
  for (const rgba of frames) {
    if (grey) {
      const index = new Uint8Array(width * height);
      for (let i = 0; i < index.length; i++) index[i] = rgba[4 * i];
      gif.writeFrame(index, width, height, { palette: greys, delay: GIF_DELAY_MS });
    } else {
      const palette = quantize(rgba, 256);
      gif.writeFrame(applyPalette(rgba, palette), width, height, { palette, delay: GIF_DELAY_MS });
    }
  }
  gif.finish();
  return gif.bytes();
}

async function generate({ model, seeds, frames, samples, deterministic, noiseSeed }) {
  checkCount("frames", frames, MAX_FRAMES);
  checkCount("samples", samples, MAX_SAMPLES);
  page.status("running", "Loading the generator...");
  const generator = await generatorOf(model);
  drawing.useDataset(generator.metadata.dataset);
  const images = [];
  if (seeds === DRAWN) {
    const drawn = drawing.seed(generator);
    images.push(...drawn.images);
    window.drawnStart = drawn.start;
  } else for (const seed of seeds) images.push(...(await imageFrames(await bytesOf(seed))));
  const { frames: seed, notes } = seedFrames(images, generator);
  window.seedFrames = seed;
  page.status("running", `Generating ${samples} x ${frames} frames...`);
  const perSample = seed.length;
  const seedsBatch = new Float32Array(samples * perSample);
  for (let s = 0; s < samples; s++) seedsBatch.set(seed, s * perSample);
  const started = performance.now();
  const generated = await generator.run(
    seedsBatch, noise(samples * frames * generator.noiseDim, noiseSeed, deterministic), samples, frames);
  const seconds = (performance.now() - started) / 1000;
  window.generated = generated;
  window.generatedShape = [samples, frames, generator.imageSize, generator.imageSize, generator.channels];
  window.millisecondsPerFrame = (1000 * seconds) / frames;
  const bytes = encodeGif(gifFrames(seed, generated, generator, samples, frames), generator.channels === 1);
  const url = URL.createObjectURL(new Blob([bytes], { type: "image/gif" }));
  document.getElementById("result").src = url;
  const link = document.getElementById("download");
  link.href = url;
  link.hidden = false;
  const noted = notes.length ? ` (${notes.join("; ")})` : "";
  page.status("done", `${generator.contextFrames} seed + ${frames} generated frames` +
    `${samples > 1 ? `, ${samples} samples` : ""} in ${seconds.toFixed(2)} s${noted}.`);
}

async function guarded(settings) {
  try {
    await generate(settings);
  } catch (error) {
    const message = error instanceof UserError ? error.message : `Unexpected: ${error.message || error}`;
    page.status("error", message);
    if (!(error instanceof UserError)) console.error(error);
  }
}

function seedChoice(value) {
  return value === DRAWN ? DRAWN : value.split(SEED_SEPARATOR);
}

function settingsFromForm() {
  const modelFile = document.getElementById("model-file").files[0];
  const seedFiles = [...document.getElementById("seed-files").files];
  return {
    model: modelFile || document.getElementById("model").value,
    seeds: seedFiles.length ? seedFiles : seedChoice(document.getElementById("seed").value),
    frames: Number(document.getElementById("frames").value),
    samples: Number(document.getElementById("samples").value),
    deterministic: document.getElementById("deterministic").checked,
    noiseSeed: Number(document.getElementById("noise-seed").value),
  };
}

async function setUp() {
  const modelSelect = document.getElementById("model");
  for (const [folder, label] of MODELS) {
    try {
      modelSelect.add(new Option(label, await shippedModel(folder)));
    } catch { /* not shipped here */ }
  }
  const seedSelect = document.getElementById("seed");
  for (const file of SEEDS) {
    seedSelect.add(new Option(file, new URL(`../pretrained/seeds/${file}`, import.meta.url).href));
  }
  seedSelect.add(new Option("the drawing below", DRAWN));
  const canvas = document.getElementById("canvas");
  drawing = new Drawing(canvas, (message) => page.status(message ? "refused" : "ready", message || ""));
  canvas.addEventListener("pointerdown", () => { seedSelect.value = DRAWN; });
  document.getElementById("clear").addEventListener("click", () => drawing.clear());
  modelSelect.addEventListener("change", () => generatorOf(modelSelect.value).then(
    (generator) => drawing.useDataset(generator.metadata.dataset), () => {}));
  document.getElementById("generate").addEventListener("click", () => guarded(settingsFromForm()));
  document.body.addEventListener("dragover", (event) => event.preventDefault());
  document.body.addEventListener("drop", (event) => { // a dropped .onnx is the model, images the seed
    event.preventDefault();
    const files = [...event.dataTransfer.files];
    const onnx = files.filter((f) => f.name.endsWith(".onnx"));
    const images = files.filter((f) => !f.name.endsWith(".onnx"));
    const put = (id, chosen) => {
      if (!chosen.length) return;
      const transfer = new DataTransfer();
      chosen.forEach((f) => transfer.items.add(f));
      document.getElementById(id).files = transfer.files;
    };
    put("model-file", onnx.slice(0, 1));
    put("seed-files", images);
  });

  try {
    showQuery(new URLSearchParams(window.location.search));
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    page.status("error", error.message);
    return;
  }
  if (!modelSelect.value) {
    page.status("ready", "No generator is shipped here: choose your own .onnx file, then Generate.");
    return;
  }
  await guarded(settingsFromForm());
}

// The address's settings put in the form, so what is generated is what the form shows;
// a model or seed not offered becomes an option of its own.
function showQuery(query) {
  const choose = (id, value) => {
    if (!value) return;
    const select = document.getElementById(id);
    const url = new URL(value, window.location.href).href;
    const offered = [...select.options].find((option) => [url, value].includes(option.value));
    if (!offered) select.add(new Option(value, value));
    select.value = offered ? offered.value : value;
  };
  choose("model", query.get("model"));
  choose("seed", query.getAll("seed").join(SEED_SEPARATOR)); // K images: one option
  if (query.has("balls")) drawing.fromText(query.get("balls"));
  for (const id of ["frames", "samples", "noise-seed"]) {
    if (query.has(id)) document.getElementById(id).value = query.get(id);
  }
  if (query.has("deterministic")) {
    document.getElementById("deterministic").checked = query.get("deterministic") === "1";
  }
}

setUp();
