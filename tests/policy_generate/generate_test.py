#!/usr/bin/python3
"""`pickleguard policy generate` on the fake library beside this script.

    generate_test.py --pickleguard build/tools/pickleguard

Checks, by name, what the generator allows (and with which uses) and what it
refuses (and why), that every entry carries a note, that the output parses
as a policy (`policy show` of the written file is not needed: generate
parses it before writing), and that two runs give the same bytes.

Then the reviewed-entry input (--reviewed FILE, docs/policies.md "Reviewed
entries"): a reviewed entry replaces the derived entry of the same name
(its bounds and invokes written as given) and a refusal of the same name,
an entry the knowledge base names stays refused, and a file with a pattern
or an entry without a note is an error.
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile
import tomllib

HERE = pathlib.Path(__file__).resolve().parent

ALLOWED = {
    "SafePoint": {"reference", "new", "build"},
    "SafeWithSetstate": {"reference", "new", "build"},
    "double": {"reference"},
    "DelegatesToObject": {"reference", "new", "build"},
    "_rebuild": {"reference"},
    "ConstantBuffer": {"reference", "new", "build"},
    "SizedByCaller": {"reference", "new", "build"},
    "ImportsPure": {"reference", "new", "build"},
    "CachedNew": {"reference", "new", "build"},
    "RemovedAttribute": {"reference", "new", "build"},
    "count_total": {"reference"},
    "local_counter_total": {"reference"},
    "_Counter": {"reference", "new", "build"},
    "_Lazy": {"reference", "new", "build"},
    "RenamedAttribute": {"reference", "new", "build"},
    "SetattrState": {"reference", "new", "build"},
    "PrivateHelper": {"reference", "new", "build"},
    "LessIndentedString": {"reference", "new", "build"},
    "is_class": {"reference"},
    "ChecksOnLoad": {"reference", "new", "build"},
    "AttributesOnDemand": {"reference", "new", "build"},
    # Constants carried into callees (CallSite): what they decide is not read.
    "ConvertsStrictly": {"reference", "new", "build"},
    "ConvertsUnlessStrict": {"reference", "new", "build"},
    "ConvertsChosen": {"reference", "new", "build"},
    "ConvertsEither": {"reference", "new", "build"},
    "ConvertsCarefully": {"reference", "new", "build"},
    "ConvertsVia": {"reference", "new", "build"},
    "ConvertsWithMode": {"reference", "new", "build"},
    "ConvertsAtLevel": {"reference", "new", "build"},
    # A callable read from a module-level dict no function changes: its values judged.
    "ConvertsByTable": {"reference", "new", "build"},
    "_to_text": {"reference"},
    "register_converter": {"reference"},
    "SetterUnsafeDictState": {"reference", "new", "build-dict"},
    # __getnewargs_ex__: the protocol-2 form, partial(C.__new__, C, ...)() (partial_new_entry).
    "NamedWithOptions": {"reference", "new", "build"},
    "NamedWithOptions.__new__": {"call", "reference"},
    "NamedWithoutOptions": {"reference", "new", "build"},
    "NamedNativeNew": {"reference", "new", "build"},
    # forbidden_state_keys: a __setstate__ read without its state-keyed first branch.
    "GuardedByKey": {"reference", "new", "build"},
    "GuardedByGet": {"reference", "new", "build"},
    "GuardedByPop": {"reference", "new", "build"},
    # __getattribute__ read with the names loading looks up through it.
    "WrapsResults": {"reference", "new", "build"},
    # Enum members, as the dotted names getattr(Color, 'RED') is judged as.
    "Color": {"reference"},
    "Color.RED": {"reference"},
    "Color.GREEN": {"reference"},
}
# torch.nn.Module subclasses (the Module.__call__ dispatch summary): checked
# only where /usr/bin/python3 imports torch (not after install-deps.sh --no-ml).
TORCH_ALLOWED = {"SafeBlock": {"reference", "new", "build"},
                 # Stored values forward calls (call_stored): the judge checks them.
                 "BlockCallsStored": {"reference", "new", "build"},
                 "BlockLoopsLayers": {"reference", "new", "build"}}
TORCH_REFUSED = {
    "BlockEvaluates": "Module.__call__ (hook tables empty) -> BlockEvaluates.forward: calls eval",
    "BlockCallsStoredOnLoad": "BUILD runs BlockCallsStoredOnLoad.__setstate__: calls self.inner, a value stored on the instance",
    "BlockCalledOnLoad": "BlockCalledOnLoad.forward: calls self.inner, a value stored on the instance",
    "BlockOwnGetattr": "found by a lookup not reviewed (fakelib.BlockOwnGetattr.__getattr__",
    "BlockStoresInNew": "which fakelib.BlockStoresInNew.__new__ could store without a BUILD the judge reads",
    "BlockLoopsComputed": "calls layer, a local or computed value",
    "BlockLoopsRebound": "calls layer, a local or computed value",
    "BlockLoopsOwnLayers": "calls the items of self.layers, which the class defines (not state)",
}
# What the judge must check on each entry that calls stored values.
CALLED_KEYS = {
    "BlockCallsStored": {"called_state_keys": ["inner"], "attribute_tables": ["_buffers", "_modules", "_parameters"],
                         "callable_instances": True},
    "BlockLoopsLayers": {"called_state_values": ["layers"], "callable_instances": True},
}
# The state the summary needs: no hooks (and forward not shadowed) in BUILD's dict state.
SAFEBLOCK_KEYS = {
    "empty_state_keys": ["_backward_hooks", "_forward_hooks", "_forward_pre_hooks", "_slow_forward", "forward"],
    "required_state_keys": ["_backward_hooks", "_forward_hooks"],
}
REFUSED = {
    "EvalState": "calls eval",
    "CallsStoredCallable": "calls self.hook, a value stored on the instance",
    "ImportsInInit": "imports",
    "OpensInDel": "calls open",
    "CompilesWhenCalled": "calls exec",
    "apply_fn": "calls its argument func",
    "sort_by": "hands its argument key to sorted",
    "ReducesThroughHelper": "reduces to _rebuild, not the class",
    "read_settings": "named as reaching files or code",
    "fetch_all": "calls into urllib",
    # The cost of loading: an allocator sized by state or an argument.
    "AllocatesFromState": "calls bytearray sized by state['size']",
    "AllocatesThroughLocalImport": "calls empty sized by state['size']",
    "RepeatsFromArgument": "repeats a sequence sized by n",
    "PowerFromStoredValue": "raises to a power sized by self.digits",
    "pad_to": "calls ljust sized by width",
    "RegistryMeta": "a metaclass",
    "ImportsUnsafeHelper": "run_code (imported): calls eval",
    "ImportsFormulaEvaluator": "imports patsy (a module that reaches the system or loads code)",
    "ImportsFileReader": "calls json.load, named as reaching files or code",
    "ShadowsBuiltin": "calls len, a local or computed value",
    "ClosureCallsEval": "target (closure cell): calls eval",
    "ClosureRebound": "calls func, a closure cell that a nonlocal statement may rebind",
    "CallsPropertyValue": "calls self.hook, a property's value",
    "SetstateRunsUnsafeSetter": "setattr(self, ...) the setter of SetterUnsafeDictState.shape: calls eval",
    "GetattributeOnDictState": "BUILD looks up __setstate__ through GetattributeOnDictState.__getattribute__: calls eval",
    "AssignsUnsafeSetter": "__setstate__ -> self.shape = ... the setter of SetterUnsafeDictState.shape: calls eval",
    "OwnDictAttribute": "dict state would not be safe either: OwnDictAttribute.__dict__ is property",
    "lazy_words": "_LAZY.words: not found on fakelib._Lazy",
    "counter_hook": "calls _COUNTER.hook, a value stored on fakelib._Counter",
    "local_lazy_words": "loader.words: not found on fakelib._Lazy",
    "SetattrStateRunsSetter": "setattr(self, ...) the setter of SetattrStateRunsSetter.expr: calls eval",
    "SetattrOther": "calls setattr with a computed attribute name",
    "PrivateRunner": "PrivateRunner._PrivateRunner__run: calls eval",
    "LessIndentedEval": "calls eval",
    "signature_of": "calls into inspect",
    "OverridesCheck": "ChecksOnLoad.__setstate__ -> OverridesCheck.check: calls eval",
    "SuperCheck": "SuperCheck.check -> OverridesCheck.check: calls eval",
    "InheritsSuperToEval": "SuperToEval.check -> OverridesCheck.check: calls eval",
    "SetstateThroughGetattr": "BUILD looks up __setstate__, so runs SetstateThroughGetattr.__getattr__: calls eval",
    "ConvertsLoosely": "_convert(..., strict=False): calls eval",
    "ConvertsUnlessByDefault": "_convert_unless: calls eval",
    "ConvertsNeither": "_convert_either(..., quiet=False): calls eval",
    "ConvertsWithOptions": "_convert_careful(..., tag=1, ...): calls eval",
    "ConvertsRebinding": "_convert_rebinding(..., strict=True): calls eval",
    "ConvertsViaNested": "_convert_via_nested(..., strict=True) -> _convert: calls eval",
    "ConvertsAtLevelOne": "_convert_level(..., level=1): calls eval",
    "ConvertsByRunnerTable": "conv (_RUNNERS[builtins.str]): calls eval",
    "ConvertsByOpenTable": "calls conv, read from _OPEN_CONVERTERS, which a function may change",
    "ConvertsByShadowedTable": "calls conv, a local or computed value",
    "ConvertsByReboundLookup": "calls conv, a local or computed value",
    "HashesWithEval": "HashesWithEval.__hash__: calls eval",
    "ReducesByName": "reduces to getattr, not the class",
    "LooksUpMembers": "getattr(cls, name) runs _LookupMeta.__getattribute__",
    "CalledByMeta": "calling the class without arguments runs -> _CallMeta.__call__: calls eval",
    "NamedEvaluates": "NEWOBJ runs NamedEvaluates.__new__: calls eval",
    # No guard to read without: the whole reading's refusal, unchanged.
    "GuardAfterUse": "GuardAfterUse: BUILD runs GuardAfterUse.__setstate__: calls eval (evaluates code)",
    "GuardRebindsState": "read without its state-guarded first branch: its state parameter state is rebound",
    "GuardNegated": "GuardNegated: BUILD runs GuardNegated.__setstate__: calls eval (evaluates code)",
    "GuardedElseUnsafe": "read without its state-guarded first branch: GuardedElseUnsafe: BUILD runs "
                         "GuardedElseUnsafe.__setstate__ (without its state-guarded branch): calls eval",
    "GuardGetTruthyDefault": "GuardGetTruthyDefault: BUILD runs GuardGetTruthyDefault.__setstate__: calls eval "
                             "(evaluates code)",
    "WrapsResultsReadsMore": "object.__getattribute__ may not find 'model' without running code",
    "WrapsResultsFinally": "no top-level try returns object.__getattribute__(self, attr)",
    "WrapsResultsHashes": "WrapsResultsHashes.__hash__ is Python code that may read other attributes through it",
    "Pipeline": "calls step, a local or computed value",
}
# No state guard: their refusal must be the whole reading's, word for word
# (the other libraries' refusal comments stay as they were).
UNGUARDED = {"GuardAfterUse", "GuardNegated", "GuardGetTruthyDefault"}
# The keys a guarded __setstate__ was read without (forbidden_state_keys).
FORBIDDEN_KEYS = {"GuardedByKey": ["restore"], "GuardedByGet": ["restore"], "GuardedByPop": ["restore"]}
# The entry of C.__new__ for NamedWithOptions: argument 0 pinned to the class,
# which it instantiates; and the one functools.partial entry that goes with it.
BOUND_NEW = {"uses": ["reference", "call"], "invokes": [{"arg": 0, "use": "new"}],
             "args": [{"pos": 0, "module": "fakelib", "name": "NamedWithOptions"}]}
EXACT_PARTIAL = {"uses": ["call", "build"]}


def generate(pickleguard, out, *extra, must_work=True):
    r = subprocess.run([pickleguard, "policy", "generate", "fakelib", "--path", str(HERE), "--name", "fakelib",
                        "-o", str(out),
                        "--explain", *extra], capture_output=True, text=True)
    if r.returncode != 0 and must_work:
        sys.exit(f"policy generate failed ({r.returncode}): {r.stderr}")
    return (out.read_bytes() if r.returncode == 0 else None), r.stderr


REVIEWED = """name = "fakelib-reviewed"

