"""poly1_cross_entropy (against optax), softmax_focal_loss (against its formula in NumPy
float64 and PyTorch autograd) and the Keras categorical cross-entropies (against Keras 3's
formula, clip included, in PyTorch autograd): values and gradients for every option
combination, central differences, and the edges: logits of +-100 and -inf, gamma in
(0, 1) at p -> 1, clipped probabilities, out-of-range labels.

As in ``test_cross_entropy.py``, the full option matrices run on the eager backends and a
covering subset runs on JAX, jitted JAX and Dask, in one ``backend.call`` per test.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import arrayloss as al
from _batched_calls import evaluate, one_torch_thread

from _helpers import RTOL32, RTOL64, assert_close, from_torch, numeric_grad, optional, torch64

torch = pytest.importorskip("torch")
F = torch.nn.functional

INF = float("inf")
KERAS_EPSILON = 1e-7
COVERED_LAZILY = ("jax", "dask")
LAYOUTS = {"2d": ((6, 4), -1), "4d": ((2, 4, 3, 2), 1)}  # prediction shape, class axis
ALPHA = np.array([0.25, 1.0, 0.5, 2.0])


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with one_torch_thread():
        yield


# ------------------------------------------------------------------------ test data


def _loss_shape(layout: str) -> tuple[int, ...]:
    shape, axis = LAYOUTS[layout]
    return tuple(np.delete(shape, axis))


def _logits(layout: str, seed: int = 0) -> np.ndarray:
    shape, _ = LAYOUTS[layout]
    return np.random.default_rng(seed).normal(0.0, 1.5, shape)


def _labels(layout: str, ignore: int | None = None) -> np.ndarray:
    shape, axis = LAYOUTS[layout]
    target = np.random.default_rng(1).integers(0, shape[axis], _loss_shape(layout))
    if ignore is not None:
        target.reshape(-1)[[1, -1]] = ignore
    return target


def _probabilities(layout: str) -> np.ndarray:
    shape, axis = LAYOUTS[layout]
    e = np.exp(np.random.default_rng(2).normal(size=(*_loss_shape(layout), shape[axis])))
    channels_last = e / e.sum(axis=-1, keepdims=True)
    channels_last.reshape(-1, shape[axis])[0] = [0.0, 0.0, 1.0, 0.0]  # exact zeros
    return np.ascontiguousarray(np.moveaxis(channels_last, -1, axis))


def _reduction_options(layout: str, reduction: str, weighted: bool) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    options: dict[str, Any] = {"reduction": reduction, "axis": LAYOUTS[layout][1]}
    if weighted:
        options["weight"] = rng.uniform(0.2, 2.0, _loss_shape(layout))
    if reduction == "none":
        options["cotangent"] = rng.uniform(-1.0, 2.0, _loss_shape(layout))
    return options


def torch_reduce(
    none: Any,
    x: Any,
    *,
    reduction: str,
    weight: np.ndarray | None = None,
    where: np.ndarray | None = None,
    used: Any = None,
    cotangent: np.ndarray | None = None,
    denominator: str = "weight",
    **_: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce PyTorch's per-sample loss under arrayloss's contract; value and gradient.

    ``used`` marks samples that count (not ignored); ``denominator`` is ``"weight"``
    (``sum(weight)`` over kept samples) or ``"count"`` (their number).
    """
    w = torch.ones_like(none) if weight is None else torch64(weight)
    m = torch.ones_like(none, dtype=torch.bool) if where is None else torch64(where)
    if used is not None:
        m = m & used
    terms = torch.where(m, w * none, torch.zeros_like(none))
    if reduction == "none":
        out = terms
        out.backward(torch64(cotangent))
    else:
        out = terms.sum()
        if reduction == "mean":
            kept = torch.where(m, w if denominator == "weight" else torch.ones_like(w), 0.0)
            out = out / kept.sum()
        out.backward()
    return from_torch(out), from_torch(x.grad)


def check(
    got: Any, expected: tuple[np.ndarray, np.ndarray], label: str, *, rtol: float = RTOL64
) -> None:
    plain, value, grad = got
    assert_close(plain, expected[0], rtol=rtol, atol=1e-300, err_msg=f"value {label}")
    assert_close(value, expected[0], rtol=rtol, atol=1e-300, err_msg=f"value {label}")
    assert_close(grad, expected[1], rtol=rtol, atol=1e-15, err_msg=f"grad {label}")


