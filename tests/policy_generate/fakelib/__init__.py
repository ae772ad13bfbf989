"""A fake library for tests/policy_generate/generate_test.py: one class of
each kind the generator must tell apart. Never imported by a pickle."""


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


import json  # noqa: E402  (module level: the functions above name them)
import urllib.request  # noqa: E402

_SETTINGS = None


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
