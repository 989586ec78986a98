"""Bad input for every registered loss on every backend (DESIGN.md section 3).

Each mistake raises the documented exception, with a message naming the argument (or
option) and the value seen: shapes that do not match, float class indices, a non-boolean
mask, labels and probabilities out of range (a ``ValueError`` on the eager backends, NaN
under JAX and Dask), an unknown ``reduction``, an axis out of range, option values out of
range or of the wrong type, arrays on two devices, arrays of two libraries. Nothing the
caller owns is modified: every input is compared bit for bit before and after the value,
every reduction and the gradients (read-only NumPy inputs run as the ``numpy_readonly``
backend).

Inputs are the shared per-loss factories of ``tests/_scaleout_cases.py``.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import numpy as np
import pytest

import arrayloss as al
from _backend_cases import backend_cases
from _scaleout_cases import Case, case_for, differentiable
from arrayloss._spec import get_spec, public_functions

NAMES = sorted({record.name for record in al.registry().values()})
FUNCTIONS = public_functions()


def _on(backend: Any, x: Any) -> Any:
    return backend.asarray(x) if isinstance(x, np.ndarray) else x


def _arrays(backend: Any, case: Case) -> tuple[list[Any], dict[str, Any]]:
    return [_on(backend, a) for a in case.args], {
        k: _on(backend, v) for k, v in case.options.items()
    }


def _shape_text(shape: tuple[int, ...]) -> str:
    return re.escape(str(tuple(shape)))


# ------------------------------------------------------------------ shapes


@pytest.mark.parametrize("name", NAMES)
def test_shapes_that_do_not_match_name_the_argument_and_its_shape(backend: Any, name: str):
    """One more sample in the second array (the target, ``x2``, ``positive``, labels)."""
    case = case_for(name)
    spec = get_spec(name)
    index = 2 if name == "linear_cross_entropy" else 1
    args, opts = _arrays(backend, case)
    grown = np.concatenate([case.args[index], case.args[index][:1]], axis=0)
    args[index] = backend.asarray(grown)
    arg = spec.args[index]
    with pytest.raises(ValueError, match=rf"{arg} has shape {_shape_text(grown.shape)}"):
        backend.call(FUNCTIONS[name], *args, **opts)


# ------------------------------------------------------------------ dtypes

#: Losses whose ``target`` (``labels``) holds class indices.
INDEX_TARGETS = [
    "chunked_cross_entropy",
    "cross_entropy",
    "linear_cross_entropy",
    "multi_margin",
    "nll_loss",
    "ntxent",
    "poly1_cross_entropy",
    "softmax_focal_loss",
    "sparse_categorical_cross_entropy",
]


@pytest.mark.parametrize("name", INDEX_TARGETS)
def test_float_class_indices_are_a_typeerror_naming_the_argument(backend: Any, name: str):
    case = case_for(name)
    spec = get_spec(name)
    arg = "labels" if name == "ntxent" else "target"
    index = spec.args.index(arg)
    args, opts = _arrays(backend, case)
    args[index] = backend.asarray(case.args[index].astype(np.float64))
    with pytest.raises(TypeError, match=rf"{arg} .*integer.*float64"):
        backend.call(FUNCTIONS[name], *args, **opts)


@pytest.mark.parametrize("name", NAMES)
def test_a_non_boolean_mask_is_a_typeerror(backend: Any, name: str) -> None:
    case = case_for(name)
    shape = np.shape(FUNCTIONS[name](*case.args, **case.options, reduction="none"))
    args, opts = _arrays(backend, case)
    where = backend.asarray(np.ones(shape, dtype=np.int64))
    with pytest.raises(TypeError, match="where must be a boolean array, got dtype int64"):
        backend.call(FUNCTIONS[name], *args, **opts, where=where)


# ------------------------------------------------------------------ values

#: (loss, argument, bad value, what the message says about it)
OUT_OF_RANGE = [
    ("cross_entropy", "target", 5, "class index 5"),
    ("cross_entropy", "target", -1, "class index -1"),
    ("nll_loss", "target", 5, "class index 5"),
    ("softmax_focal_loss", "target", 5, "class index 5"),
    ("sparse_categorical_cross_entropy", "target", 5, "class index 5"),
    ("poly1_cross_entropy", "target", 5, "class index 5"),
    ("multi_margin", "target", 5, "label 5"),
    ("chunked_cross_entropy", "target", 7, "class index 7"),
    ("linear_cross_entropy", "target", 7, "class index 7"),
    ("binary_cross_entropy", "pred", 1.5, "entry 1.5"),
    ("binary_cross_entropy", "target", -0.5, "entry -0.5"),
    ("sigmoid_focal_loss", "target", 1.5, "entry 1.5"),
    ("js_div", "target", -0.5, "entry -0.5"),
    ("dice", "pred", 1.5, "entry 1.5"),
    ("jaccard", "pred", -0.5, "entry -0.5"),
    ("tversky", "pred", 1.5, "entry 1.5"),
    ("generalized_dice", "pred", 1.5, "entry 1.5"),
    ("contrastive", "target", 2.0, "entry 2.0"),
    ("cosine_embedding", "target", 0.5, "entry 0.5"),
    ("gaussian_nll", "var", -1.0, r"\(-1.0\)"),
    ("tweedie_deviance", "pred", -1.0, "entry -1.0"),
]


def _out_of_range_id(row: tuple[Any, ...]) -> str:
    return f"{row[0]}-{row[1]}={row[2]}"


@pytest.mark.parametrize(
    ("backend", "row"),
    backend_cases(OUT_OF_RANGE),
    indirect=["backend"],
)
def test_values_out_of_range_raise_on_eager_backends_and_give_nan_on_lazy(
    backend: Any, row: tuple[Any, ...]
) -> None:
    name, arg, bad, says = row
    case = case_for(name)
    spec = get_spec(name)
    index = spec.args.index(arg)
    args, opts = _arrays(backend, case)
    x = case.args[index].copy()
    x.flat[0] = bad
    args[index] = backend.asarray(x)
    if backend.lazy:
        none = backend.to_numpy(backend.call(FUNCTIONS[name], *args, **opts, reduction="none"))
        assert np.isnan(none.reshape(none.shape[0], -1)[0]).any(), f"{name}: {none}"
        return
    with pytest.raises(ValueError, match=rf"{arg} .*{says}"):
        backend.call(FUNCTIONS[name], *args, **opts)


# ---------------------------------------------------------------- options


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_reduction_lists_the_valid_ones(name: str) -> None:
    case = case_for(name)
    valid = ", ".join(repr(r) for r in get_spec(name).reductions)
    with pytest.raises(
        ValueError, match=re.escape(f"reduction='avg' is not valid; expected one of {valid}")
    ):
        FUNCTIONS[name](*case.args, **case.options, reduction="avg")


AXIS_LOSSES = [n for n in NAMES if "axis" in inspect.signature(FUNCTIONS[n]).parameters]


@pytest.mark.parametrize("name", AXIS_LOSSES)
def test_an_axis_out_of_range_names_the_axis_and_the_valid_range(backend: Any, name: str):
    case = case_for(name)
    args, opts = _arrays(backend, case)
    rank = case.args[0].ndim
    with pytest.raises(ValueError, match=rf"axis=7 is out of range .* rank {rank}"):
        backend.call(FUNCTIONS[name], *args, **opts, axis=7)


#: (loss, option, bad value)
BAD_OPTIONS = [
    ("huber", "delta", -1.0),
    ("smooth_l1", "beta", -0.5),
    ("quantile", "q", 1.5),
    ("tweedie_deviance", "power", 0.5),
    ("poisson_nll", "eps", 0.0),
    ("gaussian_nll", "eps", -1.0),
    ("cross_entropy", "label_smoothing", 1.5),
    ("cross_entropy", "temperature", 0.0),
    ("categorical_cross_entropy", "label_smoothing", -0.1),
    ("sigmoid_focal_loss", "gamma", -1.0),
    ("softmax_focal_loss", "gamma", -1.0),
    ("poly1_cross_entropy", "epsilon", float("nan")),
    ("multi_margin", "p", 3),
    ("cosine_similarity_loss", "eps", -1.0),
    ("dice", "smooth_nr", -1.0),
    ("jaccard", "smooth_dr", -1.0),
    ("tversky", "alpha", -1.0),
    ("tversky", "gamma", 0.0),
    ("generalized_dice", "smooth_dr", -1.0),
    ("contrastive", "margin", -1.0),
    ("triplet_margin", "margin", 0.0),
    ("triplet_margin", "p", 0.0),
    ("ntxent", "temperature", 0.0),
    ("chunked_cross_entropy", "chunk_size", 0),
    ("chunked_cross_entropy", "label_smoothing", 2.0),
    ("linear_cross_entropy", "vocab_chunk_size", -1),
]


@pytest.mark.parametrize(("name", "option", "bad"), BAD_OPTIONS)
def test_option_values_out_of_range_name_the_option_and_the_value(
    name: str, option: str, bad: Any
) -> None:
    case = case_for(name)
    with pytest.raises(ValueError, match=re.escape(f"{option}={bad!r}")):
        FUNCTIONS[name](*case.args, **{**case.options, option: bad})


FLAGS = [
    (name, p.name)
    for name in NAMES
    for p in inspect.signature(FUNCTIONS[name]).parameters.values()
    if isinstance(p.default, bool)
]


@pytest.mark.parametrize(("name", "flag"), FLAGS)
def test_true_false_options_take_only_booleans(name: str, flag: str) -> None:
    """A truthy string would silently mean True."""
    case = case_for(name)
    with pytest.raises(TypeError, match=f"{flag} must be True or False, got 'no'"):
        FUNCTIONS[name](*case.args, **{**case.options, flag: "no"})
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        al.value_and_grad(FUNCTIONS[name])(*case.args, **{**case.options, flag: 1})


# ---------------------------------------------------- devices and libraries


def _other_device(backend: Any, x: np.ndarray) -> Any:
    """``x`` on a second device of ``backend`` (or skip, saying why there is none)."""
    if backend.library == "torch":
        import torch

        return torch.empty(x.shape, dtype=getattr(torch, str(x.dtype)), device="meta")
    if backend.library == "array_api_strict":
        import array_api_strict

        return array_api_strict.asarray(x, device=array_api_strict.Device("device1"))
    if backend.library == "cupy":
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 2:
            pytest.skip("one CUDA device: no second device to put an argument on")
        with cupy.cuda.Device(1):
            return cupy.asarray(x)
    if backend.library == "jax":
        pytest.skip(
            "one JAX CPU device here; JAX places and shards arrays itself and raises for "
            "incompatible devices (not checked by arrayloss)"
        )
    pytest.skip(f"{backend.library} arrays have a single device")


@pytest.mark.parametrize("name", NAMES)
def test_arrays_on_two_devices_raise_valueerror_naming_both(backend: Any, name: str) -> None:
    case = case_for(name)
    spec = get_spec(name)
    args, opts = _arrays(backend, case)
    args[1] = _other_device(backend, case.args[1])
    first, second = spec.args[0], spec.args[1]
    with pytest.raises(ValueError, match=rf"{first} is on device .* but {second} is on device"):
        backend.call(FUNCTIONS[name], *args, **opts)


@pytest.mark.parametrize("name", NAMES)
def test_arrays_of_two_libraries_raise_typeerror_naming_both(backend: Any, name: str) -> None:
    case = case_for(name)
    spec = get_spec(name)
    args, opts = _arrays(backend, case)
    if backend.library == "numpy":
        torch = pytest.importorskip("torch")
        args[1] = torch.from_numpy(case.args[1].copy())
        other = "torch"
    else:
        args[1] = case.args[1].copy()
        other = "numpy"
    first, second = spec.args[0], spec.args[1]
    with pytest.raises(
        TypeError,
        match=rf"two libraries in one call: {first} is a .* \({backend.library}\) but "
        rf"{second} is a .* \({other}\)",
    ):
        backend.call(FUNCTIONS[name], *args, **opts)


# ------------------------------------------------------- caller's arrays


@pytest.mark.parametrize(("backend", "name"), backend_cases(NAMES), indirect=["backend"])
def test_no_input_is_modified(backend: Any, name: str) -> None:
    """Every input (and weight and mask) bit for bit the same after the value under every
    reduction and the gradients (and, on PyTorch, ``.backward()`` through autograd)."""
    case = case_for(name)
    shape = np.shape(FUNCTIONS[name](*case.args, **case.options, reduction="none"))
    rng = np.random.default_rng(0)
    extra: dict[str, Any] = {"where": rng.random(shape) < 0.7}
    if case.weight == "element":
        extra[case.weight_name] = rng.uniform(0.5, 2.0, shape)
    originals = [*case.args, *case.options.values(), *extra.values()]
    args, opts = _arrays(backend, Case(case.args, {**case.options, **extra}))
    given = [*args, *opts.values()]
    fn = FUNCTIONS[name]
    wrt = differentiable(name, case)

    def everything(*a: Any, **k: Any) -> list[Any]:
        out = [fn(*a, **k, reduction=r) for r in get_spec(name).reductions]
        out.append(al.value_and_grad(fn, wrt=wrt)(*a, **k))
        return out

    backend.to_numpy(tuple(backend.call(everything, *args, **opts)))
    if backend.library == "torch":
        import torch

        tracked = [
            t.detach().clone().requires_grad_(True)
            if isinstance(t, torch.Tensor) and t.is_floating_point()
            else t
            for t in args
        ]
        fn(*tracked, **opts).backward()
    for before, after in zip(originals, given, strict=True):
        if isinstance(before, np.ndarray):
            np.testing.assert_array_equal(backend.to_numpy(after), before, err_msg=name)
