"""The edge-case policy of ``docs/losses.md`` ("Edge-case policy"), loss by loss, on every
backend.

Inputs are the shared per-loss factories of ``tests/_scaleout_cases.py`` (for the empty
batch, the all-masked call, NaN and infinities: every registered loss), or small inputs
built here for the edges that only some losses have (ignored targets, -inf logits,
probabilities 0 and 1, zero vectors, 1e30). The lazy backends (JAX eager, ``jax.jit``,
Dask) run a third of each loss list each (``backend_cases``), together all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import arrayloss as al
from _backend_cases import backend_cases
from _scaleout_cases import Case, batch_major, case_for, differentiable
from arrayloss._spec import get_spec, public_functions

from conftest import to_numpy

NAMES = sorted({record.name for record in al.registry().values()})
FUNCTIONS = public_functions()


def _on(backend: Any, x: Any, dtype: Any = None) -> Any:
    if isinstance(x, np.ndarray):
        return backend.asarray(x, dtype if x.dtype.kind == "f" else None)
    return x


def _call_arrays(backend: Any, args: list[Any], opts: dict[str, Any], dtype: Any = None):
    return [_on(backend, a, dtype) for a in args], {
        k: _on(backend, v, dtype) for k, v in opts.items()
    }


def _none_shape(name: str, case: Case) -> tuple[int, ...]:
    return tuple(np.shape(FUNCTIONS[name](*case.args, **case.options, reduction="none")))


def _reductions_and_gradients(name: str, wrt: tuple[str, ...], backend: Any) -> Callable[..., Any]:
    """``f(*args, **kw) -> (none, sum, mean, gradients of mean)`` in one backend call.

    On the lazy backends (a compilation per reduction) the sum is left out (0 stands in
    for it): that ``"sum"`` is the sum of ``"none"`` is a property test.
    """
    fn = FUNCTIONS[name]
    value_and_grad = al.value_and_grad(fn, wrt=wrt)

    def run(*args: Any, **kw: Any) -> tuple[Any, ...]:
        mean, grads = value_and_grad(*args, **kw, reduction="mean")
        none = fn(*args, **kw, reduction="none")
        total = 0.0 if backend.lazy else fn(*args, **kw, reduction="sum")
        return none, total, mean, grads

    return run


# ------------------------------------------------------ empty and masked


@pytest.mark.parametrize(("backend", "name"), backend_cases(NAMES), indirect=["backend"])
def test_empty_batch_sums_to_zero_and_averages_to_nan(backend: Any, name: str) -> None:
    case = case_for(name)
    args = [a[:0] if batch_major(a) else a for a in case.args]
    opts = {k: (v[:0] if batch_major(v) else v) for k, v in case.options.items()}
    wrt = differentiable(name, case)
    a, kw = _call_arrays(backend, args, opts)
    none, total, mean, grads = backend.to_numpy(
        backend.call(_reductions_and_gradients(name, wrt, backend), *a, **kw)
    )
    assert none.size == 0
    assert none.shape[0] == 0
    assert np.shape(total) == ()
    assert total == 0
    assert np.isnan(mean)
    spec = get_spec(name)
    given = {**dict(zip(spec.args, args, strict=False)), **opts}
    assert [g.shape for g in grads] == [given[n].shape for n in wrt]
    assert all(np.all(g == 0) for g in grads)


@pytest.mark.parametrize(("backend", "name"), backend_cases(NAMES), indirect=["backend"])
def test_all_masked_gives_zeros_zero_sum_nan_mean_and_zero_gradients(
    backend: Any, name: str
) -> None:
    case = case_for(name)
    where = np.zeros(_none_shape(name, case), dtype=bool)
    wrt = differentiable(name, case)
    a, kw = _call_arrays(backend, list(case.args), {**case.options, "where": where})
    none, total, mean, grads = backend.to_numpy(
        backend.call(_reductions_and_gradients(name, wrt, backend), *a, **kw)
    )
    assert np.all(none == 0)
    assert total == 0
    assert np.isnan(mean)
    for arg, g in zip(wrt, grads, strict=True):
        assert np.all(g == 0), f"{name} d/d{arg} is not 0 with everything masked"


#: Losses with class-index targets that take ``ignore_index`` (-100 here).
IGNORING = {
    "cross_entropy": {},
    "nll_loss": {},
    "softmax_focal_loss": {},
    "sparse_categorical_cross_entropy": {"ignore_index": -100},
    "chunked_cross_entropy": {},
    "linear_cross_entropy": {},
}


@pytest.mark.parametrize(("backend", "name"), backend_cases(sorted(IGNORING)), indirect=["backend"])
def test_all_targets_ignored_sums_to_zero_averages_to_nan_with_zero_gradients(
    backend: Any, name: str
) -> None:
    case = case_for(name)
    spec = get_spec(name)
    args = list(case.args)
    index = spec.args.index("target")
    args[index] = np.full_like(args[index], -100)
    wrt = differentiable(name, case)
    a, kw = _call_arrays(backend, args, {**case.options, **IGNORING[name]})
    none, total, mean, grads = backend.to_numpy(
        backend.call(_reductions_and_gradients(name, wrt, backend), *a, **kw)
    )
    assert np.all(none == 0)
    assert total == 0
    assert np.isnan(mean)
    assert all(np.all(g == 0) for g in grads)


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky", "generalized_dice"])
def test_segmentation_with_every_pixel_ignored_scores_one_so_loss_zero(
    backend: Any, name: str
) -> None:
    """MONAI's smoothing: an empty (sample, class) scores (0 + smooth_nr) / (0 + smooth_dr)
    = 1, so the loss is 0 (not NaN: the mean runs over (sample, class) values)."""
    pred = np.random.default_rng(0).uniform(0.05, 0.95, (2, 3, 3, 4))
    labels = np.full((2, 3, 3), 9)
    fn = FUNCTIONS[name]
    a = [backend.asarray(pred), backend.asarray(labels)]
    mean, grad = backend.to_numpy(backend.call(al.value_and_grad(fn), *a, ignore_index=9))
    assert mean == 0
    assert np.all(grad == 0)


# ------------------------------------------------------------- -inf logits


def _logits_with_minus_inf() -> tuple[np.ndarray, np.ndarray]:
    """``[4, 5]`` logits, -inf on class 4 and at (0, 2); targets avoid those classes."""
    x = np.random.default_rng(7).standard_normal((4, 5))
    x[:, 4] = -np.inf
    x[0, 2] = -np.inf
    return x, np.array([0, 1, 2, 3])


def _segmentation(x: np.ndarray, onehot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(x[:, None, :], 3, axis=1), np.repeat(onehot[:, None, :], 3, axis=1)


def _minus_inf_cases() -> dict[str, tuple[str, Callable[[], tuple[list[Any], dict[str, Any]]]]]:
    x, t = _logits_with_minus_inf()
    onehot = np.eye(5)[t]
    signs = 2 * onehot - 1
    hidden = np.random.default_rng(8).standard_normal((4, 3))
    weight = np.random.default_rng(9).standard_normal((5, 3))
    bias = np.zeros(5)
    bias[4] = -np.inf
    seg = _segmentation(x, onehot)
    return {
        "cross_entropy": ("cross_entropy", lambda: ([x, t], {})),
        "cross_entropy probabilities": ("cross_entropy", lambda: ([x, onehot], {})),
        "chunked_cross_entropy": ("chunked_cross_entropy", lambda: ([x, t], {"chunk_size": 3})),
        "linear_cross_entropy bias": (
            "linear_cross_entropy",
            lambda: ([hidden, weight, t], {"bias": bias, "chunk_size": 3}),
        ),
        "softmax_focal_loss": ("softmax_focal_loss", lambda: ([x, t], {})),
        "softmax_focal_loss gamma=0.5": ("softmax_focal_loss", lambda: ([x, t], {"gamma": 0.5})),
        "poly1_cross_entropy": ("poly1_cross_entropy", lambda: ([x, t], {})),
        "sparse_categorical_cross_entropy": (
            "sparse_categorical_cross_entropy",
            lambda: ([x, t], {"from_logits": True}),
        ),
        "categorical_cross_entropy": (
            "categorical_cross_entropy",
            lambda: ([x, onehot], {"from_logits": True}),
        ),
        "nll_loss": ("nll_loss", lambda: ([x, t], {})),
        "multi_margin p=1": ("multi_margin", lambda: ([x, t], {})),
        "multi_margin p=2": ("multi_margin", lambda: ([x, t], {"p": 2})),
        "binary_cross_entropy_with_logits": (
            "binary_cross_entropy_with_logits",
            lambda: ([x, onehot], {}),
        ),
        "sigmoid_focal_loss": ("sigmoid_focal_loss", lambda: ([x, onehot], {})),
        "sigmoid_focal_loss gamma=0.5": (
            "sigmoid_focal_loss",
            lambda: ([x, onehot], {"gamma": 0.5}),
        ),
        "multilabel_soft_margin": ("multilabel_soft_margin", lambda: ([x, onehot], {})),
        "soft_margin": ("soft_margin", lambda: ([x, signs], {})),
        "hinge": ("hinge", lambda: ([x, signs], {})),
        "squared_hinge": ("squared_hinge", lambda: ([x, signs], {})),
        **{
            f"{seg_name} from_logits": (seg_name, lambda: (list(seg), {"from_logits": True}))
            for seg_name in ("dice", "jaccard", "tversky", "generalized_dice")
        },
        "dice multilabel": (
            "dice",
            lambda: (list(seg), {"from_logits": True, "multilabel": True}),
        ),
    }


MINUS_INF = _minus_inf_cases()


def _float_positions(name: str, args: list[Any], opts: dict[str, Any]) -> tuple[str, ...]:
    spec = get_spec(name)
    given = {**dict(zip(spec.args, args, strict=False)), **opts}
    return tuple(
        n for n in spec.wrt if isinstance(given.get(n), np.ndarray) and given[n].dtype.kind == "f"
    )


def _finite(x: Any) -> Any:
    """-inf replaced by -1e4, whose exp is exactly 0 in float64 (the limit)."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return np.where(np.isneginf(x), -1e4, x)
    return x


