"""The inspector of `pickleguard policy generate` (tools/pickleguard/policy_generate.cpp).

    python3 -B -c <this file> [--path DIR]... LIBRARY...

Runs in a trusted environment with the LIBRARY installed. It imports the
library and its submodules (never a pickle), and for every class and
function defined there decides, from the code that unpickling would run,
which `uses` a policy entry needs, or refuses it. It prints one JSON
document on standard output; whatever the library prints goes to standard
error. The C++ side checks every candidate and every external callee against
the knowledge base, writes the TOML and checks that it parses.

What unpickling runs, as CPython 3.11 does it:
  * object.__reduce_ex__ (protocol >= 2: copyreg.__newobj__, so NEWOBJ
    <class> then BUILD <state>, APPENDS for list subclasses, SETITEMS for dict
    subclasses; protocols 0 and 1: copyreg._reconstructor, which the shipped
    python policy allows with `invokes`, instantiating the class) -> uses
    "new", "build". NEWOBJ runs the class's __new__ with arguments the pickle
    chooses; BUILD runs __setstate__ if any (`load_build` looks it up on the
    instance, so __getattr__ runs when it is missing), else updates __dict__
    and setattr()s slot state, which runs __setattr__ and data-descriptor
    setters (properties) for keys the pickle chooses. A class refused only
    for what slot state would run, with no __setstate__, gets "build-dict"
    instead of "build" (the judge then accepts dict state only, which
    load_build writes into __dict__ without setattr); a Python
    __getattribute__ is scanned for every BUILD (the __setstate__ lookup).
  * a custom __reduce__/__reduce_ex__ returning (type(self) | self.__class__ |
    <the class>, args[, state[, listitems[, dictitems]]]) -> "call" (the
    metaclass __call__, __new__ and __init__ run with the pickle's arguments),
    plus "build", "append", "setitem" as the tuple has those items. Any other
    reduction is refused: the generator cannot name what it calls.
  * set / frozenset / exceptions / OrderedDict / deque / defaultdict reduce
    natively to a call of the class (known table below).
  * a reducer in copyreg.dispatch_table: refused (not analysed).
  * always: __del__ (runs when the loaded object is freed), __hash__ and
    __eq__ (run when the object is a dict key or set member while loading),
    __call__ (an instance stored where the library expects a callable).

Every such method is read with inspect.getsource and scanned (ast); the
methods and same-library functions it calls on `self`, `super()`, classes and
module globals are followed and scanned in turn. Refused: import statements;
eval, exec, compile, open, __import__, globals, locals, vars, breakpoint,
input; getattr/setattr/delattr with a computed name; calls of an argument,
of a value stored on the instance, of a local or computed value; calls into
modules that reach the system (os, sys, subprocess, io, pickle, ...); access
to __globals__, __builtins__, __code__, __subclasses__ and frame attributes;
native code of the library (no source to read); a call chain deeper than
MAX_DEPTH. Calls into other packages are not followed: they are listed in
"calls", and the C++ side refuses the entry when the knowledge base names
one of them. Method calls on other values (`state.items()`, `self._adj.get`)
are not followed: they dispatch on the type of a value the pickle made,
which the policy judges on its own.

A module-level function gets "reference" (a stored value) when its own code
(the wrapper too, when decorated) passes the same scan: in particular it may
not call its arguments (policy docs: "What a reference may be").
"""

import ast
import builtins
import copy
import copyreg
import enum
import functools
import hashlib
import importlib
import importlib.util
import inspect
import io
import json
import linecache
import os
import pkgutil
import re
import sys
import textwrap
import types
import warnings

MAX_DEPTH = 8

# Calls refused by name (builtins).
DENY_BUILTINS = {
    "eval": "evaluates code", "exec": "executes code", "compile": "compiles code", "open": "opens files",
    "__import__": "imports", "globals": "reaches module globals", "locals": "reaches frame locals",
    "vars": "reaches an object's namespace", "breakpoint": "starts a debugger", "input": "reads the terminal",
    "exit": "exits", "quit": "exits", "help": "starts pydoc", "memoryview": "exposes raw memory",
}
DYNAMIC_ATTR = {"getattr", "setattr", "delattr"}

# Modules whose functions reach the system or load code (top-level package names).
DENY_MODULES = {
    "os", "posix", "nt", "sys", "subprocess", "shutil", "socket", "pickle", "_pickle", "marshal", "importlib",
    "builtins", "ctypes", "io", "_io", "pathlib", "tempfile", "runpy", "code", "codeop", "shelve", "dbm",
    "urllib", "http", "ftplib", "smtplib", "telnetlib", "webbrowser", "pty", "signal", "multiprocessing",
    "threading", "_thread", "asyncio", "inspect", "types", "gc", "imp", "pkgutil", "zipimport", "site", "pydoc",
    "glob", "fileinput", "dill", "cloudpickle", "joblib", "runpy", "timeit", "pdb",
    # packages that fetch, read or write files and URLs (an allowed reference
    # is called without arguments by defaultdict: scipy.datasets.download_all()
    # would fetch every data set through pooch)
    "pooch", "requests", "urllib3", "aiohttp", "fsspec", "smart_open", "boto3", "botocore", "tifffile",
    "imageio", "PIL", "h5py", "netCDF4", "sqlite3", "zipfile", "tarfile", "gzip", "bz2", "lzma", "shelve",
    "tkinter", "matplotlib", "IPython", "setuptools", "distutils", "pip", "pkg_resources", "sysconfig",
    "dask", "distributed", "ray", "paramiko", "smtplib", "xmlrpc", "wsgiref", "socketserver", "mmap",
    # a YAML loader or dumper, and argparse (parses sys.argv and exits on a bad one)
    "yaml", "argparse", "getopt",
    # formula strings are Python code: patsy's dmatrices(formula, data)
    # evaluates them (statsmodels' ModelData.__setstate__ calls it with the
    # pickle's formula); antigravity opens a web browser when imported
    "patsy", "antigravity", "turtle", "idlelib",
    # run code strings, or read and write their profiles and sessions
    # (nltk's run_profile: profile.run("...", "/tmp/profile.out"))
    "profile", "cProfile", "pstats", "trace", "bdb", "doctest", "ensurepip", "venv",
}
# Functions of deny-listed modules that only test or read types (their whole
# CPython 3.11 body is the comment). inspect.signature is not here: it follows
# __wrapped__ and __signature__ and evaluates text signatures (eval in
# _signature_fromstr).
PURE_DENIED = {
    ("inspect", "getmro"): "return cls.__mro__",
    ("inspect", "isclass"): "return isinstance(object, type)",
    ("inspect", "ismodule"): "return isinstance(object, types.ModuleType)",
    ("inspect", "isfunction"): "return isinstance(object, types.FunctionType)",
    ("inspect", "ismethod"): "return isinstance(object, types.MethodType)",
    ("inspect", "isbuiltin"): "return isinstance(object, types.BuiltinFunctionType)",
}
# Callees outside the library whose names say they reach files, the network,
# other processes or code (numpy.load, pandas.read_csv, astropy's fitsopen,
# ElementTree.iterparse, distributed's get_client): refused by name, anywhere
# in the name, since what is outside the library is not read. Broad on
# purpose ("thread" matches "read"): a false match only refuses more.
IO_CALLEE = re.compile(r"open|load|save|read|write|fetch|retrieve|download|upload|iterparse|request|connect|"
                       r"client|socket|system|popen|spawn|exec|eval|import|file|dump|memmap|to_|imsave|argv",
                       re.IGNORECASE)
# Callables that call what they are given (refused when handed an argument
# or a value stored on the instance), and the operator/functools ones that
# call or reach anything.
# Callee name -> the positional argument it calls (None: only keywords, below).
HIGHER_ORDER = {"map": 0, "filter": 0, "reduce": 0, "starmap": 0, "filterfalse": 0, "takewhile": 0,
                "dropwhile": 0, "partial": 0, "cmp_to_key": 0, "call": 0, "apply": 0, "iter": 0, "accumulate": 1,
                "groupby": 1, "sorted": None, "min": None, "max": None, "nsmallest": None, "nlargest": None,
                "merge": None}
CALLED_KEYWORDS = {"key", "func", "function", "callback", "initial_func"}
# Allocators whose size the caller chooses: an argument or a stored value
# (state the pickle wrote) reaching one of these sizes lets a pickle of a few
# bytes make the loader allocate, fill or iterate as much as it names
# (bytes(2**40), [0] * n, numpy.zeros(n), math.factorial(n), '{:{w}}'.format(..)).
# The code is refused unless every size is bounded (see bounded_size). Keys:
# (module, name) of a callable, or (None, method name) for a method of any
# value; values: the positional indexes and keywords that are sizes ("*":
# every argument).
_NUMPY_LIKE_ALLOC = {
    "zeros": ((0,), ("shape",)), "empty": ((0,), ("shape",)), "ones": ((0,), ("shape",)),
    "full": ((0,), ("shape",)), "arange": ("*", ()), "tile": ((1,), ("reps",)), "repeat": ((1,), ("repeats",)),
    "broadcast_to": ((1,), ("shape",)), "linspace": ((2,), ("num",)), "logspace": ((2,), ("num",)),
    "geomspace": ((2,), ("num",)), "eye": ((0, 1), ("N", "M", "n", "m")), "identity": ((0,), ("n",)),
    "indices": ((0,), ("dimensions",)), "tri": ((0, 1), ("N", "M")), "ndarray": ((0,), ("shape",)),
    "resize": ((1,), ("new_shape",)), "empty_strided": ((0,), ("size",)), "rand": ("*", ("size",)),
    "randn": ("*", ("size",)), "randint": ((2,), ("size",)),
    "zeros_like": ((), ("shape",)), "ones_like": ((), ("shape",)), "empty_like": ((), ("shape",)),
    "full_like": ((), ("shape",)),
    # torch's quantized constructors (torch._utils._rebuild_qtensor)
    "_empty_affine_quantized": ((0,), ("size",)), "_empty_per_channel_affine_quantized": ((0,), ("size",)),
    "empty_quantized": ((0,), ("size",)),
}
ALLOC_CALLEES = {
    ("builtins", "bytes"): ((0,), ()), ("builtins", "bytearray"): ((0,), ()), ("builtins", "range"): ("*", ()),
    ("math", "factorial"): ("*", ()), ("math", "comb"): ("*", ()), ("math", "perm"): ("*", ()),
    ("math", "pow"): ((1,), ()), ("builtins", "pow"): ((1,), ()),
    ("itertools", "repeat"): ((1,), ("times",)), ("itertools", "product"): ((), ("repeat",)),
    **{(lib, k): v for lib in ("numpy", "torch", "cupy", "jax.numpy") for k, v in _NUMPY_LIKE_ALLOC.items()},
    # A method of any value: str.ljust(n), int.to_bytes(n), ndarray.repeat(n), ...
    **{(None, m): ((0,), ("width", "length", "repeats", "tabsize", "new_shape"))
       for m in ("ljust", "rjust", "center", "zfill", "to_bytes", "repeat", "expandtabs", "resize")},
}
# Sizes computed from these are bounded by a value the loader already holds.
BOUNDED_CALLS = {"len", "min", "int", "abs", "bool", "round"}
DENY_ATTRS = {"__globals__", "__builtins__", "__code__", "__subclasses__", "__closure__", "f_globals", "f_locals",
              "f_back", "gi_frame", "cr_frame", "tb_frame", "__loader__", "__import__"}

# Reductions implemented in C by built-in and standard-library types, as
# their __reduce__ in CPython's Objects/ and Modules/ return them.
NATIVE_REDUCE = {
    "set": ("call", "build"),                # set_reduce: (type(s), (list(s),), __dict__)
    "frozenset": ("call", "build"),
    "BaseException": ("call", "build"),      # BaseException_reduce: (type(e), e.args[, e.__dict__])
    "OrderedDict": ("call", "build", "setitem"),  # odict_reduce: (cls, (), state, None, items)
    "deque": ("call", "build", "append"),    # deque___reduce__
    "defaultdict": ("call", "setitem"),      # defdict_reduce: (cls, (factory,), None, None, items)
}
# The abstract base classes' mixin methods (Mapping.__eq__, Set.__eq__, ...):
# frozen into the interpreter, so without source; they only call the
# instance's own methods, which the scan of its class covers when they run
# while loading.
TRUSTED_MIXINS = {"_collections_abc", "collections.abc"}
NATIVE_OWNERS_OK = {"builtins", "collections", "_collections", "abc", "_abc", "enum", "typing"}

# Trusted dispatchers read as a summary instead of line by line: code whose
# calls the scan cannot resolve (a hook table, a method picked at run time)
# but whose every branch is known when some of the instance's state is empty.
# Keyed by (module, qualname); "sha256": of its source as inspect.getsource
# reads it (any other version is scanned as written, and refused);
# "empty_state_keys": instance attributes that, if BUILD's dict state sets
# them, must be empty containers (also a method name: an empty container
# stored under it shadows the method and cannot be called);
# "required_state_keys": those that must be in BUILD's dict state (when
# absent, a __getattr__ looks them up elsewhere in state the pickle fills);
# the policy entry of the loaded class carries both and the judge checks its
# BUILD. "runs": the loaded class's methods it then calls, scanned as
# `self.m()` is.
DISPATCH_SUMMARIES = {
    # torch 1.13's nn.Module.__call__. With its instance hook tables empty it
    # is `return forward_call(*input, **kwargs)`, forward_call being
    # self.forward, or self._slow_forward while torch.jit traces. Tracing and
    # the module-level _global_*_hooks are process state, set by the program
    # that loads (not by a pickle). Module.__setstate__ defaults
    # _forward_pre_hooks when absent, not _forward_hooks or _backward_hooks:
    # without them in state, Module.__getattr__ would find those names in
    # _parameters, _buffers or _modules, which the pickle fills.
    ("torch.nn.modules.module", "Module._call_impl"): {
        "sha256": "9991dcfdea793d70f3e22bb97dfb7af6e6a9aae569ad9f308c4ca97be5f1d767",
        "empty_state_keys": ("_backward_hooks", "_forward_hooks", "_forward_pre_hooks", "_slow_forward", "forward"),
        "required_state_keys": ("_backward_hooks", "_forward_hooks"),
        "runs": ("forward", "_slow_forward"),
    },
}


def dispatch_summary(fn):
    """The DISPATCH_SUMMARIES row of fn when its source is the one reviewed, else None."""
    return source_summary(fn, DISPATCH_SUMMARIES)


# Trusted __getattr__ methods read as a summary: the instance dicts they look
# a missing name up in, in order, and nothing else (no call of a stored
# value). Keyed and pinned like DISPATCH_SUMMARIES. A forward that calls a
# stored value (`self.conv1(x)`) is allowed only on a class whose
# __getattr__ is absent or one of these: its entry then says, as
# called_state_keys and attribute_tables, where the judge must find only
# callable instances (docs/policies.md, "Generated policies").
ATTRIBUTE_LOOKUPS = {
    # torch 1.13's nn.Module.__getattr__: self.__dict__'s _parameters,
    # _buffers, then _modules (each only when in __dict__); else AttributeError.
    ("torch.nn.modules.module", "Module.__getattr__"): {
        "sha256": "1b6934adbb7ba76348bea02b66fc51d6db41df329004cd08d23b3227d3a9ada7",
        "tables": ("_parameters", "_buffers", "_modules"),
    },
}

