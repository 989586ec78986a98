"""Softmax-classification losses on logits: ``cross_entropy``, ``nll_loss``, ``poly1``.

The class axis is ``axis`` (default ``-1``; ``axis=1`` is PyTorch's ``(N, C, d1, ...)``
layout) and any number of other axes are samples: the unreduced loss has the
prediction's shape without ``axis``. Targets are class indices (integer, that reduced
shape) or class probabilities (floating, the prediction's shape); float labels of the
reduced shape are a ``TypeError``. Labels outside ``[0, C)`` other than ``ignore_index``
raise ``ValueError`` on eager backends (NumPy, CuPy, PyTorch, array-api-strict) and give a
NaN loss under JAX and Dask.

``where`` masks samples (it broadcasts to the unreduced loss): a masked-out sample leaves
both the numerator and the denominator of ``"mean"`` and comes back as 0, with a zero
gradient, under ``"none"``.
"""

from __future__ import annotations

import math
from typing import Any

from .._spec import Array, LossSpec, Namespace, Problem, kernel_spec, loss_function, prepare
from .._validate import check_option
from ..kernels import softmax as k
from ._class_targets import (
    check_ignore_index,
    class_layout,
    class_vector,
    finish_targets,
    used_denominator,
)

__all__ = ["cross_entropy", "nll_loss", "poly1_cross_entropy"]


def _spec(name: str, first: str, reference: str) -> LossSpec:
    return kernel_spec(
        k,
        name,
        (first, "target"),
        reference,
        wrt=(first,),
        elementwise=False,
        index_args=("target",),
    )


CROSS_ENTROPY = _spec("cross_entropy", "logits", "torch.nn.functional.cross_entropy")
NLL_LOSS = _spec("nll_loss", "input", "torch.nn.functional.nll_loss")
POLY1 = _spec("poly1_cross_entropy", "logits", "optax.losses.poly_loss_cross_entropy")


def _class_weight_denominator(problem: Problem, ignore_index: int, class_weight: Array) -> Array:
    """PyTorch's ``"mean"`` denominator: ``sum w[y]`` over kept, non-ignored samples."""
    xp = problem.xp
    pred, target = problem.arrays
    n = pred.shape[problem.options["axis"]]
    tgt = k.index_target(xp, target, n, ignore_index)
    w_y = None if class_weight is None else k.gather(xp, class_weight, tgt.safe)
    return used_denominator(problem, tgt.used, w_y)


