"""Property tests (hypothesis) for every registered loss on every installed backend.

Inputs come from the shared per-loss factories of the scale-out tests
(``tests/_scaleout_cases.py``: valid NumPy float64 inputs whose batch-major arrays have
a leading axis of ``BATCH``). Hypothesis draws the seed of a factory, then a shape
variant (a batch cut to 0..5 rows, one row, a 0-d call for element-wise losses, an
unbatched call, a class axis of size 1), option values, a reduction, weights and masks.
The properties:

* ``"sum"`` equals the sum of ``"none"`` (``rmse``: of its squares, it is a root);
* ``"mean"`` with a mask over samples equals ``"mean"`` of the kept samples alone (so
  the loss's own denominator rule, class weights and ``ignore_index`` included), and an
  element mask on an element-wise loss divides by the documented denominator;
* zero, or the documented minimum, at a perfect prediction;
* non-negativity and symmetry where they hold;
* gradients (``al.value_and_grad``, every differentiable argument, with a random
  cotangent for ``"none"``) equal central finite differences of the NumPy float64 value.

The lazy backends (JAX eager, ``jax.jit``, Dask) pay a compilation or a graph per call,
so each property runs each of them on a third of the losses (``backend_cases``; the
rotation differs per property, so every (loss, lazy backend) pair meets two or three of
them) with one example of fixed shape and options (the JAX caches are shared between
the properties). Every example is counted per family and the counts are printed at the
end of the module.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="hypothesis is a test extra (not in tests_minimal)")
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import arrayloss as al
from _backend_cases import backend_cases
from _scaleout_cases import FACTORIES, Case, batch_major
from arrayloss._spec import get_spec, public_functions

#: Every loss by its spec name (the alias ``l1`` shares ``mae``'s spec and function).
NAMES = sorted({record.name for record in al.registry().values()})
FAMILY = {name: al.registry()[name].family for name in NAMES}
FUNCTIONS = public_functions()

#: Hypothesis examples per test and backend (the lazy ones: see the module docstring).
EXAMPLES = {
    "numpy": 8,
    "numpy_readonly": 1,
    "array_api_strict": 2,
    "torch": 3,
    "cupy": 2,
    "jax": 1,
    "jax_jit": 1,
    "dask": 1,
    "jax_gpu": 1,
}
#: Examples run, per family and per property (printed at the end of the module).
COUNTS: collections.Counter[tuple[str, str]] = collections.Counter()

#: Losses that accept one sample without the batch axis.
UNBATCHED = {
    "categorical_cross_entropy",
    "contrastive",
    "cosine_embedding",
    "cosine_similarity_loss",
    "cross_entropy",
    "js_div",
    "multi_margin",
    "multilabel_soft_margin",
    "nll_loss",
    "poly1_cross_entropy",
    "softmax_focal_loss",
    "sparse_categorical_cross_entropy",
    "triplet_margin",
}
#: Losses whose samples interact (the batch is the set of candidates): masking a sample
#: is not the same as leaving it out.
COUPLED = {"ntxent"}


def _cases(offset: int, among: Any = None) -> list[Any]:
    """``(backend, name)`` params for the losses ``among`` (default: all); the third of
    the losses each lazy backend runs turns with ``offset``."""
    params = backend_cases(NAMES[offset:] + NAMES[:offset])
    return [p for p in params if among is None or p.values[1] in among]


def _settings(backend: Any) -> settings:
    return settings(
        max_examples=EXAMPLES.get(backend.name, 1),
        deadline=None,
        derandomize=True,
        database=None,
        # no shrinking: a failure reports its first example (every draw is labelled)
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
            HealthCheck.data_too_large,
        ],
    )


def run_examples(backend: Any, name: str, prop: str, body: Callable[[st.DataObject], None]) -> None:
    """Run ``body`` on hypothesis examples for ``backend`` and count them."""

    @_settings(backend)
    @given(data=st.data())
    def examples(data: st.DataObject) -> None:
        COUNTS[(FAMILY[name], prop)] += 1
        body(data)

    examples()


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request: pytest.FixtureRequest) -> Any:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not COUNTS:
        return
    families = sorted({f for f, _ in COUNTS})
    props = sorted({p for _, p in COUNTS})
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line("hypothesis examples run per family (" + ", ".join(props) + "):")
        for family in families:
            row = [COUNTS[(family, p)] for p in props]
            reporter.write_line(f"  {family:14s} {sum(row):5d}  {row}")
        reporter.write_line(f"  {'total':14s} {sum(COUNTS.values()):5d}")


# ------------------------------------------------------------------ inputs


def _positive(draw: Any, low: float, high: float) -> float:
    return draw(st.floats(low, high, allow_nan=False, allow_infinity=False))


def _opt_none(args: list[Any], opts: dict[str, Any], draw: Any) -> None:
    return None


def _opt_segmentation(args: list[Any], opts: dict[str, Any], draw: Any) -> None:
    opts["from_logits"] = draw(st.booleans())
    opts["multilabel"] = opts["from_logits"] and draw(st.booleans())
    opts["include_background"] = draw(st.booleans())
    # smooth_nr <= smooth_dr keeps every score <= 1 (the loss >= 0; a focal Tversky
    # base 1 - TI >= 0 under a fractional gamma)
    opts["smooth_nr"] = _positive(draw, 0.0, 1.0)
    opts["smooth_dr"] = opts["smooth_nr"] + _positive(draw, 1e-5, 1.0)


def _opt_tversky(args: list[Any], opts: dict[str, Any], draw: Any) -> None:
    _opt_segmentation(args, opts, draw)
    opts["alpha"] = _positive(draw, 0.0, 1.0)
    opts["beta"] = _positive(draw, 0.0, 1.0)
    opts["gamma"] = _positive(draw, 0.75, 3.0)


def _opt_kl(args: list[Any], opts: dict[str, Any], draw: Any) -> None:
    opts["log_target"] = draw(st.booleans())
    if opts["log_target"]:
        args[1] = np.log(args[1])


def _opt_poisson(args: list[Any], opts: dict[str, Any], draw: Any) -> None:
    opts["log_input"] = draw(st.booleans())
    opts["full"] = draw(st.booleans())
    opts["eps"] = _positive(draw, 1e-8, 0.1)
    if not opts["log_input"]:
        args[0] = np.exp(args[0])


def _opt_large_vocab(args: list[Any], opts: dict[str, Any], draw: Any) -> None:
    opts["label_smoothing"] = _positive(draw, 0.0, 1.0)
    opts["chunk_size"] = draw(st.sampled_from([None, 1, 2, 5]))
    opts["vocab_chunk_size"] = draw(st.sampled_from([None, 1, 3, 7]))
    if "bias" in opts and draw(st.booleans()):
        del opts["bias"]


def _set(**strategies: Any) -> Callable[[list[Any], dict[str, Any], Any], None]:
    def draw_options(args: list[Any], opts: dict[str, Any], draw: Any) -> None:
        for key, strategy in strategies.items():
            opts[key] = draw(strategy)

    return draw_options


def _floats(low: float, high: float) -> Any:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


#: Random option values per loss, kept inside the inputs' domain.
OPTIONS: dict[str, Callable[[list[Any], dict[str, Any], Any], None]] = {
    "huber": _set(delta=_floats(0.1, 3.0)),
    "smooth_l1": _set(beta=_floats(0.0, 2.0)),
    "quantile": _set(q=_floats(0.0, 1.0)),
    "poisson_nll": _opt_poisson,
    "gaussian_nll": _set(full=st.booleans(), eps=_floats(1e-8, 0.1)),
    "tweedie_deviance": _set(power=st.sampled_from([-0.5, 0.0, 1.0, 1.2, 1.5, 2.0, 3.0])),
    "cross_entropy": _set(label_smoothing=_floats(0.0, 1.0), temperature=_floats(0.3, 3.0)),
    "categorical_cross_entropy": _set(from_logits=st.booleans(), label_smoothing=_floats(0.0, 1.0)),
    "sparse_categorical_cross_entropy": _set(from_logits=st.booleans()),
    "sigmoid_focal_loss": _set(alpha=_floats(0.0, 1.0), gamma=_floats(0.0, 3.0)),
    "softmax_focal_loss": _set(
        alpha=st.one_of(st.none(), _floats(0.0, 1.0)), gamma=_floats(0.0, 3.0)
    ),
    "poly1_cross_entropy": _set(epsilon=_floats(-1.0, 3.0)),
    "multi_margin": _set(p=st.sampled_from([1, 2]), margin=_floats(0.0, 2.0)),
    "kl_div": _opt_kl,
    "cosine_similarity_loss": _set(eps=_floats(1e-12, 1e-3)),
    "dice": _opt_segmentation,
    "jaccard": _opt_segmentation,
    "generalized_dice": _opt_segmentation,
    "tversky": _opt_tversky,
    "contrastive": _set(margin=_floats(0.0, 3.0)),
    "triplet_margin": _set(
        margin=_floats(0.01, 2.0),
        p=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
        eps=_floats(0.0, 1e-3),
        swap=st.booleans(),
    ),
    "cosine_embedding": _set(margin=_floats(-1.0, 1.0)),
    "margin_ranking": _set(margin=_floats(-1.0, 1.0)),
    "hinge_embedding": _set(margin=_floats(0.1, 3.0)),
    "ntxent": _set(temperature=_floats(0.05, 2.0)),
    "chunked_cross_entropy": _opt_large_vocab,
    "linear_cross_entropy": _opt_large_vocab,
}


class Call:
    """One call of a loss on NumPy float64 data: arrays, options, weight kind."""

    def __init__(self, name: str, case: Case, args: list[Any], opts: dict[str, Any]) -> None:
        #: positions and keywords of the batch-major arrays (leading axis: the samples)
        self.rows = {i for i, a in enumerate(case.args) if batch_major(a)} | {
            k for k, v in case.options.items() if batch_major(v)
        }
        self.name = name
        self.spec = get_spec(name)
        self.fn = FUNCTIONS[name]
        self.case = case
        self.args = args
        self.opts = opts

    def value(self, **extra: Any) -> np.ndarray:
        """The loss on NumPy (float64), the reference side of every property."""
        return np.asarray(self.fn(*self.args, **self.opts, **extra))

    def on(self, backend: Any, **extra: Any) -> tuple[list[Any], dict[str, Any]]:
        """Arguments and keywords moved to ``backend``."""
        args = [_on(backend, a) for a in self.args]
        kw = {k: _on(backend, v) for k, v in {**self.opts, **extra}.items()}
        return args, kw

    def differentiable(self) -> list[tuple[str, Any]]:
        """``(name, position or keyword)`` of the floating differentiable arguments given."""
        found = []
        for i, name in enumerate(self.spec.args):
            if name not in self.spec.wrt:
                continue
            if i < len(self.args):
                a = self.args[i]
                if isinstance(a, np.ndarray) and a.dtype.kind == "f":
                    found.append((name, i))
            elif isinstance(self.opts.get(name), np.ndarray):
                found.append((name, name))
        return found


def _on(backend: Any, x: Any) -> Any:
    return backend.asarray(x) if isinstance(x, (np.ndarray, np.generic)) else x


def _variants(name: str) -> list[str]:
    spec = get_spec(name)
    variants = ["batch", "batch"]
    if spec.elementwise:
        variants += ["scalar", "size1"]
    if name in UNBATCHED:
        variants.append("unbatched")
    return variants


def _reshape(x: Any, variant: str, n: int) -> Any:
    if not isinstance(x, np.ndarray):
        return x
    if not batch_major(x):
        if variant == "scalar" and x.ndim == 1:  # pos_weight: one value per class
            return np.asarray(x[0])
        if variant == "size1" and x.ndim == 1:
            return x[:1]
        return x
    if variant == "batch":
        return x[:n]
    if variant == "unbatched":
        return np.asarray(x[0])
    if variant == "scalar":
        return np.asarray(x[(0,) * x.ndim])
    return x[:n, :1] if x.ndim > 1 else x[:n]


def draw_call(
    data: st.DataObject,
    name: str,
    *,
    lazy: bool,
    variants: list[str] | None = None,
    max_batch: int = 5,
    options: bool = True,
) -> Call:
    """A factory case for ``name``, cut to a drawn shape, with drawn options.

    On a lazy backend the shape (4 samples) and the options are fixed, so that every
    property reuses the same compiled JAX functions.
    """
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    case = FACTORIES[name](np.random.default_rng(seed))
    if lazy:
        variant, n = "batch", 4
    else:
        variant = data.draw(st.sampled_from(variants or _variants(name)), label="shape")
        n = data.draw(st.integers(1 if variant == "size1" else 0, max_batch), label="batch")
        if variant == "size1":
            n = min(n, 2)
    args = [_reshape(a, variant, n) for a in case.args]
    opts = {k: _reshape(v, variant, n) for k, v in case.options.items()}
    if options and not lazy:
        OPTIONS.get(name, _opt_none)(args, opts, data.draw)
    return Call(name, case, args, opts)


def draw_weight_and_mask(
    data: st.DataObject, call: Call, shape: tuple[int, ...], *, mask: bool = True
) -> dict[str, Any]:
    """Random ``weight`` (element-wise over the unreduced ``shape``, or per class) and
    an element mask ``where`` over ``shape`` (either may be left out)."""
    case = call.case
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="weight seed"))
    extra: dict[str, Any] = {}
    if case.weight is not None and data.draw(st.booleans(), label="weighted"):
        if case.weight == "class":
            classes = (
                call.args[1].shape[0]
                if call.spec.name == "linear_cross_entropy"
                else call.args[0].shape[-1]
            )
            extra[case.weight_name] = rng.uniform(0.5, 2.0, classes)
        else:
            extra[case.weight_name] = rng.uniform(0.5, 2.0, shape)
    if mask and data.draw(st.booleans(), label="masked"):
        extra["where"] = rng.random(shape) < 0.6
    return extra


def _reduced(name: str, x: Any) -> Any:
    """The additive form of a reduced value: ``rmse`` is a root, the rest add up."""
    x = np.asarray(x, dtype=np.float64)
    return x * x if get_spec(name).post is not None else x


def _close(actual: Any, desired: Any, *, rtol: float = 1e-9, atol: float = 1e-12, msg: str = ""):
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, f"{msg}: shape {actual.shape} != {desired.shape}"
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol, equal_nan=True, err_msg=msg)


def _sample_mask_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape[:1] + (1,) * (len(shape) - 1)


# ------------------------------------------------------------ reductions


@pytest.mark.parametrize(("backend", "name"), _cases(0), indirect=["backend"])
def test_sum_equals_the_sum_of_none(backend: Any, name: str) -> None:
    def body(data: st.DataObject) -> None:
        call = draw_call(data, name, lazy=backend.lazy)
        shape = call.value(reduction="none").shape
        extra = draw_weight_and_mask(data, call, shape)
        args, kw = call.on(backend, **extra)

        def both(*a: Any, **k: Any) -> tuple[Any, Any]:
            return call.fn(*a, **k, reduction="none"), call.fn(*a, **k, reduction="sum")

        none, total = backend.to_numpy(backend.call(both, *args, **kw))
        assert none.shape == shape
        assert total.shape == ()
        _close(_reduced(name, total), np.sum(_reduced(name, none)), msg=f"{name} sum")
        if "where" in extra:
            kept = np.broadcast_to(extra["where"], shape)
            assert np.all(none[~kept] == 0), f"{name}: masked-out entries of 'none' are not 0"

    run_examples(backend, name, "sum", body)


def _row_subset(call: Call, keep: np.ndarray, extra: dict[str, Any]) -> tuple[list, dict]:
    """The call's arrays (and element weights) restricted to the kept samples."""
    args = [a[keep] if i in call.rows else a for i, a in enumerate(call.args)]
    opts = {k: (v[keep] if k in call.rows else v) for k, v in call.opts.items()}
    for k, v in extra.items():
        if k != "where":
            opts[k] = v[keep] if isinstance(v, np.ndarray) and call.case.weight == "element" else v
    return args, opts


