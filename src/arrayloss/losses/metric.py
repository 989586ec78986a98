"""Metric-learning losses: the public functions (docstrings, validation, dispatch).

Embeddings are ``[..., D]`` with the feature axis last. The arrays broadcast together
and the unreduced loss is per sample: their broadcast shape without the feature axis
(``ntxent``: one value per anchor, ``[N]``). ``target`` broadcasts to that shape.

Common keyword arguments (DESIGN.md section 3):

* ``reduction``: ``"none"`` (per sample), ``"sum"`` or ``"mean"`` (default).
* ``weight``: per-sample weights broadcast to the unreduced loss (PyTorch has none for
  these losses); ``"mean"`` divides by ``sum(weight)`` (``ntxent``: by the weighted
  number of positive pairs).
* ``where``: boolean mask of the samples to keep; masked-out samples leave numerator and
  denominator, and come back as 0 (with zero gradient) under ``"none"``.
* ``xp``: the array namespace, a backend name or ``"auto"`` (default: the inputs').
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._spec import Array, LossSpec, Namespace, kernel_spec, loss_function, prepare
from .._validate import (
    broadcast_shapes,
    check_integer,
    check_option,
    check_values,
    first_bad_value,
    values_checkable,
)
from ..kernels import metric as k

__all__ = ["contrastive", "cosine_embedding", "ntxent", "triplet_margin"]


def _spec(name: str, args: tuple[str, ...], reference: str, **fields: Any) -> LossSpec:
    return kernel_spec(k, name, args, reference, elementwise=False, **fields)


CONTRASTIVE = _spec(
    "contrastive", ("x1", "x2", "target"), "Hadsell et al. 2006 (NumPy formula, no 1/2)"
)
TRIPLET_MARGIN = _spec(
    "triplet_margin",
    ("anchor", "positive", "negative"),
    "torch.nn.functional.triplet_margin_loss",
)
COSINE_EMBEDDING = _spec(
    "cosine_embedding", ("x1", "x2", "target"), "torch.nn.functional.cosine_embedding_loss"
)
NTXENT = _spec("ntxent", ("embeddings", "labels"), "optax.losses.ntxent", index_args=("labels",))


def _shape(x: Array) -> tuple[Any, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def _per_sample_shape(embeddings: dict[str, Array], target: Array = None) -> tuple[Any, ...]:
    """The broadcast shape of ``embeddings`` without the feature axis; ``target`` must
    broadcast to it."""
    named = []
    for name, a in embeddings.items():
        shape = _shape(a)
        if not shape:
            raise ValueError(f"{name} has shape (); it must have a feature axis (the last axis)")
        named.append((name, shape))
    full = broadcast_shapes(*named)
    loss_shape = full[:-1]
    if target is not None:
        t_shape = _shape(target)
        merged = broadcast_shapes(("the per-sample loss", loss_shape), ("target", t_shape))
        if len(merged) != len(loss_shape) or any(
            isinstance(a, int) and isinstance(b, int) and a != b
            for a, b in zip(merged, loss_shape, strict=True)
        ):
            raise ValueError(
                f"target has shape {t_shape} but the per-sample loss has shape "
                f"{loss_shape} (the inputs' broadcast shape {full} without the feature "
                "axis); target must broadcast to it"
            )
    return loss_shape


@loss_function(CONTRASTIVE)
def contrastive(
    x1: Array,
    x2: Array,
    target: Array,
    /,
    *,
    margin: float = 1.0,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Contrastive loss of pairs of embeddings (Hadsell, Chopra and LeCun, 2006).

    .. math:: \ell_i = y_i\, d_i^2 + (1 - y_i) \max(m - d_i, 0)^2, \qquad
              d_i = \lVert x_{1,i} - x_{2,i} \rVert_2

    .. math:: \frac{\partial \ell_i}{\partial x_{1,i}} = 2\Bigl(y_i - (1 - y_i)
              \frac{\max(m - d_i, 0)}{d_i}\Bigr)(x_{1,i} - x_{2,i}), \qquad
              \frac{\partial \ell_i}{\partial x_{2,i}} = -\frac{\partial \ell_i}{\partial x_{1,i}}

    ``target`` 1 marks a similar pair (loss ``d**2``) and 0 a dissimilar one
    (``max(margin - d, 0)**2``), as PyTorch's embedding losses label pairs (the paper
    writes ``Y = 0`` for similar). Values in between interpolate linearly; values
    outside ``[0, 1]`` raise ``ValueError`` on eager backends and give NaN under JAX
    and Dask. The paper's factor 1/2 is **not** kept: halve the result for the paper's
    scale. No epsilon enters ``d``: at ``d = 0`` (``x1 == x2``) the similar term's
    gradient is ``2 (x1 - x2) = 0`` and the dissimilar term takes the zero subgradient
    of the norm (as PyTorch's norm backward), so the gradient is finite (0) there.

    Reference: the formula above in NumPy float64 (PyTorch has no contrastive loss).
    ``"mean"`` with ``weight`` divides by ``sum(weight)``.

    Args:
        x1: embeddings ``[..., D]``, real floating.
        x2: embeddings, broadcastable with ``x1``.
        target: pair labels in ``[0, 1]`` (1 = similar), broadcastable to ``[...]``.
        margin: the margin ``m`` of dissimilar pairs, ``>= 0``.
        reduction: ``"none"`` (per pair, shape ``[...]``), ``"sum"`` or ``"mean"``.
        weight: per-pair weights broadcastable to ``[...]``.
        where: boolean mask of the pairs to keep, broadcastable to ``[...]``.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array (``"sum"``/``"mean"``) or the per-pair losses ``[...]``, in the
        input's dtype.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> x1 = np.array([[0.0, 0.0], [0.0, 0.0]])
        >>> x2 = np.array([[3.0, 4.0], [0.3, 0.4]])
        >>> al.contrastive(x1, x2, np.array([1.0, 0.0]), reduction="none").tolist()
        [25.0, 0.25]
    """
    check_option("margin", margin, lambda v: v >= 0, "a number >= 0")
    loss_shape = _per_sample_shape({"x1": x1, "x2": x2}, target)
    problem = prepare(
        CONTRASTIVE,
        {"x1": x1, "x2": x2, "target": target},
        xp=xp,
        options={"margin": float(margin)},
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=loss_shape,
    )
    namespace = problem.xp
    t = problem.array("target")
    if values_checkable(namespace, t):
        bad = (t < 0) | (t > 1)
        check_values(
            namespace,
            bad,
            lambda: (
                f"target has an entry {first_bad_value(namespace, t, bad)} outside "
                "[0, 1]; contrastive takes 1 for a similar pair and 0 for a dissimilar one"
            ),
        )
    return problem


