"""Margin kernels: hinge losses, PyTorch's multi-class margin and soft-margin losses.

Notation: ``x`` a score (or logit), ``y`` a label. Element-wise kernels return the
broadcast loss; ``multi_margin`` and ``multilabel_soft_margin`` sum over the class
``axis`` (a non-negative position in the input) and return one loss per sample.
Subgradients at the kinks are those of PyTorch's backward: a hinge whose argument is
exactly 0 is inactive (gradient 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import array_api_compat

from .._math import sigmoid, softplus, zero_safe_mul

__all__ = ["GRADS", "VALUES"]


def _masked(xp: ModuleType, cot: Any, g: Any) -> Any:
    """``cot * g``, and exactly 0 where ``cot`` is 0 (masked samples, even with NaN in g)."""
    return xp.where(cot == 0, xp.zeros_like(g), cot * g)


# --------------------------------------------------------- hinge (Keras)


def keras_hinge_labels(xp: ModuleType, target: Any) -> Any:
    """Keras's ``convert_binary_labels_to_hinge``: if *every* label is 0 or 1, ``2y - 1``."""
    binary = xp.all((target == 0) | (target == 1))
    return xp.where(binary, 2 * target - 1, target)


def _hinge_margin(xp: ModuleType, pred: Any, target: Any) -> tuple[Any, Any]:
    y = keras_hinge_labels(xp, target)
    return 1 - y * pred, y


def hinge(xp: ModuleType, pred: Any, target: Any) -> Any:
    m, _ = _hinge_margin(xp, pred, target)
    return xp.clip(m, min=0.0)


def hinge_grad(xp: ModuleType, cot: Any, pred: Any, target: Any) -> Any:
    # -y where 1 - y pred > 0; 0 on the flat side and at the kink; NaN stays NaN.
    m, y = _hinge_margin(xp, pred, target)
    flat = xp.where(xp.isnan(m), m, xp.zeros_like(m))
    return cot * xp.where(m > 0, -y, flat)


def squared_hinge(xp: ModuleType, pred: Any, target: Any) -> Any:
    m, _ = _hinge_margin(xp, pred, target)
    h = xp.clip(m, min=0.0)
    return h * h


def squared_hinge_grad(xp: ModuleType, cot: Any, pred: Any, target: Any) -> Any:
    m, y = _hinge_margin(xp, pred, target)
    return -2 * cot * xp.clip(m, min=0.0) * y


# --------------------------------------------------------------- soft_margin


def soft_margin(xp: ModuleType, input: Any, target: Any) -> Any:
    # log(1 + exp(-y x)) as a softplus: PyTorch's log1p(exp(.)) overflows past 709.
    return softplus(xp, -target * input)


def soft_margin_grad(xp: ModuleType, cot: Any, input: Any, target: Any) -> Any:
    return -cot * target * sigmoid(xp, -target * input)


# -------------------------------------------------------------- multi_margin


def _class_positions(xp: ModuleType, input: Any, target: Any, axis: int) -> tuple[Any, Any]:
    """Boolean ``is_target`` (input's shape, broadcast) and the ``valid`` label mask."""
    n_classes = input.shape[axis]
    shape = [1] * input.ndim
    shape[axis] = n_classes
    classes = xp.reshape(xp.arange(n_classes, device=array_api_compat.device(input)), tuple(shape))
    is_target = classes == xp.expand_dims(target, axis=axis)
    valid = (target >= 0) & (target < n_classes)
    return is_target, valid


def _margin_terms(
    xp: ModuleType, input: Any, target: Any, margin: float, axis: int
) -> tuple[Any, Any, Any, Any]:
    is_target, valid = _class_positions(xp, input, target, axis)
    zero = xp.zeros_like(input)
    x_y = xp.sum(xp.where(is_target, input, zero), axis=axis, keepdims=True)
    z = margin - x_y + input
    # PyTorch: z == 0 contributes nothing, gradient 0. A NaN z is kept (PyTorch drops
    # it, a finite loss from a NaN input): NaN in, NaN out.
    active = ((z > 0) | xp.isnan(z)) & ~is_target
    return z, active, is_target, valid


