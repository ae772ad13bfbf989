"""Shared helpers for the Python package's tests.

Malicious pickles are built here byte by byte and are never given to
pickle.loads: only pickleguard sees them. Each would create a marker file if
it ran, so a test can check that nothing did.
"""
import os
import pathlib
import struct
import sys
import uuid

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("PICKLEGUARD_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))


def _unicode(s):  # SHORT_BINUNICODE
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def _binunicode(s):  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _string0(s):  # protocol 0 STRING
    return b"S'" + s.encode() + b"'\n"


def malicious_payloads(marker):
    """name -> bytes; each runs `touch marker` (or writes it) if loaded."""
    cmd = f"touch {marker}"
    os_system_p0 = b"cos\nsystem\n(" + _string0(cmd) + b"tR."
    code = f"__import__('os').system('{cmd}')"
    return {
        "os_system_global_reduce_p0": os_system_p0,
        "posix_system_p0": b"cposix\nsystem\n(" + _string0(cmd) + b"tR.",
        "builtins_eval_p2": b"\x80\x02c__builtin__\neval\n" + _binunicode(code) + b"\x85R.",
        "builtins_exec_stack_global_p4": b"\x80\x04" + _unicode("builtins") + _unicode("exec") + b"\x93"
                                         + _binunicode(code) + b"\x85R.",
        "shutil_dotted_os_system_p4": b"\x80\x04" + _unicode("shutil") + _unicode("os.system") + b"\x93"
                                      + _binunicode(cmd) + b"\x85R.",
        "inst_os_system": b"(" + _string0(cmd) + b"ios\nsystem\n.",
        "obj_os_system": b"(cos\nsystem\n" + _string0(cmd) + b"o.",
        "subprocess_popen_newobj_p2": b"\x80\x02csubprocess\nPopen\n(" + _binunicode("touch")
                                      + _binunicode(str(marker)) + b"l\x85\x81.",
        "second_pickle_after_stop": b"\x80\x02K\x01." + os_system_p0,
        "ext1_registry_code": b"\x80\x02\x82\x01" + _binunicode(cmd) + b"\x85R.",
        "memoized_global_reused": b"\x80\x02cos\nsystem\nq\x00h\x00" + _binunicode(cmd) + b"\x85R0.",
        "payload_then_truncated": b"\x80\x02cos\nsystem\n" + _binunicode(cmd) + b"\x85R",
        "nested_pickle_loads": b"\x80\x04cpickle\nloads\nC" + bytes([len(os_system_p0)]) + os_system_p0 + b"\x85R.",
        "open_file_for_writing": b"\x80\x02c__builtin__\nopen\n" + _binunicode(str(marker)) + _binunicode("w")
                                 + b"\x86R.",
        # uuid.UUID is allowed and uuid imports os: a dotted name walks there.
        "allowed_module_dotted_os_system_p4": b"\x80\x04" + _unicode("uuid") + _unicode("os.system") + b"\x93"
                                              + _binunicode(cmd) + b"\x85R.",
        "allowed_module_dotted_p2_global": b"\x80\x02cuuid\nos.system\n" + _binunicode(cmd) + b"\x85R.",
        "persistent_id_p2": b"\x80\x02" + _binunicode("storage") + b"Q.",
    }


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / f"marker-{uuid.uuid4().hex}"
    yield path
    assert not path.exists(), f"a payload ran: {path} exists"


def child_processes():
    """Pids whose parent is this process (from /proc)."""
    me = os.getpid()
    out = set()
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == me:
            out.add(int(entry.name))
    return out


def module_names():
    return set(sys.modules)
