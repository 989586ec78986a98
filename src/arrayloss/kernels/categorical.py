"""Keras's categorical cross-entropies: probabilities (renormalised and clipped) or logits.

With ``from_logits=False`` the prediction ``P`` is a probability vector along ``axis``;
Keras 3 renormalises it, ``q = P / sum_c P_c``, clips it, ``r = clip(q, eps, 1 - eps)``
with ``eps = 1e-7``, and takes ``l = -sum_c t_c log r_c``. The gradient follows the clip
(zero where ``q`` is clipped) and the renormalisation:

    dl/dP_j = (u_j - sum_c u_c q_c) / S,   u_c = -t_c / r_c  where eps <= q_c <= 1 - eps,
                                           u_c = 0           elsewhere,

with ``S = sum_c P_c``. With ``from_logits=True`` the loss is the log-sum-exp path of
:mod:`.softmax` (no class weights, temperature 1). Notation as in :mod:`.softmax`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from .softmax import (
    class_hit,
    cross_entropy_forward,
    index_target,
    kernels_from,
    mask_cotangent,
    mask_loss,
    pick,
)

__all__ = ["GRADS", "KERAS_EPSILON", "VALUES", "VJPS"]

#: ``keras.backend.epsilon()``: the clip applied to probabilities.
KERAS_EPSILON = 1e-7


def _inside(q: Any) -> Any:
    return (q >= KERAS_EPSILON) & (q <= 1 - KERAS_EPSILON)


def categorical_forward(
    xp: ModuleType,
    pred: Any,
    target: Any,
    *,
    axis: int,
    sparse: bool,
    from_logits: bool,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
) -> tuple[Any, Callable[[Any], Any]]:
    """``keras.losses.(sparse_)categorical_crossentropy`` before the reduction."""
    if from_logits:
        return cross_entropy_forward(
            xp,
            pred,
            target,
            axis=axis,
            sparse=sparse,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
        )
    s = xp.sum(pred, axis=axis, keepdims=True)
    q = pred / s
    r = xp.clip(q, KERAS_EPSILON, 1 - KERAS_EPSILON)
    if sparse:
        tgt = index_target(xp, target, pred.shape[axis], ignore_index)
        q_y = pick(xp, q, tgt.safe, axis)
        r_y = pick(xp, r, tgt.safe, axis)
        loss = mask_loss(xp, -xp.log(r_y), tgt)

        def backward_index(cot: Any) -> Any:
            a = mask_cotangent(xp, cot, tgt)
            u = xp.where(_inside(q_y), -a / r_y, xp.zeros_like(a)) / xp.squeeze(s, axis=axis)
            off = xp.expand_dims(-u * q_y, axis=axis)
            on = xp.expand_dims(u - u * q_y, axis=axis)
            return xp.where(class_hit(xp, tgt.safe, axis, pred), on, off)

        return loss, backward_index

    n = pred.shape[axis]
    t = target if not label_smoothing else (1 - label_smoothing) * target + label_smoothing / n
    loss = -xp.sum(t * xp.log(r), axis=axis)

    def backward_probs(cot: Any) -> Any:
        u = xp.where(_inside(q), -t / r, xp.zeros_like(r)) * xp.expand_dims(cot, axis=axis)
        return (u - xp.sum(u * q, axis=axis, keepdims=True)) / s

    return loss, backward_probs


categorical_cross_entropy, categorical_cross_entropy_grad, categorical_cross_entropy_vjp = (
    kernels_from(categorical_forward, "categorical_cross_entropy")
)

VALUES = {
    "categorical_cross_entropy": categorical_cross_entropy,
    "sparse_categorical_cross_entropy": categorical_cross_entropy,
}

#: The gradient table of the Keras categorical losses: loss name -> argument -> VJP.
GRADS: dict[str, dict[str, Callable[..., Any]]] = {
    "categorical_cross_entropy": {"pred": categorical_cross_entropy_grad},
    "sparse_categorical_cross_entropy": {"pred": categorical_cross_entropy_grad},
}

#: Fused value-and-gradient kernels (the clip mask and ``q`` are shared).
VJPS = {
    "categorical_cross_entropy": categorical_cross_entropy_vjp,
    "sparse_categorical_cross_entropy": categorical_cross_entropy_vjp,
}
