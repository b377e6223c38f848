"""The command line: ``lab verify``, ``lab train``, ``lab models``, ``lab cache``.

A thin shell over the Python API. Bad input is one line on stderr and exit 2;
a wrong gradient is exit 1; success is exit 0.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

from lab import model as registry


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message}")


EXIT = "exit codes: 0 {ok}; 1 {wrong}; 2 bad input (one line on stderr, starting 'lab: error:')"
PROFILE_HELP = (
    "how hard to search: ci (default: derandomized, the same 2048 cases every run), dev (fewer, fresh data each "
    "run, for while you edit), thorough (1000 Hypothesis examples at extreme scales), extreme (features up to "
    "1e6, scores up to 1e4, collinear columns, n = 1)"
)
#: Each subcommand's examples and exit codes, shown under its --help.
EPILOGS = {
    "verify": (
        "examples:\n"
        "  lab verify                                      every model, and every derivation and lesson\n"
        "  lab verify logistic_regression --profile dev    one model, a quick search\n"
        "  lab verify path/to/my_loss.py                   your own model file\n"
        "  lab verify my_loss.py --watch                   again each time the file or its derivation is saved\n"
        "  lab verify --json report.json                   also write the report as JSON (the book reads it)\n"
        "  lab verify ridge_regression --at point.npz      one point: X, y, one array per parameter, and any\n"
        "                                                  hyperparameter (np.savez('point.npz', X=X, y=y, w=w,\n"
        "                                                  b=b, lam=0.5)); a failing run writes its counterexample\n"
        "                                                  as such a file\n\n"
        + EXIT.format(ok="every model verified", wrong="a gradient, Hessian or derivation is wrong")
    ),
    "train": (
        "examples:\n"
        "  lab train logistic_regression --lr 0.5 --steps 500\n"
        "  lab train logistic_regression --data breast_cancer --optimizer newton\n"
        "  lab train ridge_regression --hyper lam=0.5 --plot ridge.png\n"
        "  lab train logistic_regression --csv my.csv --target label --optimizer momentum --lr 0.1\n\n"
        + EXIT.format(ok="trained", wrong="(not used)").replace("; 1 (not used)", "")
        + "; a run that diverges or makes the loss worse is one too, naming a stable learning rate"
    ),
    "new": (
        "examples:\n"
        "  lab new log_cosh                                  a smooth loss on real targets\n"
        "  lab new gamma_regression --target positive        y > 0, with a log link\n"
        "  lab new quantile --kink 1 --hyper 'tau=0.01:0.99 in (0, 1)'\n\n"
        "Run on a terminal without options, lab new asks for them.\n"
        + EXIT.format(ok="both files written", wrong="(not used)").replace("; 1 (not used)", "")
    ),
    "mutants": (
        "examples:\n  lab mutants\n  lab mutants logistic_regression --profile dev\n  lab mutants layers/softmax\n\n"
        + EXIT.format(ok="every mutant caught", wrong="a mutant survived")
        + "; a model that does not run yet, or one with no mistake to seed (a layer of your own), is bad input"
    ),
    "models": "example:\n  lab models\n\n" + EXIT.format(ok="listed", wrong="(not used)").replace("; 1 (not used)", ""),
    "cache": (
        "examples:\n  lab cache info\n  lab cache clear\n\n"
        + EXIT.format(ok="done", wrong="(not used)").replace("; 1 (not used)", "")
    ),
    "book": (
        "examples:\n  lab book                           build book/ (only what changed)\n"
        "  lab book --open linear_regression  build, then open step 1 of the course\n"
        "  lab book --open convergence        a lesson's page\n\n"
        "It needs node and npm (apt-get install nodejs npm), for KaTeX.\n"
        + EXIT.format(ok="built", wrong="a derivation has a LaTeX error or cites a missing equation (file:line)")
    ),
    "notebook": (
        "examples:\n  lab notebook logistic_regression\n  lab notebook no_minimum -o lesson.ipynb\n"
        "  lab notebook nets/char_mlp\n\n"
        "To open one: .venv/bin/pip install -e '.[notebook]', then .venv/bin/jupyter lab NAME.ipynb\n"
        + EXIT.format(ok="written", wrong="(not used)").replace("; 1 (not used)", "")
    ),
}


def _version() -> str:
    from importlib import metadata

    from lab import __version__

    try:
        return metadata.version("gradient-lab")
    except metadata.PackageNotFoundError:
        return __version__


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="lab",
        description="Hand-derived gradients, proved against JAX and finite differences.",
        epilog="lab COMMAND --help shows a command's options, examples and exit codes.\n\n"
        + EXIT.format(ok="success", wrong="a wrong gradient, Hessian or derivation"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"lab {_version()}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    _add = sub.add_parser

    def add_parser(name, **kw):
        return _add(name, epilog=EPILOGS.get(name), formatter_class=argparse.RawDescriptionHelpFormatter, **kw)

    sub.add_parser = add_parser

    v = sub.add_parser("verify", help="check every gradient (and Hessian) against the witnesses, and the derivations")
    v.add_argument("names", nargs="*", help="registered models to verify (default: all)")
    v.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="PATH_OR_DOTTED",
        help="also verify a model file of your own (repeatable)",
    )
    v.add_argument("--examples", type=int, help="Hypothesis examples per model (each holds up to 4 cases)")
    v.add_argument("--seed", type=int, help="random seed (default: derandomized under the ci profile)")
    v.add_argument("--profile", default="ci", choices=["dev", "ci", "thorough", "extreme"], help=PROFILE_HELP)
    v.add_argument("--json", metavar="FILE", help="write one JSON object per model to FILE")
    v.add_argument("--no-derivations", action="store_true", help="skip running the derivations' Python blocks")
    v.add_argument(
        "--watch",
        action="store_true",
        help="stay running and verify again each time a model's file or its derivation is saved (Ctrl-C stops)",
    )
    v.add_argument(
        "--explain",
        action="store_true",
        help="walk one case through the judge's rules and print what each rule read (the --at point, "
        "else 8 rows of synthetic data at random parameters)",
    )
    v.add_argument(
        "--boundaries",
        action="store_true",
        help="for a network: the table of the gradient at every stage's output and every parameter, hand beside "
        "true, at its failing case (else at a random case), from the loss down",
    )
    v.add_argument(
        "--at",
        metavar="FILE.npz",
        help="judge one point with every witness: an .npz with X, y, one array per parameter (w, b, ...) and "
        "optionally a number per hyperparameter (lam, ...); a failing run writes its counterexample as one",
    )

    def rows(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected a positive number of rows; got {text!r}")
        return value

    def learning_rate(text: str):
        if text == "auto":
            return text
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number or 'auto'; got {text!r}") from None

    t = sub.add_parser(
        "train", help="fit a model (gradient descent, SGD, momentum, Adam, Newton, closed form); print it"
    )
    t.add_argument("model", help="a registered model, a dotted module or a .py file")
    src = t.add_mutually_exclusive_group()
    src.add_argument(
        "--data",
        default="synthetic",
        choices=["synthetic", "diabetes", "breast_cancer"],
        help="synthetic data of the model's kind, or a scikit-learn set (standardized)",
    )
    src.add_argument("--csv", metavar="FILE", help="train on a CSV file with a header row (standardized)")
    t.add_argument("--target", metavar="COL", help="the CSV column to predict (with --csv)")
    t.add_argument("--optimizer", default=None, help="gd (default); a network (nets/NAME) trains with adam",
                   choices=["gd", "sgd", "momentum", "nesterov", "adam", "adamw", "newton", "closed"])  # fmt: skip
    t.add_argument(
        "--lr",
        type=learning_rate,
        default="auto",
        help="a number, or 'auto' (default): 1/L when the Hessian gives a bound L valid everywhere; else, for "
        "gd, a backtracking (Armijo) line search at each step, and for sgd, momentum and nesterov 1/L at the start, "
        "halved until the run trains; for adam and adamw, 0.001",
    )
    t.add_argument("--steps", type=int, default=1000, help="the most steps (epochs for sgd)")
    t.add_argument("--tol", type=float, default=1e-8, help="stop when the gradient norm falls to this")
    t.add_argument("--batch-size", type=int, default=32, help="rows per mini-batch (sgd)")
    t.add_argument("--beta", type=float, default=0.9, help="the momentum (momentum, nesterov; beta1 of adam, adamw)")
    t.add_argument("--beta2", type=float, default=0.999, help="the decay of the mean squared gradient (adam, adamw)")
    t.add_argument("--weight-decay", type=float, default=0.01, help="the decoupled weight decay λ (adamw)")
    t.add_argument(
        "--hessian-rows",
        type=rows,
        metavar="M",
        help="newton: take each Hessian from M random rows (cheaper on large data; the gradient uses all rows)",
    )
    t.add_argument(
        "--warm-start",
        type=rows,
        metavar="M",
        help="newton: start from Newton on M random rows, solved to their sampling error",
    )
    t.add_argument("--n", type=int, default=200, help="synthetic samples")
    t.add_argument("--d", type=int, default=3, help="synthetic features")
    t.add_argument("--seed", type=int, default=0, help="seed of the data, sgd's shuffling, newton's random rows")
    t.add_argument("--plot", metavar="FILE", help="write the loss curve to FILE (PNG)")
    t.add_argument(
        "--hyper",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a hyperparameter, e.g. --hyper lam=0.5 (repeatable)",
    )

    n = sub.add_parser("new", help="scaffold lab/models/NAME.py and derivations/NAME.md from templates")
    n.add_argument(
        "name",
        help="the new model's name, a Python identifier such as log_cosh: it writes lab/models/NAME.py and "
        "derivations/NAME.md",
    )
    n.add_argument("--root", help="the project folder to write into (default: this checkout)")
    n.add_argument(
        "--layer",
        action="store_true",
        help="scaffold a layer instead: lab/layers/NAME.py and derivations/layers/NAME.md (forward, vjp, init)",
    )
    n.add_argument("--target", choices=list(registry.TARGETS), help="what y may hold (default: real)")
    n.add_argument(
        "--kink",
        type=int,
        choices=[1, 2],
        help="the loss has a kink: 1 where the gradient jumps (|r|, pinball, hinge), 2 where only the second "
        "derivative does (Huber)",
    )
    n.add_argument(
        "--hyper",
        action="append",
        default=[],
        metavar="NAME=LO:HI[ in DOMAIN]",
        help="a keyword-only hyperparameter, its fuzz range and valid domain, e.g. 'tau=0.01:0.99 in (0, 1)'",
    )

    mu = sub.add_parser(
        "mutants",
        help="seed classic mistakes into each model's gradient and each layer's backward; show which are caught",
    )
    mu.add_argument("names", nargs="*", help="models (default: all)")
    mu.add_argument("--profile", default="ci", choices=["dev", "ci", "thorough", "extreme"], help=PROFILE_HELP)

    sub.add_parser("models", help="list the registered models: description, target, hyperparameters")

    ca = sub.add_parser("cache", help="the verifier's compiled programs on disk: where and how large, or clear them")
    ca.add_argument("action", choices=["info", "clear"])

    bk = sub.add_parser("book", help="build the study book into book/: each derivation beside its code, linked")
    bk.add_argument(
        "name",
        nargs="?",
        help="the model, lesson, layer (layers/NAME) or network (nets/NAME) whose page to open (default: the index)",
    )
    bk.add_argument("--open", action="store_true", help="open the page in the default web browser")

    nb = sub.add_parser(
        "notebook", help="write a runnable Jupyter notebook of a model or network (derivation + training) or lesson"
    )
    nb.add_argument(
        "name", help="a model (lab models), a lesson (derivations/lessons/NAME.md) or a network (nets/NAME)"
    )
    nb.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: NAME.ipynb here)")
    return p


def _commands(parser: argparse.ArgumentParser) -> str:
    """``lab`` alone: the subcommands, one line each."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    width = max(len(c.dest) for c in sub._choices_actions)
    lines = ["usage: lab COMMAND [options]   (lab COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {c.dest:<{width}}  {c.help}" for c in sub._choices_actions]
    return "\n".join(lines)