# Classes outside the library that its classes build on and that its
# pickles hold as values of their own: a library with a subclass of the
# base (key) also gets entries for the subclasses of that base defined under
# these packages, read the same way (their code is not the library's, so what
# they call by name is judged as the library's calls of other packages are).
# torchvision's models hold torch.nn's layers (Conv2d, BatchNorm2d, ...).
COMPANIONS = {
    ("torch.nn.modules.module", "Module"): ("torch.nn.modules",),
}


def source_summary(fn, table):
    """The row of `table` (DISPATCH_SUMMARIES, ATTRIBUTE_LOOKUPS) for fn when
    its source is the one reviewed, else None."""
    row = table.get((getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)))
    if row is None or not isinstance(fn, types.FunctionType):
        return None
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    return row if hashlib.sha256(src.encode()).hexdigest() == row["sha256"] else None


def attribute_tables(cls):
    """Where `instance.name` is found for a name the class does not define:
    (True, tables) when its lookup is object's (the instance __dict__ only)
    or a reviewed ATTRIBUTE_LOOKUPS __getattr__ (then also those dicts of
    __dict__); (False, why) otherwise."""
    owner, fn = owner_of(cls, "__getattribute__")
    if owner is not object:
        return False, f"{describe(owner)}.__getattribute__ decides what it finds"
    owner, fn = owner_of(cls, "__getattr__")
    if owner is None:
        return True, ()
    row = source_summary(fn, ATTRIBUTE_LOOKUPS)
    if row is None:
        return False, f"{describe(owner)}.__getattr__ (not a reviewed lookup) decides what it finds"
    return True, row["tables"]


def iterates_state_values(cls):
    """T when cls.__iter__ is exactly `return iter(self.T.values())` or
    `return iter(self.T)` (Sequential's), else None."""
    owner, fn = owner_of(cls, "__iter__")
    if owner is None or not isinstance(fn, types.FunctionType):
        return None
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    node = tree.body[0] if tree.body else None
    # Its decorators ran at import: fn is what the class holds, its code the def read here.
    if not isinstance(node, ast.FunctionDef) or not node.args.args:
        return None
    body = [b for b in node.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return None
    return stored_iterable(body[0].value, node.args.args[0].arg, unwrap_iter=True)


def stored_iterable(e, self_name, unwrap_iter=False):
    """T when e is `self.T` or `self.T.values()` (or, unwrap_iter, iter() of
    either), else None."""
    if unwrap_iter:
        if not (isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "iter" and
                len(e.args) == 1 and not e.keywords):
            return None
        e = e.args[0]
    if isinstance(e, ast.Call) and not e.args and not e.keywords and isinstance(e.func, ast.Attribute) and \
            e.func.attr == "values":
        e = e.func.value
    if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == self_name:
        return e.attr
    return None


def native_ok(owner):
    return owner.__module__ in NATIVE_OWNERS_OK


def is_namedtuple_new(owner, fn):
    """collections.namedtuple's __new__, compiled from a string: tuple.__new__(cls, (fields...))."""
    fn = fn.__func__ if isinstance(fn, staticmethod) else fn
    g = getattr(fn, "__globals__", {})
    return issubclass(owner, tuple) and hasattr(owner, "_fields") and \
        str(g.get("__name__", "")).startswith("namedtuple_") and g.get("_tuple_new") is tuple.__new__


class Refused(Exception):
    pass


class LocalNames:
    """What a function's own names stand for (Scanner.local_names)."""

    def __init__(self, bound=(), imports=None, bad_imports=None, cells=None, wrapped=None, constructed=None):
        self.bound = set(bound)  # bound by anything but an import: assignment, loop, with, except, ...
        self.imports = imports or {}  # bound by import statements only: name -> the imported object
        self.bad_imports = bad_imports or {}  # id(import node) -> why it is refused
        self.cells = cells or {}  # free variable -> (True, value) or (False, why it is not fixed)
        self.wrapped = wrapped  # the function's __wrapped__ (a decorator's wrapper)
        self.constructed = constructed or {}  # a local bound once, by `name = <callee>(...)`: name -> callee
        self.private_prefix = None  # "_Symbol" inside class Symbol: `__x` names there are `_Symbol__x`
        self.lookups = {}  # a local bound only by `name = TABLE.get(key)` / `TABLE[key]`: name -> TABLE names
        self.loops = {}  # a local bound only as `for name in ITER:` targets: name -> the ITER expressions

    def mangle(self, name):
        if self.private_prefix and name.startswith("__") and not name.endswith("__"):
            return self.private_prefix + name
        return name


class InstanceOf:
    """A local the code itself made by calling a class (`r = Reader(...)`)."""

    def __init__(self, cls):
        self.cls = cls


_TREES = {}


def file_tree(filename):
    if filename not in _TREES:
        try:
            _TREES[filename] = ast.parse("".join(linecache.getlines(filename)) or "\0")
        except (SyntaxError, ValueError):
            _TREES[filename] = None
    return _TREES[filename]


def first_line(n):
    return min([n.lineno] + [d.lineno for d in getattr(n, "decorator_list", [])])


def function_in_file(code):
    """The one def of code's name that starts on its first line, in its file's tree."""
    tree = file_tree(code.co_filename)
    if tree is None:
        return None
    found = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and n.name == code.co_name and first_line(n) == code.co_firstlineno]
    return found[0] if len(found) == 1 else None


def nonlocal_names(code):
    """Names a `nonlocal` statement rebinds anywhere in the outermost function
    enclosing the closure `code` (its cells belong to that function's calls,
    so only code inside it can rebind them); None when it cannot be found
    (then no closure cell is taken as fixed)."""
    tree = file_tree(code.co_filename)
    if tree is None:
        return None
    funcs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    outer = None
    for n in ast.walk(tree):
        if isinstance(n, funcs) and n.lineno <= code.co_firstlineno <= n.end_lineno and any(
                isinstance(m, funcs) and m is not n and first_line(m) == code.co_firstlineno for m in ast.walk(n)):
            if outer is None or n.lineno < outer.lineno:
                outer = n
    if outer is None:
        return None
    return {x for n in ast.walk(outer) if isinstance(n, ast.Nonlocal) for x in n.names}


def owner_of(cls, attr):
    for k in cls.__mro__:
        if attr in vars(k):
            return k, vars(k)[attr]
    return None, None


def static_attr(obj, attr, refusal, default_owner):
    """obj.attr as inspect.getattr_static finds it (running no descriptor), and
    the class of obj's MRO whose __dict__ holds it, else default_owner.
    Refused(refusal()) when there is no such attribute."""
    try:
        static = inspect.getattr_static(obj, attr)
    except AttributeError:
        raise Refused(refusal())
    owner, _ = owner_of(obj, attr)
    return static, default_owner if owner is None else owner


