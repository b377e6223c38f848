"""Layers (lab/layer.py): the contract, the exact structural checks, and layer files written elsewhere.

Every module in tests/outside/layers/ keeps the layer contract in someone else's style (CS231n's
cached forward, llm.c's loops, the Annotated Transformer) and declares ``EXPECT``: "verified" for a
correct backward, or "wrong" with ``TRAP``, the classic slip it carries. A slip must fail; a correct
file must pass. The registry's layers are verified in full by ``make verify``; here each outside file
is searched on every size and a few drawn examples, where its slip shows on most draws.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from lab.layer import all_layers, names
from lab.model import ModelError, load
from lab.net import keeps
from lab.verify.explain.mutations import SLIPS, slipped
from lab.verify.explain.report import failures
from lab.verify.search.engine import verify
from lab.verify.vocabulary import Status
from tests.declared import declared

OUTSIDE = Path(__file__).resolve().parent / "outside" / "layers"
FILES = sorted(p for p in OUTSIDE.glob("*.py") if not p.name.startswith("_"))


def test_the_registry_holds_the_course_layers_each_with_its_derivation():
    want = {"linear", "relu", "gelu", "tanh", "softmax", "cross_entropy", "embedding", "flatten", "position",
            "dropout", "layer_norm", "rms_norm", "batch_norm", "residual", "conv1d", "max_pool1d",
            "causal_self_attention", "multi_head_attention"}  # fmt: skip
    assert {n.removeprefix("layers/") for n in names()} >= want
    for m in all_layers():
        assert m.derivation.exists(), m.derivation


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_outside_layer_verdict(path):
    expect = declared(path, "EXPECT")
    assert expect in ("verified", "wrong"), f"{path.name} declares EXPECT = {expect!r}"
    r = verify(load(str(path)), "ci", examples=6)
    diagnosis = r.failure.diagnosis if r.failure is not None else ""
    if expect == "verified":
        assert r.status == Status.PASS, f"{r.message} | {diagnosis}"
        assert r.cases >= 100
    else:
        trap = declared(path, "TRAP")
        assert r.status == Status.FAIL, f"the slip {trap} passed: {r.cases} cases checked"
        assert diagnosis
        if trap in UNNAMED:
            assert diagnosis.startswith(UNNAMED[trap]), diagnosis
        else:  # named as the lab's own mutant of that trap is, or by the factor it is
            assert NAMED.get(trap, "×") in diagnosis or "× the true gradient" in diagnosis, diagnosis
            assert not diagnosis.startswith("unexplained"), diagnosis


#: The phrase that names each trap (lab/verify/explain/mutations.py); the batch-norm slip that copied
#: layer norm's axes is named as a reduction over the wrong axis, as the linear einsum's is.
NAMED = {s.name: s.expect for s in SLIPS}
#: Traps that no tested hypothesis names yet, and what their diagnosis says instead.
UNNAMED = {
    "tie_duplicated": "at a kink of the loss",  # right off the kinks: wrong only at a tie
    "smoothing_mass": "unexplained",  # the smoothing's mass spread over V − 1 classes: no pattern fits
    "nan_backward": "the backward's d x is NaN or inf",  # no factor or pattern is read off NaN
}


@pytest.mark.parametrize("slip", SLIPS, ids=[s.name for s in SLIPS])
def test_every_trap_of_the_course_layers_is_caught_and_named(slip):
    """``lab mutants``: each slip, made in its layer's own source, fails with the trap named."""
    r = verify(slipped(slip), "ci", examples=6)
    assert r.status == Status.FAIL, f"{slip.name} passed: {r.cases} cases checked"
    assert slip.expect in r.failure.diagnosis, r.failure.diagnosis


