"""What the serve tests (serve_test.py, serve_abuse_test.py) and the serve
bench (tools/bench/serve_bench.py) share: the HTTP client of
python/pickleguard/client.py, loaded by path, and a `pickleguard serve`
process, started and read until it says it is ready.

Nothing here loads a pickle.
"""

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time


def load_client(source_dir):
    # The client module alone: it needs nothing compiled, so the tests run
    # in builds without the Python extension too.
    path = os.path.join(source_dir, "python", "pickleguard", "client.py")
    spec = importlib.util.spec_from_file_location("pickleguard_client", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ServeProcess:
    """`pickleguard serve ARGS`, read until it says it is ready. `port` is
    its loopback TCP port, None when it named none (the caller checks);
    `lines` is its standard error, which goes on being read so that the
    server never blocks on writing it."""

    def __init__(self, tool, args, env=None, preexec_fn=None):
        self.proc = subprocess.Popen([tool, "serve"] + args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     env=env, text=True, preexec_fn=preexec_fn)
        self.lines = []
        self.port = None
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            if "ready" in line:
                break
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def tcp(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def run_test(main):
    """A test's main: a failed check is one FAIL line and exit status 1."""
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
