"""Distribution losses (kl_div, js_div, cosine_similarity_loss): values and gradients
against PyTorch float64 autograd, scipy's jensenshannon, optax's cosine_distance (and
``jax.grad`` of it), finite differences, on every backend.

Option matrices run whole on the eager backends and on a diagonal third per lazy
backend (``_backend_cases``), which keeps the file fast."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import arrayloss as al
from _backend_cases import backend_cases, run_on

from _helpers import RTOL32, assert_close, from_torch, numeric_grad, optional, torch64

torch = pytest.importorskip("torch")
F = torch.nn.functional

REDUCTIONS = ("none", "sum", "mean")


def _rng(*key: Any) -> np.random.Generator:
    return np.random.default_rng(abs(hash(key)) % 2**32)


def _backward(out: Any, *tensors: Any) -> tuple[np.ndarray, ...]:
    out.backward(torch.ones_like(out))
    return tuple(from_torch(t.grad).copy() for t in tensors)


def _torch_kl_div(x: Any, t: Any, reduction: str, log_target: bool) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyTorch's note on "mean"
        return F.kl_div(x, t, reduction=reduction, log_target=log_target)


def _distributions(shape: tuple[int, ...], axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng("dist", shape, axis)
    logits = rng.normal(0.0, 1.0, (2, *shape))
    e = np.exp(logits)
    p = e / e.sum(axis=axis if axis < 0 else axis + 1, keepdims=True)
    return p[0], p[1]


# -------------------------------------------------------------------- kl_div


@pytest.mark.parametrize(
    ("backend", "log_target", "reduction"),
    backend_cases((False, True), (*REDUCTIONS, "batchmean")),
    indirect=["backend"],
)
def test_kl_div_matches_torch_in_both_arguments(backend, log_target, reduction):
    q, p = _distributions((3, 2, 4))
    log_q = np.log(q)
    target = np.log(p) if log_target else p
    x, t = torch64(log_q, requires_grad=True), torch64(target, requires_grad=True)
    expected = _torch_kl_div(x, t, reduction, log_target)
    g_input, g_target = _backward(expected, x, t)
    plain, value, grads = run_on(
        backend,
        al.kl_div,
        [log_q, target],
        ("input", "target"),
        log_target=log_target,
        reduction=reduction,
        plain=True,
    )
    assert_close(plain, from_torch(expected))
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_input, g_target), atol=1e-15)


def test_kl_div_zero_target_contributes_zero_with_finite_gradients(backend):
    log_q = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    p = np.array([[0.0, 0.4, 0.6], [1.0, 0.0, 0.0]])
    x, t = torch64(log_q, requires_grad=True), torch64(p, requires_grad=True)
    expected = _torch_kl_div(x, t, "batchmean", False)
    g_input, torch_target = _backward(expected, x, t)
    assert np.isnan(torch_target[p == 0]).all()  # PyTorch's t / t at t = 0
    g_target = np.where(p == 0, (1 - log_q) / 2, torch_target)  # the log term dropped
    _, value, grads = run_on(
        backend, al.kl_div, [log_q, p], ("input", "target"), reduction="batchmean"
    )
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_input, g_target))


@pytest.mark.parametrize(
    ("backend", "reduction"), backend_cases((*REDUCTIONS, "batchmean")), indirect=["backend"]
)
def test_kl_div_weight_and_where_follow_the_contract(backend, reduction):
    q, p = _distributions((4, 3))
    rng = _rng("klw")
    weight = rng.uniform(0.1, 2.0, (4, 1))
    where = rng.uniform(size=(4, 3)) > 0.3
    x = torch64(np.log(q), requires_grad=True)
    w = torch64(weight).expand(4, 3)
    m = torch64(where)
    terms = torch.where(
        m, _torch_kl_div(x, torch64(p), "none", False) * w, torch.zeros(4, 3, dtype=torch.float64)
    )
    denominator = {
        "mean": torch.where(m, w, 0 * w).sum(),
        "batchmean": torch.tensor(4.0, dtype=torch.float64),
    }
    expected = terms if reduction == "none" else terms.sum() / denominator.get(reduction, 1.0)
    (g_input,) = _backward(expected, x)
    _, value, grads = run_on(
        backend,
        al.kl_div,
        [np.log(q), p],
        ("input",),
        weight=weight,
        where=where,
        reduction=reduction,
    )
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_input,), atol=1e-15)


def test_kl_div_rejects_an_unknown_reduction():
    with pytest.raises(ValueError, match=r"reduction='batch' is not valid; expected one of"):
        al.kl_div(np.zeros(2), np.ones(2) / 2, reduction="batch")


# -------------------------------------------------------------------- js_div


def _torch_js(p: Any, q: Any, axis: int) -> Any:
    """scipy's jensenshannon(p, q, axis)**2 (natural log), written in torch."""
    p = p / p.sum(axis, keepdim=True)
    q = q / q.sum(axis, keepdim=True)
    m = (p + q) / 2
    return 0.5 * ((p * torch.log(p / m)).sum(axis) + (q * torch.log(q / m)).sum(axis))


