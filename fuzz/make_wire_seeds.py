#!/usr/bin/python3
"""Seeds for wire_fuzzer: scan_outcome records (lib/src/sandbox/wire.cpp)
built from real JSON reports.

    pickleguard scan --format json tests/fixtures > report.json
    fuzz/make_wire_seeds.py report.json fuzz/corpus/wire_fuzzer

Writes the wire form by hand, field by field in the order of wire.cpp's
`fields` lists; the fuzzer rejects nothing it accepts, so a seed that no
longer parses only costs coverage (wire_fuzzer -runs=0 on the folder shows it).
"""
import json
import os
import struct
import sys

VERDICTS = ["safe", "unsafe", "error"]
SEVERITIES = ["info", "low", "medium", "high", "critical"]
USES = {"call": 1, "new": 2, "build": 4, "append": 8, "setitem": 16, "additems": 32}


def s(v):
    b = (v or "").encode()
    return struct.pack("<I", len(b)) + b


def record(f, skip=None, text=""):
    out = b"\1" + s(skip) if skip is not None else b"\0"
    out += s(f["path"]) + s(f["format"]) + bytes([VERDICTS.index(f["verdict"])])
    out += struct.pack("<QQ", f["bytes"], f["pickles"])
    out += struct.pack("<I", len(f["findings"]))
    for x in f["findings"]:
        out += s(x["rule"]) + bytes([SEVERITIES.index(x["severity"])]) + s(x["message"]) + s(x["member"])
        out += b"\0" if x["offset"] is None else b"\1" + struct.pack("<Q", x["offset"])
        out += s(x["opcode"]) + s(x["module"]) + s(x["name"]) + bytes([1 if x["violation"] else 0])
    out += struct.pack("<I", len(f["globals"]))
    for g in f["globals"]:
        uses = sum(USES.get(w.strip(), 0) for w in (g["uses"] or "").split(","))
        out += s(g["module"]) + s(g["name"]) + s(g["raw_module"]) + s(g["raw_name"]) + s(g["member"])
        out += bytes([1 if g["allowed"] else 0, uses]) + struct.pack("<Q", g["offset"])
        out += s(g["opcode"]) + bytes([g["protocol"]])
    return out + s(text)


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
    seeds.append(record({"path": "a", "format": "", "verdict": "safe", "bytes": 0, "pickles": 0,
                         "findings": [], "globals": []}, skip="not a pickle container"))
    seeds.append(record(next(iter(picked.values())), text="explain output\n"))
    for i, seed in enumerate(seeds):
        with open(os.path.join(outdir, f"seed{i:02d}.bin"), "wb") as out:
            out.write(seed)
    print(f"{len(seeds)} seeds in {outdir}")


if __name__ == "__main__":
    main()
