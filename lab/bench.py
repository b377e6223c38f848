"""`make bench`: speed, measured side by side in one run and reported as ratios.

The machine is noisy, so every figure is a ratio against a reference timed in
the same process, never an absolute target.

Verifier: ``lab verify NAME`` cold, warm and under ``--profile dev``, each a fresh process timed as a
ratio to the bare import; and cases per second of ``lab.verify.search.engine.verify`` against a naive
verifier that builds ``jax.jit(jax.grad(loss))`` for every case (so it compiles
once per case, the cost the lab's batching and caches avoid) and against eager
``jax.grad``. Then the detection threshold of the tolerance, the study book (a full
build, a rebuild after one derivation changes, and the page weight), then the
training benchmark (``python -m lab.bench_train``) in a process of its own, and last the networks:
``lab verify nets/NAME`` cold and warm, and ``python -m lab.bench_nets`` (``--nets-only`` for these alone).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def _cases(model, count: int, seed: int = 0):
    from lab.verify import Case
    from lab.verify.search.cases import random_targets

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n, d = int(rng.integers(1, 65)), model.n_features or int(rng.integers(1, 9))
        X = rng.standard_normal((n, d))
        y = random_targets(rng, model.target, n, 1.0)
        params = {k: rng.standard_normal(v.shape) for k, v in model.init(d).items()}
        hyper = {k: (lo + hi) / 2 for k, (lo, hi) in model.hyperparameters.items()}
        out.append(Case(params, X, y, hyper))
    return out


def bench_verifier(names: list[str], cases: int) -> None:
    from lab import model as registry
    from lab.verify import jax, jnp, verify

    print(f"verifier: cases per second over n in 1..64, d in 1..8 ({cases} naive cases per model)")
    print(f"{'model':<32} {'naive jit/case':>15} {'eager grad':>11} {'lab verify':>11} {'lab / naive':>12}")
    # The lab runs with its persistent cache, as `make verify` does. The naive verifier compiles
    # every case afresh: a salt unique to this run is baked into its programs, so no cache of any
    # earlier run can serve them.
    salt = float(time.time_ns() % 1_000_003)
    for name in names:
        model = registry.get(name)
        t = time.perf_counter()
        r = verify(model, profile="ci")
        lab = r.cases / (time.perf_counter() - t)
        sample = _cases(model, cases)
        with _no_cache_writes(jax):
            naive, eager = _naive_rates(model, sample, salt, cases, jax, jnp)
        mark = "" if lab / naive >= 10 else "  (below the 10× target)"
        print(f"{name:<32} {naive:>13.1f}/s {eager:>9.1f}/s {lab:>9.1f}/s {lab / naive:>11.1f}×{mark}")


@contextlib.contextmanager
def _no_cache_writes(jax):
    """The naive programs are unique to one run: keep them out of the persistent cache, which they
    would grow by hundreds of useless entries per run (and which a naive user would not pay for)."""
    keep = jax.config.jax_persistent_cache_min_compile_time_secs
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1e9)
    try:
        yield
    finally:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", keep)


def _naive_rates(model, sample, salt: float, cases: int, jax, jnp) -> tuple[float, float]:
    """Cases per second of a fresh ``jax.jit(jax.grad)`` per case, and of eager ``jax.grad``."""
    t = time.perf_counter()
    for i, c in enumerate(sample):  # naive: a fresh jit per case, so each case compiles

        def loss(p, X, y, c=c, i=i, m=model):
            return m.module.loss(p, X, y, **c.hyper) + 0.0 * (salt + i)

        params = {k: jnp.asarray(v) for k, v in c.params.items()}
        g = jax.jit(jax.grad(loss))(params, jnp.asarray(c.X), jnp.asarray(c.y))
        h = model.module.grad(c.params, c.X, c.y, **c.hyper)
        assert all(np.allclose(h[k], g[k], rtol=1e-9, atol=1e-12) for k in h)
    naive = len(sample) / (time.perf_counter() - t)
    t = time.perf_counter()
    few = sample[: max(3, cases // 10)]
    for c in few:
        jax.grad(functools.partial(model.module.loss, **c.hyper))(
            {k: jnp.asarray(v) for k, v in c.params.items()}, jnp.asarray(c.X), jnp.asarray(c.y)
        )
    return naive, len(few) / (time.perf_counter() - t)


_LAB = "import sys; from lab.cli import main; sys.exit(main(sys.argv[1:]))"
_IMPORT = "import lab.verify.search.engine"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _wall(args: list[str], env: dict) -> float:
    # `python -c` puts the working folder first on sys.path, before PYTHONPATH: run in the tree measured
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", *args], env=env, check=False, capture_output=True, cwd=env.get("LAB_TREE"))
    return time.perf_counter() - t


def bench_runs(
    names: list[str], repeats: int = 3, everything: bool = True, against: str | None = None, edit: bool = True
) -> None:
    """`lab verify NAME` as a person runs it, each in a fresh process, as ratios to a bare
    ``python -c "import lab.verify.search.engine"`` timed in between (interleaved; medians of ``repeats``).

    cold: an empty cache (the first run of a new model file); warm: the runs after it;
    dev: ``--profile dev`` on that warm cache; edit: the first run after an edit to ``grad`` (a copy of
    the model file and its derivation, with ``grad`` wrapped anew each time), which checks the
    derivation again too. The cache is a fresh folder of this run.
    ``against``, a git revision, runs the same in a worktree of that revision (its own cache),
    interleaved with this checkout's runs, so before and after are measured on one machine at once.
    ``edit=False`` leaves out the edit runs (a network: its file is not a model file to copy).
    """
    print(f"\nlab verify NAME, wall time as a ratio to the bare import (medians of {repeats}, interleaved)")
    with contextlib.ExitStack() as stack:
        sides = [("now", dict(os.environ, LAB_JAX_CACHE=stack.enter_context(_tempdir())))]
        if against:
            tree = stack.enter_context(_worktree(against))
            env = dict(os.environ, LAB_JAX_CACHE=stack.enter_context(_tempdir()), PYTHONPATH=tree, LAB_TREE=tree)
            sides.append((against, env))
        print(f"{'model':<32} {'side':<10} {'import s':>9} {'cold':>7} {'warm':>7} {'dev':>7} {'edit':>7}")
        rows = list(names) + (["all nine (make verify)"] if everything else [])
        for name in rows:
            argv = ["verify"] if name.startswith("all ") else ["verify", name]
            imports, runs, copies = {}, {}, {}
            for side, env in sides:
                imports[side] = [_wall([_IMPORT], env)]
                runs[side] = {"cold": [_wall([_LAB, *argv], env)], "warm": [], "dev": [], "edit": []}
                if edit and not name.startswith("all "):
                    copies[side] = _model_copy(stack.enter_context(_tempdir()), env.get("LAB_TREE", _ROOT), name)
            kinds = [("warm", []), ("dev", ["--profile", "dev"])] + ([("edit", [])] if copies else [])
            for kind, extra in kinds:
                for i in range(repeats):
                    for side, env in sides:
                        imports[side].append(_wall([_IMPORT], env))
                        args = [*argv, *extra]
                        if kind == "edit":
                            args = ["verify", "--module", _edit_grad(copies[side], i)]
                        runs[side][kind].append(_wall([_LAB, *args], env))
            for side, _ in sides:
                base = float(np.median(imports[side]))
                r = {k: f"{float(np.median(v)) / base:>6.1f}×" if v else f"{'—':>7}" for k, v in runs[side].items()}
                print(
                    f"{name:<32} {side:<10} {base:>9.2f} {r['cold']} {r['warm']} {r['dev']} {r['edit']}",
                    flush=True,
                )


#: The input size at which a layer's hand backward is timed against JAX's: (B, T, C).
LAYER_SIZE = (32, 64, 128)


def bench_layer_backward(repeats: int = 7) -> None:
    """Each layer's hand ``vjp`` (NumPy) against ``jax.jit`` of ``jax.vjp`` of its forward, at
    :data:`LAYER_SIZE`, as the ratio of their median times in one run (compiled once before timing)."""
    from lab.layer import all_layers
    from lab.verify.runtime.jax_config import jax, jnp

    print(f"\nlayers: hand vjp against jax.jit(jax.vjp(forward)) at (B, T, C) = {LAYER_SIZE} (medians of {repeats})")
    print(f"{'layer':<32} {'hand ms':>9} {'jax ms':>9} {'hand / jax':>11}")
    rng = np.random.default_rng(0)
    for m in all_layers():
        layer = m.module.LAYER
        shape = LAYER_SIZE[: len(m.module.AXES)]
        params = {k: np.asarray(v, dtype=np.float64) for k, v in layer.init(shape, seed=0).items()}
        if layer.INPUT == "tokens":
            x = rng.integers(0, layer.VOCAB, shape)
        else:
            x = rng.standard_normal(shape)
        out = np.asarray(layer.forward(params, x))
        dout = rng.standard_normal(out.shape)

        hand = functools.partial(layer.vjp, params, x, dout)
        if layer.INPUT == "tokens":
            ids = jnp.asarray(x)
            f = jax.jit(lambda p, d, fwd=layer.forward, ids=ids: jax.vjp(lambda q: fwd(q, ids), p)[1](d))
            args = ({k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(dout))
        else:
            f = jax.jit(lambda p, xx, d, fwd=layer.forward: jax.vjp(fwd, p, xx)[1](d))
            args = ({k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(x), jnp.asarray(dout))
        jax.block_until_ready(f(*args))
        hand()
        th, tj = [], []
        for _ in range(repeats):  # interleaved, so both see the same load
            t = time.perf_counter()
            hand()
            th.append(time.perf_counter() - t)
            t = time.perf_counter()
            jax.block_until_ready(f(*args))
            tj.append(time.perf_counter() - t)
        h, j = float(np.median(th)), float(np.median(tj))
        print(f"{m.name:<32} {1e3 * h:>9.2f} {1e3 * j:>9.2f} {h / j:>10.2f}×", flush=True)


def bench_layer_runs(repeats: int = 3) -> None:
    """`lab verify layers/NAME` in a fresh process, cold (an empty cache) and warm, as ratios to a bare
    import timed in between (medians of ``repeats`` for warm and import)."""
    from lab.layer import names

    print(f"\nlab verify layers/NAME, wall time as a ratio to the bare import (medians of {repeats})")
    print(f"{'layer':<32} {'import s':>9} {'cold':>7} {'warm':>7}")
    with _tempdir() as cache:
        env = dict(os.environ, LAB_JAX_CACHE=cache)
        for name in names():
            imports = [_wall([_IMPORT], env)]
            cold = _wall([_LAB, "verify", name], env)
            warm = []
            for _ in range(repeats):
                imports.append(_wall([_IMPORT], env))
                warm.append(_wall([_LAB, "verify", name], env))
            base = float(np.median(imports))
            print(f"{name:<32} {base:>9.2f} {cold / base:>6.1f}× {float(np.median(warm)) / base:>6.1f}×", flush=True)


def _model_copy(folder: str, tree: str, name: str) -> str:
    """A user's copy of model ``name`` and its derivation, from ``tree``, in ``folder``."""
    import shutil

    for src, ext in ((os.path.join(tree, "lab", "models"), ".py"), (os.path.join(tree, "derivations"), ".md")):
        if os.path.exists(os.path.join(src, name + ext)):
            shutil.copy(os.path.join(src, name + ext), os.path.join(folder, name + ext))
    return os.path.join(folder, name + ".py")


