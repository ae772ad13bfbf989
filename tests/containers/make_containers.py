#!/usr/bin/python3
"""Writes the container test inputs for tests/unit/container_test.cpp.

Every pickle here is written byte by byte (a bytes literal or struct.pack);
nothing is pickled from a live object and nothing is ever unpickled. The
standard library's zipfile, tarfile, gzip, bz2 and lzma only wrap those bytes,
and some archives are then patched by hand to make readers disagree.

    /usr/bin/python3 tests/containers/make_containers.py OUTDIR
"""
import bz2
import gzip
import io
import lzma
import pathlib
import struct
import sys
import tarfile
import zipfile
import zlib

# os.system('id'), protocol 2, with STACK-free GLOBAL + REDUCE.
EVIL = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."
# The same as protocol 0 text, which has no PROTO to recognise it by.
EVIL0 = b"cos\nsystem\n(S'id'\ntR."
PLAIN = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."  # {'a': 1}


def storage_pid(key: bytes, numel: int, cls: bytes = b"FloatStorage") -> bytes:
    """('storage', torch.<cls>, key, 'cpu', numel) through BINPERSID."""
    return (b"(X\x07\x00\x00\x00storagectorch\n" + cls + b"\n" +
            b"X" + struct.pack("<I", len(key)) + key + b"X\x03\x00\x00\x00cpu" +
            b"J" + struct.pack("<i", numel) + b"tQ")


def data_pkl(numel: int) -> bytes:
    return b"\x80\x02" + storage_pid(b"0", numel) + b"."


def torch_zip(entries, root="archive") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(f"{root}/{name}" if root else name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)
    return buf.getvalue()


def benign_torch(numel=6, record=24):
    return [("data.pkl", data_pkl(numel)), ("data/0", b"\x00" * record), ("version", b"3\n")]


def patch_central(zbytes: bytes, name: bytes, offset: int, fmt: str, value) -> bytes:
    """Overwrites a field of the central directory entry for `name`."""
    b = bytearray(zbytes)
    at = b.find(b"PK\x01\x02")
    while at >= 0:
        nlen = struct.unpack_from("<H", b, at + 28)[0]
        if bytes(b[at + 46:at + 46 + nlen]) == name:
            struct.pack_into(fmt, b, at + offset, value)
            return bytes(b)
        at = b.find(b"PK\x01\x02", at + 4)
    raise KeyError(name)


