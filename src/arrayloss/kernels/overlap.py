"""Overlap statistics of class-probability maps, and their pullback to the inputs.

Notation. ``pred`` has the batch on axis 0 and its ``C`` channels on ``axis``; every
other axis is spatial. ``p`` is the probability map (``pred`` itself, or its sigmoid /
softmax), ``t`` the dense target (the one-hot map of integer labels, or the given
one-hot / soft target) and ``m`` the keep mask (false where the target equals
``ignore_index``; such pixels leave both ``p`` and ``t``, as segmentation_models_pytorch
does). Per sample ``n`` and class ``c``, summing over the spatial positions ``x``:

.. math:: I_{nc} = \\sum_x m\\,p\\,t, \\qquad P_{nc} = \\sum_x m\\,p, \\qquad
          T_{nc} = \\sum_x m\\,t

A segmentation loss is a *score* of ``(I, P, T)`` (shape ``(N, C)``),
``f(xp, I, P, T, **opts)``, with its VJP ``f_vjp(xp, cot, I, P, T, **opts) -> (g_I, g_P,
g_T)``; :func:`overlap_loss` turns the pair into a value kernel, a fused VJP kernel and
a gradient table. The pullback to the inputs is shared:
``dL/dp = m (g_I t + g_P)`` and ``dL/dt = m (g_I p + g_T)``, followed by the VJP of the
sigmoid / softmax when ``from_logits``. ``include_background=False`` drops channel 0
after the activation (MONAI), so its probability still carries softmax gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

import array_api_compat

from .._math import sigmoid, softmax

__all__ = ["overlap_loss"]

_LAYOUT_OPTIONS = (
    "axis",
    "from_logits",
    "multilabel",
    "include_background",
    "ignore_index",
    "labels",
)


class _Overlap(NamedTuple):
    probs: Any  # all channels, for the activation's VJP
    kept: Any  # the channels in the loss
    target: Any  # dense target on the kept channels, 0 where ignored
    mask: Any  # keep mask broadcastable to ``kept``, or None (no ignore_index)
    inter: Any  # I, shape (N, C_kept)
    pred_sum: Any  # P
    target_sum: Any  # T


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    layout = {k: v for k, v in options.items() if k in _LAYOUT_OPTIONS}
    own = {k: v for k, v in options.items() if k not in _LAYOUT_OPTIONS}
    return layout, own


def _nan_where(xp: ModuleType, bad: Any, x: Any) -> Any:
    return xp.where(bad, xp.full_like(x, math.nan), x)


def _probabilities(
    xp: ModuleType, pred: Any, *, axis: int, from_logits: bool, multilabel: bool
) -> Any:
    if not from_logits:
        # Out-of-range probabilities are a ValueError on eager backends; NaN under JAX/Dask.
        return _nan_where(xp, (pred < 0) | (pred > 1), pred)
    if multilabel or pred.shape[axis] == 1:
        return sigmoid(xp, pred)
    return softmax(xp, pred, axis=axis)


def _dense_target(
    xp: ModuleType, probs: Any, target: Any, *, axis: int, labels: bool, ignore_index: int | None
) -> tuple[Any, Any]:
    """The dense target in ``probs``'s dtype and the keep mask (or None)."""
    dtype = probs.dtype
    if not labels:
        # One-hot / soft targets are not range-checked (PyTorch's probability targets
        # are not either): the scores are rational in t, so any real target is defined.
        keep = None if ignore_index is None else target != ignore_index
        dense = target if keep is None else xp.where(keep, target, xp.zeros_like(target))
        return dense, keep
    index = xp.expand_dims(target, axis=axis)
    num_classes = probs.shape[axis]
    if num_classes == 1:  # a binary map: the label is the foreground probability
        dense = xp.astype(index, dtype)
        valid = (index == 0) | (index == 1)
    else:
        shape = [1] * probs.ndim
        shape[axis] = num_classes
        classes = xp.arange(num_classes, dtype=index.dtype, device=array_api_compat.device(index))
        dense = xp.astype(index == xp.reshape(classes, tuple(shape)), dtype)
        valid = (index >= 0) & (index < num_classes)
    keep = None if ignore_index is None else index != ignore_index
    if keep is not None:
        valid = valid | ~keep
    # Labels out of range raise on eager backends; under JAX and Dask they give NaN.
    dense = _nan_where(xp, ~valid, dense)
    if keep is not None:
        dense = xp.where(keep, dense, xp.zeros_like(dense))
    return dense, keep


def _drop_background(x: Any, axis: int) -> Any:
    return x[(slice(None),) * axis + (slice(1, None),)]


def _spatial_sum(xp: ModuleType, x: Any, axis: int) -> Any:
    spatial = tuple(i for i in range(x.ndim) if i not in (0, axis))
    # No spatial axes: one pixel per sample (and torch would read axis=() as "all axes").
    return xp.sum(x, axis=spatial) if spatial else x


