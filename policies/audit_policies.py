#!/usr/bin/python3
"""Audit of every entry of every shipped policy: what loading runs with it,
and whether what it may allocate is bounded.

    /usr/bin/python3 -B policies/audit_policies.py [--format text|json] [--check] [POLICY...]

Imports the trusted libraries the policies name (never a pickle). For each
`[[allow]]` entry (patterns expanded against the installed module's
members) it writes a record: the entry, its uses, and for each use what
loading runs with the global, each as `module:qualname` and `python source`
or `native`:

  call of a class   the metaclass __call__ (if not type's), __new__, __init__
  call of a function  the function
  new               __new__ (NEWOBJ: cls.__new__(cls, *args))
  build             __setstate__, or object's default (dict update, then
                    setattr of slot state: __setattr__ and every property
                    setter and data descriptor in the MRO)
  append / setitem / additems   append and extend / __setitem__ / add
  reference         the call collections.defaultdict makes of a stored
                    factory, with no arguments

and the bounds the entry declares (max_int_arg, max_int_bytes,
str_arg_pattern, max_iter_len, min_args, max_args, args, invokes, state_arg).

With --check it fails (exit 1) on:
  * an entry without a note;
  * an entry that names a knowledge-base global (policies/knowledge/
    dangerous.toml) of severity medium or above, except functools.partial
    with uses call and build only (EXACT_ONLY: the judge calls a partial only
    as the call of the named global it binds, rule exact-partial);
  * an entry that resolves to nothing in the installed library, unless its
    note says the name is absent from this version ("not in the installed");
  * the cost: the Python code loading runs (and the library code it calls,
    followed as tools/pickleguard/policy_generate.py follows it) is scanned
    with the generator's own allocator rule (SizeEnv: bytes(n), seq * n,
    range(n), numpy.zeros(n), x ** n, math.factorial(n), int.to_bytes(n),
    str.ljust(n), format widths); a size the pickle chooses fails the entry
    unless the entry declares a bound (max_int_arg, max_int_bytes,
    str_arg_pattern, max_iter_len, min_args, max_args or args) on the
    arguments that reach it;
  * native code loading runs with the pickle's arguments (call, new, build,
    append, setitem, additems) that is not in the reviewed table
    policies/audit/native.toml, which gives for each the reason it is safe
    and the bound that makes it so. A reviewed native whose bound is missing
    from the entry is reported as an open finding (`open = "..."` in the
    table): listed in every run, not failing, until the policy is fixed.

A library that is not installed is skipped with a message naming it.
Output is deterministic (sorted, no addresses).
"""
import argparse
import ast
import importlib
import importlib.util
import inspect
import json
import pathlib
import re
import sys
import textwrap
import tomllib
import types
import warnings

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
GENERATOR = ROOT / "tools" / "pickleguard" / "policy_generate.py"
NATIVE_TABLE = HERE / "audit" / "native.toml"
KNOWLEDGE = HERE / "knowledge" / "dangerous.toml"
SEVERE = {"medium", "high", "critical"}
# Knowledge-base globals an entry may name because the judge never lets them
# do what the knowledge base names them for, with the uses that keeps so.
# functools.partial hides the callable it binds: the judge judges a call of a
# partial as the call of that named global (its own entry and bounds; rule
# exact-partial) and refuses any other partial; without "reference" the
# partial class itself is never handed to code that could call it. Generated
# policies write it for protocol 2's partial(C.__new__, C, ...)() (sympy).
EXACT_ONLY = {("functools", "partial"): {"call", "build"}}
BOUND_KEYS = ("max_int_arg", "max_int_bytes", "str_arg_pattern", "max_iter_len", "min_args", "max_args", "args")
ARG_USES = ("call", "new", "build", "append", "setitem", "additems")
FOLLOW_DEPTH = 6
# An entry's note that says the global is not in the installed version.
ABSENT_NOTE = re.compile(r"not in the installed|absent (from|in) (this|the installed)", re.IGNORECASE)


