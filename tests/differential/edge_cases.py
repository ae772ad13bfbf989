"""Hand-built pickle byte strings exercising every opcode of protocols 0-5.

Nothing here pickles a live object: every stream is spelled out as bytes so
that it can be malformed on purpose.  CPython's verdict (and, when the stream
builds plain data only, its value) comes from the stub unpickler, i.e. from
the real ``_pickle.c`` code with globals stubbed out.  A few cases cannot be
judged that way and say so in their ``policy``:

* EXT1/2/4 with a positive code: CPython's answer depends on copyreg's
  extension registry, which the harness must not touch.  The verdict is taken
  from an *oracle* stream where the EXT opcode is replaced by an equivalent
  GLOBAL (both push one opaque object), i.e. "accept, as a symbolic $ext".
* Memo indices so large that ``_pickle.c`` would grow its memo array to many
  gigabytes: CPython is not run; pickleguard must accept or say "limit:".
* NEWOBJ on, or READONLY_BUFFER of, a symbolic object other than a global:
  CPython's answer depends on what the real object is (a class? a buffer?);
  the contract's symbolic model accepts.

Cases whose globals are all stdlib constructor calls (set, frozenset,
bytearray, bytes, _codecs.encode, complex) also get a value: the stub call
is rendered as the data it would build (``pgjson.fold_call``).

Run directly to list the cases and CPython's verdicts:
    /usr/bin/python3 edge_cases.py [-v]
"""

from __future__ import annotations

import struct
import sys

import opscan
import pgjson
from cases import Case, safe_name
from stub_unpickler import StubMeta, StubObject, stub_load

# Above this memo index CPython's memo array growth is dangerous to trigger.
MAX_SAFE_MEMO_INDEX = 1 << 20


def Q(n: int) -> bytes:
    return struct.pack("<Q", n)


def I4(n: int) -> bytes:
    return struct.pack("<i", n)


def U4(n: int) -> bytes:
    return struct.pack("<I", n)


def frame(body: bytes) -> bytes:
    return b"\x95" + Q(len(body)) + body


def binfloat(x: float) -> bytes:
    return b"G" + struct.pack(">d", x)


def binunicode(s: bytes) -> bytes:
    return b"X" + U4(len(s)) + s


NAN = binfloat(float("nan"))
P2 = b"\x80\x02"
P4 = b"\x80\x04"
P5 = b"\x80\x05"
DIGITS_4300 = b"1" + b"2" * 4299


class _Spec:
    """One edge case before CPython has been asked about it."""

    def __init__(self, name, data, oracle=None, policy=None, verdict_only=False,
                 allow_limit=False, note=""):
        self.name = name
        self.data = data
        self.oracle = oracle
        self.policy = policy
        self.verdict_only = verdict_only
        self.allow_limit = allow_limit
        self.note = note


