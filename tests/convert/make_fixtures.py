#!/usr/bin/python3
"""Checkpoints for the `pickleguard convert` differential test.

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy):

    /usr/bin/python3 tests/convert/make_fixtures.py

Benign files are written by torch.save and numpy.save(z) themselves. The
files under lying/ are refusals: their data.pkl is written opcode by opcode
(never by pickling an object), describing views that reach past their
storage; big_endian.pt is a real checkpoint whose storages were byte-swapped
and whose byteorder record says "big", as torch.save writes on a big-endian
machine. Every file is small (the whole folder is well under 1 MB).
"""
import collections
import io
import os
import struct
import sys
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


def path(*parts):
    p = os.path.join(OUT, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def save(obj, name, legacy=False):
    torch.save(obj, path(name), _use_new_zipfile_serialization=not legacy)


def all_dtypes():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(3, 4, generator=g, dtype=torch.float64) * 100
    return collections.OrderedDict([
        ("f64", base.clone()),
        ("f32", base.float()),
        ("f16", base.half()),
        ("bf16", base.bfloat16()),
        ("i64", (base * 1e6).long()),
        ("i32", base.int()),
        ("i16", base.short()),
        ("i8", base.clamp(-128, 127).char()),
        ("u8", base.abs().clamp(0, 255).byte()),
        ("bool", base > 0),
        ("f32_special", torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 1e-45])),
    ])


def shapes():
    return {
        "scalar": torch.tensor(3.5),
        "scalar_i64": torch.tensor(7),
        "empty": torch.zeros(0),
        "empty_3d": torch.zeros(3, 0, 2),
        "one": torch.ones(1, 1, 1),
        "row": torch.arange(10, dtype=torch.int32),
    }


def views():
    g = torch.Generator().manual_seed(2)
    base = torch.arange(100, dtype=torch.float32)
    m = torch.randn(5, 7, generator=g)
    c = torch.randn(6, 8, generator=g)
    cube = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    big = torch.randn(70, 90, generator=g)  # larger than one copy tile each way
    return {
        "offset_view": base[10:30],
        "transposed": m.t(),
        "sliced_cols": c[:, 1:7:2],
        "sliced_rows": c.clone()[1:5],
        "permuted": cube.permute(2, 0, 1),
        "step_and_offset": torch.arange(50, dtype=torch.int16)[3::7],
        "transposed_big": big.t(),
        "transposed_big_half": big.half().t()[5:60, 10:80],
        "bool_t": (m > 0).t(),
    }


def shared():
    w = torch.randn(4, 4, generator=torch.Generator().manual_seed(3))
    s = torch.arange(8, dtype=torch.int64)
    whole = torch.arange(12, dtype=torch.float32)
    return {
        "embed.weight": w,
        "lm_head.weight": w,  # tied weights: one storage, two names
        "halves.a": s[:4],
        "halves.b": s[4:],  # same storage, no overlap: two tensors
        "whole": whole,
        "whole_part": whole[2:6],  # overlaps `whole`, which covers the storage
    }


def model_state():
    torch.manual_seed(4)
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    return m.state_dict()


def params():
    torch.manual_seed(5)
    return {"p": torch.nn.Parameter(torch.randn(3, 2)), "q": torch.nn.Parameter(torch.randn(2).double(), requires_grad=False)}


def big_endian_copy(src, dst):
    """A torch zip whose storages are big-endian, as a big-endian torch.save writes them."""
    obj = torch.load(src, weights_only=True)
    with zipfile.ZipFile(src) as zin:
        names = zin.namelist()
        root = names[0].split("/")[0] + "/"
        # The keys are in data.pkl; their element sizes follow the order torch
        # wrote them, which is the dict's order here (one storage per tensor).
        keys = sorted((n for n in names if n.startswith(root + "data/")), key=lambda n: int(n.rsplit("/", 1)[1]))
        elsizes = [v.element_size() for v in obj.values()]
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
            for n in names:
                data = zin.read(n)
                if n in keys:
                    es = elsizes[keys.index(n)]
                    a = np.frombuffer(data, dtype=np.dtype("u%d" % es)) if es > 1 else None
                    if a is not None:
                        data = a.byteswap().tobytes()
                if n == root + "byteorder":
                    continue
                zout.writestr(zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0)), data)
            # torch 1.13 writes no byteorder record (newer torch does, and
            # reads one that says "big" by swapping each element).
            zout.writestr(zipfile.ZipInfo(root + "byteorder", date_time=(1980, 1, 1, 0, 0, 0)), b"big")


