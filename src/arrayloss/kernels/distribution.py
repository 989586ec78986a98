"""Distribution kernels: KL and Jensen-Shannon divergences and the cosine distance.

``kl_div`` is element-wise (PyTorch's pointwise ``target * (log target - input)``);
``js_div`` and ``cosine_similarity_loss`` reduce over ``axis`` (a non-negative position
in the broadcast shape of their two arguments) and return one value per vector.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._math import norm_scale

__all__ = ["GRADS", "VALUES"]


def _masked(xp: ModuleType, cot: Any, g: Any) -> Any:
    """``cot * g``, and exactly 0 where ``cot`` is 0 (masked vectors, even with NaN in g)."""
    return xp.where(cot == 0, xp.zeros_like(g), cot * g)


def _log_or(xp: ModuleType, x: Any, at_zero: float) -> Any:
    """``log(x)`` for ``x > 0``, ``at_zero`` at 0, NaN below 0, with no log of ``x <= 0``."""
    positive = x > 0
    log_x = xp.log(xp.where(positive, x, xp.ones_like(x)))
    below = xp.where(x == 0, xp.full_like(x, at_zero), xp.full_like(x, math.nan))
    return xp.where(positive, log_x, below)


# -------------------------------------------------------------------- kl_div


def kl_div(xp: ModuleType, input: Any, target: Any, *, log_target: bool) -> Any:
    if log_target:
        return xp.exp(target) * (target - input)
    # xlogy(t, t) - t * input: a zero target contributes 0, a negative one NaN (PyTorch)
    return target * _log_or(xp, target, 0.0) - target * input


def kl_div_input_grad(
    xp: ModuleType, cot: Any, input: Any, target: Any, *, log_target: bool
) -> Any:
    return -cot * (xp.exp(target) if log_target else target)


def kl_div_target_grad(
    xp: ModuleType, cot: Any, input: Any, target: Any, *, log_target: bool
) -> Any:
    if log_target:
        return cot * xp.exp(target) * (target - input + 1)
    # log t + 1 - input; at t = 0 the log term is dropped, as PyTorch's xlogy gradient
    # does (PyTorch's t / t there makes its own result NaN).
    return cot * (_log_or(xp, target, 0.0) + 1 - input)


# -------------------------------------------------------------------- js_div


def _normalised(xp: ModuleType, x: Any, axis: int) -> tuple[Any, Any]:
    """``x / sum(x, axis)`` (NaN for an all-zero vector) and that sum."""
    total = xp.sum(x, axis=axis, keepdims=True)
    empty = total == 0
    safe = xp.where(empty, xp.ones_like(total), total)
    return xp.where(empty, xp.full_like(x, math.nan), x / safe), safe


def _rel_entr(xp: ModuleType, x: Any, m: Any) -> Any:
    """``scipy.special.rel_entr(x, m)``: ``x log(x/m)``, 0 at ``x = 0``; NaN if negative."""
    positive = (x > 0) & (m > 0)
    one = xp.ones_like(x)
    value = x * xp.log(xp.where(positive, x, one) / xp.where(positive, m, one))
    zero = (x == 0) & (m >= 0)
    return xp.where(positive, value, xp.where(zero, xp.zeros_like(x), xp.full_like(x, math.nan)))


def _js_terms(xp: ModuleType, pred: Any, target: Any, axis: int) -> tuple[Any, ...]:
    p, q = xp.broadcast_arrays(pred, target)
    p_unit, p_total = _normalised(xp, p, axis)
    q_unit, q_total = _normalised(xp, q, axis)
    return p_unit, p_total, q_unit, q_total, (p_unit + q_unit) / 2


def js_div(xp: ModuleType, pred: Any, target: Any, *, axis: int) -> Any:
    p, _, q, _, m = _js_terms(xp, pred, target, axis)
    return 0.5 * (xp.sum(_rel_entr(xp, p, m), axis=axis) + xp.sum(_rel_entr(xp, q, m), axis=axis))


def _js_grad(xp: ModuleType, cot: Any, unit: Any, total: Any, m: Any, axis: int) -> Any:
    # d JS / d P = log(P / M) / 2 (the +1 terms cancel); where P = 0 that is -inf, and we
    # drop the log term (0) to stay finite. The chain rule through P = p / sum(p)
    # projects: d/dp = (g - sum(g P)) / sum(p).
    positive = (unit > 0) & (m > 0)
    one = xp.ones_like(unit)
    ratio = xp.where(positive, unit, one) / xp.where(positive, m, one)
    dropped = xp.where(unit == 0, xp.zeros_like(unit), xp.full_like(unit, math.nan))
    g = 0.5 * xp.where(positive, xp.log(ratio), dropped)
    g = (g - xp.sum(g * unit, axis=axis, keepdims=True)) / total
    return _masked(xp, xp.expand_dims(cot, axis=axis), g)


def js_div_pred_grad(xp: ModuleType, cot: Any, pred: Any, target: Any, *, axis: int) -> Any:
    p, p_total, _, _, m = _js_terms(xp, pred, target, axis)
    return _js_grad(xp, cot, p, p_total, m, axis)


def js_div_target_grad(xp: ModuleType, cot: Any, pred: Any, target: Any, *, axis: int) -> Any:
    _, _, q, q_total, m = _js_terms(xp, pred, target, axis)
    return _js_grad(xp, cot, q, q_total, m, axis)


# ---------------------------------------------------- cosine_similarity_loss


def _cosine_terms(xp: ModuleType, pred: Any, target: Any, axis: int, eps: float) -> tuple[Any, ...]:
    # optax's placement: eps floors the *squared* norm, sqrt(max(|a|^2, eps)). Huge
    # vectors are scaled by a power of two first (exact; cos is scale-invariant), so
    # their squared norms cannot overflow.
    a, b = xp.broadcast_arrays(pred, target)
    a_scale, b_scale = norm_scale(xp, a, axis), norm_scale(xp, b, axis)
    a, b = a / a_scale, b / b_scale
    a2 = xp.sum(a * a, axis=axis, keepdims=True)
    b2 = xp.sum(b * b, axis=axis, keepdims=True)
    a_norm = xp.sqrt(xp.clip(a2, min=eps))
    b_norm = xp.sqrt(xp.clip(b2, min=eps))
    cos = xp.sum(a * b, axis=axis, keepdims=True) / (a_norm * b_norm)
    return a, b, a2, b2, a_norm, b_norm, cos, a_scale, b_scale


def cosine_similarity_loss(xp: ModuleType, pred: Any, target: Any, *, axis: int, eps: float) -> Any:
    cos = _cosine_terms(xp, pred, target, axis, eps)[6]
    return 1 - xp.squeeze(cos, axis=axis)


def _cosine_grad(
    xp: ModuleType,
    cot: Any,
    a: Any,
    b: Any,
    a2: Any,
    a_norm: Any,
    b_norm: Any,
    cos: Any,
    scale: Any,
    eps: float,
    axis: int,
) -> Any:
    # -d cos / d a = cos a / |a|^2 - b / (|a| |b|); under the floor |a| is the constant
    # sqrt(eps) and only the second term remains (finite at a zero vector).
    radial = xp.where(a2 > eps, cos / (a_norm * a_norm), xp.zeros_like(cos))
    g = (radial * a - b / (a_norm * b_norm)) / scale
    return _masked(xp, xp.expand_dims(cot, axis=axis), g)


def cosine_similarity_loss_pred_grad(
    xp: ModuleType, cot: Any, pred: Any, target: Any, *, axis: int, eps: float
) -> Any:
    a, b, a2, _, a_norm, b_norm, cos, a_scale, _ = _cosine_terms(xp, pred, target, axis, eps)
    return _cosine_grad(xp, cot, a, b, a2, a_norm, b_norm, cos, a_scale, eps, axis)


def cosine_similarity_loss_target_grad(
    xp: ModuleType, cot: Any, pred: Any, target: Any, *, axis: int, eps: float
) -> Any:
    a, b, _, b2, a_norm, b_norm, cos, _, b_scale = _cosine_terms(xp, pred, target, axis, eps)
    return _cosine_grad(xp, cot, b, a, b2, b_norm, a_norm, cos, b_scale, eps, axis)


VALUES: dict[str, Callable[..., Any]] = {
    "kl_div": kl_div,
    "js_div": js_div,
    "cosine_similarity_loss": cosine_similarity_loss,
}

#: The gradient table of every distribution loss: loss name -> argument -> VJP.
GRADS: dict[str, dict[str, Callable[..., Any]]] = {
    "kl_div": {"input": kl_div_input_grad, "target": kl_div_target_grad},
    "js_div": {"pred": js_div_pred_grad, "target": js_div_target_grad},
    "cosine_similarity_loss": {
        "pred": cosine_similarity_loss_pred_grad,
        "target": cosine_similarity_loss_target_grad,
    },
}
