"""The only way this harness ever unpickles bytes it did not just produce.

``StubUnpickler`` subclasses CPython's C unpickler (``pickle.Unpickler`` is
``_pickle.Unpickler``), so every opcode is executed by the real ``_pickle.c``
code whose accept/reject behaviour we want as the reference.  What makes it
safe is that nothing in the stream can reach real code:

* ``find_class`` never imports; it returns a fresh, inert stub class per
  (module, name) per load, which only records how it is used;
* ``persistent_load`` returns an inert stub object;
* EXT1/2/4 are left to ``_pickle.c``, which consults copyreg's extension
  registry read-only.  The harness never registers extensions, so a positive
  code is always "unregistered"; edge cases that need a positive EXT verdict
  supply an equivalent GLOBAL stream instead (see edge_cases.py).

Stubs accept any arguments to construction and calls, and support every
method the unpickler may look up on a non-list/dict/set target (``extend``,
``append``, ``__setitem__``, ``add``, ``__setstate__``), both on instances and
on the stub classes themselves (a GLOBAL result can be the target of BUILD,
APPENDS, ...).  They record what happened so the self-test can render them
as the symbolic JSON nodes of the pickleguard contract.
"""

from __future__ import annotations

import _compat_pickle
import pickle
import sys
import warnings
from dataclasses import dataclass
from typing import Any


# What the current load has asked of the stubs, in order (find_class, calls,
# methods), for three_readers: a reader that fails part way must have done a
# prefix of what the others did.
TRACE: list = []


def _name_of(obj) -> str:
    if isinstance(obj, StubMeta):
        return f"{obj._pg_module}.{obj._pg_name}"
    return type(obj).__name__


class _Recorder:
    """Descriptor giving both a stub class and its instances a no-op method
    that only appends its arguments to the target's event list.

    A plain function in the class body would not do: looked up on the class
    object (e.g. BUILD applied to a GLOBAL) it would come back unbound and the
    first argument would be taken as ``self``.
    """

    def __init__(self, event: str):
        self.event = event

    def __get__(self, obj, owner):
        target = owner if obj is None else obj
        event = self.event

        def record(*args, **kwargs):
            target._pg_events.append((event, args))
            TRACE.append((event, _name_of(target)))
            return None
        return record


class StubMeta(type):
    """Metaclass of stub classes: calling a stub class (REDUCE, INST, OBJ) and
    item assignment on the class object itself are recorded, never executed."""

    def __call__(cls, *args, **kwargs):
        TRACE.append(("call", _name_of(cls)))
        fold = cls.__dict__.get("_pg_fold")
        if fold is not None and not kwargs:
            return fold(*args)
        inst = object.__new__(cls)
        inst._pg_init("reduce", cls, args, kwargs)
        return inst

    def __setitem__(cls, key, value):
        cls._pg_events.append(("setitem", (key, value)))
        TRACE.append(("setitem", _name_of(cls)))


class StubObject(metaclass=StubMeta):
    """Base of every stub.  Instances stand for "whatever the pickle built"."""

    _pg_module: str | None = None
    _pg_name: str | None = None

    def _pg_init(self, kind, func, args, kwargs):
        self._pg_kind = kind          # "reduce" | "new" | "persid"
        self._pg_func = func          # callable / class / persistent id
        self._pg_args = args
        self._pg_kwargs = kwargs
        self._pg_events = []
        # The arguments as they were at call time (list arguments copied):
        # a real set(L) takes L's items now, even if the stream appends to
        # L later.  Used only to render constructor calls as data.
        self._pg_snapshot = tuple(list(a) if type(a) is list else a for a in args)

    def __new__(cls, *args, **kwargs):
        # Reached by NEWOBJ/NEWOBJ_EX (which call tp_new directly) and by
        # INST/OBJ with no arguments (cls.__new__(cls)).
        TRACE.append(("new", _name_of(cls)))
        inst = object.__new__(cls)
        inst._pg_init("new", cls, args, kwargs)
        return inst

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        # REDUCE whose callable is itself a stub object.
        TRACE.append(("call", "object"))
        inst = object.__new__(StubObject)
        inst._pg_init("reduce", self, args, kwargs)
        return inst

    __setstate__ = _Recorder("state")
    extend = _Recorder("append")
    append = _Recorder("append")
    add = _Recorder("add")
    __setitem__ = _Recorder("setitem")


