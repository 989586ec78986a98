"""Softmax-classification kernels: cross-entropy, NLL and poly-1 over a class axis.

Notation, per sample (the class axis ``axis`` has ``C`` entries): ``x`` the logits
divided by the temperature ``T``, ``lse = log sum_c exp(x_c)``, ``p = softmax(x)``, ``y``
the class index (index targets) or ``t`` the class probabilities (probability targets),
``w`` the per-class weights (1 when absent) and ``eps`` the label smoothing. The
unreduced loss has the logits' shape without ``axis``; gradients have the logits' shape.

Every loss is written once as a *forward* ``f(xp, *arrays, **options) -> (loss,
backward)`` whose ``backward(cot)`` reuses the forward's ``exp(x - max)`` and its sum
(the softmax is never recomputed); :func:`kernels_from` turns it into the value kernel,
the gradient-table entry and the fused ``vjp`` kernel.

Index targets never build a one-hot of the logits' size for the value: the target logit
is gathered with ``take_along_axis`` where the namespace has it, and compared with
``arange(C)`` only where it has not (Dask). The gradient's ``-onehot(y)`` term needs a
scatter, which the array API lacks, so it is a ``where`` on ``arange(C) == y``.

Labels outside ``[0, C)`` other than ``ignore_index`` give a NaN loss (and a NaN
gradient where their cotangent is non-zero); the public functions raise ``ValueError``
for them first on eager backends, so only JAX and Dask reach this.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

from array_api_compat import device

from .._math import safe_max

__all__ = ["GRADS", "VALUES", "VJPS"]

Forward = Callable[..., tuple[Any, Callable[[Any], Any]]]


# ------------------------------------------------------------------ helpers


def along(xp: ModuleType, v: Any, axis: int, ndim: int) -> Any:
    """A ``(C,)`` vector reshaped to broadcast along ``axis`` of a rank-``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return xp.reshape(v, tuple(shape))


def class_hit(xp: ModuleType, safe: Any, axis: int, like: Any) -> Any:
    """Boolean ``arange(C) == y`` with ``C`` along ``axis`` (broadcasts to ``like``)."""
    n = like.shape[axis]
    ids = along(xp, xp.arange(n, dtype=safe.dtype, device=device(like)), axis, like.ndim)
    return ids == xp.expand_dims(safe, axis=axis)


def pick(xp: ModuleType, x: Any, safe: Any, axis: int) -> Any:
    """``x[..., y, ...]`` along ``axis``: the entry of each sample's class index."""
    index = xp.expand_dims(safe, axis=axis)
    if hasattr(xp, "take_along_axis"):
        return xp.squeeze(xp.take_along_axis(x, index, axis=axis), axis=axis)
    hit = class_hit(xp, safe, axis, x)
    return xp.sum(xp.where(hit, x, xp.zeros_like(x)), axis=axis)


def gather(xp: ModuleType, v: Any, safe: Any) -> Any:
    """``v[y]`` for a ``(C,)`` vector ``v``, shaped like ``y``."""
    flat = xp.take(v, xp.reshape(safe, (-1,)), axis=0)
    return xp.reshape(flat, tuple(safe.shape))


class IndexTarget(NamedTuple):
    """Class indices split into what a kernel needs (all shaped like the targets)."""

    used: Any  # in [0, C) and not ignored: contributes to the loss
    bad: Any  # outside [0, C) and not ignored: NaN
    safe: Any  # the index where used, else 0 (always a valid index)


def index_target(xp: ModuleType, target: Any, n: int, ignore_index: int | None) -> IndexTarget:
    in_range = (target >= 0) & (target < n)
    kept = xp.ones_like(in_range) if ignore_index is None else target != ignore_index
    safe = xp.where(in_range, target, xp.zeros_like(target))
    return IndexTarget(used=kept & in_range, bad=kept & ~in_range, safe=safe)


def mask_loss(xp: ModuleType, loss: Any, tgt: IndexTarget) -> Any:
    """0 for ignored samples, NaN for out-of-range labels."""
    loss = xp.where(tgt.used, loss, xp.zeros_like(loss))
    return xp.where(tgt.bad, xp.full_like(loss, math.nan), loss)


def mask_cotangent(xp: ModuleType, cot: Any, tgt: IndexTarget) -> Any:
    """The cotangent of used samples; NaN for out-of-range labels that count."""
    kept = xp.where(tgt.used, cot, xp.zeros_like(cot))
    return xp.where(tgt.bad & (cot != 0), xp.full_like(kept, math.nan), kept)


