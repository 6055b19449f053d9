"""Milliseconds per generated frame of the web page (web/), in headless Chromium.

    python benchmarks/page_latency.py --export-dir RUN/export [--frames 19,100] [--rounds 3]

Serves the page (web/serve.py) with the export's generator.onnx, loads
/?model=...&seed=...&frames=N&deterministic=1 in Debian's Chromium through
web/drive.mjs, and reads the page's own timing of the rollout (window.millisecondsPerFrame:
the generation loop in onnxruntime-web's WebAssembly backend, one sequence, after the
model is loaded). Each length is loaded `rounds` times; the median is reported. The last
line is a JSON record for `benchmarks/run_all.py`.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
SEED = "pretrained/seeds/balls.png"
sys.path.insert(0, str(REPO / "web"))
import serve  # noqa: E402  (web/serve.py)


def page_ms_per_frame(folder, model_file, lengths, rounds, seed=SEED):
    """{N: median ms a frame} of the page generating N frames with folder/model_file,
    `rounds` page loads for each length N (a fresh page each, one browser)."""
    with serve.in_background(pathlib.Path(folder).resolve()) as base:
        urls = [f"{base}?model=extra/{model_file}&seed={seed}&frames={n}&deterministic=1"
                for n in lengths for _ in range(rounds)]
        with tempfile.TemporaryDirectory() as scratch:
            out = pathlib.Path(scratch) / "pages.json"
            subprocess.run(["node", "web/drive.mjs", str(out), *urls], cwd=REPO, check=True,
                           timeout=1200, capture_output=True)
            records = json.loads(out.read_text())
    medians = {}
    for i, frames in enumerate(lengths):
        runs = records[i * rounds : (i + 1) * rounds]
        if any(r["status"] != "done" for r in runs):
            raise SystemExit(f"the page failed: {runs[0]['message']}")
        medians[frames] = float(np.median([r["msPerFrame"] for r in runs]))
    return medians


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export-dir", required=True, help="a run's export/ folder (K = 1)")
    parser.add_argument("--frames", default="19,100")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lengths = [int(f) for f in args.frames.split(",")]
    medians = page_ms_per_frame(args.export_dir, "generator.onnx", lengths, args.rounds)
    results = []
    for frames, ms in medians.items():
        results.append({"frames": frames, "ms_per_frame": round(ms, 2)})
        print(f"page, batch 1 x {frames:4d} frames: {ms:.2f} ms a frame (median of {args.rounds})")
    print(json.dumps({"benchmark": "page_latency", "rounds": args.rounds, "results": results}))


if __name__ == "__main__":
    main()
