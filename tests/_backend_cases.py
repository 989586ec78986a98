"""Option matrices spread over the backends so a test file stays fast, and the call of
a loss's value and gradients on one backend.

Every combination of a matrix runs on the eager backends (NumPy, read-only NumPy,
array-api-strict, PyTorch, CuPy). The lazy ones (JAX eager, ``jax.jit``, Dask, JAX GPU)
pay a compilation or a graph per combination, so each runs every third combination,
chosen on a diagonal (the sum of the option indices modulo 3) so that JAX, ``jax.jit``
and Dask together cover the whole matrix and each of them meets every option value.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import arrayloss as al

from conftest import selected_backends

_ROTATION = {"jax": 0, "jax_jit": 1, "dask": 2, "jax_gpu": 0}
_STRIDE = 3


def backend_cases(*axes: Sequence[Any]) -> list[Any]:
    """``pytest.param(backend, *combination)`` for the product of ``axes``.

    Use with ``@pytest.mark.parametrize(("backend", ...), backend_cases(...),
    indirect=["backend"])``.
    """
    positions = list(itertools.product(*(range(len(axis)) for axis in axes)))
    params = []
    for kind in selected_backends():
        marks = [pytest.mark.gpu] if kind.is_gpu else []
        offset = _ROTATION.get(kind.value)
        for position in positions:
            # a diagonal of the matrix: every value of every axis, a third of the cases
            if (
                offset is not None
                and len(positions) >= _STRIDE
                and sum(position) % _STRIDE != offset
            ):
                continue
            combination = tuple(axis[i] for axis, i in zip(axes, position))
            label = "-".join(_label(v) for v in (kind.value, *combination))
            params.append(pytest.param(kind, *combination, id=label, marks=marks))
    return params


def _label(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return str(value)


def run_on(
    backend: Any, fn: Any, arrays: Sequence[Any], wrt: tuple[str, ...], **kw: Any
) -> tuple[Any, Any, tuple[Any, ...]]:
    """``(plain value, value, gradients)`` of ``fn`` on ``backend``, as NumPy.

    NumPy arrays among ``arrays`` and ``kw`` move to the backend. The plain call (JAX's
    ``custom_vjp`` forward, PyTorch's no-graph path) is skipped on the lazy backends
    unless ``plain=True`` (and always under ``jax.jit``, where it would take the same
    ``custom_vjp`` forward as eager JAX): it costs a compilation.
    """
    plain_too = (kw.pop("plain", False) or not backend.lazy) and backend.name != "jax_jit"
    args = [backend.asarray(a) if isinstance(a, np.ndarray) else a for a in arrays]
    kw = {k: backend.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    value, grads = backend.call(al.value_and_grad(fn, wrt=wrt), *args, **kw)
    value = backend.to_numpy(value)
    plain = backend.to_numpy(backend.call(fn, *args, **kw)) if plain_too else value
    return plain, value, backend.to_numpy(grads)
