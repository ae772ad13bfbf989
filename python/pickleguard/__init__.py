"""pickleguard: validate a pickle against an allow-list policy, then load it.

The scan runs in C++ (the `_pickleguard` module) with a symbolic decoder
that imports and calls nothing. Loading happens only when the verdict is
safe, and then through an unpickler that can resolve nothing but the
policy's globals: a second, independent line of defence.

    import pickleguard

    report = pickleguard.scan(b"...")            # or a path, bytearray, memoryview
    report.verdict, report.findings, report.globals
    reports = pickleguard.scan_files(["a.pt", "b.pkl"], policy="pytorch")

    value = pickleguard.loads(data, policy="numpy")
    with open("model.pkl", "rb") as f:
        value = pickleguard.load(f, policy="sklearn")
    state = pickleguard.torch_load("model.pt", map_location="cpu")

Anything not safe raises `UnsafePickleError`, whose `.report` says why.

`pickleguard.Client` talks to a `pickleguard serve` (docs/deployment.md):
`Client("unix:/run/pickleguard/serve.sock").scan("model.pt")` returns the
document `pickleguard scan --format json` writes for that file.

Every scan runs, by default, in a forked worker process jailed by a seccomp
filter and resource limits, as `pickleguard scan` does (docs/services.md):
the untrusted bytes are parsed outside the interpreter. `sandbox=False`
scans in this process instead (faster for many tiny pickles; for systems
without seccomp). A worker that crashes, hangs past `timeout` seconds or
exceeds `max_memory_mb` makes the report's verdict "error"; a sandbox that
cannot be set up raises OSError, and nothing is scanned without it.
"""

import _compat_pickle
import io
import json
import os
import pickle
import sys

from . import _pickleguard as _native
from .client import Client, ServerError

__all__ = [
    "Client",
    "Policy",
    "REPORT_SCHEMA",
    "Report",
    "ServerError",
    "UnsafePickleError",
    "joblib_load",
    "load",
    "loads",
    "numpy_load",
    "scan",
    "scan_files",
    "shipped_policy_names",
    "torch_load",
]

__version__ = _native.__version__


def __dir__():
    # The API, not the modules this one imports for itself (PEP 562).
    return sorted(__all__ + ["__version__"])

_PathLike = (str, os.PathLike)


class Policy:
    """An allow-list policy: a shipped one by name, a TOML file, or several
    of them merged, as `pickleguard scan --policy A --policy B` merges them.

        Policy("sklearn")                  # shipped (pickleguard.shipped_policy_names())
        Policy("team/policy.toml")         # a file: a str with a '/' or ending in .toml, or an os.PathLike
        Policy(["numpy", "extra.toml"])    # merged, in order

    Every `policy=` argument takes the same: a name, a path, a list of them,
    or a Policy.
    """

    _shipped_cache = {}

    def __init__(self, source):
        self._native = _native_policy(source)

    @classmethod
    def _wrap(cls, native):
        policy = cls.__new__(cls)
        policy._native = native
        return policy

    @classmethod
    def shipped(cls, name):
        """A policy compiled into pickleguard: one of shipped_policy_names()."""
        if not isinstance(name, str):
            raise TypeError(f"a shipped policy name is a str, not {type(name).__name__}")
        cached = cls._shipped_cache.get(name)
        if cached is None:
            cached = cls._shipped_cache[name] = cls._wrap(_native.Policy.shipped(name))
        return cached

    @classmethod
    def from_file(cls, path):
        """A policy file; its includes resolve against the shipped policies, then its directory."""
        return cls._wrap(_native.Policy.load(_as_policy_path(path)))

    @classmethod
    def from_text(cls, text, origin="<string>", search_dir=""):
        return cls._wrap(_native.Policy.parse(text, origin, search_dir))

    @property
    def name(self):
        return self._native.name

    @property
    def description(self):
        return self._native.description

    @property
    def includes(self):
        return list(self._native.includes)

    @property
    def entries(self):
        """Every [[allow]] entry, includes merged: dicts with module, name,
        module_is_pattern, name_is_pattern, uses, note, origin."""
        return self._native.entries

    @property
    def persistent_ids(self):
        """The [[persistent_id]] rules: dicts with shape and storage_types."""
        return self._native.persistent_ids

    def find(self, module, name):
        """The entry allowing `module.name` as find_class resolves it, or None.
        Patterns never match a dotted name."""
        return self._native.find(module, name)

    def __repr__(self):
        return f"<pickleguard.Policy {self.name!r}: {len(self.entries)} entries>"


