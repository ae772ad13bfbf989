#!/usr/bin/python3
"""Writes the inputs of tests/unit/readings_test.cpp: files that loaders read
in more than one way (issue 12, classes 3-7).

Every pickle is written byte by byte, every tar header and zip record by
struct.pack; nothing is pickled from a live object and nothing is unpickled.
tests/containers/readings_loaders_test.py imports this module and proves,
with the loaders' own reading code and recording stand-ins, that each
malicious input reaches its payload.

    /usr/bin/python3 tests/containers/make_readings.py OUTDIR
"""
import pathlib
import struct
import sys
import zlib

# os.system('id'), the protocol 0 tail a pickle prefix is continued with.
PAYLOAD0 = b"cos\nsystem\n(S'id'\ntR."
EVIL = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."
PLAIN = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."  # {'a': 1}


# ---- tar --------------------------------------------------------------------

def tar_header(name: bytes, size: int, typeflag: bytes = b"0") -> bytearray:
    """A ustar header block, its checksum computed as tarfile and libarchive check it."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"%011o\0" % 0
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[257:265] = b"ustar\x0000"
    chk = sum(h)
    h[148:156] = b"%06o\0 " % chk
    return h


def tar_pickle_polyglot(tarfile_accepts: bool = True) -> bytes:
    """A tar whose first header's name field starts a pickle.

    PROTO 2, then BINBYTES whose argument is the rest of the tar (ustar magic
    at 257, one benign text member, the end-of-archive blocks), then POP and
    os.system('id'). Archive readers see a tar holding 'notes.txt';
    pickle.load runs os.system. With `tarfile_accepts=False` a pax extended
    header with a malformed record comes first: CPython's tarfile raises
    ReadError on it (so torch.load falls back to its pickle path), while
    libarchive ignores the malformed attribute with a warning and reads on.
    """
    content = b"just some notes\n"
    head_len = 2 + 1 + 4  # PROTO 2, BINBYTES and its length
    blocks = []
    if not tarfile_accepts:
        pax = b"not a pax record\n"
        blocks += [tar_header(b"PaxHeader", len(pax), b"x"), pax.ljust(512, b"\0")]
    blocks += [tar_header(b"notes.txt", len(content)), content.ljust(512, b"\0"), b"\0" * 1024]
    total = sum(len(b) for b in blocks)
    # The first name field starts with the pickle's opcodes.
    prefix = b"\x80\x02B" + struct.pack("<I", total - head_len)
    first = blocks[0]
    blocks[0] = tar_header(prefix + bytes(first[:100]).rstrip(b"\0"), int(bytes(first[124:135]), 8),
                           bytes(first[156:157]))
    tar = b"".join(bytes(b) for b in blocks)
    assert len(tar) == total and tar.startswith(prefix)
    return tar + b"0" + PAYLOAD0


def benign_tar() -> bytes:
    content = b"just some notes\n"
    return bytes(tar_header(b"notes.txt", len(content))) + content.ljust(512, b"\0") + b"\0" * 1024


# ---- zip --------------------------------------------------------------------

def zip_archive(entries) -> bytes:
    """entries: (name, data, method, flags[, stored_bytes]); written by struct.pack."""
    out, central = bytearray(), bytearray()
    for entry in entries:
        name, data, method, flags = entry[:4]
        name = name.encode() if isinstance(name, str) else name
        if len(entry) > 4:
            stored = entry[4]
        elif method == 8:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            stored = c.compress(data) + c.flush()
        else:
            stored = data
        crc = zlib.crc32(data)
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21, crc, len(stored), len(data),
                           len(name), 0) + name + stored
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0x21, crc, len(stored),
                               len(data), len(name), 0, 0, 0, 0, 0o100644 << 16, offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + end)


def data_pkl(numel: int) -> bytes:
    # persistent_load(('storage', torch.FloatStorage, '0', 'cpu', numel))
    return (b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ" +
            struct.pack("<i", numel) + b"tQ.")


def big_protocol0_payload() -> bytes:
    """More than 1 MiB, no PROTO: a long STRING, POP, then os.system('id')."""
    return b"S'" + b"a" * (1 << 21) + b"'\n0" + PAYLOAD0


def torch_upper_case_data_pkl() -> bytes:
    """torch finds 'data.pkl' by miniz's case-insensitive lookup: archive/DATA.PKL is it.

    (The folder keeps the first name's case: getAllRecords, which torch.load calls
    through _is_torchscript_zip, compares the prefix case-sensitively and raises.)
    """
    return zip_archive([("archive/version", b"3\n", 0, 0),
                        ("archive/DATA.PKL", big_protocol0_payload(), 0, 0),
                        ("archive/data/0", b"\0" * 24, 0, 0)])


def benign_torch_upper_case() -> bytes:
    return zip_archive([("archive/version", b"3\n", 0, 0),
                        ("archive/DATA.PKL", data_pkl(6), 0, 0),
                        ("archive/DATA/0", b"\0" * 24, 0, 0)])


def zip_big_entry_without_proto() -> bytes:
    return zip_archive([("notes.txt", b"hello\n", 0, 0), ("model.bin", big_protocol0_payload(), 0, 0)])


def zip_text_only() -> bytes:
    return zip_archive([("README.txt", b"nothing to see\n", 0, 0), ("notes.txt", b"hello\n", 8, 0)])


def zip_unknown_method() -> bytes:
    """LZMA (method 14), which CPython's zipfile reads and pickleguard does not
    decode: the member must be named as not read. zipfile only wraps the
    byte-built pickle."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_LZMA) as z:
        z.writestr(zipfile.ZipInfo("model.pkl", date_time=(1980, 1, 1, 0, 0, 0)), EVIL, zipfile.ZIP_LZMA)
    return buf.getvalue()