def _looks_like_file(name: str) -> bool:
    from pathlib import Path

    return name.endswith(".py") or Path(name).is_file() or Path(name + ".py").is_file()


def _verify(args) -> int:
    if args.json:
        _check_writable(args.json, "lab verify: --json")
    if args.examples is not None and args.examples < 1:
        raise UsageError("--examples must be at least 1")
    # a file named where a model name goes (lab verify my_loss.py) is taken as --module
    from lab.layer import names as layer_names
    from lab.net import names as net_names

    known = set(registry.names()) | set(layer_names()) | set(net_names())
    args.module = [n for n in args.names if n not in known and _looks_like_file(n)] + list(args.module)
    args.names = [n for n in args.names if n not in args.module]
    if args.watch:
        if args.at:
            raise UsageError("lab verify: --watch and --at do not go together")
        return _watch(args)
    return _verify_once(args)


def _verify_once(args, watched: list | None = None) -> int:
    """One run of ``lab verify``: load the models, search, check the derivations, print the report.
    ``watched``, when given, is set to the models' files and derivations (for ``--watch``)."""
    from lab import derivations
    from lab.layer import all_layers
    from lab.net import all_nets
    from lab.verify import failures, table, verify, write_json

    # the layers after the models, and the networks after them, as the course reads them
    everything = registry.all_models() + all_layers() + all_nets()
    models = [registry.load(n) for n in args.names] if args.names else ([] if args.module else everything)
    specs = {m.name: m.name for m in models}
    for spec in args.module:
        m = registry.load(spec)
        models.append(m)
        specs[m.name] = spec
    if watched is not None:
        watched[:] = [str(p) for m in models for p in (m.source, derivations.derivation_for(m))]
    from lab.verify import approximated

    approximated.clear()  # what this run's programs note (a run of --watch follows another)
    if args.at or args.explain:
        return _verify_at(models, args.at, explain=args.explain, boundaries=args.boundaries)
    for m in models:  # what loss and grad return, on a few rows, before any long run
        _contract(m)
    background = None
    if not args.no_derivations:  # the derivations' blocks run beside the search, in a process of their own
        jobs = [(specs[m.name], m, derivations.derivation_for(m)) for m in models]
        for _, m, path in jobs:
            if path.exists() and specs.get(m.name) in args.module:
                print(f"{m.name}: checking the derivation {path}")
        full = not args.names and not args.module
        background = derivations.Background([j for j in jobs if j[2].exists()], registry.DERIVATIONS if full else None)
    reports = []
    try:
        for m in models:
            with _progress(m.name) as tick:
                r = verify(m, profile=args.profile, examples=args.examples, seed=args.seed, on_case=tick)
            r.extra["spec"] = specs[m.name]
            reports.append(r)
            if r.extra.get("stuck"):  # XLA's threads are held: no other program would run
                models = models[: len(reports)]
                break
    except BaseException:
        if background is not None:
            background.cancel()
        raise
    checked, rest = background.results() if background is not None else ({}, [])
    for m, r in zip(models, reports, strict=True):
        if background is not None:
            path = derivations.derivation_for(m)
            if path.exists():
                d = checked[m.name]
                r.derivation = d.status
                if not d.ok:
                    r.message = (r.message + "; " if r.message else "") + "; ".join(d.problems)
                    r.status = "fail" if r.status == "pass" else r.status
            else:
                r.derivation = "missing"
                if m.name in registry.names():
                    r.status = "fail" if r.status == "pass" else r.status
                    r.message = (r.message + "; " if r.message else "") + f"no derivation: expected {path}"
    lessons = [d for d in rest if d.name.startswith(f"{derivations.LESSONS}/")]
    orphans = [d for d in rest if d.name not in registry.names() and d not in lessons]
    for d in orphans:
        print(f"derivations/{d.name}.md: FAIL: {'; '.join(d.problems)}")
    print(table(reports))
    if lessons:
        width = max(len(d.name) for d in lessons) + len("derivations/.md")
        for d in lessons:
            print(f"{'derivations/' + d.name + '.md':<{width}}  {d.blocks:>2} blocks  {d.status}")
            for problem in d.problems:
                print(f"  - {problem}")
    detail = failures(reports)
    if detail:
        print(detail)
    if args.boundaries:
        _boundaries(models, reports)
    for r in reports:
        saved = _save_counterexample(r)
        if saved:
            again = f"lab verify {specs[r.model]} --at {saved}"
            print(f"{r.model}: counterexample written to {saved}; judge it alone: {again}")
    from lab.verify import approximated

    if approximated:
        names = ", ".join(sorted(approximated))
        print(
            "note: the rounding bound is a first-order estimate, not rigorous, through: "
            f"{names} (where that estimate is not finite, it is taken at the ends of the error interval)"
        )
    if args.json:
        write_json(reports, args.json)
    if any(r.status == "error" for r in reports) and not any(r.status == "fail" for r in reports):
        code = 2
    else:
        code = 1 if any(r.status != "pass" for r in reports) or orphans or not all(d.ok for d in lessons) else 0
    if any(r.extra.get("stuck") for r in reports):  # a program that never returned holds XLA's threads:
        sys.stdout.flush()  # the interpreter could not shut JAX down, so the process ends here
        sys.stderr.flush()
        os._exit(code)
    return code