def load_generator():
    spec = importlib.util.spec_from_file_location("policy_generate", GENERATOR)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gen = load_generator()


def where(obj):
    """module:qualname of a function, method or class, as the record names it."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    owner = getattr(obj, "__objclass__", None)
    if owner is None and isinstance(getattr(obj, "__self__", None), type):
        owner = obj.__self__  # a classmethod of a native class, bound: ZoneInfo._unpickle
        return f"{owner.__module__}:{owner.__qualname__}.{obj.__name__}"
    mod = getattr(obj, "__module__", None) or (getattr(owner, "__module__", None) if owner else None) or "?"
    q = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    return f"{mod}:{q}"


def kind(obj):
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        try:
            inspect.getsource(obj)
            return "python source"
        except (OSError, TypeError):
            return "python, no source"
    return "native"


def slot(cls, attr):
    """(owner, function) of attr in cls's MRO, as CPython's type slot finds it."""
    return gen.owner_of(cls, attr)


def runs_for(obj, use):
    """What loading runs for `use` of obj: a list of (label, owner, callable)."""
    out = []
    if isinstance(obj, type):
        def add(label, cls, attr):
            owner, fn = slot(cls, attr)
            if owner is not None and fn is not None:
                out.append((label, owner, fn))
        if use in ("call", "reference"):
            meta = type(obj)
            if slot(meta, "__call__")[0] is not type:
                add("metaclass __call__", meta, "__call__")
            add("__new__", obj, "__new__")
            add("__init__", obj, "__init__")
        elif use == "new":
            add("__new__", obj, "__new__")
        elif use == "build":
            owner, fn = slot(obj, "__setstate__")
            if owner is not None and owner is not object:
                out.append(("__setstate__", owner, fn))
            else:
                out.append(("default BUILD: __dict__ update, setattr of slot state", None, None))
                add("__setattr__", obj, "__setattr__")
                add("__getattr__ (BUILD looks up __setstate__)", obj, "__getattr__")
                for k in obj.__mro__:
                    if k is object:
                        continue
                    for name, d in sorted(vars(k).items()):
                        if isinstance(d, property) and d.fset is not None:
                            out.append((f"setter of {k.__qualname__}.{name}", k, d.fset))
                        elif hasattr(type(d), "__set__") and not isinstance(
                                d, (types.MemberDescriptorType, types.GetSetDescriptorType, property)):
                            out.append((f"{type(d).__qualname__}.__set__ ({name})", type(d),
                                        inspect.getattr_static(type(d), "__set__")))
        elif use == "append":
            add("append", obj, "append")
            add("extend", obj, "extend")
        elif use == "setitem":
            add("__setitem__", obj, "__setitem__")
        elif use == "additems":
            add("add", obj, "add")
    elif callable(obj):
        if use in ("call", "reference"):
            out.append(("the function" if use == "call" else "the function, without arguments", None, obj))
    return out


class CostScan:
    """Follows the Python code loading runs and lists the allocator sites the
    generator's rule (SizeEnv) finds sized by a value the pickle chooses."""

    def __init__(self):
        self.memo = {}
        self.scanner = gen.Scanner([])

    def scan(self, fn, cls, top, depth=0):
        """[(site, finding)] for fn (and what it calls within package `top`)."""
        if isinstance(fn, (staticmethod, classmethod)):
            fn = fn.__func__
        code = getattr(fn, "__code__", None)
        if code is None or depth > FOLLOW_DEPTH:
            return []
        key = (code, cls)
        if key in self.memo:
            return self.memo[key] or []
        self.memo[key] = None  # recursion: the outer scan reads the whole body
        found = []
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(code)))
        except (OSError, TypeError, SyntaxError):
            self.memo[key] = []
            return []
        node = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.Lambda))), None)
        if node is None:
            self.memo[key] = []
            return []
        a = node.args
        params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
        params += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
        first = params[0] if params and cls is not None and not isinstance(
            inspect.getattr_static(cls, fn.__name__, None), staticmethod) else None
        g = getattr(fn, "__globals__", {})
        try:  # the function's own imports and closure cells name allocators too
            local = self.scanner.local_names(fn, fn.__code__, node, params)
        except (gen.Refused, AttributeError):
            local = None
        sizes = gen.SizeEnv(node, params, first, g, local)
        site = where(fn)
        for n in ast.walk(node):
            try:
                sizes.check(n, site, self.scanner)
            except gen.Refused as r:
                found.append((site, str(r)[len(site) + 2:]))
            if isinstance(n, ast.Call):
                for callee, owner in self.callees(n.func, g, cls, first, params):
                    if getattr(callee, "__module__", "").split(".")[0] == top:
                        if isinstance(callee, type):
                            for attr in ("__new__", "__init__"):
                                o, f = slot(callee, attr)
                                if o is not None and o is not object:
                                    found += self.scan(f, o, top, depth + 1)
                        else:
                            found += self.scan(callee, owner, top, depth + 1)
        found = sorted(set(found))
        self.memo[key] = found
        return found

    def callees(self, f, g, cls, first, params):
        if isinstance(f, ast.Name) and f.id not in params:
            ok, obj = self.scanner.resolve_global(f.id, g)
            if ok and (isinstance(obj, (types.FunctionType, type))):
                yield obj, None
        elif isinstance(f, ast.Attribute):
            v = f.value
            if isinstance(v, ast.Name) and v.id == first and cls is not None:
                owner, fn = slot(cls, f.attr)
                if isinstance(fn, (types.FunctionType, staticmethod, classmethod)):
                    yield fn, owner
            elif isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super" and cls:
                for k in cls.__mro__[1:]:
                    if f.attr in vars(k):
                        fn = vars(k)[f.attr]
                        if isinstance(fn, (types.FunctionType, staticmethod, classmethod)):
                            yield fn, k
                        break
            elif isinstance(v, ast.Name) and v.id not in params:
                ok, obj = self.scanner.resolve_global(v.id, g)
                if ok and isinstance(obj, (types.ModuleType, type)):
                    try:
                        t = inspect.getattr_static(obj, f.attr)
                    except AttributeError:
                        return
                    if isinstance(t, (types.FunctionType, type, staticmethod, classmethod)):
                        yield t, obj if isinstance(obj, type) else None