@pytest.mark.parametrize(("backend", "name"), _cases(7), indirect=["backend"])
def test_masked_mean_equals_the_mean_of_the_kept_samples(backend: Any, name: str) -> None:
    """A mask over samples is the same as leaving them out (the loss's own denominator:
    Σ weights, class weights of the targets, non-ignored targets, the batch ...)."""

    def body(data: st.DataObject) -> None:
        call = draw_call(data, name, lazy=backend.lazy, variants=["batch"])
        shape = call.value(reduction="none").shape
        extra = draw_weight_and_mask(data, call, shape, mask=False)
        n = shape[0]
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="mask seed"))
        keep = rng.random(n) < 0.6
        where = keep.reshape(_sample_mask_shape(shape))
        reduction = "batchmean" if name == "kl_div" and data.draw(st.booleans()) else "mean"
        args, kw = call.on(backend, **extra, where=where)
        masked = backend.to_numpy(backend.call(call.fn, *args, **kw, reduction=reduction))
        if name in COUPLED:
            # ntxent: Σ_i w_i l_i / Σ_i w_i P_i over kept anchors (P_i: positives of i)
            labels = call.args[1]
            positives = (labels[:, None] == labels[None, :]).sum(axis=1) - 1
            w = extra.get("weight", np.ones(n))
            none = call.value(reduction="none")
            denom = np.sum((w * positives)[keep])
            expected = np.sum((w * none)[keep]) / denom if denom else np.nan
        else:
            sub_args, sub_opts = _row_subset(call, keep, extra)
            expected = np.asarray(
                call.fn(*sub_args, **sub_opts, reduction=reduction), dtype=np.float64
            )
            if reduction == "batchmean":  # divides by the full batch, not the kept part
                expected = expected * keep.sum() / n if keep.any() else np.float64(0.0)
        _close(masked, expected, msg=f"{name} masked {reduction}")

    run_examples(backend, name, "masked mean", body)


