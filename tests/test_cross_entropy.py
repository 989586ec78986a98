"""cross_entropy and nll_loss: values and gradients against PyTorch 2.13 float64 autograd
for every option combination (weight x ignore_index x label_smoothing x reduction x
index/probability targets x 2-D/4-D x temperature), with optax as a second oracle,
central differences, ``jax.grad`` of the kernel, and the edges: +-100 and -inf logits,
all targets ignored, empty batches, out-of-range and float labels.

The full option matrix runs on the eager backends (NumPy, read-only NumPy,
array-api-strict, PyTorch); JAX, jitted JAX and Dask run a covering subset that holds
every option value, because each distinct configuration costs them a compilation
(the subset runs in one ``backend.call``, so one compilation under ``jax.jit``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import arrayloss as al
from _batched_calls import evaluate as evaluate_calls
from _batched_calls import one_torch_thread

from _helpers import RTOL32, RTOL64, assert_close, from_torch, numeric_grad, optional, torch64

torch = pytest.importorskip("torch")
F = torch.nn.functional

INF = float("inf")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with one_torch_thread():
        yield


WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])
COVERED_LAZILY = ("jax", "dask")  # libraries that run the covering subset


# ------------------------------------------------------------------- running calls


def evaluate(
    backend: Any, loss: Callable[..., Any], calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(loss(...), *al.value_and_grad(loss)(...))`` for each call, in one backend call."""
    return evaluate_calls(backend, [(loss, args, kw) for args, kw in calls])


