"""The program store (lab/verify/runtime/store.py): what it keys on, what it does with a damaged entry, its
size limit, two processes sharing it, and `lab cache`."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lab import model as registry
from lab.cli import main
from lab.verify.case import BATCH, Case
from lab.verify.measure import differences, rounding
from lab.verify.measure.autodiff import Witness
from lab.verify.runtime import memo, programs, source_key
from lab.verify.runtime.jax_config import jax, versions
from lab.verify.runtime.ops_cache import one_op_programs_kept
from lab.verify.runtime.store import Store
from lab.verify.search.cases import shape_menu

MODEL = """
import numpy as np
from array_api_compat import array_namespace
TARGET = "real"
def init(d):
    return {"w": np.zeros(d), "b": np.zeros(())}
def predict(params, X):
    return X @ params["w"] + params["b"]
def loss(params, X, y):
    xp = array_namespace(X, y)
    r = X @ params["w"] + params["b"] - y
    return xp.mean(r * r)
def grad(params, X, y):
    r = X @ params["w"] + params["b"] - y
    return {"w": 2 * X.T @ r / X.shape[0], "b": 2 * np.mean(r)}
"""


@pytest.fixture
def kept(tmp_path, monkeypatch):
    """A store of this test's own that keeps measurements, and nothing in memory."""
    s = Store(tmp_path / "programs")
    monkeypatch.setattr(programs, "STORE", s)
    monkeypatch.setattr(programs, "live", {})
    monkeypatch.setattr(programs, "pending", {})
    return s


@pytest.fixture
def store(kept, monkeypatch):
    """A store of this test's own, and nothing in memory. These tests are about the programs, so no
    measurement is kept (lab/verify/runtime/memo.py): each evaluation runs a program."""
    monkeypatch.setattr(memo, "get", lambda name: None)
    monkeypatch.setattr(memo, "put", lambda name, value: None)
    return kept


def one_case(model, n=3, d=2):
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(v.shape) for k, v in model.init(d).items()}
    return Case(params, rng.standard_normal((n, d)), rng.standard_normal(n))


def model_file(tmp_path, text=MODEL, name="store_probe"):
    f = tmp_path / f"{name}.py"
    f.write_text(textwrap.dedent(text))
    return registry.load(str(f))


def test_a_warm_program_is_neither_traced_nor_compiled(tmp_path, store, monkeypatch):
    m = model_file(tmp_path)
    case = one_case(m)
    first = Witness(m).evaluate([case], 4)[0]
    assert {e.name[:2] for e in store.entries()} == {"s-", "p-"}
    programs.live.clear()
    monkeypatch.setattr(Witness, "_all", lambda *a: pytest.fail("traced on a warm run"))
    again = Witness(m).evaluate([case], 4)[0]
    for k in first.grad:
        np.testing.assert_array_equal(first.grad[k], again.grad[k])
        np.testing.assert_array_equal(first.grad_err[k], again.grad_err[k])


def test_an_edit_to_grad_is_neither_traced_nor_compiled(tmp_path, store, monkeypatch):
    """The usual edit leaves the loss alone: the key is read from the loss's own code, so the program
    is found without tracing. Moving the loss down the file and editing comments does the same."""
    m = model_file(tmp_path)
    case = one_case(m)
    first = Witness(m).evaluate([case], 4)[0]
    programs.live.clear()
    edited = MODEL.replace("2 * np.mean(r)", "2.0 * np.mean(r)").replace("TARGET", "\n\n# a comment\nTARGET")
    m2 = model_file(tmp_path, edited, name="store_probe")
    assert m2.module.loss.__code__.co_firstlineno != m.module.loss.__code__.co_firstlineno
    monkeypatch.setattr(Witness, "_all", lambda *a: pytest.fail("traced after an edit to grad"))
    again = Witness(m2).evaluate([case], 4)[0]
    np.testing.assert_array_equal(first.grad["w"], again.grad["w"])
    assert len([e for e in store.entries() if e.name.startswith("s-")]) == 1


HELPER = (
    MODEL.replace(
        '    r = X @ params["w"] + params["b"] - y\n    return xp.mean(r * r)',
        '    return xp.mean(square(X @ params["w"] + params["b"] - y)) * SCALE',
    )
    + """
SCALE = 1.0
def square(r):
    return r * r
"""
)


