"""A fake library for tests/policy_generate/generate_test.py: one class of
each kind the generator must tell apart. Never imported by a pickle."""

import functools
import inspect
import warnings


class SafePoint:
    """Default reduction, plain __init__: allowed new + build (+ reference)."""

    def __init__(self, x=0, y=0):
        self.x = x
        self.y = y


class SafeWithSetstate:
    """A __setstate__ that only stores: allowed."""

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._check()

    def _check(self):
        return len(self.__dict__)


class EvalState:
    """A __setstate__ that evaluates its state: refused."""

    def __setstate__(self, state):
        self.value = eval(state["expr"])


class CallsStoredCallable:
    """A __setstate__ that calls a value it was given: refused."""

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.hook()


class ImportsInInit:
    """Reduces to a call of the class, whose __init__ imports: refused."""

    def __init__(self, name):
        import importlib
        self.mod = importlib.import_module(name)

    def __reduce__(self):
        return (type(self), (self.mod.__name__,))


class OpensInDel:
    """__del__ runs when the loaded object is freed: refused (open)."""

    def __del__(self):
        open(self.path, "w").close()


class CompilesWhenCalled:
    """Loads harmlessly, but an instance stored where a callable is expected
    runs exec on its state: refused (__call__ is scanned)."""

    def __call__(self, *args):
        exec(self.source)


def double(x):
    """A pure function: allowed as a reference."""
    return 2 * x


def apply_fn(func, x):
    """A callable taking a callable: refused."""
    return func(x)


def sort_by(items, key):
    """Hands its argument to sorted, which calls it: refused."""
    return sorted(items, key=key)


class DelegatesToObject:
    """__reduce_ex__ refuses old protocols, then returns object's default
    reduction through super() (as sympy's Basic does): allowed new + build."""

    def __reduce_ex__(self, protocol):
        if protocol < 2:
            raise NotImplementedError("protocol 2 or higher")
        return super().__reduce_ex__(protocol)


class ReducesThroughHelper:
    """A reduction that calls something other than the class: refused."""

    def __reduce__(self):
        return (_rebuild, (1,))


def _rebuild(x):
    return x


def read_settings():
    """Reads a file through a callee outside the library (json.load): refused
    by its name, since code outside the library is not read."""
    return json.load(_SETTINGS)


def fetch_all():
    """Calls a package that fetches URLs (urllib.request, deny-listed): refused."""
    return urllib.request.urlopen("http://example.invalid/")


class ImportsPure:
    """__setstate__ imports a helper of the library (a constant name) and
    calls it: the helper is followed and scanned; allowed."""

    def __setstate__(self, state):
        from fakelib._util import clamp
        from . import _util
        self.x = clamp(state["x"])
        self.y = _util.clamp(state["y"])


class ImportsUnsafeHelper:
    """The imported helper calls eval: refused through it."""

    def __setstate__(self, state):
        from fakelib._util import run_code
        self.x = run_code(state["x"])


class ImportsFormulaEvaluator:
    """statsmodels' ModelData.__setstate__: patsy evaluates the pickle's
    formula as Python. A deny-listed module: refused (not even imported)."""

    def __setstate__(self, state):
        from patsy import dmatrices
        self.design = dmatrices(state["formula"], state["data"])


class ImportsFileReader:
    """An imported name outside the library is judged by its name: json.load
    reads a file object; refused."""

    def __setstate__(self, state):
        from json import load
        self.config = load(state["stream"])


class ShadowsBuiltin:
    """A local rebinding a builtin's name is the pickle's value, not the
    builtin: refused."""

    def __setstate__(self, state):
        len = state["size"]
        self.n = len()


