"""Distribution losses: the public functions (docstrings, validation, dispatch).

``kl_div`` is element-wise (PyTorch's pointwise KL term; ``"batchmean"`` gives the
divergence per sample). ``js_div`` and ``cosine_similarity_loss`` compare vectors along
``axis`` and give one value per vector; their ``weight`` and ``where`` broadcast to that
per-vector loss and ``"mean"`` divides by ``sum(weight)`` (PyTorch has no weight here).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._spec import Array, LossSpec, Namespace, kernel_spec, loss_function, prepare
from .._validate import check_option, check_values, first_bad_value, values_checkable
from ..kernels import distribution as k
from ._axis import axis_shapes

__all__ = ["cosine_similarity_loss", "js_div", "kl_div"]


def _spec(name: str, args: tuple[str, ...], reference: str, **fields: Any) -> LossSpec:
    return kernel_spec(k, name, args, reference, **fields)


KL_DIV = _spec(
    "kl_div",
    ("input", "target"),
    "torch.nn.functional.kl_div",
    reductions=("none", "sum", "mean", "batchmean"),
)
JS_DIV = _spec(
    "js_div",
    ("pred", "target"),
    "scipy.spatial.distance.jensenshannon (squared, natural log)",
    elementwise=False,
)
COSINE = _spec(
    "cosine_similarity_loss", ("pred", "target"), "optax.losses.cosine_distance", elementwise=False
)


@loss_function(KL_DIV)
def kl_div(
    input: Array,
    target: Array,
    /,
    *,
    log_target: bool = False,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Kullback-Leibler divergence, as ``torch.nn.functional.kl_div`` (same argument order).

    ``input`` holds log-probabilities :math:`\log q`, ``target`` probabilities :math:`p`
    (or log-probabilities with ``log_target=True``); the pointwise loss is

    .. math:: \ell_i = p_i (\log p_i - \log q_i) \quad (0 \text{ where } p_i = 0), \qquad
              \ell_i = e^{t_i} (t_i - \log q_i) \ \text{with log\_target}

    Gradients: :math:`\partial \ell / \partial \log q = -p` (:math:`-e^{t}`) and
    :math:`\partial \ell / \partial p = \log p + 1 - \log q`
    (:math:`e^{t}(t - \log q + 1)`). At ``p = 0`` the target gradient drops the log term
    (``1 - log q``), as the gradient of PyTorch's ``xlogy`` does; PyTorch's own result
    there is NaN. A negative target gives NaN, as PyTorch.

    Reductions: ``"batchmean"`` divides the sum by the batch size ``input.shape[0]`` (the
    true KL divergence per sample, PyTorch's recommendation); ``"mean"`` divides by the
    element count (PyTorch's default, with its warning left out). ``weight`` is
    per-element; ``"mean"`` with ``weight`` divides by ``sum(weight)`` and
    ``"batchmean"`` by the batch size.

    Args:
        input: log-probabilities ``[N, ...]``, real floating.
        target: probabilities (or log-probabilities), broadcastable with ``input``.
        log_target: whether ``target`` holds log-probabilities.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"batchmean"``.
        weight: per-element weights.
        where: boolean mask of the elements to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> p = np.array([[0.5, 0.5]]); log_q = np.log(np.array([[0.25, 0.75]]))
        >>> round(float(al.kl_div(log_q, p, reduction="batchmean")), 12)
        0.143841036226
    """
    return prepare(
        KL_DIV,
        {"input": input, "target": target},
        xp=xp,
        options={"log_target": bool(log_target)},
        reduction=reduction,
        weight=weight,
        where=where,
    )


