"""examples/python-service: started on 127.0.0.1 with an ephemeral port,
sent a safe and a poisoned pickle over loopback, then stopped."""
import collections
import http.client
import json
import os
import pickle
import subprocess
import sys

import pytest

from conftest import SOURCE_DIR, malicious_payloads

SERVICE = SOURCE_DIR / "examples" / "python-service" / "service.py"


@pytest.fixture
def service():
    proc = subprocess.Popen([sys.executable, str(SERVICE), "--host", "127.0.0.1", "--port", "0", "--policy", "python"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        line = proc.stdout.readline()  # "listening on http://127.0.0.1:PORT"
        assert line.startswith("listening on http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        yield int(line.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _post(port, body, path="/load"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/octet-stream"})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        conn.close()


def test_safe_and_poisoned_uploads(service, marker):
    value = {"weights": [1.5, 2.5], "names": collections.OrderedDict(a=1), "tags": {"x"}}
    status, content_type, body = _post(service, pickle.dumps(value, protocol=4))
    assert status == 200 and content_type == "text/plain"
    assert body.strip() == repr(value)

    for name in ("os_system_global_reduce_p0", "builtins_eval_p2", "shutil_dotted_os_system_p4",
                 "second_pickle_after_stop"):
        status, content_type, body = _post(service, malicious_payloads(marker)[name])
        assert status == 422 and content_type == "application/json", (name, status, body)
        doc = json.loads(body)
        assert doc["verdict"] in ("unsafe", "error")
        assert any(f["rule"] == "global-not-allowed" for f in doc["findings"]), doc["findings"]
    assert not marker.exists()

    status, _, _ = _post(service, b"", path="/elsewhere")
    assert status == 404