def _layer_file(tmp_path, vjp_body: str) -> str:
    path = tmp_path / "scale.py"
    path.write_text(
        "import numpy as np\nfrom array_api_compat import array_namespace\n"
        'KIND = "layer"\nINPUT = "real"\nSHAPE = ("B", "T", "C")\n'
        "def init(shape, *, seed=0):\n    return {'a': np.ones(shape[-1])}\n"
        "def forward(params, x):\n    return x * params['a']\n"
        f"def vjp(params, x, dout):\n{vjp_body}\n"
    )
    return str(path)


def test_a_correct_layer_written_by_a_user_verifies(tmp_path):
    m = load(_layer_file(tmp_path, "    return {'a': np.sum(dout * x, axis=(0, 1))}, dout * params['a']"))
    assert verify(m, "ci", examples=2).status == Status.PASS


@pytest.mark.parametrize(
    "body, says",
    [
        ("    dout += 0\n    dout[...] *= 1\n    return {'a': np.sum(dout * x, axis=(0, 1))}, dout * params['a']",
         "vjp writes into dout"),
        ("    return {'a': np.sum(dout * x, axis=(0, 1))}, dout * params['a'] + 1e-3", "dout = 0"),
        ("    return {'a': np.sum(dout * x, axis=(0, 1))}, np.abs(dout) * params['a']", "not linear in dout"),
        ("    return {'a': np.sum(dout * x, axis=0)}, dout * params['a']", "shape"),
    ],
)  # fmt: skip
def test_a_backward_that_breaks_the_contract_or_linearity_is_named(tmp_path, body, says):
    r = verify(load(_layer_file(tmp_path, body)), "ci", examples=2)
    assert r.status != Status.PASS
    assert says in r.message + (r.failure.diagnosis if r.failure else ""), r.message


def test_a_dx_off_by_one_part_in_a_million_is_caught_and_its_factor_printed_with_the_digits_that_show_it(tmp_path):
    """1.000001 × the true gradient, never "1 ×", which reads as right (6 significant digits said 1)."""
    r = verify(
        load(_layer_file(tmp_path, "    return {'a': np.sum(dout * x, axis=(0, 1))}, dout * params['a'] * (1 + 1e-6)")),
        "ci",
        examples=2,
    )
    assert r.status == Status.FAIL
    assert "d x is 1.000001 × the true gradient" in r.failure.diagnosis, r.failure.diagnosis


@pytest.mark.parametrize(
    "factor, says",
    [("2.0", "d x is 2 × the true gradient"), ("1 / x.shape[0]", "d x is 1/B (= 0.25) × the true gradient")],
    ids=["two", "one_over_B"],
)
def test_a_factor_is_named_by_a_size_only_when_it_changes_with_that_size(tmp_path, factor, says):
    """Read at B = 4, a factor 2 is also √B: it was once named so. A second failing case of other sizes
    (B = 2) tells them apart: 2 stays 2, and 1/B follows B."""
    body = f"    return {{'a': np.sum(dout * x, axis=(0, 1))}}, dout * params['a'] * ({factor})"
    r = verify(load(_layer_file(tmp_path, body)), "ci", examples=2)
    assert r.status == Status.FAIL
    assert r.failure.diagnosis.startswith(says), r.failure.diagnosis
    assert re.search(r"shrunk counterexample: B = \d+, T = \d+, C = \d+\n", failures([r])), failures([r])  # its axes


def test_a_square_weight_gradient_transposed_is_named_and_its_repair_tested(tmp_path):
    """dW = Dᵀ X where Xᵀ D belongs: with W square the shape is right and nothing crashes."""
    path = tmp_path / "square.py"
    path.write_text(
        "import numpy as np\nfrom array_api_compat import array_namespace\n"
        'KIND = "layer"\nINPUT = "real"\nSHAPE = ("B", "T", "C")\n'
        "def init(shape, *, seed=0):\n"
        "    return {'W': np.random.default_rng(seed).standard_normal((shape[-1], shape[-1]))}\n"
        "def forward(params, x):\n    return x @ params['W']\n"
        "def vjp(params, x, dout):\n"
        "    X, D = x.reshape(-1, x.shape[-1]), dout.reshape(-1, dout.shape[-1])\n"
        "    return {'W': D.T @ X}, dout @ params['W'].T\n"
    )
    r = verify(load(str(path)), "ci", examples=2)
    assert r.status == Status.FAIL
    assert r.failure.diagnosis.startswith("d W is the transpose of the true gradient"), r.failure.diagnosis


