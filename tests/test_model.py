"""The registry (discovery, ``get``, ``load``) and the input checks around the model contract."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from strategies import any_problem

import lab.models
from lab.data import synthetic
from lab.model import TARGETS, Model, ModelError, get, load, names
from lab.optim import DivergedError, fit, smooth

MODELS = names()
MODELS_DIR = Path(lab.models.__file__).parent
THREE = ["linear_regression", "logistic_regression", "multivariate_linear_regression"]
BINARY = [n for n in MODELS if get(n).target == "binary"]
MLR_SOURCE = (MODELS_DIR / "multivariate_linear_regression.py").read_text()


# -- the registry ---------------------------------------------------------------------------


def test_names_are_the_public_files_in_lab_models():
    """``names()`` is every public module of lab/models/, sorted, and includes the three models."""
    files = sorted(p.stem for p in MODELS_DIR.glob("*.py") if not p.stem.startswith("_"))
    assert MODELS == files
    assert set(THREE) <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_get_returns_a_model_that_keeps_the_contract(name):
    """``get(name)`` wraps the module of that name: a known TARGET and the contract's functions."""
    m = get(name)
    assert isinstance(m, Model) and m.name == name
    assert m.module is importlib.import_module(f"lab.models.{name}")
    assert m.target in TARGETS
    for attr in ("init", "loss", "grad", "predict"):
        assert callable(getattr(m.module, attr)), attr


def test_get_unknown_model_raises_model_error_naming_it():
    """An unknown name is a ``ModelError`` (a ``ValueError``) naming it and the known ones."""
    with pytest.raises(ModelError, match="'nope'") as e:
        get("nope")
    assert isinstance(e.value, ValueError)
    assert all(n in str(e.value) for n in MODELS)


def test_a_file_dropped_into_the_models_folder_is_discovered(tmp_path, monkeypatch):
    """Models are discovered from the package path, never listed: a new public file appears in
    ``names()`` and ``get`` loads it; a file starting with ``_`` is not a model."""
    (tmp_path / "zz_discovered.py").write_text(MLR_SOURCE)
    (tmp_path / "_helper.py").write_text("X = 1\n")
    monkeypatch.setattr(lab.models, "__path__", [*lab.models.__path__, str(tmp_path)])
    importlib.invalidate_caches()
    try:
        assert "zz_discovered" in names() and "_helper" not in names()
        m = get("zz_discovered")
        assert Path(m.module.__file__) == tmp_path / "zz_discovered.py"
    finally:
        sys.modules.pop("lab.models.zz_discovered", None)


def test_load_a_model_file_by_path(tmp_path):
    """``load(path)`` imports a user's file under its stem; it computes what the original does."""
    path = tmp_path / "my_model.py"
    path.write_text(MLR_SOURCE)
    m = load(str(path))
    assert m.name == "my_model" and Path(m.module.__file__) == path
    X, y, params = synthetic(m, n=7, d=2, seed=1)
    ref = get("multivariate_linear_regression").grad(params, X, y)
    got = m.grad(params, X, y)
    assert all(np.array_equal(got[k], ref[k]) for k in ref)


def test_load_by_registered_or_dotted_name():
    """``load`` accepts a registered name and a dotted module name."""
    assert load("logistic_regression").module is get("logistic_regression").module
    m = load("lab.models.linear_regression")
    assert m.name == "linear_regression" and m.module is get("linear_regression").module
    with pytest.raises(ModelError, match="no model module named 'lab.models.nope'"):
        load("lab.models.nope")


def test_load_missing_file_raises_model_error(tmp_path):
    """A path to no file names the file."""
    with pytest.raises(ModelError, match="no such model file"):
        load(str(tmp_path / "absent.py"))


def test_load_a_file_that_raises_on_import(tmp_path):
    """A file that raises on import is a ``ModelError`` saying it does not import, and why."""
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ModelError, match=r"does not import: RuntimeError: boom"):
        load(str(path))
    assert "lab_user_models.broken" not in sys.modules


