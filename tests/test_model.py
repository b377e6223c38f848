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
    if name == "poisson_regression":  # L at the start only: the curvature e^z grows along the path
        advice = r"lower the learning rate \(2/L at the start is \S+, but the curvature changes along the path\)"
    else:
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


# -- targets, hyperparameter domains, the contract check ---------------------------------------


def _user_model(tmp_path, name: str, source: str) -> Model:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return load(str(path))


@pytest.mark.parametrize(
    "target, good, bad",
    [("positive", [1e-300, 0.5, 3e8], [0.0, -1.0]), ("unit", [1e-9, 0.5, 1 - 1e-9], [0.0, 1.0, 1.5, -0.2])],
)
def test_positive_and_unit_targets_accept_their_values_only(target, good, bad):
    """check_target accepts y > 0 (positive) and 0 < y < 1 (unit) and names the first value outside."""
    from lab.model import check_target

    check_target(np.array(good), target)
    for v in bad:
        with pytest.raises(ValueError, match=rf"found {v:g} at index 1"):
            check_target(np.array([good[1], v]), target)


@pytest.mark.parametrize("target", ["positive", "unit"])
def test_synthetic_data_fits_positive_and_unit_targets(tmp_path, target):
    """synthetic() draws targets of the new kinds that pass their own check and are not all alike."""
    m = _user_model(tmp_path, f"m_{target}", MLR_SOURCE.replace('TARGET = "real"', f'TARGET = "{target}"'))
    X, y, _ = synthetic(m, n=500, d=3, seed=2)
    m.check(None, X, y)
    assert np.all(y > 0) and (target != "unit" or np.all(y < 1))
    assert np.std(y) > 0.05 * np.mean(y)


@pytest.mark.parametrize(
    "text, inside, outside",
    [("(0, 1)", [1e-12, 0.5, 1 - 1e-12], [0.0, 1.0, -3.0]), ("[0, inf)", [0.0, 1e300], [-1e-300]),
     ("(-inf, 2]", [-1e300, 2.0], [2.0000001])],
)  # fmt: skip
def test_intervals_parse_and_contain_what_they_say(text, inside, outside):
    """parse_interval reads round and square brackets and inf; membership follows the brackets."""
    from lab.model import parse_interval

    iv = parse_interval(text)
    assert all(x in iv for x in inside) and not any(x in iv for x in outside)
    assert parse_interval(str(iv)) == iv


@pytest.mark.parametrize("text", ["0, 1", "(1, 0)", "(a, 1)", "[0, 1", "(nan, 1)"])
def test_bad_intervals_are_a_value_error(text):
    from lab.model import parse_interval

    with pytest.raises(ValueError, match="is not an interval"):
        parse_interval(text)


@pytest.mark.parametrize(
    "name, key, bad, good", [("ridge_regression", "lam", -0.1, 0.0), ("huber_regression", "delta", 0.0, 0.5),
                             ("hinge_svm", "lam", -1e-9, 1e-9), ("softmax_regression", "lam", -1.0, 0.0)],
)  # fmt: skip
def test_hyperparameters_outside_their_domain_are_refused_by_training(name, key, bad, good):
    """with_hyper, Model.check and fit refuse a value outside HYPER_DOMAIN, naming it and the domain;
    a value on a closed end is accepted."""
    m, _, X, y = _valid(name, n=30)
    with pytest.raises(ValueError, match=rf"{key} = {bad:g} is outside its domain [\[(]0, inf\)"):
        m.with_hyper(**{key: bad})
    with pytest.raises(ValueError, match="outside its domain"):
        fit(m, X, y, lr=0.01, steps=2, hyper={key: bad})
    forged = Model(m.name, m.module, ((key, bad),))  # made without with_hyper
    with pytest.raises(ValueError, match="outside its domain"):
        forged.check(None, X, y)
    fit(m, X, y, lr=0.01, steps=2, hyper={key: good})


def test_every_fuzz_range_lies_inside_its_domain():
    """The registered models' fuzz ranges sit inside their declared domains (load checks it)."""
    for name in MODELS:
        m = get(name)
        for k, (lo, hi) in m.hyperparameters.items():
            assert m.hyper_domains[k].covers(lo, hi), (name, k)