def describe(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


class Scanner:
    """Scans functions for what loading may not run; follows what they call."""

    def __init__(self, libraries):
        self.libraries = libraries
        self.memo = {}  # code object -> (refusal tail or None, calls); None entry while in progress
        self.cycles = 0  # times an in-progress scan was met (its clean result is then not kept)
        # Whether the allocator rule (SizeEnv) applies: it does to what loading
        # runs, not to an instance's __call__, which the library calls after
        # loading with its own arguments (like any other method; its code is
        # still scanned for everything else).
        self.sizes_checked = True
        self.tables = {}  # id(dict) -> (dict, why library code may change it, or None)
        self.too_deep = {}  # memo key -> the depth its "call chain deeper" refusal was met at
        self.summaries = 0  # dispatch summaries being read (stored_calls_judged)

    def in_library_module(self, g):
        mod = g.get("__name__", "") or ""
        return any(mod == lib or mod.startswith(lib + ".") for lib in self.libraries)

    def sealed_table(self, table):
        """None when no function of the library can change the dict table
        (every name the library binds to it, module global or class
        attribute, is used inside functions only to read: `t[k]`, `t.get`,
        `t.keys`/`values`/`items`/`copy`, `k in t`); else what can."""
        key = id(table)
        if key not in self.tables:
            self.tables[key] = (table, table_writer(table, self))
        return self.tables[key][1]
        # The class being analysed (analyse_class), and the state constraints
        # (("empty_state_keys" | "required_state_keys", key)) the dispatch
        # summaries its scan used put on its BUILD.
        self.current = None
        self.state_keys = set()

    def in_library(self, obj):
        mod = getattr(obj, "__module__", None) or ""
        return any(mod == lib or mod.startswith(lib + ".") for lib in self.libraries)

    def scan_callable(self, fn, why, depth, cls=None, noargs=False, site=None):
        """Returns the set of external callees; raises Refused with a path.

        site: the CallSite of a plain call of a function with constant
        arguments (see CallSite): the reading prunes what they decide."""
        if isinstance(fn, (staticmethod, classmethod)):
            fn = fn.__func__
        if fn is None:
            return set()  # __hash__ = None: unhashable, nothing runs
        if isinstance(fn, functools._lru_cache_wrapper):
            # functools.lru_cache (C): hashes the arguments (their __hash__ and
            # __eq__ dispatch on types the policy judges) and calls the function
            # update_wrapper stored as __wrapped__, with the same arguments.
            return self.scan_callable(fn.__wrapped__, why + " (lru_cache)", depth, cls, noargs, site)
        if isinstance(fn, property):
            raise Refused(f"{why} is a property (its value is called)")
        if isinstance(fn, (types.BuiltinFunctionType, types.WrapperDescriptorType, types.MethodDescriptorType,
                           types.MethodWrapperType, types.ClassMethodDescriptorType)):
            owner = getattr(fn, "__objclass__", None) or getattr(fn, "__self__", None)
            if owner is not None and isinstance(owner, type) and native_ok(owner):
                return set()
            if owner is not None and isinstance(owner, types.ModuleType) and owner.__name__ in NATIVE_OWNERS_OK:
                return set()
            raise Refused(f"{why} is native code ({describe(fn)}): no source to read")
        if isinstance(fn, type):
            return self.scan_construction(fn, why, depth)
        summary = dispatch_summary(fn)
        if summary is not None:
            return self.scan_summary(fn, summary, why, depth, cls)
        code = getattr(fn, "__code__", None)
        if code is None:
            raise Refused(f"{why} is not a function ({type(fn).__name__}): cannot read what it runs")
        if depth > MAX_DEPTH:
            raise Refused(f"{why}: call chain deeper than {MAX_DEPTH}")
        if noargs:  # not memoized: the pruned reading differs from the full one
            calls = self._scan_code(fn, code, why, depth, cls, noargs=True)
        else:
            calls = self.scan_code(fn, code, why, depth, cls, site)
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None:
            calls |= self.scan_callable(wrapped, why + " (wrapped)", depth + 1, cls)
        return calls

    def scan_summary(self, fn, summary, why, depth, cls):
        """A trusted dispatcher (DISPATCH_SUMMARIES) run on an instance of the
        class being analysed: its constraints go on that class's entry, and
        the methods it runs are the loaded class's."""
        if cls is None or cls is not self.current:
            # On another object (`Block.__call__(other, x)`) the constraint
            # would bind a state the entry does not describe.
            raise Refused(f"{why}: {fn.__qualname__} dispatches on instance state, which only the loaded "
                          "class's own entry can constrain")
        for kind in ("empty_state_keys", "required_state_keys"):
            self.state_keys.update((kind, k) for k in summary[kind])
        calls = set()
        self.summaries += 1
        try:
            for m in summary["runs"]:
                calls |= self.scan_self_method(cls, m, f"{why} (hook tables empty)", depth)
        finally:
            self.summaries -= 1
        return calls

    def scan_construction(self, cls, why, depth, noargs=False):
        """What calling a class runs: metaclass __call__, __new__, __init__.

        noargs: the call collections.defaultdict makes of a stored class, with
        no arguments, so that every parameter is its default (see _scan_code)."""
        calls = set()
        for attr, where in (("__call__", type(cls)), ("__new__", cls), ("__init__", cls)):
            owner, fn = owner_of(where, attr)
            if owner is None or owner is object or owner is type:
                continue
            if attr == "__call__" and where is type(cls) and owner is type:
                continue
            if noargs and isinstance(fn, types.FunctionType):
                if attr == "__new__" and is_namedtuple_new(owner, fn):
                    continue
                if owner.__module__ in TRUSTED_MIXINS:
                    continue
                if depth > MAX_DEPTH:
                    raise Refused(f"{why}: call chain deeper than {MAX_DEPTH}")
                # Not memoized: the pruned reading differs from the full one.
                calls |= self._scan_code(fn, fn.__code__, f"{why} -> {owner.__qualname__}.{attr}", depth + 1,
                                         where, noargs=True)
                continue
            calls |= self.scan_method(owner, attr, fn, f"{why} -> {owner.__qualname__}.{attr}", depth + 1,
                                      concrete=where)
        return calls

    def scan_method(self, owner, attr, fn, why, depth, noargs=False, concrete=None):
        """owner's method attr, run on an instance of `concrete` (a subclass of
        owner, default owner): `self.m()` there is concrete's m, not owner's."""
        if attr == "__new__" and is_namedtuple_new(owner, fn):
            return set()
        if owner.__module__ in TRUSTED_MIXINS:
            return set()
        if not isinstance(fn, (types.FunctionType, staticmethod, classmethod)) and native_ok(owner):
            return set()
        return self.scan_callable(fn, why, depth, cls=concrete or owner, noargs=noargs)

    def scan_code(self, fn, code, why, depth, cls, site=None):
        # Keyed by code and class: `self.m()` resolves against the class. The
        # same code object serves many functions (decorator wrappers), so a
        # refusal is kept without the path that led to it.
        # A closure's calls of its cells depend on the cells' values (every
        # sympy @cacheit wrapper shares one code object): keyed by the function.
        # A reading with constant arguments (site) prunes what they decide: its own entry.
        # The state constraints a dispatch summary adds are kept with the
        # result (a memo hit adds them again); a summary applies only on the
        # class being analysed, so whether cls is that class is in the key.
        key = (code, cls, self.sizes_checked, fn if code.co_freevars else None, site.key() if site else None,
               cls is self.current, self.summaries > 0)
        if key in self.memo and self.memo[key] is not None and self.too_deep.get(key, -1) > depth:
            del self.memo[key]  # refused for the depth it was met at: a shallower call reads further
        if key in self.memo:
            if self.memo[key] is None:  # recursion: the outer scan reads the whole body anyway
                self.cycles += 1
                return set()
            refusal, calls, keys = self.memo[key]
            if refusal is not None:
                raise Refused(f"{why}{refusal}")
            self.state_keys |= keys
            return set(calls)
        self.memo[key] = None
        before = self.cycles
        outer, self.state_keys = self.state_keys, set()
        try:
            calls = self._scan_code(fn, code, why, depth, cls, site=site)
        except Refused as r:
            text = str(r)
            self.memo[key] = (text[len(why):] if text.startswith(why) else f" -> {text}", set(), set())
            if f"call chain deeper than {MAX_DEPTH}" in text:
                self.too_deep[key] = depth
            raise
        finally:
            inner, self.state_keys = self.state_keys, outer | self.state_keys
        if self.cycles == before:
            self.memo[key] = (None, set(calls), inner)
        else:
            del self.memo[key]  # clean only given a scan still in progress: not kept
        return calls

    def _scan_code(self, fn, code, why, depth, cls, noargs=False, consts=None, site=None, prune=None):
        try:
            src = inspect.getsource(code)
        except (OSError, TypeError):
            raise Refused(f"{why}: no source ({code.co_filename}:{code.co_firstlineno})")
        try:
            tree = ast.parse(textwrap.dedent(src))
        except SyntaxError:
            # A lambda or decorator line that does not parse alone, or a body
            # with a string less indented than its def (sympy's AssocOp.__new__):
            # the function as its whole file parses it.
            found = function_in_file(code)
            if found is None:
                raise Refused(f"{why}: source does not parse alone ({code.co_filename}:{code.co_firstlineno})")
            tree = ast.Module(body=[copy.deepcopy(found)], type_ignores=[])
        node = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.Lambda))), None)
        if node is None:
            raise Refused(f"{why}: no function in its source")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # Its decorators ran when it was defined (at import), not when it is called.
            node.decorator_list = []
        if prune is not None:
            # A reading of code that cannot run given what the caller proved
            # (prune_state_guard, prune_getattribute): it cuts those
            # statements from the tree, or raises Refused.
            prune(node)
        a = node.args
        params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
        if a.vararg:
            params.append(a.vararg.arg)
        if a.kwarg:
            params.append(a.kwarg.arg)
        first = params[0] if params and cls is not None and not isinstance(
            inspect.getattr_static(cls, fn.__name__, None), staticmethod) else None
        nested = {n.name for n in ast.walk(node) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                   ast.ClassDef)) and n is not node}
        g = getattr(fn, "__globals__", {})
        local = self.local_names(fn, code, node, params)
        calls = set()
        nodes = ast.walk(node)
        if noargs:
            # Called without arguments, a parameter whose default is None and
            # that the body never rebinds is None: `if p is not None:` and
            # `if p:` bodies cannot run, nor `if p is None:` else branches.
            defaults = list(a.defaults)
            positional = a.posonlyargs + a.args
            none_params = {p.arg for p, d in zip(positional[len(positional) - len(defaults):], defaults)
                           if isinstance(d, ast.Constant) and d.value is None}
            none_params |= {p.arg for p, d in zip(a.kwonlyargs, a.kw_defaults)
                            if isinstance(d, ast.Constant) and d.value is None}
            rebound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
            rebound |= {n.arg for n in ast.walk(node) if isinstance(n, ast.arg) and n is not None} - set(params)
            none_params -= rebound
            nodes = pruned_walk(node, none_params)
        else:
            none_params = set()
        if consts:
            # A parameter whose value is known (BUILD looks up "__setstate__"
            # through __getattr__) and that the body never rebinds: `if p == "A":`
            # branches for other constants cannot run.
            rebound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
            known = {params[i]: v for i, v in consts.items() if i < len(params) and params[i] not in rebound}
            nodes = pruned_walk(node, none_params, known)
        known = {}
        if site is not None and cls is None and getattr(fn, "__code__", None) is code and \
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name:
            # Called by name with constant arguments (`sympify(a, strict=True)`):
            # a parameter bound to a constant (or, when the call spreads no
            # *args/**kwargs, left to a constant default) that the body never
            # rebinds has that value throughout; the branches it decides that
            # cannot run are not read, nor what follows a raise or return.
            known = site.bind(fn, a, rebound_names(node))
            if known:
                nodes = pruned_walk(node, none_params, known)
        ctx = (none_params, a.kwarg.arg if a.kwarg and noargs else None)
        sizes = SizeEnv(node, params, first, g, local)
        for n in nodes:
            if self.sizes_checked:
                sizes.check(n, why, self)
            if isinstance(n, (ast.Import, ast.ImportFrom)):
                refusal = local.bad_imports.get(id(n))
                if refusal is not None:
                    raise Refused(f"{why}: {refusal} (line {n.lineno} of its source)")
            if isinstance(n, ast.Attribute) and n.attr in DENY_ATTRS:
                raise Refused(f"{why}: reaches .{n.attr}")
            if isinstance(n, ast.Name) and n.id in DENY_ATTRS:
                raise Refused(f"{why}: reaches {n.id}")
            if isinstance(n, ast.Call):
                calls |= self.scan_call(n, why, depth, cls, g, params, first, nested, ctx, local, known)
            if (isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
                    and first is not None and n.value.id == first and isinstance(cls, type)):
                # `self.shape = v` runs __setattr__ and shape's setter, as
                # setattr(self, "shape", v) would (scipy's shape setter).
                calls |= self.scan_attr_store(cls, n.attr, f"{why} -> self.{n.attr} = ...", depth + 1)
        return calls

    def scan_attr_store(self, cls, attr, why, depth):
        """What `instance.attr = value` runs: __setattr__, and attr's property
        setter or data descriptor __set__ in the MRO."""
        calls = set()
        owner, fn = owner_of(cls, "__setattr__")
        if owner is not None and owner is not object and (
                isinstance(fn, (types.FunctionType, staticmethod, classmethod)) or not native_ok(owner)):
            calls |= self.scan_method(owner, "__setattr__", fn, f"{why} {owner.__qualname__}.__setattr__", depth,
                                      concrete=cls)
        for k in cls.__mro__:
            if attr not in vars(k):
                continue
            d = vars(k)[attr]
            if isinstance(d, property):
                if d.fset is not None:
                    calls |= self.scan_callable(d.fset, f"{why} the setter of {k.__qualname__}.{attr}", depth, cls)
            elif hasattr(type(d), "__set__") and not isinstance(
                    d, (types.MemberDescriptorType, types.GetSetDescriptorType)):
                setter = inspect.getattr_static(type(d), "__set__")
                calls |= self.scan_callable(setter, f"{why} {type(d).__qualname__}.__set__ ({attr})", depth, type(d))
            break
        return calls

    def local_names(self, fn, code, node, params):
        """The names the function binds itself, and what its imports and
        closure cells hold.

        An import statement inside loading code runs the imported module's
        top level once (installed, trusted code; its name is a constant of the
        library, not the pickle's) and binds names: refused when the module is
        deny-listed or does not import here; otherwise the bound objects are
        resolved here and their calls judged as calls of globals are (followed
        inside the library, deny-list, file/code names and the knowledge base
        outside). A name also bound another way is a local: never resolved."""
        own_args = {id(x) for x in node.args.posonlyargs + node.args.args + node.args.kwonlyargs +
                    [node.args.vararg, node.args.kwarg] if x is not None}
        bound, imports, bad, resolved = set(), {}, {}, {}
        stores, constructed = {}, {}
        lookups, lookup_stores, other = {}, {}, set()  # other: bound by a parameter, except, import, ...
        loops = {}
        for n in ast.walk(node):
            if isinstance(n, ast.For) and isinstance(n.target, ast.Name):
                loops.setdefault(n.target.id, []).append(n.iter)
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) and \
                    isinstance(n.value, ast.Call):
                constructed[n.targets[0].id] = n.value.func
            table = table_lookup(n.value) if isinstance(n, ast.Assign) and len(n.targets) == 1 and \
                isinstance(n.targets[0], ast.Name) else None
            if table is not None:
                lookups.setdefault(n.targets[0].id, set()).add(table)
                lookup_stores[n.targets[0].id] = lookup_stores.get(n.targets[0].id, 0) + 1
            if not (isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)) and \
                    isinstance(n, (ast.arg, ast.ExceptHandler, ast.MatchAs, ast.MatchStar, ast.MatchMapping,
                                   ast.Global, ast.Nonlocal, ast.Import, ast.ImportFrom)):
                other.update(bound_by(n))
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                stores[n.id] = stores.get(n.id, 0) + 1
                bound.add(n.id)
            elif isinstance(n, ast.arg) and id(n) not in own_args:
                bound.add(n.arg)  # a nested function's or lambda's parameter
            elif isinstance(n, ast.ExceptHandler) and n.name:
                bound.add(n.name)
            elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
                bound.add(n.name)
            elif isinstance(n, ast.MatchMapping) and n.rest:
                bound.add(n.rest)
            elif isinstance(n, (ast.Global, ast.Nonlocal)):
                bound.update(n.names)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                try:
                    for name, obj in self.resolve_import(n, fn):
                        if name in resolved and resolved[name] is not obj:
                            bound.add(name)  # two imports bind it to different objects
                        resolved[name] = obj
                        imports.setdefault(name, obj)
                except Refused as r:
                    bad[id(n)] = str(r)
                    for a in n.names:
                        bound.add(a.asname or a.name.split(".")[0])
        bound -= set(params)
        cells = {}
        closure = getattr(fn, "__closure__", None) if getattr(fn, "__code__", None) is code else None
        rebound = nonlocal_names(code) if code.co_freevars else set()
        for name, cell in zip(code.co_freevars, closure or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                cells[name] = (False, "is empty")
                continue
            if name == "__class__":
                cells[name] = (True, value)  # set once, by the class statement (zero-argument super())
            elif rebound is None or name in rebound:
                # A sibling closure may rebind it while the library runs.
                cells[name] = (False, "a nonlocal statement may rebind (or its definition was not found)")
            else:
                cells[name] = (True, value)
        constructed = {k: v for k, v in constructed.items() if stores.get(k) == 1 and k not in imports and
                       k not in params}
        local = LocalNames(bound, imports, bad, cells, getattr(fn, "__wrapped__", None), constructed)
        # A table named by a parameter or a local is the pickle's value, not a module's dict.
        local.lookups = {k: v for k, v in lookups.items() if stores.get(k) == lookup_stores[k] and
                         k not in other and k not in params and k not in imports and
                         not any(t in params or t in bound or t in imports or t in other for t in v)}
        local.loops = {k: v for k, v in loops.items() if stores.get(k) == len(v) and k not in other and
                       k not in params and k not in imports}
        # Private names in a class body are mangled with the class's name
        # (Symbol.__xnew_cached_ is Symbol._Symbol__xnew_cached_).
        parts = getattr(code, "co_qualname", code.co_name).split(".")
        classes = [x for i, x in enumerate(parts[:-1]) if x != "<locals>" and parts[i + 1] != "<locals>"]
        if classes and classes[-1].lstrip("_"):
            local.private_prefix = "_" + classes[-1].lstrip("_")
        return local

    def import_fixed(self, name):
        top = name.split(".")[0]
        if top in DENY_MODULES:
            raise Refused(f"imports {name} (a module that reaches the system or loads code)")
        try:
            mod = importlib.import_module(name)
        except BaseException as e:  # noqa: B036 -- what loading would run is unknown
            raise Refused(f"imports {name}, which does not import here ({type(e).__name__})")
        if mod.__name__.split(".")[0] in DENY_MODULES:
            raise Refused(f"imports {name}, which is {mod.__name__}")
        return mod

    def resolve_import(self, n, fn):
        """[(bound name, object)] of an import statement with constant names."""
        g = getattr(fn, "__globals__", {})
        if isinstance(n, ast.Import):
            out = []
            for a in n.names:
                mod = self.import_fixed(a.name)
                # `import a.b` binds a; `import a.b as c` binds a.b.
                out.append((a.asname, mod) if a.asname else
                           (a.name.split(".")[0], self.import_fixed(a.name.split(".")[0])))
            return out
        base = n.module or ""
        if n.level:
            package = g.get("__package__")
            if not package:
                raise Refused("imports relatively, from a module without a package")
            try:
                base = importlib.util.resolve_name("." * n.level + base, package)
            except (ImportError, ValueError):
                raise Refused(f"imports {'.' * n.level}{base} relative to {package}: cannot resolve")
        mod = self.import_fixed(base)
        out = []
        for a in n.names:
            if a.name == "*":
                raise Refused(f"imports * from {base}")
            try:
                obj = getattr(mod, a.name)
            except AttributeError:
                obj = self.import_fixed(f"{base}.{a.name}")
            except Exception as e:
                raise Refused(f"imports {a.name} from {base}, which cannot be read ({type(e).__name__})")
            if isinstance(obj, types.ModuleType) and obj.__name__.split(".")[0] in DENY_MODULES:
                raise Refused(f"imports {a.name} from {base}, which is {obj.__name__}")
            out.append((a.asname or a.name, obj))
        return out

    def resolve_global(self, name, g):
        if name in g:
            return True, g[name]
        b = g.get("__builtins__", builtins)
        b = b if isinstance(b, dict) else vars(b)
        if name in b:
            return True, b[name]
        return False, None

    def resolve_local_or_global(self, name, g, local, constructed=True):
        """The module or class a dotted call's base name stands for: a name
        bound only by this function's imports is the imported object; a local
        bound once by calling a class stands for an InstanceOf it; any other
        local is a value (its methods are not followed); else a global."""
        if constructed and name in local.constructed:
            cls = self.resolve_expr(local.constructed[name], g, local)
            # Calling it makes an instance of it: type's own __call__, object's __new__.
            if isinstance(cls, type) and type(cls) is type and owner_of(cls, "__new__")[0] is object:
                return True, InstanceOf(cls)
            return False, None
        if name in local.imports and name not in local.bound:
            return True, local.imports[name]
        if name in local.cells and name not in local.bound and local.cells[name][0]:
            return True, local.cells[name][1]
        if name in local.bound or name in local.imports or name in local.cells:
            return False, None
        return self.resolve_global(name, g)

    def resolve_expr(self, e, g, local):
        """The object a callee expression names (`Reader`, `mod.Reader`), or None."""
        chain = []
        while isinstance(e, ast.Attribute):
            chain.append(e.attr)
            e = e.value
        if not isinstance(e, ast.Name):
            return None
        found, obj = self.resolve_local_or_global(e.id, g, local, constructed=False)
        if not found:
            return None
        for part in reversed(chain):
            if not isinstance(obj, (types.ModuleType, type)):
                return None
            try:
                obj = inspect.getattr_static(obj, part)
            except AttributeError:
                return None
        return obj

    def scan_cell(self, name, local, why, depth, cls):
        """A call of a closure cell (sympy's @cacheit wrapper calls `func` and
        `cfunc`, the decorated function and its lru_cache): its value, fixed
        when the decorator ran, judged as a named global is."""
        ok, value = local.cells[name]
        if not ok:
            raise Refused(f"{why}: calls {name}, a closure cell that {value}")
        target = value.__wrapped__ if isinstance(value, functools._lru_cache_wrapper) else value
        # The decorated method itself (defined in a class of the MRO under
        # that name): read with its class, as __wrapped__ is.
        owner = cls if cls is not None and target is local.wrapped else next(
            (k for k in (cls.__mro__ if cls is not None else ()) if isinstance(target, types.FunctionType)
             and target.__module__ == k.__module__ and target.__qualname__ == f"{k.__qualname__}.{target.__name__}"),
            None)
        if owner is not None:
            return self.scan_callable(value, f"{why} -> {name} (closure cell: the method "
                                      f"{getattr(target, '__qualname__', '?')})", depth + 1, cls)
        return self.scan_target(value, f"{why} -> {name} (closure cell)", depth)

    def scan_call(self, call, why, depth, cls, g, params, first, nested, ctx=(set(), None), local=None,
                  known=None):
        f = call.func
        local = local or LocalNames()
        # A call that hands on only parameters known to be None (and an empty
        # **kwargs) in a no-argument reading: the callee is read the same way.
        none_params, empty_kwarg = ctx
        rest = call.args[1:] if call.args and isinstance(call.args[0], ast.Name) and call.args[0].id == first \
            else call.args
        pass_noargs = bool(none_params or empty_kwarg) and \
            all(isinstance(x, ast.Name) and x.id in none_params for x in rest) and \
            all((k.arg is None and isinstance(k.value, ast.Name) and k.value.id == empty_kwarg) or
                (k.arg is not None and isinstance(k.value, ast.Name) and k.value.id in none_params)
                for k in call.keywords)
        callee = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if callee in HIGHER_ORDER:
            pos = HIGHER_ORDER[callee]
            if callee == "iter" and len(call.args) < 2:
                pos = None  # iter(x) iterates; iter(f, sentinel) calls f
            handed = [call.args[pos]] if pos is not None and len(call.args) > pos else []
            for a in handed + [k.value for k in call.keywords if k.arg in CALLED_KEYWORDS]:
                a = a.value if isinstance(a, ast.Starred) else a
                if isinstance(a, ast.Name) and a.id in params and a.id != first:
                    raise Refused(f"{why}: hands its argument {a.id} to {callee}, which may call it")
                if isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name) and a.value.id == first \
                        and cls is not None and not callable(inspect.getattr_static(cls, a.attr, None)):
                    raise Refused(f"{why}: hands self.{a.attr}, a stored value, to {callee}, which may call it")
        if isinstance(f, ast.Name):
            n = local.mangle(f.id)
            if n in local.imports and n not in local.bound and n not in nested and n not in params:
                # Bound only by import statements of this function (checked
                # in _scan_code): the imported object, judged as a global is.
                site = CallSite.of(call, known)
                return self.scan_target(local.imports[n], f"{why} -> {n}{site or ''} (imported)", depth, site=site)
            if n in local.lookups and n not in local.imports and n not in nested:
                # `conv = _external_converter.get(type(a)); conv(a)` (sympy's
                # sympify and Basic._do_eq_sympify): a value of a module-level
                # dict of the library, filled at import. Each value it holds
                # here is judged as a named global called with the pickle's
                # values, provided no function of the library can change the
                # table (sealed_table): only its import-time code fills it.
                calls = set()
                for tname in sorted(local.lookups[n]):
                    if tname in nested:
                        raise Refused(f"{why}: calls {n}, read from {tname}, a local or computed value")
                    found, table = self.resolve_global(tname, g)
                    if not found or type(table) is not dict or not self.in_library_module(g):
                        raise Refused(f"{why}: calls {n}, read from {tname}, not a module-level dict of the library")
                    unsealed = self.sealed_table(table)
                    if unsealed:
                        raise Refused(f"{why}: calls {n}, read from {tname}, which {unsealed}")
                    for key, value in list(table.items()):
                        calls |= self.scan_target(value, f"{why} -> {n} ({tname}[{describe(key)}])", depth)
                return calls
            if n in local.loops and n not in nested and first is not None and isinstance(cls, type) and \
                    self.stored_calls_judged(cls):
                # `for module in self: input = module(input)` (Sequential.forward),
                # `for t in self.transforms: img = t(img)`: each value of a
                # container BUILD's state stored is called (call_stored).
                calls = set()
                for it in local.loops[n]:
                    if isinstance(it, ast.Name) and it.id == first:
                        attr = iterates_state_values(cls)
                        if attr is not None:
                            calls |= self.scan_self_method(cls, "__iter__", f"{why} -> for {n} in {first}", depth)
                    else:
                        attr = stored_iterable(it, first)
                    if attr is None:
                        raise Refused(f"{why}: calls {n}, a local or computed value")
                    self.call_stored(cls, "called_state_values", attr, f"{why} -> {n} (each value of self.{attr})")
                return calls
            if n in local.bound or n in local.imports:
                # A local shadows the global or builtin of the same name.
                raise Refused(f"{why}: calls {n}, a local or computed value")
            if n in DENY_BUILTINS and n not in g:
                raise Refused(f"{why}: calls {n} ({DENY_BUILTINS[n]})")
            if n in DYNAMIC_ATTR and n not in g:
                if n == "setattr" and len(call.args) == 3 and isinstance(call.args[0], ast.Name) and \
                        call.args[0].id == first and first is not None and cls is not None:
                    # setattr(self, name, value) under names the pickle chooses
                    # is what BUILD does with slot state (sympy's
                    # Basic.__setstate__): the same code runs, and is scanned
                    # the same way.
                    return self.scan_slot_state(cls, f"{why} -> setattr(self, ...)", depth + 1)[0]
                if len(call.args) < 2 or not isinstance(call.args[1], ast.Constant):
                    raise Refused(f"{why}: calls {n} with a computed attribute name")
                return set()
            if n == first:
                if cls is None:
                    raise Refused(f"{why}: calls its argument {n}")
                owner, m = owner_of(cls, "__call__")
                if owner is None or owner is object:
                    raise Refused(f"{why}: calls {n}, which has no __call__")
                return self.scan_method(owner, "__call__", m, f"{why} -> {owner.__qualname__}.__call__", depth + 1,
                                        concrete=cls)
            if n in params:
                raise Refused(f"{why}: calls its argument {n} (a callable taking a callable)")
            if n in nested:
                return set()
            if n in local.cells:
                return self.scan_cell(n, local, why, depth, cls)
            found, obj = self.resolve_global(n, g)
            if not found:
                raise Refused(f"{why}: calls {n}, a local or computed value")
            site = CallSite.of(call, known)
            return self.scan_target(obj, f"{why} -> {n}{site or ''}", depth, site=site)
        if isinstance(f, ast.Attribute):
            f = ast.Attribute(value=f.value, attr=local.mangle(f.attr), ctx=f.ctx)
            v = f.value
            # super().m(...)
            if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super" and cls is not None:
                # Zero-argument super() starts after the class the code was
                # defined in (its __class__ cell), in the MRO of the instance's class.
                mro = cls.__mro__
                ok, here = local.cells.get("__class__", (False, None))
                if not ok or here not in mro:
                    raise Refused(f"{why}: calls super() outside the class it was defined in")
                for k in mro[mro.index(here) + 1:]:
                    if f.attr in vars(k):
                        if k is object:
                            return set()
                        return self.scan_method(k, f.attr, vars(k)[f.attr], f"{why} -> {k.__qualname__}.{f.attr}",
                                                depth + 1, noargs=pass_noargs, concrete=cls)
                return set()
            if isinstance(v, ast.Name) and v.id == first and cls is not None:
                return self.scan_self_method(cls, f.attr, why, depth, noargs=pass_noargs)
            if isinstance(v, ast.Name) and v.id not in params and v.id not in nested:
                found, obj = self.resolve_local_or_global(v.id, g, local)
                if found and (isinstance(obj, types.ModuleType) or isinstance(obj, type)):
                    return self.scan_attr_of(obj, f.attr, f"{why} -> {v.id}.{f.attr}", depth,
                                             noargs=pass_noargs and isinstance(obj, type))
                if found and isinstance(obj, InstanceOf):
                    # The method its class defines (refused when not found on it,
                    # e.g. reached through __getattr__ like nltk's corpus loaders).
                    return self.scan_attr_of(obj.cls, f.attr, f"{why} -> {v.id}.{f.attr}", depth)
                if found:
                    # A module-level object (nltk's corpus loaders, a compiled
                    # pattern, a logger), not a value the pickle made: the
                    # method its type defines, unless the object stores one.
                    if f.attr in (getattr(obj, "__dict__", None) or {}):
                        raise Refused(f"{why}: calls {v.id}.{f.attr}, a value stored on {describe(type(obj))}")
                    return self.scan_attr_of(type(obj), f.attr, f"{why} -> {v.id}.{f.attr}", depth)
            # A dotted module path: os.path.join(...)
            chain = []
            x = f
            while isinstance(x, ast.Attribute):
                chain.append(x.attr)
                x = x.value
            if isinstance(x, ast.Name) and x.id not in params and x.id != first:
                found, obj = self.resolve_local_or_global(x.id, g, local)
                if found and isinstance(obj, types.ModuleType):
                    for part in reversed(chain[1:]):
                        obj = getattr(obj, part, None)
                        if not isinstance(obj, types.ModuleType):
                            return set()
                    return self.scan_attr_of(obj, chain[0], f"{why} -> {x.id}.{'.'.join(reversed(chain))}", depth)
            # A method of another value: dispatches on a type the pickle made (judged by the policy).
            return set()
        raise Refused(f"{why}: calls a computed value ({ast.unparse(f)[:60]})")

    def scan_slot_state(self, cls, why, depth):
        """What setattr(instance, key, value) runs for keys the pickle chooses:
        __setattr__ and every property setter and data descriptor __set__ in
        the MRO. Returns (external callees, what was scanned)."""
        calls, ran = set(), []
        owner, fn = owner_of(cls, "__setattr__")
        if owner is not None and owner is not object and (
                isinstance(fn, (types.FunctionType, staticmethod, classmethod)) or not native_ok(owner)):
            calls |= self.scan_method(owner, "__setattr__", fn, f"{why} {owner.__qualname__}.__setattr__", depth,
                                      concrete=cls)
            ran.append(f"{owner.__qualname__}.__setattr__")
        for k in cls.__mro__:
            if k is object:
                continue
            for attr, d in sorted(vars(k).items()):
                if isinstance(d, property):
                    if d.fset is not None:
                        calls |= self.scan_callable(d.fset, f"{why} the setter of {k.__qualname__}.{attr}", depth, cls)
                        ran.append(f"{k.__qualname__}.{attr} setter")
                elif hasattr(type(d), "__set__") and not isinstance(
                        d, (types.MemberDescriptorType, types.GetSetDescriptorType)):
                    setter = inspect.getattr_static(type(d), "__set__")
                    calls |= self.scan_callable(setter, f"{why} {type(d).__qualname__}.__set__ ({attr})", depth,
                                                type(d))
                    ran.append(f"{type(d).__qualname__}.__set__")
        return calls, ran

    def stored_calls_judged(self, cls):
        """Whether a call of a stored value is recorded for the judge rather
        than refused: reading an instance's __call__ (the allocator rule is
        off exactly then) of the class being analysed, through a dispatch
        summary (nn.Module.__call__; a plain class's __call__, such as
        Compose's, would be as sound, but would change every other
        generated policy: not yet)."""
        return not self.sizes_checked and cls is not None and cls is self.current and self.summaries > 0

    def call_stored(self, cls, kind, attr, why):
        """A call, after loading, of a value BUILD's state stored: `self.attr(...)`
        (kind "called_state_keys") or of each value of self.attr in a loop
        (kind "called_state_values"). Allowed only while reading an
        instance's __call__ (the allocator rule is off exactly then), on the
        class being analysed, whose attribute lookup is object's or a
        reviewed __getattr__ (ATTRIBUTE_LOOKUPS): its entry then tells the
        judge where only callable instances may be (analyse_class refuses
        it when NEWOBJ args or a call could store one unjudged)."""
        if not self.stored_calls_judged(cls):
            raise Refused(f"{why}: calls self.{attr}, a value stored on the instance")
        if kind == "called_state_values" and hasattr(cls, "__dict__"):
            try:
                inspect.getattr_static(cls, attr)
                raise Refused(f"{why}: calls the items of self.{attr}, which the class defines (not state)")
            except AttributeError:
                pass
        ok, tables = attribute_tables(cls)
        if not ok:
            raise Refused(f"{why}: calls self.{attr}, a value stored on the instance, found by a lookup not "
                          f"reviewed ({tables})")
        self.state_keys.add((kind, attr))
        if kind == "called_state_keys":
            self.state_keys.update(("attribute_tables", t) for t in tables)

    def scan_self_method(self, cls, attr, why, depth, noargs=False):
        try:
            inspect.getattr_static(cls, attr)
        except AttributeError:
            if isinstance(cls, type):
                self.call_stored(cls, "called_state_keys", attr, why)
                return set()
        static, owner = static_attr(cls, attr, lambda: f"{why}: calls self.{attr}, a value stored on the instance",
                                    type(cls))
        if isinstance(static, property):
            if raises_only(static.fget):
                # `self.vocab()` in gensim's removed-attribute setters: the
                # getter runs and raises, so no value is ever called.
                return self.scan_callable(static.fget, f"{why} -> {owner.__qualname__}.{attr} getter (only raises)",
                                          depth + 1, cls)
            raise Refused(f"{why}: calls self.{attr}, a property's value")
        return self.scan_method(owner, attr, static, f"{why} -> {owner.__qualname__}.{attr}", depth + 1,
                                noargs=noargs, concrete=cls if isinstance(cls, type) and issubclass(cls, owner)
                                else None)

    def scan_attr_of(self, obj, attr, why, depth, noargs=False):
        if isinstance(obj, types.ModuleType):
            top = obj.__name__.split(".")[0]
            if (obj.__name__, attr) in PURE_DENIED and getattr(obj, attr, None) is \
                    getattr(sys.modules.get(obj.__name__), attr, None):
                return set()
            if top in DENY_MODULES:
                raise Refused(f"{why}: calls into {obj.__name__}")
            try:
                target = getattr(obj, attr, None)
            except Exception as e:  # a module-like object whose __getattr__ raises (torch._classes)
                raise Refused(f"{why}: {obj.__name__}.{attr} cannot be read ({type(e).__name__})")
            if target is None:
                raise Refused(f"{why}: {obj.__name__} has no {attr}")
            return self.scan_target(target, why, depth, default=(obj.__name__, attr))
        static, owner = static_attr(obj, attr, lambda: f"{why}: not found on {describe(obj)}", obj)
        if not self.in_library(owner):
            mod = getattr(owner, "__module__", "") or ""
            if mod == "builtins":
                return set()  # a built-in type's method: dict.fromkeys, object.__new__
            if mod.split(".")[0] in DENY_MODULES:
                raise Refused(f"{why}: calls into {mod}")
            if IO_CALLEE.search(attr):
                raise Refused(f"{why}: calls {mod}.{owner.__qualname__}.{attr}, named as reaching files or code")
            return {(mod, f"{owner.__qualname__}.{attr}")}
        return self.scan_method(owner, attr, static, why, depth + 1, noargs=noargs)

    def scan_target(self, obj, why, depth, default=None, site=None):
        """A named global the code calls (site: its constant arguments)."""
        if self.in_library(obj):
            return self.scan_callable(obj, why, depth + 1, site=site if isinstance(obj, (
                types.FunctionType, functools._lru_cache_wrapper)) else None)
        mod = getattr(obj, "__module__", None) or (default[0] if default else "")
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or (default[1] if default else "?")
        if (mod, name) in PURE_DENIED and getattr(sys.modules.get(mod), name, None) is obj:
            return set()
        if mod.split(".")[0] in DENY_MODULES and mod != "builtins":
            raise Refused(f"{why}: calls into {mod}")
        if mod == "builtins":
            if name in DENY_BUILTINS:
                raise Refused(f"{why}: calls {name} ({DENY_BUILTINS[name]})")
            return set()
        if IO_CALLEE.search(name):
            raise Refused(f"{why}: calls {mod}.{name}, named as reaching files or code")
        return {(mod, name)}


