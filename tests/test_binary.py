"""Binary losses (binary_cross_entropy, *_with_logits, sigmoid_focal_loss): values and
gradients against PyTorch float64 autograd (torchvision's focal formula written out in
torch), mpmath at the +-1000 edges, and finite differences, on every backend.

Option matrices run whole on the eager backends and on a diagonal third per lazy
backend (``_backend_cases``), which keeps the file fast."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import arrayloss as al
from _backend_cases import backend_cases, run_on

from _helpers import RTOL32, RTOL64, assert_close, from_torch, numeric_grad, torch64

torch = pytest.importorskip("torch")
mpmath = pytest.importorskip("mpmath")
F = torch.nn.functional

REDUCTIONS = ("none", "sum", "mean")


def _rng(*key: Any) -> np.random.Generator:
    return np.random.default_rng(abs(hash(key)) % 2**32)


def _probabilities(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng("p", shape)
    pred = rng.uniform(0.02, 0.98, shape)
    target = rng.choice([0.0, 1.0, 0.3, 0.8], size=shape)
    return pred, target


def _logits(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng("x", shape)
    return rng.normal(0.0, 2.0, shape), rng.choice([0.0, 1.0, 0.25], size=shape)


def _masked_reduce(
    loss: Any, reduction: str, where: np.ndarray | None, denominator: Any = None
) -> Any:
    """Our reduction contract applied to a torch unreduced loss (weights already in it)."""
    m = torch.ones_like(loss, dtype=torch.bool) if where is None else torch64(where).expand_as(loss)
    terms = torch.where(m, loss, torch.zeros_like(loss))
    if reduction == "none":
        return terms
    total = terms.sum()
    if reduction == "sum":
        return total
    return total / (m.sum() if denominator is None else denominator)


def _backward(out: Any, *tensors: Any) -> tuple[np.ndarray, ...]:
    out.backward(torch.ones_like(out))
    return tuple(from_torch(t.grad) for t in tensors)


# ------------------------------------------------------ binary_cross_entropy


@pytest.mark.parametrize(
    ("backend", "reduction", "weighting", "shape"),
    backend_cases(REDUCTIONS, ("unweighted", "weighted"), ((7,), (2, 3, 4))),
    indirect=["backend"],
)
def test_bce_matches_torch_values_and_both_gradients(backend, reduction, weighting, shape):
    pred, target = _probabilities(shape)
    weight = _rng("w", shape).uniform(0.0, 2.0, shape[-1:]) if weighting == "weighted" else None
    p, t = torch64(pred, requires_grad=True), torch64(target, requires_grad=True)
    w = None if weight is None else torch64(weight)
    expected = F.binary_cross_entropy(p, t, weight=w, reduction=reduction)
    g_pred, g_target = _backward(expected, p, t)
    plain, value, grads = run_on(
        backend,
        al.binary_cross_entropy,
        [pred, target],
        ("pred", "target"),
        weight=weight,
        reduction=reduction,
        plain=True,
    )
    assert_close(plain, from_torch(expected))
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_pred, g_target), atol=1e-15)


@pytest.mark.parametrize(("backend", "reduction"), backend_cases(REDUCTIONS), indirect=["backend"])
def test_bce_where_leaves_numerator_and_count_denominator(backend, reduction):
    pred, target = _probabilities((3, 4))
    weight = _rng("w").uniform(0.1, 2.0, (3, 4))
    where = _rng("m").uniform(size=(3, 4)) > 0.3
    p = torch64(pred, requires_grad=True)
    loss = F.binary_cross_entropy(p, torch64(target), weight=torch64(weight), reduction="none")
    expected = _masked_reduce(loss, reduction, where)
    (g_pred,) = _backward(expected, p)
    plain, _value, grad = run_on(
        backend,
        al.binary_cross_entropy,
        [pred, target],
        ("pred",),
        weight=weight,
        where=where,
        reduction=reduction,
    )
    assert_close(plain, from_torch(expected))
    assert_close(grad, (g_pred,), atol=1e-15)


def test_bce_at_the_clamp_edges_matches_torch(backend):
    pred = np.array([0.0, 1.0, 0.0, 1.0, 1e-50, 1e-300, 1 - 1e-16, 1e-8, 0.5, 0.3])
    target = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 1.0, 0.3, 0.0, 1.0, 0.6])
    p, t = torch64(pred, requires_grad=True), torch64(target, requires_grad=True)
    expected = F.binary_cross_entropy(p, t, reduction="none")
    g_pred, torch_target = _backward(expected, p, t)
    # PyTorch's target gradient at p in {0, 1} is -+inf; ours is the clamped value's +-100.
    assert np.isinf(torch_target[:4]).all()
    g_target = torch_target.copy()
    g_target[:4] = [100.0, -100.0, 100.0, -100.0]
    plain, _value, grads = run_on(
        backend, al.binary_cross_entropy, [pred, target], ("pred", "target"), reduction="none"
    )
    assert_close(plain, from_torch(expected))
    assert_close(grads, (g_pred, g_target))
    assert plain.max() <= 100.0


@pytest.mark.parametrize("name", ["pred", "target"])
def test_bce_probability_outside_unit_interval_is_valueerror_or_nan(backend, name):
    arrays = {"pred": np.array([0.2, 0.5, 0.7]), "target": np.array([1.0, 0.0, 1.0])}
    arrays[name] = arrays[name].copy()
    arrays[name][1] = 1.5
    args = [backend.asarray(arrays["pred"]), backend.asarray(arrays["target"])]
    if backend.lazy:
        value = backend.to_numpy(backend.call(al.binary_cross_entropy, *args, reduction="none"))
        assert np.isnan(value[1])
        assert np.isfinite(value[[0, 2]]).all()
        grad = backend.to_numpy(
            backend.call(al.grad(al.binary_cross_entropy), *args, reduction="none")
        )
        assert np.isnan(grad[1])
        return
    with pytest.raises(ValueError, match=rf"{name} has an entry 1\.5 outside \[0, 1\]"):
        backend.call(al.binary_cross_entropy, *args)


def test_bce_negative_probability_is_named_in_the_error():
    with pytest.raises(
        ValueError, match=r"pred has an entry -0\.25 outside \[0, 1\]; binary_cross_entropy"
    ):
        al.binary_cross_entropy(np.array([0.5, -0.25]), np.array([1.0, 0.0]))


def test_bce_nan_probability_is_not_a_range_error(backend):
    pred = backend.asarray(np.array([np.nan, 0.5]))
    target = backend.asarray(np.array([1.0, 1.0]))
    value = backend.to_numpy(backend.call(al.binary_cross_entropy, pred, target, reduction="none"))
    assert np.isnan(value[0])
    assert_close(value[1], np.log(2.0))


# ------------------------------------------- binary_cross_entropy_with_logits


@pytest.mark.parametrize(
    ("backend", "reduction", "weighting", "pos_weighting"),
    backend_cases(REDUCTIONS, ("unweighted", "weighted"), ("no_pos_weight", "pos_weight")),
    indirect=["backend"],
)
def test_bce_with_logits_matches_torch_with_every_option(
    backend, reduction, weighting, pos_weighting
):
    logits, target = _logits((4, 3))
    weight = _rng("w").uniform(0.0, 2.0, (4, 1)) if weighting == "weighted" else None
    pos_weight = np.array([0.5, 1.0, 3.0]) if pos_weighting == "pos_weight" else None
    x, t = torch64(logits, requires_grad=True), torch64(target, requires_grad=True)
    expected = F.binary_cross_entropy_with_logits(
        x,
        t,
        weight=None if weight is None else torch64(weight),
        pos_weight=None if pos_weight is None else torch64(pos_weight),
        reduction=reduction,
    )
    g_logits, g_target = _backward(expected, x, t)
    plain, value, grads = run_on(
        backend,
        al.binary_cross_entropy_with_logits,
        [logits, target],
        ("logits", "target"),
        weight=weight,
        pos_weight=pos_weight,
        reduction=reduction,
        plain=True,
    )
    assert_close(plain, from_torch(expected))
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_logits, g_target), atol=1e-15)


@pytest.mark.parametrize(("backend", "reduction"), backend_cases(REDUCTIONS), indirect=["backend"])
def test_bce_with_logits_4d_with_where_and_class_pos_weight(backend, reduction):
    logits, target = _logits((2, 3, 2, 4))
    weight = _rng("w4").uniform(0.1, 2.0, (2, 3, 2, 4))
    pos_weight = np.array([2.0, 0.5, 1.0, 4.0])
    where = _rng("m4").uniform(size=(2, 1, 2, 4)) > 0.4
    x = torch64(logits, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(
        x, torch64(target), weight=torch64(weight), pos_weight=torch64(pos_weight), reduction="none"
    )
    expected = _masked_reduce(loss, reduction, where)
    (g_logits,) = _backward(expected, x)
    plain, _, grads = run_on(
        backend,
        al.binary_cross_entropy_with_logits,
        [logits, target],
        ("logits",),
        weight=weight,
        pos_weight=pos_weight,
        where=where,
        reduction=reduction,
    )
    assert_close(plain, from_torch(expected))
    assert_close(grads, (g_logits,), atol=1e-15)


def test_bce_with_logits_is_exact_and_finite_at_huge_logits(backend):
    logits = np.array([1000.0, -1000.0, 1000.0, -1000.0, 100.0, -100.0, 100.0, -100.0, -40.0])
    target = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    pos_weight = np.array(2.0)
    # exact values: y pw softplus(-x) + (1 - y) softplus(x), in 50 digits
    mpmath.mp.dps = 50
    exact = [
        float(t * 2 * mpmath.log1p(mpmath.exp(-x)) + (1 - t) * mpmath.log1p(mpmath.exp(x)))
        for x, t in zip(logits.tolist(), target.tolist())
    ]
    x, t = torch64(logits, requires_grad=True), torch64(target, requires_grad=True)
    expected = F.binary_cross_entropy_with_logits(
        x, t, pos_weight=torch64(pos_weight), reduction="none"
    )
    g_logits, g_target = _backward(expected, x, t)
    plain, _, grads = run_on(
        backend,
        al.binary_cross_entropy_with_logits,
        [logits, target],
        ("logits", "target"),
        pos_weight=pos_weight,
        reduction="none",
    )
    assert_close(plain, np.array(exact))  # PyTorch's own value at x = -40, y = 0 is 1e-3 off
    assert_close(plain[:-1], from_torch(expected)[:-1], atol=1e-40)
    assert_close(grads, (g_logits, g_target), atol=1e-40)
    assert np.isfinite(plain).all()
    assert np.isfinite(grads[0]).all()


# ------------------------------------------------------ sigmoid_focal_loss


def _torchvision_focal(x: Any, y: Any, alpha: float, gamma: float) -> Any:
    """torchvision.ops.sigmoid_focal_loss(reduction="none"), written out."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


