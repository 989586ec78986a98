"""Metric-learning and ranking losses: values and gradients of every argument against
PyTorch float64 autograd (triplet_margin, cosine_embedding, margin_ranking,
hinge_embedding), a NumPy float64 formula (contrastive) and optax (ntxent), on every
backend, every reduction, with weights and masks, at identical inputs, zero vectors and
ties at the margins."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import arrayloss as al

from _helpers import RTOL32, RTOL64, assert_close, from_torch, numeric_grad, optional, torch64

torch = pytest.importorskip("torch")
F = torch.nn.functional

REDUCTIONS = ("none", "sum", "mean")
INF = float("inf")


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------- input sets
# Each maker returns the arrays of one loss in argument order. The rows hold the edge
# cases as well as ordinary points: identical inputs, zero vectors, ties at margins.


def _triplets(seed: int = 0, n: int = 6, d: int = 3) -> list[np.ndarray]:
    rng = _rng(seed)
    anchor, positive, negative = (rng.normal(size=(n, d)) for _ in range(3))
    positive[0] = anchor[0]  # anchor == positive (a swap tie: d(a, n) = d(p, n))
    negative[1] = anchor[1] + 0.1  # an active hinge
    positive[2] = anchor[2]  # anchor == positive and negative == anchor
    negative[2] = anchor[2]
    return [anchor, positive, negative]


def _cosine_pairs(seed: int = 1) -> list[np.ndarray]:
    rng = _rng(seed)
    x1, x2 = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    x1[0] = 0.0  # zero vector, similar pair
    x1[1], x2[1] = [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]  # cos = 0: the tie at margin 0
    x2[2] = x1[2]  # identical, similar
    x2[3] = 0.0  # zero vector, dissimilar
    x2[4] = 2.5 * x1[4]  # parallel, dissimilar
    target = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    return [x1, x2, target]


def _scores(seed: int = 2) -> list[np.ndarray]:
    rng = _rng(seed)
    x1, x2 = rng.normal(size=6), rng.normal(size=6)
    x1[0], x2[0] = 0.3, 0.3  # tie at margin 0
    x1[1], x2[1] = 1.5, 1.0  # tie at margin 0.5 (target 1)
    target = np.array([1.0, 1.0, -1.0, 1.0, 0.5, -2.0])
    return [x1, x2, target]


def _hinge_inputs(seed: int = 3) -> list[np.ndarray]:
    rng = _rng(seed)
    x = rng.uniform(-0.5, 2.0, 6)
    x[0] = 1.0  # at the margin, target -1
    x[1] = 1.0  # at the margin, target 0 (PyTorch: both terms)
    target = np.array([-1.0, 0.0, 1.0, -1.0, 2.0, 1.0])
    return [x, target]


def _contrastive_inputs(seed: int = 4) -> list[np.ndarray]:
    rng = _rng(seed)
    x1, x2 = rng.normal(size=(6, 3)), 0.4 * rng.normal(size=(6, 3))
    x2[0] = x1[0]  # d = 0, similar
    x2[1] = x1[1]  # d = 0, dissimilar
    x2[2] = x1[2] + np.array([0.6, 0.8, 0.0])  # d = 1 = margin, dissimilar
    target = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0])
    return [x1, x2, target]


def _batch(seed: int = 5) -> list[np.ndarray]:
    rng = _rng(seed)
    embeddings = rng.normal(size=(6, 3))
    embeddings[3] = 0.0  # a zero embedding
    labels = np.array([0, 1, 0, 1, 0, 2])  # groups of 3 and 2, and an anchor with no positive
    return [embeddings, labels]


# --------------------------------------------------------- torch references


def _torch_triplet(anchor: Any, positive: Any, negative: Any, **options: Any) -> Any:
    return F.triplet_margin_loss(anchor, positive, negative, reduction="none", **options)


def _torch_cosine(x1: Any, x2: Any, t: Any, **options: Any) -> Any:
    return F.cosine_embedding_loss(x1, x2, t, reduction="none", **options)


def _torch_ranking(x1: Any, x2: Any, t: Any, **options: Any) -> Any:
    return F.margin_ranking_loss(x1, x2, t, reduction="none", **options)


def _torch_hinge(x: Any, t: Any, **options: Any) -> Any:
    return F.hinge_embedding_loss(x, t, reduction="none", **options)


TRIPLET = ("anchor", "positive", "negative")
PAIR = ("x1", "x2")
Case = tuple[
    Callable[..., Any],
    Callable[..., Any],
    Callable[[], list[np.ndarray]],
    tuple[str, ...],
    dict[str, Any],
]


def _triplet(**options: Any) -> Case:
    return (al.triplet_margin, _torch_triplet, _triplets, TRIPLET, options)


def _cosine(**options: Any) -> Case:
    return (al.cosine_embedding, _torch_cosine, _cosine_pairs, PAIR, options)


def _ranking(**options: Any) -> Case:
    return (al.margin_ranking, _torch_ranking, _scores, PAIR, options)


def _hinge(**options: Any) -> Case:
    return (al.hinge_embedding, _torch_hinge, _hinge_inputs, ("input",), options)


# name -> (function, torch reference, inputs, differentiable arguments, options)
TORCH_CASES: dict[str, Case] = {
    "triplet_p2": _triplet(),
    "triplet_p1_margin": _triplet(p=1.0, margin=0.5),
    "triplet_p3": _triplet(p=3.0),
    "triplet_p1.5": _triplet(p=1.5, margin=2.0),
    "triplet_p0.5": _triplet(p=0.5, margin=3.0),
    "triplet_pinf": _triplet(p=INF),
    "triplet_swap": _triplet(swap=True, margin=2.0),
    "triplet_swap_eps0": _triplet(swap=True, eps=0.0, p=1.0),
    "triplet_eps_big": _triplet(eps=0.1, p=2.5, swap=True),
    "cosine_margin0": _cosine(),
    "cosine_margin0.3": _cosine(margin=0.3),
    "cosine_margin_neg": _cosine(margin=-0.5),
    "ranking_margin0": _ranking(),
    "ranking_margin0.5": _ranking(margin=0.5),
    "hinge_margin1": _hinge(),
    "hinge_margin0.4": _hinge(margin=0.4),
}


def _torch_reduce(loss: Any, reduction: str, weight: Any = None, where: Any = None) -> Any:
    """The reduction contract written in torch: Σ w·l over kept samples (/ Σ w)."""
    w = torch.ones_like(loss) if weight is None else torch64(weight).expand_as(loss)
    m = torch.ones_like(loss, dtype=torch.bool) if where is None else torch64(where).expand_as(loss)
    terms = torch.where(m, loss * w, torch.zeros_like(loss))
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    return terms.sum() / torch.where(m, w, torch.zeros_like(w)).sum()


def _torch_reference(
    case: str, arrays: list[np.ndarray], reduction: str, weight: Any = None, where: Any = None
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    _, reference, _, wrt, options = TORCH_CASES[case]
    n_diff = len(wrt)
    tensors = [torch64(a, requires_grad=i < n_diff) for i, a in enumerate(arrays)]
    out = _torch_reduce(reference(*tensors, **options), reduction, weight, where)
    out.backward(torch.ones_like(out))
    return from_torch(out), tuple(from_torch(t.grad) for t in tensors[:n_diff])


def _call_value_and_grad(
    backend: Any, fn: Callable[..., Any], wrt: tuple[str, ...], arrays: list[np.ndarray], **kw: Any
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    moved = [backend.asarray(a) for a in arrays]
    extra = {k: backend.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    value, grads = backend.call(al.value_and_grad(fn, wrt=wrt), *moved, **extra)
    return backend.to_numpy(value), backend.to_numpy(grads)


# Every case under one reduction, in turn: each loss meets all three here or in the
# weight/where test below, which runs every reduction.
TORCH_RUNS = [(case, REDUCTIONS[i % 3]) for i, case in enumerate(sorted(TORCH_CASES))]


@pytest.mark.parametrize(("case", "reduction"), TORCH_RUNS, ids=[f"{c}-{r}" for c, r in TORCH_RUNS])
def test_values_and_every_gradient_match_torch_autograd_float64(backend, case, reduction):
    fn, _, make, wrt, options = TORCH_CASES[case]
    arrays = make()
    expected_value, expected_grads = _torch_reference(case, arrays, reduction)
    value = backend.to_numpy(
        backend.call(fn, *(backend.asarray(a) for a in arrays), reduction=reduction, **options)
    )
    assert_close(value, expected_value, rtol=RTOL64, atol=1e-15)
    got_value, grads = _call_value_and_grad(
        backend, fn, wrt, arrays, reduction=reduction, **options
    )
    assert_close(got_value, expected_value, rtol=RTOL64, atol=1e-15)
    for name, got, expected in zip(wrt, grads, expected_grads, strict=True):
        assert np.all(np.isfinite(got)), name
        assert_close(got, expected, rtol=RTOL64, atol=1e-12, err_msg=name)


WEIGHTED_RUNS = [
    ("triplet_swap", "none"),
    ("triplet_swap", "sum"),
    ("triplet_swap", "mean"),
    ("cosine_margin0.3", "mean"),
    ("ranking_margin0.5", "sum"),
    ("hinge_margin1", "mean"),
]


@pytest.mark.parametrize(
    ("case", "reduction"), WEIGHTED_RUNS, ids=[f"{c}-{r}" for c, r in WEIGHTED_RUNS]
)
def test_weight_and_where_follow_the_reduction_contract(backend, case, reduction):
    fn, _, make, wrt, options = TORCH_CASES[case]
    arrays = make()
    shape = np.broadcast_shapes(*(a.shape for a in arrays[: len(wrt)]))
    if fn in (al.triplet_margin, al.cosine_embedding):
        shape = shape[:-1]
    rng = _rng(7)
    weight = rng.uniform(0.1, 2.0, shape)
    where = np.arange(shape[0]) % 3 != 1
    expected_value, expected_grads = _torch_reference(case, arrays, reduction, weight, where)
    value, grads = _call_value_and_grad(
        backend, fn, wrt, arrays, reduction=reduction, weight=weight, where=where, **options
    )
    assert_close(value, expected_value, rtol=RTOL64, atol=1e-15)
    for got, expected in zip(grads, expected_grads, strict=True):
        assert_close(got, expected, rtol=RTOL64, atol=1e-12)


# ----------------------------------------------------------------- contrastive


def _numpy_contrastive(
    x1: np.ndarray, x2: np.ndarray, target: np.ndarray, margin: float
) -> np.ndarray:
    d = np.sqrt(np.sum((x1 - x2) ** 2, axis=-1))
    return target * d**2 + (1 - target) * np.maximum(margin - d, 0.0) ** 2


def _numpy_contrastive_grad(
    x1: np.ndarray, x2: np.ndarray, target: np.ndarray, margin: float
) -> np.ndarray:
    """d(sum of losses)/dx1, with the zero subgradient of the norm at d = 0."""
    delta = x1 - x2
    d = np.sqrt(np.sum(delta**2, axis=-1))
    pull = np.divide(np.maximum(margin - d, 0.0), d, out=np.zeros_like(d), where=d > 0)
    return (2 * (target - (1 - target) * pull))[:, None] * delta


@pytest.mark.parametrize(("margin", "reduction"), [(1.0, "none"), (0.5, "sum"), (2.0, "mean")])
def test_contrastive_matches_the_numpy_formula(backend, margin, reduction):
    x1, x2, target = _contrastive_inputs()
    weight = _rng(8).uniform(0.1, 2.0, 6)
    where = np.array([True, True, False, True, True, True])
    terms = np.where(where, weight * _numpy_contrastive(x1, x2, target, margin), 0.0)
    scale = np.where(where, weight, 0.0)
    expected = {"none": terms, "sum": terms.sum(), "mean": terms.sum() / scale.sum()}[reduction]
    if reduction == "mean":
        scale = scale / scale.sum()
    g1 = scale[:, None] * _numpy_contrastive_grad(x1, x2, target, margin)
    value, (got1, got2) = _call_value_and_grad(
        backend,
        al.contrastive,
        ("x1", "x2"),
        [x1, x2, target],
        margin=margin,
        reduction=reduction,
        weight=weight,
        where=where,
    )
    assert_close(value, expected, rtol=RTOL64, atol=1e-15)
    assert_close(got1, g1, rtol=RTOL64, atol=1e-15)
    assert_close(got2, -g1, rtol=RTOL64, atol=1e-15)


def test_contrastive_gradient_is_zero_at_identical_inputs(backend):
    x = backend.asarray(np.array([[1.0, -2.0], [0.5, 0.5]]))
    target = backend.asarray(np.array([1.0, 0.0]))
    value, (g1, g2) = backend.call(
        al.value_and_grad(al.contrastive, wrt=("x1", "x2")), x, x, target, reduction="none"
    )
    assert_close(backend.to_numpy(value), np.array([0.0, 1.0]))
    assert_close(backend.to_numpy(g1), np.zeros((2, 2)))
    assert_close(backend.to_numpy(g2), np.zeros((2, 2)))


def test_contrastive_soft_target_interpolates_the_two_terms():
    x1, x2, _ = _contrastive_inputs()
    soft = np.full(6, 0.25)
    ones, zeros = np.ones(6), np.zeros(6)
    expected = 0.25 * al.contrastive(x1, x2, ones, reduction="none") + 0.75 * al.contrastive(
        x1, x2, zeros, reduction="none"
    )
    assert_close(al.contrastive(x1, x2, soft, reduction="none"), expected)


# ---------------------------------------------------------------------- ntxent


NTXENT_CASES = {
    "pairs_T0.07": (lambda: [_rng(9).normal(size=(6, 3)), np.array([0, 0, 1, 1, 2, 2])], 0.07),
    "groups_zero_T0.5": (_batch, 0.5),
    "one_group_T0.2": (lambda: [_rng(10).normal(size=(6, 3)), np.full(6, 3)], 0.2),
    "unequal_T1": (lambda: [_rng(11).normal(size=(6, 3)), np.array([-1, 4, 4, -1, 4, 7])], 1.0),
}


@functools.cache
def _optax_ntxent(case: str) -> tuple[float, np.ndarray]:
    """optax's value and ``jax.grad``, jitted once for the cases' common shape."""
    jax = optional("jax")
    optax = optional("optax")
    make, temperature = NTXENT_CASES[case]
    embeddings, labels = make()
    value, grad = _optax_value_and_grad(jax, optax)(
        jax.numpy.asarray(embeddings), jax.numpy.asarray(labels), temperature
    )
    return float(value), np.asarray(grad)


@functools.cache
def _optax_value_and_grad(jax: Any, optax: Any) -> Callable[..., Any]:
    return jax.jit(jax.value_and_grad(optax.ntxent))


@pytest.mark.parametrize("case", sorted(NTXENT_CASES))
def test_ntxent_mean_and_gradient_match_optax(backend, case):
    embeddings, labels = NTXENT_CASES[case][0]()
    temperature = NTXENT_CASES[case][1]
    expected_value, expected_grad = _optax_ntxent(case)
    value, grad = backend.call(
        al.value_and_grad(al.ntxent),
        backend.asarray(embeddings),
        backend.asarray(labels),
        temperature=temperature,
    )
    assert_close(backend.to_numpy(value), expected_value, rtol=RTOL64, atol=1e-15)
    got = backend.to_numpy(grad)
    assert np.all(np.isfinite(got))
    assert_close(got, expected_grad, rtol=RTOL64, atol=1e-13)


def test_ntxent_reductions_weight_and_where_count_positive_pairs(backend):
    embeddings, labels = _batch()
    embeddings[3] = [0.3, -0.2, 0.5]  # away from the norm's clip, for the differences
    pairs = np.array([2, 1, 2, 1, 2, 0], dtype=np.float64)
    e, lab = backend.asarray(embeddings), backend.asarray(labels)
    none = backend.to_numpy(backend.call(al.ntxent, e, lab, temperature=0.5, reduction="none"))
    assert none.shape == (6,)
    assert none[5] == 0.0  # no positive
    total = backend.to_numpy(backend.call(al.ntxent, e, lab, temperature=0.5, reduction="sum"))
    assert_close(total, none.sum())
    weight = _rng(12).uniform(0.5, 2.0, 6)
    where = np.array([True, False, True, True, False, True])
    mean, grad = backend.call(
        al.value_and_grad(al.ntxent),
        e,
        lab,
        temperature=0.5,
        weight=backend.asarray(weight),
        where=backend.asarray(where),
    )
    kept = np.where(where, weight, 0.0)
    assert_close(backend.to_numpy(mean), (kept * none).sum() / (kept * pairs).sum())
    # the same weighted mean, by finite differences of the NumPy result
    expected = numeric_grad(
        lambda x: float(al.ntxent(x, labels, temperature=0.5, weight=weight, where=where)),
        [embeddings],
        0,
    )
    assert_close(backend.to_numpy(grad), expected, rtol=1e-6, atol=1e-8)


def test_ntxent_without_positive_pairs_has_nan_mean(backend):
    e = backend.asarray(_rng(13).normal(size=(3, 2)))
    labels = backend.asarray(np.array([0, 1, 2]))
    assert np.isnan(backend.to_numpy(backend.call(al.ntxent, e, labels)))


# ------------------------------------------------------------- edges and ties


def test_triplet_gradient_is_finite_and_torchs_at_anchor_equal_positive(backend):
    anchor = np.array([[1.0, 2.0], [0.0, 0.0]])
    negative = np.array([[1.5, 2.0], [0.3, -0.1]])
    # (the main table's triplet cases hold such rows too, with the default eps)
    for options in ({"eps": 0.0}, {"eps": 0.0, "swap": True, "p": 0.5}):
        a, p, n = (torch64(x, requires_grad=True) for x in (anchor, anchor.copy(), negative))
        F.triplet_margin_loss(a, p, n, **options).backward()
        _, grads = _call_value_and_grad(
            backend,
            al.triplet_margin,
            ("anchor", "positive", "negative"),
            [anchor, anchor, negative],
            **options,
        )
        for got, t in zip(grads, (a, p, n), strict=True):
            assert np.all(np.isfinite(got)), options
            assert_close(got, from_torch(t.grad), atol=1e-15, err_msg=str(options))


def test_triplet_margin_tie_passes_the_gradient_as_torchs_clamp_min(backend):
    # margin + d(a, p) - d(a, n) = 1 + 1 - 2 = 0 exactly (eps = 0)
    anchor, positive, negative = np.zeros((1, 2)), np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]])
    for p in (2.0, INF):
        value, grads = _call_value_and_grad(
            backend,
            al.triplet_margin,
            ("anchor", "positive", "negative"),
            [anchor, positive, negative],
            eps=0.0,
            p=p,
        )
        assert value == 0.0
        assert_close(grads, (np.zeros((1, 2)), np.array([[1.0, 0.0]]), np.array([[-1.0, 0.0]])))


def test_triplet_swap_tie_splits_the_gradient_in_half(backend):
    # anchor == positive, so d(a, n) = d(p, n): torch.minimum sends half to each
    anchor, negative = np.array([[1.0, 2.0]]), np.array([[1.5, 2.0]])
    _, grads = _call_value_and_grad(
        backend,
        al.triplet_margin,
        ("anchor", "positive", "negative"),
        [anchor, anchor, negative],
        eps=0.0,
        swap=True,
    )
    assert_close(grads, (np.array([[0.5, 0.0]]), np.array([[0.5, 0.0]]), np.array([[-1.0, 0.0]])))


def test_cosine_embedding_of_zero_vectors_is_finite_as_torch(backend):
    zero, other = np.zeros((2, 3)), np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    for target in (np.array([1.0, 1.0]), np.array([-1.0, -1.0])):
        a, b = torch64(zero, requires_grad=True), torch64(other, requires_grad=True)
        expected = F.cosine_embedding_loss(a, b, torch64(target), margin=-0.2, reduction="sum")
        expected.backward()
        value, grads = _call_value_and_grad(
            backend,
            al.cosine_embedding,
            ("x1", "x2"),
            [zero, other, target],
            margin=-0.2,
            reduction="sum",
        )
        assert_close(value, from_torch(expected))
        assert all(np.all(np.isfinite(g)) for g in grads)
        assert_close(grads, (from_torch(a.grad), from_torch(b.grad)), atol=1e-9)


def test_ranking_ties_pass_the_gradient_as_torch(backend):
    x1, x2 = np.array([0.5, 1.5, 2.0]), np.array([0.5, 1.0, 2.0])
    target = np.array([1.0, 1.0, -1.0])
    _, (g1, g2) = _call_value_and_grad(
        backend, al.margin_ranking, ("x1", "x2"), [x1, x2, target], margin=0.0, reduction="sum"
    )
    assert_close(g1, np.array([-1.0, 0.0, 1.0]))
    assert_close(g2, np.array([1.0, 0.0, -1.0]))
    value, g = _call_value_and_grad(
        backend,
        al.hinge_embedding,
        ("input",),
        [np.array([1.0, 1.0]), np.array([-1.0, 0.0])],
        reduction="none",
    )
    assert_close(value, np.array([0.0, 1.0]))
    assert_close(g, (np.array([-1.0, 0.0]),))


# ----------------------------------------------------------- finite differences


def _normal(seed: int, *shape: int) -> np.ndarray:
    return _rng(seed).normal(size=shape)


# Ordinary points (away from kinks), for central differences of the NumPy value.
FD_CASES: list[
    tuple[str, Callable[..., Any], list[np.ndarray], tuple[str, ...], dict[str, Any]]
] = [
    (
        "contrastive",
        al.contrastive,
        [_normal(20, 3, 3), 0.3 * _normal(21, 3, 3), np.array([1.0, 0.0, 0.3])],
        PAIR,
        {"margin": 1.5},
    ),
    (
        "triplet_p2_swap",
        al.triplet_margin,
        [_normal(22 + i, 3, 3) for i in range(3)],
        TRIPLET,
        {"swap": True, "margin": 3.0},
    ),
    (
        "triplet_p1.5",
        al.triplet_margin,
        [_normal(25 + i, 3, 3) for i in range(3)],
        TRIPLET,
        {"p": 1.5, "margin": 3.0},
    ),
    (
        "triplet_p0.7",
        al.triplet_margin,
        [_normal(70 + i, 3, 3) for i in range(3)],
        TRIPLET,
        {"p": 0.7, "margin": 5.0},
    ),
    (
        "triplet_p4",
        al.triplet_margin,
        [_normal(29 + i, 3, 3) for i in range(3)],
        TRIPLET,
        {"p": 4.0, "margin": 3.0},
    ),
    (
        "triplet_pinf",
        al.triplet_margin,
        [_normal(32 + i, 3, 3) for i in range(3)],
        TRIPLET,
        {"p": INF, "margin": 3.0},
    ),
    (
        "cosine_embedding",
        al.cosine_embedding,
        [_normal(35, 4, 3), _normal(36, 4, 3), np.array([1.0, -1.0, 1.0, -1.0])],
        PAIR,
        {"margin": -0.9},
    ),
    (
        "margin_ranking",
        al.margin_ranking,
        [_normal(37, 5), _normal(38, 5), np.array([1.0, -1.0, 1.0, -1.0, 0.5])],
        PAIR,
        {"margin": 3.0},
    ),
    (
        "hinge_embedding",
        al.hinge_embedding,
        [_rng(39).uniform(0.0, 0.8, 5), np.array([1.0, -1.0, 0.0, -1.0, 1.0])],
        ("input",),
        {},
    ),
    (
        "ntxent",
        al.ntxent,
        [_normal(40, 5, 3), np.array([0, 0, 1, 1, 1])],
        ("embeddings",),
        {"temperature": 0.3},
    ),
]


@pytest.mark.parametrize(
    ("name", "fn", "arrays", "wrt", "options"), FD_CASES, ids=[c[0] for c in FD_CASES]
)
def test_every_gradient_entry_matches_central_differences(name, fn, arrays, wrt, options):
    n = arrays[0].shape[0]
    weight = _rng(41).uniform(0.5, 2.0, n)
    grads = al.grad(fn, wrt=wrt)(*arrays, weight=weight, **options)
    assert isinstance(grads, tuple)
    for index, (arg, g) in enumerate(zip(wrt, grads, strict=True)):
        expected = numeric_grad(lambda *a: float(fn(*a, weight=weight, **options)), arrays, index)
        assert_close(g, expected, rtol=1e-6, atol=1e-8, err_msg=f"{name}: {arg}")


KERNEL_CASES = [
    ("triplet_margin", 3, {"margin": 3.0, "p": 2.0, "eps": 1e-6, "swap": True}),
    ("triplet_margin", 3, {"margin": 3.0, "p": 3.0, "eps": 1e-6, "swap": False}),
    ("contrastive", 2, {"margin": 4.0}),
    ("cosine_embedding", 2, {"margin": -1.0}),
    ("ntxent", 1, {"temperature": 0.5}),
]


@pytest.mark.parametrize(
    ("name", "n_diff", "options"),
    KERNEL_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(KERNEL_CASES)],
)
def test_gradient_table_matches_jax_grad_of_the_kernel(name, n_diff, options):
    jax = optional("jax")
    jnp = jax.numpy
    from arrayloss.kernels import metric

    arrays = [_rng(50 + i).normal(size=(4, 3)) for i in range(n_diff)]
    arrays += {
        "contrastive": [np.array([1.0, 0.0, 0.0, 1.0])],
        "cosine_embedding": [np.array([1.0, -1.0, -1.0, 1.0])],
        "ntxent": [np.array([0, 1, 0, 1])],
    }.get(name, [])
    cot = _rng(53).normal(size=4)
    kernel = metric.VALUES[name]

    def total(*diff: Any) -> Any:
        rest = [jnp.asarray(a) for a in arrays[n_diff:]]
        return jnp.sum(jnp.asarray(cot) * kernel(jnp, *diff, *rest, **options))

    expected = jax.jit(jax.grad(total, argnums=tuple(range(n_diff))))(
        *(jnp.asarray(a) for a in arrays[:n_diff])
    )
    for arg, want in zip(metric.GRADS[name], expected, strict=True):
        got = metric.GRADS[name][arg](np, cot, *arrays, **options)
        assert_close(got, np.asarray(want), atol=1e-13, err_msg=f"{name}: {arg}")


# ------------------------------------------------------------ autodiff wiring


def test_grad_with_a_tuple_wrt_returns_a_tuple_in_that_order():
    anchor, positive, negative = _triplets()
    grads = al.grad(al.triplet_margin, wrt=("anchor", "positive", "negative"))(
        anchor, positive, negative
    )
    assert isinstance(grads, tuple)
    assert len(grads) == 3
    assert [g.shape for g in grads] == [(6, 3)] * 3
    single = al.grad(al.triplet_margin)(anchor, positive, negative)
    assert_close(single, grads[0])
    reordered = al.grad(al.triplet_margin, wrt=("negative", 0))(anchor, positive, negative)
    assert_close(reordered, (grads[2], grads[0]))


def test_torch_backward_through_every_loss_gives_torchs_gradients():
    for case in (
        "triplet_swap",
        "triplet_p0.5",
        "cosine_margin0.3",
        "ranking_margin0.5",
        "hinge_margin1",
    ):
        fn, reference, make, wrt, options = TORCH_CASES[case]
        arrays = make()
        ours = [torch64(a, requires_grad=i < len(wrt)) for i, a in enumerate(arrays)]
        theirs = [torch64(a, requires_grad=i < len(wrt)) for i, a in enumerate(arrays)]
        fn(*ours, **options).backward()
        reference(*theirs, **options).mean().backward()
        for a, b in zip(ours[: len(wrt)], theirs[: len(wrt)], strict=True):
            assert_close(from_torch(a.grad), from_torch(b.grad), atol=1e-12, err_msg=case)


def test_jax_grad_of_the_public_functions_uses_the_table():
    jax = optional("jax")
    embeddings, labels = _batch()
    expected = al.grad(al.ntxent)(embeddings, labels, temperature=0.5)
    got = jax.grad(lambda e: al.ntxent(e, jax.numpy.asarray(labels), temperature=0.5))(
        jax.numpy.asarray(embeddings)
    )
    assert_close(np.asarray(got), expected)
    anchor, positive, negative = (jax.numpy.asarray(a) for a in _triplets())
    got = jax.grad(lambda a, p, n: al.triplet_margin(a, p, n, swap=True), argnums=(0, 1, 2))(
        anchor, positive, negative
    )
    expected = al.grad(al.triplet_margin, wrt=(0, 1, 2))(*_triplets(), swap=True)
    assert_close(tuple(np.asarray(g) for g in got), expected)


# --------------------------------------------------------------------- dtypes

F32_CASES: list[
    tuple[Callable[..., Any], Callable[[], list[np.ndarray]], tuple[str, ...], dict[str, Any]]
] = [
    (al.contrastive, _contrastive_inputs, ("x1", "x2"), {}),
    (al.triplet_margin, _triplets, ("anchor", "positive", "negative"), {"swap": True}),
    (al.cosine_embedding, _cosine_pairs, ("x1", "x2"), {"margin": 0.2}),
    (al.margin_ranking, _scores, ("x1", "x2"), {"margin": 0.1}),
    (al.hinge_embedding, _hinge_inputs, ("input",), {}),
    (al.ntxent, _batch, ("embeddings",), {"temperature": 0.5}),
]


@pytest.mark.parametrize(
    ("fn", "make", "wrt", "options"), F32_CASES, ids=[c[0].__name__ for c in F32_CASES]
)
def test_float32_gives_float32_and_the_same_numbers_on_every_backend(
    backend, fn, make, wrt, options
):
    arrays = make()
    value64 = fn(*arrays, **options)
    arrays32 = [a.astype(np.float32) if a.dtype == np.float64 else a for a in arrays]
    # NumPy float32 is the cross-backend reference: ntxent's norm clip is the dtype's
    # epsilon, so at its zero embedding the float32 gradient differs from float64's.
    value_np, grads_np = al.value_and_grad(fn, wrt=wrt)(*arrays32, **options)
    value, grads = _call_value_and_grad(backend, fn, wrt, arrays32, **options)
    assert value.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)
    assert_close(value.astype(np.float64), np.asarray(value64), rtol=RTOL32)
    assert_close(value, np.asarray(value_np), rtol=RTOL32)
    for got, expected in zip(grads, grads_np, strict=True):
        assert_close(got, expected, rtol=RTOL32, atol=1e-5 * float(np.max(np.abs(expected))))


# ------------------------------------------------------------ shapes and errors


def test_per_sample_losses_broadcast_and_sum_gradients_to_the_argument_shape(backend):
    anchor = _rng(60).normal(size=(4, 3))
    positive = _rng(61).normal(size=(1, 3))  # one positive for every anchor
    negative = _rng(62).normal(size=(4, 3))
    tensors = [torch64(a, requires_grad=True) for a in (anchor, positive, negative)]
    F.triplet_margin_loss(*tensors, margin=2.0).backward()
    _, grads = _call_value_and_grad(
        backend,
        al.triplet_margin,
        ("anchor", "positive", "negative"),
        [anchor, positive, negative],
        margin=2.0,
    )
    assert grads[1].shape == (1, 3)
    assert_close(grads, tuple(from_torch(t.grad) for t in tensors), atol=1e-14)


def test_single_vectors_give_a_0d_per_sample_loss(backend):
    x1, x2 = np.array([1.0, 2.0, 2.0]), np.array([2.0, 0.0, 1.0])
    value = backend.to_numpy(
        backend.call(
            al.cosine_embedding,
            backend.asarray(x1),
            backend.asarray(x2),
            backend.asarray(np.array(-1.0)),
            reduction="none",
        )
    )
    expected = F.cosine_embedding_loss(
        torch64(x1), torch64(x2), torch64(np.array(-1.0)), reduction="none"
    )
    assert value.shape == ()
    assert_close(value, from_torch(expected))


def test_mismatched_shapes_raise_naming_both():
    with pytest.raises(
        ValueError, match=r"anchor has shape \(4, 3\) but positive has shape \(4, 2\)"
    ):
        al.triplet_margin(np.zeros((4, 3)), np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"target has shape \(4, 1\)"):
        al.contrastive(np.zeros((4, 3)), np.zeros((4, 3)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="feature axis"):
        al.cosine_embedding(np.zeros(()), np.zeros(3), np.ones(()))
    with pytest.raises(ValueError, match=r"labels has shape \(3,\)"):
        al.ntxent(np.zeros((4, 3)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"weight has shape \(3,\)"):
        al.contrastive(np.zeros((4, 3)), np.zeros((4, 3)), np.ones(4), weight=np.ones(3))


def test_bad_options_raise_naming_the_option():
    a = np.zeros((2, 3))
    for kwargs, option in [({"margin": 0.0}, "margin"), ({"p": 0.0}, "p"), ({"p": -1.0}, "p")]:
        with pytest.raises(ValueError, match=f"{option}="):
            al.triplet_margin(a, a, a, **kwargs)
    with pytest.raises(ValueError, match="margin="):
        al.contrastive(a, a, np.ones(2), margin=-1.0)
    with pytest.raises(ValueError, match="temperature="):
        al.ntxent(a, np.zeros(2, dtype=int), temperature=0.0)
    with pytest.raises(ValueError, match="reduction="):
        al.cosine_embedding(a, a, np.ones(2), reduction="batchmean")


def test_non_floating_embeddings_and_float_labels_raise_type_error():
    with pytest.raises(TypeError, match="anchor must be a real floating"):
        al.triplet_margin(np.zeros((2, 3), dtype=int), np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="labels holds group labels"):
        al.ntxent(np.zeros((2, 3)), np.zeros(2))


def test_out_of_range_targets_raise_on_eager_backends_and_give_nan_on_lazy(backend):
    x1, x2 = backend.asarray(np.ones((2, 3))), backend.asarray(np.zeros((2, 3)))
    for fn, bad in [
        (al.cosine_embedding, np.array([1.0, 0.0])),
        (al.contrastive, np.array([1.0, 2.0])),
    ]:
        target = backend.asarray(bad)
        if backend.lazy:
            out = backend.to_numpy(backend.call(fn, x1, x2, target, reduction="none"))
            assert np.isnan(out[1]), fn.__name__
            assert not np.isnan(out[0]), fn.__name__
        else:
            with pytest.raises(ValueError, match=r"target has an entry (0\.0|2\.0)"):
                backend.call(fn, x1, x2, target)


def test_hinge_embedding_reads_other_targets_as_torch_does(backend):
    x = np.array([0.2, 0.2, 1.4])
    target = np.array([0.0, 3.0, 0.0])
    got = backend.to_numpy(
        backend.call(
            al.hinge_embedding, backend.asarray(x), backend.asarray(target), reduction="none"
        )
    )
    assert_close(
        got, from_torch(F.hinge_embedding_loss(torch64(x), torch64(target), reduction="none"))
    )
    assert_close(got, np.array([1.0, 1.0, 1.4]))


def test_masked_out_samples_are_zero_in_none_with_zero_gradient(backend):
    anchor, positive, negative = _triplets()
    where = np.array([True, False, True, False, True, True])
    value, grads = _call_value_and_grad(
        backend,
        al.triplet_margin,
        ("anchor", "positive", "negative"),
        [anchor, positive, negative],
        reduction="none",
        where=where,
        margin=5.0,
    )
    assert np.all(value[~where] == 0.0)
    assert np.all(value[where] > 0)
    for g in grads:
        assert np.all(g[~where] == 0.0)


def test_inputs_are_never_modified(backend):
    arrays = _triplets()
    moved = [backend.asarray(a) for a in arrays]
    backend.call(al.value_and_grad(al.triplet_margin, wrt=(0, 1, 2)), *moved, swap=True)
    embeddings, labels = _batch()
    e = backend.asarray(embeddings)
    backend.call(al.value_and_grad(al.ntxent), e, backend.asarray(labels))
    assert_close(tuple(backend.to_numpy(m) for m in moved), tuple(arrays))
    assert_close(backend.to_numpy(e), embeddings)


def test_registry_lists_every_differentiable_argument():
    records = al.registry()
    assert records["triplet_margin"].wrt == ("anchor", "positive", "negative")
    assert records["contrastive"].wrt == ("x1", "x2")
    assert records["cosine_embedding"].wrt == ("x1", "x2")
    assert records["margin_ranking"].wrt == ("x1", "x2")
    assert records["hinge_embedding"].wrt == ("input",)
    assert records["ntxent"].args == ("embeddings", "labels")
    assert records["ntxent"].wrt == ("embeddings",)
    assert records["ntxent"].reference == "optax.losses.ntxent"
