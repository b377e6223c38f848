"""Networks (lab/net.py, lab/nets/): composition, the boundary table, the stage or junction named, training."""

import dataclasses
import functools
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from lab import net as nets
from lab.cli import main
from lab.model import ModelError, load
from lab.verify import SLIPS, boundary_table, check, plain_case, slipped, verify
from lab.verify.runtime.source_key import code_key
from lab.verify.vocabulary import Status
from tests.declared import declared

OUTSIDE = Path(__file__).parent / "outside" / "nets"
FILES = sorted(p for p in OUTSIDE.glob("*.py") if not p.name.startswith("_"))


@functools.cache
def _report(spec: str, examples: int):
    return verify(load(spec), "ci", examples=examples)


def test_the_registry_holds_the_two_networks_each_with_its_derivation():
    assert nets.names() == ["nets/char_mlp", "nets/transformer"]
    for m in nets.all_nets():
        assert m.derivation.exists(), m.derivation
        assert nets.network_of(m) is not None


@pytest.mark.parametrize("name", ["nets/char_mlp", "nets/transformer"])
def test_the_composed_backward_is_the_true_gradient_at_every_boundary(name):
    """At a training-like point: the hand backward's gradient at each stage's output and of each parameter
    against the tapped network's measured reverse pass, as the table reads it."""
    m = load(name)
    t = boundary_table(m, plain_case(m, seed=4))
    assert t.rows and all(r.ok for r in t.rows), t.text()
    assert not t.fault
    network = nets.network_of(m)
    boundaries = {s.name for s in nets.boundaries(network.NET)}
    assert {r.name for r in t.rows if r.what != "parameter"} == boundaries
    assert {r.name for r in t.rows if r.what == "parameter"} == set(network.init((2, 4)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nets/char_mlp", "nets/transformer"])
def test_each_network_verifies_under_ci(name):
    r = _report(name, 4)
    assert r.status == Status.PASS, r.message
    assert r.cases >= 100 and not r.mostly_inconclusive
    # "large" sets the embedding at 1e3, not every weight (1e3 to the power of the depth): the cases prove something
    assert sum(r.inconclusive.values()) <= r.cases // 100, r.inconclusive
    assert r.audited > 0 and r.held == r.audited


@pytest.mark.parametrize("name", ["nets/char_mlp", "nets/transformer"])
def test_a_large_case_of_a_network_sets_its_embedding_at_1e3_and_leaves_the_other_weights(name):
    from lab.verify.search.layer_cases import make_case

    m = nets.get(name)
    first = nets.walk(nets.network_of(m).NET)[0].name
    case = make_case(m, {"B": 2, "T": 4}, {}, np.random.default_rng(0), "large", 1.0)
    big = {k for k, v in case.params.items() if np.max(np.abs(v)) > 10}
    assert big == {k for k in case.params if k.startswith(first + ".")} != set()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_outside_network_verdict_names_the_stage_or_junction(path):
    expect = declared(path, "EXPECT")
    assert expect in ("verified", "wrong"), f"{path.name} declares EXPECT = {expect!r}"
    r = _report(str(path), 2)
    if expect == "verified":
        assert r.status == Status.PASS, r.message
        assert r.cases >= 100
        return
    assert r.status == Status.FAIL, f"{path.name} passed: {r.cases} cases checked"
    diagnosis = r.failure.diagnosis
    assert declared(path, "NAMED") in diagnosis, diagnosis
    stage = declared(path, "STAGE")
    if stage:
        assert diagnosis.startswith(f"at {stage} ("), diagnosis


def _broken(base, stage: str, slip: str):
    """``base`` with the course layer of stage ``stage`` replaced by the lab's own slip of it."""
    return _swapped(base, stage, slipped(next(s for s in SLIPS if s.name == slip)).module.LAYER, slip)


def _swapped(base, stage: str, bad, tag: str):
    """``base`` with the layer of stage ``stage`` replaced by ``bad``."""

    def swap(s):
        if isinstance(s, nets.Residual):
            return dataclasses.replace(s, body=tuple(swap(b) for b in s.body))
        return dataclasses.replace(s, layer=bad) if s.name == stage else s

    mod = types.ModuleType(f"{base.__name__}~{tag}")
    mod.KIND, mod.VOCAB, mod.init = "net", base.VOCAB, base.init
    mod.NET = dataclasses.replace(base.NET, stages=tuple(swap(s) for s in base.NET.stages))
    return nets.as_model(mod.__name__, mod)


@pytest.mark.parametrize(
    "net, stage, slip, says",
    [
        ("char_mlp", "norm", "norm_projection", "the projection term"),
        ("char_mlp", "emb", "index_assign", "contributions"),
        ("transformer", "b0.mlp.fc", "reduction_axis", "a reduction over T"),
    ],
)
def test_a_stage_with_a_wrong_vjp_is_named_with_its_own_diagnosis(net, stage, slip, says):
    base = load(f"nets/{net}")
    network = nets.network_of(base)
    m = _broken(network, stage, slip)
    x = np.random.default_rng(0).integers(0, network.VOCAB, size=(4, 5))
    x[:, 0] = x[:, 1]  # repeated ids: an embedding's rows gather from several positions
    c = check(m, network.init(x.shape, seed=1), x, np.float64(1.3))
    assert c.status == "WRONG", c
    t = boundary_table(m, c.verdict.case)
    assert t.fault.startswith(f"at {stage} ("), t.fault
    assert "given the right dout" in t.fault and says in t.fault, t.fault
    # the table shows the error where it starts: right above the stage, wrong below it
    rows = {r.name: r for r in t.rows}
    assert rows["logits" if net == "char_mlp" else "head"].ok


@pytest.mark.slow
def test_a_dx_one_part_in_a_million_off_at_the_first_block_of_the_transformer_is_caught_and_named():
    """The rounding bounds of the first block's gradients are loose (worst case through every stage after
    it, forward and back), yet the search finds the cases where they are tight: a layer norm whose dx is
    1 + 1e-6 times the truth, at the first block only, fails under ci and is named with its factor."""
    from lab.layers import layer_norm

    off = types.ModuleType("layer_norm_off")
    off.__dict__.update({k: v for k, v in vars(layer_norm).items() if not k.startswith("__")})

    def vjp(params, x, dout, *, eps=layer_norm.EPS, saved=None):
        dp, dx = layer_norm.vjp(params, x, dout, eps=eps, saved=saved)
        return dp, dx * (1 + 1e-6)

    off.vjp = vjp
    network = nets.network_of(load("nets/transformer"))
    r = verify(_swapped(network, "b0.attn.ln", off, "off"), "ci")
    assert r.status == Status.FAIL, f"passed: {r.cases} cases checked"
    assert r.failure.diagnosis.startswith("at b0.attn.ln (layer_norm_off): given the right dout, its dx is wrong")
    assert "d x is 1.000001 × the true gradient" in r.failure.diagnosis, r.failure.diagnosis


def test_boundaries_prints_the_table_from_the_loss_down(capsys):
    assert main(["verify", "nets/char_mlp", "--profile", "dev", "--examples", "2", "--boundaries",
                 "--no-derivations"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "gradient of" in out and "d hidden.W" in out and "d emb.W" in out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("d logits "))
    assert lines.index(next(line for line in lines if line.startswith("d emb.W"))) > first
    assert "WRONG" not in out and "fault:" not in out


def test_a_boundary_said_in_another_shape_is_named_by_its_record_call():
    """A backward that records a boundary's gradient flattened: the error names ``record`` and the stage,
    not the verifier's internal name for the boundary's tap."""

    def vjp(params, x, dout, record):
        record("cat", np.zeros((4, 12)))
        return {}, None

    said = "record('cat', g): g has shape (4, 12); the output of cat has (4, 1, 12)"
    with pytest.raises(ModelError, match=re.escape(said)):
        nets.tapped_vjp(vjp, {nets.TAP + "cat": np.zeros((4, 1, 12))}, None, 1.0)


def test_boundaries_at_a_point_prints_the_table_there(tmp_path, capsys):
    """``--at FILE --boundaries``: the table at the point judged, not the option silently dropped. The file
    writes its whole backward itself, so the stage named is where that backward goes wrong."""
    path = Path(__file__).resolve().parent / "outside" / "nets" / "ninja_batch_norm_bessel.py"
    c = plain_case(load(str(path)))
    np.savez(tmp_path / "point.npz", X=c.X, y=c.y, **c.params)
    assert main(["verify", str(path), "--at", str(tmp_path / "point.npz"), "--boundaries"]) == 1
    out = capsys.readouterr().out
    sizes = ", ".join(f"{a} = {n}" for a, n in c.sizes.items())
    assert f"the gradient at each boundary, hand beside true (the point, {sizes})" in out, out
    assert "\nfault: at norm (batch_norm): given the right gradient at its output, the file's own backward" in out


@pytest.mark.parametrize("name", ["nets/char_mlp", "nets/transformer"])
def test_the_backward_that_reuses_the_forward_s_values_is_the_one_that_recomputes_them(name, monkeypatch):
    """A layer whose forward keeps values (lab.net.keeps) hands them to its vjp in the network's backward:
    the gradients and the boundary gradients are the bits of a backward whose every vjp recomputes them."""
    network = nets.network_of(load(name))
    x = np.random.default_rng(3).integers(0, network.VOCAB, size=(4, 6))
    params = network.init(x.shape, seed=2)
    said = {}  # the gradient at each boundary, with the kept values
    assert any(nets.keeps(s.layer) for s in nets.walk(network.NET))
    grads, _ = nets.backward(network.NET, params, x, 1.3, record=lambda n, g: said.__setitem__(n, g))
    monkeypatch.setattr(nets, "keeps", lambda layer: False)
    alone = {}
    again, _ = nets.backward(network.NET, params, x, 1.3, record=lambda n, g: alone.__setitem__(n, g))
    assert all(np.array_equal(grads[k], again[k]) for k in params)
    assert said.keys() == alone.keys() and all(np.array_equal(said[k], alone[k]) for k in said)


def test_a_stage_may_be_any_object_with_forward_and_vjp_and_keeps_only_when_both_take_saved():
    """A derivation swaps a stage for a SimpleNamespace (unhashable) whose vjp is a lambda: the backward runs,
    and hands it nothing kept."""
    from lab.layers import tanh

    slipped = types.SimpleNamespace(forward=tanh.forward, vjp=lambda params, x, dout: ({}, dout))
    assert nets.keeps(tanh) and not nets.keeps(slipped)
    assert nets.keeps(types.SimpleNamespace(forward=tanh.forward, vjp=tanh.vjp))
    network = nets.network_of(load("nets/char_mlp"))
    net = dataclasses.replace(network.NET, stages=tuple(dataclasses.replace(s, layer=slipped) if s.name == "act"
                                                        else s for s in network.NET.stages))  # fmt: skip
    x = np.random.default_rng(0).integers(0, network.VOCAB, size=(3, 4))
    grads, _ = nets.backward(net, network.init(x.shape), x, 1.0)
    assert set(grads) == set(network.init(x.shape))


def test_a_network_s_program_has_a_source_key_that_follows_its_stages():
    """A network's loss is a partial of lab.net.forward: keyed, so its programs are not traced every run; a
    stage's layer changed changes the key."""
    m = load("nets/char_mlp")
    key = code_key(m.module.loss)
    assert key is not None
    network = nets.network_of(m)
    mod = types.ModuleType("other")
    mod.KIND, mod.VOCAB, mod.init = "net", network.VOCAB, network.init
    swapped = tuple(dataclasses.replace(s, layer=load("layers/relu").module.LAYER) if s.name == "act" else s
                    for s in network.NET.stages)  # fmt: skip
    mod.NET = dataclasses.replace(network.NET, stages=swapped)
    assert code_key(nets.as_model("other", mod).module.loss) not in (None, key)


def test_lab_check_on_a_network_and_a_layer_names_the_case_by_its_axes():
    m = load("nets/char_mlp")
    network = nets.network_of(m)
    x = np.random.default_rng(0).integers(0, network.VOCAB, size=(4, 5))
    c = check(m, network.init(x.shape, seed=1), x, np.float64(1.3))
    assert c.status == "verified" and c.detail.endswith("(B = 4, T = 5)"), c.detail
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    c = check(load("layers/tanh"), {}, x, np.ones_like(x))
    assert c.status == "verified" and c.detail.endswith("(B = 2, T = 3, C = 4)"), c.detail


def test_a_network_s_key_is_the_same_before_and_after_the_verifier_imports_its_rooms():
    """The key is read from what the loss holds, not from what the running program has imported: a class
    of ours counts by its fields and methods. Keyed by its module's files instead, a network's key changed
    after the first cases (the package lab gains lab.verify's rooms as they are imported), and a cold run
    traced every shape twice."""
    script = (
        "from lab.model import load; from lab.verify.runtime.source_key import code_key; "
        "m = load('nets/char_mlp'); k = code_key(m.module.loss); "
        "import lab.verify.judge, lab.verify.explain.diagnosis, lab.verify.explain.boundaries, lab.book.build; "
        "print(k is not None and k == code_key(m.module.loss))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_a_class_in_a_network_s_key_counts_by_its_methods_and_fields():
    def key(body: str) -> str | None:
        ns: dict = {"__name__": "lab.net"}  # a class of a module of ours
        src = "import dataclasses\n" + body + "def loss(x):\n    return Stage('a').k * x\n"
        exec(compile(src, "/nowhere/ours.py", "exec"), ns)  # noqa: S102
        return code_key(ns["loss"])

    plain = "@dataclasses.dataclass(frozen=True)\nclass Stage:\n    name: str\n    k: int = 1\n"
    keys = {key(b) for b in (
        plain,
        plain.replace("k: int = 1", "k: int = 2"),  # another default
        plain.replace("frozen=True", "frozen=False"),  # other options
        plain + "    def scale(self):\n        return 2.0\n",  # a method
        plain + "    def scale(self):\n        return 3.0\n",  # its body edited
    )}  # fmt: skip
    assert None not in keys and len(keys) == 5


def test_a_network_must_end_in_its_loss_and_name_its_stages_once():
    from lab.layers import cross_entropy, linear

    with pytest.raises(ModelError, match="ends in its loss"):
        nets.Net((nets.residual("r", nets.stage("a", linear)),))
    with pytest.raises(ModelError, match="named a"):
        nets.Net((nets.stage("a", linear), nets.stage("a", linear), nets.stage("loss", cross_entropy)))
    with pytest.raises(ModelError, match="no stage holds"):
        nets.Net((nets.stage("a", linear, tie={"W": "b.W.T"}), nets.stage("loss", cross_entropy)))


# -- training ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, steps", [("char_mlp", 300), ("transformer", 200)])
def test_training_with_the_hand_backward_lowers_the_loss(name, steps):
    from lab import data
    from lab.optim.network import UNIFORM, train

    names = data.surnames(0)
    subset = data.Names(names.train[:3000], names.validation[:500], names.test[:1])
    network = nets.network_of(load(f"nets/{name}"))
    sizes = {"C": 10, "H": 64} if name == "char_mlp" else {"C": 16}
    run = train(network, steps=steps, batch=32, lr=network.TRAIN["lr"], sizes=sizes, evals=4, names=subset)
    assert run.train[-1] < run.train[0] - 0.1, run.train
    assert run.validation[-1] < run.validation[0], run.validation
    assert run.final_validation < UNIFORM - 0.3, run.final_validation
    assert len(run.samples) == 10 and all(set(s) <= set(data.VOCAB[1:]) for s in run.samples)


def test_lab_train_trains_a_network_and_refuses_model_options(capsys, tmp_path, monkeypatch):
    plot = tmp_path / "curve.png"
    assert main(["train", "nets/char_mlp", "--steps", "40", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "nats per character" in out and "sampled names:" in out and plot.stat().st_size > 0
    assert len(re.search(r"sampled names: (.*)", out).group(1).split(", ")) == 10
    from lab.optim import network

    drawn = ["ke", "", "rumqlws"]  # the end drawn first gives an empty name (common early in training)
    monkeypatch.setattr(network, "sample", lambda *a, **k: list(drawn))
    assert main(["train", "nets/char_mlp", "--steps", "2"]) == 0
    assert "sampled names: ke, (empty), rumqlws\n" in capsys.readouterr().out  # never nothing between two commas
    monkeypatch.undo()
    assert main(["train", "nets/char_mlp", "--optimizer", "newton"]) == 2
    assert "trains with adam" in capsys.readouterr().err
    assert main(["train", "nets/char_mlp", "--data", "diabetes"]) == 2
    capsys.readouterr()
    assert main(["train", "nets/char_mlp", "--lr", "-1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "learning rate" in err  # one line, and nothing printed before it