def make_stub_class(module: str, name: str) -> type:
    # The Python-level class name is fixed: the recorded name may contain
    # characters type() refuses (e.g. NUL).
    cls = StubMeta("Stub", (StubObject,), {
        "_pg_module": module,
        "_pg_name": name,
        "_pg_events": [],
    })
    return cls


_LATIN1 = ("latin1", "latin-1")
_ITERABLE = (list, tuple, set, frozenset, dict, str, bytes, bytearray)
_NOT_ITERABLE = (type(None), bool, int, float)


def _data_constructor(module: str, name: str, stub: type):  # noqa: C901
    """The stdlib's pure data constructors, run for real on plain data.

    The pickler writes set/frozenset (protocol < 4), bytes (< 3) and
    bytearray (< 5) as calls, and pickleguard builds those values as CPython
    would. To compare that, these calls run for real, but only on the
    argument shapes pickleguard folds: anything else goes to the inert stub,
    exactly as pickleguard leaves it symbolic. None of these constructors
    imports, writes or runs anything.
    """
    def symbolic(*args):
        inst = object.__new__(stub)
        inst._pg_init("reduce", stub, args, {})
        return inst

    def set_like(ctor):
        def call(*args):
            if len(args) > 1:
                raise TypeError(f"{ctor.__name__} expected at most 1 argument, got {len(args)}")
            if not args or type(args[0]) in _ITERABLE:
                return ctor(*args)
            if type(args[0]) in _NOT_ITERABLE:
                raise TypeError(f"'{type(args[0]).__name__}' object is not iterable")
            return symbolic(*args)
        return call

    def encode(*args):
        if len(args) == 2 and type(args[0]) is str and args[1] in _LATIN1:
            return args[0].encode("latin-1")
        return symbolic(*args)

    def make_bytes(*args):
        return b"" if not args else symbolic(*args)

    def make_bytearray(*args):
        if not args:
            return bytearray()
        if len(args) == 1 and type(args[0]) is bytes:
            return bytearray(args[0])
        if len(args) == 2 and type(args[0]) is str and args[1] in _LATIN1:
            return bytearray(args[0].encode("latin-1"))
        return symbolic(*args)

    table = {("builtins", "set"): set_like(set), ("builtins", "frozenset"): set_like(frozenset),
             ("_codecs", "encode"): encode, ("builtins", "bytes"): make_bytes,
             ("builtins", "bytearray"): make_bytearray}
    return table.get((module, name))


class _Stubs:
    """find_class and persistent_load of both stub unpicklers."""

    def __init__(self, file, **kwargs):
        super().__init__(file, **kwargs)
        self._stub_classes: dict[tuple[str, str], type] = {}

    def find_class(self, module, name):
        TRACE.append(("find_class", module, name))
        key = (module, name)
        cls = self._stub_classes.get(key)
        if cls is None:
            cls = self._stub_classes[key] = make_stub_class(module, name)
        # Overriding find_class also bypasses CPython's fix_imports renaming,
        # which lives in the base method; the protocol in force is not exposed,
        # so Python 2 spellings of the constructors are recognised at any
        # protocol (the pickler writes them only below 3).
        # The class stays a stub (BUILD, SETITEM... on it are recorded, as
        # pickleguard keeps globals symbolic); only calling it folds.
        m, n = module, name
        if (m, n) in _compat_pickle.NAME_MAPPING:
            m, n = _compat_pickle.NAME_MAPPING[(m, n)]
        elif m in _compat_pickle.IMPORT_MAPPING:
            m = _compat_pickle.IMPORT_MAPPING[m]
        fold = _data_constructor(m, n, cls)
        if fold is not None:
            cls._pg_fold = staticmethod(fold)
        return cls

    def persistent_load(self, pid):
        inst = object.__new__(StubObject)
        inst._pg_init("persid", pid, (), {})
        return inst


