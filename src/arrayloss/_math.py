"""Numerically stable building blocks written against the array API standard.

Every function here is NaN-safe under autodiff: no branch of an ``xp.where`` evaluates
``log(0)``, ``exp(large)`` or ``0/0`` where its result is discarded, because JAX and
PyTorch differentiate both branches and ``0 * inf`` is NaN.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat

__all__ = [
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "safe_max",
    "sigmoid",
    "softmax",
    "softplus",
    "xlogy",
]


def safe_max(xp: ModuleType, x: Any, axis: int, keepdims: bool = True) -> Any:
    """``max(x, axis)`` with non-finite maxima replaced by 0 (a safe shift for exp).

    An empty ``axis`` (an empty batch of ``ntxent``) gives 0: ``max`` has no identity.
    """
    if x.shape[axis] == 0:
        shape = list(x.shape)
        if keepdims:
            shape[axis] = 1
        else:
            del shape[axis]
        return xp.zeros(tuple(shape), dtype=x.dtype, device=array_api_compat.device(x))
    m = xp.max(x, axis=axis, keepdims=keepdims)
    return xp.where(xp.isfinite(m), m, xp.zeros_like(m))


def logsumexp(xp: ModuleType, x: Any, axis: int = -1, keepdims: bool = False) -> Any:
    """``log(sum(exp(x), axis))`` without overflow; all ``-inf`` gives ``-inf``."""
    m = safe_max(xp, x, axis)
    s = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
    out = xp.log(s) + m
    if not keepdims:
        out = xp.squeeze(out, axis=axis)
    return out


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