@loss_function(CROSS_ENTROPY)
def cross_entropy(
    logits: Array,
    target: Array,
    /,
    *,
    axis: int = -1,
    weight: Array | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Softmax cross-entropy, as ``torch.nn.functional.cross_entropy`` with all its options.

    With ``x = logits / T``, ``p = softmax(x)`` along ``axis``, per-class weights ``w``
    (1 when absent) and label smoothing ``ε``, for class-index targets ``y``:

    .. math:: \ell_n = (1-\varepsilon)\, w_{y_n} (-\log p_{n y_n})
              + \frac{\varepsilon}{C} \sum_c w_c (-\log p_{nc}),

    .. math:: \frac{\partial \ell_n}{\partial\, \mathrm{logits}_{nj}} = \frac{1}{T}
              \Bigl[(1-\varepsilon) w_{y_n} (p_{nj} - [j = y_n])
              + \frac{\varepsilon}{C} \Bigl(p_{nj} \sum_c w_c - w_j\Bigr)\Bigr],

    and for class-probability targets ``t`` (smoothed to ``t' = (1-ε) t + ε/C``):

    .. math:: \ell_n = -\sum_c w_c t'_{nc} \log p_{nc}, \qquad
              \frac{\partial \ell_n}{\partial\, \mathrm{logits}_{nj}} = \frac{1}{T}
              \Bigl(p_{nj} \sum_c w_c t'_{nc} - w_j t'_{nj}\Bigr).

    Reference: PyTorch 2.13, values and gradients to float64 round-off, including
    its denominators. ``"mean"`` with class-index targets divides by
    ``sum_n w[y_n]`` over the samples that are neither ignored nor masked out (the
    smoothing term too); when there are none it is NaN (``"sum"`` is 0) and the
    gradient is 0. ``"mean"`` with probability targets divides by the number of
    samples, whatever the weights. A sample whose target is ``ignore_index`` has loss
    0 and gradient 0. The integer path's value gathers the target logit
    (``take_along_axis``) instead of building a one-hot of the logits' size (Dask, which
    lacks it, compares with ``arange``); the generic gradient subtracts at the target
    with a ``where`` on that comparison, since the array API has no scatter.

    ``-inf`` logits: with class-index targets the loss and gradient stay finite while
    the target's logit is finite (as PyTorch). With probability targets a class with
    exactly zero mass adds 0 even at a ``-inf`` logit (``0 log 0 = 0``), and positive
    mass on a ``-inf`` logit gives ``+inf``; PyTorch gives NaN for both.

    Args:
        logits: unnormalised scores ``[..., C, ...]`` with the classes along ``axis``,
            real floating.
        target: class indices, an integer array of ``logits``' shape without ``axis``;
            or class probabilities, a floating array of ``logits``' shape (cast to the
            logits' dtype).
        axis: the class axis (``1`` for PyTorch's ``(N, C, d1, ...)`` layout).
        weight: per-class weights ``[C]`` (PyTorch's ``weight``).
        ignore_index: a class-index value whose samples are skipped (index targets).
        label_smoothing: ``ε`` in ``[0, 1]``.
        temperature: ``T > 0``; the loss of ``softmax(logits / T)``, differentiated with
            respect to ``logits``.
        reduction: ``"none"`` (the shape of ``logits`` without ``axis``), ``"sum"`` or
            ``"mean"``.
        where: boolean mask of the samples to keep, broadcastable to the unreduced loss.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array (``"sum"``/``"mean"``) or the per-sample losses (``"none"``), in the
        logits' dtype. Out-of-range labels raise ``ValueError`` on eager backends and
        give NaN under JAX and Dask.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
        >>> round(float(al.cross_entropy(logits, np.array([0, 1]))), 12)
        0.396378005295
        >>> w = np.array([1.0, 2.0, 3.0])
        >>> loss = al.cross_entropy(logits, np.array([0, 2]), weight=w, label_smoothing=0.1)
        >>> round(float(loss), 12)
        1.274491357515
    """
    check_option("label_smoothing", label_smoothing, lambda v: 0 <= v <= 1, "in [0, 1]")
    check_option("temperature", temperature, lambda v: 0 < v < math.inf, "a finite number > 0")
    check_ignore_index(ignore_index)
    ax, loss_shape = class_layout(logits, axis)
    problem = prepare(
        CROSS_ENTROPY,
        {"logits": logits, "target": target},
        xp=xp,
        reduction=reduction,
        where=where,
        loss_shape=loss_shape,
    )
    sparse = finish_targets(problem, axis=ax, ignore_index=ignore_index)
    class_weight = class_vector(problem, weight, "weight", axis=ax)
    options: dict[str, Any] = {
        "axis": ax,
        "sparse": sparse,
        "label_smoothing": float(label_smoothing),
        "temperature": float(temperature),
    }
    if sparse:
        options["ignore_index"] = ignore_index
    if class_weight is not None:
        options["class_weight"] = class_weight
    problem.options = options
    if sparse and reduction == "mean":
        problem.denominator = _class_weight_denominator(problem, ignore_index, class_weight)
    return problem


@loss_function(NLL_LOSS)
def nll_loss(
    input: Array,
    target: Array,
    /,
    *,
    axis: int = -1,
    weight: Array | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Negative log-likelihood of log-probabilities, as ``torch.nn.functional.nll_loss``.

    .. math:: \ell_n = -w_{y_n}\, \mathrm{input}_{n y_n}, \qquad
              \frac{\partial \ell_n}{\partial\, \mathrm{input}_{nj}} = -w_{y_n} [j = y_n]

    ``input`` is typically ``log_softmax(logits)``; it is not checked to be one.
    Reference: PyTorch 2.13. ``"mean"`` divides by ``sum_n w[y_n]`` over the samples
    that are neither ignored nor masked out (NaN when there are none, with gradient 0;
    ``"sum"`` is then 0). Samples whose target is ``ignore_index`` have loss and
    gradient 0.

    Args:
        input: log-probabilities ``[..., C, ...]`` with the classes along ``axis``, real
            floating.
        target: class indices, an integer array of ``input``'s shape without ``axis``.
        axis: the class axis (``1`` for PyTorch's ``(N, C, d1, ...)`` layout).
        weight: per-class weights ``[C]``.
        ignore_index: a class-index value whose samples are skipped.
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
        where: boolean mask of the samples to keep, broadcastable to the unreduced loss.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the per-sample losses for ``"none"``. Out-of-range labels raise
        ``ValueError`` on eager backends and give NaN under JAX and Dask.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> logp = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]))
        >>> round(float(al.nll_loss(logp, np.array([0, 1]))), 12)
        0.289909247626
    """
    check_ignore_index(ignore_index)
    ax, loss_shape = class_layout(input, axis)
    problem = prepare(
        NLL_LOSS,
        {"input": input, "target": target},
        xp=xp,
        reduction=reduction,
        where=where,
        loss_shape=loss_shape,
    )
    finish_targets(problem, axis=ax, kinds=("index",), ignore_index=ignore_index)
    class_weight = class_vector(problem, weight, "weight", axis=ax)
    problem.options = {"axis": ax, "ignore_index": ignore_index}
    if class_weight is not None:
        problem.options["class_weight"] = class_weight
    if reduction == "mean":
        problem.denominator = _class_weight_denominator(problem, ignore_index, class_weight)
    return problem


@loss_function(POLY1)
def poly1_cross_entropy(
    logits: Array,
    target: Array,
    /,
    *,
    epsilon: float = 2.0,
    axis: int = -1,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Poly-1 cross-entropy (Leng et al. 2022), as ``optax.poly_loss_cross_entropy``.

    .. math:: \ell_n = -\sum_c t_{nc} \log p_{nc} + \epsilon \sum_c t_{nc} (1 - p_{nc}),

    .. math:: \frac{\partial \ell_n}{\partial\, \mathrm{logits}_{nj}} =
              p_{nj} \Bigl(\sum_c t_{nc} + \epsilon \sum_c t_{nc} p_{nc}\Bigr)
              - t_{nj} (1 + \epsilon p_{nj})

    with ``p = softmax(logits)`` along ``axis``. Class-index targets ``y`` are the
    one-hot case: ``ℓ = -log p_y + ε (1 - p_y)`` with gradient
    ``(1 + ε p_y)(p - onehot_y)``. Reference: optax (values and gradients to float64
    round-off). optax's ``where`` masks classes; ours masks samples. A class with zero
    target mass adds 0 even at a ``-inf`` logit.

    Args:
        logits: unnormalised scores ``[..., C, ...]``, real floating.
        target: class probabilities of ``logits``' shape (floating), or class indices of
            ``logits``' shape without ``axis`` (integer).
        epsilon: the coefficient of the first polynomial term (2 for ImageNet in the
            paper, -1 for detection).
        axis: the class axis.
        reduction: ``"none"`` (per sample), ``"sum"`` or ``"mean"``.
        weight: per-sample weights broadcastable to the unreduced loss; ``"mean"``
            divides by ``sum(weight)`` over kept samples.
        where: boolean mask of the samples to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the per-sample losses for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
        >>> round(float(al.poly1_cross_entropy(logits, np.array([0, 1]))), 12)
        1.034664085939
    """
    check_option("epsilon", epsilon, lambda v: math.isfinite(v), "a finite number")
    ax, loss_shape = class_layout(logits, axis)
    problem = prepare(
        POLY1,
        {"logits": logits, "target": target},
        xp=xp,
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=loss_shape,
    )
    sparse = finish_targets(problem, axis=ax)
    problem.options = {"axis": ax, "sparse": sparse, "epsilon": float(epsilon)}
    return problem