def _watch(args, poll: float = 0.3, runs: int | None = None) -> int:
    """``lab verify --watch``: verify, then again each time a watched file is saved, in this process, so
    a run after an edit pays neither the import nor the loading of the compiled programs. A model file
    that does not import, or any other bad input, is one line, and the watch goes on. ``runs`` (for
    tests) stops after that many runs. Returns the last run's exit code."""
    import importlib
    import os
    import time

    targets = list(args.names) or ([] if args.module else registry.names())
    models_dir = os.path.dirname(registry.lab.models.__file__)
    # an imported module is imported once: its file, when edited, is read again by a reload
    imported = {os.path.join(models_dir, f"{n}.py"): f"lab.models.{n}" for n in targets}
    sources = list(imported)
    for spec in args.module:
        if _looks_like_file(spec):  # a path that is not there is a usage error, not something to wait for
            path = spec if os.path.exists(spec) or not os.path.exists(spec + ".py") else spec + ".py"
            if not os.path.isfile(path):
                raise registry.ModelError(f"no such model file: {spec}")
            sources.append(path)  # loaded afresh on every run
        else:
            found = importlib.util.find_spec(spec)
            if found is None or not found.origin:
                raise registry.ModelError(f"no model module named {spec!r}")
            imported[found.origin] = spec
            sources.append(found.origin)
    watched: list[str] = []  # the models' files and derivations, from the last run that loaded them

    def stamp() -> dict:
        out = {}
        for f in dict.fromkeys(sources + watched):
            try:
                st = os.stat(f)
                out[f] = (st.st_mtime_ns, st.st_size)
            except OSError:
                out[f] = None
        return out

    rc, done, before, stale = 0, 0, None, set()
    try:
        while True:
            now = stamp()
            if before is not None:
                changed = [f for f in now if now[f] != before.get(f)]
                names = ", ".join(os.path.basename(f) for f in changed)
                print(f"\n{time.strftime('%H:%M:%S')} {names} changed: verifying again", flush=True)
                stale.update(imported[f] for f in changed if f in imported)
            t0 = time.perf_counter()
            try:
                for name in sorted(stale):  # until a reload succeeds, the module stays stale
                    if name in sys.modules:
                        importlib.reload(sys.modules[name])
                    stale.discard(name)
                rc = _verify_once(args, watched)
            except Exception as e:  # the file as saved mid-edit: say so, and watch on
                text = str(e).splitlines()[0] if str(e) else ""
                plain = isinstance(e, ValueError)  # ModelError and bad input already name the problem
                print(f"lab: error: {text if plain else f'{type(e).__name__}: {text}'}", file=sys.stderr, flush=True)
                rc = 2
            done += 1
            if runs is not None and done >= runs:
                return rc
            before = stamp()
            shown = ", ".join(sorted(os.path.relpath(f) for f in before))
            print(f"({time.perf_counter() - t0:.1f} s; watching {shown}; Ctrl-C stops)", flush=True)
            while stamp() == before:
                time.sleep(poll)
            time.sleep(poll / 3)  # let an editor finish writing
    except KeyboardInterrupt:
        return rc