FOCAL_OPTIONS = [(0.25, 2.0), (0.25, 0.5), (0.25, 0.0), (-1.0, 2.0), (0.8, 1.5), (-1.0, 0.5)]


@pytest.mark.parametrize(("backend", "options"), backend_cases(FOCAL_OPTIONS), indirect=["backend"])
def test_sigmoid_focal_matches_torchvision_formula(backend, options):
    alpha, gamma = options
    logits, target = _logits((5, 3))
    x = torch64(logits, requires_grad=True)
    expected = _torchvision_focal(x, torch64(target), alpha, gamma)
    (g_logits,) = _backward(expected, x)
    plain, value, grads = run_on(
        backend,
        al.sigmoid_focal_loss,
        [logits, target],
        ("logits",),
        alpha=alpha,
        gamma=gamma,
        reduction="none",
        plain=True,
    )
    assert_close(plain, from_torch(expected))
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_logits,), atol=1e-15)


@pytest.mark.parametrize(("backend", "reduction"), backend_cases(REDUCTIONS), indirect=["backend"])
def test_sigmoid_focal_reductions_with_weight_and_where(backend, reduction):
    logits, target = _logits((2, 3, 4))
    weight = _rng("fw").uniform(0.1, 2.0, (3, 4))
    where = _rng("fm").uniform(size=(2, 3, 4)) > 0.3
    x = torch64(logits, requires_grad=True)
    w = torch64(weight).expand(2, 3, 4)
    loss = _torchvision_focal(x, torch64(target), 0.25, 2.0) * w
    m = torch64(where)
    expected = _masked_reduce(
        loss, reduction, where, denominator=torch.where(m, w, torch.zeros_like(w)).sum()
    )
    (g_logits,) = _backward(expected, x)
    plain, _, grads = run_on(
        backend,
        al.sigmoid_focal_loss,
        [logits, target],
        ("logits",),
        weight=weight,
        where=where,
        reduction=reduction,
    )
    assert_close(plain, from_torch(expected))
    assert_close(grads, (g_logits,), atol=1e-15)


