#!/usr/bin/python3
"""policies/numpy-data.toml (what default includes of numpy) against the generated numpy policy.

    numpy_data_test.py

`default` includes `numpy-data`, the names pickles of numpy values use,
instead of the generated `numpy` (every class and function of numpy the
generator admits). Each numpy-data entry is copied from the reviewed numpy
entries, which the generator merges into policies/numpy.toml. A bound added
there later (or a use taken away) would leave default looser than numpy for
the same global, so every numpy-data entry must be in numpy.toml with the
same uses, invokes and bounds; notes may differ. numpy-data lists exact names
only, so a pattern cannot widen it past what numpy.toml names.
"""
import pathlib
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def entries(name):
    doc = tomllib.loads((ROOT / "policies" / f"{name}.toml").read_text())
    return doc, doc.get("allow", [])


def comparable(e):
    """The entry without its note, uses as a set: what the judge reads."""
    return {k: (sorted(v) if k == "uses" else v) for k, v in e.items() if k != "note"}


def main():
    errors = []
    data_doc, data = entries("numpy-data")
    _, numpy = entries("numpy")
    if data_doc.get("include") != ["python"]:
        errors.append(f"numpy-data includes {data_doc.get('include')}, expected ['python'] (what numpy includes)")
    by_name = {(e["module"], e["name"]): e for e in numpy if "module" in e and "name" in e}
    seen = set()
    for e in data:
        if "module" not in e or "name" not in e:
            errors.append(f"numpy-data entry {e.get('module', e.get('module_pattern'))}."
                          f"{e.get('name', e.get('name_pattern'))}: a pattern (numpy-data names globals exactly)")
            continue
        key = (e["module"], e["name"])
        if key in seen:
            errors.append(f"{key[0]}.{key[1]} listed twice in numpy-data")
        seen.add(key)
        gen = by_name.get(key)
        if gen is None:
            errors.append(f"{key[0]}.{key[1]}: in numpy-data, not in the generated numpy policy")
        elif comparable(e) != comparable(gen):
            errors.append(f"{key[0]}.{key[1]}: numpy-data has {comparable(e)}, numpy.toml {comparable(gen)}")
    print(f"{len(data)} numpy-data entries checked against {len(numpy)} of numpy.toml")
    for err in errors:
        print("FAIL:", err)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