def shipped_policy_names():
    return list(_native.shipped_policy_names())


def _as_policy_path(path):
    """A path as the native loader takes it: one it reads as a file, never
    as a shipped name (it has a '/')."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError("a policy path must be a str or an os.PathLike of str")
    return text if "/" in text else os.path.join(".", text)


def _policy_argument(one):
    """One name or path as `pickleguard scan --policy` reads it."""
    if isinstance(one, str):
        return one  # a name, or a path when it has a '/' or ends in .toml
    if isinstance(one, os.PathLike):
        return _as_policy_path(one)
    raise TypeError(f"a policy is a shipped name, a path, a list of them or a pickleguard.Policy, "
                    f"not {type(one).__name__}")


def _native_policy(source):
    if isinstance(source, (list, tuple)):
        if not source:
            raise ValueError("an empty list of policies")
        return _native.Policy.load_many([_policy_argument(one) for one in source])
    return _native.Policy.load(_policy_argument(source))


def _policy(policy):
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str) and policy in _native.shipped_policy_names():
        return Policy.shipped(policy)
    return Policy(policy)


class Report:
    """One file's scan: the same content as `pickleguard scan --format json`.

    It has one attribute per field of a file's report (path, format,
    readings, verdict, bytes, pickles, findings, globals: the table
    `_pickleguard.report_schema` holds, which also drives the C++ JSON
    writer). `verdict` is "safe", "unsafe" or "error"; `findings` and
    `globals` are lists of dicts with the fields of docs/report-format.md.
    """

    def __init__(self, document):
        self.document = document
        self._file = document["files"][0]

    policy = property(lambda self: self.document["policy"])

    @property
    def safe(self):
        return self.verdict == "safe"

    @property
    def violations(self):
        return [f for f in self.findings if f["violation"]]

    def to_json(self, indent=2):
        return json.dumps(self.document, indent=indent)

    def __repr__(self):
        return f"<pickleguard.Report {self.verdict} {self.path!r}: {len(self.violations)} violations>"


# The report's fields, from the one table in C++ (pickleguard/report_schema.hpp).
REPORT_SCHEMA = _native.report_schema


def _file_field(name):
    return property(lambda self: self._file[name], doc=f"The file report's {name!r} (docs/report-format.md).")


for _name, *_ in REPORT_SCHEMA["tables"]["file_report"]:
    if _name in Report.__dict__:
        raise ImportError(f"pickleguard: report field {_name!r} collides with Report.{_name}")
    setattr(Report, _name, _file_field(_name))
del _name, _


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle is not safe under the policy; `.report` has the findings
    (None when the refusal came from the loader's own check)."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


# What `pickleguard scan` uses by default (--timeout, --max-memory).
_TIMEOUT = 60.0
_MAX_MEMORY_MB = 8192


class _Sandbox:
    """The keyword arguments every scanning function takes."""

    def __init__(self, sandbox=True, timeout=_TIMEOUT, max_memory_mb=_MAX_MEMORY_MB):
        if timeout is None or timeout < 0:
            raise ValueError("timeout must be a number of seconds >= 0 (0: none)")
        if max_memory_mb is None or max_memory_mb < 0:
            raise ValueError("max_memory_mb must be >= 0 (0: no limit)")
        self.on = bool(sandbox)
        self.timeout = float(timeout)
        self.max_memory_mb = int(max_memory_mb)


_DEFAULT_SANDBOX = _Sandbox()


def _scan_buffer(data, policy, path, containers, sandbox=_DEFAULT_SANDBOX):
    if sandbox.on:
        text = _native.scan_buffer_sandboxed(data, policy._native, path, containers, sandbox.timeout,
                                             sandbox.max_memory_mb)
    else:
        text = _native.scan_buffer(data, policy._native, path, containers)
    return Report(json.loads(text))


def scan(data_or_path, policy="default", *, containers=True, sandbox=True, timeout=_TIMEOUT,
         max_memory_mb=_MAX_MEMORY_MB):
    """Scans bytes, a bytearray, a memoryview (read in place) or a file (a
    str or os.PathLike path, memory-mapped) and returns its Report.

    With containers=True, files are opened by their content (torch zips,
    numpy, joblib, archives).
    With sandbox=True (the default) the scan runs in a sandboxed worker
    process, given `timeout` seconds (0: none) and `max_memory_mb` of address
    space beyond this process's own (0: no limit); see the module's doc."""
    p = _policy(policy)
    box = _Sandbox(sandbox, timeout, max_memory_mb)
    if isinstance(data_or_path, _PathLike):
        path = os.fspath(data_or_path)
        if box.on:
            report = scan_files([path], p, containers=containers, jobs=1, timeout=timeout,
                                max_memory_mb=max_memory_mb)[0]
            # As the in-process scan does: a file that cannot be read is an
            # OSError here, not a report (scan_files reports it instead).
            if report.verdict == "error" and [f["rule"] for f in report.findings] == ["unreadable-file"]:
                raise OSError(report.findings[0]["message"])
            return report
        return Report(json.loads(_native.scan_path(path, p._native, containers)))
    return _scan_buffer(data_or_path, p, "<bytes>", containers, box)


def scan_files(paths, policy="default", *, containers=True, sandbox=True, jobs=0, timeout=_TIMEOUT,
               max_memory_mb=_MAX_MEMORY_MB):
    """Scans files (str or os.PathLike paths) and returns their Reports, in
    order: in `jobs` sandboxed worker processes at once (0: one per core), as
    `pickleguard scan` does, or one after another in this process with
    sandbox=False. A file that cannot be read gets an "error" report (rule
    unreadable-file), as in `pickleguard scan`; OSError means the sandbox
    itself could not be set up."""
    p = _policy(policy)
    box = _Sandbox(sandbox, timeout, max_memory_mb)
    names = [os.fspath(path) for path in paths]
    if jobs < 0:
        raise ValueError("jobs must be >= 0 (0: one per core)")
    if box.on:
        texts = _native.scan_paths_sandboxed(names, p._native, containers, jobs, box.timeout, box.max_memory_mb)
        return [Report(json.loads(t)) for t in texts]
    return [Report(json.loads(_native.scan_path(n, p._native, containers))) for n in names]


def _summary(report):
    lines = [f"{f['rule']}: {f['message']}" for f in report.violations[:5]]
    if report.verdict == "error" and not lines:
        lines = [f["message"] for f in report.findings[:5]]
    more = len(report.violations) - 5
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n  ".join([f"pickle refused by policy {report.policy!r} (verdict {report.verdict}):"] + lines)


def _require_safe(report):
    if not report.safe:
        raise UnsafePickleError(_summary(report), report)


# ---- the loader's own check ---------------------------------------------------


def _compat_name(module, name):
    """The name CPython's find_class resolves below protocol 3 (fix_imports),
    as `_pickle.c` does: NAME_MAPPING first, else IMPORT_MAPPING on the module."""
    key = (module, name)
    if key in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[key]
    if module in _compat_pickle.IMPORT_MAPPING:
        return _compat_pickle.IMPORT_MAPPING[module], name
    return key


class _PolicyGuard:
    """find_class, getattr and persistent_load that resolve only the policy's
    globals, for any unpickler class (the C one, or joblib's pure-Python
    NumpyUnpickler) mixed in before it.

    find_class receives names as the stream spells them. Which name CPython
    would import depends on the protocol in force (fix_imports below 3, dotted
    traversal from 4), which the C unpickler does not expose; the scan's
    report says it for every spelling it saw. This class checks the policy
    itself, recomputes the renaming, and refuses any spelling the scan did
    not see, any ambiguity, and any dotted name the policy does not list.
    `seen_globals` are the report's globals of the one stream this unpickler
    reads (those at its location), so a spelling seen elsewhere in the file
    does not count.
    """

    def _guard(self, policy, seen_globals):
        self._policy = policy
        self._seen = {}
        # Attributes the scan judged as fetched with getattr (opcode REDUCE),
        # and whether it let getattr itself go without a policy entry.
        self._fetched = set()
        self._getattr_consumed = False
        for g in seen_globals:
            if g.get("opcode") == "REDUCE":
                self._fetched.add((g["module"], g["name"]))
                continue
            key = (g["raw_module"], g["raw_name"])
            self._seen.setdefault(key, set()).add((g["module"], g["name"], g["protocol"] >= 4, g["protocol"] < 3))
            if (g["module"], g["name"]) == ("builtins", "getattr") and g["allowed"]:
                self._getattr_consumed = True
        self._named = {}  # id(object) -> (object, module, name) for what find_class and getattr returned

    def _refuse(self, why):
        raise UnsafePickleError(f"pickleguard loader refused {why} (policy {self._policy.name!r})")

    def find_class(self, module, name):
        sys.audit("pickle.find_class", module, name)
        spelled = f"{module}.{name}"
        seen = self._seen.get((module, name))
        if not seen:
            self._refuse(f"{spelled}: the scan did not see it")
        if len(seen) != 1:
            self._refuse(f"{spelled}: it resolves differently at different protocols in this pickle")
        (target_module, target_name, dotted, remapped), = seen
        expected = _compat_name(module, name) if remapped else (module, name)
        if expected != (target_module, target_name):
            self._refuse(f"{spelled}: the scan resolved it as {target_module}.{target_name}, CPython as "
                         f"{expected[0]}.{expected[1]}")
        entry = self._policy.find(target_module, target_name)
        if entry is None and (target_module, target_name) == ("builtins", "getattr") and self._getattr_consumed:
            return self._getattr
        if entry is None:
            self._refuse(f"{target_module}.{target_name}: not in the policy")
        if "." in target_name and (entry["name_is_pattern"] or entry["name"] != target_name):
            self._refuse(f"{target_module}.{target_name}: dotted names must be listed exactly")
        # As find_class in _pickle.c: import the module, then getattr, walking
        # the dots only from protocol 4.
        __import__(target_module, level=0)
        obj = sys.modules[target_module]
        for part in target_name.split(".") if dotted else [target_name]:
            if part == "<locals>":
                self._refuse(f"{target_module}.{target_name}: a local object")
            obj = getattr(obj, part)
        self._named[id(obj)] = (obj, target_module, target_name)
        return obj

    def _getattr(self, obj, attr, *default):
        """getattr as the scan judged it (rule attribute-of-global): only a
        named global's attribute whose dotted name the policy lists exactly."""
        named = self._named.get(id(obj))
        if default or named is None or named[0] is not obj:
            self._refuse("getattr: only getattr(named global, 'attribute') is allowed")
        if not isinstance(attr, str) or not attr.isascii() or not attr.isidentifier():
            self._refuse(f"getattr: attribute name {attr!r}")
        module, name = named[1], f"{named[2]}.{attr}"
        entry = self._policy.find(module, name)
        if (module, name) not in self._fetched or entry is None or entry["name_is_pattern"] or entry["name"] != name:
            self._refuse(f"{module}.{name}: not in the policy")
        value = getattr(obj, attr)
        self._named[id(value)] = (value, module, name)
        return value

    def persistent_load(self, pid):
        if not self._policy.persistent_ids:
            self._refuse("a persistent id: the policy declares none")
        self._refuse("a persistent id: torch storages are loaded by torch, use pickleguard.torch_load")


