"""Bulk scans on a Dask cluster (docs/cluster.md).

    python3 -m pickleguard.cluster [--scheduler ADDRESS] [--policy NAME|FILE]...
                                   [--format json|jsonl|sarif] [-o FILE] PATH...

or, from Python, with a `distributed.Client` of one's own:

    from distributed import Client
    from pickleguard.cluster import scan_on_cluster

    with Client("tcp://scheduler:8786") as client:
        result = scan_on_cluster(client, ["/models"], policy="pytorch")
    result.document["summary"], result.to_sarif()

The client walks PATH... exactly as `pickleguard scan` walks (the same
code: --include/--exclude, symbolic links, unreadable directories as
`error` reports), groups the files into tasks by size, and each task scans
its files on a Dask worker in the library's sandboxed worker processes (the
GIL is released while they run, so a worker's threads scan at once). Every
file's outcome comes back as the sandbox's own record, read in the client
as untrusted input, and one report is written from them by the C++ writers:
the same document `pickleguard scan --format json|jsonl|sarif` writes for
the same files. A worker lost in the middle of a task has its task run
again elsewhere (the scheduler's allowed-failures, and `retries` for a task
that raises); a task that still fails makes each of its files an `error`
report (rule scanner-crashed), never a file left out. The summary counts
every file once.

The workers open the files by the same absolute paths as the client: the
file set must be mounted alike on every worker (a shared file system or
the same object-storage mount), and policy files likewise. Workers and
client must run the same build of pickleguard (checked for each task).
"""

import argparse
import os
import sys
import time
import uuid

from . import _native, _native_policy, _policy_argument, _TIMEOUT, _MAX_MEMORY_MB

__all__ = ["ClusterScan", "scan_on_cluster", "main"]

# A task is this many bytes of files, or this many files, whichever is
# reached first: large enough that Dask's per-task cost (a few ms of
# scheduling and transfer) is small against the scan, small enough that a
# lost worker costs little to redo and the cluster stays evenly busy.
TASK_BYTES = 64 << 20
TASK_FILES = 256
# Dask's `retries`: how often a task that raises is run again.
RETRIES = 3

# Policies a worker has loaded, by their spelling: parsed once per process.
_worker_policies = {}


def _policy_spec(policy):
    """The policy as names and paths a worker can load itself (a parsed
    Policy does not travel), and the name `scan --policy` gives it."""
    from . import Policy

    if isinstance(policy, Policy):
        raise TypeError("scan_on_cluster takes a policy's names or paths (workers load it themselves), "
                        "not a pickleguard.Policy")
    given = list(policy) if isinstance(policy, (list, tuple)) else [policy]
    if not given:
        raise ValueError("an empty list of policies")
    spec = []
    for one in given:
        text = _policy_argument(one)
        # A file is passed by its absolute path: workers do not share our cwd.
        if text not in _native.shipped_policy_names():
            # Joined, not os.path.abspath, as the files' paths are (_tasks).
            text = os.path.join(os.getcwd(), text) if ("/" in text or text.endswith(".toml")) else text
        spec.append(text)
    # As load_policy_options in tools/pickleguard/scan_target.cpp names it.
    name = "+".join(os.fspath(one) for one in given)
    return spec, name


def _load_spec(spec):
    key = tuple(spec)
    loaded = _worker_policies.get(key)
    if loaded is None:
        loaded = _worker_policies[key] = _native_policy(spec if len(spec) > 1 else spec[0])
    return loaded


def _scan_task(jobs, spec, skip_unknown, threads, timeout, max_memory_mb, sandbox, version):
    """Runs on a Dask worker: one outcome record per (path, named, name, no_follow) job."""
    if version != _native.__version__:
        raise RuntimeError(f"pickleguard {_native.__version__} on this worker, {version} on the client: "
                           f"outcome records are private to one build")
    policy = _load_spec(spec)
    return _native.scan_outcomes(jobs, policy, skip_unknown, threads, timeout, max_memory_mb, sandbox)


