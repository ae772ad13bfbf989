#!/usr/bin/python3
"""Seeds for wire_fuzzer: scan_outcome records (lib/src/sandbox/wire.cpp)
built from real JSON reports.

    pickleguard scan --format json tests/fixtures > report.json
    PYTHONPATH=build/python fuzz/make_wire_seeds.py report.json fuzz/corpus/wire_fuzzer

The report's fields are written in the order and with the kinds of the
report schema (pickleguard/report_schema.hpp), which the built Python
module exports; only scan_outcome's own fields (skip reason first, text
last) are spelled here, as in wire.cpp's outcome_fields, and a location's
step (from the JSON's text, all a JSON report keeps of it). The fuzzer rejects
nothing it accepts, so a seed that no longer parses only costs coverage
(wire_fuzzer -runs=0 on the folder shows it).
"""
import json
import os
import struct
import sys

from pickleguard import REPORT_SCHEMA

TABLES = REPORT_SCHEMA["tables"]
ENUMS = REPORT_SCHEMA["enumerations"]
# The bits behind the report's words (pickleguard::use_words in policy.hpp).
# "reference" is how a report spells no bits, so it adds none here.
USES = {w: b for w, b in REPORT_SCHEMA["uses"].items() if w != "reference"}
WIDTHS = {1: "<B", 8: "<Q"}


def s(v):
    b = (v or "").encode("utf-8", "surrogateescape")
    return struct.pack("<I", len(b)) + b


def value(name, kind, item, size, v):
    if kind in ("text", "text_or_null"):
        return s(v)
    if kind == "number":
        return struct.pack(WIDTHS[size], v)
    if kind == "optional_number":
        return b"\0" if v is None else b"\1" + struct.pack("<Q", v)
    if kind == "flag":
        return bytes([1 if v else 0])
    if kind == "uses":
        return bytes([sum(USES.get(w.strip(), 0) for w in (v or "").split(","))])
    if kind == "enumeration":
        return bytes([ENUMS[name].index(v)])
    if kind == "location":
        # The JSON has only the rendered text: it becomes one member step
        # (kind 0, the text, index 0, offset 0), which renders the same.
        return struct.pack("<I", 0) if not v else struct.pack("<I", 1) + b"\0" + s(v) + struct.pack("<QQ", 0, 0)
    if kind == "list":
        items = [s(x) if item == "text" else struct_record(item, x) for x in v]
        return struct.pack("<I", len(items)) + b"".join(items)
    raise ValueError(f"report schema kind {kind!r} of {name!r} is unknown here")


def struct_record(table, obj):
    return b"".join(value(name, kind, item, size, obj.get(name)) for name, kind, item, size in TABLES[table])


def record(f, skip=None, text=""):
    out = b"\1" + s(skip) if skip is not None else b"\0"
    return out + struct_record("file_report", f) + s(text)


def main():
    report, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    files = json.load(open(report))["files"]
    picked = {}
    # One file per (verdict, has findings, has globals, in a container), smallest first.
    for f in sorted(files, key=lambda f: len(json.dumps(f))):
        key = (f["verdict"], bool(f["findings"]), bool(f["globals"]), any(x["member"] for x in f["findings"]))
        picked.setdefault(key, f)
    seeds = [record(f) for f in picked.values()]
    seeds.append(record({"path": "a", "format": "", "readings": [], "verdict": "safe", "bytes": 0, "pickles": 0,
                         "findings": [], "globals": []}, skip="not a pickle container"))
    seeds.append(record(next(iter(picked.values())), text="explain output\n"))
    for i, seed in enumerate(seeds):
        with open(os.path.join(outdir, f"seed{i:02d}.bin"), "wb") as out:
            out.write(seed)
    print(f"{len(seeds)} seeds in {outdir}")


if __name__ == "__main__":
    main()