def _cached(func):
    """sympy's @cacheit: the wrapper calls `func` and `cfunc`, closure cells
    fixed when the decorator ran (the decorated function, its lru_cache)."""
    cfunc = functools.lru_cache(maxsize=16)(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return cfunc(*args, **kwargs)
        except TypeError:
            return func(*args, **kwargs)
    return wrapper


def _calls_with(target):
    """A wrapper calling a closure cell that holds eval: refused through it."""
    def decorator(func):
        @functools.wraps(func)
        def wrapper(self, *args):
            return target(*args)
        return wrapper
    return decorator


def _counted(func):
    """A closure cell a sibling closure rebinds (nonlocal) while the library
    runs: its value varies, refused."""
    def wrapper(*args):
        return func(*args)

    def rebind(f):
        nonlocal func
        func = f
    wrapper.rebind = rebind
    return wrapper


class CachedNew:
    """__new__ under a caching decorator (sympy's Basic subclasses): allowed."""

    @_cached
    def __new__(cls, x=0):
        obj = object.__new__(cls)
        obj.x = x
        return obj


class ClosureCallsEval:
    """Loading calls a method whose wrapper calls eval (a closure cell): refused."""

    @_calls_with(eval)
    def __setstate__(self, state):
        pass


class ClosureRebound:
    """Loading calls a method whose wrapper calls a rebound closure cell: refused."""

    @_counted
    def __setstate__(self, state):
        self.__dict__.update(state)


class RemovedAttribute:
    """gensim's removed attributes: the setter calls `self.old()`, whose
    getter only raises, so no value is ever called; allowed."""

    @property
    def old(self):
        raise AttributeError("old was removed; use new")

    @old.setter
    def old(self, value):
        self.old()


class CallsPropertyValue:
    """The setter calls a property whose getter returns a stored value, and
    __setstate__ runs the setter (setattr for each key): refused."""

    @property
    def hook(self):
        return self._hook

    @hook.setter
    def hook(self, value):
        self.hook()

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)


class SetterUnsafeDictState:
    """scipy's sparse matrices: a property setter that must not run with a
    pickle's value (scipy's shape setter reaches native code with the
    pickle's indptr), no __setstate__. Slot state would run it; dict state
    goes into __dict__ without it: allowed with build-dict."""

    @property
    def shape(self):
        return self._shape

    @shape.setter
    def shape(self, value):
        self._shape = eval(value)


class SetstateRunsUnsafeSetter(SetterUnsafeDictState):
    """The neighbour: its own __setstate__ applies the state with setattr,
    so BUILD runs the setter whatever the state's shape: refused."""

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)


class GetattributeOnDictState:
    """load_build looks __setstate__ up (and reads inst.__dict__) through
    __getattribute__, which evaluates: refused, with build or build-dict."""

    def __getattribute__(self, name):
        return object.__getattribute__(self, eval(name))


class OwnDictAttribute(SetterUnsafeDictState):
    """The neighbour: `__dict__` is a property of the class, so load_build's
    getattr(inst, "__dict__") runs its getter: refused even for dict state."""

    __dict__ = property(lambda self: eval("{}"))


def _deprecated(reason):
    """gensim's and nltk's @deprecated(reason): the decorator call ran at
    import; the wrapper warns and calls `func`, the decorated function."""
    def decorator(func):
        @functools.wraps(func)
        def new_func(*args, **kwargs):
            warnings.warn(reason, DeprecationWarning)
            return func(*args, **kwargs)
        return new_func
    return decorator


class RenamedAttribute:
    """A renamed attribute's setter under @_deprecated(...): allowed."""

    @property
    def old(self):
        return self.new

    @old.setter
    @_deprecated("old is now new")
    def old(self, value):
        self.new = value


class SetattrState:
    """sympy's Basic.__setstate__: setattr(self, key, value) for every key is
    what BUILD does with slot state; the same setters are scanned: allowed."""

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)


class SetattrStateRunsSetter:
    """The same, and a property setter evaluates its value: refused."""

    @property
    def expr(self):
        return self._expr

    @expr.setter
    def expr(self, value):
        self._expr = eval(value)

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)


class SetattrOther:
    """setattr on another object under a computed name: refused."""

    def __setstate__(self, state):
        target = state["target"]
        setattr(target, state["name"], state["value"])


class PrivateHelper:
    """`self.__check()` is `self._PrivateHelper__check()`: allowed."""

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__check()

    def __check(self):
        return len(self.__dict__)


class PrivateRunner:
    """`self.__run()` is found under its mangled name, and evaluates: refused."""

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__run()

    def __run(self):
        return eval(self.expr)


