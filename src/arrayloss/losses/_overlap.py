"""Validation of a segmentation call: layout, target kind, class weights, values.

The channel axis is any axis but 0 (the batch). ``target`` is either an integer class
map (``pred``'s shape without the channel axis) or a one-hot / soft target of
``pred``'s shape; a floating target of ``pred``'s shape is differentiable, an integer
one is cast and is not. Probabilities (``from_logits=False``) outside ``[0, 1]`` and
labels out of range (other than ``ignore_index``) raise ``ValueError`` on eager
backends; under JAX and Dask the kernels give NaN. One-hot / soft targets are not
range-checked, as PyTorch's probability targets are not.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import array_api_compat
import numpy as np

from .._reduce import prepare_mask
from .._spec import Array, LossSpec, Namespace, Problem, prepare
from .._validate import (
    check_axis,
    check_integer,
    check_option,
    check_values,
    dtype_is,
    first_bad_value,
    values_checkable,
)
from ._axis import shape_of
from ._class_targets import check_ignore_index

__all__ = ["overlap_problem"]


#: (loss name, labels) -> the spec with a non-differentiable target.
_VARIANTS: dict[tuple[str, bool], LossSpec] = {}


def _fixed_target(spec: LossSpec, *, labels: bool) -> LossSpec:
    """``spec`` for a target that is not differentiable (class indices or integers)."""
    key = (spec.name, labels)
    if key not in _VARIANTS:
        _VARIANTS[key] = dataclasses.replace(
            spec,
            wrt=("pred",),
            grads={"pred": spec.grads["pred"]},
            index_args=("target",) if labels else (),
        )
    return _VARIANTS[key]


def _is_floating(x: Any) -> bool:
    if hasattr(x, "dtype"):
        return dtype_is(array_api_compat.array_namespace(x), x.dtype, "real floating")
    return np.asarray(x).dtype.kind == "f"


def overlap_problem(
    spec: LossSpec,
    pred: Array,
    target: Array,
    *,
    axis: int,
    from_logits: bool,
    multilabel: bool,
    include_background: bool,
    weight: Array | None,
    ignore_index: int | None,
    smooth_nr: float,
    smooth_dr: float,
    reduction: str,
    where: Array | None,
    xp: Namespace,
    **score_options: Any,
) -> Problem:
    """Validate a segmentation call and build its :class:`Problem`."""
    check_option("smooth_nr", smooth_nr, lambda v: v >= 0, "a number >= 0")
    check_option("smooth_dr", smooth_dr, lambda v: v >= 0, "a number >= 0")
    check_ignore_index(ignore_index, optional=True)
    pred_shape, target_shape = shape_of(pred), shape_of(target)
    if len(pred_shape) < 2:
        raise ValueError(
            f"pred has shape {pred_shape}; segmentation losses need a batch axis (0) and a "
            "channel axis, e.g. (N, C) or (N, *spatial, C)"
        )
    axis = check_axis(axis, len(pred_shape))
    if axis == 0:
        raise ValueError("axis=0 is the batch axis; the channel axis must be another axis")
    num_classes = pred_shape[axis]
    label_shape = pred_shape[:axis] + pred_shape[axis + 1 :]
    if target_shape == label_shape:
        labels = True
    elif target_shape == pred_shape:
        labels = False
    else:
        raise ValueError(
            f"pred has shape {pred_shape} but target has shape {target_shape}; target must "
            f"be class indices of shape {label_shape} (pred's shape without axis={axis}) "
            f"or one-hot / soft targets of shape {pred_shape}"
        )
    drop = not include_background and num_classes > 1
    kept = num_classes - 1 if drop else num_classes
    per_sample = spec.name == "generalized_dice"
    if weight is not None:
        weight = _kept_weight(weight, num_classes, kept, per_sample=per_sample)
    if labels or ("target" in spec.wrt and not _is_floating(target)):
        spec = _fixed_target(spec, labels=labels)
    loss_shape = (pred_shape[0],) if per_sample else (pred_shape[0], kept)
    options = {
        "axis": axis,
        "from_logits": bool(from_logits),
        "multilabel": bool(multilabel),
        "include_background": not drop,
        "ignore_index": ignore_index,
        "labels": labels,
        "smooth_nr": float(smooth_nr),
        "smooth_dr": float(smooth_dr),
        **score_options,
    }
    problem = prepare(
        spec,
        {"pred": pred, "target": target},
        xp=xp,
        options=options,
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=None if per_sample else loss_shape,
    )
    if per_sample:
        # The class weight multiplies the volume weights inside the kernel, not the loss.
        problem.options["class_weight"] = problem.weight
        problem.weight = None
        problem.where = prepare_mask(problem.xp, problem.where, loss_shape)
        problem.loss_shape = loss_shape
    _check_values(problem, labels=labels, num_classes=num_classes)
    return problem


def _kept_weight(weight: Array, num_classes: int, kept: int, *, per_sample: bool) -> Array:
    """``weight`` without the background entry of its class axis, when that is dropped.

    generalized_dice takes one factor per class, ``(C,)``; the other losses take any
    weight that broadcasts to their ``(N, C)`` values, whose last axis is the class.
    """
    shape = shape_of(weight)
    if kept != num_classes and shape[-1:] == (num_classes,):
        # a list stays a list, so that it joins the namespace of pred like any list
        weight = (
            weight[..., 1:] if hasattr(weight, "shape") else np.asarray(weight)[..., 1:].tolist()
        )
        shape = (*shape[:-1], kept)
    if per_sample and shape != (kept,):
        also = f", or ({kept},) for the classes kept" if kept != num_classes else ""
        raise ValueError(
            f"weight has shape {shape_of(weight)}; generalized_dice takes one factor per "
            f"class: shape ({num_classes},){also}"
        )
    return weight


def _check_values(problem: Problem, *, labels: bool, num_classes: int) -> None:
    namespace = problem.xp
    p, t = problem.arrays
    options = problem.options
    ignore_index = options["ignore_index"]
    if labels:
        check_integer(namespace, "target", t)
    if not values_checkable(namespace, p):
        return
    if not options["from_logits"]:
        bad = (p < 0) | (p > 1)
        check_values(
            namespace,
            bad,
            lambda: (
                f"pred holds probabilities (from_logits=False) but has an entry "
                f"{first_bad_value(namespace, p, bad)} outside [0, 1]; pass from_logits=True "
                "for logits"
            ),
        )
    if not labels:
        return  # one-hot / soft targets are not range-checked (see the kernel)
    bad = (t < 0) | (t >= max(num_classes, 2))
    accepted = f"[0, {num_classes})" if num_classes > 1 else "{0, 1}"
    what = (
        f"class indices for pred's {num_classes} channels"
        if num_classes > 1
        else "a binary map for pred's single channel"
    )
    if ignore_index is not None:
        bad = bad & (t != ignore_index)
    check_values(
        namespace,
        bad,
        lambda: (
            f"target has an entry {first_bad_value(namespace, t, bad)} outside {accepted}; "
            f"it holds {what}, which must lie in {accepted}"
            + ("" if ignore_index is None else f" or equal ignore_index={ignore_index}")
        ),
    )
