"""pickleguard.joblib_load and numpy_load: real scikit-learn and numpy files
load as joblib.load and numpy.load(allow_pickle=True) load them; malicious
ones are refused before anything runs, with no import and no audit event of
code being run (sys.addaudithook).

The malicious inputs are built byte by byte. The benign fixtures come from
tests/fixtures (made by the real libraries, make_fixtures.py). The
comparisons load those trusted fixtures with the libraries' own loaders.
"""
import io
import pathlib
import struct
import sys
import zipfile

import pytest

import pickleguard
from conftest import child_processes, malicious_payloads, module_names

np = pytest.importorskip("numpy")
joblib = pytest.importorskip("joblib")

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
# A scipy.sparse matrix is refused (MANIFEST.json's fail_reason): not a file the loader must read.
JOBLIB_FIXTURES = sorted(p for p in (FIXTURES / "sklearn").glob("*.joblib*") if not p.name.startswith("csr_matrix"))
NUMPY_FIXTURES = sorted((FIXTURES / "numpy").glob("*.np[yz]"))

# Audit events a payload would raise on its way to running anything (not
# "compile": numpy parses a .npy header with ast.literal_eval).
_RUNNING = {"os.system", "subprocess.Popen", "exec", "open", "os.exec", "os.posix_spawn",
            "os.spawn", "import", "ctypes.dlopen"}
_events = []
sys.addaudithook(lambda event, args: _events.append(event) if event in _RUNNING or event == "pickle.find_class"
                 else None)


def _same(a, b, depth=0):
    """Equal values, compared through what pickling them would write (their
    __reduce_ex__), since pickled bytes of equal estimators differ in memo
    order."""
    assert depth < 60, "too deep"
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.hasobject:
            return all(_same(x, y, depth + 1) for x, y in zip(a.ravel(), b.ravel()))
        return a.tobytes() == b.tobytes()
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k], depth + 1) for k in a)
    if a is None or isinstance(a, (bool, int, float, complex, str, bytes, type, np.generic, np.dtype)) or callable(a):
        return a == b or (a != a and b != b)
    ra, rb = a.__reduce_ex__(4), b.__reduce_ex__(4)
    return ra[0] == rb[0] and _same(tuple(ra[1:]), tuple(rb[1:]), depth + 1)


def _refused(call, marker):
    modules = module_names()
    children = child_processes()
    del _events[:]
    with pytest.raises(pickleguard.UnsafePickleError) as info:
        call()
    ran = [e for e in _events if e != "pickle.find_class" and e != "open"]
    assert ran == [], ran
    assert not marker.exists()
    assert child_processes() - children == set()
    assert module_names() - modules == set()
    return info.value


# ---- joblib ---------------------------------------------------------------------


def test_joblib_load_refuses_a_sparse_matrix_whose_build_could_reach_sparsetools():
    # Its indptr and indices reach native sparsetools unchecked on first use
    # (toarray, a predict): the knowledge base names the sparse classes and
    # the generated policies refuse them until a state checker reads them.
    with pytest.raises(pickleguard.UnsafePickleError, match="csr_matrix"):
        pickleguard.joblib_load(FIXTURES / "sklearn" / "csr_matrix.joblib")


@pytest.mark.parametrize("path", JOBLIB_FIXTURES, ids=lambda p: p.name)
def test_joblib_load_reads_real_scikit_learn_files(path):
    pytest.importorskip("sklearn")
    assert _same(pickleguard.joblib_load(path), joblib.load(path))
    with open(path, "rb") as f:
        assert _same(pickleguard.joblib_load(f), joblib.load(path))


def test_joblib_load_reads_object_arrays_through_the_guard(tmp_path):
    # An object array's data is a nested pickle joblib reads with pickle.load.
    value = {"labels": np.array(["a", 1, None], dtype=object), "x": np.arange(3.0)}
    for compress in (0, 3, "xz"):
        path = tmp_path / f"objects_{compress}.joblib"
        joblib.dump(value, path, compress=compress)
        del _events[:]
        assert _same(pickleguard.joblib_load(path), value)
        assert _events.count("pickle.find_class") > 0  # the nested pickle went through find_class