class _GuardedUnpickler(_PolicyGuard, pickle.Unpickler):
    """The C unpickler (what pickle.load and numpy.load use) under the guard."""

    def __init__(self, file, policy, seen_globals, **kwargs):
        super().__init__(file, **kwargs)
        self._guard(policy, seen_globals)


def _globals_at(report, member):
    """The report's globals of the stream at `member` (None: the file itself)."""
    return [g for g in report.globals if g["member"] == member]


def _unpickle(data, policy, report, kwargs):
    unpickler = _GuardedUnpickler(io.BytesIO(data), policy, _globals_at(report, None), **kwargs)
    return unpickler.load()


def loads(data, policy="default", *, encoding="ASCII", errors="strict", sandbox=True, timeout=_TIMEOUT,
          max_memory_mb=_MAX_MEMORY_MB):
    """Scans `data` (bytes-like) and unpickles it when, and only when, the
    verdict is safe; otherwise raises UnsafePickleError carrying the report.
    The scan runs in a sandboxed worker unless sandbox=False (see scan)."""
    p = _policy(policy)
    if isinstance(data, str):
        raise TypeError("Can't load pickle from unicode string")
    report = _scan_buffer(data, p, "<bytes>", False, _Sandbox(sandbox, timeout, max_memory_mb))
    _require_safe(report)
    return _unpickle(data, p, report, {"encoding": encoding, "errors": errors})