def _edit_grad(path: str, i: int) -> str:
    """An edit to ``grad`` that leaves the loss alone, as a person makes many times: grad wrapped anew."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(
            f"\n\n_grad_{i} = grad\n\n\ndef grad(params, X, y, **hyper):  # edit {i}\n"
            f"    return _grad_{i}(params, X, y, **hyper)\n"
        )
    return path


@contextlib.contextmanager
def _tempdir():
    with tempfile.TemporaryDirectory(prefix="lab-bench-cache-") as d:
        yield d


@contextlib.contextmanager
def _worktree(rev: str):
    """A detached worktree of ``rev`` in a temporary folder, removed afterwards."""
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout
    with tempfile.TemporaryDirectory(prefix="lab-bench-rev-") as d:
        tree = os.path.join(d, "tree")
        subprocess.run(["git", "-C", root.strip(), "worktree", "add", "--detach", "-q", tree, rev], check=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", root.strip(), "worktree", "remove", "--force", tree], check=False)


def detection_threshold(names: list[str], cases: int = 256) -> None:
    """The smallest relative error in one gradient entry that the tolerance lets through, on ordinary data.

    For entry j the verifier flags |h_j − g_j| > 2 E_j, so an error of relative size
    2 E_j / |g_j| is the threshold. Reported over random cases (n in 1..64, d in 1..8,
    unit-scale data), for entries not within 1e-3 of zero relative to the largest.
    """
    from lab import model as registry
    from lab.verify import BATCH, Witness

    print("\ndetection threshold: relative error of one gradient entry that fails the check")
    print(f"{'model':<32} {'median':>9} {'99th pct':>9} {'max':>9}")
    for name in names:
        model = registry.get(name)
        sample = _cases(model, cases, seed=1)
        w = Witness(model)
        rel = []
        for i in range(0, len(sample), BATCH):
            by_shape: dict = {}
            for c in sample[i : i + BATCH]:
                by_shape.setdefault((c.X.shape, tuple(np.shape(v) for v in c.params.values())), []).append(c)
            for group in by_shape.values():
                for ev in w.evaluate(group, BATCH):
                    g = np.concatenate([np.ravel(v) for v in ev.grad.values()])
                    e = np.concatenate([np.ravel(ev.grad_err[k]) for k in ev.grad])
                    keep = np.abs(g) > 1e-3 * np.abs(g).max()
                    rel.extend((2 * e[keep] / np.abs(g[keep])).tolist())
        q = np.quantile(rel, [0.5, 0.99, 1.0])
        print(f"{name:<32} {q[0]:>9.1e} {q[1]:>9.1e} {q[2]:>9.1e}")


def detection_after_allowance(names: list[str], cases: int = 128) -> None:
    """The smallest relative error in one entry that the whole judge catches, precision allowance included.

    The tolerance 2E is for the autodiff side; a discrepancy beyond it is rerun in extended precision
    and float32 (lab/verify/measure/hand.py) and may be excused as the hand program's rounding. Here the
    largest entry of a correct gradient is multiplied by 1 + ε, and each random case (n in 1..64,
    d in 1..8, unit scale) is judged: the table gives the share of cases that catch each ε.
    """
    from lab import model as registry
    from lab.verify import BATCH, Mutation, Witness, judge, mutant

    eps = [1e-8, 1e-10, 1e-12, 1e-13, 1e-14]
    print("\ndetection after the precision allowance: share of cases that catch one entry off by a relative ε")
    print(f"{'model':<32} " + " ".join(f"{e:>7.0e}" for e in eps))
    for name in names:
        model = registry.get(name)

        def slip(e, model=model):
            def make(mod):
                def grad(p, X, y, **h):
                    g = {k: np.array(v, dtype=float) for k, v in mod.grad(p, X, y, **h).items()}
                    k = max(g, key=lambda key: float(np.max(np.abs(g[key]))) if g[key].size else 0.0)
                    g[k].flat[int(np.argmax(np.abs(g[k])))] *= 1 + e
                    return g

                return grad

            return mutant(model, Mutation(f"entry_{e:g}", "", "", make))

        mutants = [slip(e) for e in eps]
        caught, total = np.zeros(len(eps)), 0
        sample = _cases(model, cases, seed=2)
        by_shape: dict = {}
        for c in sample:
            by_shape.setdefault((c.X.shape, tuple(np.shape(v) for v in c.params.values())), []).append(c)
        w = Witness(model)
        for group in by_shape.values():
            for c, ev in zip(group, w.evaluate(group, BATCH), strict=True):
                if judge(model, c, ev, finite_differences=False).kind != "verified":
                    continue  # inconclusive or skipped: no verdict to break
                total += 1
                for j, m in enumerate(mutants):
                    caught[j] += not judge(m, c, ev, finite_differences=False, witness=w).ok
        print(f"{name:<32} " + " ".join(f"{x / max(total, 1):>7.0%}" for x in caught))


def bench_book(changed: str = "logistic_regression") -> None:
    """The study book: a full build of every page into an empty folder (KaTeX, Pygments and the
    trained-model figures), then a rebuild after one derivation changes, then the page weight."""
    import re
    import shutil
    from pathlib import Path

    from lab.book.build import DERIVATIONS, REPORT, build, ensure_katex

    ensure_katex()  # npm ci, when needed, is set-up, not build time
    with tempfile.TemporaryDirectory(prefix="lab-book-bench-") as tmp:
        deriv, out = Path(tmp) / "derivations", Path(tmp) / "book"
        shutil.copytree(DERIVATIONS, deriv)
        t = time.perf_counter()
        full = build(out, derivations=deriv, report=REPORT)
        t_full = time.perf_counter() - t
        md = deriv / f"{changed}.md"
        md.write_text(md.read_text(encoding="utf-8") + "\nOne more sentence, with $x^2$.\n", encoding="utf-8")
        t = time.perf_counter()
        again = build(out, derivations=deriv, report=REPORT)
        t_again = time.perf_counter() - t
        print(f"\nbook: {len(full.built)} model pages and the index, built with `lab book`")
        print(f"  full build, into an empty folder      {t_full:6.2f} s  ({len(full.figures_drawn)} figures drawn)")
        print(
            f"  rebuild after one derivation changes  {t_again:6.2f} s  (rebuilt: {', '.join(again.built) or 'none'})"
        )
        fonts = sum(f.stat().st_size for f in (out / "assets" / "katex" / "fonts").glob("*.woff2"))
        print(
            f"  page weight in kB: HTML, CSS, script, images; with fonts adds all KaTeX's woff2, {fonts / 1e3:.0f} kB"
        )
        print("  (an upper bound: a page loads only the fonts it uses)")
        print(f"  {'page':<32} {'HTML':>7} {'all but fonts':>14} {'with fonts':>11}")
        for page in sorted(out.glob("*.html")):
            text = page.read_text(encoding="utf-8")
            refs = set(re.findall(r'(?:href|src)="((?:assets|figures)/[^"#]+)"', text))
            refs = {r for r in refs if r.endswith((".css", ".js", ".png", ".svg", ".jpg"))}
            size = page.stat().st_size + sum((out / r).stat().st_size for r in refs if (out / r).exists())
            print(
                f"  {page.stem:<32} {page.stat().st_size / 1e3:>7.0f} {size / 1e3:>14.0f} {(size + fonts) / 1e3:>11.0f}"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.bench")
    p.add_argument("--cases", type=int, default=40, help="cases for the naive verifier, per model")
    p.add_argument("--cold", action="store_true", help="use an empty compilation cache for lab verify")
    p.add_argument("--threads", default="auto", help="the training benchmark's thread cap: a number, 'none' or "
                   "'auto' (1 when other work keeps half the CPUs busy); see lab.bench_train")  # fmt: skip
    p.add_argument("--no-runs", action="store_true", help="skip the cold, warm and dev runs of `lab verify NAME`")
    p.add_argument("--runs-only", action="store_true", help="only the cold, warm and dev runs of `lab verify NAME`")
    p.add_argument("--against", metavar="REV", help="also time those runs at git revision REV, interleaved")
    p.add_argument("--book-only", action="store_true", help="only the study book's build times and page weight")
    p.add_argument("--layers-only", action="store_true", help="only the layers: backward times and lab verify runs")
    p.add_argument("--nets-only", action="store_true", help="only the networks: steps, training, lab verify runs")
    args = p.parse_args(argv)
    if args.book_only:
        bench_book()
        return 0
    if args.layers_only:
        bench_layer_backward()
        bench_layer_runs()
        return 0
    if args.nets_only:
        return bench_nets()
    if args.cold:
        os.environ["LAB_JAX_CACHE"] = tempfile.mkdtemp(prefix="lab-jax-cache-")
    from lab import model as registry

    if args.runs_only:
        bench_runs(registry.names(), against=args.against)
        return 0
    bench_verifier(registry.names(), args.cases)
    if not args.no_runs:
        bench_runs(registry.names(), against=args.against)
    detection_threshold(registry.names())
    detection_after_allowance(registry.names())
    bench_layer_backward()
    if not args.no_runs:
        bench_layer_runs()
    bench_book()
    # Training runs in a process of its own: a thread cap reaches JAX only through XLA_FLAGS, read once
    # when JAX starts, and those flags are part of the compilation cache's keys, so setting them here
    # would have sent the verifier above past its warm cache.
    print(flush=True)
    code = subprocess.run([sys.executable, "-m", "lab.bench_train", "--threads", args.threads], check=False).returncode
    return bench_nets(runs=not args.no_runs) or code


def bench_nets(runs: bool = True) -> int:
    """The networks: ``lab verify nets/NAME`` cold and warm, then steps and training (lab.bench_nets, in a
    process of its own for the same reason as lab.bench_train)."""
    from lab.net import names as net_names

    if runs:
        bench_runs(net_names(), everything=False, edit=False)
    print(flush=True)
    return subprocess.run([sys.executable, "-m", "lab.bench_nets"], check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
