"""Data (lab/data.py): scikit-learn's bundled sets, standardization and its inverse, CSV files, and
their errors through ``lab train --csv`` (exit 2, one line)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import arrays

from lab.cli import main
from lab.data import DATASETS, Standardizer, load, read_csv
from lab.model import check_target, get
from lab.optim import fit

# -- bundled data sets --------------------------------------------------------------------------


@pytest.mark.parametrize("name, shape, kind", [("diabetes", (442, 10), "real"), ("breast_cancer", (569, 30), "binary")])
def test_load_bundled_data_sets(name, shape, kind):
    """Each set loads without a download, in its original units, with one name per feature."""
    ds = load(name)
    assert ds.X.shape == shape and ds.y.shape == (shape[0],) and len(ds.features) == shape[1]
    assert ds.X.dtype == ds.y.dtype == np.float64 and np.all(np.isfinite(ds.X))
    check_target(ds.y, kind)
    assert np.any(np.abs(ds.X.mean(axis=0)) > 1)  # not pre-scaled


def test_load_unknown_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown data set 'iris'; choose one of diabetes, breast_cancer"):
        load("iris")
    assert set(DATASETS) == {"diabetes", "breast_cancer"}


# -- standardization ----------------------------------------------------------------------------------


@st.composite
def scaled_features(draw):
    """X with columns of very different offsets and scales, none constant."""
    n = draw(st.integers(3, 40), label="n")
    d = draw(st.integers(1, 5), label="d")
    Z = draw(arrays((n, d), 10.0), label="Z")
    for j in range(d):
        if np.ptp(Z[:, j]) == 0:  # make every column vary
            Z[0, j] += 1.0
    offset = draw(arrays((d,), 1e3), label="offset")
    scale = draw(hnp.arrays(np.float64, d, elements=st.sampled_from([1e-3, 0.5, 1.0, 7.0, 1e3])), label="scale")
    return Z * scale + offset


@given(X=scaled_features(), data=st.data())
def test_inverse_gives_identical_predictions(X, data):
    """For any w, b on standardized X, the inverse's w_orig = w/σ, b_orig = b − Σ w μ/σ give the same
    score on the original X (to rounding); transform gives mean 0 and standard deviation 1."""
    s = Standardizer().fit(X)
    Z = s.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-9)
    w = data.draw(arrays((X.shape[1],), 10.0), label="w")
    b = data.draw(st.floats(-10, 10), label="b")
    orig = s.inverse({"w": w, "b": np.asarray(b)})
    score, again = Z @ w + b, X @ orig["w"] + orig["b"]
    tol = 1e-9 * (np.abs(Z) @ np.abs(w) + abs(b) + np.abs(X) @ np.abs(orig["w"]) + 1)
    assert np.all(np.abs(score - again) <= tol)


def test_inverse_on_diabetes_predicts_the_same_and_is_the_raw_fit():
    """Least squares fitted on standardized diabetes, mapped back, predicts identically on the raw
    features and equals the least-squares fit on the raw features."""
    ds = load("diabetes")
    m = get("multivariate_linear_regression")
    s = Standardizer().fit(ds.X, ds.features)
    params, _ = fit(m, s.transform(ds.X), ds.y, optimizer="closed")
    orig = s.inverse(params)
    np.testing.assert_allclose(m.predict(orig, ds.X), m.predict(params, s.transform(ds.X)), rtol=1e-12)
    raw = np.linalg.lstsq(np.hstack([ds.X, np.ones((442, 1))]), ds.y, rcond=None)[0]
    np.testing.assert_allclose(np.append(orig["w"], orig["b"]), raw, rtol=1e-8)


def test_inverse_for_a_scalar_weight_and_a_weight_matrix():
    """One feature (w a scalar, as in linear_regression) and several classes (W of shape (d, k))."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 1)) * 3 + 5
    s = Standardizer().fit(X)
    p = s.inverse({"w": np.asarray(2.0), "b": np.asarray(1.0)})
    assert p["w"].shape == () and p["b"].shape == ()
    np.testing.assert_allclose(X[:, 0] * p["w"] + p["b"], s.transform(X)[:, 0] * 2 + 1, rtol=1e-12)
    X = rng.standard_normal((20, 3)) * [1, 10, 100] + [0, -5, 50]
    s = Standardizer().fit(X)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    p = s.inverse({"W": W, "b": b})
    np.testing.assert_allclose(X @ p["W"] + p["b"], s.transform(X) @ W + b, rtol=1e-10, atol=1e-12)


def test_standardizer_errors():
    """A constant column is named; using it before fit, or on parameters that are not a linear score,
    is a ValueError."""
    X = np.column_stack([np.arange(5.0), np.full(5, 2.5)])
    with pytest.raises(ValueError, match=r"column 'height' is constant \(2.5 in every row\)"):
        Standardizer().fit(X, ["age", "height"])
    with pytest.raises(ValueError, match="not fitted yet"):
        Standardizer().transform(X)
    s = Standardizer().fit(X[:, :1])
    with pytest.raises(ValueError, match="linear score's parameters"):
        s.inverse({"W1": np.zeros((1, 2)), "b1": np.zeros(2), "w2": np.zeros(2), "b2": np.zeros(())})


