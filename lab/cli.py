"""The command line: ``lab verify``, ``lab train``, ``lab models``.

A thin shell over the Python API. Bad input is one line on stderr and exit 2;
a wrong gradient is exit 1; success is exit 0.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from lab import model as registry


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lab", description="Hand-derived gradients, proved against JAX and finite differences.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("verify", help="check every gradient (and Hessian) against the witnesses, and the derivations")
    v.add_argument("names", nargs="*", help="registered models to verify (default: all)")
    v.add_argument("--module", action="append", default=[], metavar="PATH_OR_DOTTED",
                   help="also verify a model file of your own (repeatable)")  # fmt: skip
    v.add_argument("--examples", type=int, help="Hypothesis examples per model (each holds up to 4 cases)")
    v.add_argument("--seed", type=int, help="random seed (default: derandomized under the ci profile)")
    v.add_argument("--profile", default="ci", choices=["dev", "ci", "thorough", "extreme"])
    v.add_argument("--json", metavar="FILE", help="write one JSON object per model to FILE")
    v.add_argument("--no-derivations", action="store_true", help="skip running the derivations' Python blocks")

    t = sub.add_parser("train", help="fit a model by batch gradient descent and print the result")
    t.add_argument("model")
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--steps", type=int, default=1000)
    t.add_argument("--tol", type=float, default=1e-8)
    t.add_argument("--n", type=int, default=200, help="synthetic samples")
    t.add_argument("--d", type=int, default=3, help="synthetic features")
    t.add_argument("--seed", type=int, default=0)

    n = sub.add_parser("new", help="scaffold lab/models/NAME.py and derivations/NAME.md from templates")
    n.add_argument("name")
    n.add_argument("--root", help="the project folder to write into (default: this checkout)")

    mu = sub.add_parser("mutants", help="seed classic mistakes into each model's gradient; show which are caught")
    mu.add_argument("names", nargs="*", help="models (default: all)")
    mu.add_argument("--profile", default="ci", choices=["dev", "ci", "thorough", "extreme"])

    sub.add_parser("models", help="list the registered models")
    return p


def _verify(args) -> int:
    from lab.verify import derivations
    from lab.verify.report import failures, table, write_json
    from lab.verify.search import verify

    if args.examples is not None and args.examples < 1:
        raise UsageError("--examples must be at least 1")
    models = [registry.get(n) for n in args.names] if args.names else ([] if args.module else registry.all_models())
    specs = {m.name: m.name for m in models}
    for spec in args.module:
        m = registry.load(spec)
        models.append(m)
        specs[m.name] = spec
    reports = []
    for m in models:
        with _progress(m.name) as tick:
            r = verify(m, profile=args.profile, examples=args.examples, seed=args.seed, on_case=tick)
        r.extra["spec"] = specs[m.name]
        if not args.no_derivations:
            path = derivations.derivation_for(m)
            if path.exists():
                d = derivations.check_file(path, m)
                r.derivation = "ok" if d.ok else "FAIL"
                if not d.ok:
                    r.message = (r.message + "; " if r.message else "") + "; ".join(d.problems)
                    r.status = "fail" if r.status == "pass" else r.status
            else:
                r.derivation = "missing"
                if m.name in registry.names():
                    r.status = "fail" if r.status == "pass" else r.status
                    r.message = (r.message + "; " if r.message else "") + f"no derivation: expected {path}"
        reports.append(r)
    if not args.no_derivations and not args.names and not args.module:
        orphans = [d for d in derivations.check_all() if d.name not in registry.names()]
        for d in orphans:
            print(f"derivations/{d.name}.md: FAIL: {'; '.join(d.problems)}")
    else:
        orphans = []
    print(table(reports))
    detail = failures(reports)
    if detail:
        print(detail)
    if args.json:
        write_json(reports, args.json)
    if any(r.status == "error" for r in reports) and not any(r.status == "fail" for r in reports):
        return 2
    return 1 if any(r.status != "pass" for r in reports) or orphans else 0


class _progress:
    """A live count of checked cases on stderr, when stderr is a terminal."""

    def __init__(self, name: str):
        self.name = name
        self.live = None

    def __enter__(self):
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.live = Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} cases"),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)  # fmt: skip
            self.live.start()
            self.task = self.live.add_task(f"verifying {self.name}", total=None)
        return self.tick

    def tick(self, cases: int) -> None:
        if self.live is not None:
            self.live.update(self.task, completed=cases)

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.stop()


def _new(args) -> int:
    from pathlib import Path

    from lab.scaffold import ROOT, new

    py, md = new(args.name, Path(args.root) if args.root else ROOT)
    print(f"wrote {py}\nwrote {md}\nfill in loss and grad, then: lab verify {args.name}")
    return 0


def _mutants(args) -> int:
    from lab.verify.mutations import MUTATIONS, mutant
    from lab.verify.search import verify

    models = [registry.get(n) for n in args.names] if args.names else registry.all_models()
    killed = total = 0
    for m in models:
        for mu in MUTATIONS:
            if not mu.applies(m):
                continue
            with _progress(f"{m.name} ~ {mu.name}") as tick:
                r = verify(mutant(m, mu), profile=args.profile, on_case=tick)
            diagnosis = r.failure.diagnosis if r.failure is not None else r.message
            ok = r.status == "fail" and mu.expect in diagnosis
            killed += ok
            total += 1
            print(f"{'killed' if ok else 'MISSED':6}  {m.name:<32} {mu.name:<20} {diagnosis}", flush=True)
    print(f"kill rate: {killed}/{total} = {killed / max(total, 1):.0%}")
    return 0 if killed == total else 1


def _train(args) -> int:
    from lab.data import synthetic
    from lab.optim import fit

    m = registry.get(args.model)
    X, y, _ = synthetic(m, n=args.n, d=args.d, seed=args.seed)
    params, hist = fit(m, X, y, lr=args.lr, steps=args.steps, tol=args.tol)
    print(f"{m.name}: loss {hist.loss[0]:.6g} -> {hist.loss[-1]:.6g} in {hist.steps} steps ({hist.stop_reason}); "
          f"gradient norm {hist.grad_norm[-1]:.3g}")  # fmt: skip
    with np.printoptions(precision=6, suppress=True):
        for k, v in params.items():
            print(f"  {k} = {v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "verify":
            return _verify(args)
        if args.command == "train":
            return _train(args)
        if args.command == "new":
            return _new(args)
        if args.command == "mutants":
            return _mutants(args)
        if args.command == "models":
            for n in registry.names():
                print(n)
            return 0
    except UsageError as e:
        print(f"{e}", file=sys.stderr)
        return 2
    except ValueError as e:  # bad input and ModelError: one line naming the problem
        print(f"lab: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2
