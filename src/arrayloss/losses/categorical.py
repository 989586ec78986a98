"""Keras-style categorical cross-entropies: ``categorical_cross_entropy`` (probability
targets) and ``sparse_categorical_cross_entropy`` (class-index targets).

``from_logits=False`` (the default, as Keras) takes probabilities along ``axis``,
renormalises them to sum 1 and clips them to ``[1e-7, 1 - 1e-7]`` as Keras 3 does;
``from_logits=True`` is the log-sum-exp path of :func:`arrayloss.cross_entropy`.

Reduction follows Keras's ``"sum_over_batch_size"``: ``weight`` is Keras's per-sample
``sample_weight`` (broadcast to the unreduced loss, shape ``pred`` without ``axis``) and
``"mean"`` divides the weighted sum by the number of samples kept by ``where`` (and not
ignored), not by the sum of the weights. When no sample is kept ``"mean"`` is NaN (the
package-wide rule; Keras's ``divide_no_nan`` gives 0).
"""

from __future__ import annotations

from typing import Any

from .._spec import Array, LossSpec, Namespace, kernel_spec, loss_function, prepare
from .._validate import check_option
from ..kernels import categorical as k
from ..kernels.softmax import index_target
from ._class_targets import (
    check_ignore_index,
    class_layout,
    finish_targets,
    used_denominator,
)

__all__ = ["categorical_cross_entropy", "sparse_categorical_cross_entropy"]


def _spec(name: str) -> LossSpec:
    reference = f"keras.losses.{name.replace('cross_entropy', 'crossentropy')}"
    return kernel_spec(
        k,
        name,
        ("pred", "target"),
        reference,
        wrt=("pred",),
        elementwise=False,
        index_args=("target",),
        denominator="count",
    )


CATEGORICAL = _spec("categorical_cross_entropy")
SPARSE_CATEGORICAL = _spec("sparse_categorical_cross_entropy")


def _check_from_logits(from_logits: Any) -> None:
    if not isinstance(from_logits, bool):
        raise TypeError(f"from_logits must be True or False, got {from_logits!r}")