def _contract(m) -> None:
    """The model contract on 8 rows of synthetic data at init's parameters: a ``ModelError`` in one line.
    A layer's contract is checked at its first case, by the judge's first rule."""
    from lab.data import synthetic

    if getattr(m.module, "KIND", None) == "layer":
        return

    X, y, _ = synthetic(m, n=8, d=3, seed=0)
    try:
        registry.check_contract(m, m.init(X.shape[1]), X, y)
    except registry.ModelError as e:
        raise registry.ModelError(f"{m.name}: {e}") from None


def _boundaries(models, reports) -> None:
    """``lab verify nets/NAME --boundaries``: each network's boundary table."""
    from lab.verify import plain_case

    for m, r in zip(models, reports, strict=False):
        if _is_network(m):
            failed = r.failure is not None
            case, where = (r.failure.case, "its failing case") if failed else (plain_case(m), "a random case")
            _boundary_table(m, case, where)


def _is_network(m) -> bool:
    """Whether ``m`` is a network; when it is not, says that --boundaries is for networks."""
    from lab.net import network_of

    if network_of(m) is None:
        print(f"{m.name}: --boundaries is for networks (nets/NAME); this is not one")
        return False
    return True


def _boundary_table(m, case, where: str) -> None:
    """The boundary table of the network ``m`` at ``case``, and the stage or junction at fault."""
    from lab.verify import boundary_table

    sizes = ", ".join(f"{a} = {n}" for a, n in case.sizes.items())
    print(f"\n{m.name}: the gradient at each boundary, hand beside true ({where}, {sizes})")
    t = boundary_table(m, case)
    print(t.text())
    if t.fault:
        print(f"fault: {t.fault}")


def _train_net(args, network, name: str) -> int:
    """``lab train nets/NAME``: mini-batches of windows of names, the hand backward, Adam."""
    from lab.optim.network import UNIFORM, listed, train

    if args.optimizer not in (None, "adam"):
        raise UsageError(f"lab train: a network trains with adam; --optimizer {args.optimizer} is for models")
    if args.csv or args.data != "synthetic" or args.hyper:
        raise UsageError("lab train: a network trains on the names of lab.data.surnames; --data, --csv and --hyper "
                         "are for models")  # fmt: skip
    if args.steps < 1 or args.batch_size < 1:
        raise UsageError("lab train: --steps and --batch-size must be positive")
    if args.plot:
        _check_writable(args.plot, "lab train: --plot")
    lr = getattr(network, "TRAIN", {}).get("lr", 1e-3) if args.lr == "auto" else float(args.lr)
    if not (lr > 0 and math.isfinite(lr)):
        raise UsageError(f"lab train: the learning rate must be a positive number; got {args.lr}")
    print(f"{name}: {args.steps} steps of adam (lr {lr:g}, ÷ 10 for the last fifth), batches of {args.batch_size} "
          "windows of the census surnames", flush=True)  # fmt: skip

    def said(step, tr, va):
        print(f"  step {step:>6}  train {tr:.4f}  validation {va:.4f} nats per character", flush=True)

    run = train(network, steps=args.steps, batch=args.batch_size, lr=lr, seed=args.seed, on_eval=said)
    print(f"{name}: validation {run.final_validation:.4f} nats per character on every validation name "
          f"(uniform: {UNIFORM:.4f}); {run.seconds:.1f} s, {run.step_seconds * 1e3:.2f} ms a step")  # fmt: skip
    print(f"{name}: sampled names: {listed(run.samples)}")
    if args.plot:
        from lab.plots import network_curves

        network_curves(run, args.plot)
        print(f"{name}: loss curve written to {args.plot}")
    return 0