[[allow]]
module = "fakelib"
name = "double"
uses = ["call"]
max_int_arg = 100
note = "Reviewed: doubles a small integer."

[[allow]]
module = "fakelib"
name = "ReducesThroughHelper"
uses = ["call"]
invokes = [{ arg = 0, use = "call", pass_arg = 1 }]
note = "Reviewed: the helper reduction, checked by a person."

[[allow]]
module = "os"
name = "system"
uses = ["call"]
note = "A reviewer's mistake: the knowledge base still refuses it."
"""


def reviewed_checks(pickleguard, tmp):
    errors = []
    rev = tmp / "reviewed.toml"
    rev.write_text(REVIEWED)
    text, err = generate(pickleguard, tmp / "merged.toml", "--reviewed", str(rev))
    text = text.decode()
    entries = {(e["module"], e["name"]): e for e in tomllib.loads(text).get("allow", [])}
    d = entries.get(("fakelib", "double"))
    if not d or d["uses"] != ["call"] or d.get("max_int_arg") != 100 or "replaces the derived entry (uses reference)" not in d["note"]:
        errors.append(f"reviewed double did not replace the derived entry with its bounds: {d}")
    h = entries.get(("fakelib", "ReducesThroughHelper"))
    if not h or h.get("invokes") != [{"arg": 0, "use": "call", "pass_arg": 1}] or "The generator refused it" not in h["note"]:
        errors.append(f"reviewed ReducesThroughHelper not merged over its refusal: {h}")
    if any(l.startswith("# fakelib.ReducesThroughHelper: ") for l in text.splitlines()):
        errors.append("a reviewed entry is still listed as refused")
    if ("os", "system") in entries:
        errors.append("a reviewed os.system, which the knowledge base names, was allowed")
    if not any(l.startswith("# os.system: reviewed in") and "knowledge base" in l for l in text.splitlines()):
        errors.append("the refused reviewed os.system is not listed with the reason")
    if f"merged from --reviewed {rev} (" not in text:
        errors.append("the header does not name the reviewed file")
    for bad, why in ((REVIEWED.replace('name = "double"', 'name_pattern = "d.*"'), "no patterns"),
                     (REVIEWED.replace('note = "Reviewed: doubles a small integer."\n', ""), "needs a note")):
        rev.write_text(bad)
        out, err = generate(pickleguard, tmp / "bad.toml", "--reviewed", str(rev), must_work=False)
        if out is not None or why not in err:
            errors.append(f"a reviewed file that breaks '{why}' was accepted: {err[:200]!r}")
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    args = ap.parse_args()
    errors = []
    has_torch = subprocess.run([sys.executable, "-c", "import torch.nn"], capture_output=True).returncode == 0
    if has_torch:
        ALLOWED.update(TORCH_ALLOWED)
        REFUSED.update(TORCH_REFUSED)
    else:
        print("note: torch does not import: the Module.__call__ cases are not checked")
    with tempfile.TemporaryDirectory() as tmp:
        first, explain = generate(args.pickleguard, pathlib.Path(tmp) / "fakelib.toml")
        second, _ = generate(args.pickleguard, pathlib.Path(tmp) / "again.toml")
    if first != second:
        errors.append("two runs wrote different policies")
    pol = tomllib.loads(first.decode())
    entries = {e["name"]: e for e in pol.get("allow", []) if e["module"] == "fakelib"}
    for name, uses in ALLOWED.items():
        if name not in entries:
            errors.append(f"{name} not allowed")
        elif set(entries[name]["uses"]) != uses:
            errors.append(f"{name}: uses {entries[name]['uses']}, expected {sorted(uses)}")
    for name, e in entries.items():
        if not e.get("note"):
            errors.append(f"{name}: no note")
    text = first.decode()
    for name, reason in REFUSED.items():
        if name in entries:
            errors.append(f"{name} allowed, must be refused ({reason})")
        line = next((l for l in text.splitlines() if l.startswith(f"# fakelib.{name}: ")), None)
        if line is not None and name in UNGUARDED and "state-guarded" in line:
            errors.append(f"{name}: the guarded reading does not apply, yet its refusal mentions it: {line!r}")
        if line is None or reason not in line:
            errors.append(f"{name}: no refusal comment saying {reason!r} (got {line!r})")
        if f"refused fakelib.{name}: " not in explain:
            errors.append(f"{name}: not listed by --explain")
    if has_torch:
        got = {k: entries.get("SafeBlock", {}).get(k) for k in SAFEBLOCK_KEYS}
        if got != SAFEBLOCK_KEYS:
            errors.append(f"SafeBlock's state constraints: {got}, expected {SAFEBLOCK_KEYS}")
    for name, want in CALLED_KEYS.items():
        if name not in ALLOWED:
            continue  # a torch case without torch
        got = {k: entries.get(name, {}).get(k) for k in want}
        if got != want:
            errors.append(f"{name}'s called-value constraints: {got}, expected {want}")
    for name, e in entries.items():
        if e.get("forbidden_state_keys") != FORBIDDEN_KEYS.get(name):
            errors.append(f"{name}: forbidden_state_keys {e.get('forbidden_state_keys')}, "
                          f"expected {FORBIDDEN_KEYS.get(name)}")
    for name, e in entries.items():
        if name not in TORCH_ALLOWED and any(k in e for k in SAFEBLOCK_KEYS):
            errors.append(f"{name}: state constraints without a dispatch summary: {e}")
    got = {k: entries.get("NamedWithOptions.__new__", {}).get(k) for k in BOUND_NEW}
    if got != BOUND_NEW:
        errors.append(f"NamedWithOptions.__new__: {got}, expected {BOUND_NEW}")
    for name in ("NamedEvaluates.__new__", "NamedWithoutOptions.__new__", "NamedNativeNew.__new__"):
        if name in entries:
            errors.append(f"{name} allowed: only a class read safe for NEWOBJ with __getnewargs_ex__ and its own "
                          "Python __new__ gets a C.__new__ entry")
    partial = [e for e in pol.get("allow", []) if (e["module"], e["name"]) == ("functools", "partial")]
    if len(partial) != 1 or {k: partial[0].get(k) for k in EXACT_PARTIAL} != EXACT_PARTIAL:
        errors.append(f"functools.partial: {partial}, expected one entry with {EXACT_PARTIAL}")
    extra = set(entries) - set(ALLOWED)
    if extra:
        errors.append(f"allowed but not expected: {sorted(extra)}")
    with tempfile.TemporaryDirectory() as tmp:
        errors += reviewed_checks(args.pickleguard, pathlib.Path(tmp))
    for e in errors:
        print("FAIL:", e)
    print(f"{len(entries)} allowed, {len(REFUSED)} refusals checked, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