def load_native_table():
    doc = tomllib.loads(NATIVE_TABLE.read_text())
    exact, patterns = {}, []
    for e in doc.get("native", []):
        for k in ("reason", "bound"):
            if not e.get(k):
                sys.exit(f"{NATIVE_TABLE}: a [[native]] entry without {k}: {e}")
        if "callable" in e:
            exact[e["callable"]] = e
        elif "callable_pattern" in e:
            patterns.append((re.compile(e["callable_pattern"]), e))
        else:
            sys.exit(f"{NATIVE_TABLE}: a [[native]] entry without callable or callable_pattern: {e}")
    costs = []
    for e in doc.get("cost", []):
        if not e.get("entry") or not (e.get("reason") or e.get("open")):
            sys.exit(f"{NATIVE_TABLE}: a [[cost]] entry needs entry and reason (or open): {e}")
        costs.append((e["entry"], re.compile(e.get("finding_pattern", ".*")), e))
    return NativeTable(exact, patterns, costs)


class NativeTable:
    def __init__(self, exact, patterns, costs):
        self.exact, self.patterns, self.costs = exact, patterns, costs

    def cost_review(self, entry, finding):
        """The [[cost]] row that reviewed this allocator site of this entry, or None."""
        return next((e for name, p, e in self.costs if name == entry and p.search(finding)), None)

    def get(self, site):
        if site in self.exact:
            return self.exact[site]
        return next((e for p, e in self.patterns if p.fullmatch(site)), None)


def load_knowledge():
    doc = tomllib.loads(KNOWLEDGE.read_text())
    return [g for g in doc.get("global", []) if g.get("severity") in SEVERE]