class ClusterScan:
    """A finished cluster scan: the outcomes of every file in walk order.

    `document` is the JSON report (dict), `to_json()` and `to_sarif()` its
    texts as `pickleguard scan` writes them, `exit_code` scan's exit status.
    `tasks`, `failed_tasks` and `seconds` say how it went."""

    def __init__(self, records, skipped, policy_name, warnings, tasks, failed_tasks, seconds):
        self.records = records
        self.skipped = skipped
        self.policy_name = policy_name
        self.warnings = warnings
        self.tasks = tasks
        self.failed_tasks = failed_tasks
        self.seconds = seconds
        self._document = None

    def to_json(self):
        return _native.render_outcomes(self.records, self.skipped, self.policy_name, "json")

    def to_sarif(self, root=None):
        """SARIF with paths relative to `root` (default: the working
        directory, as `scan` makes them)."""
        return _native.render_outcomes(self.records, self.skipped, self.policy_name, "sarif",
                                       os.getcwd() if root is None else root)

    def summary_line(self):
        return _native.render_outcomes(self.records, self.skipped, self.policy_name, "summary")

    @property
    def document(self):
        if self._document is None:
            import json

            self._document = json.loads(self.to_json())
        return self._document

    @property
    def summary(self):
        return self.document["summary"]

    @property
    def exit_code(self):
        s = self.summary
        return 2 if s["error"] else 1 if s["unsafe"] else 0

    def __repr__(self):
        s = self.summary
        return (f"<pickleguard.cluster.ClusterScan {s['files']} files: {s['safe']} safe, {s['unsafe']} unsafe, "
                f"{s['error']} error, {s['skipped']} skipped; {self.tasks} tasks>")


def _file_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # the worker reports why it cannot be read


def _tasks(files, task_bytes, task_files):
    """The walk's files, in order, cut into runs of about task_bytes."""
    batch, size = [], 0
    for path, named, no_follow in files:
        # Joined, not os.path.abspath: that folds "link/.." by its text,
        # where the kernel (and `scan`) follow the link first, so the two
        # would read different files under one name.
        batch.append((os.path.join(os.getcwd(), path), named, path, no_follow))
        size += _file_size(path)
        if size >= task_bytes or len(batch) >= task_files:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _checked(records, batch, skip_unknown):
    """A task's records, each checked to be a well-formed outcome of its
    own file (the batch's name at its place), and not skipped if it was
    named without skip_unknown (`scan` judges every such file): one that is
    not becomes an `error` report of that file, so the summary still counts
    every file once, never one twice, another not at all, or a named one as
    skipped."""
    out = []
    for record, (_, named, name, _) in zip(records, batch):
        if not isinstance(record, bytes):
            why = f"the outcome is a {type(record).__name__}, not a record"
        else:
            try:
                path = _native.outcome_path(record)
                why = None if path == name else f"the outcome names {path!r}"
                if why is None and named and not skip_unknown and _native.outcome_skipped(record):
                    why = "the outcome skips a file named to be scanned"
            except ValueError as e:
                why = str(e)
        if why is not None:
            record = _native.error_outcome(name, "scanner-crashed",
                                           f"{name}: the cluster task returned no valid outcome for this file "
                                           f"({why}); the file was not judged")
        out.append(record)
    return out


