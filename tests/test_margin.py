"""Margin losses (hinge, squared_hinge, soft_margin, multi_margin, multilabel_soft_margin):
values and gradients against PyTorch float64 autograd (Keras's formula written out in
torch for the hinges), subgradients at the kinks, finite differences, on every backend.

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
F = torch.nn.functional

REDUCTIONS = ("none", "sum", "mean")


def _rng(*key: Any) -> np.random.Generator:
    return np.random.default_rng(abs(hash(key)) % 2**32)


def _backward(out: Any, *tensors: Any) -> tuple[np.ndarray, ...]:
    out.backward(torch.ones_like(out))
    return tuple(from_torch(t.grad).copy() for t in tensors)


def _reduce(loss: Any, reduction: str) -> Any:
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


# ----------------------------------------------------------- hinge (Keras)


def _keras_hinge(p: Any, y: Any, squared: bool) -> Any:
    """Keras's hinge / squared_hinge per element (before its mean over the last axis)."""
    if bool(((y == 0) | (y == 1)).all()):
        y = 2 * y - 1
    h = torch.relu(1 - y * p)  # relu'(0) = 0: the subgradient we document
    return h * h if squared else h


HINGES = {"hinge": (al.hinge, False), "squared_hinge": (al.squared_hinge, True)}


@pytest.mark.parametrize(
    ("backend", "name", "reduction", "labels"),
    backend_cases(sorted(HINGES), REDUCTIONS, ("pm1", "01")),
    indirect=["backend"],
)
def test_hinges_match_keras_formula_and_torch_autograd(backend, name, reduction, labels):
    fn, squared = HINGES[name]
    rng = _rng(name, labels)
    pred = rng.normal(0.0, 1.5, (4, 5))
    target = rng.choice([-1.0, 1.0] if labels == "pm1" else [0.0, 1.0], size=(4, 5))
    p = torch64(pred, requires_grad=True)
    expected = _reduce(_keras_hinge(p, torch64(target), squared), reduction)
    (g_pred,) = _backward(expected, p)
    plain, value, grads = run_on(
        backend, fn, [pred, target], ("pred",), reduction=reduction, plain=True
    )
    assert_close(plain, from_torch(expected))
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_pred,), atol=1e-15)


@pytest.mark.parametrize(("backend", "reduction"), backend_cases(REDUCTIONS), indirect=["backend"])
def test_hinge_weight_and_where_divide_by_the_kept_weight(backend, reduction):
    rng = _rng("hw")
    pred = rng.normal(0.0, 1.5, (3, 4))
    target = rng.choice([-1.0, 1.0], size=(3, 4))
    weight = rng.uniform(0.1, 2.0, (3, 1))
    where = rng.uniform(size=(3, 4)) > 0.3
    p = torch64(pred, requires_grad=True)
    w = torch64(weight).expand(3, 4)
    m = torch64(where)
    terms = torch.where(
        m, _keras_hinge(p, torch64(target), False) * w, torch.zeros(3, 4, dtype=torch.float64)
    )
    expected = {
        "none": terms,
        "sum": terms.sum(),
        "mean": terms.sum() / torch.where(m, w, 0 * w).sum(),
    }[reduction]
    (g_pred,) = _backward(expected, p)
    plain, _, grads = run_on(
        backend,
        al.hinge,
        [pred, target],
        ("pred",),
        weight=weight,
        where=where,
        reduction=reduction,
    )
    assert_close(plain, from_torch(expected))
    assert_close(grads, (g_pred,), atol=1e-15)