def test_a_signed_kink_distance_is_refused_not_trusted(tmp_path, capsys):
    """kink_distance returning x where |x| belongs put every negative entry "on a kink": no error was
    measured there, and a PReLU whose dx at 0 takes both slopes (not a subgradient) was verified. A negative
    distance is now a contract error: one line, exit 2. With |x| the same file fails, as it should."""
    from lab.cli import main

    body = (
        "import numpy as np\nfrom array_api_compat import array_namespace\n"
        'KIND = "layer"\nINPUT = "real"\nSHAPE = ("B", "T", "C")\nKINK_ORDER = 1\n'
        "def init(shape, *, seed=0):\n    return {'a': np.full(shape[-1], 0.25)}\n"
        "def kink_distance(params, x):\n    return DISTANCE\n"
        "def forward(params, x):\n"
        "    xp = array_namespace(x, *params.values())\n    return xp.where(x > 0, x, params['a'] * x)\n"
        "def vjp(params, x, dout):\n"
        "    dx = dout * ((x >= 0) + params['a'] * (x <= 0))  # both slopes at 0\n"
        "    return {'a': np.sum(np.where(x > 0, 0.0, x * dout), axis=(0, 1))}, dx\n"
    )
    signed, unsigned = tmp_path / "prelu_signed.py", tmp_path / "prelu_abs.py"
    signed.write_text(body.replace("DISTANCE", "np.asarray(x)"))
    unsigned.write_text(body.replace("DISTANCE", "np.abs(x)"))
    assert main(["verify", str(signed)]) == 2
    out = capsys.readouterr().out
    assert "ERROR: kink_distance returned -" in out and "it must be a distance, at least 0" in out, out
    assert main(["verify", str(unsigned)]) == 1
    assert "not a subgradient" in capsys.readouterr().out


def test_a_layer_without_vocab_for_tokens_is_refused(tmp_path):
    path = tmp_path / "ids.py"
    path.write_text('KIND = "layer"\nINPUT = "tokens"\ndef init(shape, *, seed=0): return {}\n'
                    "def forward(params, x): return x\ndef vjp(params, x, dout): return {}, None\n")  # fmt: skip
    with pytest.raises(ModelError, match="VOCAB"):
        load(str(path))


def test_dout_is_random_never_constant_and_ids_repeat():
    from lab.verify.search import layer_cases
    from lab.verify.search.cases import ORDINARY

    for name in ("layers/layer_norm", "layers/embedding", "layers/cross_entropy"):
        m = load(name)
        for drawn, seed in layer_cases.first_cases(m, ORDINARY):
            for c in layer_cases.fill(m, drawn, 32, seed, ORDINARY):
                if c.X.size > 1:
                    assert np.unique(c.X).size > 1
                else:
                    assert c.X.item() != 1.0
                if m.module.INPUT == "tokens" and c.y.size > 1:
                    assert np.unique(c.y).size < c.y.size


def test_a_layer_s_init_runs_once_per_sizes_not_once_per_case(monkeypatch):
    """The cases need only the shapes of init's parameters: a network's init (random draws for every
    weight) ran for each of the 1,920 cases and was a tenth of a warm ``lab verify nets/char_mlp``."""
    from lab.verify.search import layer_cases
    from lab.verify.search.cases import ORDINARY

    m = load("nets/char_mlp")
    calls = []
    init = m.module.init
    monkeypatch.setattr(m.module, "init", lambda *a, **k: calls.append(k) or init(*a, **k))
    menu = layer_cases.first_cases(m, ORDINARY)
    cases = [c for drawn, seed in menu for c in layer_cases.fill(m, drawn, 32, seed, ORDINARY)]
    assert len(cases) == 32 * len(menu)
    assert len(calls) <= len(menu)  # once per sizes of the menu
    assert all(np.shape(c.params[k]) == np.shape(v) for c in cases for k, v in init(1, **c.sizes).items()
               if k in c.params)  # fmt: skip