class LessIndentedString:
    """A body line less indented than the def (a string): read from the
    whole file's tree; allowed."""

    def __setstate__(self, state):
        self.doc = """
header"""
        self.__dict__.update(state)


class LessIndentedEval:
    """The same shape, and it evaluates: refused."""

    def __setstate__(self, state):
        self.doc = """
header"""
        self.value = eval(state["expr"])


def is_class(x):
    """inspect.isclass is isinstance(x, type): allowed."""
    return inspect.isclass(x)


def signature_of(x):
    """inspect.signature is not in the table of pure inspect functions: refused."""
    return inspect.signature(x)


class ChecksOnLoad:
    """An inherited __setstate__ calls self.check(): pure here; allowed."""

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.check()

    def check(self):
        return len(self.__dict__)


class OverridesCheck(ChecksOnLoad):
    """Loading runs the inherited __setstate__, whose self.check() is this
    class's, which evaluates: refused (self resolves on the loaded class)."""

    def check(self):
        return eval(self.expr)


class SuperCheck(OverridesCheck):
    """check() calls super().check(): OverridesCheck's (after the class the
    code is defined in, not after the loaded class): refused."""

    def check(self):
        return super().check()


class SuperToEval(OverridesCheck):
    """check() hands on to OverridesCheck.check (eval) through super()."""

    def check(self):
        return super().check()


class InheritsSuperToEval(SuperToEval):
    """super() in the inherited check() starts after SuperToEval, the class
    it was written in (its __class__ cell), not after this one: reaches
    OverridesCheck.check's eval; refused."""


class AttributesOnDemand:
    """scipy's spmatrix.__getattr__: BUILD asks it for "__setstate__", which
    no branch but the final raise answers; the `A` branch evaluates, but
    cannot run while loading: allowed."""

    def __getattr__(self, name):
        if name == "A":
            return eval(self.expr)
        raise AttributeError(name)


class SetstateThroughGetattr:
    """The branch BUILD's lookup takes evaluates: refused."""

    def __getattr__(self, name):
        if name == "__setstate__":
            return eval(self.expr)
        raise AttributeError(name)


class _Lazy:
    """nltk's LazyCorpusLoader: methods only through __getattr__."""

    def __getattr__(self, name):
        return self.__dict__["_loaded"][name]


class _Counter:
    def __init__(self):
        self.count = 0
        self.hook = None

    def total(self):
        return self.count


_LAZY = _Lazy()
_COUNTER = _Counter()


def count_total():
    """Calls a method a module-level object's class defines: allowed."""
    return _COUNTER.total()


def lazy_words():
    """A module-level object's method found only through __getattr__ (nltk's
    corpus readers reading files): refused."""
    return _LAZY.words()


def counter_hook():
    """A module-level object's stored value: refused."""
    return _COUNTER.hook()


def local_lazy_words():
    """A local the code made by calling a class: its method is its class's,
    and _Lazy has none (only __getattr__): refused."""
    loader = _Lazy()
    return loader.words()


def local_counter_total():
    """The same, with a method the class defines: allowed."""
    counter = _Counter()
    return counter.total()


import json  # noqa: E402  (module level: the functions above name them)
import urllib.request  # noqa: E402

_SETTINGS = None


class AllocatesThroughLocalImport:
    """The allocator is imported inside __setstate__ (a constant import, which
    the scanner reads): numpy.empty sized by state is refused as surely as a
    global numpy.empty is."""

    def __setstate__(self, state):
        from numpy import empty
        self.__dict__.update(state)
        self.buffer = empty(state["size"])


class AllocatesFromState:
    """BUILD hands __setstate__ a size the pickle wrote: bytearray(n) would
    allocate n bytes (refused: an allocator sized by state)."""

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.buffer = bytearray(state["size"])


class RepeatsFromArgument:
    """Reduces to a call of the class; __init__ repeats a list by its
    argument (refused: seq * n with n from the pickle)."""

    def __init__(self, n):
        self.n = n
        self.slots = [None] * n

    def __reduce__(self):
        return (type(self), (self.n,))


class PowerFromStoredValue:
    """__hash__ raises to a power stored on the instance (refused: x ** n
    with n from BUILD state, a billion-digit integer from a few bytes)."""

    def __hash__(self):
        return hash(10 ** self.digits)