class StubUnpickler(_Stubs, pickle.Unpickler):
    """C unpickler (_pickle.c) whose globals and persistent ids are inert stubs."""


class PyStubUnpickler(_Stubs, pickle._Unpickler):
    """The pure-Python unpickler (Lib/pickle.py, what joblib subclasses) with
    the same stubs. Its find_class is overridden too, so it never imports."""


class _WholeInput:
    """File object that hands _pickle.c the whole input on its first read.

    ``pickle.loads(data)`` unpickles from one in-memory buffer.  An Unpickler
    over io.BytesIO instead refills its buffer from the file, and each refill
    *drops* the unconsumed rest of the previous buffer; after a FRAME that
    loses bytes whenever an opcode straddles the frame's end (the pickler
    never writes that, mutants do), giving verdicts ``loads`` would not.
    Returning everything at once (and b"" afterwards) makes the C code run on
    a single buffer, exactly as in ``loads``.  No ``peek``/``readinto``, so
    nothing else is ever asked of this object.
    """

    def __init__(self, data: bytes):
        self._data = data

    def read(self, n=-1):
        data, self._data = self._data, b""
        return data

    readline = read


@dataclass
class LoadResult:
    ok: bool
    value: Any = None
    exc: BaseException | None = None

    @property
    def reason(self) -> str:
        return "" if self.exc is None else f"{type(self.exc).__name__}: {self.exc}"


def stub_load(data: bytes) -> LoadResult:
    """CPython's verdict on ``data`` with all globals stubbed out.

    Any exception means "CPython rejects".  Warnings are silenced so that a
    ``-W error`` run cannot turn e.g. an invalid-escape DeprecationWarning in
    STRING into a different verdict.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = StubUnpickler(_WholeInput(data)).load()
        except Exception as exc:   # noqa: BLE001 - every failure is a verdict
            return LoadResult(False, exc=exc)
    return LoadResult(True, value=value)


# --- the three readers ---------------------------------------------------------
#
# Victims rarely call pickle.loads. torch.load, pickle.load(f) and
# pandas.read_pickle hand _pickle.c a file object, and joblib uses the
# pure-Python pickle._Unpickler. With a file, _pickle.c reads a FRAME into its
# buffer and reads on from the file when a read needs more than the buffer
# holds, dropping the rest (an io.BufferedReader's peek() hides that when the
# peeked block covers the frame); pickle.py refuses a read that runs past its
# frame. So the same bytes can give different results, and the harness asks
# all of them.

READERS = ("loads", "file", "bytesio", "python")


@dataclass
class ReaderResult:
    ok: bool
    key: str | None = None      # canonical JSON of the value (loads, when asked for)
    end: int | None = None      # file position after load (where a next pickle would start)
    reason: str = ""
    sig: bytes | str | None = None   # comparison key of the value (_signature)
    trace: tuple = ()           # what it asked of the stubs, in order (TRACE)
    value: Any = None           # the value built, when accepted


_default_excepthook = sys.excepthook


def _quiet_excepthook(exc_type, exc, tb):
    # pickle.py's BYTEARRAY8 readinto leaves a memoryview export behind when
    # a read fails, and CPython prints a SystemError (PyErr_Print, through
    # sys.excepthook) when that bytearray is collected, whenever that is:
    # expected here, and nothing else is hidden.
    if exc_type is SystemError and "exported buffers" in str(exc):
        return
    _default_excepthook(exc_type, exc, tb)


def _read_with(make, f) -> tuple[LoadResult, int | None, tuple]:
    TRACE.clear()
    sys.excepthook = _quiet_excepthook
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = make(f).load()
        except Exception as exc:   # noqa: BLE001 - every failure is a verdict
            return LoadResult(False, exc=exc), None, tuple(TRACE)
        return LoadResult(True, value=value), f.tell(), tuple(TRACE)


def _loads(data: bytes) -> tuple[LoadResult, None, tuple]:
    TRACE.clear()
    result = stub_load(data)
    return result, None, tuple(TRACE)


class _SignaturePickler(pickle.Pickler):
    """The C pickler, writing each stub as what it records (its name, or how
    it was made and what was applied to it), so that values holding stubs
    compare as fast as plain data."""

    def reducer_override(self, obj):
        if isinstance(obj, StubMeta):
            return tuple, (("global", obj._pg_module, obj._pg_name, obj._pg_events),)
        if isinstance(obj, StubObject):
            return tuple, ((obj._pg_kind, obj._pg_func, obj._pg_args, obj._pg_kwargs, obj._pg_events),)
        return NotImplemented


def _signature(value) -> bytes | None:
    """A type-strict key to compare readers' values by: the same stream read
    alike pickles alike (bool vs int and 0.0 vs -0.0 included). None when
    the value cannot be written (compared by acceptance only)."""
    import io
    buf = io.BytesIO()
    try:
        _SignaturePickler(buf, protocol=5).dump(value)
    except Exception:   # noqa: BLE001
        return None
    return buf.getvalue()


def _summarise(result: LoadResult, end: int | None, trace: tuple, want_key: bool = False) -> ReaderResult:
    if not result.ok:
        return ReaderResult(False, reason=result.reason, trace=trace)
    r = ReaderResult(True, end=end, trace=trace, value=result.value)
    r.sig = _signature(result.value)
    if want_key:
        import pgjson
        try:
            r.key = pgjson.expected_canonical(result.value)
        except Exception:   # noqa: BLE001
            r.key = None
    return r


def three_readers(data: bytes, path: str, want_key: bool = False) -> dict[str, ReaderResult]:
    """What each reader makes of ``data`` (also written at ``path``):
    pickle.loads, pickle.load on the real file (an io.BufferedReader, with
    peek), pickle.load on an io.BytesIO (no peek), and pickle._Unpickler.
    Every global is a stub in all four; nothing is ever imported or called.
    ``want_key``: also the canonical JSON key of loads' value."""
    import io
    out = {"loads": _summarise(*_loads(data), want_key=want_key)}
    with open(path, "rb") as f:
        out["file"] = _summarise(*_read_with(StubUnpickler, f))
    out["bytesio"] = _summarise(*_read_with(StubUnpickler, io.BytesIO(data)))
    out["python"] = _summarise(*_read_with(PyStubUnpickler, io.BytesIO(data)))
    return out


