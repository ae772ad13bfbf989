"""Every malicious pickle is refused before anything runs.

The payloads (conftest.malicious_payloads) would create a marker file,
start a process or import a module if they ran. Each is given to
pickleguard.loads / load / scan in every input form, under several
policies, and the test checks that UnsafePickleError was raised, that the
marker does not exist, that no child process appeared and that no module was
imported.
"""
import io
import pickle

import pytest

import pickleguard
from conftest import child_processes, malicious_payloads, module_names

PAYLOAD_NAMES = sorted(malicious_payloads("/nonexistent"))


def _refused(call, marker):
    modules = module_names()
    children = child_processes()
    with pytest.raises(pickleguard.UnsafePickleError) as info:
        call()
    assert not marker.exists()
    assert child_processes() - children == set()
    assert module_names() - modules == set()
    return info.value


@pytest.mark.parametrize("policy", ["default", "python", "sklearn"])
@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_loads_refuses(name, policy, marker):
    data = malicious_payloads(marker)[name]
    error = _refused(lambda: pickleguard.loads(data, policy=policy), marker)
    assert error.report is not None
    assert error.report.verdict in ("unsafe", "error")
    assert error.report.violations, error.report.findings
    assert "refused by policy" in str(error)


@pytest.mark.parametrize("kind", [bytearray, memoryview])
@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_loads_refuses_buffers(name, kind, marker):
    data = kind(malicious_payloads(marker)[name])
    _refused(lambda: pickleguard.loads(data), marker)


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_load_refuses_files_and_paths(name, marker, tmp_path):
    data = malicious_payloads(marker)[name]
    path = tmp_path / "upload.pkl"
    path.write_bytes(data)
    _refused(lambda: pickleguard.load(io.BytesIO(data)), marker)
    _refused(lambda: pickleguard.load(path), marker)
    _refused(lambda: pickleguard.load(str(path)), marker)


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_scan_names_the_danger(name, marker, tmp_path):
    data = malicious_payloads(marker)[name]
    path = tmp_path / "upload.pkl"
    path.write_bytes(data)
    for report in (pickleguard.scan(data), pickleguard.scan(path), pickleguard.scan(memoryview(data))):
        assert not report.safe
        assert report.violations
    assert not marker.exists()


def test_unsafe_error_is_an_unpickling_error(marker):
    data = malicious_payloads(marker)["os_system_global_reduce_p0"]
    with pytest.raises(pickle.UnpicklingError):
        pickleguard.loads(data)
    try:
        pickleguard.loads(data)
    except pickleguard.UnsafePickleError as e:
        modules = {(g["module"], g["name"]) for g in e.report.globals}
        assert ("os", "system") in modules or ("posix", "system") in modules
        assert any(f["rule"] == "global-not-allowed" for f in e.report.findings), e.report.findings


# ---- the loader's own check, independent of the scan --------------------------


def _forged_report(globals_):
    """A report claiming `globals_` were seen and all is safe: what a scanner
    bug would hand the loader."""
    return pickleguard.Report({"policy": "default", "files": [{
        "path": "<forged>", "format": "pickle", "verdict": "safe", "bytes": 0, "pickles": 1,
        "findings": [], "globals": [dict(g, member=None, allowed=True) for g in globals_]}]})


def _g(raw_module, raw_name, module=None, name=None, protocol=2):
    return {"raw_module": raw_module, "raw_name": raw_name, "module": module or raw_module,
            "name": name or raw_name, "protocol": protocol}


def _guarded_load(data, report, policy="default"):
    unpickler = pickleguard._GuardedUnpickler(io.BytesIO(data), pickleguard.Policy.shipped(policy),
                                              pickleguard._globals_at(report, None))
    return unpickler.load()


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_loader_refuses_what_the_scan_missed(name, marker):
    # The scan "saw nothing": every global the stream names is refused.
    data = malicious_payloads(marker)[name]
    modules = module_names()
    if name == "second_pickle_after_stop":
        # The loader reads only the first pickle, as pickle.loads does.
        assert _guarded_load(data, _forged_report([])) == 1
    else:
        with pytest.raises((pickleguard.UnsafePickleError, pickle.UnpicklingError, EOFError, ValueError)):
            _guarded_load(data, _forged_report([]))
    assert not marker.exists()
    assert module_names() - modules == set()


def test_loader_refuses_globals_outside_the_policy(marker):
    # The scan "saw" os.system and called it safe: the loader checks the policy itself.
    data = malicious_payloads(marker)["os_system_global_reduce_p0"]
    report = _forged_report([_g("os", "system", protocol=0)])
    with pytest.raises(pickleguard.UnsafePickleError, match="not in the policy"):
        _guarded_load(data, report)


def test_loader_refuses_wrong_renaming(marker):
    # The scan "resolved" __builtin__.eval as builtins.set; CPython would resolve builtins.eval.
    data = malicious_payloads(marker)["builtins_eval_p2"]
    report = _forged_report([_g("__builtin__", "eval", "builtins", "set", protocol=2)])
    with pytest.raises(pickleguard.UnsafePickleError, match="CPython as builtins.eval"):
        _guarded_load(data, report)


def test_loader_refuses_unlisted_dotted_names(marker):
    data = malicious_payloads(marker)["allowed_module_dotted_os_system_p4"]
    report = _forged_report([_g("uuid", "os.system", protocol=4)])
    with pytest.raises(pickleguard.UnsafePickleError, match="not in the policy"):
        _guarded_load(data, report, policy="python")


def test_loader_getattr_fetches_only_listed_attributes(marker):
    # A report "saying" getattr was only used to fetch listed attributes: the
    # loader's getattr still refuses one the policy does not list.
    data = (b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x8c\x08zoneinfo\x8c\x08ZoneInfo\x93"
            b"\x8c\x0e__subclasses__\x86R)R.")
    report = _forged_report([_g("builtins", "getattr", protocol=4), _g("zoneinfo", "ZoneInfo", protocol=4),
                             dict(_g("zoneinfo", "ZoneInfo.__subclasses__", protocol=4), opcode="REDUCE")])
    with pytest.raises(pickleguard.UnsafePickleError, match="ZoneInfo.__subclasses__: not in the policy"):
        _guarded_load(data, report, policy="python")


def test_loader_refuses_persistent_ids():
    data = b"\x80\x02X\x07\x00\x00\x00storageQ."
    report = _forged_report([])
    with pytest.raises(pickleguard.UnsafePickleError, match="declares none"):
        _guarded_load(data, report, policy="python")
    with pytest.raises(pickleguard.UnsafePickleError, match="torch_load"):
        _guarded_load(data, report, policy="pytorch")