def _specs() -> list[_Spec]:
    S = _Spec
    out: list[_Spec] = []
    add = out.append

    # ---- INT (text): strtol(base 0) first, PyLong_FromString(base 0) fallback,
    # and a 2-char argument equal to 0/1 means a bool.
    for name, arg in [
        ("I01_true", b"01"), ("I00_false", b"00"), ("I1", b"1"), ("I0", b"0"),
        ("space1_bool", b" 1"), ("plus1_bool", b"+1"), ("minus0_bool", b"-0"),
        ("tab1", b"\t1"), ("hex", b"0x1f"), ("HEX", b"0X1F"), ("octal", b"010"),
        ("octal_overflow", b"0777777777777777777777777"), ("binary", b"0b101"),
        ("underscore", b"1_000"), ("double_underscore", b"1__0"),
        ("nul_junk", b"1\x00junk"), ("nul_bool", b"1\x00"), ("empty", b""),
        ("space_only", b" "), ("trailing_space", b"1 "), ("trailing_cr", b"1\r"),
        ("L_suffix", b"12L"), ("long_max", b"9223372036854775807"),
        ("long_over", b"9223372036854775808"), ("long_min", b"-9223372036854775808"),
        ("long_under", b"-9223372036854775809"), ("huge_300", b"9" * 300),
        ("digits_4300", DIGITS_4300), ("digits_4301", DIGITS_4300 + b"3"),
        ("neg_digits_4300", b"-" + DIGITS_4300), ("hex_5000", b"0x" + b"f" * 5000),
        ("plus_space", b"+ 1"), ("non_ascii_digit", "\u0661".encode()),
        ("leading_zero_dec", b"007"), ("two_53", b"9007199254740992"),
        ("two_53_plus1", b"9007199254740993"), ("x_only", b"0x"),
    ]:
        add(S(f"INT_{name}", b"I" + arg + b"\n."))
    add(S("INT_no_newline", b"I1"))

    # ---- LONG (text): optional trailing 'L', PyLong_FromString(base 0).
    for name, arg in [
        ("12L", b"12L"), ("12", b"12"), ("0x10L", b"0x10L"), ("neg", b"-5L"),
        ("0L", b"0L"), ("00L", b"00L"), ("010L", b"010L"), ("L_only", b"L"),
        ("LL", b"12LL"), ("space", b" 12L"), ("underscore", b"1_2L"),
        ("nul", b"1\x00xL"), ("empty", b""), ("digits_4300", DIGITS_4300 + b"L"),
        ("digits_4301", DIGITS_4300 + b"3L"), ("huge_hex", b"0x" + b"a" * 3000 + b"L"),
        ("lower_l", b"12l"), ("trailing_space", b"12 L"), ("two_64", b"18446744073709551616L"),
    ]:
        add(S(f"LONG_{name}", b"L" + arg + b"\n."))

    # ---- FLOAT (text): PyOS_string_to_double, no surrounding whitespace.
    for name, arg in [
        ("1.5", b"1.5"), ("lead_space", b" 1.5"), ("trail_space", b"1.5 "),
        ("inf", b"inf"), ("neg_inf", b"-inf"), ("INF", b"INF"), ("infinity", b"infinity"),
        ("nan", b"nan"), ("neg_nan", b"-nan"), ("nan_payload", b"nan(1)"),
        ("overflow", b"1e999"), ("neg_overflow", b"-1e999"), ("underflow", b"1e-400"),
        ("underscore", b"1_0.5"), ("hex", b"0x1p3"), ("nul_junk", b"1.5\x00junk"),
        ("empty", b""), ("dot5", b".5"), ("5dot", b"5."), ("plus", b"+1"),
        ("exp", b"1e5"), ("neg_zero", b"-0.0"), ("cr", b"1.5\r"), ("comma", b"1,5"),
        ("e_only", b"1e"), ("int_form", b"3"), ("subnormal", b"5e-324"),
        ("max", b"1.7976931348623157e308"), ("just_over_max", b"1.7976931348623159e308"),
    ]:
        add(S(f"FLOAT_{name}", b"F" + arg + b"\n."))

    # ---- BINFLOAT: NaN payloads and signs must all read as nan.
    for name, raw in [("nan", b"\x7f\xf8" + b"\0" * 6), ("neg_nan", b"\xff\xf8" + b"\0" * 6),
                      ("nan_payload", b"\x7f\xf0\0\0\0\0\0\x01"), ("inf", b"\x7f\xf0" + b"\0" * 6),
                      ("neg_zero", b"\x80" + b"\0" * 7), ("subnormal", b"\0" * 7 + b"\x01"),
                      ("truncated", b"\x3f\xf0")]:
        add(S(f"BINFLOAT_{name}", b"G" + raw + (b"." if len(raw) == 8 else b"")))

    # ---- BININT family.
    for name, data in [("BININT_neg1", b"J\xff\xff\xff\xff."), ("BININT_min", b"J\0\0\0\x80."),
                       ("BININT1_255", b"K\xff."), ("BININT2_65535", b"M\xff\xff."),
                       ("BININT_truncated", b"J\x01\x02."), ("BININT1_truncated", b"K")]:
        add(S(name, data))

    # ---- LONG1 / LONG4: little-endian two's complement.
    add(S("LONG1_zero_len", b"\x8a\x00."))
    add(S("LONG1_minus1", b"\x8a\x01\xff."))
    add(S("LONG1_255", b"\x8a\x02\xff\x00."))
    add(S("LONG1_2_64", b"\x8a\x09" + b"\0" * 8 + b"\x01."))
    add(S("LONG1_overlong", b"\x8a\x05\x01."))
    add(S("LONG4_zero_len", b"\x8b" + I4(0) + b"."))
    add(S("LONG4_negative_count", b"\x8b" + I4(-1) + b"."))
    add(S("LONG4_2000_bytes", b"\x8b" + I4(2000) + b"\x5a" * 2000 + b"."))
    add(S("LONG4_huge_count", b"\x8b" + I4(2**31 - 1) + b"\x01."))

    # ---- STRING (text): quoted, then PyBytes_DecodeEscape, then ASCII.
    for name, arg in [
        ("single", b"'abc'"), ("double", b'"abc"'), ("mismatched", b"'abc\""),
        ("lone_quote", b"'"), ("empty", b"''"), ("unquoted", b"abc"),
        ("escaped_quote", b"'a\\'b'"), ("inner_quote", b"'a'b'"),
        ("escapes", b"'\\n\\t\\x41\\101\\\\\\r\\a\\b\\f\\v\\0'"), ("bad_hex", b"'\\xZZ'"),
        ("short_hex", b"'\\x4'"), ("trailing_backslash", b"'abc\\'"),
        ("unknown_escape", b"'\\q'"), ("raw_non_ascii", b"'\xe9'"),
        ("escaped_non_ascii", b"'\\xe9'"), ("octal_777", b"'\\777'"),
        ("octal_377", b"'\\377'"), ("octal_177", b"'\\177'"), ("nul_escape", b"'\\0'"),
        ("raw_nul", b"'a\x00b'"), ("backslash_newline", b"'a\\\nb'"),
        ("quote_only_double", b'"'), ("utf8_escape_u", b"'\\u0041'"),
    ]:
        add(S(f"STRING_{name}", b"S" + arg + b"\n."))
    add(S("STRING_no_newline", b"S'abc'"))
    add(S("BINSTRING_ok", b"T" + I4(3) + b"abc."))
    add(S("BINSTRING_negative", b"T" + I4(-1) + b"abc."))
    add(S("BINSTRING_non_ascii", b"T" + I4(1) + b"\xe9."))
    add(S("BINSTRING_overlong", b"T" + I4(10) + b"abc."))
    add(S("SHORT_BINSTRING_ok", b"U\x03abc."))
    add(S("SHORT_BINSTRING_non_ascii", b"U\x01\x80."))
    add(S("SHORT_BINSTRING_empty", b"U\x00."))

    # ---- UNICODE (text): raw-unicode-escape.
    for name, arg in [
        ("plain", b"abc"), ("euro", b"\\u20ac"), ("astral", b"\\U0001f600"),
        ("too_big", b"\\U00110000"), ("truncated_u", b"\\u12"), ("truncated_U", b"\\U0001f6"),
        ("x_escape_literal", b"\\x41"), ("latin1_byte", b"\xe9"), ("backslash", b"\\"),
        ("lone_surrogate", b"\\ud800"), ("surrogate_pair_escapes", b"\\ud83d\\ude00"),
        ("empty", b""), ("double_backslash_u", b"\\\\u0041"), ("upper_U_small", b"\\U00000041"),
        ("bad_hex_digit", b"\\u12g4"), ("cr", b"a\rb"), ("nul", b"a\x00b"),
    ]:
        add(S(f"UNICODE_{name}", b"V" + arg + b"\n."))

    # ---- BINUNICODE family: UTF-8 with surrogatepass.
    for name, raw in [
        ("ascii", b"abc"), ("euro", "\u20ac".encode()), ("astral", "\U0001f600".encode()),
        ("lone_surrogate", b"\xed\xa0\x80"), ("cesu_pair", b"\xed\xa0\xbd\xed\xb8\x80"),
        ("invalid_ff", b"\xff"), ("overlong_nul", b"\xc0\x80"), ("truncated_seq", b"\xe2\x82"),
        ("above_10ffff", b"\xf4\x90\x80\x80"), ("five_byte", b"\xf8\x88\x80\x80\x80"),
        ("nul", b"a\x00b"), ("empty", b""), ("bom", b"\xef\xbb\xbfx"),
    ]:
        add(S(f"BINUNICODE_{name}", binunicode(raw) + b"."))
    add(S("BINUNICODE_overlong", b"X" + U4(100) + b"abc."))
    add(S("BINUNICODE_4G", b"X" + U4(0xFFFFFFFF) + b"abc."))
    add(S("SHORT_BINUNICODE_ok", b"\x8c\x02\xc3\xa9."))
    add(S("SHORT_BINUNICODE_invalid", b"\x8c\x01\xc3."))
    add(S("BINUNICODE8_ok", b"\x8d" + Q(3) + b"abc."))
    add(S("BINUNICODE8_2_62", b"\x8d" + Q(2**62) + b"abc."))
    add(S("BINUNICODE8_2_64_minus1", b"\x8d" + Q(2**64 - 1) + b"abc."))

    # ---- BINBYTES family and BYTEARRAY8 (CPython allocates before reading).
    add(S("BINBYTES_ok", b"B" + U4(2) + b"\x00\xff."))
    add(S("BINBYTES_4G", b"B" + U4(0xFFFFFFFF) + b"ab."))
    add(S("SHORT_BINBYTES_ok", b"C\x03a\nb."))
    add(S("SHORT_BINBYTES_overlong", b"C\x05ab."))
    add(S("BINBYTES8_ok", b"\x8e" + Q(2) + b"ab."))
    add(S("BINBYTES8_2_62", b"\x8e" + Q(2**62) + b"ab."))
    add(S("BINBYTES8_2_63", b"\x8e" + Q(2**63) + b"ab."))
    add(S("BYTEARRAY8_ok", P5 + b"\x96" + Q(3) + b"abc."))
    add(S("BYTEARRAY8_empty", P5 + b"\x96" + Q(0) + b"."))
    add(S("BYTEARRAY8_2_62", P5 + b"\x96" + Q(2**62) + b"abc."))

    # ---- NEXT_BUFFER / READONLY_BUFFER (no out-of-band buffers are given).
    add(S("NEXT_BUFFER_no_buffers", P5 + b"\x97."))
    add(S("NEXT_BUFFER_readonly", P5 + b"\x97\x98."))
    add(S("READONLY_BUFFER_bytes", P5 + b"C\x02ab\x98."))
    add(S("READONLY_BUFFER_bytearray", P5 + b"\x96" + Q(2) + b"ab\x98.", verdict_only=True,
          note="CPython yields a read-only memoryview; contract has no rendering for it"))
    add(S("READONLY_BUFFER_int", P5 + b"K\x01\x98."))
    add(S("READONLY_BUFFER_none", P5 + b"N\x98."))
    add(S("READONLY_BUFFER_empty", P5 + b"\x98."))
    add(S("READONLY_BUFFER_below_mark", P5 + b"C\x01a(\x98."))

    # ---- singletons
    add(S("NONE", b"N."))
    add(S("NEWTRUE", P2 + b"\x88."))
    add(S("NEWFALSE", P2 + b"\x89."))

    # ---- GET / PUT (text indices: PyLong_FromString(base 10)).
    for name, data in [
        ("basic", b"Np0\n0g0\n."), ("PUT_space", b"Np 1\n0g1\n."),
        ("PUT_underscore", b"Np1_0\n0g10\n."), ("PUT_negative", b"Np-1\n."),
        ("PUT_plus", b"Np+1\n0g1\n."), ("PUT_hex", b"Np0x1\n."), ("PUT_empty", b"Np\n."),
        ("PUT_leading_zero", b"Np007\n0g7\n."), ("PUT_empty_stack", b"p0\nN."),
        ("PUT_after_mark", b"N(p0\n."), ("GET_negative", b"Np0\n0g-1\n."),
        ("GET_space", b"Np0\n0g 0\n."), ("GET_hex", b"Np0\n0g0x0\n."),
        ("GET_missing", b"Ng0\n."), ("GET_empty", b"Np0\n0g\n."),
        ("GET_leading_zero", b"Np0\n0g00\n."), ("GET_trailing_space", b"Np0\n0g0 \n."),
        ("PUT_nul", b"Np1\x00\n0g1\n."), ("PUT_huge_text", b"Np99999999999999999999999\n."),
    ]:
        add(S(f"GETPUT_{name}", data))
    add(S("BINPUT_BINGET", b"K\x07q\x03h\x03\x86."))
    add(S("LONG_BINPUT_LONG_BINGET", b"K\x07r" + U4(300) + b"j" + U4(300) + b"\x86."))
    add(S("LONG_BINGET_missing", b"j" + U4(5) + b"."))
    add(S("BINGET_truncated", b"Nq\x00h"))
    add(S("memo_overwrite", b"(K\x01q\x000K\x02q\x000h\x00t."))
    add(S("memo_get_then_put_same_index", b"(K\x01q\x00h\x00K\x02q\x00h\x00t."))
    add(S("LONG_BINPUT_4G", b"Nr" + U4(0xFFFFFFFF) + b"j" + U4(0xFFFFFFFF) + b".",
          policy="accept", allow_limit=True,
          note="CPython would grow its memo array to ~64 GiB; a sparse memo accepts"))
    add(S("PUT_text_1e12", b"Np1000000000000\n0g1000000000000\n.", policy="accept",
          allow_limit=True, note="CPython would grow its memo array to ~16 TiB"))

    # ---- MEMOIZE: index is the number of memo entries (memo_len), not max+1.
    add(S("MEMOIZE_basic", P4 + b"K\x01\x94h\x00\x86."))
    add(S("MEMOIZE_after_BINPUT_5", P4 + b"(K\x01q\x05K\x02\x94h\x01h\x05t."))
    add(S("MEMOIZE_overwrites_BINPUT_1", P4 + b"(K\x01q\x01K\x02\x94h\x01t."))
    add(S("MEMOIZE_len_not_max", P4 + b"(K\x01q\x01K\x02\x94K\x03\x94h\x01h\x02t."))
    add(S("MEMOIZE_empty_stack", P4 + b"\x94N."))
    add(S("MEMOIZE_after_mark", P4 + b"N(\x94."))

    # ---- FRAME (pickle.loads only checks that the frame is present; file readers
    # and pickle.py do not read on across its end: see frame_cases.py).
    add(S("FRAME_valid", P4 + frame(b"K\x01.")))
    add(S("FRAME_valid_then_outside", P4 + frame(b"K\x01") + b"."))
    add(S("FRAME_longer_than_file", P4 + b"\x95" + Q(100) + b"K\x01."))
    add(S("FRAME_zero_length", P4 + b"\x95" + Q(0) + b"N."))
    add(S("FRAME_nested", P4 + frame(b"\x95" + Q(2) + b"N.")))
    add(S("FRAME_split_opcode", P4 + b"\x95" + Q(1) + b"K\x01."))
    add(S("FRAME_truncated_len", P4 + b"\x95\x01\x00"))
    add(S("FRAME_2_63", P4 + b"\x95" + Q(2**63) + b"N."))
    add(S("FRAME_without_proto", frame(b"N.")))
    add(S("FRAME_two_frames", P4 + frame(b"(K\x01") + frame(b"K\x02t.")))
    add(S("FRAME_after_stop", P4 + frame(b"N.") + b"\x95" + Q(99)))

    # ---- PROTO: allowed anywhere and repeatedly; > 5 rejected.
    for name, data in [
        ("2", P2 + b"N."), ("5", P5 + b"N."), ("6", b"\x80\x06N."), ("ff", b"\x80\xffN."),
        ("0", b"\x80\x00N."), ("after_value", b"N\x80\x02."), ("repeated", b"\x80\x02\x80\x03\x80\x02N."),
        ("truncated", b"\x80"), ("only", b"\x80\x02"), ("inside_mark", b"(\x80\x04Nt."),
        ("6_after_stop", b"N.\x80\x06"),
    ]:
        add(S(f"PROTO_{name}", data))

    # ---- STOP and stack discipline.
    for name, data in [
        ("empty_file", b""), ("stop_only", b"."), ("mark_open_empty", b"(."),
        ("mark_open_fenced", b"N(."), ("mark_open_item", b"(N."), ("two_items", b"NK\x01."),
        ("data_after_stop", b"N.garbage"), ("invalid_after_stop", b"N.\xff\xff"),
        ("no_stop", b"N"), ("invalid_opcode", b"N\xff."), ("nul_opcode", b"\x00"),
        ("opcode_0x99", P5 + b"\x99."),
    ]:
        add(S(f"STOP_{name}", data))

    # ---- POP / POP_MARK / DUP / MARK.
    for name, data in [
        ("POP", b"NN0."), ("POP_to_empty", b"N0."), ("POP_empty", b"0N."),
        ("POP_mark", b"(0N."), ("POP_mark_above_item", b"N(0."), ("POP_item_above_mark", b"(NN0t."),
        ("POP_MARK", b"N(NN1."), ("POP_MARK_no_mark", b"1N."), ("POP_MARK_nested", b"((N1t."),
        ("DUP", b"N2\x86."), ("DUP_empty", b"2N."), ("DUP_after_mark", b"N(2."),
        ("DUP_list_shared", b"]2\x86."), ("MARK_many", b"(" * 1000 + b"N."),
    ]:
        add(S(f"STACK_{name}", data))

    # ---- tuples
    for name, data in [
        ("EMPTY_TUPLE", b")."), ("TUPLE1", b"N\x85."), ("TUPLE2", b"NK\x01\x86."),
        ("TUPLE3", b"NK\x01K\x02\x87."), ("TUPLE1_underflow", b"\x85."),
        ("TUPLE2_underflow", b"N\x86."), ("TUPLE1_below_mark", b"N(\x85."),
        ("TUPLE2_across_mark", b"N(N\x86."), ("TUPLE3_across_mark", b"NN(N\x87."),
        ("TUPLE_no_mark", b"Nt."), ("TUPLE_empty", b"(t."), ("TUPLE_nested_marks", b"((t."),
        ("TUPLE_shared", b"(N\x85q\x00h\x00l."), ("TUPLE_6", b"(K\x01K\x02K\x03K\x04K\x05K\x06t."),
    ]:
        add(S(f"TUPLE_{name}", data))

    # ---- lists and APPEND(S) on the right and wrong targets.
    for name, data in [
        ("LIST", b"(NK\x01l."), ("LIST_empty", b"(l."), ("LIST_no_mark", b"Nl."),
        ("APPEND", b"]Na."), ("APPEND_underflow", b"Na."), ("APPEND_only_list", b"]a."),
        ("APPEND_to_None", b"N]a."), ("APPEND_to_tuple", b")Na."), ("APPEND_to_dict", b"}Na."),
        ("APPEND_to_set", P4 + b"\x8fNa."), ("APPEND_to_str", b"\x8c\x01aNa."),
        ("APPEND_to_int", b"K\x01Na."), ("APPEND_to_bytearray_int", P5 + b"\x96" + Q(1) + b"aK\x42a."),
        ("APPEND_to_bytearray_none", P5 + b"\x96" + Q(1) + b"aNa."),
        ("APPEND_to_bytearray_256", P5 + b"\x96" + Q(1) + b"aM\x00\x01a."),
        ("APPEND_across_mark", b"](Na."),
        ("APPENDS", b"](NK\x01e."), ("APPENDS_empty", b"](e."), ("APPENDS_no_mark", b"]Ne."),
        ("APPENDS_mark_at_bottom", b"(]e."), ("APPENDS_to_tuple_empty", b")(e."),
        ("APPENDS_to_int_empty", b"K\x01(e."), ("APPENDS_to_int", b"K\x01(Ne."),
        ("APPENDS_to_dict", b"}(Ne."), ("APPENDS_to_bytearray", P5 + b"\x96" + Q(0) + b"(K\x41K\x42e."),
        ("APPENDS_to_frozenset", P4 + b"(\x91(Ne."), ("APPEND_self", b"]q\x00h\x00a."),
        ("APPENDS_shared_inner", b"](]q\x00h\x00e."),
    ]:
        add(S(f"LIST_{name}", data))

    # ---- dicts and SETITEM(S).
    for name, data in [
        ("DICT", b"(K\x01K\x02d."), ("DICT_empty", b"(d."), ("DICT_odd", b"(K\x01d."),
        ("DICT_unhashable_key", b"(]Nd."), ("DICT_no_mark", b"K\x01K\x02d."),
        ("DICT_dup_1_True", P2 + b"(K\x01K\x02\x88K\x03d."),
        ("SETITEM", b"}K\x01K\x02s."), ("SETITEM_underflow", b"}Ns."),
        ("SETITEM_unhashable", b"}]Ns."), ("SETITEM_to_list", b"]K\x01aK\x00K\x05s."),
        ("SETITEM_to_list_out_of_range", b"]K\x03K\x05s."),
        ("SETITEM_to_list_neg_index", b"]K\x01aJ\xff\xff\xff\xffK\x05s."),
        ("SETITEM_to_bytearray", P5 + b"\x96" + Q(1) + b"aK\x00K\x42s."),
        ("SETITEM_to_tuple", b")K\x00K\x05s."), ("SETITEM_to_int", b"K\x01K\x00K\x05s."),
        ("SETITEM_to_str", b"\x8c\x01aK\x00K\x05s."), ("SETITEM_across_mark", b"}K\x01(K\x02s."),
        ("SETITEMS", b"}(K\x01K\x02K\x03K\x04u."), ("SETITEMS_empty", b"}(u."),
        ("SETITEMS_odd", b"}(K\x01u."), ("SETITEMS_empty_to_int", b"K\x01(u."),
        ("SETITEMS_to_list", b"]K\x01a(K\x00K\x09u."), ("SETITEMS_no_mark", b"}K\x01K\x02u."),
        ("SETITEMS_mark_at_bottom", b"(}u."), ("SETITEMS_odd_to_int", b"K\x01(K\x01u."),
        ("dict_self", b"}q\x00(K\x01h\x00u."),
    ]:
        add(S(f"DICT_{name}", data))

    # ---- key / element equality: CPython merges equal keys, keeps the first
    # key object and the last value; distinct nan objects are distinct keys.
    for name, data in [
        ("1_and_True", P2 + b"}(K\x01K\x0a\x88K\x0bu."),
        ("1_and_1.0", b"}(K\x01K\x0a" + binfloat(1.0) + b"K\x0bu."),
        ("0_and_neg0", b"}(K\x00K\x0a" + binfloat(-0.0) + b"K\x0bu."),
        ("2_53_int_float", b"}(\x8a\x08" + (2**53).to_bytes(8, "little") + b"K\x0a" + binfloat(2.0**53) + b"K\x0bu."),
        ("2_53p1_int_float", b"}(\x8a\x08" + (2**53 + 1).to_bytes(8, "little") + b"K\x0a" + binfloat(2.0**53) + b"K\x0bu."),
        ("same_str", b"}(\x8c\x01aK\x01\x8c\x01aK\x02u."),
        ("str_vs_bytes", b"}(\x8c\x01aK\x01C\x01aK\x02u."),
        ("nan_distinct", b"}(" + NAN + b"K\x01" + NAN + b"K\x02u."),
        ("nan_shared_memo", b"}(" + NAN + b"q\x00K\x01h\x00K\x02u."),
        ("tuple_nan_shared", b"}(" + NAN + b"\x85q\x00K\x01h\x00K\x02u."),
        ("tuple_nan_equal_not_shared", b"}(" + NAN + b"\x85K\x01" + NAN + b"\x85K\x02u."),
        ("tuple_keys_equal", b"}(K\x01K\x02\x86K\x0aK\x01K\x02\x86K\x0bu."),
        ("frozenset_key", P4 + b"}((K\x01\x91K\x0a(K\x01\x91K\x0bu."),
        ("frozenset_key_other_order", P4 + b"}((K\x01K\x02\x91K\x0a(K\x02K\x01\x91K\x0bu."),
        ("frozenset_1_vs_True", P4 + b"}((K\x01\x91K\x0a(\x88\x91K\x0bu."),
        ("tuple_1_vs_True", P2 + b"}(K\x01\x85K\x0a\x88\x85K\x0bu."),
        ("tuple_of_frozenset", P4 + b"}((K\x01\x91\x85K\x0a(K\x01\x91\x85K\x0bu."),
        ("bytes_twice", P4 + b"}(C\x01aK\x0aC\x01aK\x0bu."),
        ("str_four_opcodes", b"}(Va\nK\x0aS'a'\nK\x0bX\x01\x00\x00\x00aK\x0c\x8c\x01aK\x0du."),
        ("bigint_long1_vs_text", b"}(\x8a\x09" + b"\0" * 8 + b"\x01K\x0aL18446744073709551616L\nK\x0bu."),
        ("bigint_vs_float", b"}(\x8a\x09" + b"\0" * 8 + b"\x01K\x0a" + binfloat(2.0**64) + b"K\x0bu."),
        ("set_of_equal_frozensets", P4 + b"\x8f((K\x01K\x02\x91(K\x02K\x01\x91\x90."),
        ("frozenset_of_1_True_1.0", P4 + b"(K\x01\x88" + binfloat(1.0) + b"\x91."),
        ("unhashable_tuple_key", b"}(]\x85K\x01u."),
        ("bytearray_key", P5 + b"}(\x96" + Q(0) + b"K\x01u."),
        ("set_key", P4 + b"}(\x8fK\x01u."),
        ("complex_like_global_key", b"}(cbuiltins\ncomplex\n)RK\x01u."),
        ("set_0_False_0.0_neg0", P4 + b"\x8f(K\x00\x89" + binfloat(0.0) + binfloat(-0.0) + b"\x90."),
        ("set_nan_twice", P4 + b"\x8f(" + NAN + NAN + b"\x90."),
        ("set_order_5_1", P4 + b"\x8f(K\x05K\x01K\x09\x90."),
        ("frozenset_dups", P4 + b"(K\x01K\x01\x88\x91."),
    ]:
        add(S(f"KEYS_{name}", data))

    # ---- sets
    for name, data in [
        ("EMPTY_SET", P4 + b"\x8f."), ("ADDITEMS", P4 + b"\x8f(K\x01K\x02\x90."),
        ("ADDITEMS_empty", P4 + b"\x8f(\x90."), ("ADDITEMS_empty_to_int", P4 + b"K\x01(\x90."),
        ("ADDITEMS_to_list", P4 + b"](K\x01\x90."), ("ADDITEMS_to_dict", P4 + b"}(K\x01\x90."),
        ("ADDITEMS_to_frozenset", P4 + b"(\x91(K\x01\x90."), ("ADDITEMS_unhashable", P4 + b"\x8f(]\x90."),
        ("ADDITEMS_no_mark", P4 + b"\x8fK\x01\x90."), ("ADDITEMS_mark_at_bottom", P4 + b"(\x8f\x90."),
        ("FROZENSET", P4 + b"(K\x01K\x02\x91."), ("FROZENSET_empty", P4 + b"(\x91."),
        ("FROZENSET_unhashable", P4 + b"(]\x91."), ("FROZENSET_no_mark", P4 + b"K\x01\x91."),
        ("FROZENSET_shared", P4 + b"((K\x01\x91\x94h\x00l."),
        ("set_shared_in_list", P4 + b"(\x8fq\x00h\x00l."),
    ]:
        add(S(f"SET_{name}", data))

    # ---- globals and object construction (symbolic: verdict only).
    for name, data in [
        ("GLOBAL", b"cmod\nname\n."), ("GLOBAL_empty_module", b"c\nname\n."),
        ("GLOBAL_empty_name", b"cmod\n\n."), ("GLOBAL_invalid_utf8", b"c\xff\nx\n."),
        ("GLOBAL_utf8", b"c\xc3\xa9\nx\n."), ("GLOBAL_one_line", b"cmod\n"),
        ("GLOBAL_dotted_name", b"cmod\na.b\n."), ("GLOBAL_space", b"cmod x\nn y\n."),
        ("GLOBAL_builtin_fix_imports", P2 + b"c__builtin__\nset\n."),
        ("STACK_GLOBAL", P4 + b"\x8c\x03mod\x8c\x04name\x93."),
        ("STACK_GLOBAL_bytes", P4 + b"C\x03modC\x04name\x93."),
        ("STACK_GLOBAL_int", P4 + b"K\x01\x8c\x04name\x93."),
        ("STACK_GLOBAL_underflow", P4 + b"\x8c\x04name\x93."),
        ("STACK_GLOBAL_across_mark", P4 + b"\x8c\x03mod(\x8c\x04name\x93."),
        ("INST", b"(imod\nname\n."), ("INST_args", b"(K\x01K\x02imod\nname\n."),
        ("INST_non_ascii", b"(i\xc3\xa9\nname\n."), ("INST_no_mark", b"imod\nname\n."),
        ("OBJ", b"(cmod\nname\no."), ("OBJ_args", b"(cmod\nname\nK\x01o."),
        ("OBJ_empty", b"(o."), ("OBJ_int_class", b"(K\x01o."), ("OBJ_no_mark", b"cmod\nname\no."),
        ("NEWOBJ", P2 + b"cmod\nname\n)\x81."), ("NEWOBJ_args_list", P2 + b"cmod\nname\n]\x81."),
        ("NEWOBJ_int_class", P2 + b"K\x01)\x81."),
        ("NEWOBJ_underflow", P2 + b")\x81."),
        ("NEWOBJ_EX", P4 + b"cmod\nname\n)}\x92."), ("NEWOBJ_EX_kwargs", P4 + b"cmod\nname\n)}\x8c\x01kK\x01s\x92."),
        ("NEWOBJ_EX_kwargs_list", P4 + b"cmod\nname\n)]\x92."),
        ("NEWOBJ_EX_args_list", P4 + b"cmod\nname\n]}\x92."),
        ("NEWOBJ_EX_int_class", P4 + b"K\x01)}\x92."),
        ("REDUCE", b"cmod\nname\n)R."), ("REDUCE_args_list", b"cmod\nname\n]R."),
        ("REDUCE_args_none", b"cmod\nname\nNR."), ("REDUCE_int_callable", b"K\x01)R."),
        ("REDUCE_instance_callable", b"cmod\nname\n)R)R."), ("REDUCE_underflow", b")R."),
        ("REDUCE_list_callable", b"])R."),
        ("BUILD_global_instance", b"cmod\nname\n)R}b."), ("BUILD_global_class", b"cmod\nname\nNb."),
        ("BUILD_list_none", b"]Nb."), ("BUILD_list_dict", b"]}b."),
        ("BUILD_list_slotstate_empty", b"]N}\x86b."), ("BUILD_list_slotstate_item", b"]N}\x8c\x01aK\x01s\x86b."),
        ("BUILD_dict_none", b"}Nb."), ("BUILD_int_none", b"K\x01Nb."), ("BUILD_underflow", b"Nb."),
        ("BUILD_int_state", b"cmod\nname\n)RK\x05b."),
        ("APPENDS_to_global_instance", b"cmod\nname\n)R(K\x01K\x02e."),
        ("SETITEMS_to_global_instance", b"cmod\nname\n)R(K\x01K\x02u."),
        ("ADDITEMS_to_global_instance", P4 + b"cmod\nname\n)R(K\x01\x90."),
        ("SETITEM_to_global_class", b"cmod\nname\nK\x01K\x02s."),
        ("global_unhashable_in_dict", b"}(cmod\nname\n)R]u."),
        ("builtins_complex_proto0", b"c__builtin__\ncomplex\n(F1.0\nF2.0\ntR."),
        ("builtins_set_reduce_proto2", P2 + b"c__builtin__\nset\n]K\x01a\x85R."),
        ("codecs_encode_proto2", P2 + b"c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x06\x00\x00\x00latin1\x86R."),
    ]:
        add(S(f"OBJ_{name}", data))

    # ---- symbolic objects where CPython's answer depends on what the global
    # really is (a class? a buffer?): the stub says no, the contract's
    # symbolic model says yes.
    for name, data in [
        ("NEWOBJ_instance_class", P2 + b"cmod\nname\n)R)\x81."),
        ("NEWOBJ_EX_instance_class", P4 + b"cmod\nname\n)R)}\x92."),
        ("READONLY_BUFFER_global", P5 + b"cmod\nname\n)R\x98."),
    ]:
        add(S(f"OBJ_{name}", data, policy="accept",
              note="environment-dependent in CPython; symbolic nodes are accepted"))

    # ---- the stdlib's constructor forms that pickleguard folds into data
    # ($set, $bytes, ...), called with arguments the pickler never writes.
    # The stub unpickler runs these constructors for real on the argument
    # shapes pickleguard folds (stub_unpickler._data_constructor), so CPython's
    # verdict is the real one there, and "accept" (a stub) everywhere else.
    B = b"c__builtin__\n"
    for name, data in [
        ("set_of_int", P2 + B + b"set\nK\x01\x85R."),
        ("set_no_args", P2 + B + b"set\n)R."),
        ("set_two_args", P2 + B + b"set\n]]\x86R."),
        ("set_unhashable_elem", P2 + B + b"set\n]]a\x85R."),
        ("set_args_list", P2 + B + b"set\n]R."),
        ("set_args_bytes", P2 + B + b"set\nC\x01aR."),
        ("frozenset_of_tuple", P2 + B + b"frozenset\nK\x01\x85\x85R."),
        ("bytearray_of_int", P2 + B + b"bytearray\nK\x03\x85R."),
        ("bytearray_args_bytes", P2 + B + b"bytearray\nC\x01aR."),
        ("bytearray_str_latin1", P2 + B + b"bytearray\nX\x01\x00\x00\x00aX\x07\x00\x00\x00latin-1\x86R."),
        ("bytearray_str_only", P2 + B + b"bytearray\nX\x01\x00\x00\x00a\x85R."),
        ("bytes_of_int", P2 + B + b"bytes\nK\x03\x85R."),
        ("bytes_of_list", P2 + B + b"bytes\n]K\x41a\x85R."),
        ("codecs_encode_one_arg", P2 + b"c_codecs\nencode\nX\x01\x00\x00\x00a\x85R."),
        ("codecs_encode_utf8", P2 + b"c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x05\x00\x00\x00utf-8\x86R."),
        ("codecs_encode_non_latin1", P2 + b"c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R."),
        ("codecs_encode_bytes_arg", P2 + b"c_codecs\nencode\nC\x01aX\x06\x00\x00\x00latin1\x86R."),
        ("codecs_encode_args_list", P2 + b"c_codecs\nencode\n]R."),
        ("complex_ints", P2 + B + b"complex\nK\x01K\x02\x86R."),
        ("complex_str", P2 + B + b"complex\nX\x04\x00\x00\x001+2j\x85R."),
        ("complex_three_args", P2 + B + b"complex\nK\x01K\x02K\x03\x87R."),
        ("complex_newobj", P2 + B + b"complex\nG?\xf0\x00\x00\x00\x00\x00\x00G@\x00\x00\x00\x00\x00\x00\x00\x86\x81."),
        ("bytearray_of_codecs_encode", P2 + B + b"bytearray\nc_codecs\nencode\nX\x01\x00\x00\x00aX\x06\x00\x00\x00latin1\x86R\x85R."),
        ("bytearray_of_codecs_encode_proto0", B + b"bytearray\n(c_codecs\nencode\n(Va\nVlatin1\ntRtR."),
        ("bytearray_of_folded_encode_not_tuple", P2 + B + b"bytearray\nc_codecs\nencode\nX\x01\x00\x00\x00aX\x06\x00\x00\x00latin1\x86RR."),
        ("set_of_folded_list_not_tuple", P2 + B + b"set\n" + B + b"set\n]\x85RR."),
        ("set_of_list_appended_later", P2 + B + b"set\n]q\x00\x85Rh\x00K\x02a\x86."),
        ("frozenset_of_list_appended_later", P2 + B + b"frozenset\n]q\x00\x85Rh\x00K\x02a\x86."),
        ("set_reduce_then_BUILD", P2 + B + b"set\n]\x85R}b."),
        ("set_reduce_then_APPENDS", P2 + B + b"set\n]\x85R(K\x01e."),
        ("set_reduce_then_ADDITEMS", P2 + B + b"set\n]\x85R(K\x01\x90."),
        ("set_reduce_list_shared_then_append", P2 + B + b"set\n]q\x00\x85RK\x01h\x00K\x02a\x86."),
    ]:
        add(S(f"FOLD_{name}", data))

    # ---- persistent ids (stubbed persistent_load).
    for name, data in [("PERSID", b"Pabc\n."), ("PERSID_empty", b"P\n."),
                       ("PERSID_non_ascii", b"P\xc3\xa9\n."), ("PERSID_no_newline", b"Pabc"),
                       ("BINPERSID", b"NQ."), ("BINPERSID_list", b"]Q."), ("BINPERSID_underflow", b"Q.")]:
        add(S(f"PERS_{name}", data))

    # ---- extensions: code <= 0 is always rejected; otherwise the verdict
    # comes from the same stream with the EXT replaced by a GLOBAL.
    G = b"cext\ncode\n"
    for name, head, ext, tail in [
        ("EXT1_1", b"", b"\x82\x01", b"."), ("EXT1_0", b"", b"\x82\x00", b"."),
        ("EXT2_0", b"", b"\x83\x00\x00", b"."), ("EXT2_ffff", b"", b"\x83\xff\xff", b"."),
        ("EXT4_0", b"", b"\x84" + I4(0), b"."), ("EXT4_neg1", b"", b"\x84" + I4(-1), b"."),
        ("EXT4_max", b"", b"\x84" + I4(2**31 - 1), b"."), ("EXT1_truncated", b"", b"\x82", b""),
        ("EXT1_in_tuple", b"(", b"\x82\x05", b"t."), ("EXT1_reduce", b"", b"\x82\x05", b")R."),
        ("EXT1_underflow_after", b"", b"\x82\x05", b"\x86."),
        ("EXT2_as_dict_key", P2 + b"}(", b"\x83\x01\x01", b"K\x01u."),
        ("EXT1_BUILD", b"", b"\x82\x07", b"}b."),
    ]:
        data = head + ext + tail
        positive = len(ext) > 1 and int.from_bytes(ext[1:], "little", signed=ext[0] == 0x84) > 0
        if positive:
            add(S(f"EXT_{name}", data, oracle=head + G + tail,
                  note="verdict from the stream with EXT replaced by GLOBAL"))
        else:
            add(S(f"EXT_{name}", data))

    # ---- nesting and sharing shapes.
    add(S("NEST_list_300", b"(" * 300 + b"l" * 300 + b"."))
    add(S("NEST_tuple_300", b"(" * 300 + b"t" * 300 + b"."))
    add(S("NEST_dict_200", b"}" + b"(K\x01}" * 200 + b"u" * 200 + b"."))
    add(S("NEST_list_100000", b"(" * 100000 + b"l" * 100000 + b".", verdict_only=True,
          allow_limit=True, note="deep nesting: a depth limit may reject it"))
    add(S("SHARE_list_twice", b"](]q\x00h\x00e."))
    add(S("SHARE_tuple_containing_shared_list", b"]q\x00\x85q\x01(h\x01h\x01h\x00l."))
    add(S("SHARE_cycle_through_tuple", b"]q\x00h\x00\x85a."))
    add(S("SHARE_bytes_memo", P2 + b"C\x01aq\x00h\x00\x86."))
    add(S("SHARE_bytearray_memo", P5 + b"\x96" + Q(1) + b"aq\x00h\x00\x86."))
    add(S("SHARE_str_memo", b"\x8c\x01aq\x00h\x00\x86."))
    add(S("SHARE_empty_tuple_memo", b")q\x00h\x00\x86."))
    return out


