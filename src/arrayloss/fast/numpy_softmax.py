"""NumPy fast path of class-index cross-entropy: row chunks that stay in cache.

For each chunk of rows (about 256 KiB of logits) the pass writes ``exp(x)`` straight
into the gradient buffer, sums it, and scales it in place by ``a / sum`` (``a`` the
row's cotangent times its class weight over the temperature) while the chunk is still
in cache; the target entries then get ``- a``. Rows where the unshifted sum overflows or
underflows (large or very negative logits, ``+-inf``, NaN) are redone shifted by their
maximum, so every row gets the generic kernel's numbers; ordinary logits skip the max
and subtract passes.
The logits are read once and the gradient written once, with no other buffer of the
logits' size: peak extra memory is the gradient plus a few chunks.

Covered: integer targets, classes on the last axis of C-contiguous float32/float64
logits, ``weight``, ``ignore_index``, ``temperature``, every reduction. Label smoothing,
probability targets and other class axes run the generic kernel on chunks of rows
(:mod:`.numpy_rows`); ``where`` runs the generic kernel.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from . import register
from ._chunks import cotangent_scale, none_cotangent, plain_float_arrays, run_chunks
from .numpy_rows import rows_fast_path

__all__ = ["ROW_CHUNK_BYTES"]

#: Bytes of logits per chunk of rows: the chunk and its gradient stay in L2.
ROW_CHUNK_BYTES = 1 << 18

#: Smallest row sum of unshifted ``exp(x)`` used as it is. Above it, an ``exp`` that
#: underflowed to a subnormal is off by at most 1.4e-45 / 2**-10 (float32) of the row's
#: cotangent: nothing against the shifted result's own rounding.
SHIFT_FREE = {"f": 2.0**-10, "d": 2.0**-100}

Array = np.ndarray


def _row_max(x: Array) -> Array:
    """Row maxima with non-finite ones replaced by 0 (``_math.safe_max``)."""
    if x.shape[1] <= 16:
        # a reduction over a short last axis runs one tiny inner loop per row; a
        # column-by-column maximum runs C vectorised ones
        m = x[:, 0].copy()
        for j in range(1, x.shape[1]):
            np.maximum(m, x[:, j], out=m)
    else:
        m = np.max(x, axis=1)
    m[~np.isfinite(m)] = 0
    return m


@functools.cache
def _ones(n: int) -> Array:
    ones = np.ones(n, dtype=np.float32)
    ones.flags.writeable = False
    return ones


def _row_sum(x: Array, *, exact: bool = False) -> Array:
    """Row sums; float32 by BLAS ``gemv`` (2-8x faster than a NumPy reduction here).

    float64 sums, and ``exact`` ones (rows redone as the generic kernel does them), use
    NumPy's own pairwise reduction, which the generic kernel uses too.
    """
    if x.dtype == np.float32 and not exact:
        return x @ _ones(x.shape[1])
    if x.shape[1] <= 16:
        s = x[:, 0].copy()
        for j in range(1, x.shape[1]):
            s += x[:, j]
        return s
    return np.add.reduce(x, axis=1)


@register("cross_entropy", "numpy")
def cross_entropy(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    options = problem.options
    if (
        not options.get("sparse")
        or options.get("label_smoothing", 0.0) != 0.0
        or problem.where is not None
        or problem.weight is not None
        or wrt not in ((), ("logits",))
    ):
        return rows_fast_path(problem, wrt, cotangent)
    logits, target = problem.arrays
    if (
        not plain_float_arrays(logits)
        or logits.ndim < 1
        or options["axis"] != logits.ndim - 1
        or logits.size == 0
        or type(target) is not np.ndarray
        or target.dtype.kind not in "iu"
    ):
        return rows_fast_path(problem, wrt, cotangent)
    dtype = logits.dtype
    class_weight = options.get("class_weight")
    if class_weight is not None and (
        type(class_weight) is not np.ndarray or class_weight.dtype != dtype
    ):
        return NotImplemented
    n_classes = logits.shape[-1]
    x = logits.reshape(-1, n_classes)
    n = x.shape[0]
    labels = target.reshape(-1)
    ignore_index = options.get("ignore_index")
    used = None if ignore_index is None else labels != ignore_index
    if used is not None and used.all():
        used = None
    safe = labels if used is None else np.where(used, labels, 0)
    # per-row factor of the loss: w[y], 0 for ignored rows (None: all 1)
    row_weight = None if class_weight is None else class_weight[safe]
    if used is not None:
        row_weight = used.astype(dtype) if row_weight is None else row_weight * used

    reduction = problem.reduction
    denominator = 1.0
    if reduction == "none":
        scale = none_cotangent(cotangent, tuple(target.shape), dtype)
    elif reduction in ("sum", "mean"):
        if reduction == "mean":
            denominator = float(problem.denominator)
        # as _reduce.loss_cotangent: a zero denominator leaves the cotangent unscaled
        scale = cotangent_scale(cotangent, denominator if denominator != 0 else 1.0)
    else:
        return NotImplemented
    if scale is None:
        return NotImplemented

    temperature = float(options.get("temperature", 1.0))
    inv_t = 1.0 / temperature  # the kernel's: logits / T, and cotangents times 1 / T
    grad = np.empty_like(x) if wrt else None
    loss = np.empty(n, dtype=dtype) if reduction == "none" else None
    rows_per_chunk = max(1, ROW_CHUNK_BYTES // (n_classes * dtype.itemsize))
    row_starts = np.arange(min(rows_per_chunk, n)) * n_classes

    def work(lo: int, hi: int) -> float:
        xc = x[lo:hi]
        out = grad[lo:hi] if grad is not None else np.empty_like(xc)
        if temperature != 1.0:
            np.divide(xc, temperature, out=out)
            xc = out
        # flat indices of the target entries: a 1-D take/put is several times faster
        # than 2-D fancy indexing, which matters with few classes per row
        at_y = row_starts[: hi - lo] + safe[lo:hi]
        flat_out = out.reshape(-1)
        picked = xc.reshape(-1).take(at_y)
        # Unshifted first: exp(x) and its row sum S = exp(m) sum exp(x - m) give the same
        # softmax and log-sum-exp without the max and subtract passes, wherever S neither
        # overflows nor is so small that exp(x)'s underflow would show (S >= SHIFT_FREE).
        # Rows redone shifted by their safe maximum, exactly as the generic kernel: those
        # (+-inf, NaN, large or very negative logits), and the confident ones (target
        # probability > 1/2), whose loss and target gradient, p_y - 1, are small
        # differences that only the shifted form's exact 1 = exp(x_max - x_max) keeps.
        np.exp(xc, out=out)
        s = _row_sum(out)
        m = np.zeros_like(s)
        redo = ~((s >= SHIFT_FREE[dtype.char]) & (s < np.inf) & (2 * flat_out.take(at_y) <= s))
        if redo.any():
            bad = np.flatnonzero(redo)
            x_bad = x[lo:hi][bad]  # xc may be ``out``, now overwritten
            if temperature != 1.0:
                x_bad = x_bad / temperature
            m_bad = _row_max(x_bad)
            shifted = np.exp(x_bad - m_bad[:, None])
            out[bad] = shifted
            s[bad] = _row_sum(shifted, exact=True)
            m[bad] = m_bad
        nll = np.log(s)
        nll += m
        nll -= picked
        w = None if row_weight is None else row_weight[lo:hi]
        if w is not None:
            nll *= w
        if used is not None:
            # ignored rows hold 0 whatever their logits (NaN or inf included)
            nll = np.where(used[lo:hi], nll, 0).astype(dtype, copy=False)
        if loss is not None:
            loss[lo:hi] = nll
        if grad is not None:
            a = scale[lo:hi] if isinstance(scale, np.ndarray) else np.full(hi - lo, scale, dtype)
            if inv_t != 1.0:
                a = a * inv_t
            if w is not None:
                a = a * w
            out *= (a / s)[:, None]
            flat_out[at_y] = flat_out.take(at_y) - a
        return 0.0 if loss is not None else float(np.add.reduce(nll))

    partials = run_chunks(n, rows_per_chunk, work, work_size=2 * x.size)
    if loss is not None:
        value = loss.reshape(target.shape)
    else:
        total = sum(partials)
        if reduction == "mean":
            total = total / denominator if denominator != 0 else float("nan")
        value = np.asarray(total, dtype=dtype)
    grads = () if grad is None else (grad.reshape(logits.shape),)
    return value, grads
