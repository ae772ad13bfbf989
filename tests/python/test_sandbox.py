"""The package's scans in sandboxed worker processes (the default, as in
`pickleguard scan`): same reports as in-process, and the jail is real.

The crash, hang and open tests use the pool's test hooks
(PICKLEGUARD_TEST_*_ON, read by the parent from its environment, never from
file content; tests/sandbox/ uses them for the CLI): a worker given a file of
that base name crashes, spins, or calls open(), which its seccomp filter
must answer by killing it. Nothing here is unpickled.
"""
import json
import os
import pickle

import pytest

import pickleguard
from conftest import SOURCE_DIR, child_processes, malicious_payloads

FIXTURES = sorted(p for p in (SOURCE_DIR / "tests" / "fixtures").rglob("*")
                  if p.is_file() and p.suffix in (".pkl", ".pt", ".npy", ".npz", ".joblib", ".pth", ".bin"))


@pytest.fixture
def hook(monkeypatch):
    def set_hook(kind, name):
        monkeypatch.setenv(f"PICKLEGUARD_TEST_{kind}_ON", name)
    return set_hook


def test_sandboxed_reports_equal_in_process_reports_on_the_fixtures():
    assert len(FIXTURES) > 20
    for policy in ("default", "pytorch"):
        boxed = pickleguard.scan_files(FIXTURES, policy, jobs=2)
        plain = pickleguard.scan_files(FIXTURES, policy, sandbox=False)
        assert [r.path for r in boxed] == [str(p) for p in FIXTURES]
        assert [r.document for r in boxed] == [r.document for r in plain]


def test_scan_of_bytes_and_path_is_the_same_in_and_out_of_the_sandbox(tmp_path, marker):
    for data in (pickle.dumps({"a": [1, 2.5, "x"]}, protocol=4), malicious_payloads(marker)["builtins_eval_p2"]):
        path = tmp_path / "input.pkl"
        path.write_bytes(data)
        for source in (data, bytearray(data), memoryview(data), path, str(path)):
            boxed = pickleguard.scan(source)
            assert boxed.document == pickleguard.scan(source, sandbox=False).document
        assert pickleguard.scan(data).path == "<bytes>"


def test_loads_scans_in_the_sandbox_and_refuses_the_payload(marker):
    children = child_processes()
    data = malicious_payloads(marker)["os_system_global_reduce_p0"]
    with pytest.raises(pickleguard.UnsafePickleError):
        pickleguard.loads(data)
    assert pickleguard.loads(pickle.dumps([1, 2])) == [1, 2]
    assert child_processes() - children == set(), "a worker was left behind"


def test_worker_that_opens_a_file_is_killed_by_its_seccomp_filter(tmp_path, hook):
    path = tmp_path / "opens.pkl"
    path.write_bytes(pickle.dumps(1))
    hook("OPEN", "opens.pkl")
    (report,) = pickleguard.scan_files([path])
    assert report.verdict == "error"
    assert report.findings[0]["rule"] == "scanner-crashed"
    assert "SIGSYS" in report.findings[0]["message"], report.findings[0]["message"]
    # In-process there is no filter: the hook does nothing and the file is judged.
    assert pickleguard.scan(path, sandbox=False).verdict == "safe"


def test_worker_that_crashes_is_an_error_for_that_file_only(tmp_path, hook):
    paths = []
    for name in ("a.pkl", "crash.pkl", "b.pkl"):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(pickle.dumps(name))
    hook("CRASH", "crash.pkl")
    reports = pickleguard.scan_files(paths, jobs=1)
    assert [r.verdict for r in reports] == ["safe", "error", "safe"]
    assert "SIGSEGV" in reports[1].findings[0]["message"]


def test_worker_past_its_deadline_is_stopped(tmp_path, hook):
    path = tmp_path / "hang.pkl"
    path.write_bytes(pickle.dumps(1))
    hook("HANG", "hang.pkl")
    report = pickleguard.scan(path, timeout=1)
    assert report.verdict == "error"
    assert report.findings[0]["rule"] == "scan-timeout"


def test_scan_on_a_thread_with_eager_malloc_trimming_is_not_killed():
    # A worker forked from a thread allocates from glibc's thread arena, whose
    # first in-place shrink opens /proc/sys/vm/overcommit_memory: under the
    # filter, that killed the worker (SIGSYS) on an ordinary legacy torch
    # file once Dask's MALLOC_TRIM_THRESHOLD_=65536 made glibc trim early.
    # In a child interpreter: glibc reads the variable at startup.
    import subprocess
    import sys

    script = (
        "import json, sys, threading, pickleguard\n"
        "files = sys.argv[1:]\n"
        "out = []\n"
        "t = threading.Thread(target=lambda: out.extend(pickleguard.scan_files(files, jobs=1)))\n"
        "t.start(); t.join()\n"
        "plain = pickleguard.scan_files(files, sandbox=False)\n"
        "print(json.dumps([[r.path for r in out if r.verdict == 'error'],\n"
        "                  [r.path for r in plain if r.verdict == 'error'], len(out)]))\n")
    # All of them, in order: which free first trims depends on what came before.
    files = [str(p) for p in FIXTURES]
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    run = subprocess.run([sys.executable, "-c", script, *files], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    boxed_errors, plain_errors, n = json.loads(run.stdout)
    assert n == len(files)
    assert boxed_errors == plain_errors


def test_unreadable_paths(tmp_path):
    missing = tmp_path / "missing.pkl"
    for sandbox in (True, False):
        with pytest.raises(OSError):
            pickleguard.scan(missing, sandbox=sandbox)
    (report,) = pickleguard.scan_files([missing])
    assert report.verdict == "error"
    assert report.findings[0]["rule"] == "unreadable-file"


def test_memory_budget_is_counted_beyond_this_process():
    # The interpreter (numpy, perhaps torch, already imported by other tests)
    # maps more than a small budget: the worker must still start and scan.
    report = pickleguard.scan(pickle.dumps(list(range(1000))), max_memory_mb=64)
    assert report.verdict == "safe", report.findings


def test_bad_arguments():
    with pytest.raises(ValueError):
        pickleguard.scan(b"N.", timeout=-1)
    with pytest.raises(ValueError):
        pickleguard.scan_files([], jobs=-1)
    assert pickleguard.scan_files([]) == []
    assert json.loads(pickleguard.scan(b"N.").to_json())["files"][0]["verdict"] == "safe"