@loss_function(TRIPLET_MARGIN)
def triplet_margin(
    anchor: Array,
    positive: Array,
    negative: Array,
    /,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Triplet margin loss, as ``torch.nn.functional.triplet_margin_loss``.

    .. math:: \ell_i = \max\bigl(m + d(a_i, p_i) - d(a_i, n_i),\ 0\bigr), \qquad
              d(x, y) = \lVert x - y + \epsilon \rVert_p

    with PyTorch's ``pairwise_distance`` placement of ``eps`` (added to every component
    of the difference, not to the norm). With ``swap=True``, ``d(a, n)`` is replaced by
    ``min(d(a, n), d(p, n))`` (Balntas et al., 2016).

    Gradients (``anchor``, ``positive``, ``negative``) are those of PyTorch's autograd:
    with ``δ = x - y + ε``, ``∂d/∂x = sign(δ) |δ|^{p-1} / d^{p-1}`` (``δ / d`` for
    ``p = 2``), 0 where ``d = 0`` (so finite at ``anchor == positive`` also with
    ``eps = 0``), ``sign(δ)`` for ``p = 1``, shared equally by the largest components
    for ``p = inf``; at the margin (``m + d(a, p) - d(a, n) = 0``) the gradient passes
    (``clamp_min``), and a ``swap`` tie ``d(a, n) = d(p, n)`` (as at
    ``anchor == positive``) sends half of it to each distance (``torch.minimum``).

    Reference: ``torch.nn.functional.triplet_margin_loss`` (values and gradients). The
    arguments broadcast together (PyTorch also requires equal ranks). PyTorch has no
    ``weight``; ``"mean"`` with ``weight`` divides by ``sum(weight)``.

    Args:
        anchor: embeddings ``[..., D]``, real floating.
        positive: embeddings similar to ``anchor``, broadcastable with it.
        negative: embeddings dissimilar to ``anchor``, broadcastable with it.
        margin: the margin ``m``, ``> 0`` (as PyTorch).
        p: the norm degree, ``> 0`` (``float("inf")``: the max norm).
        eps: added to each component of the differences.
        swap: use the distance swap.
        reduction: ``"none"`` (per triplet, shape ``[...]``), ``"sum"`` or ``"mean"``.
        weight: per-triplet weights broadcastable to ``[...]``.
        where: boolean mask of the triplets to keep, broadcastable to ``[...]``.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the per-triplet losses ``[...]`` for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> a, pos, neg = np.zeros((1, 2)), np.array([[3.0, 4.0]]), np.array([[6.0, 8.0]])
        >>> float(al.triplet_margin(a, pos, neg, margin=6.0, eps=0.0))
        1.0
        >>> g_a, g_p, g_n = al.grad(al.triplet_margin, wrt=("anchor", "positive", "negative"))(
        ...     a, pos, neg, margin=6.0, eps=0.0)
        >>> g_a.tolist(), g_p.tolist(), g_n.tolist()
        ([[0.0, 0.0]], [[0.6, 0.8]], [[-0.6, -0.8]])
    """
    check_option("margin", margin, lambda v: v > 0, "a number > 0 (as PyTorch)")
    check_option("p", p, lambda v: v > 0, "a number > 0 (float('inf') for the max norm)")
    check_option("eps", eps, lambda v: not math.isnan(v), "a real number")
    loss_shape = _per_sample_shape({"anchor": anchor, "positive": positive, "negative": negative})
    return prepare(
        TRIPLET_MARGIN,
        {"anchor": anchor, "positive": positive, "negative": negative},
        xp=xp,
        options={"margin": float(margin), "p": float(p), "eps": float(eps), "swap": bool(swap)},
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=loss_shape,
    )


@loss_function(COSINE_EMBEDDING)
def cosine_embedding(
    x1: Array,
    x2: Array,
    target: Array,
    /,
    *,
    margin: float = 0.0,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Cosine embedding loss, as ``torch.nn.functional.cosine_embedding_loss``.

    .. math:: \ell_i = \begin{cases} 1 - c_i & y_i = 1 \\ \max(c_i - m, 0) & y_i = -1
              \end{cases}, \qquad c_i = \frac{\langle x_{1,i}, x_{2,i} \rangle}
              {\sqrt{(\lVert x_{1,i} \rVert^2 + \epsilon)(\lVert x_{2,i} \rVert^2 + \epsilon)}},
              \quad \epsilon = \mathrm{float32}(10^{-12})

    .. math:: \frac{\partial c_i}{\partial x_{1,i}} = \frac{x_{2,i}}
              {\sqrt{(\lVert x_{1,i} \rVert^2 + \epsilon)(\lVert x_{2,i} \rVert^2 + \epsilon)}}
              - c_i \frac{x_{1,i}}{\lVert x_{1,i} \rVert^2 + \epsilon}

    (and symmetrically for ``x2``), times ``-1`` (``y = 1``), ``1`` (``y = -1`` and
    ``c >= m``: the gradient passes at the tie, as PyTorch's ``clamp_min``) or 0. The
    epsilon sits inside each squared norm exactly where PyTorch puts it, with PyTorch's
    value (ATen's ``EPSILON``, the float32 ``1e-12 = 9.999999960041972e-13``), so a zero
    vector gives ``c = 0`` and finite gradients equal to PyTorch's.

    Reference: ``torch.nn.functional.cosine_embedding_loss`` (values and gradients).
    ``target`` must be 1 or -1: other values raise ``ValueError`` on eager backends and
    give NaN under JAX and Dask (PyTorch silently gives 0 for them). The arguments
    broadcast (PyTorch takes ``[N, D]`` with ``[N]`` or ``[D]`` with ``[]``). PyTorch has
    no ``weight``; ``"mean"`` with ``weight`` divides by ``sum(weight)``.

    Args:
        x1: embeddings ``[..., D]``, real floating.
        x2: embeddings, broadcastable with ``x1``.
        target: 1 (similar) or -1 (dissimilar), broadcastable to ``[...]``.
        margin: the margin ``m`` of dissimilar pairs (PyTorch suggests ``[0, 0.5]``).
        reduction: ``"none"`` (per pair, shape ``[...]``), ``"sum"`` or ``"mean"``.
        weight: per-pair weights broadcastable to ``[...]``.
        where: boolean mask of the pairs to keep, broadcastable to ``[...]``.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the per-pair losses ``[...]`` for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> x1 = np.array([[1.0, 0.0], [1.0, 1.0]])
        >>> x2 = np.array([[0.0, 2.0], [2.0, 2.0]])
        >>> al.cosine_embedding(x1, x2, np.array([1, -1]), reduction="none").round(12).tolist()
        [1.0, 1.0]
    """
    loss_shape = _per_sample_shape({"x1": x1, "x2": x2}, target)
    problem = prepare(
        COSINE_EMBEDDING,
        {"x1": x1, "x2": x2, "target": target},
        xp=xp,
        options={"margin": float(margin)},
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=loss_shape,
    )
    namespace = problem.xp
    t = problem.array("target")
    if values_checkable(namespace, t):
        bad = (t != 1) & (t != -1) & ~namespace.isnan(t)
        check_values(
            namespace,
            bad,
            lambda: (
                f"target has an entry {first_bad_value(namespace, t, bad)}; "
                "cosine_embedding takes 1 (similar) or -1 (dissimilar)"
            ),
        )
    return problem


