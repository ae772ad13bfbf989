#!/usr/bin/python3
"""Scanning a PyTorch zip costs its central directory and its pickles, not its
tensors: times `pickleguard scan` on a 2 MB and a 2 GB checkpoint that differ
only in the size of one tensor record.

The checkpoints are byte-built (data.pkl written opcode by opcode, the zip
headers by struct.pack) and the big record is a hole in a sparse file, so the
2 GB file costs no disk and no time to write. Not committed; not a ctest.

    tests/containers/bench_torch_zip.py --pickleguard build/tools/pickleguard [--workdir /tmp/pgbench]
"""
import argparse
import pathlib
import statistics
import struct
import subprocess
import sys
import time
import zlib


def data_pkl(numel: int) -> bytes:
    # {'weight': persistent_load(('storage', torch.FloatStorage, '0', 'cpu', numel))}
    return (b"\x80\x02}q\x00X\x06\x00\x00\x00weightq\x01(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
            b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ" + struct.pack("<i", numel) + b"tQs.")


def zero_crc(n: int) -> int:
    crc, chunk = 0, bytes(1 << 24)
    while n:
        k = min(n, len(chunk))
        crc = zlib.crc32(chunk[:k], crc)
        n -= k
    return crc


def write_checkpoint(path: pathlib.Path, record_bytes: int) -> None:
    """archive/data.pkl, archive/data/0 (zeros, a sparse hole), archive/version; stored."""
    entries = [("archive/data.pkl", data_pkl(record_bytes // 4)), ("archive/data/0", None), ("archive/version", b"3\n")]
    central = bytearray()
    with open(path, "wb") as f:
        for name, data in entries:
            size = record_bytes if data is None else len(data)
            crc = zero_crc(size) if data is None else zlib.crc32(data)
            offset = f.tell()
            raw = name.encode()
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, size, size, len(raw), 0) + raw)
            if data is None:
                f.seek(size, 1)  # the hole: reads as zeros
            else:
                f.write(data)
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, size, size,
                                   len(raw), 0, 0, 0, 0, 0, offset) + raw
        start = f.tell()
        f.write(central)
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), start, 0))


def time_scan(pickleguard: str, path: pathlib.Path, repeat: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([pickleguard, "scan", "--policy", "pytorch", "--format", "json", str(path)],
                              capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        out = proc.stdout
        if proc.returncode != 0:
            sys.exit(f"{path}: exit {proc.returncode}: {proc.stdout[:500]} {proc.stderr[:500]}")
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--workdir", default="/tmp/pickleguard-zip-bench")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    work = pathlib.Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for label, size in [("2 MB", 2 << 20), ("2 GB", 2 << 30)]:
        path = work / f"checkpoint_{label.replace(' ', '')}.pt"
        write_checkpoint(path, size)
        seconds, _ = time_scan(args.pickleguard, path, args.repeat)
        rows.append((label, path.stat().st_size, seconds))
        print(f"{label:>5}: {path.stat().st_size:>13,} bytes  scan {seconds * 1000:7.2f} ms (median of {args.repeat}), safe")
    ratio = rows[1][2] / rows[0][2]
    print(f"2 GB / 2 MB scan time: {ratio:.2f}x for {rows[1][1] / rows[0][1]:.0f}x the bytes")
    for label, _, _ in rows:
        (work / f"checkpoint_{label.replace(' ', '')}.pt").unlink()
    return 0 if ratio < 3 else 1


if __name__ == "__main__":
    sys.exit(main())
