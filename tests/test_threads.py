"""Thread and task safety: ``al.use_backend`` is per thread and per asyncio task, and
losses called from 8 threads at once give exactly the serial results (NumPy with its
chunked fast paths on the shared thread pool, PyTorch through autograd, JAX through its
cached ``jax.jit`` functions, warm and cold, array-api-strict).

Inputs are the shared per-loss factories of ``tests/_scaleout_cases.py``.
"""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import arrayloss as al
from _scaleout_cases import case_for, differentiable
from arrayloss import _dispatch
from arrayloss._spec import public_functions

from conftest import Backend, Harness, to_numpy

NAMES = sorted({record.name for record in al.registry().values()})
FUNCTIONS = public_functions()
#: One loss per family for JAX, whose first call of each compiles.
JAX_NAMES = sorted({record.family: record.name for record in al.registry().values()}.values())
THREADS = 8


def _concurrently(work: Callable[[int], Any], n: int = THREADS) -> list[Any]:
    """``[work(i) for i in range(n)]``, each in its own thread, all released at once."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _numpy_tree(x: Any) -> Any:
    if isinstance(x, (tuple, list)):
        return tuple(_numpy_tree(v) for v in x)
    return to_numpy(x)


def _assert_same(got: Any, expected: Any, label: str) -> None:
    if isinstance(expected, tuple):
        for g, e in zip(got, expected, strict=True):
            _assert_same(g, e, label)
        return
    np.testing.assert_array_equal(got, expected, err_msg=label)


# ------------------------------------------------------------- use_backend


def test_two_threads_with_different_backends_each_get_their_own() -> None:
    """Both threads inside their ``use_backend`` block at the same time, each running
    every loss on NumPy inputs: each result is in its own thread's library."""
    pytest.importorskip("torch")
    backends = ("numpy", "torch")
    barrier = threading.Barrier(2)
    seen: dict[str, set[str | None]] = {}

    def run(name: str) -> None:
        with al.use_backend(name):
            barrier.wait()
            libraries = set()
            for loss in NAMES:
                case = case_for(loss)
                libraries.add(_dispatch.library_of(FUNCTIONS[loss](*case.args, **case.options)))
                barrier.wait()  # the two threads alternate loss by loss
            seen[name] = libraries

    threads = [threading.Thread(target=run, args=(b,)) for b in backends]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {b: {b} for b in backends}


def test_a_new_thread_does_not_inherit_the_backend_but_a_copied_context_does() -> None:
    """``threading.Thread`` starts with a fresh context: inside ``use_backend("torch")``
    a plain thread infers the backend from its arrays; ``contextvars.copy_context()``
    carries the setting over."""
    pytest.importorskip("torch")
    out: dict[str, str | None] = {}

    def call(label: str) -> None:
        out[label] = _dispatch.library_of(al.mse(np.ones(2), np.zeros(2)))

    with al.use_backend("torch"):
        plain = threading.Thread(target=call, args=("plain",))
        context = contextvars.copy_context()
        copied = threading.Thread(target=context.run, args=(call, "copied"))
        for t in (plain, copied):
            t.start()
            t.join()
    assert out == {"plain": "numpy", "copied": "torch"}


def test_asyncio_tasks_each_keep_their_own_backend() -> None:
    pytest.importorskip("array_api_strict")

    async def task(name: str, other_ready: asyncio.Event, ready: asyncio.Event) -> set:
        libraries = set()
        with al.use_backend(name):
            ready.set()
            await other_ready.wait()  # both tasks are inside their blocks now
            for _ in range(3):
                libraries.add(_dispatch.library_of(al.mse(np.ones(2), np.zeros(2))))
                await asyncio.sleep(0)
        return libraries

    async def main() -> list[set]:
        a, b = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(task("numpy", b, a), task("array_api_strict", a, b))

    assert asyncio.run(main()) == [{"numpy"}, {"array_api_strict"}]


# -------------------------------------------------------- 8 threads at once


def _calls(harness: Harness, names: list[str]) -> Callable[[], dict[str, Any]]:
    """Every loss of ``names``: its mean, its "none" and its value and gradients."""
    inputs = {}
    for name in names:
        case = case_for(name)
        args = [harness.asarray(a) if isinstance(a, np.ndarray) else a for a in case.args]
        opts = {
            k: harness.asarray(v) if isinstance(v, np.ndarray) else v
            for k, v in case.options.items()
        }
        inputs[name] = (args, opts, differentiable(name, case))

    def run() -> dict[str, Any]:
        out = {}
        for name, (args, opts, wrt) in inputs.items():
            fn = FUNCTIONS[name]
            out[name] = _numpy_tree(
                (
                    fn(*args, **opts),
                    fn(*args, **opts, reduction="none"),
                    al.value_and_grad(fn, wrt=wrt)(*args, **opts),
                )
            )
        return out

    return run


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        (Backend.NUMPY, NAMES),
        (Backend.ARRAY_API_STRICT, NAMES),
        (Backend.TORCH, NAMES),
        (Backend.JAX, JAX_NAMES),
    ],
    ids=["numpy", "array_api_strict", "torch", "jax"],
)
def test_eight_threads_give_exactly_the_serial_results(kind: Backend, names: list[str]):
    """The serial run first (on JAX it fills the cached jit functions), then 8 threads
    at once on the same inputs: bit for bit the serial numbers."""
    pytest.importorskip(
        {"numpy": "numpy", "array_api_strict": "array_api_strict"}.get(kind.value, kind.library)
    )
    harness = Harness(kind)
    run = _calls(harness, names)
    serial = run()
    for result in _concurrently(lambda i: run()):
        for name in names:
            _assert_same(result[name], serial[name], f"{kind.value} {name}")