@pytest.mark.parametrize(
    ("backend", "label"), backend_cases(sorted(MINUS_INF)), indirect=["backend"]
)
def test_minus_inf_logits_on_non_target_classes_give_finite_loss_and_gradient(
    backend: Any, label: str
) -> None:
    """Finite, and equal to the limit: the same call with -1e4 (exp gives exactly 0)."""
    name, make = MINUS_INF[label]
    args, opts = make()
    wrt = _float_positions(name, args, opts)[:1]
    fn = al.value_and_grad(FUNCTIONS[name], wrt=wrt)
    a, kw = _call_arrays(backend, args, opts)
    value, grad = backend.to_numpy(backend.call(fn, *a, **kw, reduction="none"))
    assert np.all(np.isfinite(value)), f"{label}: loss {value}"
    assert np.all(np.isfinite(grad[0])), f"{label}: gradient {grad[0]}"
    finite_args = [_finite(v) for v in args]
    finite_opts = {k: _finite(v) for k, v in opts.items()}
    limit, limit_grad = fn(*finite_args, **finite_opts, reduction="none")
    np.testing.assert_allclose(value, limit, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(grad[0], limit_grad[0], rtol=1e-12, atol=1e-300)


def test_cross_entropy_with_label_smoothing_on_a_minus_inf_logit_is_inf(backend: Any) -> None:
    """Smoothing puts mass eps / C on every class, also one at -inf (DESIGN: positive mass
    on a -inf logit gives +inf)."""
    x, t = _logits_with_minus_inf()
    value = backend.call(
        al.cross_entropy, backend.asarray(x), backend.asarray(t), label_smoothing=0.1
    )
    assert backend.to_numpy(value) == np.inf


# ------------------------------------------------------- NaN and infinities


def _slots(name: str, case: Case) -> list[tuple[Any, str]]:
    spec = get_spec(name)
    slots: list[tuple[Any, str]] = [
        (i, spec.args[i])
        for i, a in enumerate(case.args)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f"
    ]
    slots += [
        (k, k) for k, v in case.options.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"
    ]
    return slots


def _with_first_row(case: Case, slot: Any, value: float) -> tuple[list[Any], dict[str, Any]]:
    """The case with the first row (first entry of a vector) of ``slot`` set to ``value``."""
    args, opts = list(case.args), dict(case.options)
    x = (args[slot] if isinstance(slot, int) else opts[slot]).copy()
    x[0] = value
    if isinstance(slot, int):
        args[slot] = x
    else:
        opts[slot] = x
    return args, opts


@pytest.mark.parametrize(("backend", "name"), backend_cases(NAMES), indirect=["backend"])
def test_nan_in_any_input_propagates_to_the_loss(backend: Any, name: str) -> None:
    """NaN in every floating input (one row at a time): no exception, NaN in the per-row
    loss and in the sum (NaN in a probability is not a range error)."""
    case = case_for(name)
    fn = FUNCTIONS[name]
    slots = _slots(name, case)
    if backend.lazy:
        slots = slots[:1]  # one compilation: the first floating input
    variants = [_with_first_row(case, slot, np.nan) for slot, _ in slots]

    def run(*flat: Any, **kw: Any) -> list[Any]:
        out = []
        for i in range(len(variants)):
            args = flat[i * len(case.args) : (i + 1) * len(case.args)]
            opts = {k[len(f"{i}:") :]: v for k, v in kw.items() if k.startswith(f"{i}:")}
            out.append(fn(*args, **opts, reduction="sum"))
        return out

    flat: list[Any] = []
    kw: dict[str, Any] = {}
    for i, (args, opts) in enumerate(variants):
        a, o = _call_arrays(backend, args, opts)
        flat += a
        kw.update({f"{i}:{k}": v for k, v in o.items()})
    totals = backend.to_numpy(tuple(backend.call(run, *flat, **kw)))
    for (_, arg), total in zip(slots, totals, strict=True):
        assert np.isnan(total), f"{name}: NaN in {arg} gave {total!r}"


def _value_or_range_error(call: Callable[..., Any], *args: Any, **kw: Any) -> tuple[Any, Any]:
    """``(result as NumPy, None)``, or ``(None, the ValueError)``."""
    try:
        return np.asarray(to_numpy(call(*args, **kw))), None
    except ValueError as exc:
        return None, exc


def _limit_check(name: str, arg: str, got: np.ndarray, limit: np.ndarray) -> None:
    finite = np.isfinite(got)
    np.testing.assert_allclose(
        got[finite],
        limit[finite],
        rtol=1e-12,
        err_msg=f"{name}: a finite result at an infinite {arg} is not the limit",
    )


@pytest.mark.parametrize(("backend", "name"), backend_cases(NAMES), indirect=["backend"])
def test_infinite_inputs_give_the_limit_or_a_non_finite_value(backend: Any, name: str) -> None:
    """±inf in every floating input (one row at a time): either a range error naming the
    argument (eager backends; probabilities, labels, variances), or a per-element loss
    that is non-finite or equal to its limit (the loss at ±1e100) - never a finite number
    that is wrong. NumPy may warn as it does for the same arithmetic (``inf - inf``)."""
    case = case_for(name)
    fn = FUNCTIONS[name]
    slots = _slots(name, case)
    if backend.lazy:
        slots = slots[:1]
    for slot, arg in slots:
        for sign in (1.0, -1.0):
            big_args, big_opts = _with_first_row(case, slot, sign * 1e100)
            args, opts = _with_first_row(case, slot, sign * np.inf)
            a, kw = _call_arrays(backend, args, opts)
            with np.errstate(all="ignore"):
                limit, _ = _value_or_range_error(fn, *big_args, **big_opts, reduction="none")
                got, error = _value_or_range_error(backend.call, fn, *a, **kw, reduction="none")
            if error is not None:
                assert not backend.lazy, f"{name}: a lazy backend raised {error}"
                assert arg in str(error), f"{name}: the range error does not name {arg}"
                continue
            if limit is None:
                assert not np.all(np.isfinite(got)), f"{name}: {sign * np.inf} in {arg}"
            else:
                _limit_check(name, arg, got, limit)


# ---------------------------------------------------- probabilities 0 and 1


def _probability_cases() -> dict[str, tuple[str, list[Any], dict[str, Any]]]:
    p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.3, 0.7, 0.0]])
    onehot = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    soft = np.array([[0.2, 0.8, 0.0], [0.5, 0.0, 0.5], [1.0, 0.0, 0.0]])
    labels = np.array([1, 2, 0])
    seg_pred = np.repeat(p[:, None, :], 2, axis=1)
    seg_target = np.repeat(onehot[:, None, :], 2, axis=1)
    cases = {
        "binary_cross_entropy 0/1 vs 0/1": ("binary_cross_entropy", [p, onehot], {}),
        "binary_cross_entropy 0/1 vs soft": ("binary_cross_entropy", [p, soft], {}),
        "categorical_cross_entropy": ("categorical_cross_entropy", [p, onehot], {}),
        "categorical_cross_entropy soft": ("categorical_cross_entropy", [p, soft], {}),
        "sparse_categorical_cross_entropy": ("sparse_categorical_cross_entropy", [p, labels], {}),
        "kl_div target 0": ("kl_div", [np.log(np.full((3, 3), 1 / 3)), onehot], {}),
        "js_div": ("js_div", [p, onehot], {}),
    }
    for seg in ("dice", "jaccard", "tversky", "generalized_dice"):
        cases[seg] = (seg, [seg_pred, seg_target], {})
    return cases


