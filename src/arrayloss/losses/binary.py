"""Binary-classification losses: the public functions (docstrings, validation, dispatch).

All three are element-wise: the arguments broadcast together, ``"none"`` gives the
broadcast shape, and ``"sum"``/``"mean"`` reduce over all elements (PyTorch's rule).

Common keyword arguments (DESIGN.md section 3):

* ``reduction``: ``"none"`` (per-element), ``"sum"`` or ``"mean"`` (default).
* ``weight``: per-element weights broadcast to the unreduced loss. The ``"mean"``
  denominator is the element count for the two cross-entropies (PyTorch 2.13's
  ``binary_cross_entropy*`` ignore the weights there) and ``sum(weight)`` for
  ``sigmoid_focal_loss`` (torchvision has no weight).
* ``where``: boolean mask; masked-out elements leave numerator and denominator, and
  come back as 0 (with zero gradient) under ``"none"``.
* ``xp``: the array namespace, a backend name or ``"auto"`` (default: the inputs').
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._spec import Array, LossSpec, Namespace, Problem, kernel_spec, loss_function, prepare
from .._validate import check_option, check_values, first_bad_value, values_checkable
from ..kernels import binary as k

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal_loss"]


def _spec(name: str, args: tuple[str, ...], reference: str, **fields: Any) -> LossSpec:
    return kernel_spec(k, name, args, reference, **fields)


BCE = _spec(
    "binary_cross_entropy",
    ("pred", "target"),
    "torch.nn.functional.binary_cross_entropy",
    denominator="count",
)
BCE_LOGITS = _spec(
    "binary_cross_entropy_with_logits",
    ("logits", "target", "pos_weight"),
    "torch.nn.functional.binary_cross_entropy_with_logits",
    denominator="count",
)
FOCAL = _spec("sigmoid_focal_loss", ("logits", "target"), "torchvision.ops.sigmoid_focal_loss")


def check_unit_interval(problem: Problem, names: tuple[str, ...], loss: str) -> None:
    """ValueError for entries outside [0, 1] on eager backends (NaN passes)."""
    namespace = problem.xp
    for name in names:
        x = problem.array(name)
        if x is None or not values_checkable(namespace, x):
            continue
        _check_in_unit_interval(namespace, name, x, loss)


def _check_in_unit_interval(namespace: ModuleType, name: str, x: Array, loss: str) -> None:
    bad = (x < 0) | (x > 1)
    check_values(
        namespace,
        bad,
        lambda: (
            f"{name} has an entry {first_bad_value(namespace, x, bad)} outside [0, 1]; "
            f"{loss} takes probabilities in [0, 1] (NaN is allowed and gives NaN)"
        ),
    )


@loss_function(BCE)
def binary_cross_entropy(
    pred: Array,
    target: Array,
    /,
    *,
    weight: Array | None = None,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Binary cross-entropy of probabilities, as ``torch.nn.functional.binary_cross_entropy``.

    .. math:: \ell_i = -\bigl(y_i \max(\log p_i, -100) + (1 - y_i) \max(\log(1 - p_i), -100)\bigr)

    The logs are clamped at -100 exactly as PyTorch, so ``p`` in ``{0, 1}`` gives a
    finite loss (at most 100). The gradients are PyTorch's backward:

    .. math:: \frac{\partial \ell_i}{\partial p_i} = \frac{p_i - y_i}{\max((1 - p_i) p_i,\ \epsilon)},
              \qquad \frac{\partial \ell_i}{\partial y_i} = -\operatorname{logit}(p_i)

    with :math:`\epsilon` = float32(1e-12) = 9.999999960041972e-13 (ATen's constant, in
    every dtype), except that at ``p`` in ``{0, 1}``, where PyTorch's target gradient is
    ``-+inf``, ours is the derivative of the clamped value, ``+-100``. For logits use
    :func:`binary_cross_entropy_with_logits`, which is exact far into the tails.

    ``pred`` and ``target`` must lie in ``[0, 1]``: other values raise ``ValueError`` on
    eager backends (NumPy, CuPy, PyTorch, array-api-strict) and give NaN under JAX and
    Dask. NaN is not a range error: it gives NaN (PyTorch raises). ``"mean"`` with
    ``weight`` divides by the element count, as PyTorch 2.13 does.

    Args:
        pred: probabilities ``[...]``, real floating, in ``[0, 1]``.
        target: target probabilities (usually 0 or 1), broadcastable with ``pred``.
        weight: per-element weights, broadcast to the loss.
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
        where: boolean mask of the elements to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array (``"sum"``/``"mean"``) or the broadcast shape (``"none"``), in the
        input's dtype.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> al.binary_cross_entropy(np.array([0.5, 0.0]), np.array([1.0, 1.0]), reduction="none").tolist()
        [0.6931471805599453, 100.0]
    """
    problem = prepare(
        BCE,
        {"pred": pred, "target": target},
        xp=xp,
        reduction=reduction,
        weight=weight,
        where=where,
    )
    check_unit_interval(problem, ("pred", "target"), "binary_cross_entropy")
    return problem