@pytest.mark.parametrize(
    "edit, pattern",
    [
        ('HYPERPARAMETERS = {"lam": (1e-3, 10.0)}', r"fuzzes \[-1, 10\], outside its domain \[0, inf\)"),
        ('HYPERPARAMETERS = {"lam": (1e-3, 10.0)}\nLAM = -0.5', r"default lam=-0.5 is outside"),
        ('HYPER_DOMAIN = {"lam": "[0, inf)", "mu": "(0, 1)"}', r"HYPER_DOMAIN names mu"),
        ('HYPER_DOMAIN = {"lam": "0 to 1"}', r"HYPER_DOMAIN\['lam'\]: '0 to 1' is not an interval"),
    ],
)
def test_bad_domain_declarations_are_refused_on_load(tmp_path, edit, pattern):
    """A fuzz range or default outside the domain, a domain for no hyperparameter, or one that does not
    parse: load raises a ModelError naming it."""
    src = (MODELS_DIR / "ridge_regression.py").read_text()
    if edit.startswith("HYPERPARAMETERS") and "LAM" not in edit:
        src = src.replace('HYPERPARAMETERS = {"lam": (1e-3, 10.0)}', 'HYPERPARAMETERS = {"lam": (-1.0, 10.0)}')
    elif "LAM" in edit:
        src = src.replace("LAM = 0.1", "LAM = -0.5")
    else:
        src = src.replace('HYPER_DOMAIN = {"lam": "[0, inf)"}', edit)
    with pytest.raises(ModelError, match=pattern):
        _user_model(tmp_path, "my_ridge", src)


#: what goes wrong -> the message it must give
BROKEN_RETURNS = {
    "grad returns a list": r"^grad returns a list; it must return a dict",
    "b of shape (1,)": r"^grad\['b'\] has shape \(1,\); params\['b'\] has shape \(\)$",
    "a list value": r"^grad\['w'\] is a list",
    "integer dtype": r"^grad\['w'\] has dtype int",
    "a missing key": r"^grad returns keys \['w'\]; params has keys \['b', 'w'\]$",
    "vector loss": r"^loss returns shape \(7,\); it must return a scalar",
    "loss raises": r"^loss raised KeyError",
    "not implemented": r"^grad is not implemented yet",
}


def _broken(case: str):
    """A module namespace like multivariate_linear_regression's, broken as ``case`` says."""
    from types import SimpleNamespace

    mod = get("multivariate_linear_regression").module
    ok_grad, ok_loss = mod.grad, mod.loss
    grads = {
        "grad returns a list": lambda p, X, y: list(ok_grad(p, X, y).values()),
        "b of shape (1,)": lambda p, X, y: {**ok_grad(p, X, y), "b": np.reshape(ok_grad(p, X, y)["b"], (1,))},
        "a list value": lambda p, X, y: {**ok_grad(p, X, y), "w": ok_grad(p, X, y)["w"].tolist()},
        "integer dtype": lambda p, X, y: {**ok_grad(p, X, y), "w": np.zeros(X.shape[1], dtype=int)},
        "a missing key": lambda p, X, y: {"w": ok_grad(p, X, y)["w"]},
    }
    losses = {
        "vector loss": lambda p, X, y: (X @ p["w"] + p["b"] - y) ** 2,
        "loss raises": lambda p, X, y: p["nope"],
    }

    def not_implemented(p, X, y):
        raise NotImplementedError("write the gradient")

    fake = SimpleNamespace(**{k: getattr(mod, k) for k in dir(mod) if not k.startswith("__")})
    fake.grad = not_implemented if case == "not implemented" else grads.get(case, ok_grad)
    fake.loss = losses.get(case, ok_loss)
    fake.__file__, fake.__name__ = mod.__file__, "broken"
    return Model("broken", fake)


@pytest.mark.parametrize("case", BROKEN_RETURNS)
def test_the_contract_check_names_the_function_and_key(case):
    """check_contract raises a one-line ModelError naming what loss or grad returned wrong; fit and
    the correct model pass."""
    from lab.model import check_contract

    pattern = BROKEN_RETURNS[case]
    m, params, X, y = _valid("multivariate_linear_regression", n=7)
    params, X, y = m.check(params, X, y)
    check_contract(m, params, X, y)  # the real model keeps the contract
    bad = _broken(case)
    with pytest.raises(ModelError, match=pattern) as e:
        check_contract(bad, params, X, y)
    assert len(str(e.value).splitlines()) == 1
    with pytest.raises(ModelError, match=pattern):
        fit(bad, X, y, lr=0.1, steps=3)
