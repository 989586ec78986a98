"""Multi-class (softmax) focal loss in log space.

Per class, with ``l = log p`` from the log-softmax and ``q = 1 - p``:

    f(l)  = -q**gamma * l
    f'(l) = q**gamma * (gamma * p * l / q - 1)

``l / q`` tends to -1 as ``p -> 1`` and is replaced by that limit where ``q`` is 0, so the
value and gradient stay finite for ``0 < gamma < 1`` at ``p = 1`` (where the naive
``(1 - p)**(gamma - 1)`` is infinite) and at logits of +-100. The chain rule through the
log-softmax gives ``dL/dx_j = k_j - p_j sum_c k_c`` with ``k_c = alpha_c t_c f'(l_c)``
(index targets: ``k_y (onehot_y - p)``). Notation as in :mod:`.softmax`.

For class-index targets ``q_y`` is the sum of the other classes' ``exp(x_c - max)``
over their total and ``log p_y = -log1p(q_y / p_y)`` where ``p_y >= 1/2``, so both keep
full relative precision as ``p_y -> 1`` (``1 - p_y`` of 1e-87 at logits of +-100); with
probability targets ``q_c = -expm1(log p_c)``, exact to the rounding of ``log p_c``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from .softmax import (
    along,
    class_hit,
    gather,
    index_target,
    kernels_from,
    mask_cotangent,
    mask_loss,
    pick,
    softmax_parts,
)

__all__ = ["GRADS", "VALUES", "VJPS"]


def focal_terms(xp: ModuleType, logp: Any, q: Any, gamma: float) -> tuple[Any, Any]:
    """``f(l)`` and ``f'(l)`` above from ``l = log p`` and ``q = 1 - p``, finite wherever
    ``l`` is (and at ``q = 0``)."""
    positive = q > 0
    safe_q = xp.where(positive, q, xp.ones_like(q))
    if gamma == 0:
        modulation = xp.ones_like(q)
    else:
        modulation = xp.where(positive, xp.exp(gamma * xp.log(safe_q)), xp.zeros_like(q))
    ratio = xp.where(positive, logp / safe_q, -xp.ones_like(q))
    p = xp.exp(logp)
    # p * ratio -> 0 as p -> 0 (logp -> -inf), where the product itself is 0 * inf
    p_ratio = xp.where(p > 0, p * ratio, xp.zeros_like(p))
    return -modulation * logp, modulation * (gamma * p_ratio - 1)


def softmax_focal_forward(
    xp: ModuleType,
    logits: Any,
    target: Any,
    *,
    axis: int,
    sparse: bool,
    gamma: float,
    alpha: Any = None,
    ignore_index: int | None = None,
) -> tuple[Any, Callable[[Any], Any]]:
    """``L = sum_c alpha_c t_c f(log p_c)`` (index targets: ``alpha_y f(log p_y)``)."""
    sm = softmax_parts(xp, logits, axis)
    per_class = alpha is not None and hasattr(alpha, "shape")
    if sparse:
        tgt = index_target(xp, target, logits.shape[axis], ignore_index)
        hit = class_hit(xp, tgt.safe, axis, logits)
        s = xp.squeeze(sm.s, axis=axis)
        e_y = pick(xp, sm.e, tgt.safe, axis)
        rest = xp.sum(xp.where(hit, xp.zeros_like(sm.e), sm.e), axis=axis)
        q_y = rest / s
        likely = e_y >= rest  # p_y >= 1/2: log p_y = -log1p(rest / e_y) keeps its digits
        safe_e = xp.where(likely, e_y, xp.ones_like(e_y))
        direct = pick(xp, sm.x, tgt.safe, axis) - xp.squeeze(sm.lse, axis=axis)
        logp_y = xp.where(likely, -xp.log1p(rest / safe_e), direct)
        value, slope = focal_terms(xp, logp_y, q_y, gamma)
        a_y: Any = 1.0 if alpha is None else alpha
        if per_class:
            a_y = gather(xp, alpha, tgt.safe)
        loss = mask_loss(xp, a_y * value, tgt)

        def backward_index(cot: Any) -> Any:
            k = mask_cotangent(xp, cot, tgt) * a_y * slope
            on = xp.expand_dims(k * q_y, axis=axis)  # k (1 - p_y), without cancellation
            return xp.where(hit, on, -sm.e * xp.expand_dims(k / s, axis=axis))

        return loss, backward_index

    ta = target
    if alpha is not None:
        ta = target * (along(xp, alpha, axis, logits.ndim) if per_class else alpha)
    zero = ta == 0
    logp = sm.x - sm.lse
    # a class without mass adds 0 even at a -inf logit; -1 is any finite stand-in
    logp = xp.where(zero, -xp.ones_like(logp), logp)
    value, slope = focal_terms(xp, logp, -xp.expm1(logp), gamma)
    loss = xp.sum(ta * value, axis=axis)

    def backward_probs(cot: Any) -> Any:
        k = ta * slope * xp.expand_dims(cot, axis=axis)
        return k - (sm.e / sm.s) * xp.sum(k, axis=axis, keepdims=True)

    return loss, backward_probs


softmax_focal_loss, softmax_focal_loss_grad, softmax_focal_loss_vjp = kernels_from(
    softmax_focal_forward, "softmax_focal_loss"
)

VALUES = {"softmax_focal_loss": softmax_focal_loss}

#: The gradient table of the softmax focal loss: loss name -> argument -> VJP.
GRADS: dict[str, dict[str, Callable[..., Any]]] = {
    "softmax_focal_loss": {"logits": softmax_focal_loss_grad},
}

#: Fused value-and-gradient kernel sharing the log-softmax and the focal terms.
VJPS = {"softmax_focal_loss": softmax_focal_loss_vjp}