PROBABILITY = _probability_cases()


@pytest.mark.parametrize(
    ("backend", "label"), backend_cases(sorted(PROBABILITY)), indirect=["backend"]
)
def test_probabilities_exactly_zero_and_one_give_finite_loss_and_gradients(
    backend: Any, label: str
) -> None:
    name, args, opts = PROBABILITY[label]
    wrt = _float_positions(name, args, opts)
    a, kw = _call_arrays(backend, args, opts)
    fn = FUNCTIONS[name]
    none, (value, grads) = backend.to_numpy(
        backend.call(
            lambda *x, **k: (
                fn(*x, **k, reduction="none"),
                al.value_and_grad(fn, wrt=wrt)(*x, **k),
            ),
            *a,
            **kw,
        )
    )
    assert np.all(np.isfinite(none)), f"{label}: {none}"
    assert np.isfinite(value)
    for arg, g in zip(wrt, grads, strict=True):
        assert np.all(np.isfinite(g)), f"{label}: d/d{arg} = {g}"
    if label == "binary_cross_entropy 0/1 vs 0/1":
        # PyTorch's clamp: log 0 = -100, so a confident miss costs 100 per element
        p, y = args
        expected = -(y * np.maximum(np.log(p, where=p > 0, out=np.full_like(p, -np.inf)), -100))
        expected -= (1 - y) * np.maximum(
            np.log1p(-p, where=p < 1, out=np.full_like(p, -np.inf)), -100
        )
        np.testing.assert_allclose(none, expected, rtol=1e-12)