# -- CSV -----------------------------------------------------------------------------------------------


def _write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_csv_round_trip(tmp_path):
    """The target column is y, the others (in file order) are X; whitespace and blank lines are fine."""
    path = _write(tmp_path, "a, label ,b\n1.5,1,2\n\n-3,0, 4e2\n0.25,1,-1\n")
    ds = read_csv(path, "label", kind="binary")
    assert ds.features == ("a", "b") and ds.target == "label"
    np.testing.assert_array_equal(ds.X, [[1.5, 2], [-3, 400], [0.25, -1]])
    np.testing.assert_array_equal(ds.y, [1, 0, 1])


GOOD = "x1,x2,y\n1,2,0\n2,1,1\n3,5,1\n4,3,0\n"

#: (id, file text or None for a missing file, target, model, message pattern)
CSV_ERRORS = [
    ("missing file", None, "y", "logistic_regression", r"no such file: .*absent\.csv$"),
    ("missing column", GOOD, "label", "logistic_regression", r"has no column 'label'; its columns are: x1, x2, y$"),
    ("non-numeric cell", "x1,x2,y\n1,2,0\n2,abc,1\n3,5,1\n", "y", "logistic_regression",
     r"row 2 \(line 3\), column 'x2' holds 'abc', which is not a number$"),
    ("empty cell", "x1,x2,y\n1,2,0\n2,,1\n3,5,1\n", "y", "logistic_regression",
     r"row 2 \(line 3\), column 'x2' is empty"),
    ("nan cell", "x1,x2,y\n1,2,0\n2,nan,1\n3,5,1\n", "y", "logistic_regression",
     r"row 2 \(line 3\), column 'x2' holds 'nan'; every cell must be a finite number$"),
    ("constant feature", "x1,x2,y\n1,7,0\n2,7,1\n3,7,1\n", "y", "logistic_regression",
     r"feature column 'x2' is constant \(7 in every row\); with the intercept it makes X̃ᵀX̃ singular"),
    ("labels that do not fit", "x1,x2,y\n1,2,0\n2,1,1\n3,5,2\n", "y", "logistic_regression",
     r"row 3 \(line 4\), column 'y' holds 2; a 'binary' model needs the labels 0 and 1$"),
    ("one class only", "x1,x2,y\n1,2,1\n2,1,1\n3,5,1\n", "y", "logistic_regression",
     r"column 'y' holds only the label 1; a classifier needs two classes$"),
    ("ragged row", "x1,x2,y\n1,2,0\n2,1\n3,5,1\n", "y", "logistic_regression",
     r"row 2 \(line 3\) has 2 cells; the header has 3$"),
    ("one data row", "x1,x2,y\n1,2,0\n", "y", "logistic_regression", r"has 1 data row\(s\); it needs at least 2$"),
    ("empty file", "", "y", "logistic_regression", r"is empty; expected a header row"),
    ("wrong feature count", GOOD, "y", "linear_regression", r"this model takes exactly 1 feature\(s\); X has 2"),
]  # fmt: skip


@pytest.mark.parametrize("case, text, target, model, pattern", CSV_ERRORS, ids=[c[0] for c in CSV_ERRORS])
def test_csv_errors_are_one_line_and_exit_2(tmp_path, capsys, case, text, target, model, pattern):
    """``lab train MODEL --csv FILE --target COL``: each bad file is exit 2 and one line on stderr
    naming the problem (the row, line and column where there is one), and nothing on stdout."""
    path = tmp_path / "absent.csv" if text is None else _write(tmp_path, text)
    assert main(["train", model, "--csv", str(path), "--target", target]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lab: error: ") and re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("argv, says", [
    (["--csv", "f.csv"], "--csv needs --target COLUMN"),
    (["--target", "y"], "--target goes with --csv"),
    (["--csv", "f.csv", "--target", "y", "--data", "diabetes"], "not allowed with argument"),
])  # fmt: skip
def test_csv_flags_go_together(capsys, argv, says):
    assert main(["train", "multivariate_linear_regression", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and says in err, err


def test_lab_train_on_a_csv_prints_coefficients_in_original_units(tmp_path, capsys):
    """Training on a CSV standardizes the features and prints the coefficients both ways; those in
    the original units are the least-squares fit on the raw columns."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 2)) * [2.0, 300.0] + [10.0, -40.0]
    y = X @ [1.5, -0.02] + 4 + 0.1 * rng.standard_normal(60)
    rows = "\n".join(f"{float(a)!r},{float(t)!r},{float(b)!r}" for (a, b), t in zip(X, y, strict=True))
    path = _write(tmp_path, "height,target,weight\n" + rows + "\n")
    assert main(["train", "multivariate_linear_regression", "--csv", str(path), "--target", "target",
                 "--optimizer", "closed"]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    assert err == "" and "60 rows, 2 features (standardized)" in out
    printed = {m[1]: float(m[3]) for m in re.finditer(r"^\s+(w\[\w+\]|b)\s+(\S+)\s+(\S+)$", out, re.M)}
    ref = np.linalg.lstsq(np.hstack([X, np.ones((60, 1))]), y, rcond=None)[0]
    got = [printed["w[height]"], printed["w[weight]"], printed["b"]]
    np.testing.assert_allclose(got, ref, rtol=1e-5)