def _verify_at(models, path: str | None, explain: bool = False, boundaries: bool = False) -> int:
    """``lab verify NAME --at FILE.npz``: one model, one point, every witness; with ``--explain``, the
    point walked through the judge's rules (without ``--at``: synthetic data at random parameters); with
    ``--boundaries``, a network's boundary table at the point."""
    from lab.verify import check, load_point

    if len(models) != 1:
        flag = "--at" if path else "--explain"
        raise UsageError(f"lab verify: {flag} judges one model; got {len(models)} (name one, or one --module)")
    m = models[0]
    hyper, point = {}, None
    if path:
        params, X, y = load_point(path)
        for k in [k for k in params if k in m.hyperparameters]:  # a number per hyperparameter, if the file holds one
            value = np.asarray(params.pop(k))
            if value.size != 1:
                raise ValueError(f"{path}: {k} holds {value.size} numbers; a hyperparameter is one number")
            hyper[k] = float(value.reshape(()))
    elif getattr(m.module, "KIND", None) == "layer":  # the first case the search checks for the layer
        from lab.verify.search.cases import ORDINARY
        from lab.verify.search.layer_cases import first_cases

        c = first_cases(m, ORDINARY)[-1][0][0]
        params, X, y, hyper = c.params, c.X, c.y, c.hyper
    else:
        from lab.data import synthetic

        X, y, _ = synthetic(m, n=8, d=m.n_features or 3, seed=0)
        rng = np.random.default_rng(0)
        params = {k: rng.standard_normal(np.shape(v)) for k, v in m.init(X.shape[1]).items()}
    if getattr(m.module, "KIND", None) == "layer":  # a point as the search holds it: x among the params, dout as X
        missing = sorted(set(m.init(1)) - set(params))
        if missing:
            held = ", ".join(sorted(params)) or "none"
            raise ValueError(
                f"{path}: {m.name}'s point needs {', '.join(missing)} (a layer's or network's point holds its "
                f"parameters, a real input as x, dout as X, and ids as y); it holds {held}"
            )
        dout = np.reshape(X, m.module.out_shape(params, y, **hyper))
        if boundaries and _is_network(m):  # the point as the search holds it: its Case
            from lab.verify.case import Case

            sizes = dict(zip(m.module.FORM.all_axes, np.shape(y), strict=False))
            point = Case(dict(params), np.reshape(dout, (-1, dout.shape[-1] if dout.ndim else 1)), y, dict(hyper),
                         sizes, layer=True)  # fmt: skip
        params, X = m.module.FORM.split(params, y)
        y = dout
    result = check(m, params, X, y, **hyper)
    if explain:
        print(result.walk)
    print(result)
    if boundaries and point is not None:
        _boundary_table(m, point, "the point")
    return result.exit_code


COUNTEREXAMPLES = ".cache/counterexamples"  # where a failing lab verify writes NAME.npz, which --at reads


def _save_counterexample(r) -> str | None:
    """A failing case as ``.cache/counterexamples/NAME.npz``: X, y, the parameters and the hyperparameters, the
    file ``lab verify NAME --at`` reads. None when there is no such case (a pass, a contract error)."""
    from pathlib import Path

    f = r.failure
    if f is None or f.kind == "contract" or getattr(f, "case", None) is None:
        return None
    c = f.case
    arrays = {"X": np.asarray(c.X), "y": np.asarray(c.y)}
    arrays |= {k: np.asarray(v) for k, v in c.params.items()}
    arrays |= {k: np.asarray(float(v)) for k, v in c.hyper.items()}
    path = Path(COUNTEREXAMPLES) / f"{r.model}.npz"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)
    except OSError as e:
        print(f"{r.model}: the counterexample could not be written to {path}: {e.strerror}")
        return None
    return path.as_posix()


def _check_writable(path: str, what: str) -> None:
    """A ``UsageError`` now, before a long run, when ``path`` cannot be written."""
    import os
    from pathlib import Path

    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise UsageError(f"{what}: {path} is a folder; give a file name")
    if not folder.is_dir():
        raise UsageError(f"{what}: cannot write {path}: there is no folder {folder}")
    if not os.access(p if p.exists() else folder, os.W_OK):
        raise UsageError(f"{what}: cannot write {path}: permission denied")


class _progress:
    """A live count of checked cases on stderr: a rich spinner on a terminal, else one plain line
    about every ``EVERY`` seconds (a log, CI), with the model, the cases done and the time elapsed."""

    EVERY = 10.0

    def __init__(self, name: str):
        self.name = name
        self.live = None
        self.cases = 0
        self.stop = None

    def _lines(self, t0: float) -> None:
        import time

        while not self.stop.wait(self.EVERY):
            print(f"lab: {self.name}: {self.cases} cases checked, {time.monotonic() - t0:.0f} s", file=sys.stderr,
                  flush=True)  # fmt: skip

    def __enter__(self):
        if not sys.stderr.isatty():
            import threading
            import time

            self.stop = threading.Event()
            threading.Thread(target=self._lines, args=(time.monotonic(),), daemon=True).start()
        else:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.live = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.completed} cases"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.live.start()
            self.task = self.live.add_task(f"verifying {self.name}", total=None)
        return self.tick

    def tick(self, cases: int) -> None:
        self.cases = cases
        if self.live is not None:
            self.live.update(self.task, completed=cases)

    def __exit__(self, *exc):
        if self.stop is not None:
            self.stop.set()
        if self.live is not None:
            self.live.stop()


def _new(args) -> int:
    from pathlib import Path

    from lab.scaffold import ROOT, new, parse_hyper

    if args.layer:
        from lab.scaffold import new_layer

        if args.target or args.kink or args.hyper:
            raise UsageError("lab new --layer takes no --target, --kink or --hyper: declare them in the layer's file")
        py, md = new_layer(args.name, Path(args.root) if args.root else ROOT)
        print(f"wrote {py}\nwrote {md}\nfill in forward and vjp, then: lab verify layers/{args.name}")
        return 0
    target, kink, hyper = args.target, args.kink, [parse_hyper(h) for h in args.hyper]
    if target is None and kink is None and not hyper and sys.stdin.isatty() and sys.stdout.isatty():
        target, kink, hyper = _ask()
    py, md = new(args.name, Path(args.root) if args.root else ROOT, target=target or "real", kink=kink, hyper=hyper)
    print(f"wrote {py}\nwrote {md}")
    if kink is not None:
        print(f"the loss has a kink (KINK_ORDER = {kink}): check kink_distance in {py.name}, written for r = ŷ − y = 0")
    print(f"fill in loss and grad, then: lab verify {args.name}")
    return 0


