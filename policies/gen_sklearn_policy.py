#!/usr/bin/python3
"""Generate policies/sklearn.toml from the installed scikit-learn.

    /usr/bin/python3 policies/gen_sklearn_policy.py [--check]

1. Every class that sklearn.utils.all_estimators() lists (after enabling the
   experimental estimators) gets an entry with uses new + build: a fitted
   estimator pickles as NEWOBJ <class> then BUILD <its __dict__>, which
   BaseEstimator.__setstate__ applies.
2. Each estimator the script can construct is fitted on a tiny data set and
   pickled (protocol 4); record_uses.py (tests/fixtures) walks the pickle and
   records every global and how it is used.  That finds the helper globals the
   estimators' state needs (tree structures, loss objects, kernels, sparse
   matrices ...).  The same is done for each scipy.sparse format.
3. Globals already allowed by the numpy policy (which includes python) are
   left to it.  A discovered class under sklearn.* or scipy.* is added with the
   uses seen; anything else (a function, or a class from another package) must
   be listed in REVIEWED below with a note, or the script stops and names it,
   so a person looks at it first.  Globals in policies/knowledge/dangerous.toml
   stop the script too.

With --check the generated text is compared with policies/sklearn.toml and the
exit status says whether they differ (nothing is written).
"""

import io
import os
import pickle
import re
import sys
import tomllib
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
import record_uses  # noqa: E402

warnings.filterwarnings("ignore")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse  # noqa: E402
import sklearn  # noqa: E402
from sklearn.experimental import enable_halving_search_cv  # noqa: E402,F401
from sklearn.experimental import enable_iterative_imputer  # noqa: E402,F401
from sklearn.utils import all_estimators  # noqa: E402

# Globals outside sklearn/scipy classes that a person has looked at.
REVIEWED = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): (
        ["new", "build"],
        "joblib.dump's placeholder for a numpy array: NEWOBJ then BUILD {subclass, shape, order, dtype, "
        "allow_mmap[, numpy_array_alignment_bytes]}; joblib's unpickler then reads the array bytes that follow "
        "in the stream (after an alignment byte and padding), or, for object dtypes, a NESTED PICKLE that joblib "
        "loads with plain pickle.load: the scanner must check that nested pickle with this same policy. "
        "Added by hand: joblib streams cannot be walked as one pickle."),
    ("sklearn.metrics._scorer", "_passthrough_scorer"): (
        ["reference"],
        "Function stored as scorer_ by search estimators without a scoring argument; it only calls "
        "estimator.score(X, y)."),
    ("numpy", "mean"): (
        ["reference"],
        "numpy.mean stored as FeatureAgglomeration's pooling_func; a pure numeric function."),
    ("sklearn.cluster._kmeans", "_kmeans_single_lloyd"): (
        ["reference"],
        "Numeric k-means routine stored by BisectingKMeans (its _kmeans_single attribute)."),
    ("sklearn.cluster._kmeans", "_kmeans_single_elkan"): (
        ["reference"],
        "Numeric k-means routine stored by BisectingKMeans(algorithm='elkan'); the sibling of _kmeans_single_lloyd."),
    ("sklearn.feature_selection._univariate_selection", "f_classif"): (
        ["reference"],
        "Default score_func of the univariate feature selectors; a pure statistics function."),
    ("sklearn.feature_selection._univariate_selection", "f_regression"): (
        ["reference"],
        "score_func of univariate selectors on regression targets; a pure statistics function."),
    ("sklearn.feature_selection._univariate_selection", "chi2"): (
        ["reference"],
        "score_func of univariate selectors; a pure statistics function."),
    ("sklearn.metrics._dist_metrics", "newObj"): (
        ["call", "build"],
        "newObj(cls) returns cls.__new__(cls) for ANY class passed, then BUILD applies the state (a distance "
        "metric). Safe only because the scanner judges that instantiation (invokes): the class must be "
        "allowed \"new\"."),
    ("sklearn.neighbors._kd_tree", "newObj"): (
        ["call", "build"],
        "newObj(cls) returns cls.__new__(cls) for ANY class passed, then BUILD applies the KDTree state. "
        "Safe only because the scanner judges that instantiation (invokes)."),
    ("sklearn.neighbors._ball_tree", "BallTree"): (
        ["reference"],
        "BallTree, the sibling of KDTree, passed to newObj by neighbors estimators with algorithm='ball_tree'."),
    ("sklearn.neighbors._ball_tree", "newObj"): (
        ["call", "build"],
        "BallTree's copy of newObj(cls) = cls.__new__(cls), then BUILD applies the BallTree state. Safe only "
        "because the scanner judges that instantiation (invokes)."),
}