def pad_to(text, width):
    """str.ljust sized by an argument (refused: a reference is called by
    defaultdict without arguments, but the scan refuses the code)."""
    return text.ljust(width)


class ConstantBuffer:
    """Sizes that are constants or the length of state already loaded:
    allowed (bounded by the pickle's own size)."""

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.scratch = bytearray(16)
        self.marks = [0] * len(state)


class RegistryMeta(type):
    """A metaclass with no code of its own: its default reduction would let
    NEWOBJ make a class from the pickle's name, bases and namespace (refused)."""


class SizedByCaller:
    """__call__ allocates by its argument: the caller's (the library's, after
    loading), not the pickle's, so allowed; its code is scanned for the rest."""

    def __call__(self, n):
        return [0.0] * n


# Constants carried into callees (sympy's `_sympify(a)` is
# `sympify(a, strict=True)`, which raises before parsing a string): the
# branches a constant argument decides, and what follows a raise or return
# there, are not read.

def _convert(value, strict=False):
    """sympify: converts what it knows, parses anything else unless strict."""
    if isinstance(value, int):
        return value
    if strict:
        raise TypeError(value)
    return eval(value)


def _convert_unless(value, strict=False):
    if not strict:
        return eval(value)
    return value


def _convert_chosen(value, strict=False):
    return value if strict else eval(value)


def _convert_either(value, strict=False, quiet=False):
    if strict or quiet:
        raise TypeError(value)
    return eval(value)


def _convert_careful(value, careful=True, tag=None):
    """Safe by its default: a call that spreads **kwargs may override it."""
    if careful:
        raise TypeError(value)
    return eval(value)


def _convert_rebinding(value, strict=False):
    strict = value == "strict"
    if strict:
        raise TypeError(value)
    return eval(value)


def _convert_via(value, strict=False):
    return _convert(value, strict=strict)


def _convert_via_nested(value, strict=False):
    def inner(strict):
        return _convert(value, strict=strict)
    return inner(False)


class ConvertsStrictly:
    """_convert(v, strict=True) raises before eval: allowed."""

    def __setstate__(self, state):
        self.value = _convert(state["value"], strict=True)


class ConvertsLoosely:
    """_convert(v, strict=False) reaches eval: refused."""

    def __setstate__(self, state):
        self.value = _convert(state["value"], strict=False)


class ConvertsUnlessStrict:
    """`if not strict: return eval(...)` with strict=True: allowed."""

    def __setstate__(self, state):
        self.value = _convert_unless(state["value"], True)


class ConvertsUnlessByDefault:
    """The same with strict computed from the state: refused."""

    def __setstate__(self, state):
        self.value = _convert_unless(state["value"], strict=state.get("strict", False))


class ConvertsChosen:
    """`v if strict else eval(v)` with strict=True: allowed."""

    def __setstate__(self, state):
        self.value = _convert_chosen(state["value"], strict=True)


class ConvertsEither:
    """`if strict or quiet: raise` with quiet=True: allowed."""

    def __setstate__(self, state):
        self.value = _convert_either(state["value"], quiet=True)


class ConvertsNeither:
    """The same with both False: refused."""

    def __setstate__(self, state):
        self.value = _convert_either(state["value"], quiet=False)


class ConvertsCarefully:
    """careful left to its default True (tag=1 is the constant of the call): allowed."""

    def __setstate__(self, state):
        self.value = _convert_careful(state["value"], tag=1)


class ConvertsWithOptions:
    """The same call spreading the pickle's **options, which may set careful: refused."""

    def __setstate__(self, state):
        self.value = _convert_careful(state["value"], tag=1, **state["options"])


class ConvertsRebinding:
    """strict=True given, but the callee rebinds strict from the value: refused."""

    def __setstate__(self, state):
        self.value = _convert_rebinding(state["value"], strict=True)


class ConvertsVia:
    """strict=True handed on by a callee to _convert: allowed."""

    def __setstate__(self, state):
        self.value = _convert_via(state["value"], strict=True)


class ConvertsViaNested:
    """strict=True, but a nested function's own parameter strict is handed on: refused."""

    def __setstate__(self, state):
        self.value = _convert_via_nested(state["value"], strict=True)