# ------------------------------------------------------------ zero vectors


def _zero_vector_cases() -> dict[str, tuple[str, list[Any], dict[str, Any]]]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4))
    zero = x.copy()
    zero[0] = 0.0
    both = np.zeros((3, 4))
    return {
        "cosine_similarity_loss pred 0": ("cosine_similarity_loss", [zero, x], {}),
        "cosine_similarity_loss both 0": ("cosine_similarity_loss", [both, both], {}),
        "cosine_embedding similar": ("cosine_embedding", [zero, x, np.ones(3)], {}),
        "cosine_embedding dissimilar": (
            "cosine_embedding",
            [zero, both, -np.ones(3)],
            {"margin": -0.5},
        ),
        "ntxent": ("ntxent", [zero, np.array([0, 0, 1])], {}),
        "triplet_margin anchor == positive": ("triplet_margin", [x, x.copy(), zero], {}),
        "triplet_margin eps=0": ("triplet_margin", [x, x.copy(), zero], {"eps": 0.0}),
        "contrastive x1 == x2 similar": ("contrastive", [x, x.copy(), np.ones(3)], {}),
        "contrastive x1 == x2 dissimilar": ("contrastive", [x, x.copy(), np.zeros(3)], {}),
    }


ZERO_VECTORS = _zero_vector_cases()