# Callables that instantiate one of their arguments (policy `invokes`): the
# scanner judges that instantiation as the stream's own, so the classes they
# are handed in these modules are allowed "new" and "build" too (BUILD applies
# the state to the instance newObj made).
INVOKES = {
    ("sklearn.metrics._dist_metrics", "newObj"): '[{ arg = 0, use = "new" }]',
    ("sklearn.neighbors._kd_tree", "newObj"): '[{ arg = 0, use = "new" }]',
    ("sklearn.neighbors._ball_tree", "newObj"): '[{ arg = 0, use = "new" }]',
}
INVOKED_MODULES = {module for module, _ in INVOKES}

# Families of helper classes: when one member turns up in a pickle, its
# siblings (subclasses of the same base defined in the same module) pickle the
# same way, so they get the members' union of uses.  (module, base class path).
FAMILIES = [
    ("sklearn._loss.loss", "sklearn._loss.loss", "BaseLoss"),
    ("sklearn._loss.link", "sklearn._loss.link", "BaseLink"),
    ("sklearn._loss._loss", "sklearn._loss._loss", "CyLossFunction"),
    ("sklearn.ensemble._gb_losses", "sklearn.ensemble._gb_losses", "LossFunction"),
    ("sklearn.linear_model._sgd_fast", "sklearn.linear_model._sgd_fast", "LossFunction"),
    ("sklearn.gaussian_process.kernels", "sklearn.gaussian_process.kernels", "Kernel"),
    ("sklearn.metrics._dist_metrics", "sklearn.metrics._dist_metrics", "DistanceMetric"),
    ("sklearn.model_selection._split", "sklearn.model_selection._split", "BaseCrossValidator"),
    ("sklearn.model_selection._split", "sklearn.model_selection._split", "BaseShuffleSplit"),
]

# Family members left out on purpose.
EXCLUDED = {
    ("sklearn.metrics._dist_metrics", "PyFuncDistance"):
        "wraps an arbitrary Python callable as a distance; allow it by hand if ever needed",
}

# Cython's generated unpickle helper __pyx_unpickle_<Class>(cls, checksum, state)
# checks the checksum of the class layout, calls <Class>.__new__(cls) (cls must
# be a subclass, else TypeError) and sets the fields from state.  Reviewed as a
# rule for helpers under sklearn.* whose <Class> is defined in the same module.
PYX_UNPICKLE = re.compile(r"^__pyx_unpickle_(\w+)$")

# Estimators all_estimators() lists but _construct_instance cannot build.
def construct_special(name):
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA, SparseCoder
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import (GridSearchCV, HalvingGridSearchCV, HalvingRandomSearchCV,
                                         RandomizedSearchCV)
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import StandardScaler
    return {
        "ColumnTransformer": lambda: ColumnTransformer([("s", StandardScaler(), [0, 1])], remainder="passthrough"),
        "FeatureUnion": lambda: FeatureUnion([("p", PCA(2)), ("s", StandardScaler())]),
        "GridSearchCV": lambda: GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2),
        "RandomizedSearchCV": lambda: RandomizedSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, n_iter=2,
                                                         cv=2, random_state=0),
        "Pipeline": lambda: Pipeline([("s", StandardScaler()), ("c", LogisticRegression())]),
        "SparseCoder": lambda: SparseCoder(dictionary=np.eye(4)[:3]),
        "HalvingGridSearchCV": lambda: HalvingGridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2,
                                                           random_state=0),
        "HalvingRandomSearchCV": lambda: HalvingRandomSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2,
                                                               random_state=0),
    }.get(name)