@loss_function(JS_DIV)
def js_div(
    pred: Array,
    target: Array,
    /,
    *,
    axis: int = -1,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Jensen-Shannon divergence (natural log) between distributions along ``axis``.

    The square of ``scipy.spatial.distance.jensenshannon(pred, target, axis=axis)``
    (natural log), including scipy's normalisation of each vector to sum 1:

    .. math:: P = \frac{p}{\sum p},\ Q = \frac{q}{\sum q},\ M = \frac{P + Q}{2}, \qquad
              \mathrm{JS} = \tfrac12 \sum_i P_i \log\frac{P_i}{M_i}
              + \tfrac12 \sum_i Q_i \log\frac{Q_i}{M_i}

    with :math:`0 \log 0 = 0`; it lies in :math:`[0, \log 2]`. PyTorch and optax have no
    JS divergence. Gradient (for ``pred``; symmetric for ``target``):

    .. math:: g_i = \tfrac12 \log\frac{P_i}{M_i}, \qquad
              \frac{\partial\, \mathrm{JS}}{\partial p_j} = \frac{g_j - \sum_i g_i P_i}{\sum p}

    Where a normalised entry is 0 the derivative is :math:`-\infty`; the table takes its
    log term as 0 there, so gradients stay finite. Negative entries raise
    ``ValueError`` on eager backends and give NaN under JAX and Dask; an all-zero
    vector gives NaN (as scipy). ``"mean"`` with ``weight`` divides by ``sum(weight)``.

    Args:
        pred: non-negative weights of a distribution ``[..., C]`` (classes on ``axis``).
        target: the other distribution, broadcastable with ``pred``.
        axis: the axis holding the distribution.
        reduction: ``"none"`` (one value per vector), ``"sum"`` or ``"mean"``.
        weight: weights per vector, broadcast to the shape without ``axis``.
        where: boolean mask of the vectors to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the broadcast shape without ``axis`` for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> round(float(al.js_div(np.array([1.0, 0.0]), np.array([0.0, 1.0]))), 12)  # log 2
        0.69314718056
    """
    _, position, loss_shape = axis_shapes([("pred", pred), ("target", target)], axis)
    problem = prepare(
        JS_DIV,
        {"pred": pred, "target": target},
        xp=xp,
        options={"axis": position},
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=loss_shape,
    )
    namespace = problem.xp
    for name in ("pred", "target"):
        x = problem.array(name)
        if values_checkable(namespace, x):
            _check_non_negative(namespace, name, x)
    return problem


def _check_non_negative(namespace: ModuleType, name: str, x: Array) -> None:
    bad = x < 0
    check_values(
        namespace,
        bad,
        lambda: (
            f"{name} has a negative entry {first_bad_value(namespace, x, bad)}; "
            "js_div takes non-negative distributions"
        ),
    )


@loss_function(COSINE)
def cosine_similarity_loss(
    pred: Array,
    target: Array,
    /,
    *,
    axis: int = -1,
    eps: float = 1e-8,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Cosine distance ``1 - cos(pred, target)`` along ``axis``, as ``optax.losses.cosine_distance``.

    .. math:: \ell = 1 - \frac{\langle a, b\rangle}{\|a\|_\epsilon \|b\|_\epsilon}, \qquad
              \|a\|_\epsilon = \sqrt{\max(\textstyle\sum_i a_i^2,\ \epsilon)}

    ``eps`` floors the *squared* norm, as optax's ``epsilon`` (and Keras's
    ``l2_normalize``, with 1e-12); PyTorch's ``F.cosine_similarity`` floors the norm
    itself, so the two agree whenever both norms exceed ``max(eps, sqrt(eps))``.
    Keras's ``cosine_similarity`` loss is the negative similarity, ``-cos``, which is
    ``cosine_similarity_loss(..., eps=1e-12) - 1``. Gradient:

    .. math:: \frac{\partial \ell}{\partial a} = \frac{\cos\, a}{\|a\|^2}
              [\textstyle\sum a_i^2 > \epsilon] - \frac{b}{\|a\|_\epsilon \|b\|_\epsilon}

    Below the floor the norm is the constant ``sqrt(eps)``, so the gradient at a zero
    vector is finite (``-b / (sqrt(eps) |b|)``, zero when both vectors are zero).
    ``"mean"`` with ``weight`` divides by ``sum(weight)``.

    Args:
        pred: vectors ``[..., D]`` (features on ``axis``), real floating.
        target: vectors broadcastable with ``pred``.
        axis: the feature axis.
        eps: floor of the squared norms, ``> 0``.
        reduction: ``"none"`` (one value per vector), ``"sum"`` or ``"mean"``.
        weight: weights per vector, broadcast to the shape without ``axis``.
        where: boolean mask of the vectors to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the broadcast shape without ``axis`` for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
        >>> b = np.array([[0.0, 1.0], [2.0, 2.0], [1.0, 1.0]])
        >>> al.cosine_similarity_loss(a, b, reduction="none").round(12).tolist()
        [1.0, 0.0, 1.0]
    """
    check_option("eps", eps, lambda e: e > 0, "a number > 0")
    _, position, loss_shape = axis_shapes([("pred", pred), ("target", target)], axis)
    return prepare(
        COSINE,
        {"pred": pred, "target": target},
        xp=xp,
        options={"axis": position, "eps": float(eps)},
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=loss_shape,
    )