@loss_function(NTXENT)
def ntxent(
    embeddings: Array,
    labels: Array,
    /,
    *,
    temperature: float = 0.07,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Normalised temperature-scaled cross-entropy (NT-Xent), as ``optax.losses.ntxent``.

    .. math:: \ell_i = -\sum_{j \in P(i)} \log \frac{e^{s_{ij}}}{e^{s_{ij}} +
              \sum_{k \in N(i)} e^{s_{ik}}}, \qquad
              s_{ij} = \frac{\langle e_i, e_j \rangle}{T\, \nu_i \nu_j}, \quad
              \nu_i = \sqrt{\max(\lVert e_i \rVert^2, \epsilon)}

    where ``P(i)`` are the other samples with anchor ``i``'s label, ``N(i)`` those with
    another label and ``ε`` is the dtype's machine epsilon (optax's
    ``cosine_similarity``). Each positive pair competes against the anchor's negatives
    only (not the other positives), as optax. The gradient with respect to
    ``embeddings`` is analytic: with ``G_ij = ∂ℓ/∂s_ij`` (``p_ij - 1`` for positives,
    ``e^{s_ik} Σ_j 1/(e^{s_ij} + Σ_k e^{s_ik})`` for negatives) and ``u_i = e_i/ν_i``,
    ``∂/∂u = (G + Gᵀ) u / T`` and ``∂/∂e_i = (g_i - u_i ⟨u_i, g_i⟩)/ν_i`` (just
    ``g_i/ν_i`` where ``‖e_i‖² < ε``), finite for zero embeddings.

    ``reduction="none"`` gives one value per anchor, ``[N]`` (an anchor without
    positives gives 0). ``"mean"`` divides the sum by the number of positive pairs,
    which is optax's scalar; with ``weight`` (per anchor, ``[N]``) by
    ``sum(weight_i * |P(i)|)``, so each positive pair carries its anchor's weight. A
    masked-out anchor (``where``) leaves numerator and denominator but its embedding
    still serves as a positive or negative of the others. No positive pair at all gives
    NaN for ``"mean"``, as optax.

    Args:
        embeddings: a batch of embeddings ``[N, D]``, real floating.
        labels: integer group labels ``[N]``; equal labels mark positive pairs.
        temperature: the temperature ``T``, ``> 0``.
        reduction: ``"none"`` (per anchor, ``[N]``), ``"sum"`` or ``"mean"``.
        weight: per-anchor weights broadcastable to ``[N]``.
        where: boolean mask of the anchors to keep, broadcastable to ``[N]``.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the per-anchor losses ``[N]`` for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> e = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
        >>> round(float(al.ntxent(e, np.array([0, 0, 1, 1]), temperature=1.0)), 12)
        0.673576788887
    """
    check_option("temperature", temperature, lambda v: v > 0, "a number > 0")
    e_shape, l_shape = _shape(embeddings), _shape(labels)
    if len(e_shape) != 2:
        raise ValueError(f"embeddings has shape {e_shape}; it must be [N, D]")
    if len(l_shape) != 1 or (
        isinstance(l_shape[0], int) and isinstance(e_shape[0], int) and l_shape[0] != e_shape[0]
    ):
        raise ValueError(
            f"labels has shape {l_shape} but embeddings has shape {e_shape}; labels must "
            f"be [N] with N = {e_shape[0]}, the number of embeddings"
        )
    problem = prepare(
        NTXENT,
        {"embeddings": embeddings, "labels": labels},
        xp=xp,
        options={"temperature": float(temperature)},
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=(e_shape[0],),
    )
    namespace = problem.xp
    lab = problem.array("labels")
    check_integer(namespace, "labels", lab, what="group labels")
    dtype = problem.array("embeddings").dtype
    pairs = k.ntxent_positive_pairs(namespace, lab, dtype)
    if problem.weight is not None:
        pairs = pairs * problem.weight
    if problem.where is not None:
        pairs = namespace.where(problem.where, pairs, namespace.zeros_like(pairs))
    problem.denominator = namespace.sum(pairs)
    return problem
