"""The package's API: scan inputs, reports, policies, safe loads."""
import collections
import datetime
import decimal
import io
import json
import os
import pathlib
import pickle
import subprocess
import sys
import threading

import pytest

import pickleguard
from conftest import SOURCE_DIR

BENIGN = {
    "ints": [1, -2, 3 ** 70],
    "text": ("caf\u00e9", b"\x00\xff", bytearray(b"ab")),
    "float": 1.5,
    "nested": {"a": [None, True, False], "b": {1, 2}, "c": frozenset({"x"})},
    "ordered": collections.OrderedDict([("k", 1)]),
    "counter": collections.Counter("abca"),
    "when": datetime.datetime(2024, 5, 6, 7, 8, 9),
    "decimal": decimal.Decimal("1.25"),
    "complex": complex(1, 2),
}


def test_version_and_policy_names():
    assert pickleguard.__version__
    names = pickleguard.shipped_policy_names()
    for name in ("default", "python", "numpy", "numpy-data", "pytorch", "sklearn", "pandas"):
        assert name in names


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_loads_round_trips_benign_values(protocol):
    data = pickle.dumps(BENIGN, protocol=protocol)
    assert pickleguard.loads(data, policy="python") == pickle.loads(data)
    assert pickleguard.loads(bytearray(data), policy="python") == BENIGN
    assert pickleguard.loads(memoryview(data)) == BENIGN
    assert pickleguard.load(io.BytesIO(data)) == BENIGN


def test_scan_accepts_every_input_form(tmp_path):
    data = pickle.dumps(BENIGN, protocol=4)
    path = tmp_path / "benign.pkl"
    path.write_bytes(data)
    for source in (data, bytearray(data), memoryview(data), str(path), path):
        report = pickleguard.scan(source, policy="python")
        assert report.verdict == "safe", report.findings
        assert report.bytes == len(data)
    assert pickleguard.scan(path).path == str(path)
    assert pickleguard.scan(data).path == "<bytes>"


def test_report_has_the_json_report_content():
    data = pickle.dumps(collections.OrderedDict(a=1), protocol=2)
    report = pickleguard.scan(data, policy="python")
    doc = json.loads(report.to_json())
    assert doc["tool"] == "pickleguard" and doc["policy"] == "python"
    assert doc["files"][0]["verdict"] == "safe"
    names = {(g["module"], g["name"]) for g in report.globals}
    assert ("collections", "OrderedDict") in names
    for g in report.globals:
        assert {"module", "name", "raw_module", "raw_name", "allowed", "uses", "offset", "opcode", "protocol"} <= set(g)
    assert all(g["allowed"] for g in report.globals)


def test_scan_matches_the_command_line(tmp_path):
    tool = pathlib.Path(os.environ.get("PICKLEGUARD_TOOL", ""))
    if not tool.is_file():
        pytest.skip("PICKLEGUARD_TOOL not set")
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(BENIGN, protocol=2))
    out = subprocess.run([str(tool), "scan", "--format", "json", "--policy", "python", str(path)],
                         capture_output=True, text=True, timeout=60)
    cli = json.loads(out.stdout)["files"][0]
    ours = pickleguard.scan(path, policy="python")
    assert (cli["verdict"], cli["findings"], cli["globals"]) == (ours.verdict, ours.findings, ours.globals)


def test_non_contiguous_buffers_are_refused():
    view = memoryview(b"abcdef")[::2]
    with pytest.raises(BufferError):
        pickleguard.scan(view)


def test_missing_file_is_an_os_error(tmp_path):
    missing = str(tmp_path / "missing.pkl")
    for sandbox in (True, False):
        with pytest.raises(OSError) as info:
            pickleguard.scan(tmp_path / "missing.pkl", sandbox=sandbox)
        assert str(info.value).count(missing) == 1, str(info.value)  # the path, said once
    with pytest.raises(OSError):
        pickleguard.load(tmp_path / "missing.pkl")


def test_str_data_is_not_a_pickle():
    with pytest.raises(TypeError):
        pickleguard.loads("not bytes")


def test_malformed_is_refused_with_an_error_verdict():
    with pytest.raises(pickleguard.UnsafePickleError) as info:
        pickleguard.loads(b"\x80\x02K")
    assert info.value.report.verdict in ("unsafe", "error")


def test_shipped_policies():
    numpy_policy = pickleguard.Policy.shipped("numpy")
    assert numpy_policy.name == "numpy"
    assert numpy_policy is pickleguard.Policy.shipped("numpy")
    entries = numpy_policy.entries
    assert entries and all({"module", "name", "uses", "origin"} <= set(e) for e in entries)
    assert any(e["module"] == "numpy.core.multiarray" and e["name"] == "_reconstruct" for e in entries)
    assert "python" in numpy_policy.includes
    assert numpy_policy.find("numpy.core.multiarray", "_reconstruct") is not None
    assert numpy_policy.find("os", "system") is None
    assert pickleguard.Policy.shipped("pytorch").persistent_ids
    assert not numpy_policy.persistent_ids
    with pytest.raises(ValueError):
        pickleguard.Policy.shipped("no-such-policy")


def test_policy_from_file(tmp_path):
    path = tmp_path / "team.toml"
    path.write_text('name = "team"\ndescription = "ordered dicts only"\n\n'
                    '[[allow]]\nmodule = "collections"\nname = "OrderedDict"\nuses = ["call", "setitem"]\n')
    team = pickleguard.Policy.from_file(path)
    assert team.name == "team" and len(team.entries) == 1
    value = collections.OrderedDict(a=1)
    data = pickle.dumps(value, protocol=2)
    assert pickleguard.loads(data, policy=team) == value
    assert pickleguard.loads(data, policy=str(path)) == value
    assert pickleguard.loads(data, policy=path) == value
    with pytest.raises(pickleguard.UnsafePickleError):
        pickleguard.loads(pickle.dumps(datetime.date(2020, 1, 2)), policy=team)
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ValueError):
        pickleguard.Policy.from_file(bad)


