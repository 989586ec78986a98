"""Regression kernels: element-wise losses of ``pred`` and ``target`` and their VJPs.

Every value kernel is ``f(xp, pred, target, ..., **options) -> l`` with ``l`` the
unreduced (broadcast) loss; every gradient is ``g(xp, cot, pred, target, ..., **options)``
with ``cot`` the cotangent of ``l``. Notation: ``d = pred - target``. Subgradients at
kinks follow PyTorch (``sign(0) = 0``) unless the docstring of the loss says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._math import softplus, xlogy

__all__ = ["GRADS", "VALUES", "VJPS"]

# sklearn's mean_absolute_percentage_error floors |target| at float64's epsilon.
MAPE_EPSILON = 2.220446049250313e-16
# Keras's MeanSquaredLogarithmicError clips predictions and targets at this epsilon.
MSLE_EPSILON = 1e-7
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _negated(grad: Callable[..., Any]) -> Callable[..., Any]:
    """The target gradient of a loss of ``d = pred - target``: minus the pred gradient."""

    def target_grad(xp: ModuleType, cot: Any, *arrays: Any, **options: Any) -> Any:
        return -grad(xp, cot, *arrays, **options)

    return target_grad


# ---------------------------------------------------------------- mse / rmse


def mse(xp: ModuleType, pred: Any, target: Any) -> Any:
    d = pred - target
    return d * d


def mse_grad(xp: ModuleType, cot: Any, pred: Any, target: Any) -> Any:
    return 2 * cot * (pred - target)


def mse_vjp(xp: ModuleType, pred: Any, target: Any, *, wrt: tuple[str, ...]) -> Any:
    d = pred - target

    def pullback(cot: Any) -> tuple[Any, ...]:
        g = 2 * cot * d
        return tuple(g if name == "pred" else -g for name in wrt)

    return d * d, pullback


def sqrt_value(xp: ModuleType, r: Any) -> Any:
    return xp.sqrt(r)


def sqrt_derivative(xp: ModuleType, r: Any) -> Any:
    """d sqrt(r)/dr, with 0 at r = 0 (the subgradient PyTorch gives |d| at d = 0)."""
    positive = r > 0
    safe = xp.where(positive, r, xp.ones_like(r))
    return xp.where(positive, 0.5 / xp.sqrt(safe), xp.zeros_like(r))


# ------------------------------------------------------------------ mae / l1


def mae(xp: ModuleType, pred: Any, target: Any) -> Any:
    return xp.abs(pred - target)


def mae_grad(xp: ModuleType, cot: Any, pred: Any, target: Any) -> Any:
    return cot * xp.sign(pred - target)


# ----------------------------------------------------------------- huber


def huber(xp: ModuleType, pred: Any, target: Any, *, delta: float) -> Any:
    z = xp.abs(pred - target)
    return xp.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))


def huber_grad(xp: ModuleType, cot: Any, pred: Any, target: Any, *, delta: float) -> Any:
    return cot * xp.clip(pred - target, -delta, delta)


# ------------------------------------------------------------- smooth_l1


def smooth_l1(xp: ModuleType, pred: Any, target: Any, *, beta: float) -> Any:
    z = xp.abs(pred - target)
    if beta == 0:  # PyTorch: smooth_l1 with beta = 0 is l1
        return z
    return xp.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)


def smooth_l1_grad(xp: ModuleType, cot: Any, pred: Any, target: Any, *, beta: float) -> Any:
    d = pred - target
    if beta == 0:
        return cot * xp.sign(d)
    return cot * xp.clip(d / beta, -1.0, 1.0)


# --------------------------------------------------------------- log_cosh


def log_cosh(xp: ModuleType, pred: Any, target: Any) -> Any:
    # log(cosh(d)) = |d| + log1p(exp(-2|d|)) - log 2, finite for |d| up to the dtype's max
    z = xp.abs(pred - target)
    return z + softplus(xp, -2 * z) - math.log(2.0)


def log_cosh_grad(xp: ModuleType, cot: Any, pred: Any, target: Any) -> Any:
    return cot * xp.tanh(pred - target)


# ------------------------------------------------------------------- msle


def _clipped_log1p(xp: ModuleType, x: Any) -> Any:
    return xp.log1p(xp.maximum(x, xp.asarray(MSLE_EPSILON, dtype=x.dtype)))


def msle(xp: ModuleType, pred: Any, target: Any) -> Any:
    d = _clipped_log1p(xp, pred) - _clipped_log1p(xp, target)
    return d * d


def msle_grad(xp: ModuleType, cot: Any, pred: Any, target: Any) -> Any:
    d = _clipped_log1p(xp, pred) - _clipped_log1p(xp, target)
    kept = pred >= MSLE_EPSILON  # TensorFlow's maximum passes the gradient on ties
    slope = 2 * d / (1 + xp.where(kept, pred, xp.ones_like(pred)))
    return cot * xp.where(kept, slope, xp.zeros_like(slope))


def msle_target_grad(xp: ModuleType, cot: Any, pred: Any, target: Any) -> Any:
    return msle_grad(xp, cot, target, pred)


# ------------------------------------------------------------------- mape


def _mape_scale(xp: ModuleType, target: Any) -> Any:
    return xp.maximum(xp.abs(target), xp.asarray(MAPE_EPSILON, dtype=target.dtype))


def mape(xp: ModuleType, pred: Any, target: Any) -> Any:
    return xp.abs(pred - target) / _mape_scale(xp, target)


def mape_grad(xp: ModuleType, cot: Any, pred: Any, target: Any) -> Any:
    return cot * xp.sign(pred - target) / _mape_scale(xp, target)


# --------------------------------------------------------------- quantile


def quantile(xp: ModuleType, pred: Any, target: Any, *, q: float) -> Any:
    d = target - pred
    return xp.maximum(q * d, (q - 1) * d)


def quantile_grad(xp: ModuleType, cot: Any, pred: Any, target: Any, *, q: float) -> Any:
    # At d = 0 the midpoint of the subdifferential, 1/2 - q: 0 for the median (q = 1/2),
    # where pinball is |d|/2 and PyTorch's l1 subgradient is 0.
    d = target - pred
    below = xp.where(d < 0, xp.full_like(d, 1 - q), xp.full_like(d, 0.5 - q))
    slope = xp.where(d > 0, xp.full_like(d, -q), below)
    return cot * slope


# ------------------------------------------------------------ poisson_nll


def _stirling(xp: ModuleType, target: Any) -> Any:
    """PyTorch's Stirling term ``t log t - t + log(2 pi t)/2`` for ``t > 1`` (else 0)."""
    big = target > 1
    safe = xp.where(big, target, xp.ones_like(target))
    term = safe * xp.log(safe) - safe + 0.5 * xp.log(2 * math.pi * safe)
    return xp.where(big, term, xp.zeros_like(term))