ELEMENTWISE = [n for n in NAMES if get_spec(n).elementwise]


@pytest.mark.parametrize(("backend", "name"), _cases(3, ELEMENTWISE), indirect=["backend"])
def test_element_mask_mean_divides_by_the_documented_denominator(backend: Any, name: str) -> None:
    """Element-wise losses: Σ w·l over kept elements / (Σ w over kept elements, or their
    count for the losses whose ``"mean"`` ignores the weights: huber, binary CE)."""
    spec = get_spec(name)

    def body(data: st.DataObject) -> None:
        call = draw_call(data, name, lazy=backend.lazy)
        shape = call.value(reduction="none").shape
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed 2"))
        where = rng.random(shape) < 0.6
        weight = rng.uniform(0.5, 2.0, shape) if data.draw(st.booleans()) else None
        extra = {"where": where} if weight is None else {"where": where, "weight": weight}
        args, kw = call.on(backend, **extra)
        mean = backend.to_numpy(backend.call(call.fn, *args, **kw))
        terms = _reduced(name, call.value(reduction="none", **extra))
        if spec.denominator == "count" or weight is None:
            denom = np.sum(where)
        else:
            denom = np.sum(weight[where])
        expected = np.sum(terms[where]) / denom if denom else np.nan
        _close(_reduced(name, mean), expected, msg=f"{name} mean over an element mask")

    run_examples(backend, name, "element mask", body)


