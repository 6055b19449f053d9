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
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
SEED = "pretrained/seeds/balls.png"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export-dir", required=True, help="a run's export/ folder (K = 1)")
    parser.add_argument("--frames", default="19,100")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "web/serve.py", "--port", str(port),
                               "--extra", str(pathlib.Path(args.export_dir).resolve())],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                urllib.request.urlopen(base, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        lengths = [int(f) for f in args.frames.split(",")]
        urls = [f"{base}?model=extra/generator.onnx&seed={SEED}&frames={n}&deterministic=1"
                for n in lengths for _ in range(args.rounds)]
        with tempfile.TemporaryDirectory() as scratch:
            out = pathlib.Path(scratch) / "pages.json"
            subprocess.run(["node", "web/drive.mjs", str(out), *urls], cwd=REPO, check=True,
                           timeout=1200, capture_output=True)
            records = json.loads(out.read_text())
    finally:
        server.terminate()
        server.wait()
    results = []
    for i, frames in enumerate(lengths):
        runs = records[i * args.rounds : (i + 1) * args.rounds]
        if any(r["status"] != "done" for r in runs):
            raise SystemExit(f"the page failed: {runs[0]['message']}")
        ms = float(np.median([r["msPerFrame"] for r in runs]))
        results.append({"frames": frames, "ms_per_frame": round(ms, 2)})
        print(f"page, batch 1 x {frames:4d} frames: {ms:.2f} ms a frame (median of {args.rounds})")
    print(json.dumps({"benchmark": "page_latency", "rounds": args.rounds, "results": results}))


if __name__ == "__main__":
    main()