def test_hinge_subgradient_at_the_kink_is_zero(backend):
    # y * pred == 1 exactly: the hinge is at its kink; 0.999 is just inside the margin
    pred = np.array([1.0, -1.0, 0.999, 2.0, -0.5])
    target = np.array([1.0, -1.0, 1.0, 1.0, 1.0])
    _, value, (g_hinge,) = run_on(backend, al.hinge, [pred, target], ("pred",), reduction="none")
    assert_close(value, np.array([0.0, 0.0, 1 - 0.999, 0.0, 1.5]))
    assert_close(g_hinge, np.array([0.0, 0.0, -1.0, 0.0, -1.0]))
    _, _, (g_squared,) = run_on(
        backend, al.squared_hinge, [pred, target], ("pred",), reduction="none"
    )
    assert_close(g_squared, np.array([0.0, 0.0, -2 * (1 - 0.999), 0.0, -3.0]))


def test_keras_label_conversion_and_documented_values():
    pred = np.array([[0.6, 0.4], [0.4, 0.6]])
    binary = np.array([[0.0, 1.0], [0.0, 0.0]])
    # Keras's documented numbers for these inputs
    assert_close(al.hinge(pred, binary), 1.3)
    assert_close(al.squared_hinge(pred, binary), 1.86)
    # a mixture of -1, 0 and 1 is not "binary" for Keras: the labels are used as given
    mixed = np.array([[-1.0, 0.0], [1.0, 0.0]])
    expected = np.maximum(1 - mixed * pred, 0.0)
    assert_close(al.hinge(pred, mixed, reduction="none"), expected)
    # Keras's per-sample numbers are our "none" averaged over the last axis
    keras_per_sample = np.mean(np.maximum(1 - (2 * binary - 1) * pred, 0.0), axis=-1)
    assert_close(al.hinge(pred, binary, reduction="none").mean(axis=-1), keras_per_sample)


# ------------------------------------------------------------- soft_margin


@pytest.mark.parametrize(("backend", "reduction"), backend_cases(REDUCTIONS), indirect=["backend"])
def test_soft_margin_matches_torch(backend, reduction):
    rng = _rng("sm")
    x = rng.normal(0.0, 2.0, (3, 4))
    y = rng.choice([-1.0, 1.0], size=(3, 4))
    t = torch64(x, requires_grad=True)
    expected = F.soft_margin_loss(t, torch64(y), reduction=reduction)
    (g_input,) = _backward(expected, t)
    plain, value, grads = run_on(
        backend, al.soft_margin, [x, y], ("input",), reduction=reduction, plain=True
    )
    assert_close(plain, from_torch(expected))
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_input,), atol=1e-15)


def test_soft_margin_is_finite_where_torch_overflows(backend):
    x = np.array([1000.0, -1000.0, 800.0, 30.0])
    y = np.array([-1.0, -1.0, -1.0, 1.0])
    _, value, (grad,) = run_on(backend, al.soft_margin, [x, y], ("input",), reduction="none")
    assert_close(value, np.array([1000.0, 0.0, 800.0, np.log1p(np.exp(-30.0))]))
    assert_close(grad, np.array([1.0, 0.0, 1.0, -1.0 / (1.0 + np.exp(30.0))]))
    assert np.isinf(from_torch(F.soft_margin_loss(torch64(x[:1]), torch64(y[:1]))))


# ------------------------------------------------------------ multi_margin

MARGIN_OPTIONS = ((1, 1.0), (2, 1.0), (1, 0.3), (2, 2.0))


@pytest.mark.parametrize(
    ("backend", "options", "weighting", "reduction"),
    backend_cases(MARGIN_OPTIONS, ("unweighted", "class_weight"), REDUCTIONS),
    indirect=["backend"],
)
def test_multi_margin_matches_torch_with_every_option(backend, options, weighting, reduction):
    p, margin = options
    rng = _rng("mm")
    x = rng.normal(0.0, 1.0, (6, 4))
    target = rng.integers(0, 4, 6)
    weight = rng.uniform(0.2, 2.0, 4) if weighting == "class_weight" else None
    t = torch64(x, requires_grad=True)
    expected = F.multi_margin_loss(
        t,
        torch.from_numpy(target),
        p=p,
        margin=margin,
        weight=None if weight is None else torch64(weight),
        reduction=reduction,
    )
    (g_input,) = _backward(expected, t)
    plain, value, grads = run_on(
        backend,
        al.multi_margin,
        [x, target],
        ("input",),
        p=p,
        margin=margin,
        weight=weight,
        reduction=reduction,
        plain=True,
    )
    assert_close(plain, from_torch(expected))
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_input,), atol=1e-15)