JS_LAYOUTS = {"last": ((4, 5), -1), "first": ((5, 3), 0), "broadcast": ((1, 5), -1)}


@pytest.mark.parametrize(
    ("backend", "layout", "reduction"),
    backend_cases(sorted(JS_LAYOUTS), REDUCTIONS),
    indirect=["backend"],
)
def test_js_div_matches_scipy_values_and_torch_gradients(backend, layout, reduction):
    distance = optional("scipy.spatial.distance")
    shape, axis = JS_LAYOUTS[layout]
    rng = _rng("js", layout)
    pred = rng.uniform(0.05, 2.0, shape)  # unnormalised: scipy normalises each vector
    target = rng.uniform(0.05, 2.0, (4, 5) if layout == "broadcast" else shape)
    per_vector = distance.jensenshannon(*np.broadcast_arrays(pred, target), axis=axis) ** 2
    expected_value = {"none": per_vector, "sum": per_vector.sum(), "mean": per_vector.mean()}[
        reduction
    ]
    p, t = torch64(pred, requires_grad=True), torch64(target, requires_grad=True)
    js = _torch_js(p, t, axis)
    g_pred, g_target = _backward({"none": js, "sum": js.sum(), "mean": js.mean()}[reduction], p, t)
    plain, value, grads = run_on(
        backend,
        al.js_div,
        [pred, target],
        ("pred", "target"),
        axis=axis,
        reduction=reduction,
        plain=True,
    )
    assert_close(plain, expected_value)
    assert_close(value, expected_value)
    assert_close(grads, (g_pred, g_target), atol=1e-15)


def test_js_div_with_zero_entries_matches_scipy_and_stays_finite(backend):
    distance = optional("scipy.spatial.distance")
    pred = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    target = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.2, 0.3, 0.5]])
    _, value, grads = run_on(
        backend, al.js_div, [pred, target], ("pred", "target"), reduction="none"
    )
    assert_close(value, distance.jensenshannon(pred, target, axis=-1) ** 2, atol=1e-15)
    assert_close(value[0], np.log(2.0))
    assert np.isfinite(grads[0]).all()
    assert np.isfinite(grads[1]).all()
    assert_close(grads[0][2], np.zeros(3), atol=1e-15)  # identical distributions


def test_js_div_negative_entries_are_valueerror_or_nan(backend):
    pred = backend.asarray(np.array([[0.5, -0.1, 0.6], [0.2, 0.3, 0.5]]))
    target = backend.asarray(np.full((2, 3), 1 / 3))
    if backend.lazy:
        value = backend.to_numpy(backend.call(al.js_div, pred, target, reduction="none"))
        assert np.isnan(value[0])
        assert np.isfinite(value[1])
        return
    with pytest.raises(
        ValueError, match=r"pred has a negative entry -0\.1; js_div takes non-negative"
    ):
        backend.call(al.js_div, pred, target)


def test_js_div_of_an_all_zero_vector_is_nan():
    value = al.js_div(np.zeros((1, 3)), np.ones((1, 3)), reduction="none")
    assert np.isnan(value).all()