def _run_matrix(backend: Any, full: list[Any], covering: list[Any]) -> None:
    chosen = covering if backend.library in COVERED_LAZILY else full
    calls = [case.call() for case in chosen]
    for case, result in zip(chosen, evaluate(backend, calls), strict=True):
        check(result, case.reference(), str(case))


# ------------------------------------------------------------------------------ poly1


@dataclass(frozen=True)
class Poly1Case:
    kind: str
    layout: str
    epsilon: float
    weighted: bool
    reduction: str

    def args(self) -> tuple[np.ndarray, np.ndarray]:
        target = _labels(self.layout) if self.kind == "index" else _probabilities(self.layout)
        return _logits(self.layout, 4), target

    def options(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            **_reduction_options(self.layout, self.reduction, self.weighted),
        }

    def call(self) -> Any:
        return (al.poly1_cross_entropy, self.args(), self.options())

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        """optax's formula in PyTorch (checked against optax itself below), reduced by
        arrayloss's contract, differentiated by autograd."""
        logits, target = self.args()
        kw = self.options()
        x = torch64(logits, requires_grad=True)
        return torch_reduce(torch_poly1(x, target, kw["axis"], self.epsilon), x, **kw)

    def __str__(self) -> str:
        return (
            f"poly1/{self.kind}/{self.layout}/eps={self.epsilon}/w={self.weighted}/{self.reduction}"
        )


POLY1_MATRIX = [
    Poly1Case(*c)
    for c in itertools.product(
        ("index", "probs"), LAYOUTS, (2.0, -1.0), (False, True), ("none", "sum", "mean")
    )
]
POLY1_COVERING = [
    Poly1Case("index", "4d", -1.0, True, "mean"),
    Poly1Case("probs", "2d", 2.0, False, "none"),
    Poly1Case("index", "2d", 2.0, False, "sum"),
]


def torch_poly1(x: Any, target: np.ndarray, axis: int, epsilon: float) -> Any:
    """optax.losses.poly_loss_cross_entropy per sample, in PyTorch."""
    if target.dtype.kind != "f":
        target = np.moveaxis(np.eye(x.shape[axis])[target], -1, axis)
    t = torch64(target)
    p = torch.softmax(x, dim=axis)
    ce = -(t * torch.log_softmax(x, dim=axis)).sum(dim=axis)
    return ce + epsilon * (t * (1 - p)).sum(dim=axis)


def test_poly1_matches_optax_for_every_option_combination(backend):
    _run_matrix(backend, POLY1_MATRIX, POLY1_COVERING)


@pytest.mark.parametrize("kind", ["index", "probs"])
def test_poly1_formula_is_optaxs(kind):
    jax = optional("jax")
    optax = optional("optax")
    for layout, epsilon in itertools.product(LAYOUTS, (2.0, -1.0)):
        case = Poly1Case(kind, layout, epsilon, False, "none")
        (logits, target), kw = case.args(), case.options()
        one_hot = target if kind == "probs" else np.moveaxis(np.eye(4)[target], -1, kw["axis"])

        def per_sample(x: Any, t: Any = one_hot, o: dict[str, Any] = kw) -> Any:
            return optax.losses.poly_loss_cross_entropy(x, t, epsilon=o["epsilon"], axis=o["axis"])

        value, pullback = jax.vjp(jax.jit(per_sample), jax.numpy.asarray(logits))
        (grad,) = pullback(jax.numpy.asarray(kw["cotangent"]))
        x = torch64(logits, requires_grad=True)
        expected = torch_reduce(torch_poly1(x, target, kw["axis"], epsilon), x, **kw)
        assert_close(np.asarray(value), expected[0], err_msg=str(case))
        assert_close(np.asarray(grad), expected[1], atol=1e-15, err_msg=str(case))
        got = al.value_and_grad(al.poly1_cross_entropy)(logits, target, **kw)
        assert_close(got[0], np.asarray(value), err_msg=str(case))
        assert_close(got[1], np.asarray(grad), atol=1e-15, err_msg=str(case))


