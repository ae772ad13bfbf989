#!/usr/bin/python3
"""Differential test: ``pickleguard decode --lines`` against CPython 3.11.

    /usr/bin/python3 tests/differential/run_differential.py --pickleguard build/tools/pickleguard

Case sources (all deterministic for a given --seed and --count):
  seed    examples/seed/seed_p*.pkl with their golden .json (exact set order)
  random  gen_random.py: random values pickled with protocols 0-5
  edge    edge_cases.py: hand-built byte strings, every opcode
  mutant  mutate.py: truncations / byte changes of random pickles and of
          the edge cases
  corpus  --corpus DIR: every file in a fuzzing corpus (the differential
          fuzz target, run out of process): accept/reject always, and the
          value too when the stream names no global (no GLOBAL, REDUCE, ...)
  frame   frame_cases.py: frames split at every offset, lengths off by
          -9..+9, frames inside frames, frames past STOP, and the
          FRAME/BINBYTES straddle of CPython issue 154848
Every case also goes through the three readers victims use
(stub_unpickler.three_readers): pickle.loads, pickle.load on the real file
and on an io.BytesIO (_pickle.c reading a file), and the pure-Python
pickle._Unpickler (joblib's). Where they disagree (accept/reject, value, or
where a next pickle in the file would start), pickleguard must reject.
For random and seed cases the expected value comes from the value we
pickled; for edge cases and mutants, CPython's verdict comes from the C
unpickler with every global stubbed out (stub_unpickler.py).  Mutants and
symbolic cases compare accept/reject only.  Every accepted value is also
checked for things CPython cannot build (an unhashable set element or key).

Every mismatch is printed and its input written to WORKDIR/failures/.
The last line of output is always "N passed, M failed"; the exit status is
0 when nothing failed, 1 otherwise, 2 if the binary cannot be run at all.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import edge_cases  # noqa: E402
import frame_cases  # noqa: E402
import gen_random  # noqa: E402
import mutate  # noqa: E402
import opscan  # noqa: E402
import pgjson  # noqa: E402
from cases import Case, safe_name  # noqa: E402
from stub_unpickler import disagreement, stub_load, three_readers  # noqa: E402

BATCH_SIZE = 400
BATCH_TIMEOUT = 120        # seconds for one pickleguard process on a batch
SINGLE_TIMEOUT = 20        # seconds when re-running one file after a crash
MAX_SINGLE_RERUNS = 200
HEX_LIMIT = 200


# --- collecting cases --------------------------------------------------------

def seed_cases() -> list[Case]:
    """The golden seed files, compared exactly (set order included)."""
    seed_dir = os.path.join(REPO, "examples", "seed")
    cases = []
    for proto in range(6):
        pkl = os.path.join(seed_dir, f"seed_p{proto}.pkl")
        js = os.path.join(seed_dir, f"seed_p{proto}.json")
        if not (os.path.exists(pkl) and os.path.exists(js)):
            continue
        with open(pkl, "rb") as f:
            data = f.read()
        with open(js, encoding="utf-8") as f:
            expected = pgjson.canonical(pgjson.loads(f.read()), sort_sets=False)
        cases.append(Case(f"seed_p{proto}", data, "seed", proto, True, expected, exact=True,
                          note="golden file examples/seed/" + os.path.basename(js)))
    return cases


def collect(args) -> tuple[list[Case], collections.Counter]:
    wanted = set(args.only.split(",")) if args.only else {"seed", "random", "edge", "mutant", "frame"}
    cases: list[Case] = []
    skipped: collections.Counter = collections.Counter()
    if "seed" in wanted:
        cases += seed_cases()
    rand = gen_random.generate(args.seed, args.count)
    if "random" in wanted:
        cases += rand
    edge = edge_cases.build()
    if "edge" in wanted:
        cases += edge
    if "mutant" in wanted:
        muts, skipped = mutate.generate(rand, args.seed, args.mutants, edge)
        cases += muts
    if args.corpus:
        cases += corpus_cases(args.corpus, skipped)
    if "frame" in wanted:
        cases += frame_cases.build()
    return cases, skipped


CORPUS_MAX_BYTES = 1 << 16


def corpus_cases(dirs: list[str], skipped: collections.Counter) -> list[Case]:
    """Cases from fuzzing corpora. CPython's verdict comes from the stub
    unpickler (as for mutants); when it accepts a stream that names no global,
    the value it built is pure data and is compared too."""
    cases: list[Case] = []
    seen: set[bytes] = set()
    for d in dirs:
        if not os.path.isdir(d):
            # Regression folders exist in git only once they hold an input.
            skipped[f"corpus folder {d} does not exist"] += 1
            continue
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if not os.path.isfile(path) or os.path.getsize(path) > CORPUS_MAX_BYTES:
                continue
            with open(path, "rb") as f:
                data = f.read()
            if data in seen:
                continue
            seen.add(data)
            case = mutate.judge(safe_name(f"corpus_{os.path.basename(d)}_{name}"), data, skipped)
            if case is None:
                continue
            case.origin = "corpus"
            case.note = f"fuzzing corpus {path}"
            if case.expect_ok and not (opscan.scan(data).names & opscan.SYMBOLIC_OPS):
                result = stub_load(data)
                try:
                    case.expect_value = pgjson.expected_canonical(result.value)
                except (pgjson.Unconvertible, RecursionError, ValueError):
                    skipped["corpus value not convertible"] += 1
            cases.append(case)
    return cases


def readers_pass(cases: list[Case], paths: list[str]) -> tuple[list[tuple[str, str]], collections.Counter]:
    """Runs every case through the three readers. Returns, per case, how they
    disagree ("" when they agree), and counts. Frame cases take their expected
    verdict (and, for pure data, value) from the readers when they agree."""
    out: list[tuple[str, str]] = []
    stats: collections.Counter = collections.Counter()
    for case, path in zip(cases, paths):
        results = three_readers(case.data, path, want_key=case.origin == "frame")
        kind, what = disagreement(results)
        out.append((kind, what))
        stats[kind or "agree"] += 1
        if kind:
            stats[f"{kind}: {what.split(':')[0]} ({case.origin})"] += 1
        if kind != "disagree" and case.origin == "frame":
            loads = results["loads"]
            case.expect_ok = loads.ok
            case.cpython_reason = loads.reason
            if loads.ok and loads.key is not None and not (opscan.scan(case.data).names & opscan.SYMBOLIC_OPS):
                case.expect_value = loads.key
    return out, stats


# --- running pickleguard ------------------------------------------------------

@dataclass
class Outcome:
    ok: bool | None = None           # decoded (True) / rejected (False)
    value_text: str | None = None    # raw JSON line, parsed lazily
    error: dict | None = None
    problem: str | None = None       # contract violation / crash / missing output
    line: str = ""


@dataclass
class BatchReport:
    anomalies: list[str] = field(default_factory=list)


_SHALLOW = re.compile(r'^\{\s*"file"\s*:\s*"(?:[^"\\]|\\.)*"\s*,\s*"(value|error)"\s*:')
_OPCODE_NAMES = opscan.ALL_OPCODE_NAMES
OPCODE_CODES = {name: code for code, name in opscan.OPCODE_NAMES.items()}
EXTRA_ERROR_KEYS: set[str] = set()


def parse_line(raw: bytes, path: str) -> Outcome:
    """Check one output line against the contract and extract the verdict."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Outcome(problem=f"output line is not UTF-8 ({exc})", line=raw[:300].decode("latin-1"))
    out = Outcome(line=line)
    try:
        doc = pgjson.loads(line)
    except RecursionError:
        # Too deep for the JSON module: settle for the verdict.
        m = _SHALLOW.match(line)
        if not m:
            out.problem = "unparseable (too deep) output line"
            return out
        out.ok = m.group(1) == "value"
        if not out.ok:
            out.problem = "deep error object"
        return out
    except ValueError as exc:
        out.problem = f"invalid JSON line: {exc}"
        return out
    if not isinstance(doc, dict) or set(doc) not in ({"file", "value"}, {"file", "error"}):
        out.problem = f"line is not {{file, value|error}}: keys {sorted(doc) if isinstance(doc, dict) else type(doc).__name__}"
        return out
    if doc["file"] != path:
        out.problem = f"file field {doc['file']!r} != argument {path!r}"
        return out
    if "value" in doc:
        out.ok = True
        out.value_text = line
        return out
    err = doc["error"]
    out.ok = False
    out.error = err
    if isinstance(err, dict):
        # Extra members are tolerated (noted in the summary): the contract
        # fixes offset/opcode/reason, not the absence of anything else.
        EXTRA_ERROR_KEYS.update(set(err) - {"offset", "opcode", "reason"})
    if (not isinstance(err, dict) or not {"offset", "opcode", "reason"} <= set(err)
            or not isinstance(err["offset"], int) or isinstance(err["offset"], bool) or err["offset"] < 0
            or not (err["opcode"] is None or err["opcode"] in _OPCODE_NAMES)
            or not isinstance(err["reason"], str)):
        out.problem = f"malformed error object: {json.dumps(err)[:200]}"
    return out


