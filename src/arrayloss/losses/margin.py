"""Margin losses: the public functions (docstrings, validation, dispatch).

``hinge``, ``squared_hinge`` and ``soft_margin`` are element-wise (``"none"`` is
per-element, ``"mean"`` averages over all elements; ``weight`` per-element with
``"mean"`` dividing by ``sum(weight)``). ``multi_margin`` and ``multilabel_soft_margin``
reduce over the class ``axis`` and give one loss per sample; their ``weight`` is
PyTorch's per-class weight of shape ``(C,)`` and ``"mean"`` divides by the number of
samples, as PyTorch.
"""

from __future__ import annotations

from typing import Any

from .._spec import Array, LossSpec, Namespace, kernel_spec, loss_function, prepare
from .._validate import (
    check_choice,
    check_integer,
    check_values,
    first_bad_value,
    values_checkable,
)
from ..kernels import margin as k
from ._axis import axis_shapes, move_class_weight, shape_of

__all__ = ["hinge", "multi_margin", "multilabel_soft_margin", "soft_margin", "squared_hinge"]


def _spec(name: str, args: tuple[str, ...], reference: str, **fields: Any) -> LossSpec:
    return kernel_spec(k, name, args, reference, **fields)


HINGE = _spec("hinge", ("pred", "target"), "keras.losses.hinge")
SQUARED_HINGE = _spec("squared_hinge", ("pred", "target"), "keras.losses.squared_hinge")
SOFT_MARGIN = _spec("soft_margin", ("input", "target"), "torch.nn.functional.soft_margin_loss")
MULTI_MARGIN = _spec(
    "multi_margin",
    ("input", "target"),
    "torch.nn.functional.multi_margin_loss",
    elementwise=False,
    index_args=("target",),
)
MULTILABEL_SOFT_MARGIN = _spec(
    "multilabel_soft_margin",
    ("logits", "target"),
    "torch.nn.functional.multilabel_soft_margin_loss",
    elementwise=False,
)