def poisson_nll(
    xp: ModuleType, pred: Any, target: Any, *, log_input: bool, full: bool, eps: float
) -> Any:
    if log_input:
        loss = xp.exp(pred) - target * pred
    else:
        loss = pred - target * xp.log(pred + eps)
    if full:
        loss = loss + _stirling(xp, target)
    return loss


def poisson_nll_grad(
    xp: ModuleType, cot: Any, pred: Any, target: Any, *, log_input: bool, full: bool, eps: float
) -> Any:
    if log_input:
        return cot * (xp.exp(pred) - target)
    return cot * (1 - target / (pred + eps))


# ----------------------------------------------------------- gaussian_nll


def _clamped(xp: ModuleType, var: Any, eps: float) -> Any:
    # A negative variance is a ValueError on eager backends; under JAX and Dask, where
    # values cannot be checked, it gives NaN rather than a silently clamped number.
    v = xp.maximum(var, xp.asarray(eps, dtype=var.dtype))
    return xp.where(var < 0, xp.full_like(v, math.nan), v)


def gaussian_nll(
    xp: ModuleType, pred: Any, target: Any, var: Any, *, full: bool, eps: float
) -> Any:
    v = _clamped(xp, var, eps)
    d = pred - target
    loss = 0.5 * (xp.log(v) + d * d / v)
    if full:
        loss = loss + _HALF_LOG_2PI
    return loss


def gaussian_nll_pred_grad(
    xp: ModuleType, cot: Any, pred: Any, target: Any, var: Any, *, full: bool, eps: float
) -> Any:
    return cot * (pred - target) / _clamped(xp, var, eps)