def build() -> list[Case]:
    """Turn the specs into Cases with CPython's verdict (and value)."""
    cases = []
    seen = set()
    for spec in _specs():
        name = safe_name("edge_" + spec.name)
        assert name not in seen, name
        seen.add(name)
        cases.append(_judge(spec, name))
    return cases


def _judge(spec: _Spec, name: str) -> Case:
    case = Case(name, spec.data, "edge", None, False, allow_limit=spec.allow_limit, note=spec.note)
    if spec.policy is not None:
        case.expect_ok = spec.policy == "accept"
        case.note = case.note or "policy case"
        return case
    judged = spec.oracle if spec.oracle is not None else spec.data
    sc = opscan.scan(judged)
    if sc.max_put_index is not None and sc.max_put_index > MAX_SAFE_MEMO_INDEX:
        raise AssertionError(f"{name}: huge memo index needs a policy")
    if sc.end in ("overlong", "negative"):
        # A length beyond the input (or negative) is rejected whatever happens
        # before it; not running CPython avoids its allocate-then-read path.
        case.expect_ok = False
        case.cpython_reason = f"(not run: declared length {sc.end})"
        return case
    result = stub_load(judged)
    case.expect_ok = result.ok
    case.cpython_reason = result.reason
    if not result.ok or spec.verdict_only or spec.oracle is not None:
        return case
    fold = False
    if sc.names & opscan.SYMBOLIC_OPS:
        # Globals are compared only when every one of them is a stdlib
        # constructor call that folds to data (set, bytes, ...).  INST/OBJ
        # are left out: the stdlib never builds those types with them.
        if sc.names & (opscan.SYMBOLIC_OPS - {"GLOBAL", "STACK_GLOBAL"}) or sc.names & {"OBJ"}:
            case.note = case.note or "symbolic value: verdict only"
            return case
        fold = True
    if fold and _stub_in_keys(result.value):
        # CPython built that dict/set with stub keys (identity equality);
        # folding them afterwards cannot redo the key merging.
        case.note = case.note or "folded value in a key position: verdict only"
        return case
    try:
        doc, symbolic = pgjson.render(result.value, fold=fold, builtin_alias=fix_imports_applies(sc))
    except pgjson.Unconvertible as exc:
        case.note = f"verdict only: {exc}"
        return case
    if symbolic:
        case.note = case.note or "symbolic value: verdict only"
        return case
    case.expect_value = pgjson.canonical(pgjson.loads(pgjson.dumps(doc)))
    if fold:
        case.note = case.note or "value of folded stdlib constructor calls"
    return case