def test_policy_argument_type():
    with pytest.raises(TypeError):
        pickleguard.loads(pickle.dumps(1), policy=42)
    with pytest.raises(TypeError, match="not bytes"):
        pickleguard.Policy(b"python")
    with pytest.raises(TypeError):
        pickleguard.Policy(["python", 3])
    with pytest.raises(ValueError):
        pickleguard.Policy([])


def test_policy_constructor_takes_a_name_a_path_or_a_list(tmp_path):
    python = pickleguard.Policy("python")
    assert python.name == "python" and repr(python).startswith("<pickleguard.Policy 'python'")
    data = pickle.dumps(collections.OrderedDict(a=1), protocol=2)
    assert pickleguard.loads(data, policy=python) == collections.OrderedDict(a=1)
    with pytest.raises(ValueError, match="no-such-policy"):
        pickleguard.Policy("no-such-policy")
    extra = tmp_path / "extra.toml"
    extra.write_text('name = "extra"\n[[allow]]\nmodule = "types"\nname = "SimpleNamespace"\n'
                     'uses = ["call", "build"]\n')
    import types
    value = types.SimpleNamespace(a=1)
    both = pickleguard.Policy(["python", extra])
    assert both.find("types", "SimpleNamespace") is not None and both.find("collections", "OrderedDict") is not None
    for policy in (both, ["python", extra], ["python", str(extra)], ("python", extra)):
        assert pickleguard.loads(pickle.dumps(value, protocol=2), policy=policy) == value
    assert pickleguard.Policy(extra).name == "extra"
    with pytest.raises(pickleguard.UnsafePickleError):
        pickleguard.loads(pickle.dumps(value, protocol=2), policy="python")


def test_public_names_are_the_api():
    public = {n for n in dir(pickleguard) if not n.startswith("_")}
    # dir() (and so tab completion and help) shows the API, not the modules
    # the package imports for itself.
    assert public == set(pickleguard.__all__)
    assert all(hasattr(pickleguard, n) for n in pickleguard.__all__)


def test_scans_run_on_several_threads():
    data = pickle.dumps([list(range(1000)) for _ in range(200)], protocol=4)
    results = []

    def work():
        for _ in range(5):
            results.append(pickleguard.scan(data, policy="python").verdict)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == ["safe"] * 20


def test_example_attacks_are_refused():
    attacks = SOURCE_DIR / "examples" / "attacks"
    files = sorted(attacks.glob("*.pkl"))
    assert files
    modules = set(sys.modules)
    for path in files:
        with pytest.raises(pickleguard.UnsafePickleError):
            pickleguard.load(path)
    assert set(sys.modules) - modules == set()


# ---- the report schema: one table in C++ (pickleguard/report_schema.hpp) ------


def _unsafe_report():
    # GLOBAL os system, then STOP: never unpickled, only scanned.
    return pickleguard.scan(b"cos\nsystem\n.", sandbox=False)


def test_report_schema_matches_the_json_report_key_for_key():
    # The writer walks the same table in C++; this is the Python side of the
    # agreement: every key, in order, and no key the table does not list.
    tables = pickleguard.REPORT_SCHEMA["tables"]
    report = _unsafe_report()
    assert report.findings and report.globals
    assert list(report._file) == [name for name, *_ in tables["file_report"]]
    for finding in report.findings:
        assert list(finding) == [name for name, *_ in tables["finding"]]
    for glob in report.globals:
        assert list(glob) == [name for name, *_ in tables["global_report"]]
    kinds = {name: kind for name, kind, *_ in tables["finding"]}
    # A location crosses the wire as steps; the JSON (and so Python) has its text, or None.
    assert kinds["offset"] == "optional_number" and kinds["member"] == "location"
    assert all(f["member"] is None for f in report.findings)
    sizes = {name: size for name, _, _, size in tables["global_report"]}
    assert (sizes["protocol"], sizes["offset"], sizes["allowed"], sizes["module"]) == (1, 8, 1, None)
    enums = pickleguard.REPORT_SCHEMA["enumerations"]
    assert report.verdict in enums["verdict"]
    assert all(f["severity"] in enums["severity"] for f in report.findings)


def test_report_has_an_attribute_per_file_report_field():
    report = _unsafe_report()
    for name, *_ in pickleguard.REPORT_SCHEMA["tables"]["file_report"]:
        assert getattr(report, name) == report._file[name], name
    assert report.readings == ["pickle"] and report.pickles == 1


def test_every_report_key_the_package_reads_is_in_the_schema():
    # The Python layer reads findings and globals by key (g["raw_module"]);
    # a field renamed or removed in the C++ table must not leave a key here
    # that no report has. Every constant subscript in the package must name
    # a report field, a key of the report document, or a key of a policy
    # entry (Policy.entries, the only other dicts it reads).
    import ast

    tables = pickleguard.REPORT_SCHEMA["tables"]
    known = {name for rows in tables.values() for name, *_ in rows}
    known |= set(_unsafe_report().document)
    known |= set(pickleguard.Policy.shipped("default").entries[0])
    known |= set(pickleguard.REPORT_SCHEMA) | set(tables)
    source = pathlib.Path(pickleguard.__file__).read_text()
    read = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            read.add(node.slice.value)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            read.add(node.args[0].value)
    assert {"raw_module", "violation", "protocol", "files"} <= read  # the walk sees the package's reads
    assert read <= known, f"keys no report, document or policy entry has: {sorted(read - known)}"
