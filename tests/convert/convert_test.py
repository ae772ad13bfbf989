#!/usr/bin/python3
"""Differential test of `pickleguard convert` against torch.load and numpy.load.

For every benign fixture (tests/convert/fixtures, made by make_fixtures.py
with the real torch and numpy), the safetensors file pickleguard writes is
read back by the small reader below — written here from the format's
definition (8-byte little-endian header length, JSON header, raw bytes),
not by any safetensors library — and compared, name for name and bit for
bit, with what torch.load(weights_only=True) or numpy.load returns for the
same file. Refusals: every malicious or lying input exits non-zero and
leaves no output file.

    convert_test.py PICKLEGUARD
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # scripts/install-deps.sh --no-ml
    print("skipped: %s" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")
ROOT = os.path.dirname(os.path.dirname(HERE))

DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "U16": np.dtype("<u2"), "U32": np.dtype("<u4"), "U64": np.dtype("<u8"),
    "BOOL": np.dtype("?"), "F8_E5M2": np.dtype("u1"), "F8_E4M3": np.dtype("u1"),
}
TORCH_NAMES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def read_safetensors(p):
    """name -> (dtype name, shape, raw bytes); and __metadata__."""
    with open(p, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, "header length %d is not a multiple of 8" % n
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    meta = header.pop("__metadata__", None)
    spans = sorted((v["data_offsets"], k) for k, v in header.items())
    at = 0
    for (b, e), k in spans:  # offsets cover the buffer with no gaps or overlaps
        assert b == at and e >= b, "%s: offsets %r after %d" % (k, (b, e), at)
        at = e
    assert at == len(body), "the buffer has %d bytes, offsets cover %d" % (len(body), at)
    out = {}
    for k, v in header.items():
        dt = DTYPES[v["dtype"]]
        b, e = v["data_offsets"]
        count = int(np.prod(v["shape"], dtype=np.int64)) if v["shape"] else 1
        assert e - b == count * dt.itemsize, k
        out[k] = (v["dtype"], list(v["shape"]), body[b:e])
    return out, meta


def torch_bytes(t):
    """A tensor's elements, row-major, little-endian, as raw bytes."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def numpy_bytes(a):
    return np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()


def run(pg, *args):
    return subprocess.run([pg, "convert", *args], capture_output=True, text=True)


def convert(pg, src, tmp, *extra):
    out = os.path.join(tmp, os.path.basename(src) + ".safetensors")
    r = run(pg, src, "-o", out, *extra)
    check(r.returncode == 0, "%s: exit %d: %s" % (src, r.returncode, r.stderr.strip()[-600:]))
    return out, r


def compare_torch(pg, name, tmp, expect_names=None, extra=(), reference=None):
    src = os.path.join(FIX, name)
    out, r = convert(pg, src, tmp, *extra)
    if r.returncode != 0:
        return
    st, meta = read_safetensors(out)
    check(meta is not None and meta.get("format") == "pt", "%s: __metadata__ format is not pt: %r" % (name, meta))
    ref = torch.load(os.path.join(FIX, reference or name), weights_only=True)
    if "state_dict" in ref:
        ref = ref["state_dict"]
    ref = {k: v for k, v in ref.items() if isinstance(v, torch.Tensor)}
    aliases = {k: v for k, v in (meta or {}).items() if k != "format"}
    check(set(st) | set(aliases) == set(ref), "%s: names %s + aliases %s != torch's %s" %
          (name, sorted(st), sorted(aliases), sorted(ref)))
    check(not (set(st) & set(aliases)), "%s: a name is both written and an alias" % name)
    for k, t in ref.items():
        if k in aliases:
            kept = ref[aliases[k]]
            check(kept.storage().data_ptr() == t.storage().data_ptr(),
                  "%s: %s is recorded as sharing %s's storage but torch says it does not" % (name, k, aliases[k]))
            continue
        if k not in st:
            continue
        dt, shape, raw = st[k]
        check(dt == TORCH_NAMES[t.dtype], "%s: %s dtype %s, torch %s" % (name, k, dt, t.dtype))
        check(shape == list(t.shape), "%s: %s shape %s, torch %s" % (name, k, shape, list(t.shape)))
        check(raw == torch_bytes(t), "%s: %s bytes differ from torch.load's" % (name, k))
    if expect_names is not None:
        check(sorted(st) == sorted(expect_names), "%s: wrote %s, expected %s" % (name, sorted(st), sorted(expect_names)))
    return st, meta