@pytest.mark.parametrize(
    ("backend", "label"), backend_cases(sorted(ZERO_VECTORS)), indirect=["backend"]
)
def test_zero_vectors_give_finite_loss_and_gradients(backend: Any, label: str) -> None:
    name, args, opts = ZERO_VECTORS[label]
    wrt = _float_positions(name, args, opts)
    a, kw = _call_arrays(backend, args, opts)
    value, grads = backend.to_numpy(
        backend.call(al.value_and_grad(FUNCTIONS[name], wrt=wrt), *a, **kw, reduction="none")
    )
    assert np.all(np.isfinite(value)), f"{label}: {value}"
    for arg, g in zip(wrt, grads, strict=True):
        assert np.all(np.isfinite(g)), f"{label}: d/d{arg} = {g}"


# ------------------------------------------------------------- huge values

#: Floating inputs that are probabilities, labels, signs or variances: kept as they are.
_UNSCALED = {
    "binary_cross_entropy": ("pred", "target"),
    "js_div": ("pred", "target"),
    "categorical_cross_entropy": ("pred", "target"),
    "sparse_categorical_cross_entropy": ("pred",),
    "binary_cross_entropy_with_logits": ("target",),
    "sigmoid_focal_loss": ("target",),
    "kl_div": ("target",),
    "contrastive": ("target",),
    "cosine_embedding": ("target",),
    "margin_ranking": ("target",),
    "hinge_embedding": ("target",),
    "hinge": ("target",),
    "squared_hinge": ("target",),
    "soft_margin": ("target",),
    "multilabel_soft_margin": ("target",),
    "gaussian_nll": ("var",),
    "poisson_nll": ("target",),
    "linear_cross_entropy": ("weight", "bias"),
}
#: Losses whose value at 1e30 is beyond float32 (1e60 and more): +inf, never NaN.
#: ``rmse`` is the square root of ``mse`` under every reduction, so it overflows with it.
OVERFLOWING = {"mse", "rmse", "squared_hinge", "gaussian_nll", "poisson_nll", "contrastive"}


