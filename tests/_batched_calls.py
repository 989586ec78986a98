"""Run many loss calls in one ``backend.call`` (one compilation under ``jax.jit``).

JAX compiles every distinct configuration of a loss; under the ``jax_jit`` harness each
``backend.call`` is one compilation, so batching the calls of a test into one call keeps
option-matrix tests affordable on every backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import arrayloss as al

#: one call: (loss, positional arrays, keyword options); a ``cotangent`` option goes to
#: the gradient only
Call = tuple[Callable[..., Any], Sequence[Any], dict[str, Any]]


@dataclass(frozen=True)
class _Ref:
    """A placeholder for the array at ``index`` of the flattened arguments."""

    index: int


def evaluate(
    backend: Any, calls: Sequence[Call]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(loss(...), *al.value_and_grad(loss)(...))`` of each call, as NumPy arrays.

    NumPy arrays among the arguments and options are moved to the backend; everything
    runs inside one ``backend.call``.
    """
    flat: list[Any] = []

    def move(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            flat.append(backend.asarray(v))
            return _Ref(len(flat) - 1)
        return v

    specs = [
        (loss, tuple(move(a) for a in args), {k: move(v) for k, v in kw.items()})
        for loss, args, kw in calls
    ]

    def run(*arrays: Any) -> list[tuple[Any, Any, Any]]:
        def get(v: Any) -> Any:
            return arrays[v.index] if isinstance(v, _Ref) else v

        out = []
        for loss, args, kw in specs:
            a = [get(v) for v in args]
            options = {k: get(v) for k, v in kw.items()}
            cotangent = options.pop("cotangent", None)
            plain = loss(*a, **options)
            value, grad = al.value_and_grad(loss)(*a, cotangent=cotangent, **options)
            out.append((plain, value, grad))
        return out

    results = backend.call(run, *flat)
    return [tuple(backend.to_numpy(r) for r in triple) for triple in results]


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """PyTorch with one intra-op thread: its pool costs ~50x on tiny tensors when the
    machine is busy, and the numbers do not change."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