def _target_weight(xp: ModuleType, weight: Any, is_target: Any, axis: int) -> Any:
    """``weight[y]`` per sample (``weight`` already shaped to broadcast along ``axis``)."""
    picked = xp.where(is_target, weight, xp.zeros_like(weight))
    return xp.sum(picked, axis=axis)


def multi_margin(
    xp: ModuleType,
    input: Any,
    target: Any,
    *,
    p: int,
    margin: float,
    axis: int,
    weight: Any = None,
) -> Any:
    z, active, is_target, valid = _margin_terms(xp, input, target, margin, axis)
    h = z if p == 1 else z * z
    loss = xp.sum(xp.where(active, h, xp.zeros_like(h)), axis=axis) / input.shape[axis]
    if weight is not None:
        loss = loss * _target_weight(xp, weight, is_target, axis)
    return xp.where(valid, loss, xp.full_like(loss, math.nan))


def multi_margin_grad(
    xp: ModuleType,
    cot: Any,
    input: Any,
    target: Any,
    *,
    p: int,
    margin: float,
    axis: int,
    weight: Any = None,
) -> Any:
    # PyTorch's backward: each active class d gets w[y] h'(z_d) / C, the target class
    # minus their sum; ties (z_d == 0) are inactive.
    z, active, is_target, valid = _margin_terms(xp, input, target, margin, axis)
    scale = cot / input.shape[axis]
    if weight is not None:
        scale = scale * _target_weight(xp, weight, is_target, axis)
    scale = xp.where(valid, scale, xp.full_like(scale, math.nan))
    slope = xp.ones_like(z) if p == 1 else 2 * z
    g = xp.where(active, slope, xp.zeros_like(slope))
    g = xp.where(is_target, -xp.sum(g, axis=axis, keepdims=True), g)
    return _masked(xp, xp.expand_dims(scale, axis=axis), g)


# ---------------------------------------------------- multilabel_soft_margin


def multilabel_soft_margin(
    xp: ModuleType, logits: Any, target: Any, *, axis: int, weight: Any = None
) -> Any:
    x, y = xp.broadcast_arrays(logits, target)
    # a term whose weight is 0 is 0 even where it is infinite (a -inf logit, target 0)
    loss = zero_safe_mul(xp, 1 - y, softplus(xp, x)) + zero_safe_mul(xp, y, softplus(xp, -x))
    if weight is not None:
        loss = loss * weight
    return xp.sum(loss, axis=axis) / x.shape[axis]


def _multilabel_scale(xp: ModuleType, cot: Any, x: Any, axis: int, weight: Any) -> Any:
    scale = xp.expand_dims(cot / x.shape[axis], axis=axis)
    return scale if weight is None else scale * weight


def multilabel_soft_margin_logits_grad(
    xp: ModuleType, cot: Any, logits: Any, target: Any, *, axis: int, weight: Any = None
) -> Any:
    x, y = xp.broadcast_arrays(logits, target)
    g = (1 - y) * sigmoid(xp, x) - y * sigmoid(xp, -x)
    return _masked(xp, _multilabel_scale(xp, cot, x, axis, weight), g)


def multilabel_soft_margin_target_grad(
    xp: ModuleType, cot: Any, logits: Any, target: Any, *, axis: int, weight: Any = None
) -> Any:
    # PyTorch's log_sigmoid(-x) - log_sigmoid(x), which is -x
    x, _ = xp.broadcast_arrays(logits, target)
    return _masked(xp, _multilabel_scale(xp, cot, x, axis, weight), -x)


VALUES: dict[str, Callable[..., Any]] = {
    "hinge": hinge,
    "squared_hinge": squared_hinge,
    "soft_margin": soft_margin,
    "multi_margin": multi_margin,
    "multilabel_soft_margin": multilabel_soft_margin,
}

#: The gradient table of every margin loss: loss name -> argument -> VJP.
GRADS: dict[str, dict[str, Callable[..., Any]]] = {
    "hinge": {"pred": hinge_grad},
    "squared_hinge": {"pred": squared_hinge_grad},
    "soft_margin": {"input": soft_margin_grad},
    "multi_margin": {"input": multi_margin_grad},
    "multilabel_soft_margin": {
        "logits": multilabel_soft_margin_logits_grad,
        "target": multilabel_soft_margin_target_grad,
    },
}