def test_eight_threads_on_a_cold_jax_cache_give_the_serial_results() -> None:
    """Options no other test uses, so every thread meets a cold cache of jitted
    functions at once; the numbers are those of a serial call (run afterwards)."""
    pytest.importorskip("jax")
    harness = Harness(Backend.JAX)
    cases = {
        "huber": {"delta": 0.8125},
        "cross_entropy": {"label_smoothing": 0.0625},
        "triplet_margin": {"margin": 0.6875},
    }
    inputs = {}
    for name, extra in cases.items():
        case = case_for(name)
        args = [harness.asarray(a) if isinstance(a, np.ndarray) else a for a in case.args]
        inputs[name] = (args, {**case.options, **extra}, differentiable(name, case))

    def run(_: int = 0) -> dict[str, Any]:
        return {
            name: _numpy_tree(al.value_and_grad(FUNCTIONS[name], wrt=wrt)(*args, **opts))
            for name, (args, opts, wrt) in inputs.items()
        }

    concurrent = _concurrently(run)
    serial = run()
    for result in concurrent:
        for name in cases:
            _assert_same(result[name], serial[name], f"cold jax {name}")


def test_eight_threads_share_the_numpy_fast_paths_thread_pool() -> None:
    """Inputs large enough for the chunked fast paths to use their thread pool, from 8
    threads at once: the chunk sums are added in a fixed order, so the numbers are
    bit for bit the serial ones."""
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((2, 200_000))
    logits = rng.standard_normal((1024, 512))
    labels = rng.integers(0, 512, 1024)

    def run(_: int = 0) -> Any:
        return _numpy_tree(
            (
                al.value_and_grad(al.mse, wrt=("pred", "target"))(pred, target),
                al.value_and_grad(al.huber)(pred, target, delta=0.5),
                al.value_and_grad(al.cross_entropy)(logits, labels),
            )
        )

    serial = run()
    for result in _concurrently(run):
        _assert_same(result, serial, "numpy fast paths")


def test_eight_threads_backpropagate_through_torch_autograd() -> None:
    torch = pytest.importorskip("torch")
    names = [n for n in NAMES if "torch" in al.registry()[n].backends]

    def run(_: int = 0) -> dict[str, Any]:
        out = {}
        for name in names:
            case = case_for(name)
            wrt = set(differentiable(name, case))
            spec_args = al.registry()[name].args
            args = []
            for arg, a in zip(spec_args, case.args, strict=False):
                t = torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a
                if arg in wrt and isinstance(t, torch.Tensor):
                    t.requires_grad_(True)
                args.append(t)
            opts = {
                k: torch.from_numpy(v.copy()) if isinstance(v, np.ndarray) else v
                for k, v in case.options.items()
            }
            loss = FUNCTIONS[name](*args, **opts)
            loss.backward()
            out[name] = (
                loss.detach().numpy(),
                tuple(
                    a.grad.numpy()
                    for a in args
                    if isinstance(a, torch.Tensor) and a.grad is not None
                ),
            )
        return out

    serial = run()
    for result in _concurrently(run):
        for name in names:
            _assert_same(result[name], serial[name], f"torch autograd {name}")


_FIRST_CALLS = textwrap.dedent(
    """
    import threading

    import numpy as np

    import arrayloss as al

    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((64, 33)), rng.integers(0, 33, 64)
    pred, target = rng.standard_normal((2, 1001))


    def run():
        return [
            al.value_and_grad(al.cross_entropy)(logits, labels),
            al.value_and_grad(al.huber)(pred, target),
            al.value_and_grad(al.binary_cross_entropy_with_logits)(pred, (target > 0) * 1.0),
        ]


    barrier, out = threading.Barrier(8), [None] * 8


    def worker(i):
        barrier.wait()
        out[i] = run()


    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    serial = run()
    for result in out:
        for (value, grad), (value0, grad0) in zip(result, serial):
            assert np.array_equal(value, value0) and np.array_equal(grad, grad0)
    print("same")
    """
)


def test_the_first_calls_of_a_process_from_eight_threads_give_the_serial_results() -> None:
    """In a fresh process the fast paths are imported by the first call; threads that
    arrive while another imports them must wait, not take the generic kernel (which
    rounds differently)."""
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_CALLS],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "same"
