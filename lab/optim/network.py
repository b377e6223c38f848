"""Training a network of ``lab/nets`` on names with its hand backward: mini-batches of windows, and Adam.

A window is ``block + 1`` ids: ``block`` symbols of context and the symbol after them (lab.data's
makemore pairs, side by side). Each step draws ``batch`` windows from the training names, takes the
hand gradient of the network's loss on them and one Adam step; the learning rate drops tenfold
for the last fifth of the steps, as makemore's does. Both networks are scored the same way, by
the mean of −log p(next symbol | the ``block`` before it) over every symbol of a set of names,
in nats per character: the loss of the window's last position. The uniform guess scores
log 27 ≈ 3.30.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from lab import data
from lab.net import activations, hand_vjp
from lab.optim.adaptive import Adam

UNIFORM = math.log(len(data.VOCAB))  # nats per character of a uniform guess: log 27 ≈ 3.296
DECAY_AT = 0.8  # the share of steps after which the learning rate is a tenth


#: glibc's mallopt parameters: the size from which malloc maps fresh pages (and unmaps them on free), and
#: the free memory at the heap's top it keeps before giving it back.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
HEAP = 256 * 2**20  # 256 MiB: a training step's temporaries (a few MiB) stay in the heap


@functools.cache
def keep_temporaries_in_heap() -> bool:
    """Ask glibc to serve large arrays from its heap instead of fresh pages.

    A hand backward makes many temporaries of a few hundred KiB (a (32, 8, 128) float64 array is 256 KiB).
    glibc maps each one above 128 KiB anew and unmaps it when freed, so every step pays for zeroed pages
    and their faults again: measured here, a GELU backward at that size took 830 µs that way and 306 µs from
    the heap, and a transformer step halved. JAX's compiled programs keep their own buffers. Process-wide,
    once; False where the C library is not glibc (nothing changes there)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, HEAP)) and bool(mallopt(M_TRIM_THRESHOLD, 2 * HEAP))


@dataclass
class NetRun:
    """What one training run did."""

    name: str
    params: dict
    block: int
    steps: list[int] = field(default_factory=list)  # the steps at which the losses below were taken
    train: list[float] = field(default_factory=list)  # nats per character on a fixed sample of training windows
    validation: list[float] = field(default_factory=list)  # ... on a fixed sample of validation windows
    final_validation: float = float("nan")  # on every validation window
    samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    step_seconds: float = 0.0  # the median time of one step (gradient and update)


def windows(names, block: int) -> np.ndarray:
    """Every window of ``names``: (N, block + 1) ids, the context then the symbol to predict."""
    X, y = data.context_pairs(names, block)
    return np.concatenate([X, y[:, None]], axis=1)


def per_character(network, params: dict, w: np.ndarray, chunk: int = 8192) -> float:
    """The mean of −log p(last symbol | the symbols before it) over the windows ``w``, in nats."""
    total = 0.0
    for i in range(0, len(w), chunk):
        part = w[i : i + chunk]
        inputs, _, _ = activations(network.NET, params, part)
        z = inputs[network.NET.stages[-1].name][:, -1, :]  # the logits of the last position, (n, V)
        m = np.max(z, axis=1, keepdims=True)
        logp = z - m - np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
        total -= float(np.sum(logp[np.arange(len(part)), part[:, -1]]))
    return total / len(w)


def sample(network, params: dict, block: int, count: int, seed: int = 0, longest: int = 30) -> list[str]:
    """``count`` names drawn symbol by symbol from the network, each from an empty context."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        context, name = [0] * block, []
        while len(name) < longest:
            w = np.asarray([context + [0]])  # the last id is a placeholder target
            inputs, _, _ = activations(network.NET, params, w)
            z = inputs[network.NET.stages[-1].name][0, -1, :]
            p = np.exp(z - z.max())
            i = int(rng.choice(len(p), p=p / p.sum()))
            if i == 0:
                break
            name.append(i)
            context = context[1:] + [i]
        out.append(data.decode(name))
    return out


def listed(names: list[str]) -> str:
    """Sampled names side by side, an empty one (the end drawn first) shown as (empty), as the book shows it."""
    return ", ".join(n or "(empty)" for n in names)


def train(network, *, steps: int, batch: int = 32, lr: float = 1e-2, seed: int = 0, sizes: dict | None = None,
          block: int | None = None, evals: int = 20, names: data.Names | None = None,
          on_eval=None) -> NetRun:  # fmt: skip
    """Train the network module ``network`` (a file of ``lab/nets``) with its hand backward and Adam.

    ``sizes`` are its ``init``'s widths (default: the file's ``TRAIN``), ``block`` the context length.
    ``evals`` times along the way the losses on 2,048 fixed windows of each split are kept; at the
    end, the loss on every validation window. ``on_eval(step, train, validation)`` is told each.
    """
    if steps < 1 or batch < 1 or evals < 1:
        raise ValueError("steps, batch and evals must be positive")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"the learning rate must be a positive number; got {lr}")
    train_sizes = {k: v for k, v in getattr(network, "TRAIN", {}).items() if k not in ("block", "lr")}
    block = int(block or getattr(network, "TRAIN", {}).get("block", 3))
    sizes = dict(train_sizes if sizes is None else sizes)
    names = names or data.surnames(0)
    tr, va = windows(names.train, block), windows(names.validation, block)
    rng = np.random.default_rng(seed)
    fixed_tr = tr[rng.choice(len(tr), size=min(2048, len(tr)), replace=False)]
    fixed_va = va[rng.choice(len(va), size=min(2048, len(va)), replace=False)]
    params = network.init((batch, block + 1), seed=seed, **sizes)
    vjp = hand_vjp(network)
    opt = Adam(lr=lr)
    run = NetRun(getattr(network, "__name__", "network").rsplit(".", 1)[-1], params, block)
    every = max(1, steps // evals)
    times: list[float] = []
    start = time.perf_counter()
    # the matrices are small: BLAS threads cost more than they save (a transformer step took 4.5× as long
    # with two threads as with one on this 2-core machine, while other work ran)
    keep_temporaries_in_heap()
    with threadpool_limits(1, user_api="blas"):
        _loop(network, run, params, vjp, opt, tr, fixed_tr, fixed_va, rng, steps, batch, lr, every, times, on_eval)
    run.seconds = time.perf_counter() - start
    run.step_seconds = float(np.median(times))
    run.final_validation = per_character(network, run.params, va)
    run.samples = sample(network, run.params, block, 10, seed=seed)
    return run


def _loop(network, run, params, vjp, opt, tr, fixed_tr, fixed_va, rng, steps, batch, lr, every, times, on_eval):
    for step in range(1, steps + 1):
        if step == int(DECAY_AT * steps) + 1:
            opt.lr = lr / 10
        xb = tr[rng.integers(0, len(tr), size=batch)]
        t0 = time.perf_counter()
        grads, _ = vjp(params, xb, 1.0)
        params = opt.step(params, grads)
        times.append(time.perf_counter() - t0)
        if step % every == 0 or step == steps:
            run.steps.append(step)
            run.train.append(per_character(network, params, fixed_tr))
            run.validation.append(per_character(network, params, fixed_va))
            if not math.isfinite(run.train[-1]):
                raise FloatingPointError(f"the training loss is {run.train[-1]} at step {step}: lower the rate")
            if on_eval is not None:
                on_eval(step, run.train[-1], run.validation[-1])
    run.params = params