def _focal_mp(x: float, y: float, alpha: float, gamma: float) -> tuple[float, float]:
    """Value and derivative of torchvision's focal loss in 60-digit arithmetic."""
    mpmath.mp.dps = 60

    def loss(v: Any) -> Any:
        p, q = 1 / (1 + mpmath.exp(-v)), 1 / (1 + mpmath.exp(v))
        ce = -(y * mpmath.log(p) + (1 - y) * mpmath.log(q))
        return (alpha * y + (1 - alpha) * (1 - y)) * ce * (y * q + (1 - y) * p) ** gamma

    v = mpmath.mpf(x)
    return float(loss(v)), float(mpmath.diff(loss, v))


@pytest.mark.parametrize(("backend", "gamma"), backend_cases((0.5, 2.0)), indirect=["backend"])
def test_sigmoid_focal_is_finite_and_exact_at_huge_logits(backend, gamma):
    grid = [-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0]
    logits = np.array(grid * 2)
    target = np.array([1.0] * len(grid) + [0.0] * len(grid))
    exact = [_focal_mp(x, y, 0.25, gamma) for x, y in zip(logits.tolist(), target.tolist())]
    plain, _, grads = run_on(
        backend, al.sigmoid_focal_loss, [logits, target], ("logits",), gamma=gamma, reduction="none"
    )
    assert np.isfinite(plain).all()
    assert np.isfinite(grads[0]).all()
    assert_close(plain, np.array([e[0] for e in exact]), atol=1e-300)
    assert_close(grads[0], np.array([e[1] for e in exact]), rtol=1e-9, atol=1e-300)