def test_lab_mutants_takes_a_layer_and_runs_its_traps(capsys):
    from lab.cli import main

    assert main(["mutants", "layers/relu", "--profile", "dev"]) == 0
    out = capsys.readouterr().out
    assert "killed  layers/relu" in out and "mask_by_dout" in out and "kill rate: 1/1" in out


PATTERNS = ("spurious", "diagonal", "some_of_each_sum", "summed_along", "identity", "projection")


@pytest.mark.parametrize("name", names())
def test_no_jacobian_pattern_is_claimed_of_a_correct_layer(name):
    """Each pattern of lab/verify/explain/jacobian.py is a claim H = T(J) with H ≠ J somewhere: of a correct
    backward (H = J within bounds) none may be said, at the middle sizes with plain inputs."""
    from lab.layer import get
    from lab.verify.explain import jacobian
    from lab.verify.measure.autodiff import Witness
    from lab.verify.search import layer_cases

    m = get(name)
    w = Witness(m)
    sizes = layer_cases.menu(m)[len(layer_cases.menu(m)) // 2]
    hyper = {k: (lo + hi) / 2 for k, (lo, hi) in m.hyperparameters.items()}
    cases = layer_cases.plain(m, sizes, hyper, 3, seed=0)
    keys = list(w.evaluate(cases[:1], 4)[0].grad)
    jacs = [jacobian.measure(m, w, c, keys) for c in cases]
    assert all(j is not None for j in jacs), "the hand vjp is linear in dout: H·dout is its value"
    for j in jacs:  # the hand's Jacobian is the true one, within its bound and the hand's rounding
        assert np.all(np.abs(j.H - j.J) <= j.tol(slice(None), j.E, j.H, j.J))
    for pattern in PATTERNS:
        assert getattr(jacobian, pattern)(m, jacs, keys) is None, pattern


KEEPING = [n for n in names() if keeps(load(n).module.LAYER)]


def test_the_layers_whose_vjp_recomputed_most_of_the_forward_keep_it():
    assert {"layers/layer_norm", "layers/multi_head_attention", "layers/gelu"} <= set(KEEPING)


@pytest.mark.parametrize("name", KEEPING)
def test_a_vjp_given_what_its_forward_kept_is_the_vjp_alone_bit_for_bit(name):
    """``forward(..., saved=d)`` returns the same output and fills ``d``; ``vjp(..., saved=d)`` then gives the
    bits that ``vjp`` alone gives (it runs the forward again), at every size drawn and out to overflow."""
    layer = load(name).module.LAYER
    rng = np.random.default_rng(0)
    for shape in [(1, 1, 1), (1, 3, 2), (2, 5, 3), (3, 4, 6)]:
        params = layer.init(shape, seed=1)
        for scale in (1e-3, 1.0, 30.0, 1e200):
            x, dout = scale * rng.standard_normal(shape), rng.standard_normal(shape)
            kept = {}
            with np.errstate(all="ignore"):
                out = layer.forward(params, x, saved=kept)
                assert np.array_equal(out, layer.forward(params, x), equal_nan=True)
                assert kept, f"{name}'s forward kept nothing"
                dp_kept, dx_kept = layer.vjp(params, x, dout, saved=kept)
                dp, dx = layer.vjp(params, x, dout)
            assert np.array_equal(dx_kept, dx, equal_nan=True), (shape, scale)
            assert all(np.array_equal(dp_kept[k], dp[k], equal_nan=True) for k in params), (shape, scale)