def _overlap(
    xp: ModuleType,
    pred: Any,
    target: Any,
    *,
    axis: int,
    from_logits: bool,
    multilabel: bool,
    include_background: bool,
    ignore_index: int | None,
    labels: bool,
) -> _Overlap:
    probs = _probabilities(xp, pred, axis=axis, from_logits=from_logits, multilabel=multilabel)
    dense, keep = _dense_target(
        xp, probs, target, axis=axis, labels=labels, ignore_index=ignore_index
    )
    kept = probs
    if not include_background:
        kept = _drop_background(probs, axis)
        dense = _drop_background(dense, axis)
        if keep is not None and keep.shape[axis] != 1:
            keep = _drop_background(keep, axis)
    kept_probs = kept if keep is None else xp.where(keep, kept, xp.zeros_like(kept))
    return _Overlap(
        probs=probs,
        kept=kept,
        target=dense,
        mask=keep,
        inter=_spatial_sum(xp, kept_probs * dense, axis),
        pred_sum=_spatial_sum(xp, kept_probs, axis),
        target_sum=_spatial_sum(xp, dense, axis),
    )


def _expand(xp: ModuleType, g: Any, ndim: int, axis: int) -> Any:
    """An ``(N, C)`` array reshaped to broadcast against a map with channels on ``axis``."""
    shape = [1] * ndim
    shape[0] = g.shape[0]
    shape[axis] = g.shape[1]
    return xp.reshape(g, tuple(shape))


def _activation_vjp(
    xp: ModuleType, g: Any, pred: Any, probs: Any, *, axis: int, from_logits: bool, multilabel: bool
) -> Any:
    if not from_logits:
        return g
    if multilabel or pred.shape[axis] == 1:
        # sigmoid'(z) = sigmoid(z) sigmoid(-z): no cancellation in 1 - p for large z
        return g * probs * sigmoid(xp, -pred)
    return probs * (g - xp.sum(g * probs, axis=axis, keepdims=True))


def _input_grads(
    xp: ModuleType,
    o: _Overlap,
    grads: tuple[Any, Any, Any],
    pred: Any,
    *,
    wrt: tuple[str, ...],
    axis: int,
    from_logits: bool,
    multilabel: bool,
    include_background: bool,
    **_: Any,
) -> tuple[Any, ...]:
    g_inter, g_pred_sum, g_target_sum = (
        None if g is None else _expand(xp, g, pred.ndim, axis) for g in grads
    )
    out = []
    for name in wrt:
        if name == "pred":
            g = g_inter * o.target + g_pred_sum
        else:
            g = g_inter * o.kept + g_target_sum
        if o.mask is not None:
            g = xp.where(o.mask, g, xp.zeros_like(g))
        if not include_background:
            background = xp.zeros_like(g[(slice(None),) * axis + (slice(0, 1),)])
            g = xp.concat([background, g], axis=axis)
        if name == "pred":
            g = _activation_vjp(
                xp, g, pred, o.probs, axis=axis, from_logits=from_logits, multilabel=multilabel
            )
        out.append(g)
    return tuple(out)


Score = Callable[..., Any]


def overlap_loss(
    score: Score, score_vjp: Score, *, target_grad: bool
) -> tuple[Any, Any, dict[str, Any]]:
    """The value kernel, fused VJP kernel and gradient table of one overlap loss."""

    def value(xp: ModuleType, pred: Any, target: Any, **options: Any) -> Any:
        layout, own = _split(options)
        o = _overlap(xp, pred, target, **layout)
        return score(xp, o.inter, o.pred_sum, o.target_sum, **own)

    def vjp(xp: ModuleType, pred: Any, target: Any, *, wrt: tuple[str, ...], **options: Any) -> Any:
        layout, own = _split(options)
        o = _overlap(xp, pred, target, **layout)
        loss = score(xp, o.inter, o.pred_sum, o.target_sum, **own)

        def pullback(cot: Any) -> tuple[Any, ...]:
            grads = score_vjp(xp, cot, o.inter, o.pred_sum, o.target_sum, **own)
            return _input_grads(xp, o, grads, pred, wrt=wrt, **layout)

        return loss, pullback

    def grad_of(name: str) -> Callable[..., Any]:
        def grad(xp: ModuleType, cot: Any, pred: Any, target: Any, **options: Any) -> Any:
            return vjp(xp, pred, target, wrt=(name,), **options)[1](cot)[0]

        grad.__name__ = f"{score.__name__.removesuffix('_score')}_{name}_grad"
        return grad

    table = {"pred": grad_of("pred")}
    if target_grad:
        table["target"] = grad_of("target")
    return value, vjp, table
