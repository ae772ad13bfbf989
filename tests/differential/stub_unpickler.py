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
import warnings
from dataclasses import dataclass
from typing import Any


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
            return None
        return record


class StubMeta(type):
    """Metaclass of stub classes: calling a stub class (REDUCE, INST, OBJ) and
    item assignment on the class object itself are recorded, never executed."""

    def __call__(cls, *args, **kwargs):
        fold = cls.__dict__.get("_pg_fold")
        if fold is not None and not kwargs:
            return fold(*args)
        inst = object.__new__(cls)
        inst._pg_init("reduce", cls, args, kwargs)
        return inst

    def __setitem__(cls, key, value):
        cls._pg_events.append(("setitem", (key, value)))


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
        inst = object.__new__(cls)
        inst._pg_init("new", cls, args, kwargs)
        return inst

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        # REDUCE whose callable is itself a stub object.
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


class StubUnpickler(pickle.Unpickler):
    """C unpickler whose globals and persistent ids are inert stubs."""

    def __init__(self, file, **kwargs):
        super().__init__(file, **kwargs)
        self._stub_classes: dict[tuple[str, str], type] = {}

    def find_class(self, module, name):
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
