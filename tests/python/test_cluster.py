"""The bulk scan on Dask (pickleguard.cluster, docs/cluster.md) against
`pickleguard scan` on the same files: the same report, every file once,
also when a worker process is killed in the middle of the run."""
import json
import os
import signal
import subprocess
import sys

import pytest

distributed = pytest.importorskip("distributed")

from conftest import SOURCE_DIR  # noqa: E402

from pickleguard import cluster  # noqa: E402

TOOL = os.environ.get("PICKLEGUARD_TOOL")
# The test corpora, as paths relative to the source tree (the working
# directory of both scans, so that both print the same paths).
CORPORA = ["tests/fixtures", "examples"]

pytestmark = pytest.mark.skipif(not TOOL, reason="PICKLEGUARD_TOOL (the built CLI) is not set")


def cli_scan(*args):
    run = subprocess.run([TOOL, "scan", *args], cwd=SOURCE_DIR, capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1, 2), run.stderr
    return run


@pytest.fixture(scope="module")
def client():
    # Two worker processes of one thread each: the smallest cluster where a
    # task can move to another process when its own dies.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local, distributed.Client(local) as c:
        yield c


def by_path(document):
    paths = [f["path"] for f in document["files"]] + [s["path"] for s in document["skipped"]]
    assert len(paths) == len(set(paths)), "a file reported twice"
    return {f["path"]: f for f in document["files"]}, {s["path"]: s["reason"] for s in document["skipped"]}


def test_cluster_report_equals_scan_with_a_worker_killed_mid_run(client, monkeypatch):
    monkeypatch.chdir(SOURCE_DIR)
    expected_text = cli_scan("--format", "json", *CORPORA).stdout
    expected = json.loads(expected_text)
    killed = {}

    def kill_a_busy_worker(records):
        # Once some tasks are done: SIGKILL a worker process that is running
        # one of ours, as an OOM killer or a lost machine would.
        if killed:
            return
        for address, keys in client.processing().items():
            ours = [k for k in keys if str(k).startswith("pickleguard-scan-")]
            if ours:
                pid = client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                killed.update(address=address, pid=pid, keys=ours)
                return

    # One file per task: many tasks, so the kill lands in the middle of the run.
    result = cluster.scan_on_cluster(client, CORPORA, task_files=1, on_outcomes=kill_a_busy_worker)
    assert killed, "no worker was running a task when the first results came in"
    got = result.document
    assert result.failed_tasks == 0, [f["findings"] for f in got["files"] if f["verdict"] == "error"]

    # The same document as `scan --format json`: files in the same order,
    # the same verdicts, findings and globals, the same skipped and summary.
    assert got == expected
    assert result.to_json() == expected_text  # the same writer: byte for byte
    files, skipped = by_path(got)
    assert got["summary"]["files"] == len(files) == len(expected["files"])
    assert got["summary"]["skipped"] == len(skipped)
    assert got["summary"]["unsafe"] > 0 and got["summary"]["safe"] > 0
    # The task that was running there ran again: the scheduler's log shows it
    # processing twice, the second time to the end.
    keys = set(killed["keys"])
    log = client.run_on_scheduler(
        lambda dask_scheduler: [(t[0], t[1], t[2]) for t in dask_scheduler.transition_log if t[0] in keys])
    runs = {k: [(a, b) for key, a, b in log if key == k] for k in keys}
    assert any(("processing", "released") in r and ("processing", "memory") in r[r.index(("processing", "released")):]
               for r in runs.values()), runs
    # The worker really is gone (the nanny started a new process).
    assert killed["pid"] not in client.run(os.getpid, on_error="ignore").values()


def test_a_task_that_keeps_failing_makes_error_reports_not_gaps(client, monkeypatch, tmp_path):
    # The client checks the policy before submitting; here it is not there
    # for the workers, so every run of every task raises.
    monkeypatch.chdir(SOURCE_DIR)
    monkeypatch.setattr(cluster, "_load_spec", lambda spec: None)
    result = cluster.scan_on_cluster(client, ["examples"] if (SOURCE_DIR / "examples").is_dir() else CORPORA,
                                     policy=str(tmp_path / "missing.toml"), retries=1, task_files=4)
    monkeypatch.undo()
    files = result.document["files"]
    assert result.failed_tasks == result.tasks > 0
    assert files and all(f["verdict"] == "error" for f in files)
    assert all([x["rule"] for x in f["findings"]] == ["scanner-crashed"] for f in files)
    assert result.document["summary"]["error"] == len(files)
    assert result.exit_code == 2


