#!/usr/bin/python3
"""The malicious inputs of tests/unit/readings_test.cpp, against the loaders'
own reading code, with recording stand-ins that never execute anything:

- a pickle.Unpickler (C) and pickle._Unpickler (pure Python, joblib's base)
  whose find_class records (module, name) and returns an inert recorder, and
  whose persistent_load (torch's legacy path has one) returns an inert value;
- numpy.load itself, with the `pickle` module it calls replaced by that
  recorder, so numpy's own magic checks choose the path;
- Python's tarfile.open as torch.load's legacy path calls it (a TarError
  there makes torch.load fall back to its pickle path);
- torch._C.PyTorchFileReader, torch's own zip reader (miniz), which reads
  records and never unpickles, and torch.serialization's _is_zipfile and
  _is_torchscript_zip;
- zipfile, reading the member a zipfile-based loader would hand to pickle.

Each check also runs `pickleguard scan` and expects it not to call the file
safe. The 7z case (class 5) is checked against libarchive's own extractor in
the unit test. Usage:

    readings_loaders_test.py --pickleguard build/tools/pickleguard
"""
import argparse
import io
import json
import pathlib
import pickle
import subprocess
import sys
import tarfile
import tempfile
import types
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_readings  # noqa: E402

PAYLOAD = ("os", "system")


class Inert:
    """What every global resolves to: calling it records nothing and runs nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return Inert()

    def __setstate__(self, state):
        pass


def recording(base):
    class Recording(base):
        def __init__(self, f):
            super().__init__(f)
            self.seen = []

        def find_class(self, module, name):
            self.seen.append((module, name))
            return Inert

        def persistent_load(self, pid):
            return Inert()

    return Recording


def globals_reached(data: bytes, base=pickle.Unpickler):
    """The globals pickle.load would look up in `data`, up to where it stops."""
    u = recording(base)(io.BytesIO(data))
    try:
        u.load()
    except Exception:
        pass  # a loader raises here too, after running what came before
    return u.seen


def numpy_load_reaches(data: bytes):
    """numpy.load(allow_pickle=True) on `data`, its pickle.load recorded."""
    import numpy.lib.npyio as npyio
    seen = []

    def load(f, **kwargs):
        u = recording(pickle.Unpickler)(f)
        try:
            u.load()
        finally:
            seen.extend(u.seen)

    original = npyio.pickle
    npyio.pickle = types.SimpleNamespace(load=load, UnpicklingError=pickle.UnpicklingError)
    try:
        try:
            npyio.load(io.BytesIO(data), allow_pickle=True)
        except Exception:
            pass
    finally:
        npyio.pickle = original
    return seen


def torch_takes_tar_path(data: bytes) -> bool:
    """As torch.serialization._legacy_load: tarfile.open(mode='r:', PAX), TarError -> pickle path."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:", format=tarfile.PAX_FORMAT):
            return True
    except tarfile.TarError:
        return False


def scan(pickleguard: str, path: pathlib.Path):
    out = subprocess.run([pickleguard, "scan", "--no-sandbox", "--policy", "pytorch", "--format", "json", str(path)],
                         capture_output=True, text=True)
    return json.loads(out.stdout)["files"][0]


failures = []


def check(what: str, ok: bool, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="pg_readings_"))
    for name, data in make_readings.INPUTS.items():
        (work / name).write_bytes(data)

    # Class 3: a tar that is also a pickle.
    for name, tar_path in [("polyglot_tar_pickle.tar", True), ("polyglot_tar_pickle_tarfile_refuses.tar", False)]:
        data = make_readings.INPUTS[name]
        check(f"{name}: pickle.load (C) reaches os.system", PAYLOAD in globals_reached(data))
        check(f"{name}: pickle._Unpickler (joblib's base) reaches os.system",
              PAYLOAD in globals_reached(data, pickle._Unpickler))
        check(f"{name}: numpy.load(allow_pickle=True) takes its pickle path to os.system",
              PAYLOAD in numpy_load_reaches(data))
        check(f"{name}: tarfile {'accepts' if tar_path else 'refuses'} it, so torch.load takes its "
              f"{'tar' if tar_path else 'pickle'} path", torch_takes_tar_path(data) == tar_path)
        r = scan(args.pickleguard, work / name)
        check(f"{name}: pickleguard judges both readings and calls it unsafe",
              r["verdict"] == "unsafe" and r["readings"] == ["tar", "pickle"], r)

    # Class 4: torch's record lookup.
    import torch
    import torch.serialization as ts
    name = "torch_upper_case_data_pkl.pt"
    path = work / name
    with open(path, "rb") as f:
        check(f"{name}: torch.load's _is_zipfile takes the zip path", ts._is_zipfile(f))
    reader = torch._C.PyTorchFileReader(str(path))
    check(f"{name}: not TorchScript to torch.load (_is_torchscript_zip)", not ts._is_torchscript_zip(reader))
    record = reader.get_record("data.pkl")
    check(f"{name}: torch's reader returns archive/DATA.PKL for 'data.pkl'",
          record == make_readings.big_protocol0_payload())
    check(f"{name}: torch's unpickler on that record reaches os.system", PAYLOAD in globals_reached(record))
    r = scan(args.pickleguard, path)
    check(f"{name}: pickleguard reads it as a checkpoint and calls it unsafe",
          r["format"] == "pytorch-zip" and r["verdict"] == "unsafe", r)
    benign = work / "benign_torch_upper_case.pt"
    reader = torch._C.PyTorchFileReader(str(benign))
    check("benign_torch_upper_case.pt: torch reads data/0 from archive/DATA/0", len(reader.get_record("data/0")) == 24)

    name = "zip_big_entry_without_proto.zip"
    with zipfile.ZipFile(work / name) as z:
        member = z.read("model.bin")
    check(f"{name}: a 2 MiB member without PROTO reaches os.system under pickle.load",
          PAYLOAD in globals_reached(member))
    check(f"{name}: pickleguard calls it unsafe", scan(args.pickleguard, work / name)["verdict"] == "unsafe")

    # Class 6: zipfile reads what pickleguard does not decode (LZMA), and bzip2.
    for name in ["zip_unknown_method.zip", "zip_bzip2_member.zip"]:
        with zipfile.ZipFile(work / name) as z:
            member = z.read("model.pkl")
        check(f"{name}: zipfile reads model.pkl, which reaches os.system", PAYLOAD in globals_reached(member))
        check(f"{name}: pickleguard calls it unsafe", scan(args.pickleguard, work / name)["verdict"] == "unsafe")
    # ... and the report names skipped members in text too.
    text = subprocess.run([args.pickleguard, "scan", "--no-sandbox", "--policy", "pytorch",
                           str(work / "zip_text_only.zip")], capture_output=True, text=True).stdout
    check("zip_text_only.zip: the text report says no pickle was found and names the members",
          "container-without-pickle" in text and "'README.txt', 'notes.txt'" in text, text)
    text = subprocess.run([args.pickleguard, "scan", "--no-sandbox", "--policy", "pytorch",
                           str(work / "zip_unknown_method.zip")], capture_output=True, text=True).stdout
    check("zip_unknown_method.zip: the text report names the member not read",
          "member-not-read" in text and "'model.pkl'" in text, text)

    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