def _stub_in_keys(value) -> bool:
    """True if a stub sits in a dict key or set element (inside tuples too)."""
    seen = set()
    stack = [(value, False)]
    while stack:
        obj, in_key = stack.pop()
        if isinstance(obj, StubObject) or isinstance(obj, StubMeta):
            if in_key:
                return True
            continue
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            for k, v in obj.items():
                stack += [(k, True), (v, in_key)]
        elif isinstance(obj, (set, frozenset)):
            stack += [(x, True) for x in obj]
        elif isinstance(obj, (list, tuple)):
            stack += [(x, in_key) for x in obj]
    return False


def fix_imports_applies(sc: opscan.Scan) -> bool:
    """True if ``__builtin__`` surely means ``builtins`` in this stream:
    CPython maps it only while the protocol (last PROTO seen) is below 3,
    so any PROTO >= 3 makes the answer position-dependent; be conservative."""
    return not any(op.name == "PROTO" and op.arg and op.arg[0] >= 3 for op in sc.ops)


def main() -> None:
    verbose = "-v" in sys.argv
    cases = build()
    covered = set()
    for c in cases:
        covered |= opscan.scan(c.data).names
    missing = opscan.ALL_OPCODE_NAMES - covered
    n_acc = sum(c.expect_ok for c in cases)
    n_val = sum(c.expect_value is not None for c in cases)
    print(f"{len(cases)} edge cases: {n_acc} accepted by CPython, {n_val} with a compared value")
    print("opcodes never reached:", " ".join(sorted(missing)) or "none")
    if verbose:
        for c in cases:
            verdict = "accept" if c.expect_ok else "reject"
            extra = (c.expect_value or "")[:70] if c.expect_ok else c.cpython_reason[:70]
            print(f"  {c.name:50} {verdict}  {extra}")
    if missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