def test_load_a_module_lacking_grad_names_grad(tmp_path):
    """A module without ``grad`` is rejected with a message naming ``grad``."""
    path = tmp_path / "no_grad.py"
    path.write_text(MLR_SOURCE.replace("def grad(", "def _not_grad("))
    with pytest.raises(ModelError, match=r"'no_grad' lacks grad\b"):
        load(str(path))


def test_load_a_module_with_an_unknown_target(tmp_path):
    """A ``TARGET`` outside lab.model.TARGETS is rejected, naming the bad value."""
    path = tmp_path / "bad_target.py"
    path.write_text(MLR_SOURCE.replace('TARGET = "real"', 'TARGET = "reals"'))
    with pytest.raises(ModelError, match=r"TARGET 'reals'"):
        load(str(path))


# -- input through the Model wrapper --------------------------------------------------------


@given(p=any_problem())
def test_valid_input_passes_the_checks_unchanged(p):
    """Any valid problem, as arrays or nested lists, passes ``Model.check`` as the same values
    in float64 arrays."""
    m = get(p.model)
    for params, X, y in [
        (p.params, p.X, p.y),
        ({k: v.tolist() for k, v in p.params.items()}, p.X.tolist(), p.y.tolist()),
    ]:
        params, X, y = m.check(params, X, y)
        for got, ref in [(X, p.X), (y, p.y), *((params[k], v) for k, v in p.params.items())]:
            assert got.dtype == np.float64 and np.array_equal(got, ref)


def _valid(name: str, n: int = 5):
    """A small valid problem: synthetic data of the model's TARGET, parameters of 0.5."""
    m = get(name)
    X, y, _ = synthetic(m, n=n, d=3, seed=0)
    return m, {k: np.full(v.shape, 0.5) for k, v in m.init(X.shape[1]).items()}, X, y


def put(a, index, value):
    a = np.array(a, dtype=float)
    a[index] = value
    return a


#: (id, change to (X, y), message pattern, whether predict sees the problem too)
BAD_DATA = [
    ("shape mismatch", lambda X, y: (X, y[:-1]), r"mismatch: X has 5 rows but y has 4", False),
    ("NaN in X", lambda X, y: (put(X, (2, 0), np.nan), y), r"X holds NaN at row 2, column 0", True),
    ("inf in X", lambda X, y: (put(X, (1, 0), np.inf), y), r"X holds inf at row 1, column 0", True),
    ("-inf in X", lambda X, y: (put(X, (4, 0), -np.inf), y), r"X holds inf at row 4", True),
    ("NaN in y", lambda X, y: (X, put(y, 3, np.nan)), r"y holds NaN at index 3", False),
    ("inf in y", lambda X, y: (X, put(y, 0, np.inf)), r"y holds inf at index 0", False),
    ("empty X", lambda X, y: (X[:0], y[:0]), r"X is empty: shape \(0, ", True),
    ("no columns", lambda X, y: (X[:, :0], y), r"X is empty", True),
    ("3-D X", lambda X, y: (X[None], y), r"X must be 2-D .* got 3-D", True),
    ("1-D X", lambda X, y: (X[:, 0], y), r"X must be 2-D .*reshape\(-1, 1\)", True),
    ("2-D y", lambda X, y: (X, y[:, None]), r"y must be 1-D", False),
    ("text in X", lambda X, y: (np.full(X.shape, "abc", object), y), r"X must hold numbers", True),
]