def data():
    rng = np.random.RandomState(0)
    X = np.abs(rng.normal(size=(40, 4))) + 0.1
    return {
        "X": X,
        "y_cls": np.arange(40) % 3,
        "y_reg": X @ np.array([1.0, 2.0, 0.5, 0.0]) + np.abs(rng.normal(scale=0.1, size=40)),
        "y_multi": np.stack([np.arange(40) % 2, (np.arange(40) // 2) % 2], axis=1),
        "docs": ["the cat sat", "the dog ran", "a cat and a dog", "nothing here"] * 3,
        "dicts": [{"a": 1, "b": 2}, {"a": 3, "c": 1}],
    }


MULTI_OUTPUT = {"MultiOutputClassifier", "MultiOutputRegressor", "ClassifierChain", "RegressorChain"}


def fit(name, est, d):
    from sklearn.base import is_classifier, is_regressor
    X = d["X"]
    if name in ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer"):
        return est.fit(d["docs"])
    if name == "TfidfTransformer":
        return est.fit(np.round(X * 3))
    if name in ("DictVectorizer",):
        return est.fit(d["dicts"])
    if name == "FeatureHasher":
        return est.fit(d["dicts"])
    if name in ("LabelEncoder", "LabelBinarizer"):
        return est.fit(d["y_cls"])
    if name == "MultiLabelBinarizer":
        return est.fit([[1, 2], [3]])
    if name == "IsotonicRegression":
        return est.fit(X[:, 0], d["y_reg"])
    if name == "KernelCenterer":
        return est.fit(X @ X.T)
    if name.startswith("MultiTask") or name in ("CCA", "PLSCanonical", "PLSSVD"):
        return est.fit(X, d["y_multi"].astype(float) + X[:, :1])
    if name in MULTI_OUTPUT:
        y = d["y_multi"] if "Classifier" in name else d["y_multi"].astype(float)
        return est.fit(X, y)
    if is_classifier(est):
        try:
            return est.fit(X, d["y_cls"])
        except Exception:
            return est.fit(X, d["y_cls"] % 2)
    if is_regressor(est):
        return est.fit(X, d["y_reg"])
    try:
        return est.fit(X)
    except Exception:
        return est.fit(X, d["y_cls"])


def sparse_samples():
    base = np.array([[0, 1.5, 0], [2, 0, 0], [0, 0, 3]])
    out = []
    for fmt in ("csr", "csc", "coo", "bsr", "dia", "dok", "lil"):
        for kind in ("matrix", "array"):
            cls = getattr(scipy.sparse, f"{fmt}_{kind}", None)
            if cls is not None:
                out.append((f"{fmt}_{kind}", cls(base)))
    return out


def load_policy(name, seen=None):
    with open(os.path.join(HERE, f"{name}.toml"), "rb") as f:
        pol = tomllib.load(f)
    entries = list(pol.get("allow", []))
    for inc in pol.get("include", []):
        entries += load_policy(inc)
    return entries


def allowed_uses(entries, module, name):
    uses = set()
    for e in entries:
        if "module" in e and e["module"] != module:
            continue
        if "module_pattern" in e and not re.fullmatch(e["module_pattern"], module):
            continue
        if "name" in e and e["name"] != name:
            continue
        if "name_pattern" in e and not re.fullmatch(e["name_pattern"], name):
            continue
        uses.update(e["uses"])
    return uses


def dangerous():
    with open(os.path.join(HERE, "knowledge", "dangerous.toml"), "rb") as f:
        kb = tomllib.load(f)["global"]

    def match(module, name):
        for g in kb:
            if g["module"] != module:
                continue
            if ("name" in g and g["name"] == name) or ("name_pattern" in g and re.fullmatch(g["name_pattern"], name)):
                return g
        return None
    return match


def resolve(module, name):
    import importlib
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    d = data()
    estimators = all_estimators()
    from sklearn.utils.estimator_checks import _construct_instance

    found = {}      # (module, name) -> set(uses)
    seen_in = {}    # (module, name) -> set(estimator names)
    fitted, failed = [], []

    def record(label, obj):
        res, _ = record_uses.record_bytes(pickle.dumps(obj, protocol=4))
        for g in res["globals"]:
            key = (g["module"], g["name"])
            found.setdefault(key, set()).update(g["uses"])
            seen_in.setdefault(key, set()).add(label)

    for name, cls in estimators:
        maker = construct_special(name)
        try:
            est = maker() if maker else _construct_instance(cls)
        except BaseException as e:  # SkipTest derives from BaseException in some pytest versions
            failed.append((name, f"construct: {type(e).__name__}"))
            continue
        for param, value in (("k", 2), ("n_components", 2)):
            if name in ("SelectKBest", "GaussianRandomProjection", "SparseRandomProjection") \
                    and param in est.get_params():
                est.set_params(**{param: value})
        try:
            with np.errstate(all="ignore"):
                est = fit(name, est, d)
            record(name, est)
            fitted.append(name)
        except Exception as e:
            failed.append((name, f"fit/pickle: {type(e).__name__}: {str(e)[:60]}"))
            try:
                record(name, est)  # an unfitted instance still shows its parameter objects
            except Exception:
                pass
    for label, obj in sparse_samples():
        record(f"scipy.sparse {label}", obj)

    numpy_policy = load_policy("numpy")
    is_dangerous = dangerous()
    entries = {}  # (module, name) -> (uses, note)
    problems = []

    for name, cls in estimators:
        key = (cls.__module__, cls.__qualname__)
        how = "fitted and pickled by the generator" if name in fitted else "not fitted by the generator"
        entries[key] = ({"new", "build"} | found.get(key, set()),
                        f"Estimator {name} (all_estimators, {how}): NEWOBJ then BUILD with its __dict__ "
                        f"via BaseEstimator.__setstate__.")

    for key, uses in sorted(found.items()):
        module, name = key
        if key in entries:
            continue
        have = allowed_uses(numpy_policy, module, name)
        if uses <= have:
            continue
        if is_dangerous(module, name):
            problems.append(f"{module}.{name} is in dangerous.toml (seen in {sorted(seen_in[key])[:3]})")
            continue
        users = sorted(seen_in[key])
        shown = ", ".join(users[:4]) + (f" and {len(users) - 4} more" if len(users) > 4 else "")
        if key in REVIEWED:
            fixed_uses, note = REVIEWED[key]
            if not uses <= set(fixed_uses):
                problems.append(f"{module}.{name} used as {sorted(uses)}, REVIEWED allows {fixed_uses}")
            entries[key] = (set(fixed_uses), f"{note} Seen in pickles of {shown}.")
            continue
        m = PYX_UNPICKLE.match(name)
        if m and module.startswith("sklearn.") and uses <= {"call", "build"}:
            try:
                resolve(module, m.group(1))
            except Exception:
                problems.append(f"{module}.{name}: no class {m.group(1)} beside it")
                continue
            entries[key] = ({"call", "build"},
                            f"Cython unpickle helper: checks the layout checksum of {m.group(1)}, calls "
                            f"{m.group(1)}.__new__(cls) (cls must be a subclass) and BUILD sets the fields. "
                            f"Seen in pickles of {shown}.")
            continue
        try:
            obj = resolve(module, name)
        except Exception as e:
            problems.append(f"{module}.{name} does not resolve: {e}")
            continue
        if isinstance(obj, type) and module.split(".")[0] in ("sklearn", "scipy"):
            entries[key] = (uses, f"Helper class found in pickles of {shown}.")
        else:
            problems.append(f"{module}.{name} ({type(obj).__name__}, uses {sorted(uses)}) seen in {users[:4]}: "
                            f"review it and add it to REVIEWED")

    # Siblings of discovered helper classes, and the Cython unpickle helpers
    # of those siblings.
    import importlib
    import inspect
    for module, base_mod, base_name in FAMILIES:
        mod = importlib.import_module(module)
        base = getattr(importlib.import_module(base_mod), base_name)
        members = sorted(n for n, c in vars(mod).items()
                         if inspect.isclass(c) and issubclass(c, base) and c is not base
                         and not inspect.isabstract(c) and c.__module__ == module
                         and c.__qualname__ == n and (module, n) not in EXCLUDED)
        known = [n for n in members if (module, n) in entries]
        if not known:
            continue
        fam_uses = set().union(*(entries[(module, n)][0] for n in known))
        for n in members:
            if (module, n) in entries:
                continue
            entries[(module, n)] = (set(fam_uses), f"Sibling of {', '.join(known[:3])} (subclasses of "
                                                    f"{base_name}, pickled the same way); not seen in the "
                                                    f"generator's pickles.")
            helper = f"__pyx_unpickle_{n}"
            if any(PYX_UNPICKLE.match(k[1]) for k in entries if k[0] == module) and hasattr(mod, helper):
                entries[(module, helper)] = ({"call", "build"},
                                             f"Cython unpickle helper of {n} (see the other __pyx_unpickle_ "
                                             f"entries); not seen in the generator's pickles.")

    for key, (uses, note) in REVIEWED.items():
        if key in entries or allowed_uses(numpy_policy, *key) >= set(uses):
            continue
        try:
            resolve(*key)
        except Exception as e:
            problems.append(f"REVIEWED {key[0]}.{key[1]} does not resolve: {e}")
            continue
        entries[key] = (set(uses), note + " Not seen in the generator's pickles.")

    if problems:
        print("gen_sklearn_policy: stopping, these need a person's review:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        sys.exit(2)

    order = ["reference", "call", "new", "build", "append", "setitem", "additems"]
    lines = [
        "# GENERATED by policies/gen_sklearn_policy.py -- edit that script, not this file.",
        f"# scikit-learn {sklearn.__version__}, scipy {scipy.__version__}, numpy {np.__version__}, "
        f"Python {sys.version.split()[0]}.",
        f"# {len(estimators)} estimator classes from all_estimators(); {len(fitted)} fitted and pickled;",
        f"# not fitted: {', '.join(sorted(n for n, _ in failed)) or 'none'}.",
        "# Estimator classes are allowed to be created (NEWOBJ) and to receive BUILD; their",
        "# state dicts are checked value by value like anything else in the pickle.",
        "",
        'name = "sklearn"',
        'description = "Fitted scikit-learn estimators, pipelines and transformers, scipy.sparse matrices and '
        'joblib.dump files (numpy + python included)."',
        'include = ["numpy"]',
        "",
    ]
    for (module, name), (uses, note) in sorted(entries.items()):
        if module in INVOKED_MODULES and "reference" in uses and (module, name) not in INVOKES:
            uses = set(uses) | {"new", "build"}
        lines += [
            "[[allow]]",
            f"module = {toml_str(module)}",
            f"name = {toml_str(name)}",
            "uses = [" + ", ".join(toml_str(u) for u in order if u in uses) + "]",
        ] + ([f"invokes = {INVOKES[(module, name)]}"] if (module, name) in INVOKES else []) + [
            f"note = {toml_str(note)}",
            "",
        ]
    text = "\n".join(lines)
    out = os.path.join(HERE, "sklearn.toml")
    if "--check" in sys.argv:
        with open(out) as f:
            same = f.read() == text
        print("sklearn.toml is up to date" if same else "sklearn.toml differs from the generator's output")
        sys.exit(0 if same else 1)
    with open(out, "w") as f:
        f.write(text)
    print(f"wrote {out}: {len(entries)} entries; fitted {len(fitted)}/{len(estimators)}; "
          f"not fitted: {failed}")


if __name__ == "__main__":
    main()