# ---------------------------------------------------- cosine_similarity_loss


def _optax_cosine(
    pred: np.ndarray, target: np.ndarray, axis: int, reduction: str, eps: float = 1e-8
) -> tuple[Any, ...]:
    """optax.losses.cosine_distance under the reduction, and its jax.grad in both arguments."""
    jax = optional("jax")
    optax = optional("optax")
    jnp = jax.numpy

    def reduced(a: Any, b: Any) -> Any:
        d = optax.losses.cosine_distance(a, b, epsilon=eps, axis=axis)
        return {"none": d, "sum": jnp.sum(d), "mean": jnp.mean(d)}[reduction]

    a, b = jnp.asarray(pred), jnp.asarray(target)
    value = reduced(a, b)
    grads = jax.vjp(reduced, a, b)[1](jnp.ones_like(value))
    return np.asarray(value), np.asarray(grads[0]), np.asarray(grads[1])


@pytest.mark.parametrize(
    ("backend", "axis", "reduction"), backend_cases((-1, 0), REDUCTIONS), indirect=["backend"]
)
def test_cosine_similarity_loss_matches_optax_and_torch(backend, axis, reduction):
    rng = _rng("cos", axis)
    pred, target = rng.normal(0.0, 1.0, (2, 4, 3))
    value, g_pred, g_target = _optax_cosine(pred, target, axis, reduction)
    x1, x2 = torch64(pred, requires_grad=True), torch64(target, requires_grad=True)
    distance = 1 - F.cosine_similarity(x1, x2, dim=axis, eps=1e-8)
    torch_value = {"none": distance, "sum": distance.sum(), "mean": distance.mean()}[reduction]
    torch_grads = _backward(torch_value, x1, x2)
    plain, got, grads = run_on(
        backend,
        al.cosine_similarity_loss,
        [pred, target],
        ("pred", "target"),
        axis=axis,
        reduction=reduction,
        plain=True,
    )
    assert_close(plain, value)
    assert_close(got, from_torch(torch_value))
    assert_close(grads, (g_pred, g_target), atol=1e-15)
    assert_close(grads, torch_grads, atol=1e-15)


def test_cosine_similarity_loss_at_zero_vectors_is_finite_as_optax(backend):
    pred = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1e-6, 0.0, 0.0], [1.0, 2.0, 3.0]])
    target = np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    value, g_pred, g_target = _optax_cosine(pred, target, -1, "none")
    _, got, grads = run_on(
        backend, al.cosine_similarity_loss, [pred, target], ("pred", "target"), reduction="none"
    )
    assert_close(got, value)
    assert_close(grads, (g_pred, g_target))
    assert np.isfinite(grads[0]).all()
    assert_close(grads[0][0], -target[0] / (1e-4 * 3.0))  # -b / (sqrt(eps) |b|)
    assert_close(grads[0][1], np.zeros(3))


@pytest.mark.parametrize(
    "fn", [al.cosine_similarity_loss, al.js_div], ids=["cosine_similarity_loss", "js_div"]
)
def test_masked_vectors_are_zero_with_zero_gradient_even_if_nan(backend, fn):
    pred = np.array([[0.2, 0.3, 0.5], [np.nan, 0.5, 0.5], [0.6, 0.2, 0.2]])
    target = np.full((3, 3), 1 / 3)
    where = np.array([True, False, True])
    _, value, (grad,) = run_on(
        backend, fn, [pred, target], ("pred",), where=where, reduction="none"
    )
    assert value[1] == 0.0
    assert np.isfinite(value).all()
    assert (grad[1] == 0.0).all()
    assert np.isfinite(grad).all()
    full = fn(pred[[0, 2]], target[[0, 2]], reduction="sum") / 2
    _, mean, _ = run_on(backend, fn, [pred, target], ("pred",), where=where)
    assert_close(mean, full)