def raises_only(fn):
    """True when fn is a plain function whose body (after its docstring) is a
    single raise statement: it never returns a value."""
    if not isinstance(fn, types.FunctionType) or hasattr(fn, "__wrapped__"):
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    node = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)), None)
    if node is None or node.name != fn.__name__:
        return False
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
            isinstance(body[0].value.value, str):
        body = body[1:]
    return len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None


NOT_NONE_TYPES = {"dict", "list", "tuple", "set", "frozenset", "str", "bytes", "int", "float", "complex"}


SEQ_BUILDERS = {"list", "tuple", "str", "bytes", "bytearray"}
FORMAT_STAR = re.compile(r"%[-+ #0]*\*|%[-+ #0]*[0-9]*\.\*")


class SizeEnv:
    """Whether a size an allocator gets (ALLOC_CALLEES, seq * n, x ** n,
    1 << n, format widths) is bounded: a constant, a module global of the
    library, len() of a value the loader already holds (a lazy value there is
    bounded by [limits] max_lazy_items), or a local bound only to such
    values, combined by +, -, //, %, and * by a constant. An argument, a value
    stored on the instance (BUILD state), a local bound otherwise and any other
    computed value are not: the pickle chooses them."""

    def __init__(self, node, params, first, g, local=None):
        self.params = set(params) | {first}
        self.g = g
        # The function's own imports and closure cells: `from numpy import
        # empty` inside the body names numpy.empty as surely as a global does.
        self.local = local if local is not None else LocalNames()
        self.bindings = {}  # local name -> [value expressions], or None (bound some other way)
        simple = set()  # the Name nodes bound by `name = value` or `for name in range(...)`
        for n in ast.walk(node):
            if isinstance(n, ast.Assign) and all(isinstance(t, ast.Name) for t in n.targets):
                simple.update(map(id, n.targets))
            elif isinstance(n, ast.For) and isinstance(n.target, ast.Name) and self.is_range(n.iter):
                simple.add(id(n.target))
        for n in ast.walk(node):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and n is not node:
                self.params |= {x.arg for x in n.args.posonlyargs + n.args.args + n.args.kwonlyargs}
                self.params |= {x.arg for x in (n.args.vararg, n.args.kwarg) if x is not None}
            elif isinstance(n, ast.Assign) and all(isinstance(t, ast.Name) for t in n.targets):
                for t in n.targets:
                    self.bind(t.id, n.value)
            elif isinstance(n, ast.For) and isinstance(n.target, ast.Name) and self.is_range(n.iter):
                for v in n.iter.args:  # i in range(a, b): i is below b
                    self.bind(n.target.id, v)
        for n in ast.walk(node):  # bound any other way (unpacking, +=, with, other loops): not known
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load) and id(n) not in simple:
                self.bindings[n.id] = None
            elif isinstance(n, ast.ExceptHandler) and n.name:
                self.bindings[n.name] = None

    def bind(self, name, value):
        self.bindings.setdefault(name, []).append(value)

    def is_range(self, e):
        return isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "range" \
            and "range" not in self.g and not e.keywords

    def bounded(self, e, seen=frozenset()):
        if isinstance(e, ast.Constant):
            return True
        if isinstance(e, (ast.Tuple, ast.List)):
            return all(self.bounded(x, seen) for x in e.elts)
        if isinstance(e, ast.Starred):
            return self.bounded(e.value, seen)
        if isinstance(e, ast.Name):
            if e.id in self.params:
                return False
            if e.id in self.bindings:
                vals = self.bindings[e.id]
                return vals is not None and e.id not in seen and all(self.bounded(v, seen | {e.id}) for v in vals)
            return True  # a module global or a builtin: the library's own constant
        if isinstance(e, ast.UnaryOp):
            return self.bounded(e.operand, seen)
        if isinstance(e, ast.BinOp):
            if isinstance(e.op, (ast.Add, ast.Sub, ast.FloorDiv, ast.Div, ast.Mod, ast.RShift, ast.BitAnd)):
                return self.bounded(e.left, seen) and self.bounded(e.right, seen)
            if isinstance(e.op, ast.Mult):
                return self.bounded(e.left, seen) and self.bounded(e.right, seen) and \
                    (isinstance(e.left, ast.Constant) or isinstance(e.right, ast.Constant))
            return False
        if isinstance(e, ast.IfExp):
            return self.bounded(e.body, seen) and self.bounded(e.orelse, seen)
        if isinstance(e, ast.Subscript):  # a module-level table of the library
            return isinstance(e.value, ast.Name) and e.value.id not in self.params and \
                e.value.id not in self.bindings and self.bounded(e.slice, seen)
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id in BOUNDED_CALLS \
                and e.func.id not in self.g and not e.keywords:
            if e.func.id == "len":
                return True
            if e.func.id == "min":
                return any(self.bounded(x, seen) for x in e.args)
            return all(self.bounded(x, seen) for x in e.args)
        return False

    def callee_key(self, f, scanner):
        """(module, name) of a called global, or (None, attr) for a method of another value."""
        if isinstance(f, ast.Name):
            if f.id in self.params or f.id in self.bindings:
                return None
            found, obj = scanner.resolve_local_or_global(f.id, self.g, self.local, constructed=False)
            return (getattr(obj, "__module__", None) or "", getattr(obj, "__name__", f.id)) if found else None
        if not isinstance(f, ast.Attribute):
            return None
        chain, x = [], f
        while isinstance(x, ast.Attribute):
            chain.append(x.attr)
            x = x.value
        if isinstance(x, ast.Name) and x.id not in self.params and x.id not in self.bindings:
            found, obj = scanner.resolve_local_or_global(x.id, self.g, self.local, constructed=False)
            if found and isinstance(obj, types.ModuleType):
                for part in reversed(chain[1:]):
                    nxt = getattr(obj, part, None)
                    if not isinstance(nxt, types.ModuleType):
                        break
                    obj = nxt
                else:
                    return (obj.__name__, chain[0])
        return (None, f.attr)

    def sizes_of(self, call, spec):
        pos, kws = spec
        if pos == "*":
            return list(call.args) + [k.value for k in call.keywords]
        out = [call.args[i] for i in pos if i < len(call.args)]
        out += [k.value for k in call.keywords if k.arg in kws or k.arg is None]
        out += [a for a in call.args if isinstance(a, ast.Starred)]
        return out

    @staticmethod
    def alloc_spec(key):
        mod, name = key
        if mod is None:
            return ALLOC_CALLEES.get(key)
        for (m, n), spec in ALLOC_CALLEES.items():
            if m is not None and n == name and (mod == m or mod.startswith(m + ".")):
                return spec
        return None

    def is_seq(self, e):
        return isinstance(e, (ast.List, ast.Tuple, ast.ListComp, ast.JoinedStr)) or \
            (isinstance(e, ast.Constant) and isinstance(e.value, (str, bytes))) or \
            (isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id in SEQ_BUILDERS
             and e.func.id not in self.g)

    def refuse(self, why, what, size):
        raise Refused(f"{why}: {what} sized by {ast.unparse(size)[:60]}, which the pickle chooses "
                      "(allocates without bound)")

    def check(self, n, why, scanner):
        if isinstance(n, ast.Call):
            key = self.callee_key(n.func, scanner)
            spec = self.alloc_spec(key) if key else None
            if spec is not None:
                for size in self.sizes_of(n, spec):
                    if not self.bounded(size):
                        self.refuse(why, f"calls {key[1]}", size)
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr == "format" and isinstance(f.value, ast.Constant) \
                    and isinstance(f.value.value, str) and re.search(r"\{[^{}]*:[^{}]*\{", f.value.value):
                for size in list(n.args) + [k.value for k in n.keywords]:
                    if not self.bounded(size):
                        self.refuse(why, "formats with a computed width", size)
        elif isinstance(n, ast.BinOp):
            if isinstance(n.op, ast.Mult):
                for seq, size in ((n.left, n.right), (n.right, n.left)):
                    if self.is_seq(seq) and not self.bounded(size):
                        self.refuse(why, "repeats a sequence", size)
            elif isinstance(n.op, (ast.Pow, ast.LShift)) and not self.bounded(n.right):
                self.refuse(why, "raises to a power" if isinstance(n.op, ast.Pow) else "shifts left", n.right)
            elif isinstance(n.op, ast.Mod) and isinstance(n.left, ast.Constant) and \
                    isinstance(n.left.value, str) and FORMAT_STAR.search(n.left.value) and not self.bounded(n.right):
                self.refuse(why, "formats with a computed width", n.right)
        elif isinstance(n, ast.FormattedValue) and n.format_spec is not None:
            for v in ast.walk(n.format_spec):
                if isinstance(v, ast.FormattedValue) and not self.bounded(v.value):
                    self.refuse(why, "formats with a computed width", v.value)


