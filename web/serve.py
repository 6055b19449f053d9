"""Serves the page (`make web`): http://127.0.0.1:8000/ is web/index.html, and the shipped
generators and seeds are at their repository paths (pretrained/<model>/<file>.onnx,
pretrained/seeds/<file>).

    python web/serve.py [--port 8000] [--extra DIR]

Only web/ and pretrained/ are served (and, with --extra, DIR at /extra/, for tests), with
the headers onnxruntime-web's threaded WebAssembly needs (cross-origin isolation) and the
types of its .mjs and .wasm files. The standard library's HTTP server does the rest.
"""

import argparse
import contextlib
import functools
import http.server
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

REPO = pathlib.Path(__file__).resolve().parent.parent
SERVED = ("/web/", "/pretrained/")
HEADERS = {
    # SharedArrayBuffer, which threaded WebAssembly needs, only in a cross-origin-isolated page.
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cache-Control": "no-store",
}


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript",
                      ".wasm": "application/wasm", ".onnx": "application/octet-stream"}

    def __init__(self, *args, extra=None, **kwargs):
        self.extra = extra
        super().__init__(*args, directory=str(REPO), **kwargs)

    def translate_path(self, path):
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean in ("/", "/index.html"):
            return str(REPO / "web" / "index.html")
        if self.extra and clean.startswith("/extra/"):
            return str(pathlib.Path(self.extra) / clean[len("/extra/"):])
        if not clean.startswith(SERVED):
            return str(REPO / "nothing-else-is-served")
        return super().translate_path(path)

    def end_headers(self):
        for name, value in HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format, *args):  # one line a request, on stderr
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


@contextlib.contextmanager
def in_background(extra=None):
    """This server in a process of its own on a free port (for tests and benchmarks):
    yields its base URL once it answers, and stops it on leaving."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, __file__, "--port", str(port)] + (["--extra", str(extra)] if extra else [])
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--extra", help="a folder also served, at /extra/ (for tests)")
    args = parser.parse_args(argv)
    if not (REPO / "web" / "node_modules" / "onnxruntime-web").is_dir():
        print("error: web/node_modules is missing: run `make web` (it installs them).", file=sys.stderr)
        return 2
    handler = functools.partial(Handler, extra=args.extra)
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        print(f"Serving the page at http://127.0.0.1:{args.port}/ (Ctrl-C stops).", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