def _ask():
    """The model's nature, asked on a terminal: target, kink, hyperparameters (Enter keeps the default)."""
    from lab.scaffold import parse_hyper

    def ask(question: str, default: str, ok) -> str:
        while True:
            try:
                answer = input(f"{question} [{default}]: ").strip() or default
            except EOFError:
                return default
            if ok(answer):
                return answer
            print(f"  not one of the choices: {answer!r}")

    def hyper_ok(text: str) -> bool:
        try:
            [parse_hyper(h) for h in filter(None, (t.strip() for t in text.split(";")))]
        except ValueError as e:
            print(f"  {e}")
            return False
        return True

    target = ask(f"what may y hold? ({', '.join(registry.TARGETS)})", "real", lambda a: a in registry.TARGETS)
    kink = ask("is the loss smooth? none, 1 (the gradient jumps: |r|, pinball, hinge), 2 (only the second "
               "derivative: Huber)", "none", lambda a: a in ("none", "1", "2"))  # fmt: skip
    hyper = ask("hyperparameters, e.g. tau=0.01:0.99 in (0, 1); separate several with ';'", "none",
                lambda a: a == "none" or hyper_ok(a))  # fmt: skip
    specs = [] if hyper == "none" else [parse_hyper(h) for h in filter(None, (t.strip() for t in hyper.split(";")))]
    return target, None if kink == "none" else int(kink), specs


def _mutants(args) -> int:
    from lab.layer import get as layer
    from lab.verify import MUTATIONS, SLIPS, mutant, slipped, verify

    models = [registry.load(n) for n in args.names] if args.names else registry.all_models()
    if args.names:  # a model named that does not run yet: one line, not every mutant "missed"
        for m in models:
            _contract(m)
    wanted = {m.name for m in models}
    runs = [(m, mu.name, mu.expect, lambda m=m, mu=mu: mutant(m, mu)) for m in models for mu in MUTATIONS
            if getattr(m.module, "KIND", None) != "layer" and mu.applies(m)]  # fmt: skip
    runs += [(layer(s.layer), s.name, s.expect, lambda s=s: slipped(s)) for s in SLIPS
             if not args.names or f"layers/{s.layer}" in wanted]  # fmt: skip
    if not runs:  # a kill rate of 0/0 is not a result
        raise UsageError(
            f"mutants: no mistake to seed into {', '.join(sorted(wanted))}: the mutants are written for a model's "
            "grad and for the course layers' own lines, and a layer of your own has none"
        )
    killed = total = 0
    for m, name, expect, make in runs:
        with _progress(f"{m.name} ~ {name}") as tick:
            r = verify(make(), profile=args.profile, on_case=tick)
        diagnosis = r.failure.diagnosis if r.failure is not None else r.message
        ok = r.status == "fail" and expect in diagnosis
        killed += ok
        total += 1
        print(f"{'killed' if ok else 'MISSED':6}  {m.name:<32} {name:<20} {diagnosis}", flush=True)
    print(f"kill rate: {killed}/{total} = {killed / max(total, 1):.0%}")
    return 0 if killed == total else 1


def _cache(args) -> int:
    """``lab cache info | clear``: the program store (lab/verify/runtime/) in $LAB_JAX_CACHE or the user's cache."""
    from lab.verify import MAX_MB, OPS_DIR, OPS_MAX_MB, STORE

    if STORE.root is None:
        print("the cache is off (LAB_JAX_CACHE=off)")
        return 0
    folder = STORE.root.parent
    # entries of JAX's own compilation cache, which earlier versions of the lab kept in the same folder
    jax_files = [p for p in folder.glob("*") if p.is_file() and p.name.endswith(("-cache", "-atime"))]
    # the referee's programs of one primitive each, kept by JAX's own cache (lab/verify/runtime/ops_cache.py)
    ops = [p for p in OPS_DIR.glob("*") if p.is_file()] if OPS_DIR is not None else []
    from lab.derivations import RESULTS

    kinds = _store_kinds(STORE.entries())
    if args.action == "clear":
        n, d = STORE.clear(), RESULTS.clear()
        for p in jax_files + ops:
            p.unlink(missing_ok=True)
        said = "; ".join(f"{k} {what}" for what, (k, _) in kinds.items() if k)
        print(
            f"removed {n} store entries ({said or 'none'}), {len(ops)} one-operation programs, {d} derivation "
            f"results and {len(jax_files)} older JAX cache files from {folder}"
        )
        return 0
    size = STORE.size()
    old = sum(p.stat().st_size for p in jax_files)
    print(f"folder:   {STORE.root}")
    count = len(STORE.entries())
    print(f"store:    {count} entries, {size / 2**20:.1f} MB of at most {MAX_MB:.0f} MB (set by LAB_CACHE_MAX_MB)")
    for what, (k, b) in kinds.items():
        if k:
            print(f"  {what}: {k}, {b / 2**20:.1f} MB")
    print(f"derivation results: {len(RESULTS.entries())} entries, {RESULTS.size() / 2**10:.0f} kB")
    ops_mb = sum(p.stat().st_size for p in ops) / 2**20
    print(f"one-operation programs: {len(ops)} entries, {ops_mb:.1f} MB of at most {OPS_MAX_MB:.0f} MB (the referee's)")
    if jax_files:
        print(f"older JAX cache files: {len(jax_files)}, {old / 2**20:.1f} MB (`lab cache clear` removes them)")
    return 0


#: What the program store holds, by the start of an entry's name (lab/verify/runtime/).
STORE_KINDS = {
    "p-": "compiled programs",
    "s-": "programs' source keys",
    "m-evidence-": "kept evidence of batches",
    "m-fd-": "kept finite differences",
    "a-": "audits of the rounding bounds",
}


