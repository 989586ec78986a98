"""Shapes and per-class weights for losses that reduce over a class or feature axis.

These losses are not element-wise: the unreduced loss has the broadcast shape of the
inputs without ``axis``, and a PyTorch-style per-class ``weight`` of shape ``(C,)``
enters the kernel (it scales terms *before* the class sum) instead of the reduction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._reduce import prepare_mask
from .._spec import Problem
from .._validate import broadcast_shapes, check_axis

__all__ = ["axis_shapes", "move_class_weight", "shape_of"]


def shape_of(x: Any) -> tuple[Any, ...]:
    """The shape of an array, or of a Python scalar or nested list."""
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def axis_shapes(
    named: list[tuple[str, Any]], axis: int
) -> tuple[tuple[Any, ...], int, tuple[Any, ...]]:
    """``(broadcast shape, axis as a non-negative position, shape without the axis)``."""
    full = broadcast_shapes(*((name, shape_of(a)) for name, a in named))
    position = check_axis(axis, len(full))
    return full, position, full[:position] + full[position + 1 :]


def move_class_weight(
    problem: Problem,
    loss_shape: tuple[Any, ...],
    full_shape: tuple[Any, ...],
    axis: int,
    *,
    loss_name: str,
    per_class_only: bool,
) -> None:
    """Turn ``problem.weight`` (prepared as a plain array) into the kernel option ``weight``.

    A 1-D weight of length ``C`` is laid along ``axis``; with ``per_class_only=False``
    any weight that broadcasts to ``full_shape`` is also accepted (PyTorch's
    ``multilabel_soft_margin_loss`` multiplies it element-wise). ``where`` is checked
    against the unreduced loss's shape.
    """
    xp = problem.xp
    problem.loss_shape = loss_shape
    problem.where = prepare_mask(xp, problem.where, loss_shape)
    weight = problem.weight
    problem.weight = None
    problem.options["weight"] = weight
    if weight is None:
        return
    n_classes = full_shape[axis]
    shape = tuple(weight.shape)
    if shape == (n_classes,):
        laid = [1] * len(full_shape)
        laid[axis] = n_classes
        problem.options["weight"] = xp.reshape(weight, tuple(laid))
        return
    if not per_class_only:
        try:
            merged = broadcast_shapes(("the input", full_shape), ("weight", shape))
        except ValueError:
            merged = None
        if merged == tuple(full_shape):
            return
    accepted = f"({n_classes},), one weight per class"
    if not per_class_only:
        accepted += f", or a shape that broadcasts to {tuple(full_shape)}"
    raise ValueError(f"weight has shape {shape} but {loss_name} takes {accepted}")