def test_sigmoid_focal_target_outside_unit_interval_is_valueerror_or_nan(backend):
    logits, target = np.zeros(3), np.array([1.0, 2.0, 0.0])
    if backend.lazy:
        _, value, (grad,) = run_on(
            backend,
            al.sigmoid_focal_loss,
            [logits, target],
            ("logits",),
            gamma=0.5,
            reduction="none",
        )
        assert np.isnan(value[1])
        assert np.isnan(grad[1])
        assert np.isfinite(value[[0, 2]]).all()
        assert np.isfinite(grad[[0, 2]]).all()
        return
    with pytest.raises(ValueError, match=r"target has an entry 2\.0 outside \[0, 1\]"):
        backend.call(al.sigmoid_focal_loss, backend.asarray(logits), backend.asarray(target))


def test_sigmoid_focal_negative_gamma_is_a_valueerror():
    with pytest.raises(ValueError, match=r"gamma=-1\.0 is out of range"):
        al.sigmoid_focal_loss(np.zeros(2), np.ones(2), gamma=-1.0)


# ------------------------------------------------------------- shared checks


_SOFT = _rng("soft").uniform(0.1, 0.9, (2, 3))  # target +- h stays inside [0, 1]

FD_CASES = [
    (al.binary_cross_entropy, (_probabilities((2, 3))[0], _SOFT), ("pred", "target"), {}),
    (al.binary_cross_entropy_with_logits, _logits((2, 3)), ("logits", "target"), {}),
    (
        al.binary_cross_entropy_with_logits,
        _logits((2, 3)),
        ("logits", "target"),
        {"pos_weight": np.array([0.5, 2.0, 3.0])},
    ),
    (al.sigmoid_focal_loss, _logits((2, 3)), ("logits",), {"gamma": 0.5}),
    (al.sigmoid_focal_loss, _logits((2, 3)), ("logits",), {"alpha": -1.0, "gamma": 2.0}),
]