def _store_kinds(entries) -> dict[str, tuple[int, int]]:
    """(count, bytes) of the store's entries of each kind; what no kind names is "other"."""
    out = {what: [0, 0] for what in [*STORE_KINDS.values(), "other"]}
    for e in entries:
        what = next((w for start, w in STORE_KINDS.items() if e.name.startswith(start)), "other")
        out[what][0] += 1
        out[what][1] += e.stat().st_size
    return {what: (k, b) for what, (k, b) in out.items()}


def _hyper(pairs: list[str]) -> dict[str, float]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise UsageError(f"lab train: --hyper takes NAME=NUMBER, e.g. lam=0.5; got {pair!r}")
    return out


#: How many times lab train halves a default step that no curvature bound covers, looking for one that trains.
HALVINGS = 20


def _stable_run(run, lr: float):
    """``run(lr)`` gives (params, history). The first of lr, lr/2, lr/4, ... (at most :data:`HALVINGS` halvings)
    whose run neither diverges nor ends above its start: (params, history, that lr, the halvings). After the
    last halving, its run stands as it is, and so does its divergence."""
    from lab.optim import DivergedError

    for halved in range(HALVINGS):
        try:
            params, hist = run(lr)
        except DivergedError:
            pass
        else:
            if hist.loss[-1] <= hist.loss[0]:
                return params, hist, lr, halved
        lr /= 2
    return (*run(lr), lr, HALVINGS)