def load(file, policy="default", *, encoding="ASCII", errors="strict", sandbox=True, timeout=_TIMEOUT,
         max_memory_mb=_MAX_MEMORY_MB):
    """Like loads, for a binary file object (read whole, once: what was
    scanned is what is loaded) or a path."""
    if isinstance(file, _PathLike):
        with open(file, "rb") as f:
            data = f.read()
    else:
        data = file.read()
    return loads(data, policy, encoding=encoding, errors=errors, sandbox=sandbox, timeout=timeout,
                 max_memory_mb=max_memory_mb)


# ---- PyTorch ------------------------------------------------------------------


_TORCH_FORMATS = {"pytorch-zip", "pytorch-legacy", "pytorch-legacy-tar"}


def torch_load(file, policy="pytorch", map_location=None, *, sandbox=True, timeout=_TIMEOUT,
               max_memory_mb=_MAX_MEMORY_MB):
    """Scans a torch.save checkpoint (path or binary file), then loads the
    bytes that were scanned with torch.load(..., weights_only=True). The scan
    runs in a sandboxed worker unless sandbox=False (see scan)."""
    import torch  # only now: the scan must not depend on torch

    p = _policy(policy)
    if isinstance(file, _PathLike):
        path = os.fspath(file)
        with open(path, "rb") as f:
            data = f.read()
    else:
        path = getattr(file, "name", "<file>")
        data = file.read()
    # The container reader opens the checkpoint as torch.load does (every
    # pickle of a zip, a legacy stream or tar), not data.pkl alone.
    report = _scan_buffer(data, p, str(path), True, _Sandbox(sandbox, timeout, max_memory_mb))
    _require_safe(report)
    # torch.load hands TorchScript zips to torch.jit.load before it looks at
    # weights_only (torch 1.13): only checkpoint formats go on to torch.
    if report.format not in _TORCH_FORMATS:
        raise UnsafePickleError(f"{path}: a {report.format!r} file is not a torch.save checkpoint", report)
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)


