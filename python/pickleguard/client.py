"""A client of `pickleguard serve` (docs/deployment.md), on the standard
library alone (http.client), over TCP or a Unix socket.

    client = pickleguard.Client("http://127.0.0.1:8484")   # or "unix:/run/pickleguard/serve.sock"
    doc = client.scan("model.pt", policy="pytorch")           # a path, bytes or a binary file object
    doc["files"][0]["verdict"]                                 # "safe" | "unsafe" | "error"
    client.policies(); client.health(); client.metrics()

`scan` returns the document `pickleguard scan --format json` writes for that
one file (docs/report-format.md). It does not load anything: what to do with
the verdict is the caller's. This module imports nothing compiled, so it can
be copied into a service that has no pickleguard build.
"""

import http.client
import json
import os
import socket
import time
import urllib.parse

__all__ = ["Client", "ServerError"]

# Bytes per send of a file body (http.client's default, 8 KiB, makes a
# 100 MB upload cost 12,800 system calls).
_BLOCK = 1 << 20


class ServerError(Exception):
    """The server answered with an HTTP error: `.status`, `.body` (its JSON,
    or text), `.retry_after` (seconds, for 503), or None."""

    def __init__(self, status, body, retry_after=None):
        message = body.get("error") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = body
        self.retry_after = retry_after


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout, blocksize=_BLOCK)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Client:
    """One connection to a server, kept alive between requests (not
    thread-safe: use one Client per thread).

    `address`: "http://HOST:PORT", "HOST:PORT" or "unix:PATH". `retries`:
    how many times a 503 (queue full) is retried, after the Retry-After the
    server gives, before ServerError is raised."""

    def __init__(self, address="http://127.0.0.1:8484", *, timeout=120, retries=3):
        self.address = address
        self.timeout = timeout
        self.retries = retries
        self._conn = None

    def _connect(self):
        a = self.address
        if a.startswith("unix:"):
            return _UnixHTTPConnection(a[len("unix:"):], self.timeout)
        if "://" not in a:
            a = "http://" + a
        u = urllib.parse.urlsplit(a)
        if u.scheme == "https":
            return http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=self.timeout, blocksize=_BLOCK)
        return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=self.timeout, blocksize=_BLOCK)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, method, target, body=None, headers=None):
        for attempt in range(self.retries + 1):
            status, data, response_headers = self._once(method, target, body, headers)
            if status == 503 and attempt < self.retries:
                retry = response_headers.get("retry-after")
                time.sleep(float(retry) if retry and retry.isdigit() else 1.0)
                continue
            return status, data, response_headers
        return status, data, response_headers

    def _once(self, method, target, body, headers):
        # A kept-alive connection the server closed meanwhile fails on first
        # use: reconnect once, but never resend a body that may have been read.
        for fresh in (self._conn is None, True):
            if self._conn is None:
                self._conn = self._connect()
            try:
                if hasattr(body, "seek") and hasattr(body, "tell"):
                    start = body.tell()
                else:
                    start = None
                self._conn.request(method, target, body=body, headers=headers or {})
                r = self._conn.getresponse()
                data = r.read()
                response_headers = {k.lower(): v for k, v in r.getheaders()}
                if r.will_close:
                    self.close()
                return r.status, data, response_headers
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if fresh:
                    raise
                if start is not None:
                    body.seek(start)

    @staticmethod
    def _decode(status, data, headers):
        try:
            doc = json.loads(data)
        except ValueError:
            doc = data.decode("utf-8", "replace")
        if status != 200:
            raise ServerError(status, doc, headers.get("retry-after"))
        return doc

    def scan(self, data, *, name=None, policy=None):
        """Scans one file: `data` is bytes-like, a path (str or os.PathLike)
        or a binary file object; `name` is the report's path (default: the
        path's base name, or "upload"); `policy` one the server was started
        with (default: its first)."""
        if isinstance(data, (str, os.PathLike)):
            path = os.fspath(data)
            if name is None:
                name = os.path.basename(path)
            with open(path, "rb") as f:
                return self._scan_body(f, os.fstat(f.fileno()).st_size, name, policy)
        if isinstance(data, (bytes, bytearray, memoryview)):
            return self._scan_body(bytes(data), len(data), name, policy)
        try:
            size = os.fstat(data.fileno()).st_size - data.tell()
        except (AttributeError, OSError, ValueError):  # io.BytesIO and other streams without a file
            body = data.read()
            return self._scan_body(body, len(body), name, policy)
        return self._scan_body(data, size, name, policy)

    def _scan_body(self, body, size, name, policy):
        query = {}
        if name is not None:
            query["name"] = name
        if policy is not None:
            query["policy"] = policy
        target = "/v1/scan" + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        return self._decode(*self._request("POST", target, body, headers))

    def policies(self):
        """{"default": NAME, "policies": [{"name", "description", "entries"}]}"""
        return self._decode(*self._request("GET", "/v1/policies"))

    def health(self):
        """True when /healthz answers 200 (False while the server drains)."""
        try:
            status, _, _ = self._once("GET", "/healthz", None, None)
        except OSError:
            return False
        return status == 200

    def metrics(self):
        """The Prometheus text of /metrics."""
        status, data, headers = self._request("GET", "/metrics")
        if status != 200:
            raise ServerError(status, data.decode("utf-8", "replace"))
        return data.decode("utf-8")