# -------------------------------------------------------------- gradients


def _finite_difference_check(
    call: Call,
    reduction: str,
    extra: dict[str, Any],
    cot: np.ndarray | None,
    grads: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> None:
    """Directional and coordinate central differences of the NumPy float64 value."""

    def objective(arg: Any, x: np.ndarray) -> float:
        args = list(call.args)
        opts = {**call.opts, **extra}
        if isinstance(arg, int):
            args[arg] = x
        else:
            opts[arg] = x
        out = np.asarray(call.fn(*args, **opts, reduction=reduction), dtype=np.float64)
        return float(np.sum(out * cot)) if cot is not None else float(out)

    for name, arg in call.differentiable():
        x = call.args[arg] if isinstance(arg, int) else call.opts[arg]
        g = grads[name]
        assert g.shape == x.shape, f"{call.name} d/d{name}: shape {g.shape} != {x.shape}"
        if x.size == 0:
            continue
        base = objective(arg, x)
        if not math.isfinite(base):
            # "mean" of nothing (all masked, ignored, no positive pair): NaN, gradient 0
            assert np.all(g == 0), f"{call.name} d/d{name} is not 0 where the value is NaN"
            continue
        directions = [rng.standard_normal(x.shape)]
        for flat in rng.choice(x.size, size=min(3, x.size), replace=False):
            e = np.zeros(x.size)
            e[flat] = 1.0
            directions.append(e.reshape(x.shape))
        scale = max(1.0, float(np.max(np.abs(x))))
        for v in directions:
            h = 1e-6 * scale
            numeric = (objective(arg, x + h * v) - objective(arg, x - h * v)) / (2 * h)
            analytic = float(np.sum(g * v))
            tol = 1e-5 * (abs(numeric) + float(np.sum(np.abs(g * v)))) + 1e-7 * max(1, abs(base))
            assert abs(analytic - numeric) <= tol, (
                f"{call.name} d/d{name} ({reduction}) along a direction: "
                f"table {analytic!r} vs finite differences {numeric!r}"
            )


@pytest.mark.parametrize(("backend", "name"), _cases(14), indirect=["backend"])
def test_gradients_equal_central_finite_differences(backend: Any, name: str) -> None:
    def body(data: st.DataObject) -> None:
        call = draw_call(data, name, lazy=backend.lazy, max_batch=3)
        diff = call.differentiable()
        if not diff:
            return
        shape = call.value(reduction="none").shape
        extra = draw_weight_and_mask(data, call, shape)
        reductions = list(call.spec.reductions)
        reduction = "sum" if backend.lazy else data.draw(st.sampled_from(reductions))
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="fd seed"))
        cot = rng.standard_normal(shape) if reduction == "none" else None
        wrt = tuple(n for n, _ in diff)
        args, kw = call.on(backend, **extra)
        if cot is not None:
            kw["cotangent"] = _on(backend, cot)
        fn = al.value_and_grad(call.fn, wrt=wrt)
        _, grads = backend.to_numpy(backend.call(fn, *args, **kw, reduction=reduction))
        _finite_difference_check(
            call, reduction, extra, cot, dict(zip(wrt, grads, strict=True)), rng
        )

    run_examples(backend, name, "gradient", body)


