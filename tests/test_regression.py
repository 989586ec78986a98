"""Regression losses: values and gradients against PyTorch float64 (or the named
reference), on every backend, every reduction, with weights and masks, at the kinks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import arrayloss as al

from _helpers import (
    RTOL32,
    RTOL64,
    assert_close,
    from_torch,
    numeric_grad,
    optional,
    torch64,
    torch_or_skip,
)

try:
    import torch

    F = torch.nn.functional
except ImportError:  # tests_minimal: the PyTorch-referenced tests skip, the rest run
    torch = F = None

REDUCTIONS = ("none", "sum", "mean")
RNG = np.random.default_rng(1234)


def _torch_tweedie(p: Any, t: Any, power: float) -> Any:
    if power == 0:
        return (t - p) ** 2
    if power == 1:
        return 2 * (torch.xlogy(t, t / p) - t + p)
    if power == 2:
        return 2 * (torch.log(p / t) + t / p - 1)
    kept = torch.clamp(t, min=0) if power < 0 else t
    return 2 * (
        kept ** (2 - power) / ((1 - power) * (2 - power))
        - t * p ** (1 - power) / (1 - power)
        + p ** (2 - power) / (2 - power)
    )


def _torch_msle(p: Any, t: Any) -> Any:
    eps = 1e-7
    return (torch.log1p(torch.clamp(p, min=eps)) - torch.log1p(torch.clamp(t, min=eps))) ** 2


# name -> (arrayloss function, unreduced torch reference, options, input domain)
# The torch references are PyTorch's own losses where PyTorch has them, else the
# documented formula written in torch (values also checked against optax/scikit-learn
# below).
LOSSES: dict[str, tuple[Callable[..., Any], Callable[..., Any], dict[str, Any], str]] = {
    "mse": (al.mse, lambda p, t: F.mse_loss(p, t, reduction="none"), {}, "real"),
    "mae": (al.mae, lambda p, t: F.l1_loss(p, t, reduction="none"), {}, "real"),
    "huber": (
        al.huber,
        lambda p, t, delta: F.huber_loss(p, t, reduction="none", delta=delta),
        {"delta": 0.7},
        "real",
    ),
    "smooth_l1": (
        al.smooth_l1,
        lambda p, t, beta: F.smooth_l1_loss(p, t, reduction="none", beta=beta),
        {"beta": 0.6},
        "real",
    ),
    "log_cosh": (
        al.log_cosh,
        lambda p, t: torch.log(torch.cosh(p - t)),
        {},
        "real",
    ),
    "msle": (al.msle, _torch_msle, {}, "positive"),
    "mape": (
        al.mape,
        lambda p, t: torch.abs(p - t) / torch.clamp(torch.abs(t), min=2.220446049250313e-16),
        {},
        "real",
    ),
    "quantile": (
        al.quantile,
        lambda p, t, q: torch.maximum(q * (t - p), (q - 1) * (t - p)),
        {"q": 0.3},
        "real",
    ),
    "poisson_nll": (
        al.poisson_nll,
        lambda p, t, log_input, full, eps: F.poisson_nll_loss(
            p, t, log_input=log_input, full=full, eps=eps, reduction="none"
        ),
        {"log_input": True, "full": True, "eps": 1e-8},
        "counts",
    ),
    "tweedie_deviance": (
        al.tweedie_deviance,
        _torch_tweedie,
        {"power": 1.5},
        "positive",
    ),
}

#: losses whose `target` has a gradient table entry
TARGET_GRAD = {"mse", "mae", "huber", "smooth_l1", "log_cosh", "msle", "quantile"}


def _inputs(domain: str, shape: tuple[int, ...] = (3, 4)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(sum(shape) + len(domain))
    if domain == "positive":
        return rng.uniform(0.2, 3.0, shape), rng.uniform(0.2, 3.0, shape)
    if domain == "counts":
        return rng.normal(0.0, 1.0, shape), rng.integers(0, 6, shape).astype(np.float64)
    return rng.normal(0.0, 1.5, shape), rng.normal(0.0, 1.5, shape)


def _reference(
    name: str,
    pred: np.ndarray,
    target: np.ndarray,
    reduction: str,
    weight: np.ndarray | None = None,
    where: np.ndarray | None = None,
    denominator: str = "weight",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value and gradients (pred, target) of the documented contract, by torch autograd."""
    _, unreduced, options, _ = LOSSES[name]
    p = torch64(pred, requires_grad=True)
    t = torch64(target, requires_grad=True)
    loss = unreduced(p, t, **options)
    w = torch.ones_like(loss) if weight is None else torch64(weight).expand_as(loss)
    m = torch.ones_like(loss, dtype=torch.bool) if where is None else torch64(where).expand_as(loss)
    terms = torch.where(m, loss * w, torch.zeros_like(loss))
    if reduction == "none":
        out = terms
        out.backward(torch.ones_like(out))
    else:
        out = terms.sum()
        if reduction == "mean":
            denom = (
                torch.where(m, w, torch.zeros_like(w)).sum() if denominator == "weight" else m.sum()
            )
            out = out / denom
        out.backward()
    return from_torch(out), from_torch(p.grad), from_torch(t.grad)


