"""The networks, measured in one run (issue 21): a training step's time against JAX, the losses reached, names.

    python -m lab.bench_nets [--mlp-steps 30000] [--transformer-steps 8000] [--repeats 31]

1. One training step at the training sizes (each file's ``TRAIN``, batches of 32 windows): the hand
   backward and an Adam step, against ``jax.jit(jax.grad(loss))`` of the same loss and the same Adam
   step, timed in interleaved rounds; the ratio of the medians is judged (target ≤ 1.0). Both steps
   take the gradient at the parameters the step before left, so JAX's is called with those NumPy
   arrays, as a loop with a NumPy optimizer must call it. The hand side runs with one BLAS thread and
   glibc's large blocks kept in the heap, as ``lab train`` does; JAX with its own threads. The
   gradients alone are timed too, JAX's on arrays it already holds (no copy in).
2. Training each network with its hand backward on the census surnames, and the validation loss in
   nats per character (the loss of each symbol of every validation name given the ``block`` before
   it): the transformer's must be below the MLP's, and both well below the uniform log 27 ≈ 3.30.
3. Ten sampled names from each.
"""

from __future__ import annotations

import argparse

import numpy as np
from threadpoolctl import threadpool_limits

from lab.bench_train import race, verdict
from lab.net import forward, get, hand_vjp, network_of
from lab.optim.adaptive import Adam
from lab.optim.network import UNIFORM, keep_temporaries_in_heap, listed, train, windows

#: Steps per timed call: XLA's worker threads spin for a while after each call, and a burst lets the hand
#: side run mostly after the spinning has stopped, as it does in training.
BURST = 10


def bench_step(name: str, repeats: int, batch: int = 32) -> float:
    """The hand step's median time over JAX's, at the network's training sizes."""
    from lab import data
    from lab.verify.runtime.jax_config import jax, jnp

    network = network_of(get(name))
    sizes = {k: v for k, v in network.TRAIN.items() if k not in ("block", "lr")}
    block = network.TRAIN["block"]
    w = windows(data.surnames(0).train[:2000], block)
    xb = w[np.random.default_rng(0).integers(0, len(w), size=batch)]
    params = network.init(xb.shape, seed=0, **sizes)
    vjp = hand_vjp(network)
    grad = jax.jit(jax.grad(lambda p, x: forward(network.NET, p, x)))
    jparams, jx = {k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(xb)
    hand_opt, jax_opt = Adam(lr=1e-3), Adam(lr=1e-3)

    def hand():
        for _ in range(BURST):
            g, _ = vjp(params, xb, 1.0)
            hand_opt.step(params, g)

    def compiled():  # the same step: the gradient at the current parameters, then Adam in NumPy
        for _ in range(BURST):
            g = jax.block_until_ready(grad(params, xb))
            jax_opt.step(params, {k: np.asarray(v) for k, v in g.items()})

    def hand_grad():
        for _ in range(BURST):
            vjp(params, xb, 1.0)

    def compiled_grad():
        for _ in range(BURST):
            jax.block_until_ready(grad(jparams, jx))

    keep_temporaries_in_heap()  # as lab train does; process-wide, so the JAX side's NumPy gets it too
    with threadpool_limits(1, user_api="blas"):  # JAX's XLA has threads of its own, not BLAS's
        t = race({"hand": hand, "jax": compiled, "hand grad": hand_grad, "jax grad": compiled_grad}, repeats)
    ms = {k: 1e3 * v[0] / BURST for k, v in t.items()}
    ratio = ms["hand"] / ms["jax"]
    shape = ", ".join(f"{k} = {v}" for k, v in network.TRAIN.items() if k != "lr")
    print(f"{name}: one step at batch {batch}, {shape}: hand {ms['hand']:.2f} ms, jax.jit(jax.grad) "
          f"{ms['jax']:.2f} ms; the gradient alone: hand {ms['hand grad']:.2f} ms, jax {ms['jax grad']:.2f} ms "
          f"({ms['hand grad'] / ms['jax grad']:.2f}×) (medians of {repeats} bursts of {BURST})")  # fmt: skip
    print(verdict(f"{name} step, hand / jax.jit(jax.grad)", ratio, 1.0))
    return ratio


def bench_training(name: str, steps: int) -> float:
    network = network_of(get(name))
    run = train(network, steps=steps, lr=network.TRAIN["lr"], seed=0)
    print(f"{name}: {steps} steps in {run.seconds:.0f} s ({1e3 * run.step_seconds:.2f} ms a step); training "
          f"{run.train[-1]:.4f}, validation {run.final_validation:.4f} nats per character on every validation "
          f"name (uniform {UNIFORM:.4f})")  # fmt: skip
    print(f"{name}: sampled: {listed(run.samples)}", flush=True)
    return run.final_validation


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.bench_nets")
    p.add_argument("--mlp-steps", type=int, default=30000)
    p.add_argument("--transformer-steps", type=int, default=8000)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    print("networks: a training step, hand against jax.jit(jax.grad), in one run")
    for name in ("nets/char_mlp", "nets/transformer"):
        bench_step(name, args.repeats)
    print("\nnetworks: trained with the hand backward and Adam on the census surnames")
    mlp = bench_training("nets/char_mlp", args.mlp_steps)
    tr = bench_training("nets/transformer", args.transformer_steps)
    print(verdict("the MLP's validation loss / uniform", mlp / UNIFORM, 0.8))
    print(verdict("the transformer's validation loss / the MLP's", tr / mlp, 1.0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