@loss_function(BCE_LOGITS)
def binary_cross_entropy_with_logits(
    logits: Array,
    target: Array,
    /,
    *,
    weight: Array | None = None,
    pos_weight: Array | None = None,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Binary cross-entropy of logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    .. math:: \ell_i = (1 - y_i)\,\mathrm{softplus}(x_i) + w^+ y_i\,\mathrm{softplus}(-x_i)

    which is PyTorch's ``(1 - y) x - (1 + (w^+ - 1) y) log_sigmoid(x)`` written so that no
    two terms cancel: finite and exact for logits of +-1000 (PyTorch loses every digit
    of the tiny loss at ``y = 0, x << 0``). Gradients (PyTorch's backward):

    .. math:: \frac{\partial \ell_i}{\partial x_i} = (1 - y_i)\sigma(x_i) - w^+ y_i \sigma(-x_i),
              \qquad \frac{\partial \ell_i}{\partial y_i} =
              w^+ \mathrm{softplus}(-x_i) - \mathrm{softplus}(x_i)

    (``-x`` without ``pos_weight``). ``pos_weight`` broadcasts against the loss, so a
    shape-``(C,)`` array weighs the positives of each class along the last axis, as in
    PyTorch. ``"mean"`` with ``weight`` divides by the element count (PyTorch 2.13).

    Args:
        logits: logits ``[..., C]``, real floating.
        target: target probabilities, broadcastable with ``logits``.
        weight: per-element weights, broadcast to the loss.
        pos_weight: weight of the positive term, broadcast to the loss (usually ``[C]``).
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
        where: boolean mask of the elements to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> x, y = np.array([0.0, 1000.0, -1000.0]), np.array([1.0, 0.0, 0.0])
        >>> al.binary_cross_entropy_with_logits(x, y, reduction="none").tolist()
        [0.6931471805599453, 1000.0, 0.0]
    """
    return prepare(
        BCE_LOGITS,
        {"logits": logits, "target": target, "pos_weight": pos_weight},
        xp=xp,
        reduction=reduction,
        weight=weight,
        where=where,
    )


@loss_function(FOCAL)
def sigmoid_focal_loss(
    logits: Array,
    target: Array,
    /,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Sigmoid focal loss, as ``torchvision.ops.sigmoid_focal_loss`` (Lin et al., 2017).

    .. math:: \ell_i = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{BCE}(x_i, y_i), \quad
              p = \sigma(x_i),\ p_t = p y_i + (1 - p)(1 - y_i),\
              \alpha_t = \alpha y_i + (1 - \alpha)(1 - y_i)

    ``alpha < 0`` disables the ``alpha_t`` factor (torchvision). Computed in log space:
    ``log(1 - p_t)`` is a log-sum-exp of log-sigmoids, and the gradient

    .. math:: \frac{\partial \ell_i}{\partial x_i} = \alpha_t \Bigl[(\sigma(x_i) - y_i)(1 - p_t)^\gamma
              + \gamma (1 - 2 y_i)\,\mathrm{BCE}\;e^{(\gamma - 1)\log(1 - p_t) + \log p + \log(1 - p)}\Bigr]

    is a sum of exponentials of finite numbers, so value and gradient stay finite at
    logits of +-100 (and +-1000) and for ``0 < gamma < 1``, where ``(1 - p_t)**gamma``
    has an infinite derivative at ``p_t = 1`` and torchvision's formula gives NaN.

    Differences from torchvision: the default ``reduction`` is ``"mean"`` (torchvision's
    is ``"none"``), as for every loss here; ``weight`` is per-element and ``"mean"``
    divides by ``sum(weight)``. ``target`` must be in ``[0, 1]`` (soft targets are
    allowed): other values raise ``ValueError`` on eager backends and give NaN under
    JAX and Dask. Differentiable in ``logits``.

    Args:
        logits: logits ``[...]``, real floating.
        target: targets in ``[0, 1]``, broadcastable with ``logits``.
        alpha: weight of the positive class, usually in ``[0, 1]``; ``< 0`` disables it.
        gamma: focusing exponent, ``>= 0`` (0 gives ``alpha_t``-weighted BCE).
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
        weight: per-element weights; ``"mean"`` divides by ``sum(weight)``.
        where: boolean mask of the elements to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> loss = al.sigmoid_focal_loss(np.array([0.0]), np.array([1.0]), reduction="sum")
        >>> round(float(loss), 12)  # 0.25 * 0.5**2 * log 2
        0.043321698785
    """
    check_option("gamma", gamma, lambda g: g >= 0, "a number >= 0")
    problem = prepare(
        FOCAL,
        {"logits": logits, "target": target},
        xp=xp,
        options={"alpha": float(alpha), "gamma": float(gamma)},
        reduction=reduction,
        weight=weight,
        where=where,
    )
    check_unit_interval(problem, ("target",), "sigmoid_focal_loss")
    return problem