def gaussian_nll_var_grad(
    xp: ModuleType, cot: Any, pred: Any, target: Any, var: Any, *, full: bool, eps: float
) -> Any:
    # PyTorch clamps var under no_grad: the derivative at the clamped value passes
    # through the clamp unchanged.
    v = _clamped(xp, var, eps)
    d = pred - target
    return cot * 0.5 * (1 / v - d * d / (v * v))


# ------------------------------------------------------- tweedie_deviance


def _tweedie_domain(xp: ModuleType, pred: Any, target: Any, power: float) -> Any:
    """Where (pred, target) lie in the domain of the deviance (scikit-learn's rules)."""
    if power == 0:
        return xp.ones_like(pred, dtype=xp.bool)
    ok = pred > 0
    if 1 <= power < 2:
        ok = ok & (target >= 0)
    elif power >= 2:
        ok = ok & (target > 0)
    return ok


def tweedie_deviance(xp: ModuleType, pred: Any, target: Any, *, power: float) -> Any:
    p = power
    if p == 0:
        d = target - pred
        return d * d
    # Outside the domain: NaN (a ValueError on eager backends, checked before the
    # kernel), computed from safe substitutes so that no warning or inf leaks out.
    ok = _tweedie_domain(xp, pred, target, p)
    pred = xp.where(ok, pred, xp.ones_like(pred))
    target = xp.where(ok, target, xp.ones_like(target))
    if p == 1:
        value = 2 * (xlogy(xp, target, target / pred) - target + pred)
    elif p == 2:
        value = 2 * (xp.log(pred / target) + target / pred - 1)
    else:
        kept = xp.maximum(target, xp.zeros_like(target)) if p < 0 else target
        value = 2 * (
            kept ** (2 - p) / ((1 - p) * (2 - p))
            - target * pred ** (1 - p) / (1 - p)
            + pred ** (2 - p) / (2 - p)
        )
    return xp.where(ok, value, xp.full_like(value, math.nan))


def tweedie_deviance_grad(xp: ModuleType, cot: Any, pred: Any, target: Any, *, power: float) -> Any:
    # d/dpred of every branch is 2 (pred - target) pred**(-power)
    if power == 0:
        return 2 * cot * (pred - target)
    ok = _tweedie_domain(xp, pred, target, power)
    safe = xp.where(ok, pred, xp.ones_like(pred))
    # (pred - target) / pred * pred**(1 - power): pred**(-power) alone underflows in
    # float32 for a large pred (1e30**-1.5) while the gradient is representable
    grad = 2 * cot * ((safe - target) / safe) * safe ** (1 - power)
    return xp.where(ok, grad, xp.full_like(grad, math.nan))


VALUES = {
    "mse": mse,
    "mae": mae,
    "huber": huber,
    "smooth_l1": smooth_l1,
    "log_cosh": log_cosh,
    "msle": msle,
    "mape": mape,
    "quantile": quantile,
    "poisson_nll": poisson_nll,
    "gaussian_nll": gaussian_nll,
    "tweedie_deviance": tweedie_deviance,
}

#: The gradient table of every regression loss: loss name -> argument -> VJP.
GRADS: dict[str, dict[str, Callable[..., Any]]] = {
    "mse": {"pred": mse_grad, "target": _negated(mse_grad)},
    "rmse": {"pred": mse_grad, "target": _negated(mse_grad)},
    "mae": {"pred": mae_grad, "target": _negated(mae_grad)},
    "huber": {"pred": huber_grad, "target": _negated(huber_grad)},
    "smooth_l1": {"pred": smooth_l1_grad, "target": _negated(smooth_l1_grad)},
    "log_cosh": {"pred": log_cosh_grad, "target": _negated(log_cosh_grad)},
    "msle": {"pred": msle_grad, "target": msle_target_grad},
    "mape": {"pred": mape_grad},
    "quantile": {"pred": quantile_grad, "target": _negated(quantile_grad)},
    "poisson_nll": {"pred": poisson_nll_grad},
    "gaussian_nll": {
        "pred": gaussian_nll_pred_grad,
        "target": _negated(gaussian_nll_pred_grad),
        "var": gaussian_nll_var_grad,
    },
    "tweedie_deviance": {"pred": tweedie_deviance_grad},
}

#: Fused value-and-gradient kernels, where value and gradient share work.
VJPS = {"mse": mse_vjp, "rmse": mse_vjp}
