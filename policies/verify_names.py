#!/usr/bin/python3
"""Check that the globals named in the knowledge base and the policies exist.

    /usr/bin/python3 policies/verify_names.py [--json]

For every entry of policies/knowledge/dangerous.toml and every [[allow]] entry
of policies/*.toml this imports the module, in one fresh interpreter per
top-level package (one library's import side effects cannot hide another's
failure; a library's own modules import one another anyway), several
packages at once, and:
  * for ``name``: walks the dotted name with getattr, as find_class does;
  * for ``name_pattern``: counts the names that match among the module's
    attributes and its classes' attributes ("Class.attr"), since a dotted
    protocol-4 name can reach those.
Nothing found is ever called.

Entries whose comment line above says "# unverified:" or whose note says
"(not in the installed ..." are expected to be missing and are reported
separately.  The exit status is 1 when an entry not marked so is missing.
"""

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r'''
import importlib, json, re, sys, warnings
warnings.filterwarnings("ignore")
def walk(obj, dotted):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
def candidates(mod):
    names = set(dir(mod))
    for n in list(names):
        try:
            v = getattr(mod, n)
        except Exception:
            continue
        if isinstance(v, type):
            names.update(f"{n}.{a}" for a in dir(v))
    return names
def check(module, queries):
    try:
        mod = importlib.import_module(module)
    except BaseException as e:
        return {"import_error": f"{type(e).__name__}: {e}"}
    out = []
    cand = None
    for q in queries:
        if "name" in q:
            try:
                walk(mod, q["name"])
                out.append({"ok": True})
            except Exception as e:
                out.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
        else:
            if cand is None:
                cand = candidates(mod)
            rx = re.compile(q["name_pattern"])
            hits = sorted(n for n in cand if rx.fullmatch(n))
            out.append({"ok": bool(hits), "matches": hits})
    return {"results": out}
print(json.dumps([check(module, queries) for module, queries in json.loads(sys.stdin.read())]))
'''


def unverified_markers(path):
    """Indexes of [[global]]/[[allow]] tables preceded by '# unverified:'."""
    marked = set()
    idx = -1
    pending = False
    with open(path) as f:
        for line in f:
            s = line.strip()
            if s.startswith("# unverified:"):
                pending = True
            elif s in ("[[global]]", "[[allow]]"):
                idx += 1
                if pending:
                    marked.add(idx)
                pending = False
            elif s and not s.startswith("#"):
                pass
    return marked


def entries():
    out = []
    kb = os.path.join(HERE, "knowledge", "dangerous.toml")
    with open(kb, "rb") as f:
        data = tomllib.load(f)
    marked = unverified_markers(kb)
    for i, g in enumerate(data.get("global", [])):
        out.append(("knowledge/dangerous.toml", i, g, i in marked))
    for fn in sorted(os.listdir(HERE)):
        if not fn.endswith(".toml"):
            continue
        path = os.path.join(HERE, fn)
        with open(path, "rb") as f:
            data = tomllib.load(f)
        marked = unverified_markers(path)
        for i, a in enumerate(data.get("allow", [])):
            if "module" not in a:
                continue  # module_pattern entries cannot be imported
            expect_missing = i in marked or "(not in the installed" in a.get("note", "")
            out.append((fn, i, a, expect_missing))
    return out


def main():
    ents = entries()
    by_module = {}
    for e in ents:
        by_module.setdefault(e[2]["module"], []).append(e)
    def query(es):
        return [{"name": e[2]["name"]} if "name" in e[2] else {"name_pattern": e[2]["name_pattern"]} for e in es]

    def check(group):
        p = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps([(m, query(es)) for m, es in group]),
                           capture_output=True, text=True, timeout=1800)
        try:
            res = json.loads(p.stdout.strip().splitlines()[-1])
            assert isinstance(res, list) and len(res) == len(group)
            return res
        except Exception:
            return [{"import_error": "child failed: " + p.stderr[-300:]}] * len(group)

    # One interpreter per top-level package: a library's modules import one
    # another anyway, so a fresh interpreter per module (thousands in the
    # generated policies, most of the time spent importing the same
    # package again) isolated nothing more; packages run several at once.
    modules = sorted(by_module.items())
    groups = {}
    for module, es in modules:
        groups.setdefault(module.split(".")[0], []).append((module, es))
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = dict(zip(groups, pool.map(check, groups.values())))
    results = [r for top in groups for r in done[top]]
    modules = [item for top in groups for item in groups[top]]
    report = []
    for (module, es), res in zip(modules, results):
        for k, e in enumerate(es):
            label = e[2].get("name", e[2].get("name_pattern"))
            if "import_error" in res:
                ok, detail = False, res["import_error"]
            else:
                r = res["results"][k]
                ok = r["ok"]
                detail = r.get("error") or (f"{len(r['matches'])} match(es)" if "matches" in r else "")
            report.append({"file": e[0], "index": e[1], "module": module, "name": label,
                           "found": ok, "expected_missing": e[3], "detail": detail})
    bad = [r for r in report if not r["found"] and not r["expected_missing"]]
    stale = [r for r in report if r["found"] and r["expected_missing"]]
    if "--json" in sys.argv:
        json.dump(report, sys.stdout, indent=1)
        print()
    else:
        for r in report:
            if not r["found"]:
                tag = "missing (marked unverified)" if r["expected_missing"] else "MISSING"
                print(f"{tag}: {r['file']} {r['module']}:{r['name']}  {r['detail']}")
        for r in stale:
            print(f"marked unverified but found: {r['file']} {r['module']}:{r['name']}")
        print(f"{len(report)} entries checked, {sum(r['found'] for r in report)} found, "
              f"{len(bad)} missing without a mark")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