def _joblib_wrapper_then(nested, dtype="O"):
    """A joblib.dump stream (protocol 4): NumpyArrayWrapper for a 1-element
    array of `dtype`, then, where joblib reads the array's data, `nested`."""
    def u(s):
        b = s.encode()
        return b"\x8c" + bytes([len(b)]) + b
    state = (b"}(" + u("subclass") + u("numpy") + u("ndarray") + b"\x93" + u("shape") + b"K\x01\x85"
             + u("order") + u("C") + u("dtype") + u("numpy") + u("dtype") + b"\x93" + u(dtype) + b"\x89\x88\x87R"
             + b"(K\x03" + u("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb"
             + u("allow_mmap") + b"\x89u")
    head = b"\x80\x04" + u("joblib.numpy_pickle") + u("NumpyArrayWrapper") + b"\x93)\x81" + state + b"b"
    return head + nested + b"."


def test_joblib_load_refuses_os_system_in_an_object_array(marker, tmp_path):
    # joblib.load would run it: NumpyArrayWrapper.read_array calls
    # pickle.load(file_handle) for an object dtype (joblib/numpy_pickle.py).
    nested = malicious_payloads(marker)["os_system_global_reduce_p0"]
    data = _joblib_wrapper_then(nested)
    path = tmp_path / "model.joblib"
    path.write_bytes(data)
    error = _refused(lambda: pickleguard.joblib_load(path), marker)
    assert error.report is not None and error.report.verdict == "unsafe"
    assert any("object array" in (f["member"] or "") for f in error.report.violations), error.report.findings


@pytest.mark.parametrize("name", sorted(malicious_payloads("/nonexistent")))
def test_joblib_load_refuses_every_malicious_payload(name, marker, tmp_path):
    path = tmp_path / "upload.joblib"
    path.write_bytes(malicious_payloads(marker)[name])
    _refused(lambda: pickleguard.joblib_load(path), marker)
    _refused(lambda: pickleguard.joblib_load(io.BytesIO(path.read_bytes())), marker)


def test_joblib_load_guard_refuses_what_the_scan_missed_in_an_object_array(marker, monkeypatch):
    # A scanner bug that reports a joblib file safe and sees no global in its
    # object array: the loader's own find_class still refuses os.system there.
    nested = malicious_payloads(marker)["os_system_global_reduce_p0"]
    data = _joblib_wrapper_then(nested)
    real = pickleguard._scan_buffer

    def forged(buffer, policy, path, containers, sandbox=None):
        report = real(data[:data.index(nested)] + b"N" + b".", policy, path, containers)
        report._file.update(verdict="safe", findings=[], format="joblib")
        report._file["globals"] = [g for g in report._file["globals"] if g["member"] is None]
        return report
    monkeypatch.setattr(pickleguard, "_scan_buffer", forged)
    error = _refused(lambda: pickleguard.joblib_load(io.BytesIO(data)), marker)
    assert "the scan did not see it" in str(error)


def test_joblib_load_refuses_non_joblib_containers(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(pickleguard.UnsafePickleError, match="not a joblib.dump file"):
        pickleguard.joblib_load(path)


# ---- numpy ----------------------------------------------------------------------


@pytest.mark.parametrize("path", NUMPY_FIXTURES, ids=lambda p: p.name)
def test_numpy_load_reads_real_numpy_files(path):
    ours = pickleguard.numpy_load(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=True) as theirs:
            assert sorted(ours) == sorted(theirs.files)
            for key in ours:
                assert _same(ours[key], theirs[key])
    else:
        assert _same(ours, np.load(path, allow_pickle=True))


def _npy_then(nested):
    """A .npy (format 1.0) of a 1-element object array whose data is `nested`."""
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + nested


def test_numpy_load_refuses_os_system_in_an_object_npy(marker, tmp_path):
    # numpy.load(allow_pickle=True) would run it: read_array calls
    # pickle.load(fp) for an object dtype (numpy/lib/format.py).
    path = tmp_path / "x.npy"
    path.write_bytes(_npy_then(malicious_payloads(marker)["os_system_global_reduce_p0"]))
    error = _refused(lambda: pickleguard.numpy_load(path), marker)
    assert error.report.verdict == "unsafe"


def test_numpy_load_refuses_os_system_in_an_npz_member(marker, tmp_path):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("fine.npy", _npy_then(b"\x80\x02]q\x00."))
        z.writestr("labels.npy", _npy_then(malicious_payloads(marker)["builtins_eval_p2"]))
    _refused(lambda: pickleguard.numpy_load(path), marker)


def test_numpy_load_guard_reads_each_members_own_globals(marker, monkeypatch, tmp_path):
    # A global the scan saw in one member does not let another member use it:
    # the loader's find_class takes the globals at that member's location.
    path = tmp_path / "x.npz"
    payload = malicious_payloads(marker)["os_system_global_reduce_p0"]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.npy", _npy_then(payload))
        z.writestr("b.npy", _npy_then(payload))
    real = pickleguard._scan_buffer

    def forged(buffer, policy, p, containers, sandbox=None):
        # A scanner bug: it "saw" os.system in b.npy only, and calls all safe.
        report = real(buffer, policy, p, containers)
        report._file.update(verdict="safe", findings=[])
        report._file["globals"] = [dict(g, allowed=True) for g in report._file["globals"]
                                   if g["member"] == "b.npy > object array"]
        assert report._file["globals"]
        return report
    monkeypatch.setattr(pickleguard, "_scan_buffer", forged)
    error = _refused(lambda: pickleguard.numpy_load(path), marker)
    assert "os.system: the scan did not see it" in str(error)


@pytest.mark.parametrize("name", sorted(malicious_payloads("/nonexistent")))
def test_numpy_load_refuses_every_malicious_payload_as_an_object_array(name, marker, tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(_npy_then(malicious_payloads(marker)[name]))
    _refused(lambda: pickleguard.numpy_load(path), marker)


def test_numpy_load_refuses_a_plain_pickle(marker, tmp_path):
    # numpy.load(allow_pickle=True) unpickles a file that is not .npy/.npz;
    # numpy_load takes only those formats.
    path = tmp_path / "x.npy"
    path.write_bytes(b"\x80\x02]q\x00.")
    with pytest.raises(pickleguard.UnsafePickleError, match="not a .npy or .npz"):
        pickleguard.numpy_load(path)