@loss_function(HINGE)
def hinge(
    pred: Array,
    target: Array,
    /,
    *,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Hinge loss, as ``keras.losses.hinge`` (PyTorch has none).

    .. math:: \ell_i = \max(0,\ 1 - y_i \hat y_i), \qquad
              \frac{\partial \ell_i}{\partial \hat y_i} =
              \begin{cases} -y_i & 1 - y_i \hat y_i > 0 \\ 0 & \text{otherwise} \end{cases}

    At the kink (``y * pred == 1``) the subgradient is 0, as for PyTorch's ``relu``
    and ``multi_margin_loss`` (TensorFlow's ``maximum`` would give ``-y``, JAX's
    ``-y/2``). Differentiable in ``pred``. ``"mean"`` with ``weight`` divides by
    ``sum(weight)``.

    Labels are Keras's: ``-1`` or ``1``; if *every* label is 0 or 1 they are mapped to
    ``2 y - 1`` first (Keras's ``convert_binary_labels_to_hinge``: one check over the
    whole array, so a mixture of -1, 0 and 1 is used as given). Keras averages over
    the last axis and returns one value per sample; here ``"none"`` is per element
    (element-wise losses reduce over all elements), so Keras's per-sample numbers are
    ``hinge(pred, target, reduction="none").mean(axis=-1)``; ``"mean"`` equals the
    Keras loss object's default ``"sum_over_batch_size"``.
    Args:
        pred: scores ``[...]``, real floating.
        target: labels in ``{-1, 1}`` (or all in ``{0, 1}``), broadcastable with
            ``pred``.
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
        weight: per-element weights; ``"mean"`` divides by ``sum(weight)``.
        where: boolean mask of the elements to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> al.hinge(np.array([0.6, -0.7, -0.5]), np.array([-1.0, 1.0, 1.0]), reduction="none").tolist()
        [1.6, 1.7, 1.5]
    """
    return prepare(
        HINGE,
        {"pred": pred, "target": target},
        xp=xp,
        reduction=reduction,
        weight=weight,
        where=where,
    )


@loss_function(SQUARED_HINGE)
def squared_hinge(
    pred: Array,
    target: Array,
    /,
    *,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Squared hinge loss, as ``keras.losses.squared_hinge`` (PyTorch has none).

    .. math:: \ell_i = \max(0,\ 1 - y_i \hat y_i)^2, \qquad
              \frac{\partial \ell_i}{\partial \hat y_i} = -2 y_i \max(0,\ 1 - y_i \hat y_i)

    Differentiable everywhere (the derivative is 0 at the kink). Differentiable in
    ``pred``. ``"mean"`` with ``weight`` divides by ``sum(weight)``.

    Labels are Keras's: ``-1`` or ``1``; if *every* label is 0 or 1 they are mapped to
    ``2 y - 1`` first (Keras's ``convert_binary_labels_to_hinge``: one check over the
    whole array, so a mixture of -1, 0 and 1 is used as given). Keras averages over
    the last axis and returns one value per sample; here ``"none"`` is per element
    (element-wise losses reduce over all elements), so Keras's per-sample numbers are
    ``squared_hinge(pred, target, reduction="none").mean(axis=-1)``; ``"mean"`` equals the
    Keras loss object's default ``"sum_over_batch_size"``.
    Args:
        pred: scores ``[...]``, real floating.
        target: labels in ``{-1, 1}`` (or all in ``{0, 1}``), broadcastable with
            ``pred``.
        reduction, weight, where, xp: as :func:`hinge`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> float(al.squared_hinge(np.array([[0.6, 0.4], [0.4, 0.6]]), np.array([[0.0, 1.0], [0.0, 0.0]])))
        1.86
    """
    return prepare(
        SQUARED_HINGE,
        {"pred": pred, "target": target},
        xp=xp,
        reduction=reduction,
        weight=weight,
        where=where,
    )


@loss_function(SOFT_MARGIN)
def soft_margin(
    input: Array,
    target: Array,
    /,
    *,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Two-class soft-margin (logistic) loss, as ``torch.nn.functional.soft_margin_loss``.

    .. math:: \ell_i = \log(1 + e^{-y_i x_i}), \qquad
              \frac{\partial \ell_i}{\partial x_i} = -y_i\,\sigma(-y_i x_i)

    Computed as ``softplus(-y x)``: PyTorch's ``log1p(exp(-y x))`` overflows to inf
    (and its gradient to NaN) once ``-y x > 709``; elsewhere the two agree to round-off.
    Differentiable in ``input`` (PyTorch has no target gradient). PyTorch has no
    ``weight``; ``"mean"`` with ``weight`` divides by ``sum(weight)``.

    Args:
        input: scores ``[...]``, real floating.
        target: labels, usually ``-1`` or ``1``, broadcastable with ``input``.
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
        weight: per-element weights; ``"mean"`` divides by ``sum(weight)``.
        where: boolean mask of the elements to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> al.soft_margin(np.array([0.0, 1000.0]), np.array([1.0, -1.0]), reduction="none").tolist()
        [0.6931471805599453, 1000.0]
    """
    return prepare(
        SOFT_MARGIN,
        {"input": input, "target": target},
        xp=xp,
        reduction=reduction,
        weight=weight,
        where=where,
    )


@loss_function(MULTI_MARGIN)
def multi_margin(
    input: Array,
    target: Array,
    /,
    *,
    p: int = 1,
    margin: float = 1.0,
    weight: Array | None = None,
    axis: int = -1,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Multi-class margin loss, as ``torch.nn.functional.multi_margin_loss``.

    .. math:: \ell_n = \frac{w_{y_n}}{C} \sum_{d \ne y_n} \max(0,\ z_{nd})^p, \qquad
              z_{nd} = \mathrm{margin} - x_{n y_n} + x_{nd}

    (PyTorch applies the class weight after the power, as here, although its docs
    write it inside.) Gradient, PyTorch's backward: each class ``d != y`` with
    ``z > 0`` gets ``w_y p z^{p-1} / C`` and the target class minus their sum; a tie
    ``z == 0`` is inactive (gradient 0). Differentiable in ``input``.

    ``"mean"`` divides by the number of samples ``N`` whatever the weights (PyTorch).
    Labels outside ``[0, C)`` raise ``ValueError`` on eager backends and give NaN
    under JAX and Dask.

    Args:
        input: scores ``[N, C]`` (or ``[C]``, or any shape with the classes on
            ``axis``), real floating.
        target: integer class indices, ``input``'s shape without ``axis``.
        p: 1 or 2.
        margin: the margin.
        weight: per-class weights ``[C]``.
        axis: the class axis of ``input`` (PyTorch: the last).
        reduction: ``"none"`` (one loss per sample), ``"sum"`` or ``"mean"``.
        where: boolean mask of the samples to keep, broadcastable to ``target``.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or ``target``'s shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> round(float(al.multi_margin(np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3]))), 12)
        0.325
    """
    check_choice("p", p, (1, 2))
    full, position, loss_shape = axis_shapes([("input", input)], axis)
    target_shape = shape_of(target)
    if target_shape != loss_shape:
        raise ValueError(
            f"input has shape {full} but target has shape {target_shape}; target must "
            f"have input's shape without the class axis {axis}: {loss_shape}"
        )
    problem = prepare(
        MULTI_MARGIN,
        {"input": input, "target": target},
        xp=xp,
        options={"p": int(p), "margin": float(margin), "axis": position},
        reduction=reduction,
        weight=weight,
        where=where,
    )
    move_class_weight(
        problem, loss_shape, full, position, loss_name="multi_margin", per_class_only=True
    )
    namespace = problem.xp
    labels = problem.array("target")
    check_integer(namespace, "target", labels)
    if values_checkable(namespace, labels):
        n_classes = full[position]
        bad = (labels < 0) | (labels >= n_classes)
        check_values(
            namespace,
            bad,
            lambda: (
                f"target has a label {first_bad_value(namespace, labels, bad)} outside "
                f"[0, {n_classes}); input has {n_classes} classes along axis {axis}, so labels "
                f"must be in [0, {n_classes})"
            ),
        )
    return problem


@loss_function(MULTILABEL_SOFT_MARGIN)
def multilabel_soft_margin(
    logits: Array,
    target: Array,
    /,
    *,
    weight: Array | None = None,
    axis: int = -1,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Multi-label soft-margin loss, as ``torch.nn.functional.multilabel_soft_margin_loss``.

    The mean over the classes of the per-class binary cross-entropy with logits:

    .. math:: \ell_n = \frac{1}{C} \sum_c w_c \bigl[(1 - y_{nc})\,\mathrm{softplus}(x_{nc})
              + y_{nc}\,\mathrm{softplus}(-x_{nc})\bigr]

    .. math:: \frac{\partial \ell_n}{\partial x_{nc}} = \frac{w_c}{C}
              \bigl[(1 - y_{nc})\sigma(x_{nc}) - y_{nc}\sigma(-x_{nc})\bigr], \qquad
              \frac{\partial \ell_n}{\partial y_{nc}} = -\frac{w_c}{C} x_{nc}

    Exact for logits of +-1000. The inputs are logits (the scores PyTorch calls
    ``input`` go through a sigmoid), hence the name ``logits`` as for
    :func:`binary_cross_entropy_with_logits`.

    ``weight`` is per class, shape ``(C,)`` laid along ``axis``, or any shape that
    broadcasts to the input (PyTorch multiplies element-wise). ``"mean"`` divides by
    the number of samples ``N`` (PyTorch).

    Args:
        logits: logits ``[N, C]`` (classes on ``axis``), real floating.
        target: target probabilities (usually 0 or 1), broadcastable with ``logits``.
        weight: per-class weights ``[C]``.
        axis: the class axis (PyTorch: the last).
        reduction: ``"none"`` (one loss per sample), ``"sum"`` or ``"mean"``.
        where: boolean mask of the samples to keep, broadcastable to the per-sample loss.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the shape without ``axis`` for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> float(al.multilabel_soft_margin(np.zeros((2, 3)), np.ones((2, 3))))
        0.6931471805599453
    """
    full, position, loss_shape = axis_shapes([("logits", logits), ("target", target)], axis)
    problem = prepare(
        MULTILABEL_SOFT_MARGIN,
        {"logits": logits, "target": target},
        xp=xp,
        options={"axis": position},
        reduction=reduction,
        weight=weight,
        where=where,
    )
    move_class_weight(
        problem,
        loss_shape,
        full,
        position,
        loss_name="multilabel_soft_margin",
        per_class_only=False,
    )
    return problem