def _huge(name: str) -> tuple[list[Any], dict[str, Any]]:
    """The case with every unbounded floating input scaled to about 1e30."""
    case = case_for(name)
    spec = get_spec(name)
    keep = set(_UNSCALED.get(name, ()))
    if name in ("dice", "jaccard", "tversky", "generalized_dice"):
        keep = {"target"}

    def scaled(arg: str, x: Any) -> Any:
        if not (isinstance(x, np.ndarray) and x.dtype.kind == "f") or arg in keep:
            return x
        if name == "kl_div" or (name in ("msle", "tweedie_deviance", "hinge_embedding")):
            return -1e30 * np.abs(x) if name == "kl_div" else 1e30 * np.abs(x)
        return 1e30 * x

    args = [scaled(spec.args[i], a) for i, a in enumerate(case.args)]
    opts = {k: scaled(k, v) for k, v in case.options.items()}
    if name in ("dice", "jaccard", "tversky", "generalized_dice"):
        opts["from_logits"] = True
    return args, opts


@pytest.mark.parametrize(("backend", "name"), backend_cases(NAMES), indirect=["backend"])
def test_huge_float32_values_do_not_overflow_where_the_result_is_representable(
    backend: Any, name: str
) -> None:
    """1e30 in float32: the loss and gradients equal the float64 result on the same
    inputs (the largest float32 is 3.4e38); where the loss itself is beyond float32
    (``mse`` of 1e30 is 1e60) it is +inf, never NaN."""
    args, opts = _huge(name)
    wrt = _float_positions(name, args, opts)
    fn = FUNCTIONS[name]
    a, kw = _call_arrays(backend, args, opts, "float32")
    with np.errstate(over="ignore"):
        none, (value, grads) = backend.to_numpy(
            backend.call(
                lambda *x, **k: (
                    fn(*x, **k, reduction="none"),
                    al.value_and_grad(fn, wrt=wrt)(*x, **k, reduction="sum"),
                ),
                *a,
                **kw,
            )
        )
    if name in OVERFLOWING:
        assert value == np.inf, f"{name}: {value}"
        assert not np.any(np.isnan(none)), f"{name}: NaN in {none}"
        return
    rounded = [
        x.astype(np.float32).astype(np.float64)
        if isinstance(x, np.ndarray) and x.dtype.kind == "f"
        else x
        for x in args
    ]
    rounded_opts = {
        k: v.astype(np.float32).astype(np.float64)
        if isinstance(v, np.ndarray) and v.dtype.kind == "f"
        else v
        for k, v in opts.items()
    }
    ref_none = np.asarray(fn(*rounded, **rounded_opts, reduction="none"))
    _, ref_grads = al.value_and_grad(fn, wrt=wrt)(*rounded, **rounded_opts, reduction="sum")
    scale = float(np.max(np.abs(ref_none), initial=0.0))
    np.testing.assert_allclose(none, ref_none, rtol=1e-4, atol=1e-5 * scale, err_msg=name)
    for arg, g, ref in zip(wrt, grads, ref_grads, strict=True):
        assert np.all(np.isfinite(g)), f"{name}: d/d{arg} overflowed"
        ref = np.asarray(ref)
        np.testing.assert_allclose(
            g,
            ref,
            rtol=1e-3,
            atol=1e-4 * float(np.max(np.abs(ref), initial=0.0)),
            err_msg=f"{name} d/d{arg}",
        )