@pytest.mark.parametrize(
    "edit",
    [
        ("return r * r", "return r * r * 2.0"),  # a helper the loss calls
        ("SCALE = 1.0", "SCALE = 2.0"),  # a constant the loss reads
    ],
    ids=["helper", "constant"],
)
def test_an_edit_to_what_the_loss_calls_or_reads_is_a_new_program(tmp_path, store, edit):
    assert HELPER != MODEL
    m = model_file(tmp_path, HELPER)
    case = one_case(m)
    before = Witness(m).evaluate([case], 4)[0]
    programs.live.clear()
    after = Witness(model_file(tmp_path, HELPER.replace(*edit), name="store_probe")).evaluate([case], 4)[0]
    assert after.loss == pytest.approx(2 * before.loss)


def test_a_constant_changed_at_run_time_is_a_new_program(tmp_path, store, monkeypatch):
    m = model_file(tmp_path, HELPER)
    case = one_case(m)
    before = Witness(m).evaluate([case], 4)[0]
    monkeypatch.setattr(m.module, "SCALE", 3.0)
    assert Witness(m).evaluate([case], 4)[0].loss == pytest.approx(3 * before.loss)


@pytest.mark.parametrize(
    "text",
    [
        HELPER.replace("SCALE = 1.0", "SCALE = {'s': 1.0}").replace(") * SCALE", ") * SCALE['s']"),
        HELPER.replace(") * SCALE", ") * globals()['SCALE']"),
    ],
    ids=["dict", "globals"],
)
def test_a_value_the_key_cannot_read_falls_back_to_the_files(tmp_path, store, text):
    """A dict, or a name reached by string, is not read from code: then any edit to the file is a
    new key, as before, and never a stale program."""
    m = model_file(tmp_path, text)
    assert source_key._fingerprint(m.module.loss) is None
    case = one_case(m)
    Witness(m).evaluate([case], 4)
    programs.live.clear()
    m2 = model_file(tmp_path, text.replace("2 * np.mean(r)", "2.0 * np.mean(r)"), name="store_probe")
    Witness(m2).evaluate([case], 4)
    assert len([e for e in store.entries() if e.name.startswith("s-")]) == 2