def _convert_mode(value, mode=None):
    if mode is not None:
        raise TypeError(value)
    return eval(value)


def _convert_level(value, level=0):
    if level == 2:
        raise TypeError(value)
    return eval(value)


class ConvertsWithMode:
    """`if mode is not None: raise` with mode="x": allowed."""

    def __setstate__(self, state):
        self.value = _convert_mode(state["value"], mode="x")


class ConvertsAtLevel:
    """`if level == 2: raise` with level=2: allowed."""

    def __setstate__(self, state):
        self.value = _convert_level(state["value"], level=2)


class ConvertsAtLevelOne:
    """The same with level=1: refused."""

    def __setstate__(self, state):
        self.value = _convert_level(state["value"], level=1)


# A callable looked up in a module-level dict of the library (sympy's
# converter tables): each value the table holds is judged, provided no
# function of the library can change the table.

def _to_text(value):
    return str(value)


def _run_text(value):
    return eval(value)


_CONVERTERS = {int: _to_text, float: _to_text}
_RUNNERS = {str: _run_text}
_OPEN_CONVERTERS = {int: _to_text}


def register_converter(kind, func):
    """Lets a caller (a pickle's call of this function) install any callable."""
    _OPEN_CONVERTERS[kind] = func


class ConvertsByTable:
    """conv = _CONVERTERS.get(type(v)); conv(v): every value is harmless: allowed."""

    def __setstate__(self, state):
        conv = _CONVERTERS.get(type(state["value"]))
        self.value = conv(state["value"]) if conv is not None else None


class ConvertsByRunnerTable:
    """A table holding a function that evaluates: refused."""

    def __setstate__(self, state):
        conv = _RUNNERS.get(type(state["value"]))
        self.value = conv(state["value"])


class ConvertsByOpenTable:
    """A table a function of the library writes: refused."""

    def __setstate__(self, state):
        conv = _OPEN_CONVERTERS[type(state["value"])]
        self.value = conv(state["value"])


class ConvertsByShadowedTable:
    """The table's name bound locally to the pickle's dict: refused."""

    def __setstate__(self, state):
        _CONVERTERS = state["table"]
        conv = _CONVERTERS.get(type(state["value"]))
        self.value = conv(state["value"])


class ConvertsByReboundLookup:
    """conv bound by a lookup and by the state: refused."""

    def __setstate__(self, state):
        conv = _CONVERTERS.get(type(state["value"]))
        if conv is None:
            conv = self.fallback
        self.value = conv(state["value"])
class AssignsUnsafeSetter(SetterUnsafeDictState):
    """__setstate__ assigns self.shape, which runs the eval setter as
    setattr would (an attribute store was not read before): refused."""

    def __setstate__(self, state):
        self.shape = state["shape"]
# --- Enum members (pickled as getattr(<class>, name)) -----------------------
import enum  # noqa: E402


class Color(enum.Enum):
    """Enum.__reduce_ex__ pickles a member as getattr(Color, 'RED'): the
    members are allowed as the dotted references Color.RED and Color.GREEN
    (SHADE is an alias, pickled as GREEN), and the class as getattr's
    argument (EnumType.__call__ needs a value, so a call without one runs nothing)."""
    RED = 1
    GREEN = 2
    SHADE = 2


class HashesWithEval(enum.Enum):
    """A member is hashed when it is a dict key while loading: refused."""
    ONE = 1

    def __hash__(self):
        return eval("1")


class ReducesByName(enum.Enum):
    """Its own __reduce_ex__, not CPython's (even the same text): refused, the
    generator reads only Enum's reduction."""
    ONE = 1

    def __reduce_ex__(self, proto):
        return getattr, (self.__class__, self._name_)


class _LookupMeta(enum.EnumType):
    def __getattribute__(cls, name):
        if name.isupper():
            eval("0")
        return super().__getattribute__(name)


class LooksUpMembers(enum.Enum, metaclass=_LookupMeta):
    """getattr(cls, 'ONE') runs its metaclass's __getattribute__: refused."""
    ONE = 1


class _CallMeta(enum.EnumType):
    def __call__(cls, *args, **kwargs):
        return eval("cls")


