#!/usr/bin/python3
"""Each rule of the policy generate inspector can fail its fakelib cases.

    mutations_test.py

For every rule relaxed or added for issue 15 (docs/policies.md, "Generated
policies"), the inspector is run on tests/policy_generate/fakelib with that
rule changed (a one-line text edit of a copy): the change must refuse one of
the rule's allowed cases or let one of its refused neighbours through. The
unchanged inspector must allow all of ALLOWED and refuse all of REFUSED.
"""
import json
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
SRC = HERE.parents[1] / "tools" / "pickleguard" / "policy_generate.py"
ALLOWED = {
    "AttributesOnDemand", "CachedNew", "ChecksOnLoad", "ImportsPure", "LessIndentedString", "PrivateHelper",
    "RemovedAttribute", "RenamedAttribute", "SetattrState", "count_total", "is_class", "local_counter_total",
    "ConvertsStrictly", "ConvertsUnlessStrict", "ConvertsChosen", "ConvertsEither", "ConvertsCarefully",
    "ConvertsVia", "ConvertsWithMode", "ConvertsAtLevel", "ConvertsByTable",
    "SetterUnsafeDictState[build-dict]",
    "Color", "Color.RED", "Color.GREEN",
    # partial(C.__new__, C, ...) at protocol 2: the entry, with argument 0 pinned to C
    "NamedWithOptions.__new__", "NamedWithOptions.__new__#pinned", "NamedWithoutOptions", "NamedNativeNew",
}
REFUSED = {
    "CallsPropertyValue", "ClosureCallsEval", "ClosureRebound", "ImportsFileReader", "ImportsFormulaEvaluator",
    "ImportsInInit", "ImportsUnsafeHelper", "InheritsSuperToEval", "LessIndentedEval", "OverridesCheck",
    "PrivateRunner", "SetattrOther", "SetattrStateRunsSetter", "SetstateThroughGetattr", "ShadowsBuiltin",
    "SuperCheck", "counter_hook", "lazy_words", "local_lazy_words", "signature_of",
    "ConvertsLoosely", "ConvertsUnlessByDefault", "ConvertsNeither", "ConvertsWithOptions", "ConvertsRebinding",
    "ConvertsViaNested", "ConvertsAtLevelOne", "ConvertsByRunnerTable", "ConvertsByOpenTable",
    "ConvertsByShadowedTable", "ConvertsByReboundLookup",
    "SetstateRunsUnsafeSetter", "GetattributeOnDictState", "OwnDictAttribute", "AssignsUnsafeSetter",
    "OwnDictAttribute[build-dict]",
    # build instead of build-dict: slot state would run its eval setter
    "SetterUnsafeDictState",
    "HashesWithEval", "ReducesByName", "LooksUpMembers", "CalledByMeta", "Color.SHADE",
    "NamedWithoutOptions.__new__", "NamedNativeNew.__new__", "NamedEvaluates.__new__",
    # the state-guard reading (forbidden_state_keys) and __getattribute__ by name
    "GuardAfterUse", "GuardRebindsState", "GuardNegated", "GuardedElseUnsafe", "GuardGetTruthyDefault",
    "WrapsResultsReadsMore", "WrapsResultsFinally", "WrapsResultsHashes",
    "Pipeline",
}
# "GuardedByKey#forbidden" stands for its entry carrying the key it was read without.
ALLOWED |= {"GuardedByKey", "GuardedByGet", "GuardedByPop", "GuardedByKey#forbidden", "WrapsResults"}
# torch.nn.Module cases (only where torch imports); "SafeBlock#keys" stands
# for SafeBlock's entry carrying the hook tables as state constraints.
if subprocess.run([sys.executable, "-c", "import torch.nn"], capture_output=True).returncode == 0:
    ALLOWED |= {"SafeBlock", "SafeBlock#keys", "BlockCallsStored", "BlockCallsStored#called", "BlockLoopsLayers",
                "BlockLoopsLayers#called"}
    REFUSED |= {"BlockEvaluates", "BlockCallsStoredOnLoad", "BlockCalledOnLoad", "BlockOwnGetattr", "BlockStoresInNew",
                "BlockLoopsComputed", "BlockLoopsRebound", "BlockLoopsOwnLayers"}