def torch_cross_entropy(
    logits: np.ndarray,
    target: np.ndarray,
    *,
    axis: int = -1,
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    reduction: str = "mean",
    where: np.ndarray | None = None,
    cotangent: np.ndarray | None = None,
    nll: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's value and autograd gradient; ``where`` as arrayloss defines it.

    A masked-out sample is an ignored one for class indices; for probabilities the
    masked sum is divided by the count of kept samples.
    """
    x = torch64(logits, requires_grad=True)
    probs = target.dtype.kind == "f"
    class_dim = 1 if x.ndim > 1 else 0
    z = torch.movedim(x, axis, class_dim) / temperature
    t = torch64(target)
    kw: dict[str, Any] = {"weight": None if weight is None else torch64(weight)}
    if probs:
        t = torch.movedim(t, axis, class_dim)
    else:
        kw["ignore_index"] = ignore_index
    fn = F.nll_loss if nll else F.cross_entropy
    if not nll:
        kw["label_smoothing"] = label_smoothing
    if where is not None and not probs:
        t = torch.where(torch64(where), t, ignore_index)
    if where is not None and probs:
        none = fn(z, t, reduction="none", **kw)
        m = torch64(where).expand_as(none)
        terms = torch.where(m, none, torch.zeros_like(none))
        out = {"none": terms, "sum": terms.sum(), "mean": terms.sum() / m.sum()}[reduction]
    else:
        out = fn(z, t, reduction=reduction, **kw)
    out.backward(None if reduction != "none" else torch64(cotangent))
    return from_torch(out), from_torch(x.grad)


def check(
    got: tuple[np.ndarray, np.ndarray, np.ndarray],
    expected: tuple[np.ndarray, np.ndarray],
    label: str,
    *,
    rtol: float = RTOL64,
) -> None:
    plain, value, grad = got
    assert_close(plain, expected[0], rtol=rtol, atol=1e-300, err_msg=f"value {label}")
    assert_close(value, expected[0], rtol=rtol, atol=1e-300, err_msg=f"value {label}")
    assert_close(grad, expected[1], rtol=rtol, atol=1e-15, err_msg=f"grad {label}")


# ------------------------------------------------------------------ the option matrix

LAYOUTS = {"2d": ((6, 4), -1), "4d": ((2, 4, 3, 2), 1)}  # logits shape, class axis


@dataclass(frozen=True)
class Case:
    kind: str  # "index" | "probs"
    layout: str  # "2d" | "4d"
    weighted: bool
    ignore: str  # index targets: "none" | "default" (some -100) | "class" (ignore_index=1)
    smoothing: float
    temperature: float
    reduction: str

    def __str__(self) -> str:
        return (
            f"{self.kind}/{self.layout}/w={self.weighted}/ignore={self.ignore}/"
            f"ls={self.smoothing}/T={self.temperature}/{self.reduction}"
        )

    def inputs(self) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
        shape, axis = LAYOUTS[self.layout]
        rng = np.random.default_rng(len(shape))
        logits = rng.normal(0.0, 1.5, shape)
        loss_shape = tuple(np.delete(shape, axis))
        if self.kind == "probs":
            e = np.exp(rng.normal(size=(*loss_shape, shape[axis])))
            channels_last = e / e.sum(axis=-1, keepdims=True)
            channels_last.reshape(-1, shape[axis])[0] = [0.0, 0.0, 1.0, 0.0]  # exact zeros
            target = np.moveaxis(channels_last, -1, axis)
        else:
            target = rng.integers(0, shape[axis], loss_shape)
            target.reshape(-1)[:3] = [0, 1, 3]  # class 1 present for ignore="class"
            if self.ignore == "default":
                target.reshape(-1)[[1, -1]] = -100
        options: dict[str, Any] = {
            "axis": axis,
            "label_smoothing": self.smoothing,
            "temperature": self.temperature,
            "reduction": self.reduction,
        }
        if self.weighted:
            options["weight"] = WEIGHT
        if self.ignore == "class":
            options["ignore_index"] = 1
        if self.reduction == "none":
            options["cotangent"] = rng.uniform(-1.0, 2.0, loss_shape)
        return (logits, target), options


def _matrix() -> list[Case]:
    cases = []
    for kind, layout, weighted, ignore, smoothing, temperature, reduction in itertools.product(
        ("index", "probs"),
        LAYOUTS,
        (False, True),
        ("none", "default", "class"),
        (0.0, 0.2),
        (1.0, 2.5),
        ("none", "sum", "mean"),
    ):
        if kind == "probs" and ignore != "none":
            continue  # ignore_index does not apply to probabilities
        cases.append(Case(kind, layout, weighted, ignore, smoothing, temperature, reduction))
    return cases


MATRIX = _matrix()
# every value of every option, both target kinds in both layouts, weights with smoothing
# and ignore_index together
COVERING = [
    Case("index", "2d", True, "default", 0.2, 1.0, "mean"),
    Case("index", "4d", False, "class", 0.0, 2.5, "none"),
    Case("index", "2d", True, "none", 0.0, 2.5, "sum"),
    Case("index", "4d", True, "class", 0.2, 2.5, "mean"),
    Case("probs", "4d", True, "none", 0.2, 1.0, "mean"),
    Case("probs", "2d", False, "none", 0.0, 2.5, "none"),
    Case("index", "2d", False, "none", 0.0, 1.0, "none"),
]


def _cases_for(backend: Any, full: list[Any], covering: list[Any]) -> list[Any]:
    return covering if backend.library in COVERED_LAZILY else full


def test_cross_entropy_matches_torch_for_every_option_combination(backend):
    cases = _cases_for(backend, MATRIX, COVERING)
    inputs = [case.inputs() for case in cases]
    got = evaluate(backend, al.cross_entropy, [(args, dict(kw)) for args, kw in inputs])
    for case, (args, kw), result in zip(cases, inputs, got, strict=True):
        check(result, torch_cross_entropy(*args, **kw), str(case))


@pytest.mark.no_fastpaths
def test_generic_kernel_matches_torch_for_every_option_combination():
    inputs = [case.inputs() for case in MATRIX]
    nll_inputs = [_nll_inputs(*case) for case in NLL_MATRIX]
    for case, (args, kw) in zip(MATRIX, inputs, strict=True):
        kw = dict(kw)
        cotangent = kw.pop("cotangent", None)
        got = al.value_and_grad(al.cross_entropy)(*args, cotangent=cotangent, **kw)
        expected = torch_cross_entropy(*args, cotangent=cotangent, **kw)
        check((got[0], *got), expected, str(case))
    for case, (args, kw) in zip(NLL_MATRIX, nll_inputs, strict=True):
        kw = dict(kw)
        cotangent = kw.pop("cotangent", None)
        got = al.value_and_grad(al.nll_loss)(*args, cotangent=cotangent, **kw)
        check(
            (got[0], *got),
            torch_cross_entropy(*args, cotangent=cotangent, **kw, nll=True),
            str(case),
        )


def test_covering_subset_holds_every_option_value():
    for field in ("kind", "layout", "weighted", "ignore", "smoothing", "temperature", "reduction"):
        assert {getattr(c, field) for c in COVERING} == {getattr(c, field) for c in MATRIX}, field


def test_where_masks_samples_out_of_numerator_and_denominator(backend):
    where = np.array([True, False, True, True, False, True])
    variants = [("index", "mean"), ("probs", "none")]
    if backend.library not in COVERED_LAZILY:
        variants = list(itertools.product(("index", "probs"), ("none", "sum", "mean")))
    calls = []
    for kind, reduction in variants:
        (logits, target), kw = Case(kind, "2d", True, "default", 0.1, 1.0, reduction).inputs()
        calls.append(((logits, target), {**kw, "where": where}))
    got = evaluate(backend, al.cross_entropy, calls)
    for variant, (args, kw), result in zip(variants, calls, got, strict=True):
        check(result, torch_cross_entropy(*args, **kw), str(variant))
        assert np.all(result[2][~where] == 0)


def test_four_d_layout_with_axis_minus_one_equals_axis_one():
    (logits, target), kw = Case("index", "4d", True, "default", 0.1, 2.0, "mean").inputs()
    kw.pop("axis")
    channels_last = np.moveaxis(logits, 1, -1)
    a = al.value_and_grad(al.cross_entropy)(logits, target, axis=1, **kw)
    b = al.value_and_grad(al.cross_entropy)(channels_last, target, axis=-1, **kw)
    assert_close(a[0], b[0])
    assert_close(a[1], np.moveaxis(b[1], -1, 1))


def test_one_dimensional_logits_with_a_scalar_target_match_torch():
    logits = np.array([0.3, -1.2, 2.0])
    for target in (np.array(2), np.array([0.2, 0.5, 0.3])):
        got = al.value_and_grad(al.cross_entropy)(logits, target, label_smoothing=0.1)
        expected = torch_cross_entropy(logits, target, label_smoothing=0.1)
        assert_close(got[0], expected[0])
        assert_close(got[1], expected[1])


# --------------------------------------------------------------------------- nll_loss

NLL_MATRIX = [
    (layout, weighted, ignore, reduction)
    for layout, weighted, ignore, reduction in itertools.product(
        LAYOUTS, (False, True), ("none", "default", "class"), ("none", "sum", "mean")
    )
]
NLL_COVERING = [
    ("2d", True, "default", "mean"),
    ("4d", False, "class", "none"),
    ("4d", True, "none", "sum"),
]


def _nll_inputs(layout: str, weighted: bool, ignore: str, reduction: str) -> Any:
    (logits, target), kw = Case("index", layout, weighted, ignore, 0.0, 1.0, reduction).inputs()
    for key in ("label_smoothing", "temperature"):
        kw.pop(key)
    shifted = logits - logits.max(axis=kw["axis"], keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=kw["axis"], keepdims=True))
    return (log_p, target), kw


def test_nll_loss_matches_torch_for_every_option_combination(backend):
    cases = _cases_for(backend, NLL_MATRIX, NLL_COVERING)
    inputs = [_nll_inputs(*case) for case in cases]
    got = evaluate(backend, al.nll_loss, inputs)
    for case, (args, kw), result in zip(cases, inputs, got, strict=True):
        check(result, torch_cross_entropy(*args, **kw, nll=True), str(case))


# ------------------------------------------------------------------------ other oracles


def test_cross_entropy_matches_optax_per_sample():
    optax = optional("optax")
    jnp = optional("jax.numpy")
    (logits, target), _ = Case("index", "2d", False, "none", 0.0, 1.0, "none").inputs()
    (_, probs), _ = Case("probs", "2d", False, "none", 0.0, 1.0, "none").inputs()
    expected = optax.losses.softmax_cross_entropy_with_integer_labels(
        jnp.asarray(logits), jnp.asarray(target)
    )
    assert_close(al.cross_entropy(logits, target, reduction="none"), np.asarray(expected))
    expected = optax.losses.softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(probs))
    assert_close(al.cross_entropy(logits, probs, reduction="none"), np.asarray(expected))


@pytest.mark.parametrize("case", [COVERING[0], COVERING[3], COVERING[4]], ids=str)
def test_gradient_table_matches_central_differences(case):
    (logits, target), kw = case.inputs()
    kw = {**kw, "reduction": "mean"}
    expected = numeric_grad(lambda x: al.cross_entropy(x, target, **kw), [logits], 0)
    assert_close(al.grad(al.cross_entropy)(logits, target, **kw), expected, rtol=1e-7, atol=1e-9)


def test_nll_gradient_matches_central_differences():
    (log_p, target), kw = _nll_inputs("4d", True, "default", "mean")
    expected = numeric_grad(lambda x: al.nll_loss(x, target, **kw), [log_p], 0)
    assert_close(al.grad(al.nll_loss)(log_p, target, **kw), expected, rtol=1e-7, atol=1e-9)


def test_gradient_table_matches_jax_grad_of_the_kernel():
    jax = optional("jax")
    jnp = jax.numpy
    from arrayloss.kernels import softmax as k

    for case in (COVERING[3], COVERING[4]):
        (logits, target), kw = case.inputs()
        options = {
            "axis": kw["axis"] % logits.ndim,
            "sparse": case.kind == "index",
            "label_smoothing": case.smoothing,
            "temperature": case.temperature,
            "class_weight": WEIGHT if case.weighted else None,
        }
        if case.kind == "index":
            options["ignore_index"] = kw.get("ignore_index", -100)
        cot = np.random.default_rng(3).uniform(0.5, 1.5, np.delete(logits.shape, options["axis"]))
        jax_options = {**options, "class_weight": jnp.asarray(WEIGHT) if case.weighted else None}

        def total(x: Any, t: Any = target, o: Any = jax_options, c: Any = cot) -> Any:
            return jnp.sum(jnp.asarray(c) * k.cross_entropy(jnp, x, jnp.asarray(t), **o))

        expected = np.asarray(jax.jit(jax.grad(total))(jnp.asarray(logits)))
        got = k.GRADS["cross_entropy"]["logits"](np, cot, logits, target, **options)
        assert_close(got, expected, err_msg=str(case))

    (log_p, target), kw = _nll_inputs("4d", True, "default", "none")
    nll_options = {"axis": 1, "ignore_index": -100}

    def nll_total(x: Any, t: Any = target, c: Any = kw["cotangent"]) -> Any:
        loss = k.nll_loss(jnp, x, jnp.asarray(t), class_weight=jnp.asarray(WEIGHT), **nll_options)
        return jnp.sum(jnp.asarray(c) * loss)

    expected = np.asarray(jax.jit(jax.grad(nll_total))(jnp.asarray(log_p)))
    got = k.GRADS["nll_loss"]["input"](
        np, kw["cotangent"], log_p, target, class_weight=WEIGHT, **nll_options
    )
    assert_close(got, expected, err_msg="nll_loss")


def test_jax_grad_and_torch_backward_go_through_the_table():
    jax = optional("jax")
    (logits, target), kw = COVERING[0].inputs()
    expected = torch_cross_entropy(logits, target, **kw)
    options = {k: v for k, v in kw.items() if k != "weight"}
    jnp = jax.numpy
    t, w = jnp.asarray(target), jnp.asarray(WEIGHT)
    g = jax.grad(lambda x: al.cross_entropy(x, t, weight=w, **options))(jnp.asarray(logits))
    assert_close(np.asarray(g), expected[1])
    x = torch64(logits, requires_grad=True)
    al.cross_entropy(x, torch.from_numpy(target), weight=torch64(WEIGHT), **options).backward()
    assert_close(from_torch(x.grad), expected[1])


# ------------------------------------------------------------------------------ edges


def test_all_targets_ignored_mean_is_nan_sum_is_zero_and_gradient_is_zero(backend):
    calls = []
    for case in (COVERING[0], COVERING[2]):  # weighted "mean" with smoothing, and "sum"
        (logits, target), kw = case.inputs()
        calls.append(((logits, np.full_like(target, -100)), kw))
    (mean, _, g_mean), (total, _, g_sum) = evaluate(backend, al.cross_entropy, calls)
    assert np.isnan(mean)
    assert total == 0
    assert np.all(g_mean == 0)
    assert np.all(g_sum == 0)
    expected = torch_cross_entropy(*calls[0][0], **calls[0][1])
    assert np.isnan(expected[0])
    assert np.all(expected[1] == 0)


def test_empty_batch_sums_to_zero_and_means_to_nan(backend):
    logits = np.zeros((0, 4))
    target = np.zeros(0, dtype=np.int64)
    calls = [((logits, target), {"reduction": r, "weight": WEIGHT}) for r in ("mean", "sum")]
    (mean, _, g), (total, _, _) = evaluate(backend, al.cross_entropy, calls)
    assert np.isnan(mean)
    assert total == 0
    assert g.shape == (0, 4)
    assert al.cross_entropy(logits, target, reduction="none").shape == (0,)


def _extreme_logits() -> tuple[np.ndarray, np.ndarray]:
    logits = np.array(
        [
            [100.0, -100.0, 0.0, 50.0],  # target wins by 50
            [-100.0, 100.0, -100.0, 100.0],  # target at -100 against two at +100
            [-INF, 2.0, -INF, 0.5],  # -inf on non-target classes
            [1.0, -INF, -INF, -INF],  # target is the only finite logit
            [-100.0, -100.0, -100.0, -100.0],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    return logits, np.array([0, 0, 1, 0, 2, 3])


def test_extreme_and_minus_inf_logits_give_torchs_finite_values_and_gradients(backend):
    logits, target = _extreme_logits()
    # the options of COVERING[6] ("none") and COVERING[2] (weighted "sum", T = 2.5)
    calls = [((logits, target), case.inputs()[1]) for case in (COVERING[6], COVERING[2])]
    got = evaluate(backend, al.cross_entropy, calls)
    for (args, kw), result in zip(calls, got, strict=True):
        assert np.all(np.isfinite(result[0]))
        assert np.all(np.isfinite(result[2]))
        check(result, torch_cross_entropy(*args, **kw), str(kw))


def test_probability_targets_put_no_mass_on_minus_inf_and_inf_with_mass(backend):
    (logits, target), kw = COVERING[5].inputs()  # probabilities, T = 2.5, "none"
    logits[:3, 0] = -INF
    target[:3] = [[0.0, 0.5, 0.3, 0.2], [0.1, 0.5, 0.2, 0.2], [0.0, 0.0, 1.0, 0.0]]
    kw["cotangent"] = np.array([1.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    [(plain, _, grad)] = evaluate(backend, al.cross_entropy, [((logits, target), kw)])
    assert plain[1] == INF  # positive mass on a -inf logit (PyTorch: NaN)
    assert np.all(np.isfinite(grad))
    assert np.all(grad[[0, 2], 0] == 0)
    # rows without mass on the -inf class equal PyTorch without that class
    rows = [0, 2]
    value, g = torch_cross_entropy(
        logits[rows, 1:], target[rows, 1:], reduction="none", temperature=2.5, cotangent=np.ones(2)
    )
    assert_close(plain[rows], value)
    assert_close(grad[rows, 1:], g)
    rest = torch_cross_entropy(logits[3:], target[3:], **{**kw, "cotangent": np.ones(3)})
    assert_close(plain[3:], rest[0])
    assert_close(grad[3:], rest[1])


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("fn", [al.cross_entropy, al.nll_loss], ids=lambda f: f.__name__)
def test_out_of_range_label_raises_naming_it_on_eager_backends_and_is_nan_lazily(backend, fn):
    (logits, _), kw = COVERING[6].inputs()  # "none", no weight
    if fn is al.nll_loss:
        kw = {k: v for k, v in kw.items() if k not in ("label_smoothing", "temperature")}
    target = np.array([0, 7, -100, 1, 2, 3])
    if backend.lazy:
        [(plain, _, grad)] = evaluate(backend, fn, [((logits, target), kw)])
        assert np.isnan(plain[1])
        assert plain[2] == 0
        assert np.all(np.isfinite(plain[[0, 3, 4, 5]]))
        assert np.any(np.isnan(grad[1]))
        assert np.all(np.isfinite(np.delete(grad, 1, axis=0)))
    else:
        with pytest.raises(ValueError, match=r"class index 7, outside \[0, 4\) .*4 classes"):
            backend.call(fn, backend.asarray(logits), backend.asarray(target))
        with pytest.raises(ValueError, match=r"class index -1, outside \[0, 4\)"):
            backend.call(
                fn, backend.asarray(logits), backend.asarray(np.array([0, -1, 2, 1, 1, 1]))
            )


def test_float_labels_of_the_reduced_shape_are_a_type_error(xp):
    logits = xp.asarray(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="target holds class indices and must be an integer"):
        al.cross_entropy(logits, xp.asarray(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(TypeError, match="target holds class indices"):
        al.nll_loss(logits, xp.asarray(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(TypeError, match="class probabilities and must be floating"):
        al.cross_entropy(logits, xp.asarray(np.zeros((3, 4), dtype=np.int64)))


def test_shape_weight_and_option_errors_name_what_is_wrong():
    logits = np.zeros((3, 4))
    target = np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"logits has shape \(3, 4\) but target has shape \(4,\)"):
        al.cross_entropy(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"weight has shape \(3,\) but logits has 4 classes"):
        al.cross_entropy(logits, target, weight=np.ones(3))
    with pytest.raises(ValueError, match=r"label_smoothing=1\.5 is out of range"):
        al.cross_entropy(logits, target, label_smoothing=1.5)
    with pytest.raises(ValueError, match="temperature=0 is out of range"):
        al.cross_entropy(logits, target, temperature=0)
    with pytest.raises(ValueError, match="axis=2 is out of range"):
        al.cross_entropy(logits, target, axis=2)
    with pytest.raises(ValueError, match=r"where has shape \(4,\)"):
        al.cross_entropy(logits, target, where=np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="reduction='batchmean' is not valid"):
        al.nll_loss(logits, target, reduction="batchmean")
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        al.cross_entropy(logits, target, ignore_index=1.0)


# ---------------------------------------------------------------------- dtypes, memory


def test_float32_inputs_give_the_same_numbers_on_every_backend(backend):
    calls = []
    for case in (COVERING[0], COVERING[4]):
        (logits, target), kw = case.inputs()
        # float32 probabilities; int32 class indices (PyTorch's own gather needs int64)
        target = target.astype(np.float32 if target.dtype.kind == "f" else np.int32)
        calls.append(
            ((logits.astype(np.float32), target), {**kw, "weight": WEIGHT.astype(np.float32)})
        )
    got = evaluate(backend, al.cross_entropy, calls)
    for (args, kw), (plain, value, grad) in zip(calls, got, strict=True):
        assert plain.dtype == value.dtype == grad.dtype == np.float32
        args64 = [a.astype(np.float64 if a.dtype.kind == "f" else np.int64) for a in args]
        expected = torch_cross_entropy(*args64, **{**kw, "weight": WEIGHT})
        assert_close(plain.astype(np.float64), expected[0], rtol=RTOL32)
        assert_close(grad.astype(np.float64), expected[1], rtol=RTOL32, atol=1e-6)


class _NoOneHot:
    """A NumPy namespace whose ``arange`` (the one-hot comparison) is forbidden."""

    def __init__(self) -> None:
        import array_api_compat.numpy as compat

        self._xp = compat

    def __getattr__(self, name: str) -> Any:
        if name in ("arange", "eye"):
            raise AssertionError(f"the value path called xp.{name}")
        return getattr(self._xp, name)


def test_index_value_path_gathers_instead_of_building_a_one_hot():
    from arrayloss.kernels import softmax as k

    (logits, target), _ = COVERING[3].inputs()
    options = {"ignore_index": 1, "label_smoothing": 0.2, "temperature": 2.5}
    got = k.cross_entropy(
        _NoOneHot(), logits, target, axis=1, sparse=True, class_weight=WEIGHT, **options
    )
    expected = al.cross_entropy(logits, target, axis=1, weight=WEIGHT, reduction="none", **options)
    assert_close(got, expected)