class CalledByMeta(enum.Enum, metaclass=_CallMeta):
    """The class is a reference (getattr's argument): calling it without
    arguments runs its metaclass's __call__, which evaluates code: refused."""
    ONE = 1


# --- __getnewargs_ex__: protocol 2 pickles partial(C.__new__, C, *args, **kw)() --
class NamedWithOptions:
    """__getnewargs_ex__ with keywords and a __new__ that only stores (sympy's
    Symbol): allowed new + build, and NamedWithOptions.__new__ allowed as a
    call pinned to the class (functools.partial allowed with it)."""

    def __new__(cls, name, **options):
        obj = object.__new__(cls)
        obj.name = name
        obj.options = options
        return obj

    def __getnewargs_ex__(self):
        return (self.name,), self.options


class NamedEvaluates:
    """The same shape, but __new__ evaluates its name: the class is refused,
    and no NamedEvaluates.__new__ entry is written."""

    def __new__(cls, name, **options):
        return eval(name)

    def __getnewargs_ex__(self):
        return ("x",), {"a": 1}


class NamedWithoutOptions:
    """A Python __new__ but no __getnewargs_ex__: pickled by NEWOBJ at every
    protocol, so no NamedWithoutOptions.__new__ entry."""

    def __new__(cls, name=""):
        obj = object.__new__(cls)
        obj.name = name
        return obj


class NamedNativeNew:
    """__getnewargs_ex__ but object's own __new__: protocol 2 pickles
    partial(object.__new__, ...), named by object, not by this class: no entry."""

    def __getnewargs_ex__(self):
        return (), {"a": 1}


# ---- forbidden_state_keys: a __setstate__ unsafe only on a state-keyed branch
class GuardedByKey:
    """statsmodels' ModelData.__setstate__: with "restore" in the state it
    evaluates the state's formula; without it, it only updates __dict__.
    Allowed, with forbidden_state_keys = ["restore"]."""

    def __setstate__(self, d):
        if "restore" in d:
            eval(d["formula"])
            del d["restore"]
        self.__dict__.update(d)


class GuardedByGet:
    """The same branch guarded by state.get("k") (None when absent): allowed,
    forbidden_state_keys = ["restore"]."""

    def __setstate__(self, state):
        """Docstrings before the guard are fine."""
        if state.get("restore"):
            eval(state["formula"])
        self.__dict__.update(state)


class GuardedByPop:
    """state.pop("k", None) and an `and`: allowed, forbidden_state_keys = ["restore"]."""

    def __setstate__(self, state):
        if state.pop("restore", None) and len(state) > 1:
            eval(state["formula"])
        self.__dict__.update(state)


class GuardAfterUse:
    """The guard is not the first statement: code before it may have changed
    the state (it could add the key). Refused."""

    def __setstate__(self, state):
        state.update(self.defaults)
        if "restore" in state:
            eval(state["formula"])
        self.__dict__.update(state)


class GuardRebindsState:
    """The state name is rebound, so the guard may test another dict: refused."""

    def __setstate__(self, state):
        if "restore" in state:
            eval(state["formula"])
        state = dict(state)
        self.__dict__.update(state)


class GuardNegated:
    """`not in` runs the unsafe code when the key is absent: refused."""

    def __setstate__(self, state):
        if "restore" not in state:
            eval(state["formula"])
        self.__dict__.update(state)


class GuardedElseUnsafe:
    """The unsafe code is in the else branch, which runs without the key: refused."""

    def __setstate__(self, state):
        if "restore" in state:
            pass
        else:
            eval(state["formula"])
        self.__dict__.update(state)


class GuardGetTruthyDefault:
    """state.get("k", 1) is true without the key: refused."""

    def __setstate__(self, state):
        if state.get("restore", 1):
            eval(state["formula"])
        self.__dict__.update(state)