# ------------------------------------------------------ value properties


def _onehot(target: np.ndarray, classes: int, scale: float) -> np.ndarray:
    valid = (target >= 0) & (target < classes)
    out = np.zeros((*target.shape, classes))
    out[valid, target[valid]] = scale
    return out


def _entropy(t: np.ndarray) -> np.ndarray:
    return -(t * np.log(t) + (1 - t) * np.log1p(-t))


Perfect = Callable[[list[Any], dict[str, Any]], np.ndarray | None]


def _copy_target(args: list[Any], opts: dict[str, Any]) -> None:
    args[0] = args[1].copy()


def _perfect_binary_ce(args: list[Any], opts: dict[str, Any]) -> np.ndarray:
    args[0] = args[1].copy()
    return _entropy(args[1])


def _perfect_bce_logits(args: list[Any], opts: dict[str, Any]) -> np.ndarray:
    t = args[1]
    args[0] = np.log(t) - np.log1p(-t)
    if len(args) > 2:
        del args[2:]
    opts.pop("pos_weight", None)
    return _entropy(t)


def _perfect_poisson(args: list[Any], opts: dict[str, Any]) -> np.ndarray:
    t = args[1] + 1.0  # the minimum exp(pred) = target needs target > 0
    args[1] = t
    args[0] = np.log(t)
    return t - t * np.log(t)


