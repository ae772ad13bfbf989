"""Pickles for the command-line tests, built byte by byte.

Nothing here ever unpickles anything. Benign pickles that CPython writes
itself are made with pickle.dumps of plain values; everything a test must
refuse is spelled opcode by opcode, so no payload ever exists as an object.
"""

import struct


def unicode4(s: str) -> bytes:
    """BINUNICODE: 'X' + 4-byte length + UTF-8."""
    b = s.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(b)) + b


def short_unicode(s: str) -> bytes:
    """SHORT_BINUNICODE (protocol 4)."""
    b = s.encode("utf-8", "surrogatepass")
    assert len(b) < 256
    return b"\x8c" + bytes([len(b)]) + b


def global_op(module: str, name: str) -> bytes:
    """GLOBAL 'module\\nname\\n'."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def call1(module: str, name: str, arg: str, proto: int = 2) -> bytes:
    """module.name(arg) as the whole pickle: GLOBAL, one str argument, REDUCE."""
    return b"\x80" + bytes([proto]) + global_op(module, name) + unicode4(arg) + b"\x85R."


def os_system(command: str = "echo pwned") -> bytes:
    return call1("os", "system", command)


def builtins_eval(expr: str = "1+1") -> bytes:
    return call1("__builtin__", "eval", expr)


def stack_global_call(module: str, name: str, arg: str) -> bytes:
    """Protocol 4: module and name pushed as strings, STACK_GLOBAL, REDUCE."""
    return (b"\x80\x04" + short_unicode(module) + short_unicode(name) + b"\x93" + short_unicode(arg) +
            b"\x85R.")


def call_of_call() -> bytes:
    """REDUCE whose callable is itself the result of a REDUCE: builtins.getattr(
    builtins.dict(), 'fromkeys')(['a']), an attribute of an object made while
    loading (of a named global it would be judged as the dotted global, rule
    attribute-of-global). No policy can allow this."""
    return (b"\x80\x02" + global_op("__builtin__", "getattr") + b"(" + global_op("__builtin__", "dict") +
            b")R" + unicode4("fromkeys") + b"tR" + b"(]" + unicode4("a") + b"atR.")


def ordered_dict_built() -> bytes:
    """collections.OrderedDict() then BUILD with a state dict: needs "build"."""
    return (b"\x80\x02" + global_op("collections", "OrderedDict") + b")R" + b"}" + unicode4("k") + b"K\x01sb.")


def _storage_pid(storage: str, key: str, numel: int, legacy: bool) -> bytes:
    module, _, name = storage.rpartition(".")
    pid = b"(" + unicode4("storage") + global_op(module, name) + unicode4(key) + unicode4("cpu") + b"J" + \
        struct.pack("<i", numel)
    if legacy:
        pid += b"N"
    return pid + b"tQ"


def torch_state_dict(storage: str = "torch.FloatStorage", key: str = "0", numel: int = 4,
                     legacy: bool = False, names=("weight",)) -> bytes:
    """What torch.save writes as data.pkl for {name: tensor}: each tensor is
    torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride,
    requires_grad, OrderedDict()), inside an OrderedDict."""
    out = b"\x80\x02}("
    for i, n in enumerate(names):
        out += unicode4(n) + global_op("torch._utils", "_rebuild_tensor_v2") + b"("
        out += _storage_pid(storage, str(int(key) + i) if key.isdigit() else key, numel, legacy)
        out += b"K\x00" + b"J" + struct.pack("<i", numel) + b"\x85" + b"K\x01\x85" + b"\x89"
        out += global_op("collections", "OrderedDict") + b")R" + b"tR"
    return out + b"u."
