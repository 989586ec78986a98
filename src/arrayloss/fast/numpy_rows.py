"""A NumPy fast path for any loss whose rows are independent: the generic kernel, run on
cache-sized chunks of rows (axis 0) on the thread pool.

Many losses need no hand-fused pass to gain most of the speed: their kernel is already
one expression per element (or per row), and what makes it slow on a large array is
that each of its dozen operations streams the whole array through memory. Run on a
chunk of rows that fits in cache, the same operations touch memory once per input and
once per output, and two chunks run at once. The kernel sees the NumPy namespace with
two functions swapped for vectorised ones of the same formula (``logaddexp``, which
NumPy evaluates with a libm call per element, and ``sign``, which branches per
element), so the numbers agree with the generic kernel to an ulp or two.

Requirements (else ``NotImplemented``): every array is a C-contiguous ``np.ndarray`` with
the same leading length ``N``, the unreduced loss has leading length ``N`` and is
independent across rows, no ``weight``/``where``, and no class axis at 0. The losses
this is registered for are listed in :data:`ROW_LOSSES`; each was checked to compute
every row from that row alone.
"""

from __future__ import annotations

import functools
import math
import types
from typing import Any

import numpy as np

from .._engine import sum_to_shape
from . import register
from ._chunks import cotangent_scale, none_cotangent, run_chunks

__all__ = ["ROW_CHUNK_BYTES", "ROW_LOSSES", "rows_fast_path"]

#: Bytes of the first argument per chunk of rows.
ROW_CHUNK_BYTES = 1 << 17

#: Losses computed row by row (every output row from the same rows of the inputs).
ROW_LOSSES = (
    "log_cosh",
    "msle",
    "mape",
    "quantile",
    "poisson_nll",
    "gaussian_nll",
    "tweedie_deviance",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "dice",
    "jaccard",
    "tversky",
    "triplet_margin",
)

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_LOG2 = math.log(2.0)


def _logaddexp(a: Any, b: Any) -> Any:
    """``np.logaddexp`` with vectorised ``exp``/``log1p`` (NumPy's calls libm per element).

    The same formula as NumPy's: ``max + log1p(exp(-|a - b|))``, ``a + log 2`` where
    ``a == b`` (equal infinities), NaN where either is NaN, and no warning for them.
    """
    with np.errstate(invalid="ignore"):
        d = np.subtract(a, b)
        out = np.maximum(a, b)
        np.abs(d, out=d)
        np.negative(d, out=d)
        np.exp(d, out=d)
        np.log1p(d, out=d)
        out += d
        same = np.equal(a, b)
    if same.any():
        np.copyto(out, np.add(a, _LOG2), where=same)
    return out


def _sign(x: Any) -> Any:
    """``np.sign`` without its branch per element (slow on random signs)."""
    out = np.copysign(np.ones_like(x), x)
    out *= x != 0
    nan = np.isnan(x)
    if nan.any():
        np.copyto(out, x, where=nan)
    return out


@functools.cache
def _fast_namespace(base: Any) -> Any:
    """``base`` (array_api_compat.numpy), with faster ``logaddexp`` and ``sign``."""
    namespace = types.ModuleType(base.__name__, base.__doc__)
    namespace.__dict__.update(base.__dict__)
    namespace.logaddexp = _logaddexp  # type: ignore[attr-defined]
    namespace.sign = _sign  # type: ignore[attr-defined]
    return namespace


def _denominator(problem: Any, loss_shape: tuple[int, ...]) -> float | None:
    if problem.reduction == "batchmean" or problem.denominator == "batch":
        return float(loss_shape[0]) if loss_shape else 1.0
    if isinstance(problem.denominator, str):  # "weight" or "count", with no weight or mask
        return float(np.prod(loss_shape))
    if type(problem.denominator) is np.ndarray and problem.denominator.shape == ():
        return float(problem.denominator)
    return None


def rows_fast_path(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    """Value and gradients of ``problem`` from its kernel, run on chunks of rows."""
    spec = problem.spec
    if problem.weight is not None or problem.where is not None or spec.post is not None:
        return NotImplemented
    arrays = [a for a in problem.arrays if a is not None]
    if not arrays or any(
        type(a) is not np.ndarray or a.ndim == 0 or not a.flags.c_contiguous for a in arrays
    ):
        return NotImplemented
    n = arrays[0].shape[0]
    loss_shape = problem.loss_shape
    if loss_shape is None:
        loss_shape = np.broadcast_shapes(*(a.shape for a in arrays))
    loss_shape = tuple(loss_shape)
    dtype = problem.arrays[0].dtype
    if (
        n < 2
        or dtype not in _FLOATS
        or any(a.shape[0] != n for a in arrays)
        or not loss_shape
        or loss_shape[0] != n
        or problem.options.get("axis") == 0
        or any(
            hasattr(v, "shape") and getattr(v, "ndim", 0) == len(loss_shape) and v.shape[0] == n
            for v in problem.options.values()
        )
    ):
        return NotImplemented
    reduction = problem.reduction
    if reduction == "none":
        scale: Any = none_cotangent(cotangent, loss_shape, dtype)
        if isinstance(scale, np.ndarray):
            scale = scale.reshape(loss_shape)
    else:
        denominator = 1.0 if reduction == "sum" else _denominator(problem, loss_shape)
        if denominator is None:
            return NotImplemented
        scale = cotangent_scale(cotangent, denominator if denominator != 0 else 1.0)
        mean_denominator = denominator
    if scale is None:
        return NotImplemented

    xp = _fast_namespace(problem.xp)
    options = problem.options
    index = [spec.args.index(name) for name in wrt]
    grads = [np.empty(problem.arrays[i].shape, dtype=dtype) for i in index]
    loss = np.empty(loss_shape, dtype=dtype) if reduction == "none" else None
    row_bytes = max(1, arrays[0][0].nbytes)
    rows_per_chunk = max(1, ROW_CHUNK_BYTES // row_bytes)

    def work(lo: int, hi: int) -> float:
        part = tuple(None if a is None else a[lo:hi] for a in problem.arrays)
        if wrt and spec.vjp is not None:
            value, pullback = spec.vjp(xp, *part, wrt=wrt, **options)
        else:
            value = spec.value(xp, *part, **options)
        if loss is not None:
            np.copyto(loss[lo:hi], value)
        if wrt:
            if isinstance(scale, np.ndarray):
                cot = scale[lo:hi]
            else:
                cot = np.full(value.shape, scale, dtype=dtype)
            if spec.vjp is not None:
                chunk_grads = pullback(cot)
            else:
                chunk_grads = tuple(spec.grads[name](xp, cot, *part, **options) for name in wrt)
            for out, g in zip(grads, chunk_grads, strict=True):
                target = out[lo:hi]
                np.copyto(target, sum_to_shape(xp, g, target.shape))
        return 0.0 if loss is not None else float(np.sum(value))

    partials = run_chunks(n, rows_per_chunk, work, work_size=sum(a.size for a in arrays))
    if loss is not None:
        reduced = loss
    else:
        total = sum(partials)
        if reduction != "sum":
            total = total / mean_denominator if mean_denominator != 0 else float("nan")
        reduced = np.asarray(total, dtype=dtype)
    return reduced, tuple(grads)


for _name in ROW_LOSSES:
    register(_name, "numpy")(rows_fast_path)