class Softmax(NamedTuple):
    """``x``, ``exp(x - max)``, its sum and ``lse`` (the last two with ``keepdims``)."""

    x: Any
    e: Any
    s: Any
    lse: Any


def softmax_parts(xp: ModuleType, logits: Any, axis: int, temperature: float = 1.0) -> Softmax:
    x = logits if temperature == 1 else logits / temperature
    if math.prod(x.shape) == 0:  # nothing to shift, and Dask's max fails on empty chunks
        shape = tuple(1 if i == axis else s for i, s in enumerate(x.shape))
        m = xp.zeros(shape, dtype=x.dtype, device=device(x))
    else:
        m = safe_max(xp, x, axis)
    e = xp.exp(x - m)
    s = xp.sum(e, axis=axis, keepdims=True)
    return Softmax(x=x, e=e, s=s, lse=xp.log(s) + m)


def kernels_from(forward: Forward, name: str) -> tuple[Callable[..., Any], ...]:
    """The value kernel, gradient-table entry and fused ``vjp`` of a one-argument forward."""

    def value(xp: ModuleType, *arrays: Any, **options: Any) -> Any:
        return forward(xp, *arrays, **options)[0]

    def grad(xp: ModuleType, cot: Any, *arrays: Any, **options: Any) -> Any:
        return forward(xp, *arrays, **options)[1](cot)

    def vjp(xp: ModuleType, *arrays: Any, wrt: tuple[str, ...], **options: Any) -> Any:
        loss, backward = forward(xp, *arrays, **options)
        return loss, lambda cot: tuple(backward(cot) for _ in wrt)

    for fn, suffix in ((value, ""), (grad, "_grad"), (vjp, "_vjp")):
        fn.__name__ = fn.__qualname__ = f"{name}{suffix}"
    return value, grad, vjp


# ------------------------------------------------------------ cross_entropy


def cross_entropy_forward(
    xp: ModuleType,
    logits: Any,
    target: Any,
    *,
    axis: int,
    sparse: bool,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    class_weight: Any = None,
) -> tuple[Any, Callable[[Any], Any]]:
    """PyTorch's ``cross_entropy``; ``sparse`` selects index (True) or probability targets.

    Index targets: ``l = (1 - eps) w_y (lse - x_y) + eps/C sum_c w_c (lse - x_c)``, with
    gradient ``[(1 - eps) w_y (p - onehot_y) + eps/C (p sum_c w_c - w)] / T``.
    Probability targets: ``t' = (1 - eps) t + eps/C``, ``l = sum_c w_c t'_c (lse - x_c)``
    (a class with ``w_c t'_c = 0`` adds 0, even at ``x_c = -inf``), gradient
    ``(p sum_c w_c t'_c - w t') / T``.
    """
    sm = softmax_parts(xp, logits, axis, temperature)
    n = logits.shape[axis]
    eps = label_smoothing
    w = None if class_weight is None else along(xp, class_weight, axis, logits.ndim)
    inv_t = 1 / temperature
    if sparse:
        tgt = index_target(xp, target, n, ignore_index)
        nll = xp.squeeze(sm.lse, axis=axis) - pick(xp, sm.x, tgt.safe, axis)
        w_y = None if class_weight is None else gather(xp, class_weight, tgt.safe)
        loss = nll if w_y is None else w_y * nll
        if eps:
            nlp = sm.lse - sm.x
            smooth = xp.sum(nlp if w is None else w * nlp, axis=axis)
            loss = (1 - eps) * loss + (eps / n) * smooth
        loss = mask_loss(xp, loss, tgt)

        def backward_index(cot: Any) -> Any:
            a = mask_cotangent(xp, cot, tgt) * inv_t
            hit_coef = (1 - eps) * a if w_y is None else (1 - eps) * a * w_y
            total = hit_coef
            if eps:
                b = (eps / n) * a
                total = total + b * (n if class_weight is None else xp.sum(class_weight))
            g = sm.e * (xp.expand_dims(total, axis=axis) / sm.s)
            if eps:
                b_k = xp.expand_dims(b, axis=axis)
                g = g - (b_k if w is None else b_k * w)
            hit = class_hit(xp, tgt.safe, axis, logits)
            return xp.where(hit, g - xp.expand_dims(hit_coef, axis=axis), g)

        return loss, backward_index

    t = target if not eps else (1 - eps) * target + eps / n
    tw = t if w is None else t * w
    nlp = sm.lse - sm.x
    loss = xp.sum(tw * xp.where(tw == 0, xp.zeros_like(nlp), nlp), axis=axis)

    def backward_probs(cot: Any) -> Any:
        a = xp.expand_dims(cot, axis=axis) * inv_t
        mass = xp.sum(tw, axis=axis, keepdims=True)
        return sm.e * (a * mass / sm.s) - tw * a

    return loss, backward_probs