@pytest.mark.parametrize(("backend", "p"), backend_cases((1, 2)), indirect=["backend"])
def test_multi_margin_ties_take_torchs_subgradient(backend, p):
    # z = margin - x[y] + x[d] is exactly 0 for classes 0 and 2 of row 0 and class 1 of row 1
    x = np.array([[0.5, 1.5, 0.5, -1.0], [0.25, 0.25, 1.25, 3.0]])
    target = np.array([1, 2])
    weight = np.array([1.0, 2.0, 0.5, 1.5])
    t = torch64(x, requires_grad=True)
    expected = F.multi_margin_loss(
        t, torch.from_numpy(target), p=p, weight=torch64(weight), reduction="sum"
    )
    (g_input,) = _backward(expected, t)
    _, value, grads = run_on(
        backend, al.multi_margin, [x, target], ("input",), p=p, weight=weight, reduction="sum"
    )
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_input,))
    assert grads[0][0].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_multi_margin_class_axis_and_a_single_sample_match_torch(backend):
    rng = _rng("mm-axis")
    x = rng.normal(0.0, 1.0, (2, 4, 3))  # classes on axis 1
    target = rng.integers(0, 4, (2, 3))
    weight = rng.uniform(0.5, 2.0, 4)
    t = torch64(x, requires_grad=True)
    flat = t.movedim(1, -1).reshape(-1, 4)
    expected = F.multi_margin_loss(
        flat, torch.from_numpy(target.reshape(-1)), p=2, weight=torch64(weight)
    )
    (g_input,) = _backward(expected, t)
    _, value, grads = run_on(
        backend, al.multi_margin, [x, target], ("input",), p=2, weight=weight, axis=1
    )
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_input,), atol=1e-15)
    one = torch64(x[0, :, 0], requires_grad=True)
    expected = F.multi_margin_loss(one, torch.tensor(target[0, 0]))
    (g_one,) = _backward(expected, one)
    _, value, grads = run_on(
        backend, al.multi_margin, [x[0, :, 0], np.asarray(target[0, 0])], ("input",)
    )
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_one,))


def test_multi_margin_label_out_of_range_is_valueerror_or_nan(backend):
    x = backend.asarray(np.zeros((3, 4)))
    target = backend.asarray(np.array([0, 4, 2]))
    if backend.lazy:
        value = backend.to_numpy(backend.call(al.multi_margin, x, target, reduction="none"))
        assert np.isnan(value[1])
        assert np.isfinite(value[[0, 2]]).all()
        return
    with pytest.raises(ValueError, match=r"target has a label 4 outside \[0, 4\)"):
        backend.call(al.multi_margin, x, target)


def test_multi_margin_bad_arguments_are_named():
    x, target = np.zeros((3, 4)), np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"p=3 is not valid; expected one of 1, 2"):
        al.multi_margin(x, target, p=3)
    with pytest.raises(TypeError, match="target holds class indices and must be an integer array"):
        al.multi_margin(x, target.astype(np.float64))
    with pytest.raises(ValueError, match=r"input has shape \(3, 4\) but target has shape \(4,\)"):
        al.multi_margin(x, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"weight has shape \(3,\) but multi_margin takes \(4,\)"):
        al.multi_margin(x, target, weight=np.ones(3))


# -------------------------------------------------- multilabel_soft_margin