def _denominator(name: str) -> str:
    return "count" if name == "huber" else "weight"


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_value_and_gradients_match_torch_float64(backend, name, reduction):
    torch_or_skip()
    fn, _, options, domain = LOSSES[name]
    pred, target = _inputs(domain)
    value, g_pred, g_target = _reference(name, pred, target, reduction)
    p, t = backend.asarray(pred), backend.asarray(target)
    got = backend.call(fn, p, t, reduction=reduction, **options)
    assert_close(backend.to_numpy(got), value, rtol=RTOL64, atol=1e-300)
    wrt = ("pred", "target") if name in TARGET_GRAD else ("pred",)
    got_value, grads = backend.call(
        al.value_and_grad(fn, wrt=wrt), p, t, reduction=reduction, **options
    )
    assert_close(backend.to_numpy(got_value), value, rtol=RTOL64)
    assert_close(backend.to_numpy(grads[0]), g_pred, rtol=RTOL64, atol=1e-14)
    if name in TARGET_GRAD:
        assert_close(backend.to_numpy(grads[1]), g_target, rtol=RTOL64, atol=1e-14)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weight_and_where_follow_the_reduction_contract(backend, name, reduction):
    torch_or_skip()
    fn, _, options, domain = LOSSES[name]
    pred, target = _inputs(domain)
    weight = RNG.uniform(0.1, 2.0, (1, 4))
    where = RNG.uniform(size=(3, 4)) > 0.3
    value, g_pred, _ = _reference(
        name, pred, target, reduction, weight, where, denominator=_denominator(name)
    )
    p, t = backend.asarray(pred), backend.asarray(target)
    kw = {
        "reduction": reduction,
        "weight": backend.asarray(weight),
        "where": backend.asarray(where),
    }
    got, grad = backend.call(al.value_and_grad(fn), p, t, **kw, **options)
    assert_close(backend.to_numpy(got), value, rtol=RTOL64, atol=1e-300)
    assert_close(backend.to_numpy(grad), g_pred, rtol=RTOL64, atol=1e-14)