def compare_numpy(pg, name, tmp):
    src = os.path.join(FIX, name)
    out, r = convert(pg, src, tmp)
    if r.returncode != 0:
        return
    st, meta = read_safetensors(out)
    if name.endswith(".npz"):
        with np.load(src) as z:
            ref = {k: z[k] for k in z.files}
    else:
        ref = {os.path.splitext(name)[0]: np.load(src)}
    check(sorted(st) == sorted(ref), "%s: names %s != numpy's %s" % (name, sorted(st), sorted(ref)))
    for k, a in ref.items():
        if k not in st:
            continue
        dt, shape, raw = st[k]
        check(DTYPES[dt].kind == a.dtype.kind and DTYPES[dt].itemsize == a.dtype.itemsize,
              "%s: %s dtype %s, numpy %s" % (name, k, dt, a.dtype))
        check(shape == list(a.shape), "%s: %s shape %s, numpy %s" % (name, k, shape, list(a.shape)))
        check(raw == numpy_bytes(a), "%s: %s bytes differ from numpy.load's" % (name, k))


def refused(pg, src, tmp, *extra, why=None):
    out = os.path.join(tmp, "refused.safetensors")
    r = run(pg, src, "-o", out, *extra)
    left = [f for f in os.listdir(tmp) if f.startswith("refused") or f.startswith(".refused")]
    check(r.returncode != 0, "%s: converted (exit 0), expected a refusal" % src)
    check(not left, "%s: left %s behind" % (src, left))
    if why:
        check(why in r.stderr, "%s: stderr does not say %r: %s" % (src, why, r.stderr.strip()[-400:]))
    for f in left:
        os.unlink(os.path.join(tmp, f))
    return r


# Checkpoints with a tensor safetensors cannot hold, and what the refusal
# must say (None: only that it is refused).
NOT_CONVERTIBLE = [
    ("complex.pt", "'z'"),
    ("quantized.pt", None),
    ("expanded.pt", "expanded"),
    ("object.npy", None),
    ("complex.npy", "complex"),
]


def folder_with_attack(src, dst, name):
    """A copy of the fixture folder `src` at `dst`, with the os.system
    attack example beside its files as `name`: copied as bytes, never
    loaded."""
    os.makedirs(dst)
    for f in os.listdir(src):
        with open(os.path.join(src, f), "rb") as i, open(os.path.join(dst, f), "wb") as o:
            o.write(i.read())
    with open(os.path.join(ROOT, "examples", "attacks", "os_system_protocol0.pkl"), "rb") as i:
        open(os.path.join(dst, name), "wb").write(i.read())
    return dst


def attack_inputs():
    """Inputs every policy must refuse: the shipped attack examples, the
    fixtures the manifest expects each policy to fail, and the byte-built
    lying checkpoints."""
    out = []
    ex = os.path.join(ROOT, "examples", "attacks")
    out += [os.path.join(ex, f) for f in sorted(os.listdir(ex)) if not f.endswith(".py")]
    manifest = json.load(open(os.path.join(ROOT, "tests", "fixtures", "MANIFEST.json")))
    for fx in manifest["fixtures"]:
        if fx["expected"].get("pytorch") == "fail" and fx["expected"].get("numpy") == "fail":
            out.append(os.path.join(ROOT, "tests", "fixtures", fx["path"]))
    return out