def run(src):
    with tempfile.TemporaryDirectory() as tmp:
        script = pathlib.Path(tmp) / "inspector.py"
        script.write_text(src)
        out = subprocess.run([sys.executable, "-B", str(script), "--path", str(HERE), "--no-companions", "fakelib"],
                             capture_output=True, text=True).stdout
    d = json.loads(out)
    mine = [e for e in d["entries"] if e["module"] == "fakelib"]
    # A class admitted only with build-dict is another case than one with build.
    return {e["name"] + ("[build-dict]" if "build-dict" in e["uses"] else "") for e in mine} | \
        {f"{e['name']}#keys" for e in mine if "_forward_hooks" in e.get("empty_state_keys", [])
         and "_forward_hooks" in e.get("required_state_keys", [])} | \
        {f"{e['name']}#pinned" for e in mine if e["name"].endswith(".__new__") and
         e.get("args") == [{"pos": 0, "module": "fakelib", "name": e["name"][:-len(".__new__")]}] and
         e.get("invokes") == [{"arg": 0, "use": "new"}]} | \
        {f"{e['name']}#forbidden" for e in mine if e.get("forbidden_state_keys") == ["restore"]} | \
        {f"{e['name']}#called" for e in mine if e.get("callable_instances") and
         (e.get("called_state_keys") or e.get("called_state_values"))}


