"""Data (lab/data.py): scikit-learn's bundled sets, the census surnames and their character pairs,
standardization and its inverse, CSV files, and their errors through ``lab train --csv`` (exit 2, one line)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import arrays

from lab import data
from lab.cli import main
from lab.data import DATASETS, VOCAB, Standardizer, context_pairs, decode, encode, load, read_csv, surnames
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


# -- the census surnames ---------------------------------------------------------------------------


def test_surnames_are_the_census_list_split_80_10_10():
    """88,799 distinct surnames of a to z, 2 to 13 letters, split 71,039 / 8,880 / 8,880 with no name in two
    parts; "smith", the most frequent, is among them."""
    s = surnames()
    everyone = s.train + s.validation + s.test
    assert (len(s.train), len(s.validation), len(s.test)) == (71_039, 8_880, 8_880)
    assert len(set(everyone)) == len(everyone) == 88_799
    assert set(s.train).isdisjoint(s.validation) and set(s.train).isdisjoint(s.test)
    assert set(s.validation).isdisjoint(s.test)
    assert all(re.fullmatch(r"[a-z]{2,13}", n) for n in everyone)
    assert min(map(len, everyone)) == 2 and max(map(len, everyone)) == 13
    assert "smith" in everyone and data._census_surnames()[0] == "smith"


def test_the_split_is_fixed_by_the_seed():
    """The same seed gives the same split, in the same order; another seed, another split of the same names."""
    a, b, c = surnames(0), surnames(0), surnames(1)
    assert a == b
    assert a.train != c.train and sorted(a.train + a.validation + a.test) == sorted(c.train + c.validation + c.test)
    with pytest.raises(ValueError, match="seed must be a non-negative integer; got -1"):
        surnames(-1)


def test_surnames_are_read_from_the_installed_package_without_the_network(monkeypatch):
    """With every socket refused, the list still loads: it comes from the package's files."""
    import socket

    def refused(*a, **k):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "socket", refused)
    monkeypatch.setattr(socket, "create_connection", refused)
    data._census_surnames.cache_clear()
    assert len(data._census_surnames()) == 88_799


def test_the_vocabulary_is_the_end_token_then_a_to_z():
    assert len(VOCAB) == 27 and VOCAB[0] == "." and VOCAB[1:] == "abcdefghijklmnopqrstuvwxyz"
    assert encode("az").tolist() == [1, 26] and decode([0, 5, 13, 13, 1, 0]) == ".emma."
    for bad in ("Emma", "o'neil", ""):
        with pytest.raises(ValueError, match="a name must be made of the letters a to z"):
            encode(bad)


def test_the_pairs_of_emma():
    """With a block of 3: ... → e, ..e → m, .em → m, emm → a, mma → end."""
    X, y = context_pairs(["emma"], block_size=3)
    assert X.dtype == y.dtype == np.int64 and X.shape == (5, 3) and y.shape == (5,)
    assert [decode(row) for row in X] == ["...", "..e", ".em", "emm", "mma"]
    assert decode(y) == "emma."
    X1, y1 = context_pairs("emma", block_size=1)
    assert [decode(row) for row in X1] == [".", "e", "m", "m", "a"] and decode(y1) == "emma."


LETTERS = "abcdefghijklmnopqrstuvwxyz"


@given(names=st.lists(st.text(alphabet=LETTERS, min_size=1, max_size=15), max_size=8), k=st.integers(1, 8))
def test_the_pairs_spell_each_name_and_its_end(names, k):
    """N = Σ (len + 1) pairs; the targets spell each name then the end token; each context is the k symbols
    before its target, the end token where the name has not begun; the input list is not changed."""
    before = list(names)
    X, y = context_pairs(names, block_size=k)
    assert X.shape == (sum(len(n) + 1 for n in names), k) and y.shape == (X.shape[0],)
    assert decode(y) == "".join(n + "." for n in names)
    i = 0
    for n in names:
        padded = "." * k + n + "."
        for j in range(len(n) + 1):
            assert decode(X[i]) == padded[j : j + k] and VOCAB[y[i]] == padded[j + k]
            i += 1
    assert names == before


def test_the_pairs_of_the_training_names_and_bad_block_sizes():
    s = surnames()
    X, y = context_pairs(s.train, block_size=3)
    assert X.shape == (sum(len(n) + 1 for n in s.train), 3) and int(X.max()) <= 26 and int(y.min()) == 0
    assert np.count_nonzero(y == 0) == len(s.train)  # one end per name
    for bad in (0, -2, 2.5):
        with pytest.raises(ValueError, match=f"block_size must be a positive integer; got {bad}"):
            context_pairs(["emma"], block_size=bad)


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