@pytest.mark.parametrize(
    ("fn", "torch_fn", "options"),
    [
        (al.mse, "mse_loss", {}),
        (al.l1, "l1_loss", {}),
        (al.huber, "huber_loss", {"delta": 0.5}),
    ],
    ids=["mse", "l1", "huber"],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_denominators_are_pytorch_2_13s(backend, fn, torch_fn, options, reduction):
    torch_fn = getattr(torch_or_skip().nn.functional, torch_fn)
    pred, target = _inputs("real", (5, 3))
    weight = RNG.uniform(0.0, 3.0, (5, 3))
    p = torch64(pred, requires_grad=True)
    expected = torch_fn(p, torch64(target), reduction=reduction, weight=torch64(weight), **options)
    expected.backward(torch.ones_like(expected))
    got, grad = backend.call(
        al.value_and_grad(fn),
        backend.asarray(pred),
        backend.asarray(target),
        reduction=reduction,
        weight=backend.asarray(weight),
        **options,
    )
    assert_close(backend.to_numpy(got), from_torch(expected))
    assert_close(backend.to_numpy(grad), from_torch(p.grad), atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", ["full", "row", "column", "float"])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_matches_torch_with_every_var_layout(backend, reduction, var_shape, full):
    torch_or_skip()
    pred, target = _inputs("real", (4, 3))
    var = RNG.uniform(0.0, 2.0, {"full": (4, 3), "row": (4,), "column": (4, 1)}.get(var_shape, ()))
    if var_shape != "float":
        var[0] = 1e-9  # below eps: clamped, gradient passes through the clamp
    p = torch64(pred, requires_grad=True)
    t = torch64(target, requires_grad=True)
    v = 0.8 if var_shape == "float" else torch64(var, requires_grad=True)
    expected = F.gaussian_nll_loss(p, t, v, full=full, eps=1e-6, reduction=reduction)
    expected.backward(torch.ones_like(expected))
    var_arg = 0.8 if var_shape == "float" else backend.asarray(var)
    wrt = ("pred", "target") if var_shape == "float" else ("pred", "target", "var")
    got, grads = backend.call(
        al.value_and_grad(al.gaussian_nll, wrt=wrt),
        backend.asarray(pred),
        backend.asarray(target),
        var_arg,
        full=full,
        reduction=reduction,
    )
    assert_close(backend.to_numpy(got), from_torch(expected))
    assert_close(backend.to_numpy(grads[0]), from_torch(p.grad))
    assert_close(backend.to_numpy(grads[1]), from_torch(t.grad))
    if var_shape != "float":
        assert_close(backend.to_numpy(grads[2]), from_torch(v.grad))


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [True, False])
def test_poisson_nll_matches_torch_in_every_mode(backend, log_input, full):
    torch_or_skip()
    pred = RNG.uniform(0.05, 3.0, (6,))
    target = np.array([0.0, 1.0, 2.0, 3.0, 7.0, 0.5])
    p = torch64(pred, requires_grad=True)
    expected = F.poisson_nll_loss(p, torch64(target), log_input=log_input, full=full)
    expected.backward()
    got, grad = backend.call(
        al.value_and_grad(al.poisson_nll),
        backend.asarray(pred),
        backend.asarray(target),
        log_input=log_input,
        full=full,
    )
    assert_close(backend.to_numpy(got), from_torch(expected))
    assert_close(backend.to_numpy(grad), from_torch(p.grad))


# ----------------------------------------------------------- named references


def test_non_torch_losses_match_their_named_references():
    skm = optional("sklearn.metrics")
    optax = optional("optax")
    pred, target = _inputs("positive", (20,))
    weight = RNG.uniform(0.1, 2.0, 20)
    assert_close(
        al.msle(pred, target, weight=weight),
        skm.mean_squared_log_error(target, pred, sample_weight=weight),
    )
    assert_close(
        al.mape(pred, target, weight=weight),
        skm.mean_absolute_percentage_error(target, pred, sample_weight=weight),
    )
    for q in (0.1, 0.5, 0.9):
        assert_close(
            al.quantile(pred, target, q=q, weight=weight),
            skm.mean_pinball_loss(target, pred, alpha=q, sample_weight=weight),
        )
    for power in (-1.0, 0.0, 1.0, 1.5, 2.0, 3.0):
        assert_close(
            al.tweedie_deviance(pred, target, power=power, weight=weight),
            skm.mean_tweedie_deviance(target, pred, power=power, sample_weight=weight),
        )
    assert_close(
        al.rmse(pred, target, weight=weight),
        skm.root_mean_squared_error(target, pred, sample_weight=weight),
    )
    jnp = optional("jax.numpy")
    assert_close(
        al.log_cosh(pred, target, reduction="none"),
        np.asarray(optax.losses.log_cosh(jnp.asarray(pred), jnp.asarray(target))),
    )


def test_log_cosh_is_finite_for_huge_errors(backend):
    pred = backend.asarray(np.array([1e300, -1e300, 800.0]))
    got = backend.to_numpy(
        backend.call(al.log_cosh, pred, backend.asarray(np.zeros(3)), reduction="none")
    )
    assert_close(got, np.array([1e300, 1e300, 800.0 - math.log(2.0)]))


# --------------------------------------------------------------- rmse


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_rmse_is_sqrt_of_mse_with_its_gradient(backend, reduction):
    torch_or_skip()
    pred, target = _inputs("real")
    weight = RNG.uniform(0.5, 1.5, (3, 4))
    p = torch64(pred, requires_grad=True)
    mse = F.mse_loss(p, torch64(target), weight=torch64(weight), reduction=reduction)
    expected = torch.sqrt(mse)
    expected.backward(torch.ones_like(expected))
    got, grad = backend.call(
        al.value_and_grad(al.rmse),
        backend.asarray(pred),
        backend.asarray(target),
        weight=backend.asarray(weight),
        reduction=reduction,
    )
    assert_close(backend.to_numpy(got), from_torch(expected))
    assert_close(backend.to_numpy(grad), from_torch(p.grad))


def test_rmse_gradient_at_a_perfect_prediction_is_zero(backend):
    x = backend.asarray(np.array([1.0, 2.0]))
    value, grad = backend.call(al.value_and_grad(al.rmse), x, x)
    assert_close(backend.to_numpy(value), 0.0)
    assert_close(backend.to_numpy(grad), np.zeros(2))


# -------------------------------------------------------------- kinks


def test_subgradients_at_the_kinks_are_pytorchs(backend):
    torch_or_skip()
    pred = np.array([0.0, 0.5, -0.5, 1.0, 2.0])
    target = np.zeros(5)
    for fn, torch_fn, options in [
        (al.mae, F.l1_loss, {}),
        (al.huber, F.huber_loss, {"delta": 0.5}),
        (al.smooth_l1, F.smooth_l1_loss, {"beta": 0.5}),
        (al.smooth_l1, F.smooth_l1_loss, {"beta": 0.0}),
        (al.huber, F.huber_loss, {"delta": 1.0}),
    ]:
        p = torch64(pred, requires_grad=True)
        torch_fn(p, torch64(target), reduction="sum", **options).backward()
        grad = backend.call(
            al.grad(fn), backend.asarray(pred), backend.asarray(target), reduction="sum", **options
        )
        assert_close(backend.to_numpy(grad), from_torch(p.grad), err_msg=f"{fn.__name__} {options}")


def test_quantile_gradient_at_zero_error_is_the_subdifferential_midpoint(backend):
    x = backend.asarray(np.array([1.0, -2.0]))
    grad = backend.call(al.grad(al.quantile), x, x, q=0.8, reduction="sum")
    assert_close(backend.to_numpy(grad), np.array([-0.3, -0.3]))


# ---------------------------------------------------- finite differences


FD_CASES = [
    (al.mse, {}, "real", ("pred", "target")),
    (al.rmse, {}, "real", ("pred", "target")),
    (al.mae, {}, "real", ("pred", "target")),
    (al.huber, {"delta": 0.8}, "real", ("pred", "target")),
    (al.smooth_l1, {"beta": 0.4}, "real", ("pred", "target")),
    (al.log_cosh, {}, "real", ("pred", "target")),
    (al.msle, {}, "positive", ("pred", "target")),
    (al.mape, {}, "real", ("pred",)),
    (al.quantile, {"q": 0.25}, "real", ("pred", "target")),
    (al.poisson_nll, {"log_input": False, "full": True}, "positive", ("pred",)),
    (al.tweedie_deviance, {"power": 1.5}, "positive", ("pred",)),
    (al.tweedie_deviance, {"power": -0.5}, "positive", ("pred",)),
    (al.tweedie_deviance, {"power": 3.0}, "positive", ("pred",)),
]


@pytest.mark.parametrize(
    ("fn", "options", "domain", "wrt"), FD_CASES, ids=lambda v: getattr(v, "__name__", None)
)
def test_gradient_table_matches_central_differences(fn, options, domain, wrt):
    pred, target = _inputs(domain, (2, 3))
    weight = RNG.uniform(0.5, 2.0, (2, 3))

    def scalar(p: np.ndarray, t: np.ndarray) -> float:
        return float(fn(p, t, weight=weight, **options))

    grads = al.grad(fn, wrt=wrt)(pred, target, weight=weight, **options)
    for name, g in zip(wrt, grads, strict=True):
        expected = numeric_grad(scalar, [pred, target], 0 if name == "pred" else 1)
        assert_close(g, expected, rtol=1e-6, atol=1e-8, err_msg=name)


def test_gaussian_nll_var_gradient_matches_central_differences():
    pred, target = _inputs("real", (2, 3))
    var = RNG.uniform(0.3, 2.0, (2, 3))
    grads = al.grad(al.gaussian_nll, wrt=(0, 1, 2))(pred, target, var, full=True)
    for index, g in enumerate(grads):
        expected = numeric_grad(
            lambda *a: float(al.gaussian_nll(*a, full=True)), [pred, target, var], index
        )
        assert_close(g, expected, rtol=1e-6, atol=1e-9)


def test_gradient_table_matches_jax_grad_of_the_kernel():
    jax = optional("jax")
    jnp = jax.numpy
    from arrayloss.kernels import regression as k

    pred, target = _inputs("positive", (7,))
    for name, options in [
        ("mse", {}),
        ("huber", {"delta": 0.3}),
        ("log_cosh", {}),
        ("msle", {}),
        ("tweedie_deviance", {"power": 2.5}),
        ("poisson_nll", {"log_input": True, "full": False, "eps": 1e-8}),
    ]:
        kernel = k.VALUES[name]

        def total(
            p: Any, kernel: Callable[..., Any] = kernel, options: dict[str, Any] = options
        ) -> Any:
            return jnp.sum(kernel(jnp, p, jnp.asarray(target), **options))

        expected = np.asarray(jax.grad(total)(jnp.asarray(pred)))
        cot = np.ones(7)
        got = k.GRADS[name]["pred"](np, cot, pred, target, **options)
        assert_close(got, expected, err_msg=name)


# ------------------------------------------------------------ dtypes


@pytest.mark.parametrize("name", ["mse", "huber", "log_cosh", "quantile"])
def test_float32_results_agree_across_backends(backend, name):
    fn, _, options, domain = LOSSES[name]
    pred, target = (a.astype(np.float32) for a in _inputs(domain, (4, 5)))
    expected_value, expected_grad = al.value_and_grad(fn)(
        pred.astype(np.float64), target.astype(np.float64), **options
    )
    value, grad = backend.call(
        al.value_and_grad(fn), backend.asarray(pred), backend.asarray(target), **options
    )
    v = backend.to_numpy(value)
    g = backend.to_numpy(grad)
    assert v.dtype == np.float32
    assert g.dtype == np.float32
    assert_close(v.astype(np.float64), np.asarray(expected_value), rtol=RTOL32)
    assert_close(g.astype(np.float64), np.asarray(expected_grad), rtol=RTOL32, atol=1e-6)


def test_float16_in_gives_float16_out_computed_in_float32(backend):
    if backend.library == "array_api_strict":
        pytest.skip("array_api_strict has float16 only through float32 casts")
    # 300**2 = 90000 overflows float16 (max 65504); the mean, 60003, does not
    pred = np.array([300.0, -300.0, 3.0], dtype=np.float16)
    target = np.zeros(3, dtype=np.float16)
    value, grad = backend.call(
        al.value_and_grad(al.mse), backend.asarray(pred), backend.asarray(target)
    )
    v = backend.to_numpy(value)
    g = backend.to_numpy(grad)
    assert str(v.dtype) == "float16"
    assert str(g.dtype) == "float16"
    assert_close(v.astype(np.float64), np.float16(60003.0).astype(np.float64))
    assert_close(g.astype(np.float64), np.array([200.0, -200.0, 2.0]), rtol=1e-3)


def test_python_float_options_do_not_upcast_float32(backend):
    pred = backend.asarray(np.ones(4, dtype=np.float32))
    target = backend.asarray(np.zeros(4, dtype=np.float32))
    for fn, options in [
        (al.huber, {"delta": 0.25}),
        (al.quantile, {"q": 0.1}),
        (al.smooth_l1, {"beta": 2.0}),
    ]:
        value = backend.to_numpy(backend.call(fn, pred, target, **options))
        assert value.dtype == np.float32, fn.__name__


# -------------------------------------------------------- properties


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_sum_equals_the_sum_of_none_and_mean_is_sum_over_count(name):
    fn, _, options, domain = LOSSES[name]
    pred, target = _inputs(domain, (5, 2))
    none = fn(pred, target, reduction="none", **options)
    assert_close(fn(pred, target, reduction="sum", **options), np.sum(none))
    assert_close(fn(pred, target, reduction="mean", **options), np.mean(none))


def test_masked_out_entries_are_zero_in_none_and_have_zero_gradient(backend):
    pred = backend.asarray(np.array([1.0, np.nan, 3.0]))
    target = backend.asarray(np.zeros(3))
    where = backend.asarray(np.array([True, False, True]))
    value = backend.call(al.mse, pred, target, reduction="none", where=where)
    assert_close(backend.to_numpy(value), np.array([1.0, 0.0, 9.0]))
    mean, grad = backend.call(al.value_and_grad(al.mse), pred, target, where=where)
    assert_close(backend.to_numpy(mean), 5.0)
    assert_close(backend.to_numpy(grad), np.array([1.0, 0.0, 3.0]))


def test_empty_input_sums_to_zero_and_means_to_nan(backend):
    empty = backend.asarray(np.zeros((0, 3)))
    assert_close(backend.to_numpy(backend.call(al.mse, empty, empty, reduction="sum")), 0.0)
    assert np.isnan(backend.to_numpy(backend.call(al.mse, empty, empty)))
    grad = backend.call(al.grad(al.mse), empty, empty)
    assert backend.to_numpy(grad).shape == (0, 3)


def test_fully_masked_mean_is_nan_with_zero_gradient(backend):
    pred = backend.asarray(np.array([1.0, 2.0]))
    where = backend.asarray(np.array([False, False]))
    value, grad = backend.call(al.value_and_grad(al.mae), pred, pred * 0, where=where)
    assert np.isnan(backend.to_numpy(value))
    assert_close(backend.to_numpy(grad), np.zeros(2))


def test_nan_in_gives_nan_out(backend):
    pred = backend.asarray(np.array([np.nan, 1.0]))
    target = backend.asarray(np.zeros(2))
    for fn in (al.mse, al.mae, al.huber, al.log_cosh, al.quantile, al.rmse, al.smooth_l1):
        assert np.isnan(backend.to_numpy(backend.call(fn, pred, target))), fn.__name__


def test_cotangent_of_reduction_none_scales_the_gradient(backend):
    pred, target = _inputs("real", (2, 3))
    cot = RNG.normal(size=(2, 3))
    grad = backend.call(
        al.grad(al.huber),
        backend.asarray(pred),
        backend.asarray(target),
        reduction="none",
        cotangent=backend.asarray(cot),
    )
    expected = al.grad(al.huber)(pred, target, reduction="none") * cot
    assert_close(backend.to_numpy(grad), expected)


def test_broadcast_target_gets_a_gradient_summed_to_its_shape(backend):
    torch_or_skip()
    pred, _ = _inputs("real", (3, 4))
    target = RNG.normal(size=(1, 4))
    p = torch64(pred, requires_grad=True)
    t = torch64(target, requires_grad=True)
    torch.nn.functional.mse_loss(*torch.broadcast_tensors(p, t)).backward()
    _, grads = backend.call(
        al.value_and_grad(al.mse, wrt=("pred", "target")),
        backend.asarray(pred),
        backend.asarray(target),
    )
    assert backend.to_numpy(grads[1]).shape == (1, 4)
    assert_close(backend.to_numpy(grads[1]), from_torch(t.grad))


def test_scalar_target_is_accepted_next_to_an_array(backend):
    pred = backend.asarray(np.array([1.0, 3.0]))
    assert_close(backend.to_numpy(backend.call(al.mse, pred, 1.0)), 2.0)


def test_inputs_are_never_modified(backend):
    pred, target = _inputs("positive", (3, 3))
    p, t = backend.asarray(pred), backend.asarray(target)
    for fn in (al.mse, al.mae, al.huber, al.log_cosh, al.msle, al.mape, al.poisson_nll):
        backend.call(al.value_and_grad(fn), p, t)
    assert_close(backend.to_numpy(p), pred)
    assert_close(backend.to_numpy(t), target)