@pytest.mark.parametrize(
    ("backend", "weighting", "reduction"),
    backend_cases(("unweighted", "class_weight", "full_weight"), REDUCTIONS),
    indirect=["backend"],
)
def test_multilabel_soft_margin_matches_torch(backend, weighting, reduction):
    rng = _rng("ml")
    x = rng.normal(0.0, 2.0, (5, 4))
    y = rng.choice([0.0, 1.0, 0.3], size=(5, 4))
    weight = {
        "unweighted": None,
        "class_weight": rng.uniform(0.2, 2.0, 4),
        "full_weight": rng.uniform(0.2, 2.0, (5, 4)),
    }[weighting]
    t, ty = torch64(x, requires_grad=True), torch64(y, requires_grad=True)
    expected = F.multilabel_soft_margin_loss(
        t, ty, weight=None if weight is None else torch64(weight), reduction=reduction
    )
    g_logits, g_target = _backward(expected, t, ty)
    plain, value, grads = run_on(
        backend,
        al.multilabel_soft_margin,
        [x, y],
        ("logits", "target"),
        weight=weight,
        reduction=reduction,
        plain=True,
    )
    assert_close(plain, from_torch(expected))
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_logits, g_target), atol=1e-15)


def test_multilabel_soft_margin_channels_first_with_where(backend):
    rng = _rng("ml4")
    x = rng.normal(0.0, 2.0, (2, 3, 2, 2))  # (N, C, H, W)
    y = rng.choice([0.0, 1.0], size=(2, 3, 2, 2))
    weight = rng.uniform(0.5, 2.0, 3)
    where = rng.uniform(size=(2, 2, 2)) > 0.3
    t = torch64(x, requires_grad=True)
    per_sample = F.multilabel_soft_margin_loss(
        t.movedim(1, -1), torch64(y).movedim(1, -1), weight=torch64(weight), reduction="none"
    )
    m = torch64(where)
    expected = torch.where(m, per_sample, 0 * per_sample).sum() / m.sum()
    (g_logits,) = _backward(expected, t)
    _, value, grads = run_on(
        backend, al.multilabel_soft_margin, [x, y], ("logits",), weight=weight, axis=1, where=where
    )
    assert_close(value, from_torch(expected))
    assert_close(grads, (g_logits,), atol=1e-15)


def test_multilabel_soft_margin_is_exact_at_huge_logits(backend):
    x = np.array([[1000.0, -1000.0, 40.0, -40.0]])
    y = np.array([[1.0, 0.0, 0.0, 1.0]])
    _, value, (grad,) = run_on(
        backend, al.multilabel_soft_margin, [x, y], ("logits",), reduction="none"
    )
    assert_close(value, np.array([(40.0 + np.log1p(np.exp(-40.0))) * 2 / 4]))
    assert np.isfinite(grad).all()
    assert_close(grad, np.array([[0.0, 0.0, 1.0, -1.0]]) / 4, atol=1e-17)


def test_multilabel_weight_of_a_wrong_shape_is_named():
    with pytest.raises(
        ValueError, match=r"weight has shape \(3,\) but multilabel_soft_margin takes \(4,\)"
    ):
        al.multilabel_soft_margin(np.zeros((2, 4)), np.zeros((2, 4)), weight=np.ones(3))


# ------------------------------------------------------------ shared checks


def _fd_inputs() -> dict[str, Any]:
    rng = _rng("fd")
    scores = rng.normal(0.0, 1.0, (3, 4))
    return {
        "scores": scores,
        "signs": rng.choice([-1.0, 1.0], size=(3, 4)),
        "labels": np.array([0, 3, 1]),
        "soft": rng.uniform(0.0, 1.0, (3, 4)),
        "class_weight": rng.uniform(0.5, 2.0, 4),
    }