base = SRC.read_text()
# name -> (inspector text, what it is changed to)
MUTATIONS = {
 'getattr const ignored': ('            nodes = pruned_walk(node, none_params, known)', '            pass'),
 'getattr const inverted': ('        return equal if isinstance(test.ops[0], ast.Eq) else not equal', '        return not equal if isinstance(test.ops[0], ast.Eq) else equal'),

 'self on owner': ('        return self.scan_callable(fn, why, depth, cls=concrete or owner, noargs=noargs)', '        return self.scan_callable(fn, why, depth, cls=owner, noargs=noargs)'),
 'super after concrete': ('                for k in mro[mro.index(here) + 1:]:', '                for k in mro[1:]:'),

 'setattr self refused': ('                if n == "setattr" and len(call.args) == 3', '                if False and len(call.args) == 3'),
 'setattr self free': ('                    return self.scan_slot_state(cls, f"{why} -> setattr(self, ...)", depth + 1)[0]', '                    return set()'),
 'setattr any object': ('call.args[0].id == first and first is not None and cls is not None:', 'cls is not None:'),
 'no mangling': ('        if classes and classes[-1].lstrip("_"):', '        if False:'),
 'no parse fallback': ('            found = function_in_file(code)\n', '            found = None\n'),
 'inspect table off': ('    ("inspect", "isclass"): "return isinstance(object, type)",\n', ''),
 'inspect all pure': ('            if (obj.__name__, attr) in PURE_DENIED and', '            if obj.__name__ == "inspect" or (obj.__name__, attr) in PURE_DENIED and'),

 'imports all refused': ('                refusal = local.bad_imports.get(id(n))\n', '                refusal = "imports"\n'),
 'patsy not denied': ('"patsy", ', ''),
 'imported names not judged': ('''return self.scan_target(local.imports[n], f"{why} -> {n}{site or ''} (imported)", depth, site=site)''', 'return set()'),
 'no shadow check': ('            if n in local.bound or n in local.imports:\n                # A local', '            if False:\n                # A local'),
 'cells not judged': ('        ok, value = local.cells[name]\n', '        return set()\n'),
 'cells refused': ('            if n in local.cells:\n                return self.scan_cell', '            if n in local.cells and False:\n                return self.scan_cell'),
 'nonlocal ignored': ('            elif rebound is None or name in rebound:', '            elif rebound is None:'),
 'attribute store unscanned': ('                calls |= self.scan_attr_store(cls, n.attr, f"{why} -> self.{n.attr} = ...", depth + 1)', '                pass'),
 'dict state never': ('                uses[uses.index("build")] = "build-dict"', '                raise'),
 'dict state own __dict__': ('            return f"{k.__qualname__}.__dict__ is {type(d).__name__}, not the instance namespace"', '            return None'),
 'getattribute not scanned': ('        method("__getattribute__", "BUILD looks up __setstate__ through")', '        pass'),
 'raises_only always': ('    if not isinstance(fn, types.FunctionType) or hasattr(fn, "__wrapped__"):\n        return False', '    return True'),
 'raises_only never': ('            if raises_only(static.fget):', '            if False:'),
 'module objects unfollowed': ('''                if found:
                    # A module-level object''', '''                if found:
                    return set()
                    # A module-level object'''),
 'constructed unfollowed': ('''                if found and isinstance(obj, InstanceOf):
''', '''                if found and isinstance(obj, InstanceOf):
                    return set()
'''),
 'decorators scanned': ('            node.decorator_list = []\n', '            pass\n'),

 'constants not carried': ('            site = CallSite.of(call, known)\n            return self.scan_target(obj,', '            site = None\n            return self.scan_target(obj,'),
 'constants in one memo entry': ('fn if code.co_freevars else None, site.key() if site else None,', 'fn if code.co_freevars else None, None,'),
 'rebound constants kept': ('if v is not self.UNKNOWN and p not in rebound and', 'if v is not self.UNKNOWN and'),
 'nested params not rebound': ('        elif isinstance(n, ast.arg) and id(n) not in own:\n            names.add(n.arg)', '        elif False:\n            pass'),
 'spread ignored': ('        if not self.star:\n            defaults', '        if True:\n            defaults'),
 'defaults not bound': ('        if not self.star:\n            defaults', '        if False:\n            defaults'),
 'constants not handed on': ('                return known[e.id]  # a constant', '                return cls.UNKNOWN  # a constant'),
 'nothing cut after exit': ('        if isinstance(x, ast.stmt) and consts and terminates([x], none_names, consts):', '        if False:'),
 'truth inverted': ('        return bool(consts[test.id])', '        return not consts[test.id]'),
 'not inverted': ('        return None if inner is None else not inner', '        return None if inner is None else inner'),
 'is None inverted': ('            return (v is None) == isinstance(op, ast.Is)', '            return (v is not None) == isinstance(op, ast.Is)'),
 'equality inverted': ('            return (v == c) == isinstance(op, ast.Eq)', '            return (v != c) == isinstance(op, ast.Eq)'),
 'or undecided': ('        if decisive in values:\n            return decisive\n', ''),
 'table lookups refused': ('            if n in local.lookups and n not in local.imports and n not in nested:', '            if False:'),
 'table values unjudged': ('                        calls |= self.scan_target(value, f"{why} -> {n} ({tname}[{describe(key)}])", depth)', '                        pass'),
 'table stores read': ('                if isinstance(up, ast.Subscript) and up.value is x and isinstance(up.ctx, ast.Load):', '                if isinstance(up, ast.Subscript) and up.value is x:'),
 'table shadowing ignored': ('                         not any(t in params or t in bound or t in imports or t in other for t in v)}', '                         True}'),
 'lookup rebinding ignored': ('if stores.get(k) == lookup_stores[k] and', 'if True and'),
 'conditional expression unpruned': ('        if isinstance(n, ast.IfExp) and consts:', '        if isinstance(n, ast.IfExp) and False:'),
 # Enum members (analyse_enum)
 'enum any reduction': ('owner_of(cls, "__reduce_ex__")[1] is vars(enum.Enum)["__reduce_ex__"] \\', 'True \\'),
 'enum no getattr check': ('    if owner_of(meta, "__getattribute__")[0] is not type:', '    if False:'),
 'enum members unscanned': ('            scanner.sizes_checked = attr != "__call__"\n', '            continue\n'),
 'enum aliases kept': ('            continue  # an alias', '            pass  # an alias'),
 'enum class call unscanned': ('    if call_owner is enum.EnumType and required_positional(call) > 1:', '    if True:'),
 'enum class call refused': ('    if call_owner is enum.EnumType and required_positional(call) > 1:', '    if False:'),

 # partial(C.__new__, C, ...)(): protocol 2's NEWOBJ_EX (partial_new_entry)
 'bound new never': ('        bound_new = partial_new_entry(obj, modname, attr, uses, calls)', '        bound_new = None'),
 'bound new without getnewargs_ex': ('    if owner is None or owner is object or not isinstance(getnewargs_ex, types.FunctionType):\n        return None', '    if False:\n        return None'),
 'bound new of native new': ('    if not isinstance(fn, types.FunctionType) or required_positional(fn) < 1:', '    if False:'),
 'bound new unpinned': ('"args": [{"pos": 0, "module": modname, "name": attr}],', '"args": [],'),
 'bound new for refused class': ('            if isinstance(obj, type):\n                uses, note, calls, extra = analyse_class(obj, scanner)', '            if isinstance(obj, type):\n                b = partial_new_entry(obj, modname, attr, ["new"], set())\n                if b: doc["entries"].append(b)\n                uses, note, calls, extra = analyse_class(obj, scanner)'),
 # nn.Module.__call__ (DISPATCH_SUMMARIES)
 'summary off': ('        if summary is not None:\n            return self.scan_summary', '        if False:\n            return self.scan_summary'),
 'summary runs nothing': ('        for m in summary["runs"]:\n', '        for m in ():\n'),
 'summary on owner': ('self.scan_self_method(cls, m, f"{why} (hook tables empty)", depth)', 'self.scan_self_method(fn.__globals__["Module"], m, f"{why} (hook tables empty)", depth)'),
 # Stored values called after loading (call_stored, ATTRIBUTE_LOOKUPS)
 'stored call while loading': ('        return not self.sizes_checked and cls is not None and cls is self.current and self.summaries > 0', '        return cls is not None and cls is self.current and self.summaries > 0'),
 'stored call without summary': ('        return not self.sizes_checked and cls is not None and cls is self.current and self.summaries > 0', '        return not self.sizes_checked and cls is not None and cls is self.current'),
 'stored call refused': ('                self.call_stored(cls, "called_state_keys", attr, why)\n                return set()', '                pass'),
 'stored call unconstrained': ('        self.state_keys.add((kind, attr))', '        pass'),
 'any getattr lookup': ('        return False, f"{describe(owner)}.__getattr__ (not a reviewed lookup) decides what it finds"', '        return True, ()'),
 'class attribute loop': ('                raise Refused(f"{why}: calls the items of self.{attr}, which the class defines (not state)")', '                pass'),
 'new stores ignored': ('        if "call" in uses or (owner is not object and "new" in uses):', '        if "call" in uses:'),
 'loop rebinding ignored': ('local.loops = {k: v for k, v in loops.items() if stores.get(k) == len(v) and', 'local.loops = {k: v for k, v in loops.items() if True and'),
 'loop over anything': ('                        attr = stored_iterable(it, first)\n', '                        attr = stored_iterable(it, first) or "x"\n'),
 'summary keys dropped': ('            self.state_keys.update((kind, k) for k in summary[kind])', '            pass'),

 # a __setstate__ read without its state-guarded first branch (forbidden_state_keys)
 'guard keys dropped': ('                scanner.state_keys.update(("forbidden_state_keys", k) for k in keys)', '                pass'),
 'guard body kept': ('        body[i].body = [ast.Pass()]', '        pass'),
 'guard not in': ('len(test.ops) == 1 and isinstance(test.ops[0], ast.In) \\', 'len(test.ops) == 1 and isinstance(test.ops[0], (ast.In, ast.NotIn)) \\'),
 'guard truthy default': ('    return isinstance(e, ast.Constant) and not e.value and', '    return isinstance(e, ast.Constant) and'),
 'guard after statements': ('        if i >= len(body) or not isinstance(body[i], ast.If):', '        i = next((j for j, s in enumerate(body) if isinstance(s, ast.If)), len(body))\n        if i >= len(body):'),
 'guard state rebound': ('                raise Refused(f"its state parameter {state} is rebound (line {n.lineno})")', '                pass'),
 # __getattribute__ read with the names loading looks up
 'getattribute any name': ('        why = getattribute_returns(cls, name)', '        why = getattribute_returns(cls, name) or "any"'),
 'getattribute finally': ('and isinstance(st.body[0], ast.Return) \\\n                    and not st.finalbody:', 'and isinstance(st.body[0], ast.Return):'),
 'getattribute python hash': ('        if isinstance(f, (types.FunctionType, staticmethod, classmethod)):\n            raise Refused(f"{whole}; a known-name', '        if False:\n            raise Refused(f"{whole}; a known-name'),
}
errors = []
b = run(base)
if not ALLOWED <= b or REFUSED & b:
    errors.append(f"unchanged: not allowed {sorted(ALLOWED - b)}, let through {sorted(REFUSED & b)}")
for name, (old, new) in MUTATIONS.items():
    if base.count(old) < 1:
        errors.append(f"{name}: the text to change is gone from the inspector; update this test")
        continue
    a = run(base.replace(old, new, 1))
    print(f"{name:28s} refuses {sorted(ALLOWED - a)}, lets through {sorted(REFUSED & a)}")
    if ALLOWED <= a and not REFUSED & a:
        errors.append(f"{name}: changing the rule changed no case")
for e in errors:
    print("FAIL:", e)
sys.exit(1 if errors else 0)