def table_lookup(e):
    """TABLE when e is `TABLE.get(key)` (or with a None default) or `TABLE[key]`, TABLE a plain name."""
    if isinstance(e, ast.Subscript) and isinstance(e.value, ast.Name) and isinstance(e.ctx, ast.Load):
        return e.value.id
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "get" and \
            isinstance(e.func.value, ast.Name) and not e.keywords and (len(e.args) == 1 or (
                len(e.args) == 2 and isinstance(e.args[1], ast.Constant) and e.args[1].value is None)):
        return e.func.value.id
    return None


def bound_by(n):
    """The names a parameter, except clause, match capture, global/nonlocal or import binds."""
    if isinstance(n, ast.arg):
        return {n.arg}
    if isinstance(n, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return {n.name} if n.name else set()
    if isinstance(n, ast.MatchMapping):
        return {n.rest} if n.rest else set()
    if isinstance(n, (ast.Global, ast.Nonlocal)):
        return set(n.names)
    return {(a.asname or a.name).split(".")[0] for a in n.names}


# Uses of a table inside a function that only read it.
TABLE_READERS = {"get", "keys", "values", "items", "copy", "__contains__", "__getitem__"}


def table_writer(table, scanner):
    """Why library code may change the dict table after import, or None:
    a function of the library uses a name bound to it (a module global of
    that module, or a class attribute of that name anywhere, as `x.name`)
    other than to read it, stores or deletes under it, or rebinds it."""
    globals_of, attrs = {}, set()
    for modname, mod in list(sys.modules.items()):
        if mod is None or not scanner.in_library_module({"__name__": modname}):
            continue
        for name, value in list(vars(mod).items()):
            if value is table:
                globals_of.setdefault(modname, set()).add(name)
                attrs.add(name)  # reachable as module.name
            elif isinstance(value, type):
                attrs.update(k for k, v in list(vars(value).items()) if v is table)
    for modname in sorted({m for m in sys.modules if scanner.in_library_module({"__name__": m})}):
        mod = sys.modules.get(modname)
        path = getattr(mod, "__file__", None) or ""
        if not path.endswith(".py"):
            if path:
                return f"native module {modname} may change"
            continue
        try:
            tree = file_tree(path)
        except (OSError, SyntaxError, ValueError):
            return f"{modname}, whose source does not parse, may change"
        if tree is None:
            if not "".join(linecache.getlines(path)).strip():
                continue  # an empty file
            return f"{modname}, whose source cannot be read, may change"
        for fdef in ast.walk(tree):
            if not isinstance(fdef, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            # The module's own names for it, and those a function imports.
            names = globals_of.get(modname, set()) | {
                b for y in ast.walk(fdef) if isinstance(y, (ast.Import, ast.ImportFrom)) for b in bound_by(y)
                if b in attrs}
            hits = [x for x in ast.walk(fdef) if (isinstance(x, ast.Name) and x.id in names) or
                    (isinstance(x, ast.Attribute) and x.attr in attrs)]
            if not hits:
                continue
            parents = {}
            for p in ast.walk(fdef):
                for c in ast.iter_child_nodes(p):
                    parents[id(c)] = p
            for x in hits:
                what = x.id if isinstance(x, ast.Name) else x.attr
                where = f"{modname} line {x.lineno}"
                if not isinstance(x.ctx, ast.Load):
                    if isinstance(x, ast.Name) and not any(isinstance(y, ast.Global) and what in y.names
                                                           for y in ast.walk(fdef)):
                        continue  # a local of the same name
                    return f"a function rebinds ({where})"
                up = parents.get(id(x))
                if isinstance(up, ast.Subscript) and up.value is x and isinstance(up.ctx, ast.Load):
                    continue
                if isinstance(up, ast.Attribute) and up.attr in TABLE_READERS and \
                        isinstance(parents.get(id(up)), ast.Call) and parents[id(up)].func is up:
                    continue
                if isinstance(up, ast.Compare) and x in up.comparators and \
                        all(isinstance(o, (ast.In, ast.NotIn)) for o in up.ops):
                    continue
                return f"a function may change ({where}: {ast.unparse(up or x)[:60]})"
    return None


# The constants a call site can fix a parameter to: compared exactly by value.
SITE_CONSTANT_TYPES = (bool, int, float, str, bytes, type(None))


class CallSite:
    """The constant arguments of a call by name (`sympify(a, strict=True)`):
    pos[i] and kw[name] are the value, or UNKNOWN; star when the call spreads
    *args or **kwargs (then only what it names explicitly is known)."""

    UNKNOWN = object()

    def __init__(self, pos, kw, star):
        self.pos, self.kw, self.star = pos, kw, star

    @classmethod
    def of(cls, call, known):
        """The site of call, or None when it passes no constant."""
        known = known or {}

        def value(e):
            if isinstance(e, ast.Constant) and isinstance(e.value, SITE_CONSTANT_TYPES):
                return e.value
            if isinstance(e, ast.Name) and e.id in known:
                return known[e.id]  # a constant of the caller's reading, handed on
            return cls.UNKNOWN
        pos, star = [], False
        for a in call.args:
            if isinstance(a, ast.Starred):
                star = True  # the positions after it are not known
                break
            pos.append(value(a))
        kw = {}
        for k in call.keywords:
            if k.arg is None:
                star = True
            else:
                kw[k.arg] = value(k.value)
        site = cls(pos, kw, star)
        return site if any(v is not cls.UNKNOWN for v in pos + list(kw.values())) else None

    def key(self):
        show = (lambda v: "?" if v is self.UNKNOWN else (type(v).__name__, v))
        return (tuple(map(show, self.pos)), tuple(sorted((k, show(v)) for k, v in self.kw.items())), self.star)

    def __str__(self):
        parts = [repr(v) if v is not self.UNKNOWN else "..." for v in self.pos]
        parts += [f"{k}={v!r}" for k, v in sorted(self.kw.items()) if v is not self.UNKNOWN]
        return f"({', '.join(parts)}{', ...' if self.star else ''})"

    def bind(self, fn, a, rebound):
        """{parameter: value} for fn's parameters (arguments node a) this call
        fixes: passed as a constant, or (no *args/**kwargs spread) left to a
        default of a constant type. A rebound parameter is not fixed."""
        positional = [p.arg for p in a.posonlyargs + a.args]
        named = set(positional) | {p.arg for p in a.kwonlyargs}
        posonly = {p.arg for p in a.posonlyargs}
        bound = dict(zip(positional, self.pos))
        for k, v in self.kw.items():
            if k in named and k not in posonly:
                bound[k] = v  # (also given by position: the call raises TypeError, nothing runs)
        if not self.star:
            defaults = getattr(fn, "__defaults__", None) or ()
            for p, d in zip(positional[len(positional) - len(defaults):], defaults):
                bound.setdefault(p, d)
            for p, d in (getattr(fn, "__kwdefaults__", None) or {}).items():
                bound.setdefault(p, d)
        return {p: v for p, v in bound.items() if v is not self.UNKNOWN and p not in rebound and
                type(v) in SITE_CONSTANT_TYPES}


def rebound_names(node):
    """The names the function node binds other than as its own parameters
    (assignments, loop, with and except targets, nested functions' and
    lambdas' parameters, imports, match captures, global/nonlocal)."""
    own = {id(x) for x in node.args.posonlyargs + node.args.args + node.args.kwonlyargs +
           [node.args.vararg, node.args.kwarg] if x is not None}
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            names.add(n.id)
        elif isinstance(n, ast.arg) and id(n) not in own:
            names.add(n.arg)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            names.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            names.add(n.rest)
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            names.update(n.names)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update((x.asname or x.name).split(".")[0] for x in n.names)
    return names


def known_test(test, consts):
    """True / False when test is decided by parameters of known constant
    value (consts: name -> value); None when not. Only the forms whose result
    is the constant's own: `p`, `not p`, `p is None`, `p is not None`,
    `p == c`, `p != c` (c a constant), and `and`/`or` of them."""
    if isinstance(test, ast.Name) and test.id in consts:
        return bool(consts[test.id])
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = known_test(test.operand, consts)
        return None if inner is None else not inner
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Name) \
            and test.left.id in consts and isinstance(test.comparators[0], ast.Constant):
        v, c, op = consts[test.left.id], test.comparators[0].value, test.ops[0]
        if isinstance(op, (ast.Is, ast.IsNot)) and c is None:
            return (v is None) == isinstance(op, ast.Is)
        if isinstance(op, (ast.Eq, ast.NotEq)) and isinstance(c, SITE_CONSTANT_TYPES):
            return (v == c) == isinstance(op, ast.Eq)
        return None
    if isinstance(test, ast.BoolOp):
        # As a condition: `or` is true when one operand is, `and` false when one is.
        values = [known_test(v, consts) for v in test.values]
        decisive = isinstance(test.op, ast.Or)
        if decisive in values:
            return decisive
        if None not in values:
            return not decisive
    return None


def terminates(stmts, none_names, consts):
    """True when running the statement list never reaches its end: a raise or
    return at its top level, or an if whose branch that runs (or both) does."""
    for st in stmts:
        if isinstance(st, (ast.Raise, ast.Return)):
            return True
        if isinstance(st, ast.If):
            known = is_none_test(st.test, none_names, consts)
            if known is not None and terminates(st.body if known else st.orelse, none_names, consts):
                return True
            if known is None and terminates(st.body, none_names, consts) and \
                    terminates(st.orelse, none_names, consts):
                return True
    return False


def is_none_test(test, names, consts=None):
    """True / False when `test` is known for parameters that are None (names)
    or have a known constant value (consts); None when unknown."""
    consts = consts or {}
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.NotEq)) \
            and isinstance(test.left, ast.Name) and test.left.id in consts \
            and isinstance(test.comparators[0], ast.Constant) and isinstance(test.comparators[0].value, str):
        equal = consts[test.left.id] == test.comparators[0].value
        return equal if isinstance(test.ops[0], ast.Eq) else not equal
    if consts and not names:
        decided = known_test(test, consts)
        if decided is not None:
            return decided
    if isinstance(test, ast.Name) and test.id in names:
        return False
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) and \
            any(is_none_test(v, names) is False for v in test.values):
        return False
    # isinstance(None, dict) and the like, for built-in types None is not.
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance" \
            and len(test.args) == 2 and isinstance(test.args[0], ast.Name) and test.args[0].id in names \
            and isinstance(test.args[1], ast.Name) and test.args[1].id in NOT_NONE_TYPES:
        return False
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Name) \
            and test.left.id in names and isinstance(test.comparators[0], ast.Constant) \
            and test.comparators[0].value is None:
        if isinstance(test.ops[0], ast.IsNot):
            return False
        if isinstance(test.ops[0], ast.Is):
            return True
    return None