def zip_bzip2_member() -> bytes:
    """bzip2 (method 12): zipfile reads it, so pickleguard decompresses it."""
    import bz2
    return zip_archive([("model.pkl", EVIL, 12, 0, bz2.compress(EVIL))])


def zip_encrypted_flag_in_clear() -> bytes:
    # Flag bit 0 set, the bytes stored in clear: a reader that ignores the
    # flag reads the pickle as it is.
    return zip_archive([("model.pkl", EVIL, 0, 1)])


# ---- TorchScript ------------------------------------------------------------

TS_SOURCE = (b"class Linear(Module):\n  __parameters__ = [\"weight\", ]\n  weight : Tensor\n"
             b"  def forward(self: __torch__.Linear, x: Tensor) -> Tensor:\n    return x\n")


def torchscript_with_source() -> bytes:
    return zip_archive([("archive/data.pkl", PLAIN, 0, 0),
                        ("archive/code/__torch__/Linear.py", TS_SOURCE, 8, 0),
                        ("archive/constants.pkl", b"\x80\x02).", 0, 0),
                        ("archive/version", b"3\n", 0, 0)])


def torchscript_pickle_named_py() -> bytes:
    """A pickle under code/ with a .py name is not source: still judged."""
    return zip_archive([("archive/data.pkl", PLAIN, 0, 0),
                        ("archive/code/__torch__/evil.py", EVIL, 0, 0),
                        ("archive/constants.pkl", b"\x80\x02).", 0, 0),
                        ("archive/version", b"3\n", 0, 0)])


INPUTS = {
    "polyglot_tar_pickle.tar": tar_pickle_polyglot(True),
    "polyglot_tar_pickle_tarfile_refuses.tar": tar_pickle_polyglot(False),
    "benign_notes.tar": benign_tar(),
    "torch_upper_case_data_pkl.pt": torch_upper_case_data_pkl(),
    "benign_torch_upper_case.pt": benign_torch_upper_case(),
    "zip_big_entry_without_proto.zip": zip_big_entry_without_proto(),
    "zip_text_only.zip": zip_text_only(),
    "zip_unknown_method.zip": zip_unknown_method(),
    "zip_bzip2_member.zip": zip_bzip2_member(),
    "zip_encrypted_flag_in_clear.zip": zip_encrypted_flag_in_clear(),
    "torchscript_with_source.pt": torchscript_with_source(),
    "torchscript_pickle_named_py.pt": torchscript_pickle_named_py(),
}


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, data in INPUTS.items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