def kb_hits(kb, module, name):
    out = []
    for g in kb:
        if g["module"] != module:
            continue
        if ("name" in g and g["name"] == name) or ("name_pattern" in g and re.fullmatch(g["name_pattern"], name)):
            out.append(f"{g['module']}.{g.get('name', g.get('name_pattern'))} ({g['severity']}: {g['reason']})")
    return out


def import_module(modname):
    """The module, 'missing' when its top-level package is not installed, or None."""
    top = modname.split(".")[0]
    if importlib.util.find_spec(top) is None:
        return "missing"
    try:
        return importlib.import_module(modname)
    except BaseException:  # noqa: B036 -- an optional dependency missing, SystemExit in a script
        return None


def resolve(mod, name):
    obj = mod
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except Exception:  # noqa: BLE001 -- absent, or a module whose __getattr__ raises
            return None
    return obj


def expand(entry):
    """[(module, name, object or None)] for an entry; the library's absence raises LookupError."""
    if "module" in entry:
        mods = [entry["module"]]
    else:
        pat = re.compile(entry["module_pattern"])
        mods = sorted(m for m in list(sys.modules) if pat.fullmatch(m))
    out = []
    for m in mods:
        mod = import_module(m)
        if mod == "missing":
            raise LookupError(m.split(".")[0])
        if "name" in entry:
            out.append((m, entry["name"], resolve(mod, entry["name"]) if mod else None))
        elif mod:
            pat = re.compile(entry["name_pattern"])
            for attr in sorted(dir(mod)):
                if pat.fullmatch(attr):
                    out.append((m, attr, resolve(mod, attr)))
    return out


