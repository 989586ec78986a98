"""Segmentation losses: overlap scores of probability maps, per sample and class.

``pred`` holds class probabilities (or logits with ``from_logits=True``) with the batch
on axis 0 and the ``C`` channels on ``axis`` (default ``-1``, channels-last; ``axis=1``
for MONAI / PyTorch's ``(N, C, *spatial)``); every other axis is spatial. ``target`` is
either an integer class map (``pred``'s shape without ``axis``; with one channel, a
binary 0/1 map) or a one-hot / soft target of ``pred``'s shape.

Reduction order: the overlap sums run over the spatial axes, per sample and class, and
give one loss value per ``(sample, class)``, shape ``(N, C)`` (``generalized_dice``:
one per sample, ``(N,)``); ``reduction="none"`` returns these, ``"sum"`` their sum and
``"mean"`` their mean. ``weight`` is per class, ``(C,)``, multiplying the per-class
values (or anything broadcastable to ``(N, C)``); ``"mean"`` divides by the *count* of values (``N * C``, or the kept count with
``where``), not by the sum of the weights: MONAI's ``DiceLoss(weight=...)`` and optax's
``dice_loss(class_weights=...)`` both take the plain mean of the weighted values.
(MONAI ignores ``weight`` when a single class is left - one channel, or two without
the background; here it always multiplies.)

Semantics follow MONAI (``DiceLoss``, ``TverskyLoss``, ``GeneralizedDiceLoss``, with
``smooth_nr``/``smooth_dr``), with ``ignore_index`` as segmentation_models_pytorch
(pixels whose target equals it leave both prediction and target, and get a zero
gradient). DESIGN.md section 3a.
"""

from __future__ import annotations

from .._spec import Array, LossSpec, Namespace, kernel_spec, loss_function
from .._validate import check_option
from ..kernels import segmentation as k
from ._overlap import overlap_problem

__all__ = ["dice", "generalized_dice", "jaccard", "tversky"]


def _spec(name: str, reference: str) -> LossSpec:
    return kernel_spec(
        k, name, ("pred", "target"), reference, elementwise=False, denominator="count"
    )


DICE = _spec("dice", "monai.losses.DiceLoss")
JACCARD = _spec("jaccard", "monai.losses.DiceLoss(jaccard=True)")
TVERSKY = _spec("tversky", "monai.losses.TverskyLoss")
GENERALIZED_DICE = _spec("generalized_dice", "monai.losses.GeneralizedDiceLoss")


