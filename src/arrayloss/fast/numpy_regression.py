"""NumPy fast paths of the regression losses: one chunked pass of ``d = pred - target``.

Each chunk computes ``d``, the loss summed while the chunk is in cache (BLAS ``dot`` for
sums of squares) and the gradient written once, with the reduction scale folded in.
Covered: no ``weight``/``where``, ``pred`` and ``target`` of one shape and dtype (float32
or float64), C-contiguous, non-empty; anything else falls back to the generic kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import register
from ._chunks import cotangent_scale, none_cotangent, plain_float_arrays, run_chunks
from .numpy_rows import rows_fast_path

__all__ = ["ELEMENTWISE_CHUNK", "ChunkKernel", "elementwise"]

Array = np.ndarray
# kernel(pred, target, grad_or_scratch, loss_out, scale) -> partial sum of the loss
ChunkKernel = Callable[[Array, Array, Array, "Array | None", Any], float]

#: Elements per chunk of an element-wise loss: a few chunk-sized buffers fit in L2.
ELEMENTWISE_CHUNK = 1 << 15


def elementwise(
    problem: Any,
    wrt: tuple[str, ...],
    cotangent: Any,
    kernel: ChunkKernel,
    *,
    value_scale: float = 1.0,
    negated_second: bool = True,
) -> Any:
    """Run an element-wise loss of two arrays with a fused chunk ``kernel``.

    With ``negated_second`` the gradient of the second argument is minus the first's (a
    loss of ``d = pred - target``); without it only the first is differentiated here.
    Other cases (broadcasting, a third array, weights) go to the row-chunked kernel.
    """
    if problem.weight is not None or problem.where is not None:
        return NotImplemented
    names = problem.spec.args[:2]
    allowed = names if negated_second else names[:1]
    pred, target = problem.arrays[0], problem.arrays[1]
    if (
        not plain_float_arrays(pred, target)
        or pred.shape != target.shape
        or pred.size == 0
        or any(a is not None for a in problem.arrays[2:])
        or any(name not in allowed for name in wrt)
    ):
        return rows_fast_path(problem, wrt, cotangent)
    n = pred.size
    dtype = pred.dtype
    reduction = problem.reduction
    # the "mean" denominator: the element count ("batchmean", kl_div: the batch size)
    count = float(pred.shape[0] if reduction == "batchmean" and pred.ndim else n)
    if reduction == "none":
        scale = none_cotangent(cotangent, pred.shape, dtype)
    elif reduction in ("sum", "mean", "batchmean"):
        scale = cotangent_scale(cotangent, 1.0 if reduction == "sum" else count)
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

    partials = [work(0, n)] if n <= chunk else run_chunks(n, chunk, work, work_size=3 * n)
    if loss is not None:
        value = loss.reshape(pred.shape)
        if value_scale != 1.0:
            value *= value_scale
    else:
        total = sum(partials) * value_scale
        if reduction != "sum":
            total /= count
        value = np.asarray(total, dtype=dtype)
    grads: list[Array] = []
    for name in wrt:
        assert grad is not None
        g = grad.reshape(pred.shape)
        grads.append(g if name == names[0] else np.negative(g))
    return value, tuple(grads)


# ----------------------------------------------------------------- kernels


def _mse_chunk(p: Array, t: Array, g: Array, loss: Array | None, s: Any) -> float:
    np.subtract(p, t, out=g)
    total = 0.0
    if loss is not None:
        np.multiply(g, g, out=loss)
    else:
        total = float(np.dot(g, g))
    if isinstance(s, np.ndarray):
        np.multiply(g, s, out=g)
        g *= 2.0
    elif s is not None:
        np.multiply(g, 2.0 * s, out=g)
    return total


def _mae_chunk(p: Array, t: Array, g: Array, loss: Array | None, s: Any) -> float:
    d = np.subtract(p, t)
    total = 0.0
    absolute = np.abs(d, out=loss) if loss is not None else np.abs(d)
    if loss is None:
        total = float(np.add.reduce(absolute))
    if s is not None:
        # np.sign branches per element (5 ns each on random signs); copysign and a
        # zero mask do not, and NaN (rare) is put back afterwards: sign(0) = 0 and
        # sign(NaN) = NaN, as the kernel's xp.sign.
        if isinstance(s, np.ndarray):
            np.copysign(1.0, d, out=g)
            g *= s
        else:
            np.copysign(s, d, out=g)
        np.multiply(g, d != 0, out=g)
        nan = np.isnan(d)
        if nan.any():
            np.copyto(g, d, where=nan)
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
    return elementwise(problem, wrt, cotangent, _mse_chunk)


@register("mae", "numpy")
def mae(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    return elementwise(problem, wrt, cotangent, _mae_chunk)


@register("huber", "numpy")
def huber(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    return elementwise(problem, wrt, cotangent, _huber_chunk(float(problem.options["delta"])))


@register("smooth_l1", "numpy")
def smooth_l1(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    beta = float(problem.options["beta"])
    if beta == 0:
        return elementwise(problem, wrt, cotangent, _mae_chunk)
    # smooth_l1(beta) = huber(delta=beta) / beta, and so is its gradient
    huber_kernel = _huber_chunk(beta)

    def kernel(p: Array, t: Array, g: Array, loss: Array | None, s: Any) -> float:
        return huber_kernel(p, t, g, loss, None if s is None else s / beta)

    return elementwise(problem, wrt, cotangent, kernel, value_scale=1.0 / beta)


@register("rmse", "numpy")
def rmse(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    if problem.reduction not in ("sum", "mean"):
        return NotImplemented
    # d rmse = d mse / (2 sqrt(mse)): the mse pass with a unit scale leaves 2 d / D in
    # the gradient buffer (D the denominator), rescaled once the value is known.
    result = elementwise(problem, wrt, None, _mse_chunk)
    if result is NotImplemented:
        return result
    value, grads = result
    outer = cotangent_scale(cotangent, 1.0)
    if outer is None:
        return NotImplemented
    # as the kernel's sqrt_derivative: 0 where the mse is not positive
    root = math.sqrt(float(value))
    factor = outer * 0.5 / root if root > 0 else 0.0
    for g in grads:
        g *= factor
    return np.asarray(root, dtype=value.dtype), grads
