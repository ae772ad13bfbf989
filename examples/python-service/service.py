#!/usr/bin/python3
"""A small HTTP service that accepts pickle uploads and loads only safe ones.

    POST /load   body: a pickle
      200  text/plain          repr() of the loaded value
      422  application/json    the pickleguard report (verdict, findings, globals)
      400  text/plain          the body is not a pickle pickleguard can read

Every upload is validated with pickleguard.loads before anything is
unpickled, and then loaded by an unpickler that resolves only the policy's
globals. Standard library only (http.server), so it is a sketch of the
pattern, not a production server.

    python3 service.py --port 8080 --policy numpy
"""
import argparse
import http.server
import json
import pickle
import sys

import pickleguard

MAX_BODY = 64 << 20


class Handler(http.server.BaseHTTPRequestHandler):
    policy = None  # set by serve()

    def _answer(self, status, body, content_type):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path != "/load":
            return self._answer(404, "POST a pickle to /load\n", "text/plain")
        length = int(self.headers.get("Content-Length", "0"))
        if length < 0 or length > MAX_BODY:
            return self._answer(413, "upload too large\n", "text/plain")
        body = self.rfile.read(length)
        try:
            value = pickleguard.loads(body, policy=self.policy)
        except pickleguard.UnsafePickleError as e:
            if e.report is None:  # refused by the loader's own check
                doc = {"verdict": "unsafe", "findings": [{"rule": "loader-refused", "message": str(e)}]}
            else:
                doc = {"verdict": e.report.verdict, "findings": e.report.findings, "globals": e.report.globals}
            return self._answer(422, json.dumps(doc, indent=2) + "\n", "application/json")
        except (pickle.UnpicklingError, ValueError, EOFError) as e:
            return self._answer(400, f"not a loadable pickle: {e}\n", "text/plain")
        return self._answer(200, repr(value) + "\n", "text/plain")

    def log_message(self, format, *args):  # quiet unless asked
        if self.server.verbose:
            super().log_message(format, *args)


def serve(host, port, policy, verbose=False, ready=None):
    Handler.policy = pickleguard.Policy.shipped(policy) if policy in pickleguard.shipped_policy_names() \
        else pickleguard.Policy.from_file(policy)
    server = http.server.ThreadingHTTPServer((host, port), Handler)
    server.verbose = verbose
    if ready:
        ready(server.server_address)
    with server:
        server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description="pickle upload service guarded by pickleguard")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0 picks a free port (printed on stdout)")
    ap.add_argument("--policy", default="default", help="shipped policy name or policy file")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    def ready(address):
        print(f"listening on http://{address[0]}:{address[1]}", flush=True)

    try:
        serve(args.host, args.port, args.policy, args.verbose, ready)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