@pytest.mark.parametrize(
    ("fn", "inputs", "wrt", "options"), FD_CASES, ids=lambda v: getattr(v, "__name__", None)
)
def test_gradient_table_matches_central_differences(fn, inputs, wrt, options):
    weight = _rng("fd").uniform(0.5, 2.0, (2, 3))
    arrays = list(inputs)
    grads = al.grad(fn, wrt=wrt)(*arrays, weight=weight, **options)
    for index, g in enumerate(grads):
        expected = numeric_grad(lambda *a: float(fn(*a, weight=weight, **options)), arrays, index)
        assert_close(g, expected, rtol=1e-6, atol=1e-9, err_msg=wrt[index])


def test_gradient_table_matches_jax_grad_of_the_kernels():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from arrayloss.kernels import binary as k

    logits, target = _logits((6,))
    pos_weight = np.linspace(0.5, 2.0, 6)
    cases = [
        ("binary_cross_entropy_with_logits", "logits", (logits, target, pos_weight), {}),
        ("binary_cross_entropy_with_logits", "target", (logits, target, pos_weight), {}),
        ("sigmoid_focal_loss", "logits", (logits, target), {"alpha": 0.25, "gamma": 1.5}),
        ("binary_cross_entropy", "pred", _probabilities((6,)), {}),
    ]
    for name, arg, arrays, options in cases:
        index = 1 if arg == "target" else 0
        kernel = k.VALUES[name]

        def total(
            a: Any,
            kernel: Any = kernel,
            arrays: Any = arrays,
            index: int = index,
            options: Any = options,
        ) -> Any:
            full = [jnp.asarray(v) for v in arrays]
            full[index] = a
            return jnp.sum(kernel(jnp, *full, **options))

        expected = np.asarray(jax.jit(jax.grad(total))(jnp.asarray(arrays[index])))
        got = k.GRADS[name][arg](np, np.ones(6), *arrays, **options)
        assert_close(got, expected, err_msg=f"{name} {arg}")


FLOAT32_CASES = {
    "bce": (al.binary_cross_entropy, _probabilities, {}),
    "bce_with_logits": (
        al.binary_cross_entropy_with_logits,
        _logits,
        {"pos_weight": np.array([1.0, 2.0, 0.5])},
    ),
    "sigmoid_focal": (al.sigmoid_focal_loss, _logits, {"gamma": 0.5}),
}


@pytest.mark.parametrize(
    ("backend", "case"), backend_cases(sorted(FLOAT32_CASES)), indirect=["backend"]
)
def test_float32_gives_the_same_numbers_on_every_backend(backend, case):
    fn, make, options = FLOAT32_CASES[case]
    a, b = (v.astype(np.float32) for v in make((4, 3)))
    wide = {
        k: np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray) else v
        for k, v in options.items()
    }
    expected_value, expected_grad = al.value_and_grad(fn)(
        a.astype(np.float64), b.astype(np.float64), **wide
    )
    narrow = {
        k: backend.asarray(v, "float32") if isinstance(v, np.ndarray) else v
        for k, v in options.items()
    }
    value, grad = backend.call(
        al.value_and_grad(fn), backend.asarray(a), backend.asarray(b), **narrow
    )
    v, g = backend.to_numpy(value), backend.to_numpy(grad)
    assert v.dtype == np.float32
    assert g.dtype == np.float32
    assert_close(v.astype(np.float64), np.asarray(expected_value), rtol=RTOL32)
    assert_close(g.astype(np.float64), np.asarray(expected_grad), rtol=RTOL32, atol=1e-6)


def test_torch_backward_and_jax_grad_run_through_the_tables():
    jax = pytest.importorskip("jax")
    logits, target = _logits((3, 4))
    pos_weight = np.array([1.0, 2.0, 0.5, 3.0])
    x = torch64(logits, requires_grad=True)
    F.binary_cross_entropy_with_logits(
        x, torch64(target), pos_weight=torch64(pos_weight)
    ).backward()
    mine = torch64(logits, requires_grad=True)
    al.binary_cross_entropy_with_logits(
        mine, torch64(target), pos_weight=torch64(pos_weight)
    ).backward()
    assert_close(from_torch(mine.grad), from_torch(x.grad), rtol=RTOL64)
    jnp = jax.numpy
    g = jax.grad(
        lambda v: al.binary_cross_entropy_with_logits(
            v, jnp.asarray(target), pos_weight=jnp.asarray(pos_weight)
        )
    )(jnp.asarray(logits))
    assert_close(np.asarray(g), from_torch(x.grad), rtol=RTOL64)