def patch_local(zbytes: bytes, name: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(zbytes)
    at = b.find(b"PK\x03\x04" + b"")
    while at >= 0:
        nlen = struct.unpack_from("<H", b, at + 26)[0]
        if bytes(b[at + 30:at + 30 + nlen]) == name:
            struct.pack_into(fmt, b, at + offset, value)
            return bytes(b)
        at = b.find(b"PK\x03\x04", at + 4)
    raise KeyError(name)


def npy(descr: str, shape: str, data: bytes, version=1) -> bytes:
    header = "{'descr': %s, 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    header = header.encode("latin1")
    lenfield = 2 if version == 1 else 4
    pad = 64 - (10 + (lenfield - 2) + len(header) + 1) % 64
    header += b" " * pad + b"\n"
    prefix = b"\x93NUMPY" + bytes([version, 0]) + (struct.pack("<H", len(header)) if version == 1
                                                   else struct.pack("<I", len(header)))
    return prefix + header + data


def joblib_stream(arrays, opcode_padding=False) -> bytes:
    """A joblib.dump-like stream: a list of NumpyArrayWrapper, each followed by
    its raw bytes as joblib >= 1.2 writes them. `arrays` holds (dtype string,
    elsize, flags, shape tuple, payload bytes). With `opcode_padding` the
    padding length and padding are chosen to be harmless opcodes ('N' = 78
    bytes of "N0"), so plain pickle.load reads on into the array bytes."""
    out = bytearray(b"\x80\x04]q\x00(")
    for type_str, elsize, flags, shape, payload in arrays:
        out += b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
        out += b"X\x08\x00\x00\x00subclasscnumpy\nndarray\n"
        out += b"X\x05\x00\x00\x00shape(" + b"".join(b"J" + struct.pack("<i", d) for d in shape) + b"t"
        out += b"X\x05\x00\x00\x00orderX\x01\x00\x00\x00C"
        t = type_str.encode()
        out += (b"X\x05\x00\x00\x00dtypecnumpy\ndtype\n(X" + struct.pack("<I", len(t)) + t + b"\x89\x88tR" +
                b"(K\x03X\x01\x00\x00\x00<NNNJ" + struct.pack("<i", elsize) + b"J\xff\xff\xff\xffJ" +
                struct.pack("<i", flags) + b"tb")
        out += b"X\x0a\x00\x00\x00allow_mmap\x89"
        out += b"X\x1b\x00\x00\x00numpy_array_alignment_bytesK\x10"
        out += b"ub"
        if type_str.startswith("O"):
            out += payload  # a whole nested pickle
        else:
            if opcode_padding:
                out += b"N" + b"N0" * 39 + payload
                continue
            after = len(out) + 1
            pad = 16 - after % 16
            out += bytes([pad]) + b"\xff" * pad + payload
    out += b"e."
    return bytes(out)


def legacy_torch(obj_pickle: bytes, keys_pickle: bytes, storage: bytes, tail: bytes = b"") -> bytes:
    magic = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
    proto = b"\x80\x02M\xe9\x03."
    sys_info = b"\x80\x02}q\x00."
    return magic + proto + sys_info + obj_pickle + keys_pickle + storage + tail


def legacy_pid(key: bytes, numel: int) -> bytes:
    return (b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX" + struct.pack("<I", len(key)) + key +
            b"X\x03\x00\x00\x00cpuJ" + struct.pack("<i", numel) + b"NtQ")


def main() -> int:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    files = {}

    files["benign.pt"] = torch_zip(benign_torch())
    files["payload_in_data_pkl.pt"] = torch_zip([("data.pkl", EVIL), ("version", b"3\n")])
    files["payload_in_extra_entry.pt"] = torch_zip(benign_torch() + [("extra/notes.bin", EVIL)])
    files["protocol0_payload_in_extra_entry.pt"] = torch_zip(benign_torch() + [("data/extra", EVIL0)])
    files["storage_size_mismatch.pt"] = torch_zip(benign_torch(numel=6, record=20))
    files["storage_record_missing.pt"] = torch_zip([("data.pkl", data_pkl(6)), ("version", b"3\n")])
    files["torchscript.pt"] = torch_zip([("data.pkl", PLAIN), ("constants.pkl", b"\x80\x02).") ,
                                         ("code/__torch__.py", b"def forward(self):\n  pass\n"), ("version", b"3\n")])

    crc = torch_zip(benign_torch())
    good_crc = zlib.crc32(data_pkl(6))
    crc = patch_central(crc, b"archive/data.pkl", 16, "<I", good_crc ^ 1)
    files["crc_mismatch.pt"] = patch_local(crc, b"archive/data.pkl", 14, "<I", good_crc ^ 1)

    inner = torch_zip([("evil.pkl", EVIL)], root="")
    files["zip_inside_zip.zip"] = torch_zip([("inner.zip", inner), ("readme.txt", b"hello\n")], root="")

    # The local header says data.pkl holds the payload's name: CPython refuses,
    # miniz reads by the central name.
    mismatch = bytearray(torch_zip([("data.pkl", PLAIN), ("version", b"3\n")]))
    at = mismatch.find(b"archive/data.pkl")  # the first occurrence is the local header
    mismatch[at:at + len(b"archive/data.pkl")] = b"archive/data.pkX"
    files["local_central_name_mismatch.pt"] = bytes(mismatch)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", PLAIN)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            z.writestr("archive/data.pkl", EVIL)
        z.writestr("archive/version", b"3\n")
    files["duplicate_names.pt"] = buf.getvalue()

    # A benign pickle in front, a zip whose data.pkl is the payload behind it.
    files["polyglot_pickle_zip.pkl"] = PLAIN + torch_zip([("data.pkl", EVIL), ("version", b"3\n")])

    unknown = torch_zip([("data.pkl", PLAIN), ("version", b"3\n")])
    unknown = patch_central(unknown, b"archive/data.pkl", 10, "<H", 99)
    files["unknown_compression_method.pt"] = patch_local(unknown, b"archive/data.pkl", 8, "<H", 99)

    lie = torch_zip(benign_torch())
    files["entry_sizes_lie.pt"] = patch_central(lie, b"archive/data.pkl", 20, "<I", 10_000_000)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("arr_0.npy", npy("'<f8'", "(3,)", struct.pack("<3d", 1, 2, 3)))
        z.writestr("arr_1.npy", npy("'|O'", "(1,)", EVIL))
    files["npz_object_payload.npz"] = buf.getvalue()

    files["npy_object_payload.npy"] = npy("'|O'", "(2,)", EVIL)
    # 24 bytes of float data that happen to read as a protocol-0 pickle.
    looks = EVIL0.ljust(24, b".")
    files["npy_pickle_looking_data.npy"] = npy("'<f8'", "(3,)", looks[:24])
    files["npy_structured.npy"] = npy("[('a', '<i4'), ('b', [('c', '<f8', (2,)), ('d', '|S3')])]", "(2,)",
                                      b"\x00" * (2 * (4 + 16 + 3)), version=2)
    files["npy_trailing_pickle.npy"] = npy("'<f8'", "(1,)", b"\x00" * 8 + EVIL)
    files["npy_short_data.npy"] = npy("'<f8'", "(4,)", b"\x00" * 8)

    files["joblib_pickle_looking_array.joblib"] = joblib_stream([("f8", -1, 0, (3,), looks[:24])])
    # joblib.load skips the padding and the array; pickle.load (pandas.read_pickle...)
    # reads both as opcodes and reaches os.system in the "float" bytes.
    files["joblib_array_runs_under_pickle_load.joblib"] = joblib_stream([("f8", -1, 0, (3,), looks[:24])],
                                                                        opcode_padding=True)
    files["joblib_object_array_payload.joblib"] = joblib_stream([("O8", -1, 63, (1,), EVIL)])
    # The wrapper says no elements, so joblib reads the "array" as opcodes.
    files["joblib_shape_lies.joblib"] = joblib_stream([("f8", -1, 0, (0,), b"")])[:-2] + EVIL[2:-1] + b"0e."
    files["joblib_object_array_payload.joblib.z"] = zlib.compress(files["joblib_object_array_payload.joblib"])
    files["joblib_object_array_payload.joblib.lz4"] = b""
    try:
        import lz4.frame
        files["joblib_object_array_payload.joblib.lz4"] = lz4.frame.compress(files["joblib_object_array_payload.joblib"])
    except ImportError:
        del files["joblib_object_array_payload.joblib.lz4"]

    obj = b"\x80\x02}q\x00X\x06\x00\x00\x00weightq\x01" + legacy_pid(b"0", 2) + b"s."
    keys = b"\x80\x02]q\x00X\x01\x00\x00\x000q\x01a."
    storage = struct.pack("<q", 2) + b"\x00" * 8
    files["legacy_benign.pt"] = legacy_torch(obj, keys, storage)
    evil_obj = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R" + b"0" + obj[2:]
    files["legacy_payload_in_object.pt"] = legacy_torch(evil_obj, keys, storage)
    evil_keys = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R0" + keys[2:]
    files["legacy_payload_in_storage_keys.pt"] = legacy_torch(obj, evil_keys, storage)
    files["legacy_trailing_data.pt"] = legacy_torch(obj, keys, storage, EVIL)
    files["legacy_storage_count_lies.pt"] = legacy_torch(obj, keys, struct.pack("<q", 3) + b"\x00" * 12)

    files["pickle.gz"] = gzip.compress(EVIL, mtime=0)
    files["pickle.bz2"] = bz2.compress(EVIL)
    files["pickle.xz"] = lzma.compress(EVIL)
    files["pickle.lzma"] = lzma.compress(EVIL, format=lzma.FORMAT_ALONE)
    files["bomb.gz"] = gzip.compress(b"\x00" * (4 << 20), mtime=0)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in [("model/readme.txt", b"hi\n"), ("model/evil.pkl.gz", gzip.compress(EVIL, mtime=0))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    files["archive.tar"] = buf.getvalue()

    # A text member, then a payload that inflates to the same size: the first
    # inflated buffer is freed and the second is often given its address, so
    # readings remembered by (address, size) made the payload "not a pickle".
    def same_size_payload(n):
        head, tail = b"\x80\x02cos\nsystem\nX", b"\x85R."
        arg = b"echo pwned;".ljust(n - len(head) - 4 - len(tail), b"#")
        return head + struct.pack("<I", len(arg)) + arg + tail
    for n in (200, 4000):
        text = (b"just some text, not a pickle or a container. " * 100)[:n]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(zipfile.ZipInfo("a.txt", date_time=(1980, 1, 1, 0, 0, 0)), text, zipfile.ZIP_DEFLATED)
            z.writestr(zipfile.ZipInfo("b.pkl", date_time=(1980, 1, 1, 0, 0, 0)), same_size_payload(n),
                       zipfile.ZIP_DEFLATED)
        files[f"payload_after_same_size_text_{n}.zip"] = buf.getvalue()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for name, data in [("a.txt.gz", gzip.compress(text, mtime=0)),
                               ("b.pkl.gz", gzip.compress(same_size_payload(n), mtime=0))]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 0
                t.addfile(info, io.BytesIO(data))
        files[f"payload_after_same_size_text_{n}.tar"] = buf.getvalue()

    # torch < 0.4: a tar of sys_info, pickle, storages and tensors; the payload in 'pickle'.
    storages = (b"\x80\x02K\x01." + b"\x80\x02(X\x01\x00\x00\x000X\x03\x00\x00\x00cpuctorch\nFloatStorage\nt." +
                struct.pack("<q", 2) + b"\x00" * 8 + b"\x80\x02].")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in [("sys_info", b"\x80\x02}."), ("pickle", EVIL), ("storages", storages),
                           ("tensors", b"\x80\x02K\x00.")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    files["legacy_tar_payload.pt"] = buf.getvalue()

    files["unknown.bin"] = b"hello, this is not a pickle\x00\x01\x02"

    total = 0
    for name, data in files.items():
        (out / name).write_bytes(data)
        total += len(data)
    assert total < 1 << 20, total
    return 0


if __name__ == "__main__":
    sys.exit(main())
