#!/usr/bin/env python3
"""`pickleguard serve` under a bounded load, and under abuse (issue 16).

One server listens on a free loopback port and on a Unix socket. 16 clients
(8 on each) send 2,000 scan requests of the test corpora's files, benign and
malicious; every answer must be the document `pickleguard scan --format json`
writes for the same file, named as the request named it (so an answer given
to the wrong request, twice, or not at all is seen), and the server's
resident memory after the load must be what it was after a warm-up. Then:
a worker that crashes and one that hangs (the worker pool's test hooks,
PICKLEGUARD_TEST_CRASH_ON / _HANG_ON, which match the upload's name) are
`error` reports and the server goes on; bodies over --max-body get 413
(announced, or chunked and counted), truncated uploads and garbage get 400,
a slow client 408, a client that stops reading loses its connection, a full
queue gets 503 with Retry-After, and SIGTERM drains the request in flight
and exits 0. The counts in /metrics must match what was sent.

Nothing here loads a pickle: the server and the CLI only parse them.
"""

import argparse
import concurrent.futures
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time

from serve_harness import ServeProcess, load_client, run_test

MAX_BODY = 2_000_000
IO_TIMEOUT = 2
SCAN_TIMEOUT = 2


def corpus_files(roots):
    files = []
    for root in roots:
        for dirpath, dirnames, names in os.walk(root):
            dirnames.sort()
            for n in sorted(names):
                p = os.path.join(dirpath, n)
                if n.endswith((".py", ".md", ".json", ".toml", ".txt")) or not os.path.isfile(p):
                    continue
                if os.path.getsize(p) <= MAX_BODY:
                    files.append(p)
    return files