def test_poly1_gradient_matches_central_differences():
    for case in POLY1_COVERING[:2]:
        (logits, target), kw = case.args(), {**case.options(), "reduction": "mean"}
        kw.pop("cotangent", None)
        expected = numeric_grad(
            lambda x, t=target, o=kw: al.poly1_cross_entropy(x, t, **o), [logits], 0
        )
        got = al.grad(al.poly1_cross_entropy)(logits, target, **kw)
        assert_close(got, expected, rtol=1e-7, atol=1e-9, err_msg=str(case))


def test_poly1_with_epsilon_zero_is_cross_entropy():
    logits, target = _logits("4d"), _labels("4d")
    a = al.value_and_grad(al.poly1_cross_entropy)(logits, target, epsilon=0.0, axis=1)
    b = al.value_and_grad(al.cross_entropy)(logits, target, axis=1)
    assert_close(a[0], b[0])
    assert_close(a[1], b[1])


# ------------------------------------------------------------------------------ focal


def numpy_focal(
    logits: np.ndarray,
    target: np.ndarray,
    *,
    axis: int,
    alpha: Any,
    gamma: float,
    ignore_index: int,
) -> np.ndarray:
    """The per-sample focal loss written out in NumPy float64."""
    z = logits - logits.max(axis=axis, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    p = np.exp(logp)
    n = logits.shape[axis]
    a = np.ones(n) if alpha is None else np.broadcast_to(np.asarray(alpha, dtype=float), (n,))
    a_b = np.moveaxis(np.broadcast_to(a, (*np.delete(logits.shape, axis), n)), -1, axis)
    if target.dtype.kind == "f":
        return -np.sum(a_b * target * (1 - p) ** gamma * logp, axis=axis)
    used = target != ignore_index
    safe = np.where(used, target, 0)
    idx = np.expand_dims(safe, axis)
    logp_y = np.take_along_axis(logp, idx, axis).squeeze(axis)
    p_y = np.take_along_axis(p, idx, axis).squeeze(axis)
    return np.where(used, -a[safe] * (1 - p_y) ** gamma * logp_y, 0.0)


def torch_focal(
    x: Any, target: np.ndarray, *, axis: int, alpha: Any, gamma: float, ignore_index: int
) -> Any:
    """The same formula in PyTorch, for autograd."""
    logp = torch.log_softmax(x, dim=axis)
    p = logp.exp()
    n = x.shape[axis]
    a = (
        torch.ones(n, dtype=x.dtype)
        if alpha is None
        else torch64(np.broadcast_to(np.asarray(alpha, dtype=float), (n,)))
    )
    if target.dtype.kind == "f":
        shape = [1] * x.ndim
        shape[axis] = n
        return -(a.reshape(shape) * torch64(target) * (1 - p) ** gamma * logp).sum(dim=axis)
    t = torch.from_numpy(target)
    used = t != ignore_index
    safe = torch.where(used, t, 0)
    logp_y = torch.take_along_dim(logp, safe.unsqueeze(axis), dim=axis).squeeze(axis)
    loss = -a[safe] * (1 - logp_y.exp()) ** gamma * logp_y
    return torch.where(used, loss, torch.zeros_like(loss))


@dataclass(frozen=True)
class FocalCase:
    kind: str
    layout: str
    alpha: str  # "none" | "float" | "array"
    gamma: float
    ignore: bool  # index targets: some targets are ignore_index
    weighted: bool
    reduction: str

    def args(self) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "probs":
            return _logits(self.layout, 5), _probabilities(self.layout)
        return _logits(self.layout, 5), _labels(self.layout, -100 if self.ignore else None)

    def options(self) -> dict[str, Any]:
        alpha = {"none": None, "float": 0.25, "array": ALPHA}[self.alpha]
        return {
            "alpha": alpha,
            "gamma": self.gamma,
            **_reduction_options(self.layout, self.reduction, self.weighted),
        }

    def call(self) -> Any:
        return (al.softmax_focal_loss, self.args(), self.options())

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        logits, target = self.args()
        kw = self.options()
        formula = {
            "axis": kw["axis"] % logits.ndim,
            "alpha": kw["alpha"],
            "gamma": self.gamma,
            "ignore_index": -100,
        }
        x = torch64(logits, requires_grad=True)
        none = torch_focal(x, target, **formula)
        assert_close(
            from_torch(none), numpy_focal(logits, target, **formula), err_msg="torch vs numpy"
        )
        used = None if self.kind == "probs" else torch.from_numpy(target != -100)
        return torch_reduce(none, x, used=used, **kw)

    def __str__(self) -> str:
        return (
            f"focal/{self.kind}/{self.layout}/alpha={self.alpha}/gamma={self.gamma}/"
            f"ignore={self.ignore}/w={self.weighted}/{self.reduction}"
        )


FOCAL_MATRIX = [
    FocalCase(kind, layout, alpha, gamma, ignore, weighted, reduction)
    for kind, layout, alpha, gamma, ignore, weighted, reduction in itertools.product(
        ("index", "probs"),
        LAYOUTS,
        ("none", "float", "array"),
        (0.5, 2.0),
        (False, True),
        (False, True),
        ("none", "sum", "mean"),
    )
    if not (kind == "probs" and ignore)
]
FOCAL_COVERING = [
    FocalCase("index", "4d", "array", 0.5, True, True, "mean"),
    FocalCase("index", "2d", "float", 2.0, False, False, "none"),
    FocalCase("probs", "4d", "none", 2.0, False, True, "sum"),
    FocalCase("probs", "2d", "array", 0.5, False, False, "mean"),
]


def test_softmax_focal_matches_its_formula_for_every_option_combination(backend):
    _run_matrix(backend, FOCAL_MATRIX, FOCAL_COVERING)


def test_softmax_focal_gradient_matches_central_differences():
    for case in FOCAL_COVERING[::3]:
        (logits, target), kw = case.args(), {**case.options(), "reduction": "mean"}
        expected = numeric_grad(
            lambda x, t=target, o=kw: al.softmax_focal_loss(x, t, **o), [logits], 0
        )
        got = al.grad(al.softmax_focal_loss)(logits, target, **kw)
        assert_close(got, expected, rtol=1e-7, atol=1e-9, err_msg=str(case))


def test_softmax_focal_with_gamma_zero_is_cross_entropy():
    logits, target = _logits("4d"), _labels("4d", -100)
    a = al.value_and_grad(al.softmax_focal_loss)(logits, target, gamma=0.0, axis=1)
    b = al.value_and_grad(al.cross_entropy)(logits, target, axis=1)
    assert_close(a[0], b[0])
    assert_close(a[1], b[1])


def _accurate_focal_row(x: np.ndarray, y: int, gamma: float) -> tuple[float, np.ndarray]:
    """Value and gradient of one sample without cancellation: ``q = 1 - p_y`` summed
    from the other classes' probabilities and ``log p_y = -log1p(sum_c e^(x_c - x_y))``."""
    others = np.exp(np.delete(x, y) - x[y])
    logp_y = -np.log1p(others.sum())
    p = np.exp(x - x.max())
    p /= p.sum()
    q = np.delete(p, y).sum()
    ratio = logp_y / q if q > 0 else -1.0
    slope = q**gamma * (gamma * np.exp(logp_y) * ratio - 1)  # d(-q^g log p_y)/d log p_y
    grad = -slope * p
    grad[y] = slope * q  # slope * (1 - p_y)
    return -(q**gamma) * logp_y, grad


def test_softmax_focal_is_finite_and_accurate_at_p_near_one_and_logits_100(backend):
    logits = np.array(
        [
            [100.0, -100.0, -100.0, -100.0],  # p_y = 1 in float64
            [30.0, 0.0, 2.0, -1.0],  # 1 - p_y ~ 1e-13
            [-100.0, 100.0, 100.0, -100.0],  # p_y ~ 1e-87
            [12.0, 0.0, 0.0, 0.0],  # 1 - p_y ~ 2e-5
            [0.0, 0.0, 0.0, 0.0],
            [-INF, 3.0, -INF, 1.0],  # -inf on non-target classes
        ]
    )
    target = np.array([0, 0, 0, 0, 2, 1])
    calls = [
        (
            al.softmax_focal_loss,
            (logits, target),
            {"gamma": gamma, "reduction": "none", "cotangent": np.ones(6)},
        )
        for gamma in (0.5, 2.0)
    ]
    for (_, _, kw), (plain, _, grad) in zip(calls, evaluate(backend, calls), strict=True):
        assert np.all(np.isfinite(plain))
        assert np.all(np.isfinite(grad))
        for row in range(6):
            value, g = _accurate_focal_row(logits[row], target[row], kw["gamma"])
            assert_close(plain[row], value, rtol=1e-9, atol=1e-300, err_msg=f"row {row}")
            assert_close(grad[row], g, rtol=1e-9, atol=1e-300, err_msg=f"row {row}")


def test_softmax_focal_probability_targets_ignore_minus_inf_classes_without_mass():
    logits = np.array([[-INF, 1.0, 0.0, 2.0]])
    target = np.array([[0.0, 0.2, 0.3, 0.5]])
    value, grad = al.value_and_grad(al.softmax_focal_loss)(logits, target, gamma=0.5)
    expected = al.value_and_grad(al.softmax_focal_loss)(logits[:, 1:], target[:, 1:], gamma=0.5)
    assert_close(value, expected[0])
    assert grad[0, 0] == 0
    assert_close(grad[:, 1:], expected[1])


# --------------------------------------------------------------- Keras categorical


def torch_keras(
    x: Any,
    target: np.ndarray,
    *,
    axis: int,
    from_logits: bool,
    label_smoothing: float,
    sparse: bool,
    ignore_index: int | None,
) -> tuple[Any, Any]:
    """keras.losses.(sparse_)categorical_crossentropy per sample, in PyTorch; and the
    samples that count (``ignore_class``)."""
    n = x.shape[axis]
    if from_logits:
        log_prob = torch.log_softmax(x, dim=axis)
    else:
        out = x / x.sum(dim=axis, keepdim=True)
        log_prob = torch.log(torch.clamp(out, KERAS_EPSILON, 1 - KERAS_EPSILON))
    if not sparse:
        t = torch64(target) * (1 - label_smoothing) + label_smoothing / n
        return -(t * log_prob).sum(dim=axis), None
    labels = torch.from_numpy(target)
    used = (
        torch.ones_like(labels, dtype=torch.bool)
        if ignore_index is None
        else labels != ignore_index
    )
    safe = torch.where(used, labels, 0)
    one_hot = torch.movedim(F.one_hot(safe, n).to(x.dtype), -1, axis)
    loss = -(one_hot * log_prob).sum(dim=axis)
    return torch.where(used, loss, torch.zeros_like(loss)), used


def _keras_probabilities(layout: str) -> np.ndarray:
    """Probabilities with a zero (clipped at 1e-7) and a near-one entry (clipped at
    1 - 1e-7), not normalised (Keras renormalises)."""
    shape, axis = LAYOUTS[layout]
    p = np.moveaxis(np.random.default_rng(6).uniform(0.05, 1.0, shape), axis, -1).copy()
    rows = p.reshape(-1, shape[axis])
    rows[0] = [0.0, 0.6, 0.3, 0.5]
    rows[1] = [1.0, 1e-9, 2e-9, 1e-9]
    return np.ascontiguousarray(np.moveaxis(p, -1, axis))


@dataclass(frozen=True)
class KerasCase:
    sparse: bool
    layout: str
    from_logits: bool
    variant: float  # categorical: label_smoothing; sparse: non-zero means ignore_index=-1
    weighted: bool
    reduction: str

    def args(self) -> tuple[np.ndarray, np.ndarray]:
        pred = _logits(self.layout, 7) if self.from_logits else _keras_probabilities(self.layout)
        if self.sparse:
            return pred, _labels(self.layout, -1 if self.variant else None)
        return pred, _probabilities(self.layout)

    def options(self) -> dict[str, Any]:
        options = {
            "from_logits": self.from_logits,
            **_reduction_options(self.layout, self.reduction, self.weighted),
        }
        if self.sparse:
            options["ignore_index"] = -1 if self.variant else None
        else:
            options["label_smoothing"] = self.variant
        return options

    def call(self) -> Any:
        fn = al.sparse_categorical_cross_entropy if self.sparse else al.categorical_cross_entropy
        return (fn, self.args(), self.options())

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        pred, target = self.args()
        kw = self.options()
        x = torch64(pred, requires_grad=True)
        none, used = torch_keras(
            x,
            target,
            axis=kw["axis"],
            from_logits=self.from_logits,
            label_smoothing=kw.get("label_smoothing", 0.0),
            sparse=self.sparse,
            ignore_index=kw.get("ignore_index"),
        )
        return torch_reduce(none, x, used=used, denominator="count", **kw)

    def __str__(self) -> str:
        name = "sparse" if self.sparse else "categorical"
        return f"{name}/{self.layout}/logits={self.from_logits}/{self.variant}/w={self.weighted}/{self.reduction}"


KERAS_MATRIX = [
    KerasCase(*c)
    for c in itertools.product(
        (False, True), LAYOUTS, (False, True), (0.0, 0.2), (False, True), ("none", "sum", "mean")
    )
]
KERAS_COVERING = [
    KerasCase(False, "4d", False, 0.2, True, "mean"),
    KerasCase(False, "2d", True, 0.0, False, "none"),
    KerasCase(True, "2d", False, 1.0, True, "mean"),
    KerasCase(True, "4d", True, 0.0, False, "sum"),
]


def test_keras_categorical_losses_match_keras_for_every_option_combination(backend):
    _run_matrix(backend, KERAS_MATRIX, KERAS_COVERING)


def test_keras_documented_values():
    y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    # keras.losses.CategoricalCrossentropy docs: 1.177, and 0.8136 with sample_weight
    assert_close(al.categorical_cross_entropy(y_pred, y_true), 1.1769392, rtol=1e-7)
    weighted = al.categorical_cross_entropy(y_pred, y_true, weight=np.array([0.3, 0.7]))
    assert_close(weighted, 0.8135988, rtol=1e-6)
    sparse = al.sparse_categorical_cross_entropy(y_pred, np.array([[1], [2]]), reduction="none")
    assert_close(sparse, np.array([0.0512933, 2.3025851]), rtol=1e-6)


def test_keras_gradients_match_central_differences():
    for case in (KERAS_COVERING[0], KERAS_COVERING[2]):
        (pred, target), kw = case.args(), {**case.options(), "reduction": "mean"}
        fn = case.call()[0]
        expected = numeric_grad(lambda x, t=target, o=kw, f=fn: f(x, t, **o), [pred], 0, step=1e-8)
        assert_close(
            al.grad(fn)(pred, target, **kw), expected, rtol=1e-5, atol=1e-7, err_msg=str(case)
        )


# ----------------------------------------------------------------- errors and dtypes


@pytest.mark.parametrize(
    "fn",
    [al.poly1_cross_entropy, al.softmax_focal_loss, al.sparse_categorical_cross_entropy],
    ids=lambda f: f.__name__,
)
def test_out_of_range_label_raises_on_eager_backends_and_is_nan_lazily(backend, fn):
    logits = _logits("2d", 8)
    target = np.array([0, 4, 1, 2, 3, 1])
    options = (
        {"reduction": "none", "from_logits": True}
        if fn is al.sparse_categorical_cross_entropy
        else {"reduction": "none"}
    )
    if backend.lazy:
        [(plain, _, grad)] = evaluate(
            backend, [(fn, (logits, target), {**options, "cotangent": np.ones(6)})]
        )
        assert np.isnan(plain[1])
        assert np.all(np.isfinite(np.delete(plain, 1)))
        assert np.any(np.isnan(grad[1]))
        assert np.all(np.isfinite(np.delete(grad, 1, axis=0)))
    else:
        with pytest.raises(ValueError, match=r"class index 4, outside \[0, 4\)"):
            backend.call(fn, backend.asarray(logits), backend.asarray(target), **options)


def test_type_and_option_errors_name_what_is_wrong():
    pred = np.full((3, 4), 0.25)
    labels = np.array([0, 1, 2])
    with pytest.raises(ValueError, match="use the sparse_ variant"):
        al.categorical_cross_entropy(pred, labels)
    with pytest.raises(TypeError, match="target holds class indices"):
        al.sparse_categorical_cross_entropy(pred, labels.astype(float))
    with pytest.raises(TypeError, match="from_logits must be True or False"):
        al.categorical_cross_entropy(pred, pred, from_logits="yes")
    with pytest.raises(ValueError, match=r"alpha has shape \(3,\) but logits has 4 classes"):
        al.softmax_focal_loss(pred, labels, alpha=np.ones(3))
    with pytest.raises(ValueError, match="gamma=-1 is out of range"):
        al.softmax_focal_loss(pred, labels, gamma=-1)
    with pytest.raises(TypeError, match="target holds class indices"):
        al.softmax_focal_loss(pred, labels.astype(float))
    with pytest.raises(ValueError, match=r"label_smoothing=2 is out of range"):
        al.categorical_cross_entropy(pred, pred, label_smoothing=2)


def test_float32_inputs_give_the_same_numbers_on_every_backend(backend):
    cases = [POLY1_COVERING[0], FOCAL_COVERING[0], KERAS_COVERING[0], KERAS_COVERING[2]]
    calls = []
    for case in cases:
        fn, args, kw = case.call()
        as32 = tuple(a.astype(np.float32) if a.dtype.kind == "f" else a for a in args)
        kw32 = {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        calls.append((fn, as32, kw32))
    for case, (plain, value, grad) in zip(cases, evaluate(backend, calls), strict=True):
        assert plain.dtype == value.dtype == grad.dtype == np.float32, str(case)
        fn, args, kw = case.call()
        kw.pop("cotangent", None)
        expected = al.value_and_grad(fn)(*args, **kw)
        assert_close(plain.astype(np.float64), expected[0], rtol=RTOL32, err_msg=str(case))
        assert_close(
            grad.astype(np.float64), expected[1], rtol=RTOL32, atol=1e-6, err_msg=str(case)
        )


def test_where_masks_samples_of_every_loss(backend):
    where = np.array([True, False, True, True, False, True])
    cases = [POLY1_COVERING[1], FOCAL_COVERING[1], KERAS_COVERING[1]]  # all "none", 2-D
    calls = [(fn, args, {**kw, "where": where}) for fn, args, kw in (c.call() for c in cases)]
    for case, (fn, args, kw), (plain, _, grad) in zip(
        cases, calls, evaluate(backend, calls), strict=True
    ):
        plain_kw = {k: v for k, v in kw.items() if k not in ("where", "cotangent")}
        assert_close(plain, np.where(where, fn(*args, **plain_kw), 0.0), err_msg=str(case))
        expected = al.grad(fn)(*args, cotangent=kw["cotangent"] * where, **plain_kw)
        assert_close(grad, expected, err_msg=str(case))
        assert np.all(grad[~where] == 0), str(case)


def test_gradient_tables_match_jax_grad_of_the_kernels():
    jax = optional("jax")
    jnp = jax.numpy
    from arrayloss.kernels import categorical, softmax, softmax_focal

    logits, labels, probs = _logits("4d", 9), _labels("4d"), _probabilities("4d")
    pred = _keras_probabilities("4d")
    cot = np.random.default_rng(10).uniform(0.5, 1.5, _loss_shape("4d"))
    kernels = [
        (softmax, "poly1_cross_entropy", logits, labels, {"sparse": True, "epsilon": 2.0}),
        (softmax, "poly1_cross_entropy", logits, probs, {"sparse": False, "epsilon": -1.0}),
        (softmax_focal, "softmax_focal_loss", logits, labels, {"sparse": True, "gamma": 0.5}),
        (softmax_focal, "softmax_focal_loss", logits, probs, {"sparse": False, "gamma": 2.0}),
        (
            categorical,
            "categorical_cross_entropy",
            pred,
            probs,
            {"sparse": False, "from_logits": False, "label_smoothing": 0.1},
        ),
        (
            categorical,
            "sparse_categorical_cross_entropy",
            pred,
            labels,
            {"sparse": True, "from_logits": False, "ignore_index": 3},
        ),
    ]
    for module, name, x, target, options in kernels:
        options = {"axis": 1, **options}
        value = module.VALUES[name]

        def total(z: Any, f: Any = value, t: Any = target, o: Any = options) -> Any:
            return jnp.sum(jnp.asarray(cot) * f(jnp, z, jnp.asarray(t), **o))

        expected = np.asarray(jax.jit(jax.grad(total))(jnp.asarray(x)))
        arg = next(iter(module.GRADS[name]))
        got = module.GRADS[name][arg](np, cot, x, target, **options)
        assert_close(got, expected, atol=1e-15, err_msg=f"{name} {options}")