@pytest.mark.parametrize("fmt", ["jsonl", "sarif"])
def test_the_command_writes_what_scan_writes(tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    env = dict(os.environ)
    run = subprocess.run([sys.executable, "-m", "pickleguard.cluster", "--workers", "1", "--format", fmt,
                          "--exclude", "*.py", "-o", str(out), *CORPORA],
                         cwd=SOURCE_DIR, env=env, capture_output=True, text=True, timeout=120)
    expected = cli_scan("--format", fmt, "--exclude", "*.py", *CORPORA)
    assert run.returncode == expected.returncode, run.stderr
    text = out.read_text()
    if fmt == "sarif":
        assert json.loads(text) == json.loads(expected.stdout)
        return
    # jsonl: the same lines; a cluster's come in the order tasks finish,
    # and the summary is last.
    lines, want = text.splitlines(), expected.stdout.splitlines()
    assert sorted(lines) == sorted(want)
    assert json.loads(lines[-1])["type"] == "summary" and lines[-1] == want[-1]
    assert len(lines) == len(set(lines))


# os.system("id"), protocol 4, built byte by byte (never loaded).
EVIL = (b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93"
        b"\x8c\x02id\x85R.")
BENIGN = b"\x80\x04K\x01."


def test_symlink_dotdot_path_is_the_file_scan_reads(client, monkeypatch, tmp_path):
    # link/../x.pkl is real/x.pkl to the kernel (and to `scan`), but x.pkl
    # beside link to a lexical os.path.abspath: the cluster used to judge the
    # benign file under the name of the malicious one.
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "x.pkl").write_bytes(EVIL)
    (tmp_path / "x.pkl").write_bytes(BENIGN)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    monkeypatch.chdir(tmp_path)
    name = os.path.join("link", "..", "x.pkl")
    run = subprocess.run([TOOL, "scan", "--format", "json", name], capture_output=True, text=True, timeout=60)
    expected = json.loads(run.stdout)
    assert expected["files"][0]["verdict"] == "unsafe"
    result = cluster.scan_on_cluster(client, [name])
    assert [f["verdict"] for f in result.document["files"]] == ["unsafe"]
    assert result.document["files"] == expected["files"]


class _FakeFuture:
    def __init__(self, key, compute):
        self.key, self._compute = key, compute

    def result(self):
        return self._compute()

    def release(self):
        pass


def test_duplicated_outcome_record_hides_file(monkeypatch, tmp_path):
    # A task whose list of records has the right length but not one record
    # per file, in order (a record repeated in place of another, or garbage):
    # the file it stood for must be an error report, not missing from a
    # summary that then says every file is safe.
    (tmp_path / "a.pkl").write_bytes(BENIGN)
    (tmp_path / "b.pkl").write_bytes(EVIL)
    (tmp_path / "c.pkl").write_bytes(EVIL)
    monkeypatch.chdir(tmp_path)

    class TamperingClient:
        def submit(self, fn, batch, *args, key, **kwargs):
            def compute():
                records = fn(batch, *args)
                return [records[0], records[0], b"\x07garbage"]
            return _FakeFuture(key, compute)

    monkeypatch.setattr(distributed, "as_completed", lambda futures: iter(list(futures)))
    result = cluster.scan_on_cluster(TamperingClient(), ["a.pkl", "b.pkl", "c.pkl"], sandbox=False)
    files = {f["path"]: f["verdict"] for f in result.document["files"]}
    assert files == {"a.pkl": "safe", "b.pkl": "error", "c.pkl": "error"}
    assert result.summary["files"] == 3 and result.exit_code == 2


def test_named_file_outcome_replaced_by_a_skip(monkeypatch, tmp_path):
    # A record of the right file that says "skipped" although the file was
    # named (scan judges every named file): the merged report would count no
    # unsafe file and exit 0 where scan exits 1.
    (tmp_path / "b.pkl").write_bytes(EVIL)
    monkeypatch.chdir(tmp_path)
    from pickleguard import _native

    class TamperingClient:
        def submit(self, fn, batch, *args, key, **kwargs):
            return _FakeFuture(key, lambda: [_native.skipped_outcome(name, "not a pickle container")
                                             for _, _, name, _ in batch])

    monkeypatch.setattr(distributed, "as_completed", lambda futures: iter(list(futures)))
    result = cluster.scan_on_cluster(TamperingClient(), ["b.pkl"], sandbox=False)
    assert [f["verdict"] for f in result.document["files"]] == ["error"]
    assert result.summary["skipped"] == 0 and result.exit_code == 2


def test_symlink_dotdot_policy_path_is_the_file_scan_loads(monkeypatch, tmp_path):
    # As for the files: the workers must load the policy file `scan --policy
    # link/../p.toml` loads, not the one beside the link.
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "p.toml").write_text('name = "real"\ninclude = ["python"]\n')
    (tmp_path / "p.toml").write_text('name = "decoy"\ninclude = ["python"]\n')
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    monkeypatch.chdir(tmp_path)
    given = os.path.join("link", "..", "p.toml")
    spec, _ = cluster._policy_spec(given)
    assert os.path.samefile(spec[0], given) and os.path.samefile(spec[0], tmp_path / "real" / "p.toml")


def test_walked_file_swapped_for_a_link_after_the_walk_is_an_error(monkeypatch, tmp_path):
    # The walk saw d/x.pkl as a regular file; before the task opens it, it
    # becomes a link to a file outside the walk. `scan` opens walked files
    # with O_NOFOLLOW and reports the swap; the cluster task must too, not
    # judge (or read) what the link points at.
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.pkl").write_bytes(EVIL)
    (tmp_path / "outside.pkl").write_bytes(BENIGN)
    monkeypatch.chdir(tmp_path)

    class SwappingClient:
        def submit(self, fn, batch, *args, key, **kwargs):
            def compute():
                os.unlink(tmp_path / "d" / "x.pkl")
                os.symlink(tmp_path / "outside.pkl", tmp_path / "d" / "x.pkl")
                return fn(batch, *args)
            return _FakeFuture(key, compute)

    monkeypatch.setattr(distributed, "as_completed", lambda futures: iter(list(futures)))
    for sandbox in (False, True):
        (tmp_path / "d" / "x.pkl").unlink()
        (tmp_path / "d" / "x.pkl").write_bytes(EVIL)
        result = cluster.scan_on_cluster(SwappingClient(), ["d"], sandbox=sandbox)
        files = {f["path"]: f for f in result.document["files"]}
        assert list(files) == [os.path.join("d", "x.pkl")], files
        report = files[os.path.join("d", "x.pkl")]
        assert report["verdict"] == "error", (sandbox, report)
        assert result.exit_code == 2