FD_CASES = [
    ("hinge", al.hinge, ("scores", "signs"), ("pred",), {}),
    ("squared_hinge", al.squared_hinge, ("scores", "signs"), ("pred",), {}),
    ("soft_margin", al.soft_margin, ("scores", "signs"), ("input",), {}),
    ("multi_margin_p1", al.multi_margin, ("scores", "labels"), ("input",), {"margin": 0.8}),
    (
        "multi_margin_p2",
        al.multi_margin,
        ("scores", "labels"),
        ("input",),
        {"p": 2, "class_weight": True},
    ),
    (
        "multilabel",
        al.multilabel_soft_margin,
        ("scores", "soft"),
        ("logits", "target"),
        {"class_weight": True},
    ),
]


@pytest.mark.parametrize(
    ("name", "fn", "names", "wrt", "options"), FD_CASES, ids=[c[0] for c in FD_CASES]
)
def test_gradient_table_matches_central_differences(name, fn, names, wrt, options):
    data = _fd_inputs()
    options = dict(options)
    if options.pop("class_weight", False):
        options["weight"] = data["class_weight"]
    arrays = [data[n] for n in names]
    grads = al.grad(fn, wrt=wrt)(*arrays, reduction="sum", **options)
    for index, g in enumerate(grads):
        expected = numeric_grad(lambda *a: float(fn(*a, reduction="sum", **options)), arrays, index)
        assert_close(g, expected, rtol=1e-6, atol=1e-8, err_msg=f"{name} {wrt[index]}")


FLOAT32_CASES = {
    "hinge": (al.hinge, ("scores", "signs"), {}),
    "squared_hinge": (al.squared_hinge, ("scores", "signs"), {}),
    "soft_margin": (al.soft_margin, ("scores", "signs"), {}),
    "multi_margin": (al.multi_margin, ("scores", "labels"), {"p": 2, "class_weight": True}),
    "multilabel_soft_margin": (
        al.multilabel_soft_margin,
        ("scores", "soft"),
        {"class_weight": True},
    ),
}


@pytest.mark.parametrize(
    ("backend", "case"), backend_cases(sorted(FLOAT32_CASES)), indirect=["backend"]
)
def test_float32_gives_the_same_numbers_on_every_backend(backend, case):
    fn, names, options = FLOAT32_CASES[case]
    data = _fd_inputs()
    options = dict(options)
    weight = data["class_weight"] if options.pop("class_weight", False) else None
    arrays = [data[n] for n in names]
    wide = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    expected_value, expected_grad = al.value_and_grad(fn)(*wide, weight=weight, **options)
    narrow = [
        backend.asarray(a, "float32") if a.dtype.kind == "f" else backend.asarray(a) for a in arrays
    ]
    w32 = None if weight is None else backend.asarray(weight, "float32")
    value, grad = backend.call(al.value_and_grad(fn), *narrow, weight=w32, **options)
    v, g = backend.to_numpy(value), backend.to_numpy(grad)
    assert v.dtype == np.float32
    assert g.dtype == np.float32
    assert_close(v.astype(np.float64), np.asarray(expected_value), rtol=RTOL32)
    assert_close(g.astype(np.float64), np.asarray(expected_grad), rtol=RTOL32, atol=1e-6)


def test_class_weights_flow_through_torch_backward_and_jax_grad():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    data = _fd_inputs()
    x, labels, weight = data["scores"], data["labels"], data["class_weight"]
    t = torch64(x, requires_grad=True)
    F.multi_margin_loss(t, torch.from_numpy(labels), p=2, weight=torch64(weight)).backward()
    mine = torch64(x, requires_grad=True)
    al.multi_margin(mine, torch.from_numpy(labels), p=2, weight=torch64(weight)).backward()
    assert_close(from_torch(mine.grad), from_torch(t.grad), rtol=RTOL64)
    g = jax.grad(
        lambda v: al.multi_margin(v, jnp.asarray(labels), p=2, weight=jnp.asarray(weight))
    )(jnp.asarray(x))
    assert_close(np.asarray(g), from_torch(t.grad), rtol=RTOL64)
