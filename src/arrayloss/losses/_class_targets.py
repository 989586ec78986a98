"""Validation shared by the losses over a class axis (softmax, categorical, focal).

Targets are either class indices (an integer array with the prediction's shape without
the class axis) or class probabilities (a floating array with the prediction's shape);
float labels of the reduced shape are a ``TypeError``. Labels outside ``[0, C)`` other
than ``ignore_index`` are a ``ValueError`` on eager backends; under JAX and Dask the
kernels give NaN instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import device

from .. import _dispatch
from .._spec import Problem
from .._validate import (
    check_axis,
    check_integer,
    check_values,
    dtype_is,
    first_bad_value,
    is_floating,
    values_checkable,
)
from ..kernels.softmax import index_target

__all__ = [
    "check_ignore_index",
    "class_layout",
    "class_vector",
    "finish_targets",
    "used_denominator",
]


def _shape(x: Any) -> tuple[Any, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def class_layout(pred: Any, axis: int) -> tuple[int, tuple[Any, ...]]:
    """The normalised class axis and the unreduced loss's shape (``pred`` without it)."""
    shape = _shape(pred)
    ax = check_axis(axis, len(shape))
    return ax, shape[:ax] + shape[ax + 1 :]


def check_ignore_index(ignore_index: Any, *, optional: bool = False) -> None:
    if optional and ignore_index is None:
        return
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        accepted = "an int or None" if optional else "an int"
        raise TypeError(f"ignore_index must be {accepted}, got {ignore_index!r}")


def _replace(problem: Problem, name: str, value: Any) -> None:
    index = problem.spec.args.index(name)
    arrays = list(problem.arrays)
    arrays[index] = value
    problem.arrays = tuple(arrays)
    shapes = list(problem.arg_shapes)
    shapes[index] = tuple(value.shape)
    problem.arg_shapes = tuple(shapes)


def finish_targets(
    problem: Problem,
    *,
    axis: int,
    kinds: tuple[str, ...] = ("index", "probs"),
    ignore_index: int | None = None,
    squeeze_last: bool = False,
) -> bool:
    """Check the target against the prediction; True for class indices, False for probabilities.

    Index targets are checked to lie in ``[0, C)`` or equal ``ignore_index`` (eager
    backends) and made ``int64`` on PyTorch (its gather needs it); probability targets
    are cast to the prediction's compute dtype. ``squeeze_last`` drops a trailing axis
    of size 1 from index targets of the prediction's rank (Keras).
    """
    xp = problem.xp
    pred_name, target_name = problem.spec.args[:2]
    pred = problem.arrays[0]
    target = problem.array(target_name)
    pred_shape = tuple(pred.shape)
    loss_shape = pred_shape[:axis] + pred_shape[axis + 1 :]
    n = pred_shape[axis]
    if squeeze_last and target.ndim == pred.ndim and target.ndim > 0 and target.shape[-1] == 1:
        target = xp.squeeze(target, axis=-1)
    shape = tuple(target.shape)
    if shape == pred_shape and "probs" in kinds:
        if not is_floating(xp, target):
            raise TypeError(
                f"{target_name} has the shape of {pred_name} {pred_shape}, so it holds class "
                f"probabilities and must be floating, got dtype "
                f"{str(target.dtype).replace('torch.', '')}; class indices have {pred_name}'s "
                f"shape without axis {axis}: {loss_shape}"
            )
        if target.dtype != pred.dtype:
            target = xp.astype(target, pred.dtype)
        _replace(problem, target_name, target)
        return False
    if shape == loss_shape and "index" in kinds:
        check_integer(xp, target_name, target)
        if problem.backend == "torch" and target.dtype != xp.int64:
            target = xp.astype(target, xp.int64)
        if values_checkable(xp, target):
            bad = index_target(xp, target, n, ignore_index).bad
            ignored = "" if ignore_index is None else f" or equal ignore_index={ignore_index}"
            check_values(
                xp,
                bad,
                lambda: (
                    f"{target_name} holds the class index "
                    f"{first_bad_value(xp, target, bad)}, outside [0, {n}) for {pred_name} with "
                    f"{n} classes along axis {axis}; class indices must be in [0, {n}){ignored}"
                ),
            )
        _replace(problem, target_name, target)
        return True
    if shape == loss_shape:
        raise ValueError(
            f"{target_name} has shape {shape}, the shape of class indices; this loss takes "
            f"class probabilities of {pred_name}'s shape {pred_shape} (use the sparse_ "
            "variant for class indices)"
        )
    wanted = []
    if "index" in kinds:
        wanted.append(f"class indices of shape {loss_shape} ({pred_name} without axis {axis})")
    if "probs" in kinds:
        wanted.append(f"class probabilities of shape {pred_shape}")
    raise ValueError(
        f"{pred_name} has shape {pred_shape} but {target_name} has shape {shape}; "
        f"{target_name} must be {' or '.join(wanted)}"
    )


def class_vector(problem: Problem, value: Any, name: str, *, axis: int) -> Any:
    """A per-class option (``weight``, ``alpha``) as a ``(C,)`` array of the compute dtype."""
    if value is None:
        return None
    xp = problem.xp
    pred = problem.arrays[0]
    n = pred.shape[axis]
    v = _dispatch.convert(value, xp)
    if not hasattr(v, "shape"):
        v = xp.asarray(v, device=device(pred))
    if dtype_is(xp, v.dtype, "bool") or not dtype_is(xp, v.dtype, ("real floating", "integral")):
        raise TypeError(
            f"{name} must be a real array of per-class values, got dtype "
            f"{str(v.dtype).replace('torch.', '')}"
        )
    if tuple(v.shape) != (n,):
        raise ValueError(
            f"{name} has shape {tuple(v.shape)} but {problem.spec.args[0]} has {n} classes "
            f"along axis {axis}; {name} must have shape ({n},)"
        )
    return v if v.dtype == pred.dtype else xp.astype(v, pred.dtype)


def used_denominator(problem: Problem, used: Any, weights: Any = None) -> Any:
    """``sum(weights)`` (or the count) over used samples that ``where`` keeps, 0-d."""
    xp = problem.xp
    if problem.where is not None:
        used = used & xp.broadcast_to(problem.where, tuple(used.shape))
    dtype = problem.arrays[0].dtype
    if weights is None:
        return xp.sum(xp.astype(used, dtype))
    weights = xp.broadcast_to(weights, tuple(used.shape))
    return xp.sum(xp.where(used, weights, xp.zeros_like(weights)))