def scan_on_cluster(client, paths, policy="default", *, include=(), exclude=(), follow_symlinks=False,
                    skip_unknown=False, task_bytes=TASK_BYTES, task_files=TASK_FILES, retries=RETRIES,
                    threads_per_task=1, sandbox=True, timeout=_TIMEOUT, max_memory_mb=_MAX_MEMORY_MB,
                    on_outcomes=None):
    """Scans PATHs (files and directories, walked as `pickleguard scan` walks
    them) on the Dask cluster of `client`, and returns a ClusterScan.

    `policy`: a shipped name, a policy file's path, or a list of them (merged
    as repeated `scan --policy`). Each task gets about `task_bytes` of files
    (at most `task_files`) and scans them in `threads_per_task` sandboxed
    processes on its worker. `on_outcomes(records)` is called in the client
    as each batch is in (the walk's errors and skipped files first, then
    each task's files, in the order the tasks finish): what `--format jsonl`
    streams from."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    names = [os.fspath(p) for p in paths]
    if "-" in names:
        raise ValueError("a cluster scan reads files, not standard input ('-')")
    for globs, is_include in ((include, True), (exclude, False)):
        for g in globs:
            why = _native.glob_error(g, is_include)
            if why:
                raise ValueError(f"{'--include' if is_include else '--exclude'} {g!r}: {why}")
    spec, policy_name = _policy_spec(policy)
    _load_spec(spec)  # a policy that does not load fails here, not on every worker
    if task_bytes <= 0 or task_files <= 0 or threads_per_task <= 0 or retries < 0:
        raise ValueError("task_bytes, task_files and threads_per_task must be > 0, retries >= 0")

    from distributed import as_completed

    t0 = time.monotonic()
    files, errors, skipped, warnings = _native.walk_paths(names, list(include), list(exclude), follow_symlinks)
    for w in warnings:
        print(f"pickleguard: warning: {w}", file=sys.stderr)
    if on_outcomes is not None and (errors or skipped):
        # As `scan --format jsonl` starts: what the walk could not read, then what it skipped.
        on_outcomes(list(errors) + [_native.skipped_outcome(path, reason) for path, reason in skipped])

    batches = list(_tasks(files, task_bytes, task_files))
    run = uuid.uuid4().hex[:12]
    futures = {}
    for i, batch in enumerate(batches):
        future = client.submit(_scan_task, batch, spec, skip_unknown, threads_per_task, float(timeout),
                               int(max_memory_mb), bool(sandbox), _native.__version__,
                               key=f"pickleguard-scan-{run}-{i}", pure=False, retries=retries)
        futures[future.key] = (i, future)

    results = [None] * len(batches)
    failed = 0
    for future in as_completed([f for _, f in futures.values()]):
        i, _ = futures[future.key]
        batch = batches[i]
        # result() waits for a future that is "lost" again: one that was
        # done when as_completed gave it, on a worker that died before its
        # result was fetched, is computed anew by the scheduler.
        try:
            records = future.result()
        except Exception as e:  # the task failed (KilledWorker, its own error) or was cancelled
            records, failure = None, e
        else:
            if not isinstance(records, list) or len(records) != len(batch):
                count = len(records) if isinstance(records, list) else type(records).__name__
                failure = RuntimeError(f"the task returned {count} outcomes for {len(batch)} files")
                records = None
        if records is not None:
            records = _checked(records, batch, skip_unknown)
        if records is None:
            # Fail closed: every file of a task that could not be run is an
            # error report, named, never a file left out of the summary.
            failed += 1
            message = (f"the cluster task scanning it failed after {retries} retries "
                       f"({type(failure).__name__}: {failure}); the file was not judged")
            records = [_native.error_outcome(name, "scanner-crashed", f"{name}: {message}") for _, _, name, _ in batch]
        results[i] = records
        future.release()
        if on_outcomes is not None:
            on_outcomes(records)

    ordered = list(errors)
    for records in results:
        ordered.extend(records)
    return ClusterScan(ordered, list(skipped), policy_name, list(warnings), len(batches), failed,
                       time.monotonic() - t0)


def _size(text):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def _parser():
    p = argparse.ArgumentParser(
        prog="python3 -m pickleguard.cluster",
        description="Scan files and directories on a Dask cluster: the report of `pickleguard scan`, "
                    "from many machines (docs/cluster.md).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files and directories (walked recursively)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="the Dask scheduler (tcp://host:8786); without it, a LocalCluster on this machine")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="LocalCluster worker processes (default: one per core; not with --scheduler)")
    p.add_argument("--policy", action="append", metavar="NAME|FILE",
                   help="a shipped policy or a policy file; repeat to merge (default: default)")
    p.add_argument("--format", choices=["json", "jsonl", "sarif"], default="json")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here, not to standard output")
    p.add_argument("--include", action="append", default=[], metavar="GLOB", help="as `pickleguard scan --include`")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="as `pickleguard scan --exclude`")
    p.add_argument("--follow-symlinks", action="store_true")
    p.add_argument("--skip-unknown", action="store_true",
                   help="skip named files whose content is no pickle container, as walked ones are")
    p.add_argument("--task-bytes", type=_size, default=TASK_BYTES, metavar="SIZE",
                   help="bytes of files per task (default 64M)")
    p.add_argument("--task-files", type=int, default=TASK_FILES, metavar="N",
                   help=f"at most this many files per task (default {TASK_FILES})")
    p.add_argument("--retries", type=int, default=RETRIES, metavar="N",
                   help=f"runs again of a task that fails (default {RETRIES})")
    p.add_argument("--timeout", type=float, default=_TIMEOUT, metavar="S", help="per file, as `scan --timeout`")
    p.add_argument("--max-memory", type=int, default=_MAX_MEMORY_MB, metavar="MB",
                   help="per sandboxed process, as `scan --max-memory`")
    p.add_argument("--no-sandbox", action="store_true", help="scan in the Dask worker itself, as `scan --no-sandbox`")
    p.add_argument("--fail-on-empty", action="store_true", help="exit 2 when no file was scanned")
    return p


class _Output:
    """Standard output or -o FILE (created at the start, so that jsonl grows
    in it line by line)."""

    def __init__(self, path):
        self.path = path
        self.stream = open(path, "w", encoding="utf-8") if path else sys.stdout

    def write(self, text):
        self.stream.write(text)
        self.stream.flush()

    def close(self):
        if self.path:
            self.stream.close()


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.scheduler and args.workers:
        print("pickleguard.cluster: --workers is for the LocalCluster; a scheduler has its own", file=sys.stderr)
        return 2
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("pickleguard.cluster: needs Dask distributed (Debian: apt-get install python3-distributed)",
              file=sys.stderr)
        return 2
    policy = args.policy or ["default"]
    try:
        _load_spec(_policy_spec(policy)[0])
    except (ValueError, TypeError, OSError) as e:
        print(f"pickleguard: {e}", file=sys.stderr)
        return 2
    try:
        out = _Output(args.output)
    except OSError as e:
        print(f"pickleguard: cannot write {args.output}: {e.strerror}", file=sys.stderr)
        return 2

    on_outcomes = None
    if args.format == "jsonl":
        def on_outcomes(records):
            out.write("".join(_native.outcome_jsonl(r) for r in records))

    cluster = None
    try:
        if args.scheduler:
            client = Client(args.scheduler)
        else:
            workers = args.workers or os.cpu_count() or 1
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0")
            client = Client(cluster)
        with client:
            try:
                result = scan_on_cluster(
                    client, args.paths, policy, include=args.include, exclude=args.exclude,
                    follow_symlinks=args.follow_symlinks, skip_unknown=args.skip_unknown,
                    task_bytes=args.task_bytes, task_files=args.task_files, retries=args.retries,
                    sandbox=not args.no_sandbox, timeout=args.timeout, max_memory_mb=args.max_memory,
                    on_outcomes=on_outcomes)
            except ValueError as e:
                print(f"pickleguard: {e}", file=sys.stderr)
                return 2
    finally:
        if cluster is not None:
            cluster.close()

    if args.format == "jsonl":
        out.write(result.summary_line())
    elif args.format == "sarif":
        out.write(result.to_sarif())
    else:
        out.write(result.to_json())
    out.close()

    summary = result.summary
    if summary["files"] == 0:
        print(f"pickleguard: no file was scanned ({summary['skipped']} skipped)"
              f"{'' if args.fail_on_empty else '; --fail-on-empty makes this an error'}", file=sys.stderr)
        if args.fail_on_empty:
            return 2
    if result.failed_tasks:
        print(f"pickleguard: {result.failed_tasks} of {result.tasks} tasks failed; their files are error reports",
              file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    # Through the imported module, not this __main__ copy: Dask sends
    # _scan_task by reference to pickleguard.cluster, which workers import.
    from pickleguard import cluster

    sys.exit(cluster.main())