# ---- joblib and numpy -----------------------------------------------------------


def _read_whole(file):
    """(bytes, name) of a path or a binary file object, read once: what was
    scanned is what is loaded."""
    if isinstance(file, _PathLike):
        path = os.fspath(file)
        with open(path, "rb") as f:
            return f.read(), path
    return file.read(), str(getattr(file, "name", "<file>"))


def _scan_to_load(file, policy, formats, what, box):
    p = _policy(policy)
    data, path = _read_whole(file)
    report = _scan_buffer(data, p, path, True, box)
    _require_safe(report)
    if report.format not in formats:
        raise UnsafePickleError(f"{path}: a {report.format!r} file is not {what}", report)
    return p, data, path, report


# joblib.load opens these (numpy_pickle_utils._detect_compressor), then reads
# the pickle inside; the scan names such a file by its compressor.
_JOBLIB_FORMATS = {"joblib", "pickle", "zlib", "gzip", "bz2", "xz", "lzma", "lz4"}


def joblib_load(file, policy="sklearn", *, sandbox=True, timeout=_TIMEOUT, max_memory_mb=_MAX_MEMORY_MB):
    """Scans a joblib.dump file (path or binary file object; any compressor
    joblib writes), then loads the bytes that were scanned with joblib's own
    NumpyUnpickler, under the policy-checking find_class: the same two lines
    of defence as loads. The default policy, sklearn, allows what
    scikit-learn's persistence guide saves (estimators, pipelines, numpy
    arrays through joblib's NumpyArrayWrapper)."""
    from joblib import numpy_pickle, numpy_pickle_compat, numpy_pickle_utils

    box = _Sandbox(sandbox, timeout, max_memory_mb)
    p, data, path, report = _scan_to_load(file, policy, _JOBLIB_FORMATS, "a joblib.dump file", box)
    # The scan names the joblib stream of a compressed file by its compressor
    # ("zlib"), and the pickle an object array holds by its place in that
    # stream ("zlib > object array at offset N").
    root = None if report.format in ("joblib", "pickle") else report.format
    nested = "object array at offset " if root is None else f"{root} > object array at offset "
    object_globals = [g for g in report.globals if (g["member"] or "").startswith(nested)]

    class GuardedNumpyUnpickler(_PolicyGuard, numpy_pickle.NumpyUnpickler):
        dispatch = numpy_pickle.NumpyUnpickler.dispatch.copy()

        def load_build(self):
            # As NumpyUnpickler.load_build: BUILD, then an array wrapper on
            # the stack is replaced by the array it reads from the stream.
            # joblib reads an object array's data with a plain pickle.load of
            # the stream; here that nested pickle goes through the guard too.
            pickle._Unpickler.load_build(self)
            top = self.stack[-1]
            if isinstance(top, numpy_pickle_compat.NDArrayWrapper):
                self._refuse("joblib's NDArrayWrapper: it loads a companion file with numpy.load(allow_pickle=True)")
            if not isinstance(top, numpy_pickle.NumpyArrayWrapper):
                return
            wrapper = self.stack.pop()
            if not wrapper.dtype.hasobject:
                self.stack.append(wrapper.read(self))
                return
            if wrapper.subclass is not self.np.ndarray:
                self._refuse(f"an object array of subclass {wrapper.subclass!r}")
            array = _GuardedUnpickler(self.file_handle, self._policy, object_globals).load()
            self.stack.append(numpy_pickle_utils._ensure_native_byte_order(array))

        dispatch[pickle.BUILD[0]] = load_build

    with numpy_pickle_utils._read_fileobject(io.BytesIO(data), path) as stream:
        if isinstance(stream, str):
            # joblib < 0.10's format: joblib.load hands it to load_compatibility,
            # which reads companion .npy files beside it.
            raise UnsafePickleError(f"{path}: a joblib < 0.10 file, which loads companion files", report)
        unpickler = GuardedNumpyUnpickler(path, stream)
        unpickler._guard(p, _globals_at(report, root))
        return unpickler.load()