@loss_function(DICE)
def dice(
    pred: Array,
    target: Array,
    /,
    *,
    axis: int = -1,
    from_logits: bool = False,
    multilabel: bool = False,
    include_background: bool = True,
    weight: Array | None = None,
    ignore_index: int | None = None,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Soft Dice loss per sample and class, as MONAI's ``DiceLoss``.

    .. math:: \ell_{nc} = 1 - \frac{2 I_{nc} + s_{nr}}{P_{nc} + T_{nc} + s_{dr}}, \quad
              I = \sum_x m\,p\,t,\ P = \sum_x m\,p,\ T = \sum_x m\,t

    over the spatial positions ``x`` of sample ``n``, class ``c`` (``m``: 0 where the
    target is ``ignore_index``). Gradient:
    :math:`\partial \ell_{nc} / \partial p_{nxc} = m\,(-2 t / D + N / D^2)` with ``N``,
    ``D`` the numerator and denominator, chained through the sigmoid / softmax when
    ``from_logits``; for soft (floating) targets also
    :math:`\partial \ell_{nc} / \partial t_{nxc} = m\,(-2 p / D + N / D^2)`.

    Reference: MONAI's ``DiceLoss`` with ``smooth_nr``, ``smooth_dr``, ``weight``,
    ``include_background``, ``sigmoid`` / ``softmax`` / ``to_onehot_y`` and the default
    ``soft_label=False``; its ``reduction="none"`` squeezed to ``(N, C)``.
    optax's ``dice_loss(smooth=s)`` (``alpha = beta = 0.5``, ``apply_softmax``) is
    ``dice(..., from_logits=True, smooth_nr=2 * s, smooth_dr=2 * s)`` per sample and
    class (optax's ``"mean"`` averages the classes of each sample; the mean of that is
    our ``"mean"``; ``class_weights`` is ``weight``, ``ignore_background`` is
    ``include_background=False``). ``ignore_index`` follows segmentation_models_pytorch.

    Args:
        pred: probabilities, or logits with ``from_logits=True``; ``[N, *spatial, C]``
            (channels on ``axis``), real floating.
        target: integer class map ``[N, *spatial]`` (``pred``'s shape without ``axis``;
            with ``C = 1`` a binary 0/1 map), or one-hot / soft targets of ``pred``'s
            shape (usually in ``[0, 1]``; not range-checked, as PyTorch's probability
            targets).
        axis: the channel axis (not 0, the batch axis); ``axis=1`` for ``(N, C, ...)``.
        from_logits: apply a sigmoid (one channel) or a softmax over ``axis`` (several).
        multilabel: with ``from_logits``, a sigmoid on each channel instead of a softmax.
        include_background: ``False`` drops channel 0 after the activation (MONAI);
            no effect with one channel (as MONAI).
        weight: per-class weights ``[C]`` multiplying the per-class values, or any
            weights broadcastable to the ``[N, C]`` values; without the background a
            last axis of length ``C`` loses entry 0 (``[C - 1]`` is accepted too).
            ``"mean"`` divides by the count, not by ``sum(weight)`` (MONAI, optax).
        ignore_index: target value whose pixels leave both prediction and target
            (for one-hot / soft targets, per element) and get a zero gradient.
        smooth_nr: added to the numerator, ``>= 0``.
        smooth_dr: added to the denominator, ``>= 0``.
        reduction: ``"none"`` (``[N, C]``), ``"sum"`` or ``"mean"``.
        where: boolean mask broadcastable to ``[N, C]`` of the values to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or ``[N, C]`` (``[N, C - 1]`` without the background) for
        ``"none"``, in ``pred``'s dtype. Probabilities outside ``[0, 1]`` and labels out
        of range raise ``ValueError`` on eager backends and give NaN under JAX and Dask.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> pred = np.array([[[0.9, 0.1], [0.2, 0.8]]])  # one sample, two pixels, C = 2
        >>> al.dice(pred, np.array([[0, 1]]), reduction="none").round(6).tolist()
        [[0.142856, 0.157894]]
    """
    return overlap_problem(
        DICE, pred, target, axis=axis, from_logits=from_logits, multilabel=multilabel,
        include_background=include_background, weight=weight, ignore_index=ignore_index,
        smooth_nr=smooth_nr, smooth_dr=smooth_dr, reduction=reduction, where=where, xp=xp,
    )  # fmt: skip


@loss_function(JACCARD)
def jaccard(
    pred: Array,
    target: Array,
    /,
    *,
    axis: int = -1,
    from_logits: bool = False,
    multilabel: bool = False,
    include_background: bool = True,
    weight: Array | None = None,
    ignore_index: int | None = None,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Soft Jaccard (IoU) loss per sample and class, as MONAI's ``DiceLoss(jaccard=True)``.

    .. math:: \ell_{nc} = 1 - \frac{2 I_{nc} + s_{nr}}{2 (P_{nc} + T_{nc} - I_{nc}) + s_{dr}}

    with ``I``, ``P``, ``T`` as :func:`dice` (MONAI doubles both terms, so the
    smoothing acts as ``s / 2`` on ``I / U``; segmentation_models_pytorch's
    ``JaccardLoss(smooth=s)`` is ``smooth_nr = smooth_dr = 2 * s`` without its ``eps``
    clamp). Gradient, with ``N``, ``D`` the numerator and denominator:
    :math:`\partial \ell / \partial p = m\,(-2 t / D - 2 N t / D^2 + 2 N / D^2)`, and the
    same with ``p`` for ``t`` for soft targets.

    Args:
        pred, target, axis, from_logits, multilabel: as :func:`dice`.
        include_background, weight, ignore_index: as :func:`dice`.
        smooth_nr, smooth_dr, reduction, where, xp: as :func:`dice`.

    Returns:
        A 0-d array, or ``[N, C]`` for ``"none"`` (``"mean"`` divides by the count).

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> pred = np.array([[[0.9, 0.1], [0.2, 0.8]]])
        >>> al.jaccard(pred, np.array([[0, 1]]), reduction="none").round(6).tolist()
        [[0.249999, 0.272726]]
    """
    return overlap_problem(
        JACCARD, pred, target, axis=axis, from_logits=from_logits, multilabel=multilabel,
        include_background=include_background, weight=weight, ignore_index=ignore_index,
        smooth_nr=smooth_nr, smooth_dr=smooth_dr, reduction=reduction, where=where, xp=xp,
    )  # fmt: skip


@loss_function(TVERSKY)
def tversky(
    pred: Array,
    target: Array,
    /,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
    axis: int = -1,
    from_logits: bool = False,
    multilabel: bool = False,
    include_background: bool = True,
    weight: Array | None = None,
    ignore_index: int | None = None,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""(Focal) Tversky loss per sample and class, as MONAI's ``TverskyLoss``.

    .. math:: \mathrm{TI}_{nc} = \frac{I + s_{nr}}{I + \alpha (P - I) + \beta (T - I) + s_{dr}},
              \qquad \ell_{nc} = (1 - \mathrm{TI}_{nc})^{\gamma}

    with ``I``, ``P``, ``T`` as :func:`dice` (``P - I`` the false positives, ``T - I``
    the false negatives). ``gamma = 1`` is MONAI's ``TverskyLoss(alpha, beta)``;
    ``gamma != 1`` is the focal Tversky loss applied per sample and class (the paper's
    exponent ``1/gamma``; segmentation_models_pytorch applies it after the class mean).
    optax's ``dice_loss(alpha=a, beta=b, smooth=s)`` is
    ``tversky(alpha=a, beta=b, smooth_nr=s, smooth_dr=s, from_logits=True)``.
    Gradient, with ``N``, ``D`` the numerator and denominator of TI:

    .. math:: \frac{\partial \ell}{\partial p} = -\gamma (1 - \mathrm{TI})^{\gamma - 1}
              m\,\Bigl(\frac{t}{D} - (1 - \alpha - \beta) \frac{N t}{D^2} -
              \alpha \frac{N}{D^2}\Bigr)

    At a perfect score (``TI = 1``) with ``gamma < 1``, where it is infinite, it is
    taken as 0. Soft targets also get a gradient.

    Args:
        pred, target: as :func:`dice`.
        alpha: weight of the false positives, ``>= 0``.
        beta: weight of the false negatives, ``>= 0``.
        gamma: the focal exponent, ``> 0``.
        axis, from_logits, multilabel, include_background: as :func:`dice`.
        weight, ignore_index, smooth_nr, smooth_dr: as :func:`dice`.
        reduction, where, xp: as :func:`dice`.

    Returns:
        A 0-d array, or ``[N, C]`` for ``"none"`` (``"mean"`` divides by the count).

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> pred = np.array([[[0.9, 0.1], [0.2, 0.8]]])
        >>> al.tversky(pred, np.array([[0, 1]]), alpha=0.3, beta=0.7,
        ...            reduction="none").round(6).tolist()
        [[0.126212, 0.175256]]
    """
    check_option("alpha", alpha, lambda v: v >= 0, "a number >= 0")
    check_option("beta", beta, lambda v: v >= 0, "a number >= 0")
    check_option("gamma", gamma, lambda v: v > 0, "a number > 0")
    return overlap_problem(
        TVERSKY, pred, target, axis=axis, from_logits=from_logits, multilabel=multilabel,
        include_background=include_background, weight=weight, ignore_index=ignore_index,
        smooth_nr=smooth_nr, smooth_dr=smooth_dr, reduction=reduction, where=where, xp=xp,
        alpha=float(alpha), beta=float(beta), gamma=float(gamma),
    )  # fmt: skip


@loss_function(GENERALIZED_DICE)
def generalized_dice(
    pred: Array,
    target: Array,
    /,
    *,
    axis: int = -1,
    from_logits: bool = False,
    multilabel: bool = False,
    include_background: bool = True,
    weight: Array | None = None,
    ignore_index: int | None = None,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Generalized Dice loss per sample, as MONAI's ``GeneralizedDiceLoss``.

    .. math:: \ell_n = 1 - \frac{2 \sum_c w_{nc} I_{nc} + s_{nr}}
              {\sum_c w_{nc} (P_{nc} + T_{nc}) + s_{dr}}, \qquad
              w_{nc} = \frac{\omega_c}{T_{nc}^2}

    with ``I``, ``P``, ``T`` as :func:`dice` and MONAI's ``w_type="square"``: a class
    absent from sample ``n`` (``1 / T**2`` infinite) takes the largest finite weight of
    that sample (all absent: all weights 0, so ``ell = 1 - s_nr / s_dr``). ``omega`` is
    ``weight`` (default 1), an extra per-class factor (MONAI has none). The volume
    weights are constants for the gradient, as in MONAI (they depend on the target only):
    :math:`\partial \ell_n / \partial p_{nxc} = m\,w_{nc} (-2 t / D + N / D^2)`, chained
    through the activation. There is no gradient with respect to ``target``. optax's
    ``multiclass_generalized_dice_loss`` (batch-wide normalised weights) differs.

    Args:
        pred, target, axis, from_logits, multilabel: as :func:`dice`.
        include_background, ignore_index, smooth_nr, smooth_dr, xp: as :func:`dice`.
        weight: per-class factors ``[C]`` (or ``[C - 1]`` without the background) on
            the volume weights.
        reduction: ``"none"`` (``[N]``), ``"sum"`` or ``"mean"`` (over samples).
        where: boolean mask broadcastable to ``[N]``.

    Returns:
        A 0-d array, or ``[N]`` for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> pred = np.array([[[0.9, 0.1], [0.2, 0.8]]])
        >>> al.generalized_dice(pred, np.array([[0, 1]]), reduction="none").round(6).tolist()
        [0.15]
    """
    return overlap_problem(
        GENERALIZED_DICE, pred, target, axis=axis, from_logits=from_logits,
        multilabel=multilabel, include_background=include_background, weight=weight,
        ignore_index=ignore_index, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
        reduction=reduction, where=where, xp=xp,
    )  # fmt: skip
