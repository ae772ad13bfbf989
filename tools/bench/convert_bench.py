#!/usr/bin/python3
"""Benchmark: `pickleguard convert` against `cp` and against torch.load + save.

    tools/bench/convert_bench.py --pickleguard build/tools/pickleguard [--gb 1] [--workdir DIR]

Makes a checkpoint of about --gb GB with torch.save (a state dict of float32
and bfloat16 matrices, one of them saved transposed), then times, with the
page cache warm (each input is read once first):

  * cp of the checkpoint (the disk's speed on this machine);
  * pickleguard convert (scan, then copy the tensors into safetensors);
  * the conversion script's way: torch.load(map_location="cpu"), then each
    tensor made contiguous and written as safetensors (the `safetensors`
    package is not in Debian 12, so its save_file is reproduced: it also
    builds the whole file's bytes in memory before writing them).

Each runs in its own process under /usr/bin/time, which reports its peak
resident memory. Prints a Markdown table (GB/s = checkpoint bytes / wall time).
"""
import argparse
import os
import subprocess
import sys
import tempfile

TORCH_WAY = r'''
import json, struct, sys, torch
sd = torch.load(sys.argv[1], map_location="cpu")
if "state_dict" in sd: sd = sd["state_dict"]
names = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64"}
header, chunks, at = {"__metadata__": {"format": "pt"}}, [], 0
for k, v in sd.items():
    b = v.contiguous().view(torch.uint8).numpy().tobytes() if v.numel() else b""
    header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [at, at + len(b)]}
    chunks.append(b)
    at += len(b)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
data = struct.pack("<Q", len(h)) + h + b"".join(chunks)
open(sys.argv[2], "wb").write(data)
'''


def make_checkpoint(path, gb):
    import torch
    per = 64 << 20  # bytes per matrix
    n = max(1, int(gb * (1 << 30)) // per)
    sd = {}
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        if i % 4 == 3:
            sd["layer%d.weight_bf16" % i] = torch.randn(4096, per // 2 // 4096, generator=g).bfloat16()
        elif i == 1:
            sd["layer%d.weight_t" % i] = torch.randn(per // 4 // 4096, 4096, generator=g).t()  # a transposed view
        else:
            sd["layer%d.weight" % i] = torch.randn(4096, per // 4 // 4096, generator=g)
    torch.save(sd, path)


def timed(cmd):
    """(wall seconds, CPU seconds (user + system), peak RSS in MiB) of one command."""
    r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M"] + cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), r.stderr[-2000:]))
    secs, user, system, kb = r.stderr.strip().splitlines()[-1].split()
    return float(secs), float(user) + float(system), int(kb) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest is reported")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="convert_bench.")
    os.makedirs(work, exist_ok=True)
    ckpt = os.path.join(work, "checkpoint.pt")
    if not os.path.exists(ckpt):
        make_checkpoint(ckpt, args.gb)
    size = os.path.getsize(ckpt)
    subprocess.run(["cat", ckpt], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    out = os.path.join(work, "out")
    rows = []
    ways = [
        ("cp", lambda: ["cp", ckpt, out + ".cp"]),
        ("pickleguard convert", lambda: [args.pickleguard, "convert", ckpt, "-o", out + ".pg.safetensors", "--force"]),
        ("torch.load + save (the script's way)", lambda: [sys.executable, "-c", TORCH_WAY, ckpt, out + ".torch.safetensors"]),
    ]
    for name, cmd in ways:
        best = None
        for _ in range(args.repeat):
            for f in os.listdir(work):
                if f.startswith("out."):
                    os.unlink(os.path.join(work, f))
            t = timed(cmd())
            best = t if best is None or t[0] < best[0] else best
        rows.append((name, best[0], best[1], size / best[0] / 1e9, best[2]))
    print("checkpoint: %.2f GB (%d bytes), %s" % (size / 1e9, size, ckpt))
    print()
    print("| method | wall s | CPU s | GB/s | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, secs, cpu, gbs, rss in rows:
        print("| %s | %.2f | %.2f | %.2f | %.0f |" % (name, secs, cpu, gbs, rss))


if __name__ == "__main__":
    main()