def _load_npy(stream, policy, member, report, encoding):
    """One .npy as numpy.lib.format.read_array reads it, with the pickle of an
    object array through the guard (numpy calls pickle.load(fp) there)."""
    import numpy

    fmt = numpy.lib.format
    start = stream.tell()
    # The header as read_array reads it (numpy's own private helper, so every
    # header version numpy knows is read as numpy reads it); allow_pickle=True
    # lifts its header size limit, as here.
    version = fmt.read_magic(stream)
    fmt._check_version(version)
    _, _, dtype = fmt._read_array_header(stream, version, max_header_size=2**64)
    if not dtype.hasobject:
        stream.seek(start)
        return fmt.read_array(stream, allow_pickle=False, max_header_size=2**64)
    where = "object array" if member is None else f"{member} > object array"
    return _GuardedUnpickler(stream, policy, _globals_at(report, where), encoding=encoding).load()


def numpy_load(file, policy="numpy", *, encoding="ASCII", sandbox=True, timeout=_TIMEOUT,
               max_memory_mb=_MAX_MEMORY_MB):
    """Scans a .npy or .npz file (path or binary file object), then loads the
    bytes that were scanned as numpy.load(..., allow_pickle=True) would, with
    every object array's pickle under the policy-checking find_class. A .npy
    gives its array; a .npz a dict of its members, named as numpy.load's
    NpzFile names them (".npy" dropped; a member that is not a .npy is its
    bytes, as NpzFile returns it)."""
    import zipfile

    box = _Sandbox(sandbox, timeout, max_memory_mb)
    p, data, path, report = _scan_to_load(file, policy, {"npy", "npz"}, "a .npy or .npz file", box)
    if report.format == "npy":
        return _load_npy(io.BytesIO(data), p, None, report, encoding)
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                head = member.read(6)
            if head != b"\x93NUMPY":
                if name in arrays:
                    raise UnsafePickleError(f"{path}: two members are both named {name!r} by numpy.load", report)
                arrays[name] = archive.read(name)
                continue
            key = name[:-4] if name.endswith(".npy") else name
            if key in arrays:
                # NpzFile would give one of them for this key; which depends
                # on its lookup order, so refuse rather than guess.
                raise UnsafePickleError(f"{path}: two members are both named {key!r} by numpy.load", report)
            with archive.open(name) as member:
                arrays[key] = _load_npy(io.BytesIO(member.read()), p, name, report, encoding)
    return arrays