def run_batch(binary: str, paths: list[str], report: BatchReport) -> list[Outcome]:
    try:
        proc = subprocess.run([binary, "decode", "--lines", "--raw", *paths], capture_output=True,
                              timeout=BATCH_TIMEOUT)
        stdout, rc, stderr = proc.stdout, proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        stdout, rc, stderr = exc.stdout or b"", None, b"timeout"
    except OSError as exc:
        # e.g. the binary is being relinked right now
        report.anomalies.append(f"could not start {binary}: {exc}")
        return [Outcome(problem=f"not run: {exc}") for _ in paths]
    lines = stdout.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    outcomes = [parse_line(raw, p) for raw, p in zip(lines, paths)]
    if len(lines) > len(paths):
        report.anomalies.append(f"batch printed {len(lines)} lines for {len(paths)} files")
    complete = len(outcomes) == len(paths) and rc in (0, 1)
    if complete:
        want_rc = 1 if any(o.ok is False for o in outcomes) else 0
        if rc != want_rc and not any(o.problem for o in outcomes):
            report.anomalies.append(f"batch exit code {rc}, expected {want_rc} "
                                    f"(first file {paths[0]})")
        return outcomes
    # Crash, timeout or usage error.  The first file without output is the
    # suspect: run it alone, then carry on with the rest as a batch.
    why = "timeout" if rc is None else f"exit code {rc}"
    report.anomalies.append(f"batch of {len(paths)} files ended with {why} after "
                            f"{len(outcomes)} lines; stderr: {stderr[-300:].decode('utf-8', 'replace')!r}")
    k = len(outcomes)
    outcomes.append(run_single(binary, paths[k]))
    if k + 1 < len(paths):
        outcomes += run_batch(binary, paths[k + 1:], report)
    return outcomes


