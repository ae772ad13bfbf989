"""Real objects from Debian's numpy, pandas, scikit-learn and torch,
pickled here, load through pickleguard exactly as through pickle.loads under
their policy. A library that is not installed skips its tests."""
import io
import pickle
import zipfile

import pytest

import pickleguard
from conftest import malicious_payloads, module_names

PROTOCOLS = [2, 4, 5]


def _same_pickle(a, b):
    # Equal objects pickle to equal bytes: a check that covers every attribute.
    return pickle.dumps(a, protocol=4) == pickle.dumps(b, protocol=4)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_zoneinfo_datetimes(protocol):
    # ZoneInfo pickles as getattr(zoneinfo.ZoneInfo, '_unpickle')(key, 1):
    # the loader's getattr fetches only the attribute the policy lists.
    zoneinfo = pytest.importorskip("zoneinfo")
    import datetime
    try:
        zone = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone database (tzdata)")
    value = {"when": datetime.datetime(2024, 3, 31, 1, 30, tzinfo=zone), "zone": zone}
    data = pickle.dumps(value, protocol=protocol)
    assert pickleguard.scan(data, policy="python").verdict == "safe"
    assert pickleguard.loads(data, policy="python") == value


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_numpy_arrays(protocol):
    np = pytest.importorskip("numpy")
    values = {
        "f64": np.linspace(0, 1, 50).reshape(5, 10),
        "i32": np.arange(12, dtype=np.int32),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "bool": np.array([True, False]),
        "complex": np.array([1 + 2j], dtype=np.complex64),
        "structured": np.array([(1, 2.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
        "scalar": np.float32(3.5),
        "dtype": np.dtype("<u2"),
        "empty": np.zeros((0, 3)),
    }
    data = pickle.dumps(values, protocol=protocol)
    expected = pickle.loads(data)
    got = pickleguard.loads(data, policy="numpy")
    assert got.keys() == expected.keys()
    for key in values:
        if isinstance(expected[key], np.ndarray):
            assert got[key].dtype == expected[key].dtype
            assert got[key].flags["F_CONTIGUOUS"] == expected[key].flags["F_CONTIGUOUS"]
            np.testing.assert_array_equal(got[key], expected[key])
        else:
            assert got[key] == expected[key] and type(got[key]) is type(expected[key])
    assert _same_pickle(got, expected)
    assert pickleguard.loads(data, policy="default").keys() == expected.keys()


def test_numpy_object_arrays_need_their_contents_allowed():
    np = pytest.importorskip("numpy")
    data = pickle.dumps(np.array([{"a": 1}, None], dtype=object), protocol=4)
    got = pickleguard.loads(data, policy="numpy")
    assert got[0] == {"a": 1} and got[1] is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pandas_dataframe(protocol):
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    frame = pd.DataFrame({
        "x": np.arange(5, dtype=np.int64),
        "y": np.linspace(0.0, 1.0, 5),
        "name": ["a", "b", "c", "d", "e"],
    }, index=pd.RangeIndex(10, 15))
    series = pd.Series([1.5, 2.5], index=["p", "q"], name="s")
    data = pickle.dumps({"frame": frame, "series": series}, protocol=protocol)
    expected = pickle.loads(data)
    got = pickleguard.loads(data, policy="pandas")
    assert got["frame"].equals(expected["frame"]) and got["frame"].equals(frame)
    assert list(got["frame"].dtypes) == list(frame.dtypes)
    assert got["series"].equals(series) and got["series"].name == "s"
    with pytest.raises(pickleguard.UnsafePickleError):
        pickleguard.loads(data, policy="numpy")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sklearn_estimators(protocol):
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    data = pickle.dumps(model, protocol=protocol)
    expected = pickle.loads(data)
    got = pickleguard.loads(data, policy="sklearn")
    assert type(got) is type(expected)
    np.testing.assert_array_equal(got.predict(X), expected.predict(X))
    np.testing.assert_array_equal(got[-1].coef_, expected[-1].coef_)
    assert got.get_params(deep=False).keys() == expected.get_params(deep=False).keys()
    assert _same_pickle(got, expected)
    # Not under a policy that does not name scikit-learn: refused, nothing imported.
    with pytest.raises(pickleguard.UnsafePickleError):
        pickleguard.loads(data, policy="python")


def _state_dict():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    return torch, model.state_dict()


def test_torch_state_dict(tmp_path):
    torch, state = _state_dict()
    path = tmp_path / "model.pt"
    # The loss as a tensor: torch 1.13's weights-only unpickler has no BINFLOAT.
    torch.save({"state_dict": state, "epoch": 3, "loss": torch.tensor(0.25)}, path)
    expected = torch.load(path)
    got = pickleguard.torch_load(path, map_location="cpu")
    assert got.keys() == expected.keys() and got["epoch"] == 3 and torch.equal(got["loss"], expected["loss"])
    assert got["state_dict"].keys() == state.keys()
    for key, tensor in state.items():
        assert torch.equal(got["state_dict"][key], tensor)
    with open(path, "rb") as f:
        again = pickleguard.torch_load(f)
    assert again["state_dict"].keys() == state.keys()
    # A state_dict through torch_load with the default policy too (it includes pytorch).
    assert pickleguard.torch_load(str(path), policy="default")["epoch"] == 3


def test_torch_legacy_format(tmp_path):
    torch, state = _state_dict()
    path = tmp_path / "legacy.pt"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    try:
        report = pickleguard.scan(path, policy="pytorch")
    except OSError:
        pytest.skip("cannot read the file")
    if not report.safe:
        pytest.skip(f"this build does not read legacy torch files yet: {report.verdict}")
    got = pickleguard.torch_load(path)
    assert all(torch.equal(got[k], v) for k, v in state.items())


def test_poisoned_torch_checkpoint_is_refused(tmp_path, marker):
    torch, state = _state_dict()
    good = tmp_path / "good.pt"
    torch.save(state, good)
    poisoned = tmp_path / "poisoned.pt"
    payload = malicious_payloads(marker)["os_system_global_reduce_p0"]
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(poisoned, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data.pkl"):
                data = payload
            dst.writestr(info, data)
    modules = module_names()
    with pytest.raises(pickleguard.UnsafePickleError) as info:
        pickleguard.torch_load(poisoned)
    assert info.value.report is not None and not info.value.report.safe
    with pytest.raises(pickleguard.UnsafePickleError):
        pickleguard.torch_load(io.BytesIO(poisoned.read_bytes()))
    assert module_names() - modules == set()
    assert not marker.exists()


def test_torchscript_archives_are_refused(tmp_path):
    torch, _ = _state_dict()
    path = tmp_path / "scripted.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(path))
    with pytest.raises(pickleguard.UnsafePickleError) as info:
        pickleguard.torch_load(path)
    assert info.value.report is not None and not info.value.report.safe


def test_numpy_pickle_is_not_a_checkpoint(tmp_path):
    np = pytest.importorskip("numpy")
    pytest.importorskip("torch")
    path = tmp_path / "array.pkl"
    path.write_bytes(pickle.dumps(np.arange(3), protocol=2))
    with pytest.raises(pickleguard.UnsafePickleError):
        pickleguard.torch_load(path, policy="default")
