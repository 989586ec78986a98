"""NumPy fast paths: one fused value-and-gradient pass per loss, in cache-sized chunks.

Each fast path writes its gradient once, into one buffer it allocates itself, with the
reduction's scale (and the caller's cotangent) folded in; the loss is summed per chunk
while the chunk is still in cache (BLAS ``dot`` for sums of squares), and chunks run on
the small thread pool of :mod:`._chunks`. No float64 upcasts: float32 in, float32 work.

A fast path covers the common case and returns ``NotImplemented`` for everything else
(weights, masks, broadcasting, non-contiguous or exotic arrays, empty inputs), where the
generic kernel runs. The families beyond regression live in sibling modules imported at
the bottom of this one, so that ``import arrayloss.fast.numpy`` registers them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import register
from ._chunks import run_chunks

__all__ = ["ELEMENTWISE_CHUNK", "cotangent_scale", "plain_float_arrays"]

#: Elements per chunk of an element-wise loss: a few chunk-sized buffers fit in L2.
ELEMENTWISE_CHUNK = 1 << 15

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

Array = np.ndarray
# kernel(pred, target, grad_or_scratch, loss_out, scale) -> partial sum of the loss
ChunkKernel = Callable[[Array, Array, Array, "Array | None", Any], float]


def plain_float_arrays(*arrays: Any) -> bool:
    """True when every array is a C-contiguous ``np.ndarray`` of one float32/float64 dtype."""
    first = arrays[0]
    if type(first) is not np.ndarray or first.dtype not in _FLOATS:
        return False
    return all(
        type(a) is np.ndarray and a.dtype == first.dtype and a.flags.c_contiguous for a in arrays
    )


def cotangent_scale(cotangent: Any, denominator: float) -> float | None:
    """The scalar ``cotangent / denominator`` of a reduced loss, or None if not a scalar."""
    if cotangent is None:
        return 1.0 / denominator
    if isinstance(cotangent, (int, float)) and not isinstance(cotangent, bool):
        return float(cotangent) / denominator
    if type(cotangent) is np.ndarray and cotangent.shape == () and cotangent.dtype.kind == "f":
        return float(cotangent) / denominator
    return None


def _none_cotangent(cotangent: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """The cotangent of ``reduction="none"``: 1.0, a float, a flat array, or None (unsupported)."""
    if cotangent is None:
        return 1.0
    scalar = cotangent_scale(cotangent, 1.0)
    if scalar is not None:
        return scalar
    if type(cotangent) is np.ndarray and cotangent.shape == shape and cotangent.dtype.kind == "f":
        return np.ascontiguousarray(cotangent, dtype=dtype).reshape(-1)
    return None


def _elementwise(
    problem: Any, wrt: tuple[str, ...], cotangent: Any, kernel: ChunkKernel, *, value_scale: float = 1.0
) -> Any:
    """Run a loss of ``d = pred - target`` whose target gradient is minus the pred gradient."""
    if problem.weight is not None or problem.where is not None:
        return NotImplemented
    pred, target = problem.arrays[0], problem.arrays[1]
    if not plain_float_arrays(pred, target) or pred.shape != target.shape or pred.size == 0:
        return NotImplemented
    if any(name not in ("pred", "target") for name in wrt):
        return NotImplemented
    n = pred.size
    dtype = pred.dtype
    reduction = problem.reduction
    if reduction == "none":
        scale = _none_cotangent(cotangent, pred.shape, dtype)
    elif reduction in ("sum", "mean"):
        scale = cotangent_scale(cotangent, float(n) if reduction == "mean" else 1.0)
    else:
        return NotImplemented
    if scale is None:
        return NotImplemented
    p = pred.reshape(-1)
    t = target.reshape(-1)
    grad = np.empty(n, dtype=dtype) if wrt else None
    loss = np.empty(n, dtype=dtype) if reduction == "none" else None
    chunk = ELEMENTWISE_CHUNK

    def work(lo: int, hi: int) -> float:
        g = grad[lo:hi] if grad is not None else np.empty(hi - lo, dtype=dtype)
        out = loss[lo:hi] if loss is not None else None
        s = None
        if grad is not None:
            s = scale[lo:hi] if isinstance(scale, np.ndarray) else scale
        return kernel(p[lo:hi], t[lo:hi], g, out, s)

    partials = run_chunks(n, chunk, work, work_size=3 * n)
    if loss is not None:
        value = loss.reshape(pred.shape)
        if value_scale != 1.0:
            value *= value_scale
    else:
        total = math.fsum(partials) * value_scale
        if reduction == "mean":
            total /= n
        value = np.asarray(total, dtype=dtype)
    grads: list[Array] = []
    for name in wrt:
        assert grad is not None
        g = grad.reshape(pred.shape)
        grads.append(g if name == "pred" else np.negative(g))
    return value, tuple(grads)


# ----------------------------------------------------------------- kernels


def _mse_chunk(p: Array, t: Array, g: Array, loss: Array | None, s: Any) -> float:
    np.subtract(p, t, out=g)
    total = 0.0
    if loss is not None:
        np.multiply(g, g, out=loss)
    else:
        total = float(np.dot(g, g))
    if s is not None:
        np.multiply(g, 2.0 * s if not isinstance(s, np.ndarray) else s, out=g)
        if isinstance(s, np.ndarray):
            g *= 2.0
    return total


def _mae_chunk(p: Array, t: Array, g: Array, loss: Array | None, s: Any) -> float:
    np.subtract(p, t, out=g)
    total = 0.0
    absolute = np.abs(g, out=loss) if loss is not None else np.abs(g)
    if loss is None:
        total = float(np.add.reduce(absolute))
    if s is not None:
        np.sign(g, out=g)
        np.multiply(g, s, out=g)
    return total


def _huber_chunk(delta: float) -> ChunkKernel:
    # With c = clip(d, -delta, delta), huber(d) = c * (d - c/2) on both sides of the
    # threshold (0.5 d^2 inside, delta (|d| - delta/2) outside), and c is the gradient.
    def kernel(p: Array, t: Array, g: Array, loss: Array | None, s: Any) -> float:
        d = np.subtract(p, t)
        np.clip(d, -delta, delta, out=g)
        total = 0.0
        if loss is not None:
            np.multiply(g, -0.5, out=loss)
            loss += d
            loss *= g
        else:
            total = float(np.dot(g, d)) - 0.5 * float(np.dot(g, g))
        if s is not None:
            np.multiply(g, s, out=g)
        return total

    return kernel


@register("mse", "numpy")
def mse(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    return _elementwise(problem, wrt, cotangent, _mse_chunk)


@register("mae", "numpy")
def mae(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    return _elementwise(problem, wrt, cotangent, _mae_chunk)


@register("huber", "numpy")
def huber(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    return _elementwise(problem, wrt, cotangent, _huber_chunk(float(problem.options["delta"])))


@register("smooth_l1", "numpy")
def smooth_l1(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    beta = float(problem.options["beta"])
    if beta == 0:
        return _elementwise(problem, wrt, cotangent, _mae_chunk)
    # smooth_l1(beta) = huber(delta=beta) / beta, and so is its gradient
    huber_kernel = _huber_chunk(beta)

    def kernel(p: Array, t: Array, g: Array, loss: Array | None, s: Any) -> float:
        return huber_kernel(p, t, g, loss, None if s is None else s / beta)

    return _elementwise(problem, wrt, cotangent, kernel, value_scale=1.0 / beta)


@register("rmse", "numpy")
def rmse(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    if problem.reduction not in ("sum", "mean"):
        return NotImplemented
    # d rmse = d mse / (2 sqrt(mse)): the mse pass with a unit scale leaves 2 d / D in
    # the gradient buffer (D the denominator), rescaled once the value is known.
    result = _elementwise(problem, wrt, None, _mse_chunk)
    if result is NotImplemented:
        return result
    value, grads = result
    outer = cotangent_scale(cotangent, 1.0)
    if outer is None:
        return NotImplemented
    reduced = float(value)
    root = math.sqrt(reduced) if reduced >= 0 or math.isnan(reduced) else math.nan
    factor = outer * 0.5 / root if root > 0 else (0.0 if root == 0 else root)
    for g in grads:
        g *= factor
    return np.asarray(root, dtype=value.dtype), grads