@loss_function(CATEGORICAL)
def categorical_cross_entropy(
    pred: Array,
    target: Array,
    /,
    *,
    from_logits: bool = False,
    axis: int = -1,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Categorical cross-entropy with probability targets, as Keras 3.

    With ``from_logits=False``, ``q = P / sum_c P_c`` and ``r = clip(q, 1e-7, 1 - 1e-7)``
    along ``axis``, and ``t' = (1 - ε) t + ε/C``:

    .. math:: \ell_n = -\sum_c t'_{nc} \log r_{nc}, \qquad
              \frac{\partial \ell_n}{\partial P_{nj}} =
              \frac{u_{nj} - \sum_c u_{nc} q_{nc}}{\sum_c P_{nc}},
              \quad u_{nc} = -\frac{t'_{nc}}{r_{nc}} [10^{-7} \le q_{nc} \le 1 - 10^{-7}]

    (the clip passes no gradient where it is active). With ``from_logits=True`` it is
    :func:`arrayloss.cross_entropy` with probability targets: ``ℓ = -sum_c t'_c log
    softmax(P)_c``, gradient ``softmax(P) sum_c t'_c - t'``.

    Reference: ``keras.losses.categorical_crossentropy`` (Keras 3). Differences: ``ε/C``
    uses ``C`` along ``axis`` (Keras takes the last axis's size whatever ``axis``); with
    logits, a class of zero target mass adds 0 even at a ``-inf`` logit. ``"mean"``
    divides by the number of kept samples (Keras's ``"sum_over_batch_size"``), not by
    ``sum(weight)``.

    Args:
        pred: probabilities (``from_logits=False``) or logits ``[..., C, ...]`` with the
            classes along ``axis``, real floating.
        target: class probabilities (e.g. one-hot) of ``pred``'s shape, floating.
        from_logits: whether ``pred`` holds logits.
        axis: the class axis.
        label_smoothing: ``ε`` in ``[0, 1]``.
        reduction: ``"none"`` (``pred``'s shape without ``axis``), ``"sum"`` or ``"mean"``.
        weight: per-sample weights (Keras ``sample_weight``), broadcastable to the
            unreduced loss.
        where: boolean mask of the samples to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the per-sample losses for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> target = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> round(float(al.categorical_cross_entropy(pred, target)), 12)
        1.176939193691
    """
    _check_from_logits(from_logits)
    check_option("label_smoothing", label_smoothing, lambda v: 0 <= v <= 1, "in [0, 1]")
    ax, loss_shape = class_layout(pred, axis)
    problem = prepare(
        CATEGORICAL,
        {"pred": pred, "target": target},
        xp=xp,
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=loss_shape,
    )
    finish_targets(problem, axis=ax, kinds=("probs",))
    problem.options = {
        "axis": ax,
        "sparse": False,
        "from_logits": from_logits,
        "label_smoothing": float(label_smoothing),
    }
    return problem


@loss_function(SPARSE_CATEGORICAL)
def sparse_categorical_cross_entropy(
    pred: Array,
    target: Array,
    /,
    *,
    from_logits: bool = False,
    axis: int = -1,
    ignore_index: int | None = None,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Categorical cross-entropy with class-index targets, as Keras 3.

    With ``from_logits=False``, ``q = P / sum_c P_c`` and ``r = clip(q, 1e-7, 1 - 1e-7)``:

    .. math:: \ell_n = -\log r_{n y_n}, \qquad
              \frac{\partial \ell_n}{\partial P_{nj}} =
              \frac{u_n ([j = y_n] - q_{n y_n})}{\sum_c P_{nc}},
              \quad u_n = -\frac{[10^{-7} \le q_{n y_n} \le 1 - 10^{-7}]}{r_{n y_n}}

    With ``from_logits=True``: ``ℓ = -log softmax(P)_y``, gradient
    ``softmax(P) - onehot_y``.

    Reference: ``keras.losses.sparse_categorical_crossentropy`` (Keras 3), with
    ``ignore_index`` in the role of Keras's ``ignore_class``: ignored samples have loss
    and gradient 0 and leave the ``"mean"`` denominator. As Keras, a target with a
    trailing axis of size 1 and ``pred``'s rank is squeezed. ``"mean"`` divides by the
    number of kept samples, not by ``sum(weight)``. Labels outside ``[0, C)`` (Keras's
    NumPy backend gives 0 for negative labels) raise ``ValueError`` on eager backends and
    give NaN under JAX and Dask.

    Args:
        pred: probabilities (``from_logits=False``) or logits ``[..., C, ...]`` with the
            classes along ``axis``, real floating.
        target: class indices, an integer array of ``pred``'s shape without ``axis``.
        from_logits: whether ``pred`` holds logits.
        axis: the class axis.
        ignore_index: a class-index value whose samples are skipped, or None.
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
        weight: per-sample weights (Keras ``sample_weight``), broadcastable to the
            unreduced loss.
        where: boolean mask of the samples to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the per-sample losses for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> round(float(al.sparse_categorical_cross_entropy(pred, np.array([1, 2]))), 12)
        1.176939193691
    """
    _check_from_logits(from_logits)
    check_ignore_index(ignore_index, optional=True)
    ax, loss_shape = class_layout(pred, axis)
    problem = prepare(
        SPARSE_CATEGORICAL,
        {"pred": pred, "target": target},
        xp=xp,
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=loss_shape,
    )
    finish_targets(problem, axis=ax, kinds=("index",), ignore_index=ignore_index, squeeze_last=True)
    problem.options = {
        "axis": ax,
        "sparse": True,
        "from_logits": from_logits,
        "ignore_index": ignore_index,
    }
    if ignore_index is not None and reduction == "mean":
        p, t = problem.arrays
        used = index_target(problem.xp, t, p.shape[ax], ignore_index).used
        problem.denominator = used_denominator(problem, used)
    return problem