def pruned_walk(node, none_names, consts=None):
    """ast.walk without the branches of `if` that cannot run (is_none_test)."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if isinstance(n, ast.If) and (none_names or consts):
            known = is_none_test(n.test, none_names, consts)
            if known is not None:
                todo.append(n.test)
                todo.extend(cut_after_exit(n.body if known else n.orelse, none_names, consts))
                continue
        if isinstance(n, ast.IfExp) and consts:
            known = is_none_test(n.test, none_names, consts)
            if known is not None:
                todo.extend((n.test, n.body if known else n.orelse))
                continue
        for _, value in ast.iter_fields(n):
            if isinstance(value, list):
                todo.extend(cut_after_exit(value, none_names, consts) if consts else
                            [x for x in value if isinstance(x, ast.AST)])
            elif isinstance(value, ast.AST):
                todo.append(value)


def cut_after_exit(items, none_names, consts):
    """A statement list without what follows its first statement that never
    falls through (terminates): that code cannot run."""
    out = []
    for x in items:
        if not isinstance(x, ast.AST):
            continue
        out.append(x)
        if isinstance(x, ast.stmt) and consts and terminates([x], none_names, consts):
            break
    return out


def falsy_constant(e):
    return isinstance(e, ast.Constant) and not e.value and isinstance(e.value, SITE_CONSTANT_TYPES)


def state_guard_keys(test, state):
    """The constant str keys whose absence from the dict `state` makes the if
    test false, or None: `"k" in state`, `"k" in state.keys()`,
    `state.get("k")` (default None or a falsy constant), `state.pop("k",
    falsy)`, and an `and` with one of them among its operands."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        for v in test.values:
            keys = state_guard_keys(v, state)
            if keys:
                return keys
        return None
    is_state = lambda e: isinstance(e, ast.Name) and e.id == state
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.In) \
            and isinstance(test.left, ast.Constant) and isinstance(test.left.value, str):
        c = test.comparators[0]
        if is_state(c) or (isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "keys"
                           and is_state(c.func.value) and not c.args and not c.keywords):
            return [test.left.value]
        return None
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and is_state(test.func.value) \
            and not test.keywords and test.args and isinstance(test.args[0], ast.Constant) \
            and isinstance(test.args[0].value, str):
        if test.func.attr == "get" and (len(test.args) == 1 or (len(test.args) == 2 and falsy_constant(test.args[1]))):
            return [test.args[0].value]
        if test.func.attr == "pop" and len(test.args) == 2 and falsy_constant(test.args[1]):
            return [test.args[0].value]
    return None


class GuardAbsent(Refused):
    """The guarded reading does not apply (no guard to read without): the
    whole reading's refusal stands as it was."""


def prune_state_guard(found):
    """A transform for _scan_code of a __setstate__(self, state): when its
    first statement (after a docstring) is `if GUARD:` testing the state dict
    for constant keys (state_guard_keys), the if body is cut (its else stays)
    and the keys go to `found`: the judge's forbidden_state_keys make the test
    false. The state parameter must never be rebound or deleted, so the name
    is the dict BUILD handed over throughout; the judge sees to it that the
    dict is a plain one with str keys, as the stream shows it at that BUILD,
    handed to no code before (a dict subclass's __contains__, an object key's
    __eq__, code that added a key could each make the test true)."""
    def prune(node):
        a = node.args
        params = [p.arg for p in a.posonlyargs + a.args]
        if len(params) < 2 or a.vararg or isinstance(node, ast.Lambda):
            raise GuardAbsent("not a __setstate__(self, state) the guard reading applies to")
        state = params[1]
        body = node.body
        i = 1 if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else 0
        if i >= len(body) or not isinstance(body[i], ast.If):
            raise GuardAbsent("its first statement is not an if testing the state")
        keys = state_guard_keys(body[i].test, state)
        if not keys:
            raise GuardAbsent(f"its first if does not test {state} for a constant key")
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id == state and not isinstance(n.ctx, ast.Load):
                raise Refused(f"its state parameter {state} is rebound (line {n.lineno})")
            if isinstance(n, (ast.Global, ast.Nonlocal)) and state in n.names:
                raise Refused(f"its state parameter {state} is declared {type(n).__name__.lower()}")
            if isinstance(n, ast.arg) and n.arg == state and n not in a.posonlyargs + a.args:
                raise Refused(f"a nested function rebinds {state}")
        body[i].body = [ast.Pass()]
        found.update(keys)
    return prune


def getattribute_returns(cls, name):
    """Why object.__getattribute__(instance of cls, name) returns without
    raising or running Python code, or None. `__setstate__` held in the MRO
    as a plain function: a non-data descriptor with a native __get__, found
    whatever the instance holds (the judge refuses a dunder key in BUILD's
    dict state, which would shadow it; and it would be returned, not
    raise). `__dict__`: type's native getset descriptor, when nothing in the
    MRO replaces it (dict_state_refusal)."""
    if name == "__dict__":
        has = any(isinstance(vars(k).get("__dict__"), types.GetSetDescriptorType) for k in cls.__mro__)
        return "the instance namespace (type's getset descriptor)" if has and dict_state_refusal(cls) is None \
            else None
    if name == "__setstate__":
        owner, fn = owner_of(cls, name)
        if owner is not None and owner is not object and isinstance(fn, types.FunctionType):
            return f"{owner.__qualname__}.__setstate__, a plain function in the class"
    return None


def prune_getattribute(name):
    """A transform for _scan_code of a __getattribute__(self, attr) called
    with attr == name where object.__getattribute__(self, name) returns
    (getattribute_returns): the first top-level `try:` whose body is
    `return object.__getattribute__(self, attr)` (or `return get(attr)`,
    `get` a lambda of the function bound once to exactly that) returns
    there: its handlers and every statement after it cannot run, and are
    cut. What precedes it is read as written."""
    def is_oga(call, self_name, arg):
        return isinstance(call, ast.Call) and not call.keywords and len(call.args) == 2 \
            and isinstance(call.func, ast.Attribute) and call.func.attr == "__getattribute__" \
            and isinstance(call.func.value, ast.Name) and call.func.value.id == "object" \
            and isinstance(call.args[0], ast.Name) and call.args[0].id == self_name \
            and isinstance(call.args[1], ast.Name) and call.args[1].id == arg

    def prune(node):
        a = node.args
        params = [p.arg for p in a.posonlyargs + a.args]
        if len(params) != 2 or isinstance(node, ast.Lambda):
            raise Refused("not a __getattribute__(self, name)")
        self_name, attr = params
        stored = {}
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                stored.setdefault(n.id, []).append(n)
            if isinstance(n, (ast.Global, ast.Nonlocal)):
                for x in n.names:
                    stored.setdefault(x, []).append(n)
        if self_name in stored or attr in stored:
            raise Refused(f"__getattribute__ rebinds {self_name} or {attr}")
        # `get = lambda n: object.__getattribute__(self, n)`, bound once at
        # the top level and never rebound (no other store, no parameter of a
        # nested function of that name): each call `get(x)` is that native
        # call, and is read as written out (a local's call is refused).
        args_named = {n.arg for n in ast.walk(node) if isinstance(n, ast.arg)}
        for st in node.body:
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name) \
                    and isinstance(st.value, ast.Lambda) and len(stored.get(st.targets[0].id, ())) == 1 \
                    and st.targets[0].id not in args_named:
                la = st.value.args
                ps = [p.arg for p in la.posonlyargs + la.args]
                if len(ps) == 1 and not (la.vararg or la.kwarg or la.kwonlyargs or la.defaults) \
                        and is_oga(st.value.body, self_name, ps[0]) and ps[0] != self_name:
                    getter = st.targets[0].id
                    for n in ast.walk(node):
                        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == getter \
                                and len(n.args) == 1 and not n.keywords:
                            n.func = ast.Attribute(value=ast.Name(id="object", ctx=ast.Load()),
                                                   attr="__getattribute__", ctx=ast.Load())
                            n.args = [ast.Name(id=self_name, ctx=ast.Load()), n.args[0]]
        getters = set()
        for i, st in enumerate(node.body):
            if isinstance(st, ast.Try) and len(st.body) == 1 and isinstance(st.body[0], ast.Return) \
                    and not st.finalbody:
                v = st.body[0].value
                direct = is_oga(v, self_name, attr)
                via = isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id in getters \
                    and len(v.args) == 1 and not v.keywords and isinstance(v.args[0], ast.Name) \
                    and v.args[0].id == attr
                if direct or via:
                    node.body = node.body[:i] + [st.body[0]]
                    return
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name) \
                    and isinstance(st.value, ast.Lambda) and len(stored.get(st.targets[0].id, ())) == 1:
                la = st.value.args
                ps = [p.arg for p in la.posonlyargs + la.args]
                if len(ps) == 1 and not (la.vararg or la.kwarg or la.kwonlyargs or la.defaults) \
                        and is_oga(st.value.body, self_name, ps[0]) and ps[0] != self_name:
                    getters.add(st.targets[0].id)
        raise Refused(f"no top-level try returns object.__getattribute__({self_name}, {attr}) for {name!r}")
    return prune