def disagreement(results: dict[str, ReaderResult]) -> tuple[str, str]:
    """(kind, what) for how the readers' results relate:

    * ("", "") they agree: all reject, or all accept the same value and the
      file readers stop at the same place (where a next pickle would start);
    * ("prefix", what): pickle.loads accepts, and every reader that does not
      fails part way after doing only a prefix of what loads did (the same
      find_class, calls and methods, in order) while the others agree with
      loads. _pickle.c's reading covers theirs: a verdict on it holds for
      them (e.g. pickle.py's int() refusing "I010", which strtol reads as 8);
    * ("disagree", what): anything else. pickleguard must reject."""
    loads = results["loads"]
    oks = {name: r.ok for name, r in results.items()}
    ends = {r.end for n, r in results.items() if n != "loads" and r.ok}
    sigs = {r.sig for r in results.values() if r.ok}
    if not any(oks.values()):
        return "", ""
    if len(sigs) > 1 and None not in sigs:
        # Sets of stubs iterate in address order, which differs per reader:
        # look again with the harness's canonical JSON, which sorts sets.
        import pgjson
        try:
            sigs = {pgjson.expected_canonical(r.value) for r in results.values() if r.ok}
        except Exception:   # noqa: BLE001 - cannot tell: compare by acceptance only
            sigs = set()
    if len(sigs) > 1:
        return "disagree", "values differ: " + ", ".join(
            n for n, r in results.items() if r.ok and r.sig != loads.sig) + " vs loads"
    if len(ends) > 1:
        return "disagree", "next pickle starts at: " + ", ".join(
            f"{n} {r.end}" for n, r in results.items() if n != "loads")
    if all(oks.values()):
        return "", ""
    what = "accept/reject: " + ", ".join(f"{n} {'accepts' if ok else 'rejects'}" for n, ok in oks.items())
    if loads.ok and all(r.ok or loads.trace[:len(r.trace)] == r.trace for r in results.values()):
        return "prefix", what
    return "disagree", what
