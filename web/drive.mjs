// Drives the page in headless Chromium (Debian's /usr/bin/chromium, through
// puppeteer-core): for tests and benchmarks.
//
//   node web/drive.mjs OUT.json URL [URL ...]
//
// Opens each URL (the page's ?model=...&seed=... form), waits until the page says it is
// done or failed (document.body.dataset.status), and writes OUT.json: one record per URL,
// {url, status, message, shape, frames and seed (base64 of the float32 frames),
// drawnStart (a drawn seed's start), canvas (the drawing's CSS width), msPerFrame,
// settledMs (from navigation to done), form (what the form shows)}.
//
// A URL's fragment #actions=drag:x0,y0,x1,y1;...;generate is then done with the mouse, in
// CSS pixels from the drawing canvas's corner (a press and release in one place places a
// ball), "generate" pressing the button and waiting until the page has settled again.

import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const TIMEOUT_MS = 240_000;
const [out, ...urls] = process.argv.slice(2);
if (!out || !urls.length) {
  console.error("usage: node web/drive.mjs OUT.json URL [URL ...]");
  process.exit(2);
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  userDataDir: mkdtempSync(join(tmpdir(), "deepgifs-chromium-")),
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic"],
});
const records = [];
try {
  for (const url of urls) {
    const page = await browser.newPage();
    const logs = [];
    page.on("console", (message) => logs.push(message.text()));
    page.on("pageerror", (error) => logs.push(String(error)));
    await page.goto(url, { waitUntil: "load" });
    await settled(page);
    await act(page, new URL(url).hash);
    records.push(await page.evaluate(() => {
      const base64 = (frames) => {
        if (!frames) return null;
        const bytes = new Uint8Array(frames.buffer, frames.byteOffset, frames.byteLength);
        let text = "";
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(text);
      };
      return {
        status: document.body.dataset.status,
        message: document.getElementById("message").textContent,
        shape: window.generatedShape || null,
        frames: base64(window.generated),
        seed: base64(window.seedFrames),
        drawnStart: window.drawnStart || null,
        canvas: document.getElementById("canvas").getBoundingClientRect().width,
        msPerFrame: window.millisecondsPerFrame || null,
        settledMs: window.settledMs || null,
        gif: Boolean(document.getElementById("result").src),
        form: Object.fromEntries(["model", "seed", "frames", "samples", "noise-seed"].map(
          (id) => [id, document.getElementById(id).value]).concat(
          [["deterministic", document.getElementById("deterministic").checked]])),
      };
    }));
    records[records.length - 1].url = url;
    records[records.length - 1].logs = logs;
    await page.close();
  }
} finally {
  await browser.close();
}
writeFileSync(out, JSON.stringify(records));

async function settled(page) {
  await page.waitForFunction(() => window.settledMs, { timeout: TIMEOUT_MS });
}

async function act(page, hash) {
  const actions = hash.startsWith("#actions=") ? decodeURIComponent(hash.slice(9)).split(";") : [];
  const box = await (await page.$("#canvas")).boundingBox();
  for (const action of actions) {
    if (action === "generate") {
      await page.evaluate(() => { window.settledMs = null; });
      await page.click("#generate");
      await settled(page);
      continue;
    }
    const [x0, y0, x1, y1] = action.replace(/^drag:/, "").split(",").map(Number);
    await page.mouse.move(box.x + x0, box.y + y0);
    await page.mouse.down();
    await page.mouse.move(box.x + x1, box.y + y1, { steps: 4 });
    await page.mouse.up();
  }
}