def _perfect_gaussian(args: list[Any], opts: dict[str, Any]) -> np.ndarray:
    args[0] = args[1].copy()
    return 0.5 * np.log(np.maximum(args[2], 1e-6))


def _perfect_categorical(args: list[Any], opts: dict[str, Any]) -> np.ndarray:
    args[0] = args[1].copy()
    return -np.sum(args[1] * np.log(args[1]), axis=-1)


def _scaled_onehot(scale: float) -> Perfect:
    def make(args: list[Any], opts: dict[str, Any]) -> None:
        args[0] = _onehot(args[1], args[0].shape[-1], scale)
        opts.pop("label_smoothing", None)

    return make


def _perfect_nll(args: list[Any], opts: dict[str, Any]) -> None:
    args[0] = _onehot(args[1], args[0].shape[-1], 1.0) - 1.0  # log-probabilities 0 and -1


def _perfect_sparse(args: list[Any], opts: dict[str, Any]) -> np.ndarray:
    args[0] = _onehot(args[1], args[0].shape[-1], 1.0)
    return np.asarray(-math.log1p(-1e-7))  # Keras clips probabilities to [1e-7, 1 - 1e-7]


def _perfect_signs(scale: float) -> Perfect:
    def make(args: list[Any], opts: dict[str, Any]) -> None:
        args[0] = scale * args[1]

    return make