# --- byte-built data.pkl for lying checkpoints -------------------------------------------

def op_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def op_int(n):
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if -2**31 <= n < 2**31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def op_tuple(items):
    return b"(" + b"".join(items) + b"t"


def tensor_call(cls, key, numel, offset, size, stride):
    pid = op_tuple([op_str("storage"), b"ctorch\n" + cls.encode() + b"\n", op_str(key), op_str("cpu"), op_int(numel)])
    args = op_tuple([pid + b"Q", op_int(offset), op_tuple([op_int(x) for x in size]),
                     op_tuple([op_int(x) for x in stride]), b"\x89", b"ccollections\nOrderedDict\n)R"])
    return b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"


def byte_zip(name, tensors, records):
    """tensors: (name, cls, key, numel, offset, size, stride); records: key -> bytes."""
    body = b"\x80\x02}(" + b"".join(op_str(n) + tensor_call(*rest) for n, *rest in tensors) + b"u."
    with zipfile.ZipFile(path(name), "w", zipfile.ZIP_STORED) as z:
        def put(n, data):
            z.writestr(zipfile.ZipInfo("archive/" + n, date_time=(1980, 1, 1, 0, 0, 0)), data)
        put("data.pkl", body)
        for key, data in records.items():
            put("data/" + key, data)
        put("version", b"3\n")


def lying_zip(name, tensors, records):
    byte_zip(os.path.join("lying", name), tensors, records)