def test_an_edit_to_the_loss_is_a_new_program(tmp_path, store):
    m = model_file(tmp_path)
    case = one_case(m)
    before = Witness(m).evaluate([case], 4)[0]
    programs.live.clear()
    m2 = model_file(tmp_path, MODEL.replace("xp.mean(r * r)", "xp.mean(r * r) * 2.0"), name="store_probe")
    after = Witness(m2).evaluate([case], 4)[0]
    assert after.loss == pytest.approx(2 * before.loss)
    assert len([e for e in store.entries() if e.name.startswith("p-")]) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_damaged_entry_is_rebuilt_not_a_crash(tmp_path, store, damage):
    m = model_file(tmp_path)
    case = one_case(m)
    first = Witness(m).evaluate([case], 4)[0]
    names = sorted(e.name for e in store.entries())
    for name in names:
        path = store.root / name
        data = path.read_bytes()
        if damage == "truncate":
            path.write_bytes(data[: len(data) // 2])
        elif damage == "flip":
            path.write_bytes(data[:-10] + bytes(b ^ 0xFF for b in data[-10:]))
        elif name.startswith("p-"):  # a whole entry, checksum and all, whose payload is not a program
            store.put(name, b"not a program")
    programs.live.clear()
    again = Witness(m).evaluate([case], 4)[0]
    np.testing.assert_array_equal(first.grad["w"], again.grad["w"])
    if damage != "garbage":
        assert store.corrupt >= 1
    assert all(store.get(name) is not None for name in names)  # rebuilt whole
    programs.live.clear()
    Witness(m).evaluate([case], 4)  # and the rebuilt entries load


def test_the_size_limit_removes_the_least_recently_used(tmp_path):
    s = Store(tmp_path / "programs", max_bytes=1e9)
    for i in range(5):
        s.put(f"p-{i}", bytes(3000))
        os.utime(s.root / f"p-{i}", (1000 + i, 1000 + i))
    s.get("p-0")  # used now: the newest
    assert s.trim(10_000) == 2
    left = {e.name for e in s.entries()}
    assert sum(e.stat().st_size for e in s.entries()) <= 10_000
    assert "p-0" in left and "p-1" not in left
    assert s.clear() == len(left) and s.entries() == []
    small = Store(tmp_path / "small", max_bytes=7_000)  # and every write keeps within the limit
    for i in range(5):
        small.put(f"p-{i}", bytes(3000))
    assert small.size() <= 7_000 and "p-4" in {e.name for e in small.entries()}


def test_kept_measurements_go_before_any_program_when_the_store_is_full(tmp_path):
    """A measurement is remade by running a program; a program by tracing and compiling it. A run of many new
    cases (another seed, the extreme profile) fills the store with evidence, and must not push out programs."""
    s = Store(tmp_path / "programs", max_bytes=1e9, first=("m-",))
    s.put("p-old", bytes(3000))
    os.utime(s.root / "p-old", (1000, 1000))
    for i in range(4):
        s.put(f"m-evidence-{i}", bytes(3000))
    assert s.trim(7_000) == 3
    assert {e.name for e in s.entries()} == {"p-old", "m-evidence-3"}  # the program, though the oldest
    assert programs.STORE.first == ("m-",) and memo.key("evidence", [], []).startswith(programs.STORE.first)


def test_a_write_scans_the_store_only_first_and_after_a_twentieth_of_its_limit(tmp_path, monkeypatch):
    """A trim stats every entry (7,657 in the suite's store: 48 ms), so it is not paid at every write."""
    s = Store(tmp_path / "programs", max_bytes=20 * 10_000)
    trims = []
    real = Store.trim
    monkeypatch.setattr(Store, "trim", lambda self, *a: trims.append(len(s.entries())) or real(self, *a))
    for i in range(30):
        s.put(f"p-{i}", bytes(1000))
    assert trims == [1, 12, 23]  # the first write, then each time more than 10,000 bytes were written


def test_the_key_holds_the_versions():
    import jax

    v = versions()
    assert f"jax {jax.__version__}" in v and "lab " in v and "jaxlib" in v


def test_a_bound_loss_is_keyed_by_its_code_and_the_values_bound():
    """functools.partial: a model with its hyperparameters bound, or a layer's ⟨dout, forward⟩ bound to the
    layer's module. The key holds the values bound, and of a module only what the loss reads from it."""
    ridge = registry.get("ridge_regression")
    half, quarter = (source_key.code_key(ridge.with_hyper(lam=v).module.loss) for v in (0.5, 0.25))
    assert half and quarter and half != quarter
    assert half == source_key.code_key(registry.get("ridge_regression").with_hyper(lam=0.5).module.loss)

    from lab.layer import get
    from lab.verify.explain.mutations import SLIPS, slipped

    layer = get("layers/causal_self_attention")
    key = source_key.code_key(layer.module.loss)
    assert key is not None and key != source_key.code_key(get("layers/conv1d").module.loss)
    for slip in (s for s in SLIPS if s.layer == "causal_self_attention"):  # an edit to vjp keeps the program
        assert source_key.code_key(slipped(slip).module.loss) == key
    forward = type(SLIPS[0])("forward_edit", "causal_self_attention", "", "", "/ D**0.5", "/ D**0.25")
    assert source_key.code_key(slipped(forward).module.loss) != key  # an edit to forward does not


def test_every_shape_of_the_search_is_few():
    for name in registry.names():
        assert 1 <= len(shape_menu(registry.get(name))) <= 7


@pytest.fixture
def results(tmp_path, monkeypatch):
    """A store of derivation results of this test's own."""
    import lab.derivations
    from lab.derivations import check as derivations

    s = Store(tmp_path / "derivations")
    monkeypatch.setattr(derivations, "RESULTS", s)
    monkeypatch.setattr(lab.derivations, "RESULTS", s)
    return s


def test_lab_cache_info_and_clear(tmp_path, store, results, capsys, monkeypatch):
    from lab.verify.runtime import ops_cache

    m = model_file(tmp_path)
    Witness(m).evaluate([one_case(m)], 4)
    (store.root.parent / "jit__all-0123-cache").write_bytes(b"x")  # left by JAX's own cache
    results.put("d-0", b"[]")
    monkeypatch.setattr(ops_cache, "OPS_DIR", tmp_path / "ops")
    (tmp_path / "ops").mkdir()
    for name in ("jit_add-01-cache", "jit_add-01-atime", "jit_mul-02-cache"):
        (tmp_path / "ops" / name).write_bytes(b"x" * 4096)
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "store:    2 entries" in out and "older JAX cache files: 1" in out and "derivation results: 1 entries" in out
    assert "  compiled programs: 1," in out and "  programs' source keys: 1," in out
    assert "one-operation programs: 3 entries, 0.0 MB of at most 64 MB" in out
    assert main(["cache", "clear"]) == 0
    said = capsys.readouterr().out
    assert (
        "removed 2 store entries (1 compiled programs; 1 programs' source keys), 3 one-operation programs, "
        "1 derivation results and 1 older JAX cache" in said
    )
    assert store.entries() == [] and results.entries() == [] and list((tmp_path / "ops").iterdir()) == []


def test_a_derivation_is_checked_again_only_when_what_it_reads_changes(tmp_path, results):
    """A second run with nothing changed starts no process and gives the same result; an edit to the
    model's file (or to the derivation) checks again, and a wrong result is never served."""
    from lab.derivations import check as derivations

    m = registry.get("linear_regression")
    src = tmp_path / "lin" / "linear_regression.py"
    src.parent.mkdir()
    src.write_text(m.source.read_text(encoding="utf-8"), encoding="utf-8")
    md = src.with_suffix(".md")
    md.write_text(m.derivation.read_text(encoding="utf-8"), encoding="utf-8")
    model = registry.load(str(src))

    def run():
        bg = derivations.Background([(str(src), model, md)])
        started = bg.started
        return started, bg.results()[0][model.name]

    started, first = run()
    assert started and first.status in ("ok", "unchecked")  # its blocks check the registered model
    started, again = run()
    assert not started and again == first
    md.write_text(md.read_text(encoding="utf-8") + "\n```python\nassert False, 'edited'\n```\n", encoding="utf-8")
    started, edited = run()
    assert started and edited.status == "FAIL" and "edited" in " ".join(edited.problems)
    src.write_text(src.read_text(encoding="utf-8") + "\n# an edit\n", encoding="utf-8")
    started, _ = run()
    assert started


def test_a_clone_elsewhere_finds_the_derivation_results_of_another(tmp_path):
    """The results are keyed by what the files hold and their paths inside the repository, not by where
    the repository is: CI checks out a fresh clone, and a worktree is another folder."""
    import shutil

    root = Path(registry.__file__).resolve().parent.parent
    env = dict(os.environ, LAB_JAX_CACHE=str(tmp_path / "cache"))
    code = (
        "from lab import model as r; from lab.derivations import check as d; m = r.get('linear_regression'); "
        "bg = d.Background([('linear_regression', m, m.derivation)]); s = bg.started; "
        "print(s, bg.results()[0][m.name].status, m.source)"
    )
    said = []
    for clone in ("a", "b"):
        for part in ("lab", "derivations"):
            shutil.copytree(
                root / part, tmp_path / clone / part, ignore=shutil.ignore_patterns("node_modules", "__pycache__")
            )
        run = subprocess.run([sys.executable, "-c", code], env=dict(env, PYTHONPATH=str(tmp_path / clone)),
                             cwd=tmp_path / clone, capture_output=True, timeout=600)  # fmt: skip
        assert run.returncode == 0, run.stderr.decode()[-2000:]
        said.append(run.stdout.decode().split())
    assert said[0][2].startswith(str(tmp_path / "a")) and said[1][2].startswith(str(tmp_path / "b"))  # each its own
    assert said[0][:2] == ["True", "ok"] and said[1][:2] == ["False", "ok"]  # checked once, then found


def test_two_processes_share_one_cache(tmp_path):
    """Both start on an empty cache and write the same entries at the same time; both succeed."""
    env = dict(os.environ, LAB_JAX_CACHE=str(tmp_path / "cache"))
    cmd = [sys.executable, "-c", "import sys; from lab.cli import main; sys.exit(main(sys.argv[1:]))"]
    args = ["verify", "linear_regression", "--no-derivations"]
    procs = [subprocess.Popen(cmd + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]
        assert b"verified" in out
    again = subprocess.run(cmd + args, env=env, capture_output=True, timeout=600)
    assert again.returncode == 0 and b"verified" in again.stdout


def test_the_programs_are_loaded_at_the_first_batch_the_store_does_not_keep(tmp_path, kept, monkeypatch):
    """A search asks for its shapes' programs ahead (prefetch), and they are loaded from its first batch
    whose evidence is not kept, with the keys of the batches it then evaluates. A search whose every
    batch is kept loads no program: loading would only take a core from the hand code."""
    from lab.verify.search.cases import every_shape, fill

    m = model_file(tmp_path)
    shapes = every_shape(m)
    batches = [fill(m, list(drawn), BATCH, seed) for drawn, seed in shapes]
    asked: list = []
    prefetch = programs.prefetch
    monkeypatch.setattr(programs, "prefetch", lambda src, args, *a: asked.extend(args) or prefetch(src, args, *a))
    w = Witness(m)
    w.prefetch([drawn for drawn, _ in shapes], BATCH)
    assert not asked  # nothing yet: the first batch may be kept
    for b in batches:
        w.evaluate(b, BATCH)
    keys = {w.source_key(*reversed(programs.jax.tree_util.tree_flatten(a))) for a in asked}
    for b in batches:
        flat, tree = programs.jax.tree_util.tree_flatten(w._arrays(b, BATCH))
        assert w.source_key(tree, flat) in keys
    asked.clear()
    programs.live.clear()
    monkeypatch.setattr(programs, "_load", lambda digest: pytest.fail("a program was loaded on a warm search"))
    w = Witness(m)
    w.prefetch([drawn for drawn, _ in shapes], BATCH)
    for b in batches:
        w.evaluate(b, BATCH)
    assert not asked and not programs.live


def test_the_suite_keeps_its_programs_apart_from_the_users():
    """conftest.py points the program store at the suite's own folder before the lab starts JAX."""
    from pathlib import Path

    from lab.verify import STORE

    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradient-lab"
    assert STORE.root is not None and Path(os.environ["LAB_JAX_CACHE"]) in STORE.root.parents
    assert user not in STORE.root.parents


def test_a_loss_that_ignores_the_data_gets_a_program_per_shape(tmp_path, store):
    """JAX drops unused arguments from the lowered text: SciPy's rosen over params alone lowers to the same
    text for every n. A warm run must not load the program of one n for another (issue 18)."""
    m = model_file(
        tmp_path,
        MODEL.replace("r = X @ params", "r = 0 * params").replace(
            "    xp = array_namespace(X, y)\n", "    xp = array_namespace(X, y)\n    return xp.sum(params['w'] ** 2)\n"
        ),
        name="ignores_data",
    )
    for n in (1, 2, 1, 2):  # each shape cold, then warm
        ev = Witness(m).evaluate([one_case(m, n=n)], 4)[0]
        assert np.isfinite(ev.loss)
    programs.live.clear()
    for n in (2, 1):  # from the store alone
        assert np.isfinite(Witness(m).evaluate([one_case(m, n=n)], 4)[0].loss)


CHOLESKY = """
import numpy as np
from array_api_compat import array_namespace
TARGET = "real"
def init(d):
    return {"w": np.zeros(d)}
def predict(params, X):
    return X @ params["w"]
def loss(params, X, y):
    xp = array_namespace(X, y)
    K = X.T @ X + xp.eye(X.shape[1]) * (1.0 + params["w"] @ params["w"])
    return xp.sum(xp.log(xp.linalg.diagonal(xp.linalg.cholesky(K))))
def grad(params, X, y):
    K = X.T @ X + np.eye(X.shape[1]) * (1.0 + params["w"] @ params["w"])
    return {"w": np.trace(np.linalg.inv(K)) * params["w"]}
"""


def test_a_stored_program_that_calls_lapack_runs_in_a_fresh_process(tmp_path):
    """JAX loads LAPACK while lowering; a warm run lowers nothing, and its first Cholesky factor
    segfaulted (issue 18). The second process loads every program from the store."""
    f = tmp_path / "chol_probe.py"
    f.write_text(CHOLESKY)
    env = dict(os.environ, LAB_JAX_CACHE=str(tmp_path / "cache"))
    code = _WITNESS + (
        "c = Case({'w': rng.standard_normal(3)}, rng.standard_normal((5, 3)), rng.standard_normal(5)); "
        "print(Witness(m).evaluate([c], 4)[0].loss, len(programs.live))"
    )
    runs = _twice(code, env, str(f))
    for r in runs:
        loss, live = r.stdout.split()
        assert np.isfinite(float(loss)) and int(live) > 0  # a program ran, not a kept measurement


#: The start of a script for :func:`_twice`: the model ``sys.argv[1]`` (a file or a registered name) and a generator.
_WITNESS = (
    "import sys, numpy as np; from lab.model import load; from lab.verify.case import Case; "
    "from lab.verify.measure.autodiff import Witness; from lab.verify.runtime import programs; "
    "m = load(sys.argv[1]); rng = np.random.default_rng(int(sys.argv[-1])); "
)


def _twice(code: str, env: dict, *args: str) -> list:
    """``code`` run in two fresh processes one after the other (the second reads the first's store). The run's
    number is the last argument, a seed of its own: the second run's case is new, so its evidence is not
    in the store (lab/verify/runtime/memo.py) and the program runs."""
    runs = [
        subprocess.run([sys.executable, "-c", code, *args, run], env=env, capture_output=True, timeout=600)
        for run in "12"
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr.decode()[-2000:]
    return runs


def test_a_stored_program_without_lapack_loads_without_scipy(tmp_path):
    """Readying LAPACK imports SciPy (0.08 to 0.17 s of a warm verify); a program that makes no custom
    call is loaded without it. The Cholesky loss above, read from the store, still gets it."""
    env = dict(os.environ, LAB_JAX_CACHE=str(tmp_path / "cache"))
    code = _WITNESS + (
        "c = Case({'w': rng.standard_normal(3), 'b': np.array(0.5)}, rng.standard_normal((5, 3)), "
        "(rng.random(5) < 0.5).astype(float)); print(Witness(m).evaluate([c], 4)[0].loss, 'scipy' in sys.modules)"
    )
    runs = _twice(code, env, "logistic_regression")
    assert all(np.isfinite(float(r.stdout.split()[0])) for r in runs)
    assert runs[1].stdout.split()[1] == b"False"  # loaded from the store, and SciPy never imported


def test_a_batch_of_lapack_calls_does_not_deadlock(tmp_path):
    """A Cholesky factor and a solve under vmap at n = 32: XLA:CPU ran the batched LAPACK calls at once
    and each waited for tasks on the same thread pool, forever (issue 18). The witnesses now check
    such a loss one case at a time. In a subprocess, so that a regression fails instead of hanging."""
    f = tmp_path / "solve_probe.py"
    f.write_text(
        CHOLESKY.replace(
            "    return xp.sum(xp.log(xp.linalg.diagonal(xp.linalg.cholesky(K))))",
            "    L = xp.linalg.cholesky(K)\n"
            "    return xp.sum(xp.linalg.solve(L, X.T @ y[:, None]) ** 2) + xp.sum(xp.log(xp.linalg.diagonal(L)))",
        )
    )
    code = (
        "import sys, numpy as np; from lab.model import load; from lab.verify.case import Case; "
        "from lab.verify.measure.autodiff import Witness; from lab.verify.runtime import programs; "
        "programs.use_store(None); m = load(sys.argv[1]); rng = np.random.default_rng(0); "
        "cs = [Case({'w': rng.standard_normal(32)}, rng.standard_normal((40, 32)), rng.standard_normal(40)) "
        "for _ in range(16)]; "
        "w = Witness(m); ev = w.evaluate(cs, 16); print(w.sequential, all(np.isfinite(e.loss) for e in ev))"
    )
    r = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, timeout=240)
    assert r.returncode == 0 and r.stdout.split() == [b"True", b"True"], r.stderr.decode()[-2000:]


def test_an_attribute_named_like_a_global_is_not_that_global():
    """``d.get(k)`` in a loss reads an attribute "get", not the module's function ``get``: the key follows the
    globals the code loads (an opaque global of that name would otherwise leave the loss without a key)."""
    ns: dict = {}
    exec(
        "import importlib\n"
        "def get(name):\n    return importlib.import_module(name)\n"
        "def loss(params, X, y):\n    return params.get('w') * X.sum()\n",
        ns,
    )
    assert source_key._fingerprint(ns["loss"]) is not None
    ns2: dict = {}
    exec("import importlib\ndef loss(params, X, y):\n    return importlib.import_module('numpy') and X.sum()\n", ns2)
    assert source_key._fingerprint(ns2["loss"]) is None  # a global that reaches values by string: no key


OPS_PROBE = """
import json, sys
import numpy as np
from lab import model
from lab.verify.measure.referee import exact_gradient
from lab.verify.runtime.jax_config import jax
from lab.verify.runtime.ops_cache import OPS_DIR

events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
m = model.get("softmax_regression")
rng = np.random.default_rng(0)
X, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5).astype(float)
params = {k: rng.standard_normal(v.shape) for k, v in m.module.init(3, n_classes=3).items()}
g = exact_gradient(m.module.loss, params, X, y, branches="float64")
hits = events.count("/jax/compilation_cache/cache_hits")
asked = events.count("/jax/compilation_cache/compile_requests_use_cache")
kept = lambda: len(list(OPS_DIR.iterdir())) if OPS_DIR and OPS_DIR.exists() else 0
before = kept()
jax.jit(lambda a: a * 3.0 + 1.0)(np.arange(4.0))  # compiled outside the scope: JAX's cache is off again
print(json.dumps({"value": [np.asarray(v).tolist() for v in g.value.values()], "hits": hits, "asked": asked,
                  "after": kept() - before, "dir": jax.config.jax_compilation_cache_dir, "kept": before}))
"""


def test_the_referees_one_operation_programs_are_kept_and_read_back(tmp_path):
    """The referee's float64 replay runs primitives one at a time; the second process reads every one of
    their programs from CACHE_DIR/ops, gets the same gradient, and JAX's cache is off outside that scope.
    With LAB_JAX_CACHE=off nothing is kept."""
    env = dict(os.environ, LAB_JAX_CACHE=str(tmp_path / "cache"))
    runs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", OPS_PROBE], env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        runs.append(json.loads(r.stdout.splitlines()[-1]))
    first, second = runs
    assert first["asked"] > 20 and first["hits"] == 0 and first["kept"] >= first["asked"]
    assert second["hits"] == second["asked"] == first["asked"] and second["kept"] == first["kept"]
    assert first["value"] == second["value"]
    assert first["after"] == second["after"] == 0 and first["dir"] is second["dir"] is None
    off = subprocess.run([sys.executable, "-c", OPS_PROBE], env=dict(os.environ, LAB_JAX_CACHE="off"),
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert off.returncode == 0, off.stderr[-2000:]
    seen = json.loads(off.stdout.splitlines()[-1])
    assert (seen["hits"], seen["kept"], seen["after"], seen["dir"]) == (0, 0, 0, None)
    assert seen["value"] == first["value"]


# -- measurements kept (lab/verify/runtime/memo.py) ----------------------------------------------------


def _same(a, b) -> None:
    assert a.loss == b.loss and a.loss_err == b.loss_err
    np.testing.assert_array_equal(a.jvp, b.jvp)
    np.testing.assert_array_equal(a.jvp_err, b.jvp_err)
    for k in a.grad:
        np.testing.assert_array_equal(a.grad[k], b.grad[k])
        np.testing.assert_array_equal(a.grad_err[k], b.grad_err[k])


def test_evidence_measured_before_is_read_back_and_no_program_runs(tmp_path, kept, monkeypatch):
    """The same program on the same arrays: the evidence comes from the store, bit for bit. An edit to
    grad leaves the loss's key, so it is kept across the usual edit. A batch of two copies of a case pads
    to the same arrays as the case alone, and gets two pieces of evidence."""
    m = model_file(tmp_path)
    case = one_case(m)
    first = Witness(m).evaluate([case], 4)[0]
    assert any(e.name.startswith("m-evidence-") for e in kept.entries())
    programs.live.clear()
    run = programs.run
    monkeypatch.setattr(programs, "run", lambda *a: pytest.fail("a program ran for evidence kept in the store"))
    _same(first, Witness(m).evaluate([case], 4)[0])
    m2 = model_file(tmp_path, MODEL.replace("2 * np.mean(r)", "2.0 * np.mean(r)"), name="store_probe")
    _same(first, Witness(m2).evaluate([case], 4)[0])
    monkeypatch.setattr(programs, "run", run)
    two = Witness(m).evaluate([case, case], 4)
    assert len(two) == 2
    _same(first, two[1])


def test_an_edit_to_the_loss_or_new_numbers_measure_again(tmp_path, kept, monkeypatch):
    m = model_file(tmp_path)
    case = one_case(m)
    Witness(m).evaluate([case], 4)
    ran = []
    run = programs.run
    monkeypatch.setattr(programs, "run", lambda *a: ran.append(1) or run(*a))
    edited = model_file(tmp_path, MODEL.replace("xp.mean(r * r)", "xp.mean(r * r) * 2.0"), name="store_probe")
    assert Witness(edited).evaluate([case], 4)[0].loss == pytest.approx(2 * Witness(m).evaluate([case], 4)[0].loss)
    assert len(ran) == 1  # the edited loss ran; the first one's evidence was kept
    moved = Case({k: v + 1.0 for k, v in case.params.items()}, case.X, case.y)
    Witness(m).evaluate([moved], 4)
    assert len(ran) == 2


def test_primitives_without_a_rule_are_named_again_from_kept_evidence(tmp_path, kept, monkeypatch):
    """The report names the primitives a program bounds without a rounding rule; a run that reads the
    program's evidence from the store names them as the run that measured it did."""
    m = model_file(tmp_path)
    case = one_case(m)
    run = programs.run
    monkeypatch.setattr(programs, "run", lambda *a: (run(*a)[0], ["reduce_window"], False))
    Witness(m).evaluate([case], 4)
    monkeypatch.setattr(programs, "run", lambda *a: pytest.fail("a program ran for evidence kept in the store"))
    rounding.approximated.clear()
    Witness(m).evaluate([case], 4)
    assert rounding.approximated == {"reduce_window"}
    rounding.approximated.clear()


def test_a_finite_difference_measured_before_is_not_computed_again(tmp_path, kept, monkeypatch):
    m = model_file(tmp_path)
    case = one_case(m)
    ev = Witness(m).evaluate([case], 4)[0]
    args = (m, case, ev.directions[0], ev.loss, float(ev.jvp[0]), ev.loss_err)
    first = differences.fd_directional(*args)
    assert np.isfinite(first[0]) and abs(first[0] - ev.jvp[0]) <= first[1] + ev.jvp_err[0]
    compute = differences._fd_directional
    monkeypatch.setattr(differences, "_fd_directional", lambda *a: pytest.fail("computed again"))
    assert differences.fd_directional(*args) == first
    monkeypatch.setattr(differences, "_fd_directional", compute)
    other = differences.fd_directional(m, case, ev.directions[1], ev.loss, float(ev.jvp[1]), ev.loss_err)
    assert abs(other[0] - ev.jvp[1]) <= other[1] + ev.jvp_err[1]


def test_a_program_compiled_while_jax_keeps_its_own_is_not_stored(tmp_path, store):
    """Inside one_op_programs_kept JAX may hand back a copy from its own cache; serialized, that copy
    loaded and then failed to run ("Function convert_slice_fusion not found"), in every later run that
    read it. Such a program is used, not stored."""
    m = model_file(tmp_path)
    with one_op_programs_kept():
        ev = Witness(m).evaluate([one_case(m)], 4)[0]
    assert np.isfinite(ev.loss)
    assert not [e for e in store.entries() if e.name.startswith("p-")]


class _Unreadable:
    """An output of a program that fails only when it is read, as XLA reports some failures."""

    def is_ready(self):
        raise jax.errors.JaxRuntimeError("NOT_FOUND: Function convert_slice_fusion not found (type id: 1)")


def test_a_stored_program_whose_outputs_fail_when_read_is_compiled_anew(tmp_path, store, monkeypatch):
    """A stored program that loaded, ran, and failed when its outputs were read broke every later run
    that loaded it (test_compiled, in the suite's store). It is compiled anew and replaced in the store."""
    m = model_file(tmp_path)
    case = one_case(m)
    first = Witness(m).evaluate([case], 4)[0]
    programs.live.clear()
    load = programs._load

    def unreadable(digest):
        prog = load(digest)
        return None if prog is None else (lambda *a: jax.tree_util.tree_map(lambda _: _Unreadable(), prog(*a)))

    monkeypatch.setattr(programs, "_load", unreadable)
    _same(first, Witness(m).evaluate([case], 4)[0])
    monkeypatch.setattr(programs, "_load", load)
    programs.live.clear()
    _same(first, Witness(m).evaluate([case], 4)[0])  # the stored program is the new one, and runs


def test_a_program_found_by_its_text_names_what_this_trace_met_without_a_rule(tmp_path, store, monkeypatch):
    """Two traces may lower to one text and meet different primitives without a rule (a rule added for a
    branch that is never read: the platform branch's empty2). A program found by its lowered text names
    this trace's, and keeps them for the next run that finds it by its source key."""
    import pickle

    m = model_file(tmp_path)
    case = one_case(m)
    Witness(m).evaluate([case], 4)
    (entry,) = [e for e in store.entries() if e.name.startswith("p-")]
    blob, _, calls = pickle.loads(store.get(entry.name))
    store.put(entry.name, pickle.dumps((blob, ["stale"], calls)))  # as an older set of rules noted it
    programs.live.clear()
    monkeypatch.setattr(Witness, "source_key", lambda self, tree, flat: "a-key-not-stored")
    rounding.approximated.clear()
    Witness(m).evaluate([case], 4)
    assert "stale" not in rounding.approximated
    programs.live.clear()
    Witness(m).evaluate([case], 4)  # by its source key now: the names kept are this trace's
    assert "stale" not in rounding.approximated
    rounding.approximated.clear()