def reduction(cls, scanner):
    """The uses loading a pickled instance needs, and why; raises Refused."""
    if cls in copyreg.dispatch_table:
        raise Refused("reduced by a copyreg.dispatch_table function (not analysed)")
    rex_owner, rex = owner_of(cls, "__reduce_ex__")
    red_owner, red = owner_of(cls, "__reduce__")
    def default():
        uses = ["new", "build"]
        how = "default reduction (object.__reduce_ex__): NEWOBJ, then BUILD with its state"
        if issubclass(cls, list):
            uses.append("append")
            how += ", APPENDS its items"
        if issubclass(cls, dict):
            uses.append("setitem")
            how += ", SETITEMS its items"
        return uses, how

    if rex_owner is object and red_owner is object:
        return default()
    # The nearer of the two decides (object.__reduce_ex__ calls __reduce__ when overridden).
    mro = cls.__mro__
    use_owner, fn, attr = (rex_owner, rex, "__reduce_ex__") if mro.index(rex_owner) < mro.index(red_owner) \
        else (red_owner, red, "__reduce__")
    if not isinstance(fn, types.FunctionType):
        for k in (use_owner.__name__,):
            if k in NATIVE_REDUCE and native_ok(use_owner):
                return list(NATIVE_REDUCE[k]), f"{use_owner.__qualname__}.{attr} (native): calls the class"
        raise Refused(f"{use_owner.__qualname__}.{attr} is native code: cannot tell what it returns")
    try:
        src = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(src)
    except (OSError, TypeError, SyntaxError):
        raise Refused(f"{use_owner.__qualname__}.{attr}: no source")
    fdef = next(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    self_name = fdef.args.args[0].arg if fdef.args.args else "self"
    uses = set()
    returns = [n for n in ast.walk(fdef) if isinstance(n, ast.Return)]
    if not returns:
        raise Refused(f"{use_owner.__qualname__}.{attr} returns nothing the generator can read")
    delegated = False
    for r in returns:
        v = r.value
        if delegates_to_object(v, self_name, cls, use_owner, attr):
            # `return super().__reduce_ex__(protocol)` where the next reduction
            # is object's own and nothing overrides __reduce__ (which
            # object.__reduce_ex__ would call): the default reduction, as
            # sympy's Basic.__reduce_ex__ does after refusing protocols < 2.
            delegated = True
            uses.update(default()[0])
            continue
        if not isinstance(v, ast.Tuple) or len(v.elts) < 2:
            raise Refused(f"{use_owner.__qualname__}.{attr} returns {ast.unparse(v)[:60] if v else 'None'}: "
                          "not a (callable, args, ...) tuple the generator can read")
        c = v.elts[0]
        is_cls = (isinstance(c, ast.Attribute) and c.attr == "__class__" and isinstance(c.value, ast.Name)
                  and c.value.id == self_name) or \
                 (isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "type"
                  and len(c.args) == 1 and isinstance(c.args[0], ast.Name) and c.args[0].id == self_name) or \
                 (isinstance(c, ast.Name) and fn.__globals__.get(c.id) is cls)
        if not is_cls:
            raise Refused(f"{use_owner.__qualname__}.{attr} reduces to {ast.unparse(c)[:60]}, not the class")
        uses.add("call")
        extra = v.elts[2:]
        for use, e in zip(("build", "append", "setitem"), extra):
            if not (isinstance(e, ast.Constant) and e.value is None):
                uses.add(use)
    order = ["new", "call", "build", "append", "setitem"]
    how = f"{use_owner.__qualname__}.{attr} returns " + \
        ("object's default reduction (super()): NEWOBJ, then BUILD with its state" if delegated and "call" not in uses
         else "a call of the class" + (" or object's default reduction" if delegated else ""))
    return [u for u in order if u in uses], how


def delegates_to_object(v, self_name, cls, use_owner, attr):
    """`super().__reduce_ex__(p)` / `super().__reduce__()` (or object.X(self, ...)) that reaches object's own."""
    if not (isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr == attr):
        return False
    f = v.func.value
    via_super = isinstance(f, ast.Call) and isinstance(f.func, ast.Name) and f.func.id == "super" and not f.args
    via_object = isinstance(f, ast.Name) and f.id == "object" and v.args and isinstance(v.args[0], ast.Name) \
        and v.args[0].id == self_name
    if not (via_super or via_object):
        return False
    mro = cls.__mro__
    after = mro[mro.index(use_owner) + 1:] if via_super else (object,)
    nxt = next((k for k in after if attr in vars(k)), object)
    if nxt is not object:
        return False
    # object.__reduce_ex__ calls an overriding __reduce__; object.__reduce__ is copyreg's default.
    red_owner, _ = owner_of(cls, "__reduce__")
    return red_owner is object or (attr == "__reduce__" and red_owner is use_owner)


def dict_state_refusal(cls):
    """Why load_build's dict-state path would run Python code of the class,
    or None: it runs PyObject_GetAttr(inst, "__dict__") and sets items of
    what that returns. A `__dict__` attribute other than type's own
    descriptor (a property) would run; __getattribute__ is scanned for
    every BUILD (analyse_class)."""
    for k in cls.__mro__:
        d = vars(k).get("__dict__")
        if d is not None and not isinstance(d, types.GetSetDescriptorType):
            return f"{k.__qualname__}.__dict__ is {type(d).__name__}, not the instance namespace"
    return None
def state_constraints(scanner):
    """The entry keys for the state constraints scanner.state_keys collected."""
    out = {}
    for kind, key in sorted(scanner.state_keys):
        out.setdefault(kind, []).append(key)
    return out


def analyse_class(cls, scanner):
    scanner.current, scanner.state_keys = cls, set()
    try:
        uses, note, calls = _analyse_class(cls, scanner)
    finally:
        scanner.current = None
    extra = state_constraints(scanner)
    # The dispatch summary's keys (nn.Module.__call__); forbidden_state_keys
    # come from the __setstate__ reading, not from one of __call__.
    dispatch = {k: v for k, v in extra.items() if k != "forbidden_state_keys"}
    if extra.get("forbidden_state_keys"):
        note += (" forbidden_state_keys: its __setstate__ was read without the branch these state keys guard (that "
                 "branch was refused); BUILD's state must be a plain dict with str keys, none of them, handed to no "
                 "code before.")
    called = extra.get("called_state_keys", []) + extra.get("called_state_values", [])
    if called:
        # The judge checks what BUILD stores; a value stored any other way
        # (NEWOBJ arguments to a __new__ of the library, __init__ when the
        # class is called) would be called unjudged.
        owner, _ = owner_of(cls, "__new__")
        if "call" in uses or (owner is not object and "new" in uses):
            raise Refused(f"{cls.__qualname__}: calling an instance calls values it stores "
                          f"({', '.join(called)}), which " + ("REDUCE's call of the class" if "call" in uses else
                                                              f"{describe(owner)}.__new__") +
                          " could store without a BUILD the judge reads")
    if dispatch:
        note += (" Its entry constrains BUILD's dict state (empty_state_keys: each, if set, an empty container; "
                 "required_state_keys: each set), under which the dispatch summary it was read with holds.")
    if called:
        note += (" Calling an instance calls stored values (called_state_keys, and called_state_values' items; "
                 "attribute_tables: where its __getattr__ finds them): each must be None or an instance NEWOBJ "
                 "made of a class whose entry sets callable_instances.")
    if dispatch and "new" in uses:
        extra["callable_instances"] = True
        note += (" callable_instances: calling an instance runs only the code scanned here, under these "
                 "constraints, so another entry's stored values may be one.")
    return uses, note, calls, extra


def _analyse_class(cls, scanner):
    uses, how = reduction(cls, scanner)
    calls = set()
    ran = []
    q = cls.__qualname__

    def method(attr, why):
        owner, fn = owner_of(cls, attr)
        if owner is None or owner is object or fn is None:  # __hash__ = None: unhashable
            return
        if not isinstance(fn, (types.FunctionType, staticmethod, classmethod)) and native_ok(owner):
            return
        calls.update(scanner.scan_method(owner, attr, fn, f"{q}: {why} {owner.__qualname__}.{attr}", 0,
                                         concrete=cls))
        ran.append(f"{owner.__qualname__}.{attr}")

    if issubclass(cls, type) and ("new" in uses or "call" in uses):
        # type.__new__(meta, name, bases, namespace): a class made from the
        # pickle's bases and namespace runs the bases' __init_subclass__ (with
        # NEWOBJ_EX's keywords) and each value's __set_name__, and its dunder
        # entries are called later by the interpreter with arguments nobody judged.
        raise Refused(f"{q}: a metaclass: NEWOBJ/REDUCE would make a class from the pickle's bases and namespace "
                      "(type.__new__ runs their __init_subclass__ and __set_name__; not analysed)")
    if "new" in uses:
        method("__new__", "NEWOBJ runs")
        if any(issubclass(cls, b) for b in (bytes, bytearray)):
            raise Refused(f"{q}: a bytes subclass: NEWOBJ(cls, n) allocates n bytes (not bounded here)")
    if "call" in uses:
        calls.update(scanner.scan_construction(cls, f"{q}: REDUCE calls the class", 0))
        ran.append("the class's construction")
    dict_only = None
    if "build" in uses:
        # load_build looks __setstate__ up on the instance (and, without one,
        # reads inst.__dict__): a Python __getattribute__ runs either way.
        try:
            method("__getattribute__", "BUILD looks up __setstate__ through")
        except Refused as whole:
            read = getattribute_by_name(cls, scanner, whole)
            calls.update(read[0])
            ran.append(read[1])
        owner, fn = owner_of(cls, "__setstate__")
        if owner is not None and owner is not object:
            try:
                method("__setstate__", "BUILD runs")
            except Refused as whole:
                more, name, keys = setstate_without_keys(cls, scanner, whole)
                calls.update(more)
                ran.append(name)
                scanner.state_keys.update(("forbidden_state_keys", k) for k in keys)
        else:
            owner, fn = owner_of(cls, "__getattr__")
            if isinstance(fn, types.FunctionType) and not hasattr(fn, "__wrapped__"):
                # load_build's getattr(inst, "__setstate__", None): read with
                # its name parameter known to be "__setstate__".
                calls.update(scanner._scan_code(fn, fn.__code__, f"{q}: BUILD looks up __setstate__, so runs "
                                                f"{owner.__qualname__}.__getattr__", 1, cls, consts={1: "__setstate__"}))
                ran.append(f"{owner.__qualname__}.__getattr__")
            else:
                method("__getattr__", "BUILD looks up __setstate__, so runs")
            try:
                more, names = scanner.scan_slot_state(cls, f"{q}: BUILD slot state runs", 0)
                calls.update(more)
                ran.extend(names)
            except Refused as r:
                # Dict state needs none of that: load_build writes it into
                # inst.__dict__ item by item (no setattr, no setter). The
                # policy's "build-dict" lets BUILD apply only dict state, so
                # the class is admitted when nothing but setattr was refused
                # and the __dict__ lookup itself runs no Python code.
                why = dict_state_refusal(cls)
                if why:
                    raise Refused(f"{r}; and dict state would not be safe either: {why}")
                uses[uses.index("build")] = "build-dict"
                dict_only = str(r)
    if "append" in uses:
        method("append", "APPENDS runs")
        method("extend", "APPENDS runs")
    if "setitem" in uses:
        method("__setitem__", "SETITEMS runs")
    # An instance can be stored wherever the library expects a callable (a
    # weight function, a factory); calling it must not run unscanned code.
    scanner.sizes_checked = False
    try:
        method("__call__", "calling an instance runs")
    finally:
        scanner.sizes_checked = True
    method("__del__", "freeing it runs")
    method("__hash__", "a dict key or set item runs")
    # Insertion hashes first: an unhashable class (__hash__ = None) never
    # reaches __eq__ as a key; its __eq__ is not what loading runs.
    if owner_of(cls, "__hash__")[1] is not None:
        method("__eq__", "a dict key or set item runs")
    # A class as a stored value: collections.defaultdict may call it without arguments.
    try:
        calls.update(scanner.scan_construction(cls, f"{q}: calling the class without arguments runs", 0,
                                               noargs=True))
        uses.append("reference")
    except Refused:
        pass
    checked = ", ".join(dict.fromkeys(ran)) if ran else "nothing beyond object's and builtins' code"
    note = f"{how}. Scanned: {checked}."
    if dict_only:
        note += (" build-dict, not build: BUILD may apply dict state only (load_build writes it into __dict__); "
                 f"slot state (setattr) is refused because it would run unscanned or unsafe code ({dict_only}).")
    if "reference" in uses:
        note += " Reference: calling it without arguments (collections.defaultdict) runs only scanned code."
    return uses, note, calls


# functools.partial, for the protocol-2 form of NEWOBJ_EX (partial_new_entry).
# The judge calls a partial made from a named global and constants the call
# of that global it is (rule exact-partial: the global's own entry, its bounds
# and invokes, with the combined arguments); any other partial (of a computed
# value, held where other code could call it, re-BUILT with another func) is
# call-of-computed-value. So the entry lets through no callable the policy
# does not allow by name; the C++ side admits it past the knowledge base,
# which names partial for hiding the callable, for that reason only.
EXACT_PARTIAL_ENTRY = {
    "module": "functools", "name": "partial", "kind": "bound-partial", "uses": ["call", "build"], "calls": [],
    "note": "Protocol-2 pickles of classes with __getnewargs_ex__ call functools.partial(C.__new__, C, *args, "
            "**kwargs) (reduce_newobj in CPython's typeobject.c, below protocol 4). Judged as the call it makes "
            "(rule exact-partial): only a partial of a named global the policy allows, made from constants and "
            "never handed on, is called; any other partial is refused.",
}


def partial_new_entry(cls, modname, attr, uses, calls):
    """The entry for `C.__new__` called through functools.partial, or None.

    Below protocol 4, object.__reduce_ex__ pickles an instance whose
    __getnewargs_ex__ returns keywords as functools.partial(C.__new__, C,
    *args, **kwargs)() (reduce_newobj in typeobject.c; NEWOBJ_EX needs
    protocol 4): the same `C.__new__(C, *args, **kwargs)` NEWOBJ_EX runs, which
    the class's "new" was read for. With another class as its first argument
    `cls.m()` in that code would be the other class's m, not what was read:
    the entry pins argument 0 to C itself (args module/name) and says it
    instantiates it (invokes new), so what it makes is judged as C's instance."""
    if "new" not in uses:
        return None
    owner, getnewargs_ex = owner_of(cls, "__getnewargs_ex__")
    if owner is None or owner is object or not isinstance(getnewargs_ex, types.FunctionType):
        return None
    new_owner, new = owner_of(cls, "__new__")
    fn = new.__func__ if isinstance(new, staticmethod) else new
    # A native __new__ (object's) is pickled under its owner's name, not this
    # entry's. partial's argument is a reference to it (the judge counts it
    # so); a reference may be called with no arguments (defaultdict), which
    # must raise TypeError binding cls before any of its code runs.
    if not isinstance(fn, types.FunctionType) or required_positional(fn) < 1:
        return None
    return {"module": modname, "name": f"{attr}.__new__", "kind": "function", "uses": ["call", "reference"],
            "calls": sorted([list(c) for c in calls]),
            "invokes": [{"arg": 0, "use": "new"}], "args": [{"pos": 0, "module": modname, "name": attr}],
            "note": ("" if new_owner is cls else f"{new_owner.__qualname__}.__new__ (inherited) as ") +
                    f"{attr}.__new__, called through functools.partial("
                    f"{attr}.__new__, {attr}, *args, **kwargs): how protocol 2 pickles the NEWOBJ_EX of a class "
                    f"with __getnewargs_ex__ ({owner.__qualname__}.__getnewargs_ex__). It runs what NEWOBJ of "
                    f"{attr} runs, read for that entry; argument 0 must be {attr} itself (args), which it "
                    "instantiates (invokes). Reference: as partial's argument; called without arguments it "
                    "raises TypeError (cls is required) before running anything."}


def setstate_without_keys(cls, scanner, whole):
    """A __setstate__ refused as a whole, read again without the body of its
    first `if`, when that if tests the state for constant keys
    (prune_state_guard): (calls, what ran, the keys). The keys become the
    entry's forbidden_state_keys. Raises `whole` when that reading does not
    apply, or the refusal extended with why the pruned one failed too."""
    owner, fn = owner_of(cls, "__setstate__")
    if not isinstance(fn, types.FunctionType) or hasattr(fn, "__wrapped__"):
        raise whole
    keys = set()
    q = cls.__qualname__
    try:
        calls = scanner._scan_code(fn, fn.__code__, f"{q}: BUILD runs {owner.__qualname__}.__setstate__ (without "
                                   "its state-guarded branch)", 1, cls, prune=prune_state_guard(keys))
    except GuardAbsent:
        raise whole
    except Refused as r:
        raise Refused(f"{whole}; read without its state-guarded first branch: {r}")
    return calls, f"{owner.__qualname__}.__setstate__ (without the branch on state key {', '.join(sorted(keys))})", \
        sorted(keys)


# What loading code reads on an instance through its __getattribute__, by
# the method that reads it: load_build's lookup of __setstate__, and the
# attributes of `self` a __setstate__ reads as `self.NAME`.
def getattribute_by_name(cls, scanner, whole):
    """A Python __getattribute__ refused as a whole, read once per attribute
    name loading looks up through it, with the name known (prune_getattribute):
    load_build's `__setstate__` (the class must have one: without it the
    loader reads `__dict__` and the build-dict path, not analysed here) and
    every `self.NAME` its __setstate__ reads, each NAME one that
    object.__getattribute__ returns without code (getattribute_returns).
    __del__, __hash__, __eq__ and __call__, which also read attributes, must
    not be Python code. Raises the refusal otherwise."""
    gowner, gfn = owner_of(cls, "__getattribute__")
    sowner, sfn = owner_of(cls, "__setstate__")
    if not isinstance(gfn, types.FunctionType) or hasattr(gfn, "__wrapped__") or \
            not isinstance(sfn, types.FunctionType) or sowner is object or \
            gfn.__globals__.get("object", object) is not object:  # `object` must be the builtin
        raise whole
    for attr in ("__del__", "__hash__", "__eq__", "__call__"):
        o, f = owner_of(cls, attr)
        if isinstance(f, (types.FunctionType, staticmethod, classmethod)):
            raise Refused(f"{whole}; a known-name reading does not apply: {o.__qualname__}.{attr} is Python code "
                          "that may read other attributes through it")
    try:
        snode = next(n for n in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(sfn))))
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    except (OSError, TypeError, SyntaxError, StopIteration):
        raise whole
    sargs = snode.args.posonlyargs + snode.args.args
    if not sargs:
        raise whole
    me = sargs[0].arg
    names = {"__setstate__"}
    parents = {id(c): p for p in ast.walk(snode) for c in ast.iter_child_nodes(p)}
    for n in ast.walk(snode):
        if isinstance(n, ast.Name) and n.id == me and n is not sargs[0]:
            up = parents.get(id(n))
            if not (isinstance(up, ast.Attribute) and up.value is n and isinstance(up.ctx, ast.Load)):
                raise Refused(f"{whole}; a known-name reading does not apply: {sowner.__qualname__}.__setstate__ "
                              f"uses {me} other than as {me}.NAME (line {n.lineno} of its source)")
            names.add(up.attr)
    q = cls.__qualname__
    calls, how = set(), []
    for name in sorted(names):
        why = getattribute_returns(cls, name)
        if why is None:
            raise Refused(f"{whole}; a known-name reading does not apply: object.__getattribute__ may not find "
                          f"{name!r} without running code")
        try:
            calls |= scanner._scan_code(gfn, gfn.__code__, f"{q}: {gowner.__qualname__}.__getattribute__ with "
                                        f"{name!r}", 1, cls, consts={1: name},
                                        prune=prune_getattribute(name))
        except Refused as r:
            raise Refused(f"{whole}; read with {name!r}: {r}")
        how.append(f"{name!r} ({why})")
    return calls, f"{gowner.__qualname__}.__getattribute__ with " + ", ".join(how)


