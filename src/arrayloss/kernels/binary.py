"""Binary-classification kernels: element-wise losses of a probability or a logit.

Notation: ``p`` a probability, ``x`` a logit, ``y`` the target (a probability, usually 0
or 1), ``sp`` softplus. Every value kernel returns the unreduced (broadcast) loss; every
gradient ``g(xp, cot, ...)`` is the VJP with ``cot`` the cotangent of that loss.

Logit losses are written with ``softplus`` on both sides, ``(1 - y) sp(x) + y sp(-x)``,
so no term cancels against another: they stay exact at +-1000 logits, where PyTorch's
``(1 - y) x - log_sigmoid(x)`` loses all digits for ``y = 0, x << 0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._math import log_add_exp, log_sigmoid, sigmoid, softplus, zero_safe_mul

__all__ = ["GRADS", "VALUES"]

# PyTorch's binary_cross_entropy clamps each log at -100 ...
LOG_FLOOR = -100.0
# ... and its backward divides by max((1 - p) p, eps) with eps the float32 1e-12
# (ATen's `const float EPSILON = 1e-12`), in float64 too.
BCE_EPSILON = 9.999999960041972e-13


def _nan_where(xp: ModuleType, bad: Any, x: Any) -> Any:
    return xp.where(bad, xp.full_like(x, math.nan), x)


def _outside_unit(xp: ModuleType, x: Any) -> Any:
    """True where ``x`` is outside [0, 1] (NaN is not: NaN flows through as NaN)."""
    return (x < 0) | (x > 1)


# ------------------------------------------------------- binary_cross_entropy


def _clamped_logs(xp: ModuleType, p: Any) -> tuple[Any, Any, Any]:
    """``max(log p, -100)``, ``max(log1p(-p), -100)`` and the out-of-range mask.

    ``log(0)`` is never evaluated (NumPy would warn, autodiff would see ``-inf``).
    """
    bad = _outside_unit(xp, p)
    half = xp.full_like(p, 0.5)
    at_zero = p == 0
    at_one = p == 1
    floor = xp.full_like(p, LOG_FLOOR)
    log_p = xp.clip(xp.log(xp.where(at_zero | bad, half, p)), min=LOG_FLOOR)
    log_q = xp.clip(xp.log1p(-xp.where(at_one | bad, half, p)), min=LOG_FLOOR)
    return xp.where(at_zero, floor, log_p), xp.where(at_one, floor, log_q), bad


def binary_cross_entropy(xp: ModuleType, pred: Any, target: Any) -> Any:
    log_p, log_q, bad = _clamped_logs(xp, pred)
    loss = (target - 1) * log_q - target * log_p
    return _nan_where(xp, bad | _outside_unit(xp, target), loss)


def binary_cross_entropy_pred_grad(xp: ModuleType, cot: Any, pred: Any, target: Any) -> Any:
    # PyTorch's backward, exactly: (p - y) / max((1 - p) p, eps), finite at p in {0, 1}.
    bad = _outside_unit(xp, pred) | _outside_unit(xp, target)
    g = (pred - target) / xp.clip((1 - pred) * pred, min=BCE_EPSILON)
    return cot * _nan_where(xp, bad, g)


def binary_cross_entropy_target_grad(xp: ModuleType, cot: Any, pred: Any, target: Any) -> Any:
    # PyTorch's -logit(p) inside (0, 1); at p in {0, 1}, where PyTorch gives -+inf, the
    # derivative of the clamped value, log1p(-p) - log(p) = +-100.
    log_p, log_q, bad = _clamped_logs(xp, pred)
    edge = (pred == 0) | (pred == 1) | bad
    inner = xp.where(edge, xp.full_like(pred, 0.5), pred)
    g = xp.where(edge, log_q - log_p, -xp.log(inner / (1 - inner)))
    return cot * _nan_where(xp, bad | _outside_unit(xp, target), g)


# ------------------------------------------- binary_cross_entropy_with_logits


def binary_cross_entropy_with_logits(
    xp: ModuleType, logits: Any, target: Any, pos_weight: Any = None
) -> Any:
    positive = softplus(xp, -logits)
    if pos_weight is not None:
        positive = pos_weight * positive
    # a term whose weight is 0 is 0 even where it is infinite (a -inf logit, target 0)
    return zero_safe_mul(xp, 1 - target, softplus(xp, logits)) + zero_safe_mul(xp, target, positive)


def binary_cross_entropy_with_logits_grad(
    xp: ModuleType, cot: Any, logits: Any, target: Any, pos_weight: Any = None
) -> Any:
    # (1 - y) sigmoid(x) - pw y sigmoid(-x): PyTorch's (pw y + 1 - y) sigmoid(x) - pw y
    # without its cancellation at y = 1, x >> 0.
    positive = target * sigmoid(xp, -logits)
    if pos_weight is not None:
        positive = pos_weight * positive
    return cot * ((1 - target) * sigmoid(xp, logits) - positive)


def binary_cross_entropy_with_logits_target_grad(
    xp: ModuleType, cot: Any, logits: Any, target: Any, pos_weight: Any = None
) -> Any:
    # PyTorch: -x, or log_sigmoid(-x) - pw log_sigmoid(x) with pos_weight.
    if pos_weight is None:
        return -cot * logits
    return cot * (pos_weight * softplus(xp, -logits) - softplus(xp, logits))


# --------------------------------------------------------- sigmoid_focal_loss


def _focal_terms(xp: ModuleType, logits: Any, target: Any, alpha: float) -> tuple[Any, ...]:
    """``log sigmoid(x)``, ``log sigmoid(-x)``, ``log(1 - p_t)``, ``ce`` and ``alpha_t``.

    ``1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x)`` is kept as a logarithm (a log-sum-exp
    of the two log-sigmoids), so ``(1 - p_t)**gamma`` and its derivative are
    exponentials of finite numbers even where ``1 - p_t`` underflows.
    """
    bad = _outside_unit(xp, target)
    # out-of-range targets (NaN in the end) computed at 1/2 so no step overflows
    target = xp.where(bad, xp.full_like(target, 0.5), target)
    log_p = log_sigmoid(xp, logits)
    log_not_p = log_sigmoid(xp, -logits)
    minus_inf = xp.full_like(target, -math.inf)
    has_pos = target > 0
    has_neg = target < 1
    log_y = xp.where(has_pos, xp.log(xp.where(has_pos, target, xp.ones_like(target))), minus_inf)
    log_not_y = xp.where(
        has_neg, xp.log1p(-xp.where(has_neg, target, xp.zeros_like(target))), minus_inf
    )
    log_not_pt = log_add_exp(xp, log_y + log_not_p, log_not_y + log_p)
    # a term whose weight is 0 is 0 even where it is infinite (a -inf logit, target 0)
    ce = -zero_safe_mul(xp, 1 - target, log_not_p) - zero_safe_mul(xp, target, log_p)
    alpha_t = None if alpha < 0 else alpha * target + (1 - alpha) * (1 - target)
    return log_p, log_not_p, log_not_pt, ce, alpha_t, bad


def sigmoid_focal_loss(
    xp: ModuleType, logits: Any, target: Any, *, alpha: float, gamma: float
) -> Any:
    _, _, log_not_pt, ce, alpha_t, bad = _focal_terms(xp, logits, target, alpha)
    loss = ce if gamma == 0 else ce * xp.exp(gamma * log_not_pt)
    if alpha_t is not None:
        loss = alpha_t * loss
    return _nan_where(xp, bad, loss)


def sigmoid_focal_loss_grad(
    xp: ModuleType, cot: Any, logits: Any, target: Any, *, alpha: float, gamma: float
) -> Any:
    # d/dx [ce (1-p_t)^g] = (sigmoid(x) - y) (1-p_t)^g + g (1 - 2y) ce (1-p_t)^(g-1) p (1-p)
    # and (1-p_t)^(g-1) p (1-p) = exp((g-1) log(1-p_t) + log p + log(1-p)): finite for
    # 0 < g < 1 at p_t -> 1, where the power alone is infinite and the product 0 * inf.
    log_p, log_not_p, log_not_pt, ce, alpha_t, bad = _focal_terms(xp, logits, target, alpha)
    d_ce = (1 - target) * sigmoid(xp, logits) - target * sigmoid(xp, -logits)
    if gamma == 0:
        g = d_ce
    else:
        modulation = xp.exp(gamma * log_not_pt)
        # p_t = 1 exactly (an infinite logit on the right side): the limit is 0, where
        # (gamma - 1) * (-inf) + (-inf) would be NaN for gamma < 1
        certain = log_not_pt == -math.inf
        safe_log_not_pt = xp.where(certain, xp.zeros_like(log_not_pt), log_not_pt)
        d_modulation = xp.where(
            certain,
            xp.zeros_like(log_not_pt),
            gamma * (1 - 2 * target) * xp.exp((gamma - 1) * safe_log_not_pt + log_p + log_not_p),
        )
        g = d_ce * modulation + ce * d_modulation
    if alpha_t is not None:
        g = alpha_t * g
    return cot * _nan_where(xp, bad, g)


VALUES: dict[str, Callable[..., Any]] = {
    "binary_cross_entropy": binary_cross_entropy,
    "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits,
    "sigmoid_focal_loss": sigmoid_focal_loss,
}

#: The gradient table of every binary loss: loss name -> argument -> VJP.
GRADS: dict[str, dict[str, Callable[..., Any]]] = {
    "binary_cross_entropy": {
        "pred": binary_cross_entropy_pred_grad,
        "target": binary_cross_entropy_target_grad,
    },
    "binary_cross_entropy_with_logits": {
        "logits": binary_cross_entropy_with_logits_grad,
        "target": binary_cross_entropy_with_logits_target_grad,
    },
    "sigmoid_focal_loss": {"logits": sigmoid_focal_loss_grad},
}