def _calls(model: Model, params, X, y, with_predict: bool):
    yield "loss", lambda: model.loss(params, X, y)
    yield "grad", lambda: model.grad(params, X, y)
    if with_predict:
        yield "predict", lambda: model.predict(params, X)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("case, change, pattern, predict", BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_data_is_a_value_error_naming_the_problem(name, case, change, pattern, predict):
    """loss, grad and predict turn each kind of bad data into a ``ValueError`` naming it."""
    m, params, X, y = _valid(name)
    X, y = change(X, y)
    for _, call in _calls(m, params, X, y, predict):
        with pytest.raises(ValueError, match=pattern):
            call()


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("label", [2.0, 0.5, -1.0])
def test_binary_labels_outside_0_and_1_are_rejected(name, label):
    """Labels other than 0 and 1 are a ``ValueError`` that names the value and its index."""
    m, params, X, y = _valid(name)
    y = put(y, 3, label)
    for _, call in _calls(m, params, X, y, with_predict=False):
        with pytest.raises(ValueError, match=rf"0 and 1.*found {label:g} at index 3"):
            call()


def test_linear_regression_takes_exactly_one_feature():
    """linear_regression declares N_FEATURES = 1: two columns is a ``ValueError`` saying so."""
    m, params, X, y = _valid("linear_regression")
    X2 = np.hstack([X, X])
    for _, call in _calls(m, params, X2, y, with_predict=True):
        with pytest.raises(ValueError, match=r"exactly 1 feature"):
            call()


def _bad_params(params, case):
    """Params broken in one way: ``case`` is one of BAD_PARAMS."""
    k = next(iter(params))
    return {
        "missing key": lambda: {j: v for j, v in params.items() if j != k},
        "extra key": lambda: {**params, "extra": np.zeros(())},
        "wrong shape": lambda: {**params, k: np.zeros(np.shape(params[k]) + (2,))},
        "NaN": lambda: {**params, k: np.full(np.shape(params[k]), np.nan)},
        "not a dict": lambda: list(params.values()),
    }[case]()


#: (id, message pattern; {k} is the first parameter's name)
BAD_PARAMS = [
    ("missing key", r"params has keys .* needs"),
    ("extra key", r"params has keys .* needs"),
    ("wrong shape", r"params\['{k}'\] has shape"),
    ("NaN", r"params\['{k}'\] is not finite"),
    ("not a dict", r"params must be a dict"),
]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("case, pattern", BAD_PARAMS, ids=[c[0] for c in BAD_PARAMS])
def test_bad_params_are_a_value_error_naming_the_problem(name, case, pattern):
    """Missing or extra keys, wrong shapes, NaN, or a non-dict: each a ``ValueError`` naming it."""
    m, params, X, y = _valid(name)
    bad = _bad_params(params, case)
    for _, call in _calls(m, bad, X, y, with_predict=True):
        with pytest.raises(ValueError, match=pattern.format(k=next(iter(params)))):
            call()


# -- fit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_fit_with_a_huge_learning_rate_raises_diverged_error_naming_the_step(name):
    """lr = 1e9 makes every model diverge: ``DivergedError`` (a ``ValueError``) names the step,
    the losses and the stable bound 2/L (or, for a model with no bound, says to lower the
    learning rate), and fit never hands back NaN parameters."""
    m, _, X, y = _valid(name, n=50)
    bounded = hasattr(m.module, "hessian") and smooth(m)
    advice = r"for this data a stable learning rate is below \d" if bounded else r"lower the learning rate$"
    with pytest.raises(DivergedError, match=rf"diverged at step [1-9]\d*: loss grew from .* to .*; {advice}") as e:
        fit(m, X, y, lr=1e9, steps=20)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("lr", [0.0, -0.1, np.nan, np.inf])
def test_fit_rejects_a_learning_rate_that_is_not_positive_and_finite(lr):
    """lr ≤ 0, NaN or inf is a ``ValueError`` about the learning rate, before any step."""
    m, _, X, y = _valid("linear_regression")
    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        fit(m, X, y, lr=lr)


def test_fit_rejects_negative_steps_and_bad_data():
    """Negative ``steps`` and NaN data are ``ValueError``s naming the problem."""
    m, _, X, y = _valid("multivariate_linear_regression")
    with pytest.raises(ValueError, match="steps must be non-negative"):
        fit(m, X, y, lr=0.1, steps=-1)
    with pytest.raises(ValueError, match="X holds NaN at row 0"):
        fit(m, put(X, (0, 1), np.nan), y, lr=0.1)


def test_fit_accepts_array_likes_as_the_model_does():
    """``fit`` takes nested lists, as ``Model.loss`` does, and gives the same result as arrays."""
    m, _, X, y = _valid("multivariate_linear_regression")
    ref, _ = fit(m, X, y, lr=0.1, steps=10)
    got, _ = fit(m, X.tolist(), y.tolist(), lr=0.1, steps=10)
    assert all(np.array_equal(got[k], ref[k]) for k in ref)