def required_positional(fn):
    """How many positional parameters of a plain function have no default."""
    if not isinstance(fn, types.FunctionType):
        return 0
    c = fn.__code__
    return c.co_argcount - len(fn.__defaults__ or ())


def plain_enum(cls):
    """An Enum class reduced by CPython 3.11's own Enum.__reduce_ex__, which
    pickles a member as getattr(<the class>, member._name_)."""
    return isinstance(cls, enum.EnumType) and owner_of(cls, "__reduce_ex__")[1] is vars(enum.Enum)["__reduce_ex__"] \
        and owner_of(cls, "__reduce__")[0] is object


def analyse_enum(cls, scanner):
    """Entries for an Enum's members, as the judge sees them: getattr(Cls,
    'NAME') with a constant name is the dotted global Cls.NAME (rule
    attribute-of-global), a reference to an object made at import; the class
    is named as getattr's argument (reference). No member is made or built
    while loading, so what can run is what a member, stored where the library
    expects a callable or used as a dict key, runs: its class's __call__,
    __hash__, __eq__ and __del__. Returns [(name, uses, note, calls)]."""
    q = cls.__qualname__
    meta = type(cls)
    if owner_of(meta, "__getattribute__")[0] is not type:
        raise Refused(f"{q}: getattr(cls, name) runs {owner_of(meta, '__getattribute__')[0].__qualname__}"
                      ".__getattribute__ (not analysed)")
    scanner.current, scanner.state_keys = cls, set()
    calls, ran = set(), []
    try:
        for attr, why in (("__call__", "calling a member runs"), ("__hash__", "a dict key or set item runs"),
                          ("__eq__", "a dict key or set item runs"), ("__del__", "freeing it runs")):
            owner, fn = owner_of(cls, attr)
            if owner is None or owner is object or fn is None:
                continue
            if attr == "__eq__" and owner_of(cls, "__hash__")[1] is None:
                continue
            if not isinstance(fn, (types.FunctionType, staticmethod, classmethod)) and native_ok(owner):
                continue
            scanner.sizes_checked = attr != "__call__"
            try:
                calls |= scanner.scan_method(owner, attr, fn, f"{q}: {why} {owner.__qualname__}.{attr}", 0,
                                             concrete=cls)
            finally:
                scanner.sizes_checked = True
            ran.append(f"{owner.__qualname__}.{attr}")
    finally:
        scanner.current = None
    if scanner.state_keys:
        raise Refused(f"{q}: its members' code dispatches on instance state (not analysed for members)")
    out = []
    scanned = ", ".join(ran) if ran else "nothing beyond object's and enum's code"
    for name, member in cls._member_map_.items():
        if member._name_ != name:
            continue  # an alias: members pickle under their canonical name
        # getattr(cls, name) must find the member itself in the class's
        # __dict__, running no descriptor: not a metaclass attribute (a data
        # descriptor there wins), not an enum.property, no __get__.
        if vars(cls).get(name) is not member or hasattr(meta, name) or hasattr(type(member), "__get__"):
            continue
        out.append((f"{q}.{name}", ["reference"],
                    f"Enum member: pickled by Enum.__reduce_ex__ as getattr({q}, '{name}'), judged as this dotted "
                    f"name (attribute-of-global); it exists from import, loading makes and builds nothing. "
                    f"Scanned: {scanned}.", set(calls)))
    if not out:
        raise Refused(f"{q}: no member is found by getattr without running code")
    # The class itself, named as getattr's argument: a reference, when calling
    # it without arguments runs only scanned code. EnumType.__call__(cls,
    # value, names=None, ...) needs a value: without one the call raises
    # TypeError binding it, before any code runs. Another metaclass __call__
    # is scanned as any class's no-argument call is.
    call_owner, call = owner_of(meta, "__call__")
    if call_owner is enum.EnumType and required_positional(call) > 1:
        ref_calls = set()
    else:
        try:
            ref_calls = scanner.scan_construction(cls, f"{q}: calling the class without arguments runs", 0,
                                                  noargs=True)
        except Refused as r:
            raise Refused(f"{q}: named as getattr's argument, so a reference: {r}")
    out.append((q, ["reference"], f"Enum class, named as the argument of getattr({q}, NAME) when a member is "
                f"pickled (Enum.__reduce_ex__); calling it without arguments runs only scanned code. Scanned: "
                f"{scanned}.", ref_calls | calls))
    return out


def analyse_function(fn, scanner):
    calls = scanner.scan_callable(fn, f"{fn.__qualname__}", 0)
    return ["reference"], "Function stored as a value (pickled by name); its code calls none of its arguments " \
                          "and passes the scan.", calls


# Submodules no pickle of the library's values names: its tests, and the
# build tools it ships (numpy.distutils and numpy.f2py compile extensions and
# patch distutils when imported; _pyinstaller hooks). Listing them would only
# widen every policy that includes the library (default includes numpy) with
# classes and functions that find_class would import a build system for.
SKIPPED_PARTS = {"tests", "test", "testing", "conftest", "__main__", "distutils", "f2py", "_pyinstaller",
                 "__pyinstaller", "benchmarks"}


def skip_module(name):
    parts = name.split(".")
    return any(p in SKIPPED_PARTS or p.startswith("test_") for p in parts)


def inspect_members(modname, mod, scanner, doc, seen, bases_used, only=None, prefix=""):
    """Analyses the classes and functions module `mod` defines under their own
    names into doc's entries and refusals; only: which objects to take;
    prefix: put before each note and reason; bases_used: gets the COMPANIONS
    bases the classes subclass."""
    for attr, obj in sorted(vars(mod).items()):
        if not (isinstance(obj, type) or isinstance(obj, types.FunctionType)):
            continue
        if getattr(obj, "__module__", None) != modname or getattr(obj, "__qualname__", None) != attr:
            continue  # re-exported, or not reachable under its own name
        if attr.startswith("__") and attr.endswith("__"):
            continue  # module hooks (__getattr__, __dir__): never a pickled value
        if only is not None and not only(obj):
            continue
        key = (modname, attr)
        if key in seen:
            continue
        seen.add(key)
        if isinstance(obj, type):
            for base in obj.__mro__[1:]:
                if (base.__module__, base.__qualname__) in COMPANIONS:
                    bases_used.add((base.__module__, base.__qualname__))
        extra = {}
        try:
            if isinstance(obj, type) and plain_enum(obj):
                for name, uses, note, calls in analyse_enum(obj, scanner):
                    doc["entries"].append({"module": modname, "name": name, "kind": "class" if name == attr
                                           else "member", "uses": uses, "note": prefix + note,
                                           "calls": sorted([list(c) for c in calls])})
                continue
            if isinstance(obj, type):
                uses, note, calls, extra = analyse_class(obj, scanner)
                bound_new = partial_new_entry(obj, modname, attr, uses, calls)
                if bound_new is not None:
                    doc["entries"].append(bound_new)
                    if not any(e["module"] == "functools" and e["name"] == "partial" for e in doc["entries"]):
                        doc["entries"].append(EXACT_PARTIAL_ENTRY)
            else:
                uses, note, calls = analyse_function(obj, scanner)
        except Refused as r:
            doc["refused"].append({"module": modname, "name": attr, "reason": prefix + str(r)})
            continue
        except RecursionError:
            doc["refused"].append({"module": modname, "name": attr, "reason": prefix + "analysis recursed too deep"})
            continue
        except Exception as e:  # the library raised while being read: what it runs is unknown
            doc["refused"].append({"module": modname, "name": attr,
                                   "reason": prefix + f"the analysis failed ({type(e).__name__})"})
            continue
        doc["entries"].append({"module": modname, "name": attr, "kind": "class" if isinstance(obj, type)
                               else "function", "uses": uses, "note": prefix + note,
                               "calls": sorted([list(c) for c in calls]), **extra})


def main(argv):
    libs, paths = [], []
    companions = True
    it = iter(argv)
    for a in it:
        if a == "--path":
            paths.append(next(it))
        elif a == "--no-companions":  # tests/policy_generate/mutations_test.py: fakelib's cases need none
            companions = False
        else:
            libs.append(a)
    # -c puts the working directory first on sys.path; the library comes from
    # the interpreter's own path, PYTHONPATH and --path only.
    if sys.path and sys.path[0] == "":
        del sys.path[0]
    for p in reversed(paths):
        sys.path.insert(0, p)
    out = sys.stdout
    sys.stdout = sys.stderr  # the library's prints must not mix with the JSON
    warnings.simplefilter("ignore")
    scanner = Scanner(libs)
    bases_used = set()  # COMPANIONS keys some class of the libraries subclasses
    doc = {"inspector": 1, "python": sys.version.split()[0], "libraries": [], "entries": [], "refused": []}
    seen = set()
    for lib in libs:
        info = {"name": lib, "version": None, "modules": 0, "skipped": []}
        doc["libraries"].append(info)
        try:
            pkg = importlib.import_module(lib)
        except Exception as e:
            info["error"] = f"cannot import {lib}: {type(e).__name__}: {e}"
            continue
        info["version"] = str(getattr(pkg, "__version__", None) or "unknown")
        names = [lib]
        if hasattr(pkg, "__path__"):
            names += [m.name for m in pkgutil.walk_packages(pkg.__path__, lib + ".", onerror=lambda n: None)]
        for modname in sorted(set(names)):
            if skip_module(modname):
                info["skipped"].append([modname, "test module"])
                continue
            try:
                mod = importlib.import_module(modname)
            except BaseException as e:  # noqa: B036 -- an optional dependency missing, SystemExit in a script
                info["skipped"].append([modname, f"import failed: {type(e).__name__}"])
                continue
            info["modules"] += 1
            inspect_members(modname, mod, scanner, doc, seen, bases_used)
    # Companions (COMPANIONS): the classes outside the libraries that their
    # classes build on, and that their pickles hold.
    doc["companions"] = []
    for (bmod, bname), packages in sorted(COMPANIONS.items() if companions else ()):
        base = getattr(sys.modules.get(bmod), bname.split(".")[0], None) if (bmod, bname) in bases_used else None
        if not isinstance(base, type):
            continue
        for package in packages:
            cinfo = {"name": package, "base": f"{bmod}.{bname}", "modules": 0}
            doc["companions"].append(cinfo)
            try:
                pkg = importlib.import_module(package)
            except Exception:
                continue
            names = [package] + [m.name for m in pkgutil.walk_packages(getattr(pkg, "__path__", []), package + ".",
                                                                         onerror=lambda n: None)]
            for modname in sorted(set(names)):
                if skip_module(modname):
                    continue
                try:
                    mod = importlib.import_module(modname)
                except BaseException:  # noqa: B036 -- as for the libraries' own modules
                    continue
                cinfo["modules"] += 1
                inspect_members(modname, mod, scanner, doc, seen, set(),
                                only=lambda obj, base=base: isinstance(obj, type) and issubclass(obj, base),
                                prefix=f"Companion ({package}: a subclass of {bmod}.{bname}, which the "
                                       f"libraries' classes build on): ")
    out.write(json.dumps(doc, sort_keys=True))
    out.write("\n")
    out.flush()
    return 0


if __name__ == "__main__" or __name__ == "builtins":
    sys.exit(main(sys.argv[1:]))
