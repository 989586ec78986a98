"""What the autodiff wiring costs: arrayloss through ``jax.grad`` / ``.backward()`` against
the same loss written by hand (JAX) or PyTorch's own (``torch.nn.functional``).

Workloads (float32, value + gradient with respect to the prediction):

* MSE over 10^7 elements;
* integer-label cross-entropy, 4096 x 32000 logits.

For each, in one process and interleaved round by round (so a busy machine slows both
sides alike): ``jax.jit(jax.value_and_grad(loss))`` with arrayloss's loss and with the
hand-written formula, arrayloss's eager ``al.value_and_grad`` (one cached jit dispatch),
and PyTorch forward + ``backward()`` with arrayloss's loss and with ``F.mse_loss`` /
``F.cross_entropy``. Prints median and best time per implementation and the ratio to the
reference (target: within 1.15x). The benchmark suite (``python -m arrayloss bench``)
carries the same workloads with floors and peers; this script is the quick check.

Usage: ``python benchmarks/autodiff_overhead.py [--rounds N] [--small]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F

import arrayloss as al


def _time_rounds(impls: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    for run in impls.values():  # compile / warm up
        run()
        run()
    times: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(rounds):
        for name, run in impls.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def _report(title: str, times: dict[str, list[float]], pairs: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    for name, ts in times.items():
        print(
            f"  {name:<44} median {statistics.median(ts) * 1e3:8.1f} ms   best {min(ts) * 1e3:8.1f} ms"
        )
    for ours, ref in pairs:
        median = statistics.median(times[ours]) / statistics.median(times[ref])
        best = min(times[ours]) / min(times[ref])
        print(f"  {ours} / {ref}: {median:.3f}x (median), {best:.3f}x (best)")


def _jax_block(f: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: jax.block_until_ready(f(*args))


def mse(n: int, rounds: int) -> None:
    rng = np.random.default_rng(0)
    pn, tn = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    p, t = jnp.asarray(pn), jnp.asarray(tn)
    ours = jax.jit(jax.value_and_grad(lambda p, t: al.mse(p, t)))
    hand = jax.jit(jax.value_and_grad(lambda p, t: jnp.mean((p - t) ** 2)))
    eager = al.value_and_grad(al.mse)
    times = _time_rounds(
        {
            "jax.jit(value_and_grad(al.mse))": _jax_block(ours, p, t),
            "jax.jit(value_and_grad(hand-written))": _jax_block(hand, p, t),
            "al.value_and_grad(al.mse) (eager)": _jax_block(eager, p, t),
        },
        rounds,
    )
    _report(
        f"JAX MSE, {n} float32",
        times,
        [
            ("jax.jit(value_and_grad(al.mse))", "jax.jit(value_and_grad(hand-written))"),
            ("al.value_and_grad(al.mse) (eager)", "jax.jit(value_and_grad(hand-written))"),
        ],
    )
    pt, tt = torch.from_numpy(pn).requires_grad_(True), torch.from_numpy(tn)

    def step(loss: Callable[..., Any]) -> Callable[[], Any]:
        def run() -> None:
            pt.grad = None
            loss(pt, tt).backward()

        return run

    times = _time_rounds(
        {"al.mse(...).backward()": step(al.mse), "F.mse_loss(...).backward()": step(F.mse_loss)},
        rounds,
    )
    _report(
        f"PyTorch MSE, {n} float32",
        times,
        [("al.mse(...).backward()", "F.mse_loss(...).backward()")],
    )


def cross_entropy(rows: int, classes: int, rounds: int) -> None:
    rng = np.random.default_rng(1)
    xn = rng.standard_normal((rows, classes), dtype=np.float32)
    yn = rng.integers(0, classes, rows).astype(np.int64)
    x, y = jnp.asarray(xn), jnp.asarray(yn.astype(np.int32))

    def hand_ce(x: Any, y: Any) -> Any:
        picked = jnp.take_along_axis(x, y[:, None], axis=-1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(x, axis=-1) - picked)

    ours = jax.jit(jax.value_and_grad(lambda x, y: al.cross_entropy(x, y)))
    hand = jax.jit(jax.value_and_grad(hand_ce))
    eager = al.value_and_grad(al.cross_entropy)
    impls = {
        "jax.jit(value_and_grad(al.cross_entropy))": _jax_block(ours, x, y),
        "jax.jit(value_and_grad(hand-written))": _jax_block(hand, x, y),
        "al.value_and_grad(al.cross_entropy) (eager)": _jax_block(eager, x, y),
    }
    try:
        import optax

        impls["jax.jit(value_and_grad(optax))"] = _jax_block(
            jax.jit(
                jax.value_and_grad(
                    lambda x, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x, y))
                )
            ),
            x,
            y,
        )
    except ImportError:
        pass
    times = _time_rounds(impls, rounds)
    _report(
        f"JAX cross-entropy, {rows} x {classes} float32",
        times,
        [
            ("jax.jit(value_and_grad(al.cross_entropy))", "jax.jit(value_and_grad(hand-written))"),
            (
                "al.value_and_grad(al.cross_entropy) (eager)",
                "jax.jit(value_and_grad(hand-written))",
            ),
        ],
    )
    del x, y, ours, hand, eager, impls
    xt, yt = torch.from_numpy(xn).requires_grad_(True), torch.from_numpy(yn)

    def step(loss: Callable[..., Any]) -> Callable[[], Any]:
        def run() -> None:
            xt.grad = None
            loss(xt, yt).backward()

        return run

    times = _time_rounds(
        {
            "al.cross_entropy(...).backward()": step(al.cross_entropy),
            "F.cross_entropy(...).backward()": step(F.cross_entropy),
        },
        rounds,
    )
    _report(
        f"PyTorch cross-entropy, {rows} x {classes} float32",
        times,
        [("al.cross_entropy(...).backward()", "F.cross_entropy(...).backward()")],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--small", action="store_true", help="1/16 of the sizes (a smoke run)")
    parser.add_argument("--only", choices=("mse", "cross_entropy"))
    args = parser.parse_args()
    scale = 16 if args.small else 1
    print(
        f"jax {jax.__version__}, torch {torch.__version__}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}"
    )
    if args.only in (None, "mse"):
        mse(10**7 // scale, args.rounds)
    if args.only in (None, "cross_entropy"):
        cross_entropy(4096 // scale, 32000, args.rounds)


if __name__ == "__main__":
    main()
