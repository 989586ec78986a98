"""Numerically stable building blocks written against the array API standard.

Every function here is NaN-safe under autodiff: no branch of an ``xp.where`` evaluates
``log(0)``, ``exp(large)`` or ``0/0`` where its result is discarded, because JAX and
PyTorch differentiate both branches and ``0 * inf`` is NaN.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import array_api_compat

__all__ = [
    "log_add_exp",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "norm_scale",
    "safe_max",
    "sigmoid",
    "softmax",
    "softplus",
    "xlogy",
    "zero_safe_mul",
]


def safe_max(xp: ModuleType, x: Any, axis: int, keepdims: bool = True) -> Any:
    """``max(x, axis)`` with non-finite maxima replaced by 0 (a safe shift for exp).

    An empty array gives zeros of the reduced shape: ``max`` has no identity (an empty
    batch of ``ntxent``), and Dask's ``max`` fails on any empty array.
    """
    if any(s == 0 for s in x.shape):
        shape = list(x.shape)
        if keepdims:
            shape[axis] = 1
        else:
            del shape[axis]
        return xp.zeros(tuple(shape), dtype=x.dtype, device=array_api_compat.device(x))
    m = xp.max(x, axis=axis, keepdims=keepdims)
    return xp.where(xp.isfinite(m), m, xp.zeros_like(m))


def norm_scale(xp: ModuleType, x: Any, axis: int = -1, power: float = 4) -> Any:
    """A power of two per vector along ``axis`` (kept as a size-1 axis) to divide by
    before summing ``|x|**power``-sized terms: 1 for ordinary vectors, about the largest
    ``|x|`` for vectors so large that squared norms (or their products) would overflow.

    Dividing by a power of two is exact, so ordinary vectors give bit-identical results
    and huge ones (1e30 in float32) give the cosine or distance the maths allows instead
    of ``inf / inf``. Non-finite entries keep the scale 1 (they propagate as before).
    """
    m = safe_max(xp, xp.abs(x), axis)
    limit = 2.0 ** (math.frexp(float(xp.finfo(x.dtype).max))[1] / power - 8)
    big = m > limit
    return 2.0 ** xp.floor(xp.log2(xp.where(big, m, xp.ones_like(m))))


def logsumexp(xp: ModuleType, x: Any, axis: int = -1, keepdims: bool = False) -> Any:
    """``log(sum(exp(x), axis))`` without overflow; all ``-inf`` gives ``-inf``."""
    m = safe_max(xp, x, axis)
    s = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
    out = xp.log(s) + m
    if not keepdims:
        out = xp.squeeze(out, axis=axis)
    return out


def log_add_exp(xp: ModuleType, a: Any, b: Any) -> Any:
    """``log(exp(a) + exp(b))``, exact for large ``|a - b|``, NaN-quiet.

    NumPy's ``logaddexp`` warns on NaN (NaN input must give NaN quietly), and ``a - b``
    is ``inf - inf`` where both are the same infinity (two ``log 0`` terms): those are
    taken as a difference of 0, which gives that infinity.
    """
    same_infinity = (a == b) & xp.isinf(a)
    zero = xp.zeros_like(a)
    d = xp.where(same_infinity, zero, a) - xp.where(same_infinity, zero, b)
    return xp.maximum(a, b) + xp.log1p(xp.exp(-xp.abs(d)))


def log_softmax(xp: ModuleType, x: Any, axis: int = -1) -> Any:
    """``x - logsumexp(x)`` along ``axis``."""
    return x - logsumexp(xp, x, axis=axis, keepdims=True)


def softmax(xp: ModuleType, x: Any, axis: int = -1) -> Any:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``."""
    e = xp.exp(x - safe_max(xp, x, axis))
    return e / xp.sum(e, axis=axis, keepdims=True)


def softplus(xp: ModuleType, x: Any) -> Any:
    """``log(1 + exp(x))``, exact for large ``|x|``.

    Written as ``max(x, 0) + log1p(exp(-|x|))`` rather than ``logaddexp(0, x)``:
    NumPy's ``logaddexp`` warns on NaN, and NaN input must give NaN quietly.
    """
    return xp.maximum(x, xp.zeros_like(x)) + xp.log1p(xp.exp(-xp.abs(x)))


def log_sigmoid(xp: ModuleType, x: Any) -> Any:
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return -softplus(xp, -x)


def sigmoid(xp: ModuleType, x: Any) -> Any:
    """``1 / (1 + exp(-x))`` that neither overflows nor loses precision for ``x < 0``."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def xlogy(xp: ModuleType, x: Any, y: Any) -> Any:
    """``x * log(y)`` with ``0 * log(y) = 0`` (also at ``y = 0`` and ``y = inf``).

    A NaN in ``y`` stays NaN even where ``x = 0``.
    """
    zero = (x == 0) & ~xp.isnan(y)
    safe_y = xp.where(zero, xp.ones_like(y), y)
    return xp.where(zero, xp.zeros_like(x * safe_y), x * xp.log(safe_y))


def zero_safe_mul(xp: ModuleType, x: Any, y: Any) -> Any:
    """``x * y`` with ``0 * y = 0`` also at ``y = ±inf`` (a NaN in ``y`` stays NaN).

    The weight of a term that is off (a target of 0 against a softplus of a ``-inf``
    logit) switches it off even where the term is infinite. Only infinite ``y`` are
    replaced, so the derivative in ``x`` stays ``y`` wherever ``y`` is finite.
    """
    off = (x == 0) & xp.isinf(y)
    return x * xp.where(off, xp.zeros_like(y), y)