# ---- __getattribute__ read with the names loading looks up (statsmodels' ResultsWrapper)
class WrapsResults:
    """statsmodels' ResultsWrapper: __getattribute__ returns what
    object.__getattribute__ finds, and only otherwise reads a computed
    attribute of another object. BUILD looks up "__setstate__" (a function of
    the class) and __setstate__ reads self.__dict__: both found, so the
    rest cannot run. Allowed."""

    def __getattribute__(self, attr):
        get = lambda name: object.__getattribute__(self, name)
        try:
            results = get("_results")
        except AttributeError:
            pass
        try:
            return get(attr)
        except AttributeError:
            pass
        return getattr(results, attr)

    def __setstate__(self, dict_):
        self.__dict__.update(dict_)


class WrapsResultsReadsMore(WrapsResults):
    """Its __setstate__ reads self.model, which object.__getattribute__ may
    not find (then the computed getattr runs): refused."""

    def __setstate__(self, dict_):
        self.__dict__.update(dict_)
        self.model.check()


class WrapsResultsFinally(WrapsResults):
    """A finally clause runs even when the try returns: refused."""

    def __getattribute__(self, attr):
        try:
            return object.__getattribute__(self, attr)
        finally:
            eval(attr)


class WrapsResultsHashes(WrapsResults):
    """A Python __hash__ may read other names through __getattribute__: refused."""

    def __hash__(self):
        return hash(self.key)


# --- torch.nn.Module.__call__ (a dispatch summary): only with python3-torch --
try:
    import torch.nn as _nn
except ImportError:  # scripts/install-deps.sh --no-ml: the tests skip these cases
    _nn = None

if _nn is not None:
    class SafeBlock(_nn.Module):
        """Module.__call__ with empty hook tables runs forward: allowed, with
        the hook tables as empty_state_keys and required_state_keys."""

        def forward(self, x):
            return x * 2

    class BlockEvaluates(_nn.Module):
        """forward, run by Module.__call__, evaluates its input: refused."""

        def forward(self, x):
            return eval(x)

    class BlockCallsStored(_nn.Module):
        """forward calls a submodule, a value stored on the instance: allowed,
        with inner as called_state_keys and Module.__getattr__'s tables as
        attribute_tables (the judge requires a callable instance there)."""

        def forward(self, x):
            return self.inner(x)


    class BlockLoopsLayers(_nn.Module):
        """forward calls every value of self.layers: allowed, with layers as
        called_state_values."""

        def forward(self, x):
            for layer in self.layers.values():
                x = layer(x)
            return x

    class BlockCallsStoredOnLoad(_nn.Module):
        """__setstate__ calls a stored value while loading, before the judge's
        reading of the state holds: refused."""

        def __setstate__(self, state):
            super().__setstate__(state)
            self.inner(0)

        def forward(self, x):
            return x

    class BlockCalledOnLoad(_nn.Module):
        """__setstate__ calls the instance, so Module.__call__ and forward run
        while loading, where the stored value it calls is not yet judged:
        refused."""

        def __setstate__(self, state):
            super().__setstate__(state)
            self(0)

        def forward(self, x):
            return self.inner(x)

    class BlockOwnGetattr(_nn.Module):
        """A __getattr__ of its own (not a reviewed lookup) decides what
        self.inner is: refused."""

        def __getattr__(self, name):
            return super().__getattr__(name)

        def forward(self, x):
            return self.inner(x)

    class BlockStoresInNew(_nn.Module):
        """NEWOBJ's arguments go to a __new__ that stores them, which no BUILD
        shows the judge: refused."""

        def __new__(cls, *args):
            self = super().__new__(cls)
            self.__dict__["inner"] = args[0] if args else None
            return self

        def forward(self, x):
            return self.inner(x)

    class BlockLoopsComputed(_nn.Module):
        """forward calls the items of a value it computes: refused."""

        def forward(self, x):
            for layer in sorted(self.layers):
                x = layer(x)
            return x

    class BlockLoopsRebound(_nn.Module):
        """The loop variable is also bound by an assignment: refused."""

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            layer = x
            return layer(x)


    class BlockLoopsOwnLayers(_nn.Module):
        """The layers it loops over are the class's own attribute, not state:
        refused (the judge could not see them; here a builtin)."""

        layers = (eval,)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x


class Pipeline:
    """A plain class whose __call__ calls each stored step: refused (stored
    calls are judged only under a dispatch summary, nn.Module's, for now)."""

    def __call__(self, x):
        for step in self.steps:
            x = step(x)
        return x