_single_runs = 0
_single_lock = threading.Lock()


def run_single(binary: str, path: str) -> Outcome:
    global _single_runs
    with _single_lock:
        _single_runs += 1
        if _single_runs > MAX_SINGLE_RERUNS:
            return Outcome(problem="not run (too many crashes in this run)")
    try:
        proc = subprocess.run([binary, "decode", "--lines", "--raw", path], capture_output=True,
                              timeout=SINGLE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return Outcome(problem=f"timeout after {SINGLE_TIMEOUT}s")
    except OSError as exc:
        return Outcome(problem=f"not run: {exc}")
    if proc.returncode < 0:
        return Outcome(problem=f"crashed with signal {-proc.returncode}")
    lines = proc.stdout.split(b"\n")
    if not lines or not lines[0]:
        return Outcome(problem=f"no output, exit code {proc.returncode}, stderr "
                               f"{proc.stderr[-300:].decode('utf-8', 'replace')!r}")
    out = parse_line(lines[0], path)
    want_rc = 0 if out.ok else 1
    if out.problem is None and proc.returncode != want_rc:
        out.problem = f"exit code {proc.returncode}, expected {want_rc}"
    return out


# --- comparing -----------------------------------------------------------------

@dataclass
class Mismatch:
    case: Case
    category: str
    expected: str
    got: str
    where: str = ""      # first differing node of two values, for reading
    group: str = ""      # finer grouping key used by the summary


def _dumps(x) -> str:
    return json.dumps(x, sort_keys=True)


def first_difference(a, b, path="$"):
    """(path, expected node, got node) of the first place two values differ."""
    if type(a) is type(b):
        if isinstance(a, list):
            if len(a) != len(b):
                # Report the container itself: merged or duplicated entries
                # are clearer there than at the first shifted element.
                return path, a, b
            if path.endswith((".$set", ".$frozenset")):
                # Elements are sorted by their JSON text, so one differing
                # element shifts the rest: pair up the unmatched ones instead.
                only_a = [x for x in a if _dumps(x) not in {_dumps(y) for y in b}]
                only_b = [y for y in b if _dumps(y) not in {_dumps(x) for x in a}]
                if only_a and only_b:
                    x = only_a[0]
                    y = max(only_b, key=lambda y: _similarity(x, y))
                    return first_difference(x, y, f"{path}[?]")
            for i, (x, y) in enumerate(zip(a, b)):
                if _dumps(x) != _dumps(y):
                    return first_difference(x, y, f"{path}[{i}]")
        elif isinstance(a, dict) and a.keys() == b.keys():
            for k in a:
                if _dumps(a[k]) != _dumps(b[k]):
                    return first_difference(a[k], b[k], f"{path}.{k}")
    return path, a, b


def _similarity(x, y) -> int:
    """How alike two set elements look: same kind, then equal tuple items."""
    if node_kind(x) != node_kind(y):
        return -1
    xs, ys = (n.get("$tuple") if isinstance(n, dict) else None for n in (x, y))
    if isinstance(xs, list) and isinstance(ys, list):
        return sum(_dumps(a) == _dumps(b) for a, b in zip(xs, ys)) - abs(len(xs) - len(ys))
    return 0


def node_kind(node) -> str:
    """Short type tag of a JSON value node, for grouping mismatches."""
    if isinstance(node, bool) or node is None:
        return json.dumps(node)
    if isinstance(node, int):
        return "int"
    if isinstance(node, float):
        return "float"
    if isinstance(node, str):
        return "str"
    if isinstance(node, list):
        return "list"
    if isinstance(node, dict):
        tags = sorted(k for k in node if k.startswith("$"))
        if "$reduce" in node and isinstance(node["$reduce"], list) and node["$reduce"]:
            head = node["$reduce"][0]
            if isinstance(head, dict) and "$global" in head:
                return f"$reduce({head['$global']})"
        return "+".join(tags) or "object"
    return type(node).__name__


_SPECIFICS = re.compile(r"0x[0-9a-fA-F]+|\d+|'[^']*'|\"[^\"]*\"")


def reason_key(text: str) -> str:
    """An error message with its specifics (numbers, quoted bits) blanked."""
    return _SPECIFICS.sub("#", text)[:120]


def describe_expected(case: Case) -> str:
    if case.expect_ok:
        v = case.expect_value
        return "accept" + (f", value {v}" if v is not None else " (value not compared)")
    return f"reject (CPython: {case.cpython_reason or 'policy'})"


def describe_got(out: Outcome) -> str:
    if out.problem:
        return f"{out.problem}; line: {out.line[:300]}"
    if out.ok:
        return f"accept, line {out.line}"
    return f"reject {json.dumps(out.error, ensure_ascii=False)}"


_MUTABLE_KINDS = ("$dict", "$set", "$bytearray")


def unhashable_element(doc) -> str | None:
    """Path of a set element or dict key that CPython could never hold
    (a list, dict, set, bytearray, or a tuple containing one), else None."""
    defs = pgjson.collect_defs(doc)

    def unhashable(node, active=frozenset()):
        if isinstance(node, list):
            return True
        if not isinstance(node, dict):
            return False
        if "$id" in node and "$value" in node:
            return unhashable(node["$value"], active)
        if set(node) == {"$ref"}:
            n = node["$ref"]
            return n not in active and n in defs and unhashable(defs[n], active | {n})
        if any(k in node for k in _MUTABLE_KINDS):
            return True
        if "$tuple" in node and isinstance(node["$tuple"], list):
            return any(unhashable(x, active) for x in node["$tuple"])
        return False

    stack = [(doc, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((x, f"{path}[{i}]") for i, x in enumerate(node))
        elif isinstance(node, dict):
            for kind in ("$set", "$frozenset"):
                if isinstance(node.get(kind), list):
                    for i, x in enumerate(node[kind]):
                        if unhashable(x):
                            return f"{path}.{kind}[{i}]"
            if isinstance(node.get("$dict"), list):
                for i, kv in enumerate(node["$dict"]):
                    if isinstance(kv, list) and kv and unhashable(kv[0]):
                        return f"{path}.$dict[{i}] key"
            stack.extend((v, f"{path}.{k}") for k, v in node.items())
    return None


def compare(case: Case, out: Outcome, readers: tuple[str, str] = ("", "")) -> tuple[str, Mismatch | None]:
    """Return ("pass"|"skip"|"fail", mismatch). ``readers`` is how the three
    readers relate on the case (stub_unpickler.disagreement)."""
    kind, disagree = readers
    if out.problem:
        return "fail", Mismatch(case, "contract/crash", describe_expected(case), describe_got(out),
                                group=reason_key(out.problem))
    if kind == "disagree":
        # What either reader would do decides: only a rejection is right.
        if out.ok:
            return "fail", Mismatch(case, "readers disagree, pickleguard accepts",
                                    f"reject (readers disagree: {disagree})", describe_got(out),
                                    group=reason_key(disagree.split(":")[0]))
        return "pass", None
    if kind == "prefix" and out.ok is False and "pickle.py" in str(out.error.get("reason", "")):
        # A reader failed after a prefix of what loads did, so loads' reading
        # would do; pickleguard may be stricter, but only saying why.
        return "pass", None
    if out.ok is False:
        # The error must point into the input, at the opcode it names.
        off, op = out.error["offset"], out.error["opcode"]
        if off > len(case.data) or (op is not None and (
                off >= len(case.data) or case.data[off] != OPCODE_CODES[op])):
            return "fail", Mismatch(case, "contract/crash", describe_expected(case), describe_got(out),
                                    group="error offset does not point at the named opcode")
    if case.expect_ok and not out.ok:
        if case.allow_limit and str(out.error.get("reason", "")).startswith("limit:"):
            return "skip", None
        return "fail", Mismatch(case, "CPython accepts, pickleguard rejects",
                                describe_expected(case), describe_got(out),
                                group=reason_key(str(out.error.get("reason", ""))))
    if not case.expect_ok and out.ok:
        return "fail", Mismatch(case, "CPython rejects, pickleguard accepts",
                                describe_expected(case), describe_got(out),
                                group=reason_key(case.cpython_reason))
    if out.ok and out.value_text is not None:
        # Whatever the case, an accepted value must be one CPython can hold.
        try:
            bad = unhashable_element(json.loads(out.value_text)["value"])
        except RecursionError:
            bad = None
        if bad:
            return "fail", Mismatch(case, "impossible value", describe_expected(case),
                                    describe_got(out), f"unhashable element at {bad}",
                                    "unhashable set element or dict key")
    if out.ok and case.expect_value is not None:
        try:
            doc = json.loads(out.value_text)["value"]
            got = pgjson.canonical(doc, sort_sets=not case.exact)
        except RecursionError:
            return "fail", Mismatch(case, "value differs", describe_expected(case),
                                    "value too deep to compare")
        except Exception as exc:    # noqa: BLE001 - any oddity is a finding
            return "fail", Mismatch(case, "value differs", describe_expected(case),
                                    f"cannot normalise value ({exc}); line {out.line[:300]}")
        if got != case.expect_value:
            path, a, b = first_difference(json.loads(case.expect_value), json.loads(got))
            where = f"{path}: expected {_dumps(a)[:300]} got {_dumps(b)[:300]}"
            group = f"expected {node_kind(a)}, got {node_kind(b)}"
            if isinstance(a, list) and isinstance(b, list) and len(a) != len(b):
                group = f"{path.rsplit('.', 1)[-1]} with {len(a)} entries, got {len(b)}"
            return "fail", Mismatch(case, "value differs", describe_expected(case),
                                    f"accept, value {got}", where, group)
    return "pass", None


def format_mismatch(m: Mismatch) -> str:
    c = m.case
    proto = "-" if c.protocol is None else str(c.protocol)
    hexdata = c.data[:HEX_LIMIT].hex()
    more = f" ... (+{len(c.data) - HEX_LIMIT} bytes)" if len(c.data) > HEX_LIMIT else ""
    lines = [f"MISMATCH [{m.category}] {c.name} (origin {c.origin}, protocol {proto}, {len(c.data)} bytes)",
             f"  pickle:   {hexdata}{more}",
             f"  expected: {m.expected}",
             f"  got:      {m.got}"]
    if m.where:
        lines.append(f"  differs:  {m.where}")
    if c.note:
        lines.append(f"  note:     {c.note}")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pickleguard", required=True, help="path of the pickleguard binary")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--count", type=int, default=1000, help="random values to generate (default 1000)")
    ap.add_argument("--mutants", type=int, default=None, help="mutants of random pickles (default 25 x count); edge-case mutants come on top")
    ap.add_argument("--workdir", default=os.path.join(REPO, "build", "differential"),
                    help="where failing inputs are written (default build/differential)")
    ap.add_argument("--only", default="", help="comma list of origins: seed,random,edge,mutant")
    ap.add_argument("--corpus", action="append", default=[], metavar="DIR",
                    help="also replay every file of this fuzzing corpus (repeatable)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--max-print", type=int, default=0,
                    help="print at most this many mismatches (0 = all); all go to the workdir")
    args = ap.parse_args()
    if args.mutants is None:
        args.mutants = 25 * args.count
    gen_random.ensure_fixed_hash_seed()     # re-execs once; must precede generation

    binary = os.path.abspath(args.pickleguard)
    if not os.access(binary, os.X_OK):
        print(f"cannot execute {binary}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    t0 = time.time()
    cases, skipped = collect(args)
    t_gen = time.time() - t0

    # Tens of thousands of small files: a RAM-backed directory is several
    # times faster to fill than a disk-backed /tmp.
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    tmp = tempfile.mkdtemp(prefix="pgdiff-", dir=os.environ.get("PGDIFF_TMPDIR", shm))
    try:
        paths = []
        for i, case in enumerate(cases):
            p = os.path.join(tmp, f"{i:05d}.pkl")
            with open(p, "wb") as f:
                f.write(case.data)
            paths.append(p)
        report = BatchReport()
        batches = [list(range(i, min(i + BATCH_SIZE, len(cases))))
                   for i in range(0, len(cases), BATCH_SIZE)]
        outcomes: list[Outcome | None] = [None] * len(cases)
        t1 = time.time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(run_batch, binary, [paths[i] for i in b], report): b for b in batches}
            # Meanwhile, in this thread: the three readers on every case.
            disagree, reader_stats = readers_pass(cases, paths)
            t_readers = time.time() - t1
            for fut in concurrent.futures.as_completed(futures):
                for i, out in zip(futures[fut], fut.result()):
                    outcomes[i] = out
        t_run = time.time() - t1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    results = collections.Counter()
    by_origin = collections.defaultdict(collections.Counter)
    mismatches: list[Mismatch] = []
    for case, out, dis in zip(cases, outcomes, disagree):
        verdict, mm = compare(case, out, dis)
        results[verdict] += 1
        by_origin[case.origin][verdict] += 1
        if verdict == "skip":
            skipped["pickleguard 'limit:' on a CPython-accepted input"] += 1
        if mm:
            mismatches.append(mm)

    fail_dir = os.path.join(args.workdir, "failures")
    os.makedirs(fail_dir, exist_ok=True)
    for name in os.listdir(fail_dir):           # only our own previous outputs
        if name.endswith(".pkl") or name == "mismatches.txt":
            os.remove(os.path.join(fail_dir, name))
    with open(os.path.join(fail_dir, "mismatches.txt"), "w", encoding="utf-8") as log:
        for n, m in enumerate(mismatches):
            text = format_mismatch(m)
            log.write(text + "\n\n")
            with open(os.path.join(fail_dir, m.case.name + ".pkl"), "wb") as f:
                f.write(m.case.data)
            if not args.max_print or n < args.max_print:
                print(text)
        if args.max_print and len(mismatches) > args.max_print:
            print(f"... {len(mismatches) - args.max_print} more mismatches in {log.name}")

    print()
    print(f"pickleguard: {binary}")
    print(f"seed {args.seed}, count {args.count}: {len(cases)} cases generated in {t_gen:.1f}s, "
          f"checked in {t_run:.1f}s ({len(batches)} batches)")
    print(f"three readers (loads, file, BytesIO, pickle._Unpickler) on every case in {t_readers:.1f}s: "
          f"{reader_stats['agree']} agree, {reader_stats['disagree']} disagree (pickleguard must reject), "
          f"{reader_stats['prefix']} where a reader fails after a prefix of what loads did")
    for why, n in sorted(reader_stats.items()):
        if why not in ("agree", "disagree", "prefix"):
            print(f"  {why}: {n}")
    for origin in ("seed", "random", "edge", "mutant", "corpus", "frame"):
        if origin in by_origin:
            c = by_origin[origin]
            valued = sum(1 for case in cases if case.origin == origin and case.expect_value is not None)
            print(f"  {origin:7} {c['pass']:6} passed {c['fail']:5} failed {c['skip']:5} skipped"
                  f" ({valued} with values compared)")
    for reason, n in sorted(skipped.items()):
        print(f"  skipped: {n} x {reason}")
    cats = collections.Counter(m.category for m in mismatches)
    for cat, n in cats.most_common():
        print(f"  mismatches: {n} x {cat}")
    # Per finer group, the smallest input is the best reproducer to look at.
    groups = collections.defaultdict(list)
    for m in mismatches:
        groups[(m.category, m.group)].append(m)
    if groups:
        print("mismatch groups (smallest reproducer of each):")
    for (cat, group), ms in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        small = min(ms, key=lambda m: (len(m.case.data), m.case.name))
        print(f"  {len(ms):5} x [{cat}] {group}")
        print(f"          e.g. {small.case.name} ({len(small.case.data)} bytes): {small.case.data[:HEX_LIMIT].hex()}")
    if EXTRA_ERROR_KEYS:
        print(f"  note: error objects also carry {', '.join(sorted(EXTRA_ERROR_KEYS))}")
    for a in report.anomalies:
        print(f"  batch anomaly: {a}")
    if mismatches:
        print(f"  failing inputs written to {fail_dir}")
    failed = results["fail"] + len(report.anomalies)
    print(f"{results['pass']} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