def _perfect_multilabel(args: list[Any], opts: dict[str, Any]) -> None:
    args[0] = 50.0 * (2 * args[1] - 1)


def _perfect_sigmoid_focal(args: list[Any], opts: dict[str, Any]) -> None:
    args[0] = 40.0 * (2 * args[1] - 1)  # targets 0/1


def _perfect_kl(args: list[Any], opts: dict[str, Any]) -> None:
    args[0] = np.log(args[1])


def _perfect_cosine(args: list[Any], opts: dict[str, Any]) -> None:
    args[0] = 3.0 * args[1]


def _perfect_pair(args: list[Any], opts: dict[str, Any]) -> None:
    args[1] = args[0].copy()
    args[2] = np.ones_like(args[2])


def _perfect_triplet(args: list[Any], opts: dict[str, Any]) -> None:
    args[1] = args[0].copy()
    args[2] = args[0] + 10.0


def _perfect_ranking(args: list[Any], opts: dict[str, Any]) -> None:
    args[0] = args[1] + 2.0 * args[2]  # target * (x1 - x2) = 2 > margin 0


def _perfect_hinge_embedding(args: list[Any], opts: dict[str, Any]) -> None:
    args[0] = np.where(args[1] > 0, 0.0, 2.0)  # distance 0 / beyond the margin 1


def _perfect_linear(args: list[Any], opts: dict[str, Any]) -> None:
    vocab = args[1].shape[0]
    args[0] = _onehot(args[2], vocab, 100.0)
    args[1] = np.eye(vocab)
    opts.pop("bias", None)
    opts.pop("label_smoothing", None)


#: name -> change the inputs to a perfect prediction; returns the documented minimum of
#: each unreduced entry (None: 0). ``ntxent`` has no reachable minimum (it is > 0).
PERFECT: dict[str, Perfect] = {
    **dict.fromkeys(
        ["mse", "rmse", "mae", "huber", "smooth_l1", "log_cosh", "msle", "mape", "quantile"],
        _copy_target,
    ),
    "tweedie_deviance": _copy_target,
    "poisson_nll": _perfect_poisson,
    "gaussian_nll": _perfect_gaussian,
    "binary_cross_entropy": _perfect_binary_ce,
    "binary_cross_entropy_with_logits": _perfect_bce_logits,
    "sigmoid_focal_loss": _perfect_sigmoid_focal,
    "categorical_cross_entropy": _perfect_categorical,
    "sparse_categorical_cross_entropy": _perfect_sparse,
    "cross_entropy": _scaled_onehot(100.0),
    "poly1_cross_entropy": _scaled_onehot(100.0),
    "softmax_focal_loss": _scaled_onehot(100.0),
    "chunked_cross_entropy": _scaled_onehot(100.0),
    "nll_loss": _perfect_nll,
    "hinge": _perfect_signs(2.0),
    "squared_hinge": _perfect_signs(2.0),
    "soft_margin": _perfect_signs(50.0),
    "multi_margin": _scaled_onehot(10.0),
    "multilabel_soft_margin": _perfect_multilabel,
    "kl_div": _perfect_kl,
    "js_div": _copy_target,
    "cosine_similarity_loss": _perfect_cosine,
    **dict.fromkeys(["dice", "jaccard", "tversky", "generalized_dice"], _copy_target),
    "contrastive": _perfect_pair,
    "cosine_embedding": _perfect_pair,
    "triplet_margin": _perfect_triplet,
    "margin_ranking": _perfect_ranking,
    "hinge_embedding": _perfect_hinge_embedding,
    "linear_cross_entropy": _perfect_linear,
}


def test_every_loss_has_a_perfect_prediction_or_a_reason() -> None:
    assert set(PERFECT) | {"ntxent"} == set(NAMES)