def audit(policy_files, native, kb):
    cost = CostScan()
    records, skipped, errors, opened = [], [], [], []
    for path in policy_files:
        pol = tomllib.loads(path.read_text())
        for i, entry in enumerate(pol.get("allow", [])):
            label = f"{path.name}:{entry.get('module', entry.get('module_pattern'))}:" \
                    f"{entry.get('name', entry.get('name_pattern'))}"
            uses = entry.get("uses", ["reference"])
            bounds = {k: entry[k] for k in BOUND_KEYS + ("invokes", "state_arg") if k in entry}
            if not entry.get("note"):
                errors.append(f"{label}: no note")
            try:
                targets = expand(entry)
            except LookupError as e:
                skipped.append(f"{label}: {e} is not installed")
                continue
            if not any(obj is not None for _, _, obj in targets):
                if not ABSENT_NOTE.search(entry.get("note", "")):
                    errors.append(f"{label}: resolves to nothing in the installed library "
                                  "(and its note does not say it is absent from this version)")
            for module, name, obj in targets:
                exact = EXACT_ONLY.get((module, name))
                if exact is not None and set(uses) <= exact:
                    pass  # judged as the call it makes (EXACT_ONLY)
                else:
                    for hit in kb_hits(kb, module, name):
                        errors.append(f"{label}: {module}.{name} is a knowledge-base global: {hit}")
                rec = {"policy": path.name, "entry": f"{module}.{name}", "uses": uses, "bounds": bounds,
                       "resolved": obj is not None, "runs": {}, "cost": [], "native": []}
                records.append(rec)
                if obj is None:
                    continue
                top = module.split(".")[0]
                for use in uses:
                    ran = []
                    for what, owner, fn in runs_for(obj, use):
                        if fn is None:
                            ran.append({"what": what})
                            continue
                        k = kind(fn)
                        site = where(fn) if not (owner and k == "native") else \
                            f"{owner.__module__}:{owner.__qualname__}.{getattr(fn, '__name__', what)}"
                        ran.append({"what": what, "runs": site, "kind": k})
                        if use not in ARG_USES:
                            continue  # reference: called with no arguments, nothing the pickle sizes
                        if k == "native":
                            rev = native.get(site)
                            if rev is None:
                                errors.append(f"{label}: {use} of {module}.{name} runs native {site}, "
                                              f"not in {NATIVE_TABLE.relative_to(ROOT)}")
                                rec["native"].append({"runs": site, "reviewed": False})
                                continue
                            need = rev.get("requires")
                            rec["native"].append({"runs": site, "reviewed": True, "bound": rev["bound"]})
                            if need and not any(b in entry for b in need):
                                msg = f"{label}: {use} runs {site}: needs one of {need} ({rev['bound']})"
                                if rev.get("open"):
                                    opened.append(f"{msg}; OPEN: {rev['open']}")
                                else:
                                    errors.append(msg)
                        else:
                            for s, finding in cost.scan(fn, owner if isinstance(owner, type) else None, top):
                                text = f"{s}: {finding}"
                                if any(b in entry for b in BOUND_KEYS):
                                    rec["cost"].append(f"{text} [bounded by the entry]")
                                    continue
                                rev = native.cost_review(f"{module}.{name}", text)
                                msg = f"{label}: {use} runs {site}, which at {s} {finding}"
                                if rev is None:
                                    rec["cost"].append(text)
                                    errors.append(f"{msg}; the entry declares no bound")
                                elif rev.get("open"):
                                    rec["cost"].append(f"{text} [OPEN]")
                                    opened.append(f"{msg}; OPEN: {rev['open']}")
                                else:
                                    rec["cost"].append(f"{text} [reviewed: {rev['reason']}]")
                    rec["runs"][use] = ran
    records.sort(key=lambda r: (r["policy"], r["entry"]))
    return records, sorted(set(skipped)), sorted(set(errors)), sorted(set(opened))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--format", choices=("text", "json"), default="text")
    ap.add_argument("--check", action="store_true", help="exit 1 when an entry fails a check")
    ap.add_argument("--policy-file", action="append", default=[], type=pathlib.Path,
                    help="audit this policy file (repeatable) instead of shipped ones")
    ap.add_argument("--path", action="append", default=[], help="a folder put first on sys.path (a source tree)")
    ap.add_argument("policies", nargs="*", help="policy names (default: every policies/*.toml)")
    args = ap.parse_args()
    if sys.path and sys.path[0] in ("", str(HERE)):
        del sys.path[0]
    for p in reversed(args.path):
        sys.path.insert(0, p)
    files = [HERE / f"{p}.toml" for p in args.policies] + args.policy_file
    if not files:
        files = sorted(HERE.glob("*.toml"))
    warnings.simplefilter("ignore")
    out = sys.stdout
    sys.stdout = sys.stderr  # what libraries print on import stays out of the record
    records, skipped, errors, opened = audit(files, load_native_table(), load_knowledge())
    if args.format == "json":
        out.write(json.dumps({"records": records, "skipped": skipped, "errors": errors, "open": opened},
                             indent=1, sort_keys=True) + "\n")
    else:
        for r in records:
            b = ", ".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in sorted(r["bounds"].items())) or "none"
            out.write(f"{r['policy']} {r['entry']}  uses={','.join(r['uses'])}  bounds: {b}\n")
            if not r["resolved"]:
                out.write("    (not in the installed version)\n")
            for use, ran in r["runs"].items():
                for x in ran:
                    out.write(f"    {use}: {x['what']}" + (f" -> {x['runs']} [{x['kind']}]" if "runs" in x else "")
                              + "\n")
            for c in r["cost"]:
                out.write(f"    cost: {c}\n")
        for s in skipped:
            out.write(f"SKIPPED {s}\n")
        for o in opened:
            out.write(f"OPEN {o}\n")
        for e in errors:
            out.write(f"FAIL {e}\n")
        out.write(f"{len(records)} records, {len(skipped)} entries skipped (library not installed), "
                  f"{len(opened)} open findings, {len(errors)} failures\n")
    out.flush()
    return 1 if args.check and errors else 0


if __name__ == "__main__":
    sys.exit(main())