def main():
    os.makedirs(OUT, exist_ok=True)
    for legacy in (False, True):
        sfx = "_legacy" if legacy else ""
        save(all_dtypes(), "dtypes%s.pt" % sfx, legacy)
        save(shapes(), "shapes%s.pt" % sfx, legacy)
        save(views(), "views%s.pt" % sfx, legacy)
        save(shared(), "shared%s.pt" % sfx, legacy)
        save({"state_dict": model_state(), "epoch": 3, "optimizer": {"step": 10}}, "nested%s.pt" % sfx, legacy)
        save(params(), "params%s.pt" % sfx, legacy)
    save(model_state(), "model_state.pt")
    # Not convertible: a value that is not a tensor, a complex and a quantized tensor.
    save({"w": torch.ones(2), "epoch": 3, "config": {"a": 1}}, "refused/non_tensor.pt")
    save({"z": torch.ones(2, dtype=torch.complex64)}, "refused/complex.pt")
    save({"q": torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.quint8)}, "refused/quantized.pt")
    save({"expanded": torch.ones(1).expand(1000)}, "refused/expanded.pt")
    # Shards of one model, as transformers names them.
    sd = model_state()
    items = list(sd.items())
    os.makedirs(os.path.join(OUT, "shards"), exist_ok=True)
    torch.save(collections.OrderedDict(items[:3]), path("shards", "pytorch_model-00001-of-00002.bin"))
    torch.save(collections.OrderedDict(items[3:]), path("shards", "pytorch_model-00002-of-00002.bin"))
    with open(path("shards", "config.json"), "w") as f:
        f.write('{"model_type": "test"}\n')
    # The same shards with the index transformers writes beside them.
    import json
    import shutil
    os.makedirs(os.path.join(OUT, "indexed"), exist_ok=True)
    weight_map = {}
    for k, f in (("pytorch_model-00001-of-00002.bin", items[:3]), ("pytorch_model-00002-of-00002.bin", items[3:])):
        shutil.copy(path("shards", k), path("indexed", k))
        weight_map.update({n: k for n, _ in f})
    with open(path("indexed", "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(v.numel() * v.element_size() for _, v in items)},
                   "weight_map": weight_map}, f, indent=2)
    big_endian_copy(path("dtypes.pt"), path("big_endian.pt"))

    rng = np.random.default_rng(6)
    arrays = {
        "f64": rng.standard_normal((3, 4)),
        "f32": rng.standard_normal(5).astype(np.float32),
        "f16": rng.standard_normal((2, 2)).astype(np.float16),
        "i64": rng.integers(-2**40, 2**40, 6),
        "i32": rng.integers(-2**20, 2**20, (2, 3)).astype(np.int32),
        "i16": np.arange(-5, 5, dtype=np.int16),
        "i8": np.arange(-3, 3, dtype=np.int8),
        "u8": np.arange(250, 256, dtype=np.uint8),
        "u16": np.arange(7, dtype=np.uint16),
        "u32": np.arange(7, dtype=np.uint32) * 100000,
        "u64": np.arange(3, dtype=np.uint64) * 2**60,
        "bool": np.array([True, False, True]),
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "fortran": np.asfortranarray(rng.standard_normal((3, 5))),
        "big_endian": rng.standard_normal((2, 3)).astype(">f4"),
        "big_endian_fortran": np.asfortranarray(rng.standard_normal((4, 2)).astype(">i8")),
    }
    np.savez(path("arrays.npz"), **arrays)
    np.savez_compressed(path("arrays_compressed.npz"), **arrays)
    np.save(path("single.npy"), arrays["fortran"])
    np.save(path("refused", "object.npy"), np.array([1, "a", None], dtype=object), allow_pickle=True)
    np.save(path("refused", "complex.npy"), np.ones(3, dtype=np.complex64))

    f4 = struct.pack("<4f", 1, 2, 3, 4)
    lying_zip("size_past_storage.pt", [("w", "FloatStorage", "0", 4, 0, (10,), (1,))], {"0": f4})
    lying_zip("offset_past_storage.pt", [("w", "FloatStorage", "0", 4, 3, (2,), (1,))], {"0": f4})
    lying_zip("stride_past_storage.pt", [("w", "FloatStorage", "0", 4, 0, (2, 2), (3, 1))], {"0": f4})
    lying_zip("overflow.pt", [("w", "FloatStorage", "0", 4, 0, (2**61, 16), (1, 2**61))], {"0": f4})
    lying_zip("record_short.pt", [("w", "FloatStorage", "0", 8, 0, (8,), (1,))], {"0": f4})
    lying_zip("numel_lies.pt", [("w", "FloatStorage", "0", 2**40, 0, (4,), (1,))], {"0": f4})
    lying_zip("two_classes_one_key.pt", [("w", "FloatStorage", "0", 4, 0, (4,), (1,)),
                                         ("v", "DoubleStorage", "0", 2, 0, (2,), (1,))], {"0": f4})
    lying_zip("rank_mismatch.pt", [("w", "FloatStorage", "0", 4, 0, (2, 2), (1,))], {"0": f4})
    lying_zip("named_metadata.pt", [("__metadata__", "FloatStorage", "0", 4, 0, (4,), (1,))], {"0": f4})
    lying_zip("no_record.pt", [("w", "FloatStorage", "7", 4, 0, (4,), (1,))], {"0": f4})
    # float8 storages as torch >= 2.1 writes them (Debian's torch 1.13 has
    # none): the test compares the output with the records' own bytes.
    f8 = bytes(range(256))
    byte_zip("float8.pt", [("e4m3", "Float8_e4m3fnStorage", "0", 256, 0, (16, 16), (1, 16)),
                           ("e5m2", "Float8_e5m2Storage", "1", 256, 0, (256,), (1,))], {"0": f8, "1": f8[::-1]})
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