def main():
    pg = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        for legacy in ("", "_legacy"):
            compare_torch(pg, "dtypes%s.pt" % legacy, tmp)
            compare_torch(pg, "shapes%s.pt" % legacy, tmp)
            compare_torch(pg, "views%s.pt" % legacy, tmp)
            st, meta = compare_torch(pg, "shared%s.pt" % legacy, tmp) or ({}, {})
            check(meta.get("lm_head.weight") == "embed.weight", "shared%s: tied weight not recorded: %r" % (legacy, meta))
            check(meta.get("whole_part") == "whole", "shared%s: overlapping view not recorded: %r" % (legacy, meta))
            check("halves.a" in st and "halves.b" in st, "shared%s: non-overlapping views must both be written" % legacy)
            compare_torch(pg, "nested%s.pt" % legacy, tmp)
            compare_torch(pg, "params%s.pt" % legacy, tmp)
        compare_torch(pg, "model_state.pt", tmp)
        compare_torch(pg, "big_endian.pt", tmp, reference="dtypes.pt")
        for n in ("arrays.npz", "arrays_compressed.npz", "single.npy"):
            compare_numpy(pg, n, tmp)

        # float8 (torch >= 2.1's storages; no torch here to load them): the
        # records' bytes, e4m3 saved transposed, under the shipped policy
        # (pytorch lists the float8 storage classes).
        out, r = convert(pg, os.path.join(FIX, "float8.pt"), tmp)
        if r.returncode == 0:
            st, _ = read_safetensors(out)
            raw = bytes(range(256))
            want = np.frombuffer(raw, dtype=np.uint8).reshape(16, 16).T.tobytes()
            check(st["e4m3"][:2] == ("F8_E4M3", [16, 16]) and st["e4m3"][2] == want, "float8: e4m3 %r" % (st["e4m3"][:2],))
            check(st["e5m2"][:2] == ("F8_E5M2", [256]) and st["e5m2"][2] == raw[::-1], "float8: e5m2 %r" % (st["e5m2"][:2],))

        # --key-prefix and the header's layout.
        out, _ = convert(pg, os.path.join(FIX, "model_state.pt"), tmp, "--key-prefix", "model.", "--force")
        st, _ = read_safetensors(out)
        n = len(torch.load(os.path.join(FIX, "model_state.pt"), weights_only=True))
        check(all(k.startswith("model.") for k in st) and len(st) == n, "--key-prefix: %s" % sorted(st))

        # Non-tensor values: refused, listing them; --skip-non-tensors drops and lists them.
        r = refused(pg, os.path.join(FIX, "refused", "non_tensor.pt"), tmp, why="epoch (int)")
        check("config (dict)" in r.stderr, "non_tensor: config not listed: " + r.stderr)
        out, r = convert(pg, os.path.join(FIX, "refused", "non_tensor.pt"), tmp, "--skip-non-tensors")
        check("dropped epoch" in r.stderr and "dropped config" in r.stderr, "--skip-non-tensors lists nothing: " + r.stderr)
        check(sorted(read_safetensors(out)[0]) == ["w"], "--skip-non-tensors wrote the wrong tensors")

        # An existing output is kept unless --force.
        keep = os.path.join(tmp, "exists.safetensors")
        open(keep, "w").write("keep")
        r = run(pg, os.path.join(FIX, "dtypes.pt"), "-o", keep)
        check(r.returncode != 0 and open(keep).read() == "keep", "an existing output was replaced without --force")
        r = run(pg, os.path.join(FIX, "dtypes.pt"), "-o", keep, "--force")
        check(r.returncode == 0 and read_safetensors(keep)[0], "--force did not replace the output")

        # Not convertible, with the tensor named where the message can.
        for name, why in NOT_CONVERTIBLE:
            refused(pg, os.path.join(FIX, "refused", name), tmp, why=why)
        # Storage records that lie: refused, never read out of bounds.
        for f in sorted(os.listdir(os.path.join(FIX, "lying"))):
            r = refused(pg, os.path.join(FIX, "lying", f), tmp)
            check(r.returncode == 1, "lying/%s: exit %d, expected 1 (malformed)" % (f, r.returncode))
        # Malicious inputs: refused with the scan's findings, nothing written.
        attacks = attack_inputs()
        check(len(attacks) >= 6, "found only %d attack inputs" % len(attacks))
        for a in attacks:
            refused(pg, a, tmp)

        # A folder of shards: model-0000K-of-0000N.safetensors and the index.
        outdir = os.path.join(tmp, "shards_out")
        r = run(pg, os.path.join(FIX, "shards"), "-o", outdir)
        check(r.returncode == 0, "shards: exit %d: %s" % (r.returncode, r.stderr))
        if r.returncode == 0:
            idx = json.load(open(os.path.join(outdir, "model.safetensors.index.json")))
            files = sorted(os.listdir(outdir))
            check(files == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                            "model.safetensors.index.json"], "shards: wrote %s" % files)
            ref = {}
            for f in sorted(os.listdir(os.path.join(FIX, "shards"))):
                if f.endswith(".bin"):
                    ref.update(torch.load(os.path.join(FIX, "shards", f), weights_only=True))
            check(sorted(idx["weight_map"]) == sorted(ref), "shards: index names %s" % sorted(idx["weight_map"]))
            total = 0
            for k, f in idx["weight_map"].items():
                st, _ = read_safetensors(os.path.join(outdir, f))
                check(st[k][2] == torch_bytes(ref[k]), "shards: %s differs" % k)
                total += len(st[k][2])
            check(idx["metadata"]["total_size"] == total, "shards: total_size %r != %d" % (idx["metadata"], total))
        # With pytorch_model.bin.index.json, only the shards it names are
        # converted (the conversion script's choice): a pickled
        # training_args.bin beside them is skipped, not unpickled or refused.
        idxdir = folder_with_attack(os.path.join(FIX, "indexed"), os.path.join(tmp, "indexed"), "training_args.bin")
        r = run(pg, idxdir, "-o", os.path.join(tmp, "indexed_out"))
        check(r.returncode == 0 and "skipped training_args.bin" in r.stderr, "indexed: exit %d: %s" % (r.returncode, r.stderr))
        if r.returncode == 0:
            files = sorted(os.listdir(os.path.join(tmp, "indexed_out")))
            check(len(files) == 3 and "model.safetensors.index.json" in files, "indexed: wrote %s" % files)
        # One refused shard: no output at all.
        bad = folder_with_attack(os.path.join(FIX, "shards"), os.path.join(tmp, "bad_shards"),
                                 "pytorch_model-00003-of-00003.bin")
        badout = os.path.join(tmp, "bad_out")
        r = run(pg, bad, "-o", badout)
        check(r.returncode != 0, "a folder with a malicious shard converted")
        check(not os.path.exists(badout) or not os.listdir(badout), "a refused folder left %s" %
              (os.listdir(badout) if os.path.exists(badout) else None))
    n = len(failures)
    print("%d passed, %d failed" % (1 if n == 0 else 0, 1 if n else 0))
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
