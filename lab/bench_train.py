"""Training speed, measured side by side in one run and reported as ratios (issue 4).

    python -m lab.bench_train [--repeats 5] [--threads auto|none|N] [--quick]

1. Time to reach scikit-learn's optimum on synthetic data (n = 100,000, d = 50):
   logistic regression, the lab's best configuration of ``fit(optimizer="newton")`` against
   scikit-learn's fastest ``LogisticRegression`` solver (C = inf), each to a loss within
   relative 1e-9 of scikit-learn's best loss (target: ratio ≤ 0.8); linear regression,
   ``fit(optimizer="closed")`` against ``LinearRegression().fit`` at equal accuracy (target ≤ 0.5).
   Both sides are timed as a user calls them, input checks included.
2. One gradient evaluation (n = 1,000,000, d = 100): the lab's ``grad`` against
   ``jax.jit(jax.grad(loss))`` on the same data (target ≤ 1), each also as a
   multiple of one read of X, timed in the same run; and the extra memory the
   lab's gradient allocates (it must stay O(n·d): no n×n matrix, no copy of X).

The machine is noisy, so the contenders of each comparison are timed in
interleaved rounds (a burst of load hits all of them alike), every time is the
median over the rounds, and only ratios are judged. Each iterative solver, the
lab's included, runs at the loosest tolerance from ``TOLS`` that reaches the
accuracy, so no side pays for precision it does not need.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from lab import optim
from lab.data import synthetic
from lab.model import get

LOSS_RTOL = 1e-9  # "a loss within relative 1e-9 of scikit-learn's"
TOLS = tuple(10.0**-k for k in range(3, 13))  # 1e-3 ... 1e-12, tried loosest first
ROWS: list[tuple[str, float, float, bool]] = []  # (what, ratio, target, pass) for the summary


def race(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, float, Any]]:
    """``{name: (median time, min time, result)}``: one warm-up call each, then ``repeats``
    rounds in which every function runs once, in an order that rotates from round to round."""
    out = {k: f() for k, f in fns.items()}
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            t = time.perf_counter()
            out[k] = fns[k]()
            times[k].append(time.perf_counter() - t)
    return {k: (statistics.median(times[k]), min(times[k]), out[k]) for k in fns}


def _status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
    except (OSError, StopIteration, ValueError):
        return None


def peak_rss(fn: Callable[[], Any]) -> int | None:
    """How far the resident set rose above its level before ``fn()`` ran, in bytes (Linux; else None).

    Resets the kernel's high-water mark (``/proc/self/clear_refs``), so the peak is this call's own.
    """
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    before = _status("VmRSS")
    fn()
    after = _status("VmHWM")
    return None if before is None or after is None else after - before


def verdict(what: str, ratio: float, target: float) -> str:
    ok = bool(ratio <= target)
    ROWS.append((what, ratio, target, ok))
    return f"{what}: {ratio:.3f} (target ≤ {target:g})  {'PASS' if ok else 'MISS'}"


# -- 1. time to scikit-learn's optimum -------------------------------------------


def _loosest(run: Callable[[float], float], ok: Callable[[float], bool]) -> float | None:
    """The loosest tolerance in TOLS whose run reaches the accuracy (untimed probes), or None."""
    for tol in TOLS:
        if ok(run(tol)):
            return tol
    return None


def bench_logistic(n: int, d: int, repeats: int, *, regime: str = "", judged: bool = True) -> None:
    """The logistic race. ``regime`` names the thread setting in the title; when ``judged`` is False the
    ratio is printed for reference and not counted as a target."""
    from sklearn.linear_model import LogisticRegression

    model = get("logistic_regression")
    X, y, _ = synthetic(model, n=n, d=d, seed=0)

    def sk_fit(solver: str, tol: float) -> float:
        m = LogisticRegression(C=np.inf, solver=solver, tol=tol, max_iter=10_000).fit(X, y)
        return float(model.module.loss({"w": m.coef_[0], "b": np.asarray(m.intercept_[0])}, X, y))

    def lab_fit(tol: float, **kw) -> float:
        params, _ = optim.fit(model, X, y, optimizer="newton", lr=1.0, steps=100, tol=tol, **kw)
        return float(model.module.loss(params, X, y))

    warnings.simplefilter("ignore")  # lbfgs may warn at its tightest tolerance
    ref = sk_fit("newton-cholesky", TOLS[-1])  # scikit-learn's optimum: exact Newton, run to rounding

    def ok(L: float) -> bool:
        return L <= ref * (1 + LOSS_RTOL)

    # the lab's Newton as a user calls it: exact, from a warm start on a tenth of the rows, with each
    # Hessian from 100 rows per parameter, and both
    m_warm, m_hess = n // 10, 100 * (d + 1)
    options = {
        "": {},
        f", warm_start={m_warm}": {"warm_start": m_warm},
        f", hessian_rows={m_hess}": {"hessian_rows": m_hess},
        f", warm_start={m_warm}, hessian_rows={m_hess}": {"warm_start": m_warm, "hessian_rows": m_hess},
    }
    fits: dict[str, Callable[[float], float]] = {
        f"sklearn {s}": lambda t, s=s: sk_fit(s, t) for s in ("lbfgs", "newton-cg", "newton-cholesky")
    }
    fits.update({f"lab newton{k}": lambda t, kw=kw: lab_fit(t, **kw) for k, kw in options.items()})
    fns: dict[str, Callable[[], float]] = {}
    tols: dict[str, str] = {}
    for name, run in fits.items():
        tol = _loosest(run, ok)
        if tol is None:
            print(f"  {name} never reached the accuracy")
            continue
        fns[name], tols[name] = (lambda run=run, tol=tol: run(tol)), f"{tol:.0e}"
    res = race(fns, repeats)
    warnings.resetwarnings()
    ref = min([ref] + [L for k, (_, _, L) in res.items() if k.startswith("sklearn")])
    print(f"\nlogistic regression{regime}, n = {n:,}, d = {d}: time to a loss within {LOSS_RTOL:g} (relative) of")
    print(f"scikit-learn's best loss {ref:.15g}; median and fastest of {repeats} interleaved rounds;")
    print("tol: the loosest of the solver's own tolerance that reaches the accuracy (lab: gradient norm)")
    width = max(map(len, res)) + 2
    print(f"  {'method':<{width}} {'tol':>6} {'median s':>9} {'min s':>7} {'(loss − ref)/ref':>17}")
    for k, (t, tmin, L) in res.items():
        print(f"  {k:<{width}} {tols[k]:>6} {t:>9.3f} {tmin:>7.3f} {(L - ref) / ref:>17.2e}")
    sk = {k: v[0] for k, v in res.items() if k.startswith("sklearn") and ok(v[2])}
    lab = {k: v[0] for k, v in res.items() if k.startswith("lab") and ok(v[2])}
    if not sk or not lab:
        print("  " + verdict("logistic regression: a side never reached the accuracy", np.inf, 0.8))
        return
    bs, bl = min(sk, key=sk.get), min(lab, key=lab.get)
    if judged:
        print("  " + verdict(f"logistic regression, {bl} / {bs} time", lab[bl] / sk[bs], 0.8))
    else:
        print(f"  for reference, not a target: {bl} / {bs} time: {lab[bl] / sk[bs]:.3f} (0.8 is the target)")
    if bl != "lab newton":
        print(f"  (exact Newton from zero, lab newton / {bs}: {lab.get('lab newton', np.inf) / sk[bs]:.3f})")


def bench_linear(n: int, d: int, repeats: int) -> None:
    from sklearn.linear_model import LinearRegression

    model = get("multivariate_linear_regression")
    X, y, _ = synthetic(model, n=n, d=d, seed=0)

    def sk_fit():
        m = LinearRegression().fit(X, y)
        return {"w": m.coef_, "b": np.asarray(m.intercept_)}

    fns = {
        "sklearn LinearRegression().fit": sk_fit,
        "lab fit(optimizer='closed')": lambda: optim.fit(model, X, y, optimizer="closed")[0],
    }
    res = race(fns, repeats)
    sk_params = res["sklearn LinearRegression().fit"][2]
    ref = float(model.module.loss(sk_params, X, y))
    print(f"\nlinear regression, n = {n:,}, d = {d}: the closed form at equal accuracy; "
          f"median and fastest of {repeats} interleaved rounds")  # fmt: skip
    print(f"  {'method':<44} {'median s':>9} {'min s':>7} {'(loss − sk)/sk':>15} {'max |Δw|/max |w|':>18}")
    lab = {}
    for k, (t, tmin, params) in res.items():
        L = float(model.module.loss(params, X, y))
        dw = np.max(np.abs(params["w"] - sk_params["w"])) / np.max(np.abs(sk_params["w"]))
        print(f"  {k:<44} {t:>9.4f} {tmin:>7.4f} {(L - ref) / ref:>15.2e} {dw:>18.2e}")
        if k.startswith("lab") and L <= ref * (1 + 1e-12):  # equal accuracy: the same loss to rounding
            lab[k] = t
    t_sk = res["sklearn LinearRegression().fit"][0]
    if not lab:
        print("  " + verdict("linear regression: no lab fit reached equal accuracy", np.inf, 0.5))
        return
    for k in sorted(lab, key=lab.get):
        print("  " + verdict(f"linear regression, {k} / sklearn time", lab[k] / t_sk, 0.5))


# -- 2. one gradient at n = 1e6, d = 100 --------------------------------------------


def bench_gradient(n: int, d: int, repeats: int) -> None:
    from lab.verify import jax, jnp

    lin, logit = get("multivariate_linear_regression"), get("logistic_regression")
    X, y_real, _ = synthetic(lin, n=n, d=d, seed=1)  # one X, shared by both models
    rng = np.random.default_rng(2)
    z = X @ (rng.standard_normal(d) / np.sqrt(d))
    y_bin = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    del z
    params = {"w": 0.1 * rng.standard_normal(d), "b": np.asarray(0.1)}
    gb = X.nbytes / 1e9

    peaks, rss = {}, {}  # what the lab's grad allocates (tracemalloc); the resident memory JAX's first call adds
    for model, y in ((lin, y_real), (logit, y_bin)):
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        model.module.grad(params, X, y)
        peaks[model.name] = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()

    Xj = jnp.asarray(X)  # the same data as a JAX array, made once, outside the timing
    pj = {k: jnp.asarray(v) for k, v in params.items()}
    v = np.ones(d)
    fns: dict[str, Callable[[], Any]] = {"X.sum(axis=0)": lambda: X.sum(axis=0), "X @ v": lambda: X @ v}
    for model, y in ((lin, y_real), (logit, y_bin)):
        yj = jnp.asarray(y)
        jgrad = jax.jit(jax.grad(model.module.loss)).lower(pj, Xj, yj).compile()  # compiled outside the timing
        rss[f"jax {model.name}"] = peak_rss(lambda jgrad=jgrad, yj=yj: jax.block_until_ready(jgrad(pj, Xj, yj)))
        fns[f"lab {model.name}"] = lambda model=model, y=y: model.module.grad(params, X, y)
        fns[f"jax {model.name}"] = lambda jgrad=jgrad, yj=yj: jax.block_until_ready(jgrad(pj, Xj, yj))
    res = race(fns, repeats)
    for model in (lin, logit):
        g_lab, g_jax = res[f"lab {model.name}"][2], res[f"jax {model.name}"][2]
        for k in g_lab:
            scale = np.abs(g_lab[k]).max()
            np.testing.assert_allclose(g_lab[k], np.asarray(g_jax[k]), rtol=1e-7, atol=1e-12 * scale)
    Xj = None  # free JAX's data (the lambdas above hold it through their closure cell)

    t_sum, t_gemv = res["X.sum(axis=0)"][0], res["X @ v"][0]
    one_read = min(t_sum, t_gemv)
    print(f"\none gradient, n = {n:,}, d = {d}: X is {gb:.2f} GB; median of {repeats} interleaved rounds")
    print(f"  one read of X: X.sum(axis=0) {t_sum * 1e3:.1f} ms ({gb / t_sum:.1f} GB/s), "
          f"X @ v {t_gemv * 1e3:.1f} ms ({gb / t_gemv:.1f} GB/s); one read = the faster, "
          f"{one_read * 1e3:.1f} ms")  # fmt: skip
    print(f"  {'model':<32} {'lab ms':>8} {'jax.jit ms':>11} {'lab/jax':>8} {'lab reads':>10} {'jax reads':>10}"
          f" {'lab alloc MB':>13} {'jax +RSS MB':>12}")  # fmt: skip
    ratios = {}

    def mb(b: int | None) -> str:
        return "n/a" if b is None else f"{b / 1e6:.1f}"

    for model in (lin, logit):
        t_lab, t_jax = res[f"lab {model.name}"][0], res[f"jax {model.name}"][0]
        ratios[model.name] = t_lab / t_jax
        print(f"  {model.name:<32} {t_lab * 1e3:>8.1f} {t_jax * 1e3:>11.1f} {t_lab / t_jax:>8.2f} "
              f"{t_lab / one_read:>10.2f} {t_jax / one_read:>10.2f} "
              f"{mb(peaks[model.name]):>13} {mb(rss[f'jax {model.name}']):>12}")  # fmt: skip
    print("  (reads: time as a multiple of one read of X; lab alloc: tracemalloc peak of one call; jax +RSS: how far")
    print("   the resident memory rose in JAX's first call, which makes its own copy of X and keeps it)")
    for model in (lin, logit):
        print("  " + verdict(f"{model.name} grad, lab / jax.jit(jax.grad) time", ratios[model.name], 1.0))
    for model in (lin, logit):
        peak = peaks[model.name]
        what = f"{model.name} grad, extra memory / size of X (tracemalloc peak {peak / 1e6:.1f} MB)"
        print("  " + verdict(what, peak / X.nbytes, 0.5))


def cap_threads(spec: str) -> tuple[int | None, str]:
    """The thread cap for ``--threads spec`` and a line saying where it applies.

    'auto' caps at 1 when other work already keeps half the CPUs busy (threads that wait on
    each other then stall), else sets no cap. A cap binds every contender alike: NumPy's BLAS and
    scikit-learn's OpenMP through threadpoolctl (see :func:`main`), and JAX through ``XLA_FLAGS``,
    which XLA reads once, when JAX starts. Call this before anything imports JAX.
    """
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if spec == "auto":
        threads = 1 if load > cpus / 2 else None
    elif spec == "none":
        threads = None
    else:
        threads = int(spec)
    where = f"load average {load:.1f} on {cpus} CPUs; threads: {threads or 'no cap'} (--threads {spec})"
    if threads is not None:
        flags = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
        flags += f"intra_op_parallelism_threads={threads}"
        current = os.environ.get("XLA_FLAGS", "")
        if flags not in current:
            if "jax" in sys.modules:
                return threads, where + "; JAX had started already, so its threads are not capped"
            os.environ["XLA_FLAGS"] = f"{current} {flags}".strip()
        where += " for BLAS, OpenMP and JAX alike"
    return threads, where


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.bench_train", description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per comparison; the median is kept")
    p.add_argument(
        "--threads",
        default="auto",
        help="cap the threads of every contender (BLAS, OpenMP, JAX): a number, 'none', or 'auto' (the default: 1 "
        "when other work already keeps half the CPUs busy, where threads that wait on each other stall; else no cap)",
    )
    p.add_argument("--quick", action="store_true", help="10× smaller data, for a smoke test")
    args = p.parse_args(argv)
    scale = 10 if args.quick else 1
    t0 = time.perf_counter()
    threads, where = cap_threads(args.threads)
    print("training benchmark: ratios measured side by side in one run (the machine is noisy; only ratios count)")
    print(f"at start: {where}{'; quick: 10× smaller data' if args.quick else ''}")
    with threadpool_limits(limits=threads):
        bench_logistic(100_000 // scale, 50, args.repeats, regime=f" ({threads or 'no cap on'} threads)")
        if threads is None:  # the same race with one thread each, as a loaded machine runs it
            with threadpool_limits(limits=1):
                bench_logistic(100_000 // scale, 50, args.repeats, regime=" (one thread each)", judged=False)
        bench_linear(100_000 // scale, 50, args.repeats)
        bench_gradient(1_000_000 // scale, 100, args.repeats)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux
    print(f"\nsummary ({time.perf_counter() - t0:.0f} s; load average at end {os.getloadavg()[0]:.1f}; "
          f"process peak RSS {rss:.2f} GB, with JAX's copy of X)")  # fmt: skip
    for what, ratio, target, ok in ROWS:
        print(f"  {'PASS' if ok else 'MISS'}  {ratio:>7.3f}  (target ≤ {target:g})  {what}")
    missed = sum(not r[3] for r in ROWS)
    print(f"{missed} of {len(ROWS)} targets missed" if missed else f"all {len(ROWS)} targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