# perfect prediction, sign and symmetry share an offset: their "none" calls on the same
# lazy backend reuse one compiled JAX function
@pytest.mark.parametrize(("backend", "name"), _cases(21, PERFECT), indirect=["backend"])
def test_loss_is_zero_or_its_documented_minimum_at_a_perfect_prediction(
    backend: Any, name: str
) -> None:
    def body(data: st.DataObject) -> None:
        call = draw_call(data, name, lazy=backend.lazy, options=False)
        minimum = PERFECT[name](call.args, call.opts)
        args, kw = call.on(backend)
        none = backend.to_numpy(backend.call(call.fn, *args, **kw, reduction="none"))
        expected = np.zeros(none.shape) if minimum is None else np.broadcast_to(minimum, none.shape)
        _close(none, expected, rtol=1e-9, atol=1e-10, msg=f"{name} at a perfect prediction")

    run_examples(backend, name, "perfect", body)


#: Losses that can be negative: a Gaussian/Poisson log-likelihood, and the point-wise
#: terms of kl_div (its sum over a distribution is >= 0, tested below).
SIGNED = {"gaussian_nll", "poisson_nll", "kl_div"}


@pytest.mark.parametrize(("backend", "name"), _cases(21), indirect=["backend"])
def test_loss_is_non_negative_where_it_holds(backend: Any, name: str) -> None:
    def body(data: st.DataObject) -> None:
        # kl_div: rows of the batch are distributions; a 0-d or cut row is not
        call = draw_call(
            data, name, lazy=backend.lazy, variants=["batch"] if name == "kl_div" else None
        )
        if name in ("gaussian_nll", "poisson_nll"):
            return  # log-likelihoods: no sign
        scale = float(data.draw(st.sampled_from([1.0, 1e-3, 30.0]), label="scale"))
        if name in ("mse", "mae", "huber", "smooth_l1", "log_cosh", "quantile", "rmse"):
            call.args = [a * scale for a in call.args]
        args, kw = call.on(backend)
        none = backend.to_numpy(backend.call(call.fn, *args, **kw, reduction="none"))
        if name == "kl_div":
            none = none.sum(axis=-1)  # Σ_c t (log t - input) >= 0 between distributions
        assert np.all(none >= -1e-12), f"{name} has a negative entry {none.min()!r}"

    run_examples(backend, name, "non-negative", body)


def _swap(i: int, j: int, negate: int | None = None) -> Callable[[list[Any]], list[Any]]:
    def swapped(args: list[Any]) -> list[Any]:
        out = list(args)
        out[i], out[j] = args[j], args[i]
        if negate is not None:
            out[negate] = -args[negate]
        return out

    return swapped


#: name -> the argument permutation that leaves the loss unchanged.
SYMMETRIC: dict[str, Callable[[list[Any]], list[Any]]] = {
    **dict.fromkeys(
        ["mse", "mae", "rmse", "huber", "smooth_l1", "log_cosh", "cosine_similarity_loss"],
        _swap(0, 1),
    ),
    "js_div": _swap(0, 1),
    "gaussian_nll": _swap(0, 1),
    "dice": _swap(0, 1),
    "jaccard": _swap(0, 1),
    "cosine_embedding": _swap(0, 1),
    "contrastive": _swap(0, 1),
    "margin_ranking": _swap(0, 1, negate=2),
}


@pytest.mark.parametrize(("backend", "name"), _cases(21, SYMMETRIC), indirect=["backend"])
def test_symmetric_losses_are_unchanged_by_swapping_their_arguments(
    backend: Any, name: str
) -> None:
    def body(data: st.DataObject) -> None:
        call = draw_call(data, name, lazy=backend.lazy)
        if name in ("dice", "jaccard"):
            call.opts["from_logits"] = False  # probabilities on both sides
            call.opts.pop("multilabel", None)
        args, kw = call.on(backend)

        def both(*a: Any, **k: Any) -> tuple[Any, Any]:
            return call.fn(*a, **k, reduction="none"), call.fn(
                *SYMMETRIC[name](list(a)), **k, reduction="none"
            )

        one, other = backend.to_numpy(backend.call(both, *args, **kw))
        _close(one, other, rtol=1e-12, atol=1e-15, msg=f"{name} swapped")

    run_examples(backend, name, "symmetric", body)