def test_keras_cosine_similarity_is_our_loss_minus_one():
    rng = _rng("keras-cos")
    pred, target = rng.normal(0.0, 1.0, (2, 5, 4))

    def l2_normalize(x: np.ndarray) -> np.ndarray:
        return x / np.sqrt(np.maximum(np.sum(x * x, axis=-1, keepdims=True), 1e-12))

    keras = -np.sum(l2_normalize(target) * l2_normalize(pred), axis=-1)
    assert_close(al.cosine_similarity_loss(pred, target, eps=1e-12, reduction="none") - 1, keras)


def test_cosine_eps_must_be_positive():
    with pytest.raises(ValueError, match=r"eps=0\.0 is out of range; eps must be a number > 0"):
        al.cosine_similarity_loss(np.ones(3), np.ones(3), eps=0.0)


# ------------------------------------------------------------ shared checks


def _fd_data() -> dict[str, np.ndarray]:
    rng = _rng("fd")
    q, p = _distributions((2, 4))
    return {
        "log_q": np.log(q),
        "p": p,
        "log_p": np.log(p),
        "u": rng.uniform(0.1, 1.0, (2, 4)),
        "v": rng.uniform(0.1, 1.0, (2, 4)),
        "a": rng.normal(0.0, 1.0, (2, 4)),
        "b": rng.normal(0.0, 1.0, (2, 4)),
    }


FD_CASES = [
    ("kl_div", al.kl_div, ("log_q", "p"), ("input", "target"), {"reduction": "batchmean"}),
    ("kl_div_log_target", al.kl_div, ("log_q", "log_p"), ("input", "target"), {"log_target": True}),
    ("js_div", al.js_div, ("u", "v"), ("pred", "target"), {"reduction": "sum"}),
    ("js_div_axis0", al.js_div, ("u", "v"), ("pred", "target"), {"axis": 0}),
    ("cosine", al.cosine_similarity_loss, ("a", "b"), ("pred", "target"), {"reduction": "sum"}),
]


@pytest.mark.parametrize(
    ("name", "fn", "names", "wrt", "options"), FD_CASES, ids=[c[0] for c in FD_CASES]
)
def test_gradient_table_matches_central_differences(name, fn, names, wrt, options):
    data = _fd_data()
    weight = np.array([0.5, 2.0])[:, None] if fn is al.kl_div else None
    arrays = [data[n] for n in names]
    grads = al.grad(fn, wrt=wrt)(*arrays, weight=weight, **options)
    for index, g in enumerate(grads):
        expected = numeric_grad(lambda *a: float(fn(*a, weight=weight, **options)), arrays, index)
        assert_close(g, expected, rtol=1e-6, atol=1e-9, err_msg=f"{name} {wrt[index]}")


FLOAT32_CASES = {
    "kl_div": (al.kl_div, ("log_q", "p"), {"reduction": "batchmean"}),
    "js_div": (al.js_div, ("u", "v"), {}),
    "cosine_similarity_loss": (al.cosine_similarity_loss, ("a", "b"), {}),
}


@pytest.mark.parametrize(
    ("backend", "case"), backend_cases(sorted(FLOAT32_CASES)), indirect=["backend"]
)
def test_float32_gives_the_same_numbers_on_every_backend(backend, case):
    fn, names, options = FLOAT32_CASES[case]
    data = _fd_data()
    arrays = [data[n].astype(np.float32) for n in names]
    expected_value, expected_grad = al.value_and_grad(fn)(
        *(a.astype(np.float64) for a in arrays), **options
    )
    value, grad = backend.call(
        al.value_and_grad(fn), *(backend.asarray(a) for a in arrays), **options
    )
    v, g = backend.to_numpy(value), backend.to_numpy(grad)
    assert v.dtype == np.float32
    assert g.dtype == np.float32
    assert_close(v.astype(np.float64), np.asarray(expected_value), rtol=RTOL32)
    assert_close(g.astype(np.float64), np.asarray(expected_grad), rtol=RTOL32, atol=1e-6)


def test_axis_out_of_range_is_named():
    with pytest.raises(ValueError, match=r"axis=2 is out of range for an array of rank 2"):
        al.js_div(np.ones((2, 3)), np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match=r"pred has shape \(2, 3\) but target has shape \(2, 4\)"):
        al.cosine_similarity_loss(np.ones((2, 3)), np.ones((2, 4)))
