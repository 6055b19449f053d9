// Drives the page in headless Chromium (Debian's /usr/bin/chromium, through
// puppeteer-core): for tests and benchmarks.
//
//   node web/drive.mjs OUT.json URL [URL ...]
//
// Opens each URL (the page's ?model=...&seed=... form), waits until the page says it is
// done or failed (document.body.dataset.status), and writes OUT.json: one record per URL,
// {url, status, message, shape, frames (base64 of the float32 frames), msPerFrame,
// settledMs (from navigation to done), form (what the form shows)}.

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
    await page.waitForFunction(
      () => ["done", "error"].includes(document.body.dataset.status), { timeout: TIMEOUT_MS });
    records.push(await page.evaluate(() => {
      const frames = window.generated;
      let base64 = null;
      if (frames) {
        const bytes = new Uint8Array(frames.buffer, frames.byteOffset, frames.byteLength);
        let text = "";
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        base64 = btoa(text);
      }
      return {
        status: document.body.dataset.status,
        message: document.getElementById("message").textContent,
        shape: window.generatedShape || null,
        frames: base64,
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