def _train(args) -> int:
    import time

    from lab.data import Standardizer, load, read_csv, synthetic
    from lab.optim import fit, flatten, has_global_bound, safe_lr, smooth, stable_lr

    m = registry.load(args.model)
    from lab.net import network_of

    if network_of(m) is not None:
        return _train_net(args, network_of(m), m.name)
    if getattr(m.module, "KIND", None) == "layer":  # its "loss" is ⟨dout, forward⟩ at a random dout: nothing to fit
        raise UsageError(f"lab train: {m.name} is a layer, which has no loss of its own to fit: lab train fits "
                         f"models and networks (nets/NAME); check the layer with lab verify {m.name}")  # fmt: skip
    args.optimizer = args.optimizer or "gd"
    if args.plot:
        _check_writable(args.plot, "lab train: --plot")  # now, not after the run
    m = m.with_hyper(**_hyper(args.hyper))
    if args.target and not args.csv:
        raise UsageError("lab train: --target goes with --csv FILE")
    if args.csv and not args.target:
        raise UsageError("lab train: --csv needs --target COLUMN, the column to predict")
    scaler = ds = None
    notes = []  # printed once training succeeds: on an error, stdout stays empty
    if args.csv or args.data != "synthetic":
        ds = read_csv(args.csv, args.target, kind=m.target) if args.csv else load(args.data)
        scaler = Standardizer().fit(ds.X, ds.features)
        X, y, source = scaler.transform(ds.X), ds.y, args.csv or args.data
        notes.append(f"{m.name} on {source}: {X.shape[0]} rows, {X.shape[1]} features (standardized); {args.optimizer}")
    else:
        X, y, _ = synthetic(m, n=args.n, d=args.d, seed=args.seed)
        source = "synthetic data"
    kw = {
        "sgd": {"batch_size": args.batch_size, "seed": args.seed},
        "momentum": {"beta": args.beta},
        "nesterov": {"beta": args.beta},
        "adam": {"beta1": args.beta, "beta2": args.beta2},
        "adamw": {"beta1": args.beta, "beta2": args.beta2, "weight_decay": args.weight_decay},
        "newton": {"hessian_rows": args.hessian_rows, "warm_start": args.warm_start, "seed": args.seed},
    }.get(args.optimizer, {})
    if args.optimizer != "newton" and (args.hessian_rows is not None or args.warm_start is not None):
        raise UsageError("lab train: --hessian-rows and --warm-start apply to --optimizer newton only")
    start, X, y = m.check(m.init(X.shape[1]), X, y)
    registry.check_contract(m, start, X[:16], y[:16])  # before the learning rate reads the Hessian and grad
    lr, bound, search, everywhere, halve = args.lr, None, False, False, None
    if args.optimizer in ("gd", "sgd", "momentum", "nesterov"):
        auto = lr == "auto"
        everywhere = has_global_bound(m, X, y)  # 1/L is safe everywhere; else gd searches (not across a kink)
        search = auto and args.optimizer == "gd" and smooth(m) and not everywhere
        if auto and not search and not hasattr(m.module, "hessian"):
            raise ValueError(f"--lr auto for {args.optimizer} needs the hessian of {m.name!r}, which it does not "
                             "define; pass --lr FLOAT, or use --optimizer gd (a line search)")  # fmt: skip
        try:
            bound = stable_lr(m, X, y, optimizer=args.optimizer, beta=args.beta)
        except ValueError:  # no hessian, or a gradient with jumps: no bound to print
            if auto and not search:
                raise
        if search:
            why = "no Hessian" if not hasattr(m.module, "hessian") else "no curvature bound that holds everywhere"
            notes.append(f"learning rate auto: a backtracking (Armijo) line search at each step, since {m.name} has "
                         f"{why}")  # fmt: skip
        else:
            lr = safe_lr(m, X, y, optimizer=args.optimizer) if auto else lr
            if bound is None:
                stable = ""
            elif everywhere:
                stable = f"; for this data a stable learning rate is below {bound:.4g}"
            else:
                stable = f"; 2/L at the start is {bound:.4g} (the curvature there: it changes along the path)"
                if auto:  # 1/L at the start need not hold along the path, and there is no line search: halve
                    halve = (len(notes), stable)  # until a run trains, and say so in this note
            notes.append(f"learning rate {lr:.4g}{' (auto: 1/L)' if auto else ''}{stable}")
    elif args.optimizer in ("adam", "adamw"):  # a step of about lr per coordinate: no bound 1/L applies
        from lab.optim import ADAM_LR

        auto = " (auto: the default of Kingma and Ba)" if lr == "auto" else ""
        lr = ADAM_LR if lr == "auto" else lr
        notes.append(f"learning rate {lr:.4g}{auto}")

    live = tick = None  # a progress bar on stderr, shown once a run has lasted half a second
    if sys.stderr.isatty() and args.optimizer != "closed":
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        live = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = live.add_task(f"training {m.name}", total=args.steps)
        t0, every, shown = time.perf_counter(), max(1, args.steps // 200), []

        def tick(step: int) -> None:
            if step % every:
                return
            if not shown and time.perf_counter() - t0 > 0.5:
                live.start()
                shown.append(True)
            if shown:
                live.update(task, completed=step)

    def run(lr):
        return fit(m, X, y, optimizer=args.optimizer, lr=lr, steps=args.steps, tol=args.tol, on_step=tick, **kw)

    try:
        if halve is None:
            params, hist = run(lr)
        else:
            params, hist, lr, halved = _stable_run(run, lr)
            if halved:
                at, stable = halve
                notes[at] = (f"learning rate {lr:.4g} (auto: 1/L at the start, halved {halved} times until the run "
                             f"neither diverged nor ended above its start){stable}")  # fmt: skip
    finally:
        if live is not None:
            live.stop()
    if hist.loss[-1] > hist.loss[0] and args.optimizer in ("gd", "sgd", "momentum", "nesterov", "adam", "adamw"):
        advice = (f"for this data a stable learning rate is below {bound:.4g}" if bound and everywhere
                  else "lower the learning rate")  # fmt: skip
        raise ValueError(f"training made the loss worse, {hist.loss[0]:.6g} -> {hist.loss[-1]:.6g}, at learning rate "
                         f"{lr:.4g}; {advice}")  # fmt: skip
    if search and hist.step_size:
        notes.append(f"step sizes taken: {min(hist.step_size):.3g} to {max(hist.step_size):.3g}")
    for line in notes:
        print(line)
    print(f"{m.name}: loss {hist.loss[0]:.6g} -> {hist.loss[-1]:.10g} in {hist.steps} steps ({hist.message})")
    orig = None
    if scaler is not None:
        try:  # the parameters in the features' original units, shown when they give the same predictions
            orig = scaler.inverse(params)
            same = np.allclose(m.predict(orig, ds.X), m.predict(params, X), rtol=1e-9, atol=1e-12)
        except ValueError:
            same = False
        orig = orig if same else None
    if orig is not None and np.ndim(params.get("w")) == 1:
        names = [f"w[{f}]" for f in ds.features] + ["b"]
        width = max(map(len, names))
        print(f"  {'':{width}}  {'standardized':>14}  {'original units':>14}")
        for name, a, b in zip(names, flatten(params), flatten(orig), strict=True):
            print(f"  {name:<{width}}  {a:>14.6g}  {b:>14.6g}")
    else:
        for title, ps in [("standardized features", params), ("original units", orig)] if orig else [("", params)]:
            if title:
                print(f"in {title}:")
            for k, v in ps.items():
                text = np.array2string(
                    np.asarray(v), precision=6, suppress_small=True, max_line_width=10**6, prefix=f"  {k} = "
                )
                print(f"  {k} = {text}")
    if args.plot:
        try:
            from lab.plots import loss_curve
        except ImportError as e:
            raise ValueError(f"--plot needs lab.plots.loss_curve: {e}") from None
        loss_curve(hist, args.plot, title=f"{m.name}: {args.optimizer} on {source}")
        print(f"wrote {args.plot}")
    return 0


def _notebook(args) -> int:
    from lab import notebook

    kind, _ = notebook.source(args.name)  # an unknown name: one line, before anything is written
    if args.output:
        _check_writable(args.output, "lab notebook: -o")
    path = notebook.write(args.name, args.output)
    kind = {"net": "network"}.get(kind, kind)
    print(f"wrote {path}: the {kind} {args.name}; open it with .venv/bin/jupyter lab {path} "
          "(the notebook server is the optional extra: .venv/bin/pip install -e '.[notebook]')")  # fmt: skip
    return 0


def _models() -> int:
    """Each registered model: its name, its status in the last `make verify` report (.cache/verify.json),
    its target and hyperparameters, and the first line of its docstring."""
    import json
    from pathlib import Path

    report = Path(registry.DERIVATIONS).parent / ".cache" / "verify.json"
    try:
        last = {
            r["model"]: "mostly inconclusive"
            if r.get("status") == "pass" and r.get("mostly_inconclusive")
            else r.get("status", "?")
            for r in json.loads(report.read_text(encoding="utf-8"))
        }
    except (OSError, ValueError, TypeError, KeyError):
        last = {}
    words = {"pass": "verified", "mostly inconclusive": "mostly inconclusive", "fail": "FAIL", "error": "ERROR"}
    rows = [("model", "verified", "target", "hyperparameters (default, domain)", "description")]
    for name in registry.names():
        m = registry.get(name)
        doc = (m.module.__doc__ or "").strip().splitlines()
        defaults = m.hyper_defaults
        hyper = ", ".join(
            f"{k}={defaults[k]:g} in {d}" if isinstance(defaults.get(k), (int, float)) else f"{k} in {d}"
            for k, d in m.hyper_domains.items()
        )
        status = words.get(last.get(name, ""), "-")  # "-": no report yet (make verify writes one)
        rows.append((name, status, m.target, hyper or "-", doc[0] if doc else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
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
        if args.command == "book":
            from lab.book import run

            return run(args.name, open_it=args.open)
        if args.command == "cache":
            return _cache(args)
        if args.command == "models":
            return _models()
        if args.command == "notebook":
            return _notebook(args)
        print(_commands(_parser()))
        return 0
    except UsageError as e:  # "lab verify: --x ..." -> "lab: error: verify: --x ...": one prefix for every error
        print(f"lab: error: {str(e).removeprefix('lab: ').removeprefix('lab ')}", file=sys.stderr)
        return 2
    except ValueError as e:  # bad input and ModelError: one line naming the problem
        print(f"lab: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `lab ... | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 2