# ------------------------------------------------------------------ nll_loss


def nll_loss_forward(
    xp: ModuleType,
    input: Any,
    target: Any,
    *,
    axis: int,
    ignore_index: int | None = None,
    class_weight: Any = None,
) -> tuple[Any, Callable[[Any], Any]]:
    """``l = -w_y input_y``; gradient ``-w_y onehot_y``."""
    tgt = index_target(xp, target, input.shape[axis], ignore_index)
    v = pick(xp, input, tgt.safe, axis)
    w_y = None if class_weight is None else gather(xp, class_weight, tgt.safe)
    loss = mask_loss(xp, -v if w_y is None else -(w_y * v), tgt)

    def backward(cot: Any) -> Any:
        a = mask_cotangent(xp, cot, tgt)
        if w_y is not None:
            a = a * w_y
        hit = class_hit(xp, tgt.safe, axis, input)
        return xp.where(hit, -xp.expand_dims(a, axis=axis), xp.zeros_like(input))

    return loss, backward


# ------------------------------------------------------------------- poly-1


def poly1_forward(
    xp: ModuleType, logits: Any, target: Any, *, axis: int, sparse: bool, epsilon: float
) -> tuple[Any, Callable[[Any], Any]]:
    """optax's ``poly_loss_cross_entropy``: ``l = CE + epsilon sum_c t_c (1 - p_c)``.

    Gradient: ``p (sum_c t_c + epsilon sum_c t_c p_c) - t (1 + epsilon p)``; for index
    targets ``(1 + epsilon p_y)(p - onehot_y)``.
    """
    sm = softmax_parts(xp, logits, axis)
    if sparse:
        tgt = index_target(xp, target, logits.shape[axis], None)
        nll = xp.squeeze(sm.lse, axis=axis) - pick(xp, sm.x, tgt.safe, axis)
        loss = mask_loss(xp, nll - epsilon * xp.expm1(-nll), tgt)

        def backward_index(cot: Any) -> Any:
            a = mask_cotangent(xp, cot, tgt) * (1 + epsilon * xp.exp(-nll))
            a_k = xp.expand_dims(a, axis=axis)
            g = sm.e * (a_k / sm.s)
            return xp.where(class_hit(xp, tgt.safe, axis, logits), g - a_k, g)

        return loss, backward_index

    p = sm.e / sm.s
    nlp = sm.lse - sm.x
    ce = xp.sum(target * xp.where(target == 0, xp.zeros_like(nlp), nlp), axis=axis)
    loss = ce + epsilon * xp.sum(target * (1 - p), axis=axis)

    def backward_probs(cot: Any) -> Any:
        a = xp.expand_dims(cot, axis=axis)
        mass = xp.sum(target, axis=axis, keepdims=True)
        tp = xp.sum(target * p, axis=axis, keepdims=True)
        return a * (p * (mass + epsilon * tp) - target * (1 + epsilon * p))

    return loss, backward_probs


cross_entropy, cross_entropy_grad, cross_entropy_vjp = kernels_from(
    cross_entropy_forward, "cross_entropy"
)
nll_loss, nll_loss_grad, nll_loss_vjp = kernels_from(nll_loss_forward, "nll_loss")
poly1_cross_entropy, poly1_cross_entropy_grad, poly1_cross_entropy_vjp = kernels_from(
    poly1_forward, "poly1_cross_entropy"
)

VALUES = {
    "cross_entropy": cross_entropy,
    "nll_loss": nll_loss,
    "poly1_cross_entropy": poly1_cross_entropy,
}

#: The gradient table of the softmax losses: loss name -> argument -> VJP.
GRADS: dict[str, dict[str, Callable[..., Any]]] = {
    "cross_entropy": {"logits": cross_entropy_grad},
    "nll_loss": {"input": nll_loss_grad},
    "poly1_cross_entropy": {"logits": poly1_cross_entropy_grad},
}

#: Fused value-and-gradient kernels sharing ``exp(x - max)`` and its sum.
VJPS = {
    "cross_entropy": cross_entropy_vjp,
    "nll_loss": nll_loss_vjp,
    "poly1_cross_entropy": poly1_cross_entropy_vjp,
}