def cli_document(tool, path, policy=None):
    """`scan --format json` of one file, named by its base name as the
    server's request names it."""
    r = subprocess.run([tool, "scan", "--format", "json", os.path.basename(path)] +
                       (["--policy", policy] if policy else []), cwd=os.path.dirname(path),
                       capture_output=True, timeout=60)
    assert r.returncode in (0, 1, 2), (path, r.stderr)
    return json.loads(r.stdout)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def metric_values(text, name):
    """{labels string: value} of one metric."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


class Server(ServeProcess):
    def __init__(self, tool, workdir, tag, extra, env=None):
        self.sock_path = os.path.join(workdir, tag + ".sock")
        e = dict(os.environ)
        e.update(env or {})
        self.log = open(os.path.join(workdir, tag + ".log"), "w+")
        super().__init__(tool, ["--listen", "127.0.0.1:0", "--listen", "unix:" + self.sock_path,
                                "--max-body", str(MAX_BODY), "--io-timeout", str(IO_TIMEOUT),
                                "--timeout", str(SCAN_TIMEOUT)] + extra, env=e)
        assert self.port and os.path.exists(self.sock_path), "server did not start: " + "".join(self.lines)

    def address(self, unix):
        return "unix:" + self.sock_path if unix else f"http://127.0.0.1:{self.port}"


def read_response(sock, timeout=10):
    """(status, headers dict, body) of one HTTP/1.1 response read raw, or
    None when the connection closed first."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def load(args, client_mod, srv, files, expected, n_requests, clients):
    """Sends n_requests scans from `clients` threads (half over TCP, half
    over the Unix socket); returns the names answered, in any order."""
    answered = []
    lock = threading.Lock()
    per_client = [list(range(i, n_requests, clients)) for i in range(clients)]

    def run(k):
        got = []
        with client_mod.Client(srv.address(unix=k % 2 == 1), timeout=60, retries=0) as c:
            for i in per_client[k]:
                path = files[i % len(files)]
                name = f"r{i}-{os.path.basename(path)}"
                doc = c.scan(path, name=name)
                check(len(doc["files"]) == 1 and doc["files"][0]["path"] == name,
                      f"request {name} answered for {doc['files'][0].get('path')}")
                doc["files"][0]["path"] = os.path.basename(path)
                check(doc == expected[path], f"{name}: the server's report differs from the CLI's:\n"
                      f"{json.dumps(doc, indent=1)[:2000]}\nCLI:\n{json.dumps(expected[path], indent=1)[:2000]}")
                got.append(name)
        with lock:
            answered.extend(got)

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(run, k) for k in range(clients)]:
            f.result()
    return answered


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=16)
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    t0 = time.time()
    client_mod = load_client(args.source)
    tool = os.path.abspath(args.pickleguard)

    files = corpus_files([os.path.join(args.source, d) for d in ("tests/fixtures", "examples/attacks")])
    check(len(files) >= 50, f"only {len(files)} corpus files")
    expected = {p: cli_document(tool, p) for p in files}
    verdicts = {d["files"][0]["verdict"] for d in expected.values()}
    check({"safe", "unsafe"} <= verdicts, f"the corpus must mix benign and malicious files: {verdicts}")
    print(f"{len(files)} files, CLI reports in {time.time() - t0:.1f} s", flush=True)

    # The crash and hang hooks match a base name: one a client chooses with
    # ?name=, so they are only ever set in a test's environment.
    srv = Server(tool, args.workdir, "main", ["--jobs", "2", "--queue", "64", "--policy", "default",
                                              "--policy", "python"],
                 {"PICKLEGUARD_TEST_CRASH_ON": "crash-me.pkl", "PICKLEGUARD_TEST_HANG_ON": "hang-me.pkl"})
    sent_scans = 0
    try:
        warm = load(args, client_mod, srv, files, expected, 200, args.clients)
        sent_scans += len(warm)
        rss_before = rss_kib(srv.proc.pid)
        t1 = time.time()
        answered = load(args, client_mod, srv, files, expected, args.requests, args.clients)
        seconds = time.time() - t1
        sent_scans += len(answered)
        check(sorted(answered) == sorted(f"r{i}-{os.path.basename(files[i % len(files)])}"
                                         for i in range(args.requests)), "requests lost or answered twice")
        rss_after = rss_kib(srv.proc.pid)
        print(f"{args.requests} requests from {args.clients} clients in {seconds:.1f} s "
              f"({args.requests / seconds:.0f}/s); RSS {rss_before} KiB after warm-up, {rss_after} KiB after",
              flush=True)
        check(rss_after <= rss_before + 4096, f"RSS grew from {rss_before} to {rss_after} KiB")

        c = client_mod.Client(srv.address(unix=False), retries=0)
        benign = next(p for p in files if expected[p]["files"][0]["verdict"] == "safe")
        data = open(benign, "rb").read()

        # A worker that crashes, and one that hangs: an error report each.
        for name, rule in (("crash-me.pkl", "scanner-crashed"), ("hang-me.pkl", "scan-timeout")):
            doc = c.scan(data, name=name)
            f = doc["files"][0]
            check(f["verdict"] == "error" and any(x["rule"] == rule for x in f["findings"]), f"{name}: {f}")
            sent_scans += 1
        check(c.scan(data, name="after.pkl")["files"][0]["verdict"] == "safe", "not serving after a crash")
        sent_scans += 1

        # Announced too long: 413 before any byte of the body is sent.
        s = srv.tcp()
        s.sendall(b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (10 ** 12))
        r = read_response(s)
        check(r and r[0] == 413, f"announced oversize body: {r}")
        s.close()
        # Announced too long and sent anyway: the answer still arrives.
        s = srv.tcp()
        s.sendall(b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        try:
            s.sendall(b"\0" * (MAX_BODY + 1))
        except OSError:
            pass
        r = read_response(s)
        check(r and r[0] == 413, f"oversize body sent whole: {r}")
        s.close()
        # Chunked: counted as it streams, refused once past the limit.
        s = srv.tcp()
        s.sendall(b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent, r = 0, None
        piece = b"%x\r\n%s\r\n" % (65536, b"\x80" * 65536)
        while sent < 20 * MAX_BODY:
            try:
                s.sendall(piece)
            except OSError:
                break
            sent += 65536
            if select.select([s], [], [], 0)[0]:
                break
        r = read_response(s)
        check(r and r[0] == 413, f"chunked oversize body: {r}")
        check(sent <= MAX_BODY + 8 * 65536 + 4 * 1024 * 1024, f"the server read {sent} bytes past a {MAX_BODY} limit")
        s.close()

        # A truncated upload: 400 (if anyone listens), and nothing scanned.
        s = srv.tcp()
        s.sendall(b"POST /v1/scan?name=cut.pkl HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + data[:100])
        s.shutdown(socket.SHUT_WR)
        r = read_response(s)
        check(r and r[0] == 400, f"truncated upload: {r}")
        s.close()
        # Garbage instead of HTTP.
        for garbage in (b"\x00\x01\x02 garbage\r\n\r\n", b"GET /healthz HTTP/9.9\r\n\r\n",
                        b"POST /v1/scan HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                        b"POST /v1/scan HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
            s = srv.tcp()
            s.sendall(garbage)
            r = read_response(s)
            check(r and r[0] == 400, f"garbage {garbage!r}: {r}")
            s.close()
        # Unknown endpoint, method, policy.
        for request, code in ((b"GET /nowhere HTTP/1.1\r\n\r\n", 404), (b"GET /v1/scan HTTP/1.1\r\n\r\n", 405),
                              (b"POST /v1/scan?name=%zz HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 400),
                              (b"POST /v1/scan HTTP/1.1\r\n\r\n", 411)):
            s = srv.tcp()
            s.sendall(request)
            r = read_response(s)
            check(r and r[0] == code, f"{request!r}: {r}")
            s.close()
        try:
            c.scan(data, policy="no-such-policy")
            check(False, "an unknown policy was accepted")
        except client_mod.ServerError as e:
            check(e.status == 400, f"unknown policy: {e}")

        # A slow client: half a header, then nothing; or a body that stops
        # coming, or drips: dropped after --io-timeout (the body, a second
        # per MiB more), without an answer.
        for start, drip in ((b"POST /v1/scan HTTP/1.1\r\nHost: x\r\n", None),
                            (b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123", None),
                            (b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", b"x")):
            s = srv.tcp()
            s.sendall(start)
            ts = time.time()
            r = "open"
            while time.time() - ts < IO_TIMEOUT * 4:
                if drip:
                    try:
                        s.sendall(drip)
                    except OSError:
                        r = None
                        break
                if select.select([s], [], [], 0.5)[0]:
                    r = read_response(s) if s.recv(1, socket.MSG_PEEK) else None
                    break
            check(r is None and time.time() - ts < IO_TIMEOUT * 3, f"slow client {start!r}: {r}")
            s.close()

        # A client that sends and never reads: its connection is dropped once
        # the server's writes to it stall for --io-timeout, and it holds no
        # more than the socket buffers meanwhile.
        s = srv.tcp()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"  # answers of a few KiB fill the buffers soon
        pushed = 0
        stall_deadline = time.time() + IO_TIMEOUT * 10
        closed = False
        while time.time() < stall_deadline:
            try:
                pushed += s.send(req * 64)
            except BlockingIOError:
                time.sleep(0.05)
            except OSError:
                closed = True
                break
        check(closed, "a client that never reads kept its connection")
        s.close()
        check(c.health(), "not healthy after the abuse")

        # Every scan request sent above was counted once, by its status.
        text = c.metrics()
        codes = metric_values(text, "pickleguard_requests_total")
        scans_200 = codes.get('{endpoint="scan",code="200"}', 0)
        check(scans_200 == sent_scans, f"/metrics counts {scans_200} scans answered 200, the test sent {sent_scans}")
        check(codes.get('{endpoint="scan",code="413"}', 0) == 3, f"413s: {codes}")
        check(metric_values(text, "pickleguard_worker_crashes_total")[""] == 1, "worker crashes")
        check(metric_values(text, "pickleguard_worker_timeouts_total")[""] == 1, "worker timeouts")
        errors = metric_values(text, "pickleguard_errors_total")
        check(errors.get('{kind="truncated_upload"}', 0) >= 1 and errors.get('{kind="client_timeout"}', 0) == 3,
              f"errors: {errors}")
        hist = metric_values(text, "pickleguard_scan_duration_seconds_count")
        check(hist[""] == sent_scans, f"histogram count {hist} != {sent_scans}")
        verdict_counts = metric_values(text, "pickleguard_verdicts_total")
        check(sum(verdict_counts.values()) == sent_scans, f"verdicts {verdict_counts}")
        policies = c.policies()
        check(policies["default"] == "default" and [p["name"] for p in policies["policies"]] == ["default", "python"],
              f"policies: {policies}")
        # ?policy= chooses among the server's policies, as --policy does for the CLI.
        differ = 0
        for path in files[::8]:
            want = cli_document(tool, path, "python")
            got = c.scan(path, policy="python")
            check(got == want, f"{path} with ?policy=python: {got} != {want}")
            differ += want != expected[path]
        check(differ > 0, "the python policy judged no file differently from default: the check proves nothing")
        c.close()
    finally:
        status = srv.stop()
    check(status == 0, f"the server exited {status} on SIGTERM:\n{''.join(srv.lines)}")

    # A small server: a full queue gets 503 with Retry-After, and SIGTERM
    # waits for the scan in flight, answers it, and exits 0.
    small = Server(tool, args.workdir, "small", ["--jobs", "1", "--queue", "1"],
                   {"PICKLEGUARD_TEST_HANG_ON": "hang-me.pkl"})
    try:
        held = []
        for _ in range(2):  # both slots: uploads whose bodies never come
            s = small.tcp()
            s.sendall(b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
            held.append(s)
        time.sleep(0.3)
        s = small.tcp()
        s.sendall(b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
        r = read_response(s)
        check(r and r[0] == 503 and r[1].get("retry-after", "").isdigit(), f"full queue: {r}")
        s.close()
        for s in held:
            s.close()
        time.sleep(0.3)
        s = small.tcp()
        s.sendall(b"GET /readyz HTTP/1.1\r\n\r\n")
        check(read_response(s)[0] == 200, "readyz once the slots are free")
        s.close()
        # The drain: a scan in flight (the hang hook, stopped at --timeout)
        # is answered after SIGTERM, and then the server exits.
        s = small.tcp()
        body = data
        s.sendall(b"POST /v1/scan?name=hang-me.pkl HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
                  + body)
        time.sleep(0.5)
        small.proc.send_signal(signal.SIGTERM)
        r = read_response(s, timeout=SCAN_TIMEOUT * 5)
        check(r and r[0] == 200 and json.loads(r[2])["files"][0]["verdict"] == "error", f"drained request: {r}")
        check(r[1].get("connection", "").lower() == "close", "a drained connection must say it closes")
        s.close()
        status = small.proc.wait(timeout=20)
        check(status == 0, f"exit status after SIGTERM: {status}")
        check(not os.path.exists(small.sock_path), "the Unix socket file is left behind")
    finally:
        small.stop()
    print(f"serve test passed in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    run_test(main)
