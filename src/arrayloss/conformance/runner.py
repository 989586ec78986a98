"""The cross-backend conformance check behind ``python -m arrayloss check``.

For every registered loss and every available target (backend and device), each case of
:mod:`.inputs` runs the loss and ``al.value_and_grad`` with respect to every
differentiable argument given, and the result is compared with the baseline: NumPy
float64 through the generic kernel (fast paths off) on the same inputs, rounded to the
dtype under test. The error of a cell is the largest *norm-wise relative error*
``max|a - b| / max|b|`` over the value and each gradient and over the cases (an absolute
error where the baseline is all zeros; NaN or inf in one place but not the other is an
infinite error). A cell passes within ``TOLERANCES[dtype]``. Separately, the baseline
is compared with the library the loss reproduces (:mod:`.references`) at float64's
tolerance.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import fast
from .._spec import get_spec, public_functions, registry
from .._targets import Target, to_numpy, to_numpy_all, to_target
from ..autodiff import value_and_grad
from .inputs import Case, cases_for
from .references import REFERENCES

__all__ = ["TOLERANCES", "Measurement", "Report", "check", "measure", "relative_error"]

#: Relative tolerance per dtype: float64 as PyTorch-exactness, float32 4 * sqrt(eps).
TOLERANCES = {"float64": 1e-10, "float32": 4 * math.sqrt(float(np.finfo(np.float32).eps))}

NO_INPUTS = "no conformance inputs"


def relative_error(actual: Any, desired: Any) -> float:
    """Norm-wise relative error of ``actual`` against ``desired`` (inf on a NaN/inf mismatch)."""
    a = np.asarray(actual, dtype=np.float64)
    d = np.asarray(desired, dtype=np.float64)
    if a.shape != d.shape:
        return math.inf
    finite = np.isfinite(d)
    if not np.array_equal(np.isnan(a), np.isnan(d)) or not np.array_equal(
        a[~finite & ~np.isnan(d)], d[~finite & ~np.isnan(d)]
    ):
        return math.inf
    if not finite.any():
        return 0.0
    diff = np.abs(a[finite] - d[finite])
    if not np.isfinite(diff).all():
        return math.inf
    scale = float(np.max(np.abs(d[finite])))
    worst = float(np.max(diff))
    return worst / scale if scale > 0 else worst


@dataclass
class Measurement:
    """The errors of one loss on one target (or of the baseline against its reference)."""

    value_error: float | None = None
    grad_errors: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    skipped: str | None = None

    @property
    def worst(self) -> float:
        errors = [e for e in (self.value_error, *self.grad_errors.values()) if e is not None]
        return max(errors, default=0.0)

    def passed(self, tolerance: float) -> bool:
        return self.skipped is not None or (self.error is None and self.worst <= tolerance)

    def absorb(self, value_error: float, grad_errors: dict[str, float]) -> None:
        self.value_error = max(self.value_error or 0.0, value_error)
        for name, e in grad_errors.items():
            self.grad_errors[name] = max(self.grad_errors.get(name, 0.0), e)

    def as_dict(self, tolerance: float) -> dict[str, Any]:
        return {
            "value_error": _json_number(self.value_error),
            "grad_errors": {k: _json_number(v) for k, v in self.grad_errors.items()},
            "passed": self.passed(tolerance),
            "error": self.error,
            "skipped": self.skipped,
        }


def _json_number(x: float | None) -> float | str | None:
    if x is None or math.isfinite(x):
        return x
    return "inf"


@dataclass
class Report:
    """Everything ``check`` measured; ``ok`` is False on any failing cell."""

    dtype: str
    tolerance: float
    targets: list[Target]
    losses: list[str]
    aliases: dict[str, str]
    families: dict[str, str]
    cells: dict[tuple[str, str], Measurement]
    references: dict[str, tuple[str, Measurement]]
    fastpaths: bool

    @property
    def reference_libraries(self) -> dict[str, str]:
        """Loss name -> the library of its reference ("torch", "optax", ...)."""
        return {name: REFERENCES[name].library for name in self.references}

    def failures(self) -> list[tuple[str, str, str]]:
        """``(loss, column, reason)`` for every failing cell (column: target or "reference")."""
        found = []
        for (loss, label), m in self.cells.items():
            if not m.passed(self.tolerance):
                found.append(
                    (loss, label, m.error or f"relative error {m.worst:.3g} > {self.tolerance:.3g}")
                )
        ref_tol = TOLERANCES["float64"]
        for loss, (_, m) in self.references.items():
            if not m.passed(ref_tol):
                found.append(
                    (loss, "reference", m.error or f"relative error {m.worst:.3g} > {ref_tol:.3g}")
                )
        return found

    @property
    def ok(self) -> bool:
        return not self.failures()

    def as_dict(self) -> dict[str, Any]:
        from .. import __version__

        losses: dict[str, Any] = {}
        for name in sorted([*self.losses, *self.aliases]):
            spec_name = self.aliases.get(name, name)
            ref = self.references.get(spec_name)
            losses[name] = {
                "family": self.families[spec_name],
                "alias_of": self.aliases.get(name),
                "reference": None
                if ref is None
                else {"function": ref[0], **ref[1].as_dict(TOLERANCES["float64"])},
                "backends": {
                    t.label: self.cells[(spec_name, t.label)].as_dict(self.tolerance)
                    for t in self.targets
                },
            }
        return {
            "arrayloss_version": __version__,
            "dtype": self.dtype,
            "tolerance": self.tolerance,
            "reference_tolerance": TOLERANCES["float64"],
            "fastpaths": self.fastpaths,
            "backends": [
                {"label": t.label, "backend": t.backend, "device": t.device, "version": t.version}
                for t in self.targets
            ],
            "losses": losses,
            "failures": [{"loss": a, "backend": b, "reason": c} for a, b, c in self.failures()],
            "passed": self.ok,
        }


@contextlib.contextmanager
def _fastpaths_off() -> Iterator[None]:
    old = os.environ.get("ARRAYLOSS_DISABLE_FASTPATHS")
    os.environ["ARRAYLOSS_DISABLE_FASTPATHS"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["ARRAYLOSS_DISABLE_FASTPATHS"]
        else:
            os.environ["ARRAYLOSS_DISABLE_FASTPATHS"] = old


def differentiable(name: str, case: Case) -> tuple[str, ...]:
    """The differentiable arguments of loss ``name`` that ``case`` passes as floating arrays."""
    spec = get_spec(name)
    # Array arguments passed by keyword (linear_cross_entropy's bias) count too.
    named = [*zip(spec.args, case.args, strict=False), *case.options.items()]
    given = {n for n, a in named if isinstance(a, np.ndarray) and a.dtype.kind == "f"}
    return tuple(n for n in spec.wrt if n in given)


def evaluate(
    fn: Callable[..., Any], case: Case, target: Target, dtype: str, wrt: tuple[str, ...]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(value, gradients)`` of ``case`` on ``target``, as NumPy float64 arrays.

    The value is taken from a plain call (the path that JAX and PyTorch autodiff wire
    up) and must agree with the value returned next to the gradients.
    """
    args = [to_target(a, target, dtype) for a in case.args]
    options = {k: to_target(v, target, dtype) for k, v in case.options.items()}
    plain = fn(*args, **options)
    if not wrt:
        return to_numpy(plain), []
    value, grads = value_and_grad(fn, wrt=wrt)(*args, **options)
    plain, value, *grads = to_numpy_all(plain, value, *grads)
    if relative_error(value, plain) > TOLERANCES[dtype]:
        raise AssertionError(
            f"the value from value_and_grad ({value}) differs from the plain call ({plain})"
        )
    return plain, grads


def _rounded(case: Case, dtype: str) -> Case:
    """``case`` with its floating arrays rounded to ``dtype`` and back to float64."""

    def cast(x: Any) -> Any:
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            return x.astype(dtype).astype(np.float64)
        return x

    return Case(
        case.label, tuple(cast(a) for a in case.args), {k: cast(v) for k, v in case.options.items()}
    )


_NUMPY = Target("numpy", "numpy", "cpu", np.__version__)


def measure(name: str, targets: Sequence[Target], dtype: str = "float64") -> dict[str, Measurement]:
    """The measurement of loss ``name`` on each target (by label)."""
    spec = get_spec(name)
    fn = public_functions()[name]
    results = {t.label: Measurement() for t in targets}
    cases = cases_for(spec.name)
    if cases is None:
        for m in results.values():
            m.error = NO_INPUTS
        return results
    for t in targets:
        if t.backend not in spec.backends:
            results[t.label].skipped = f"{name} does not support {t.backend}"
    for case in cases:
        wrt = differentiable(name, case)
        rounded = _rounded(case, dtype)
        try:
            with _fastpaths_off():
                base_value, base_grads = evaluate(fn, rounded, _NUMPY, "float64", wrt)
        except Exception as exc:
            for m in results.values():
                m.error = (
                    m.error
                    or f"NumPy float64 baseline failed on case {case.label!r}: {_describe(exc)}"
                )
            continue
        for t in targets:
            m = results[t.label]
            if m.skipped or m.error:
                continue
            try:
                value, grads = evaluate(fn, case, t, dtype, wrt)
            except Exception as exc:
                m.error = f"case {case.label!r}: {_describe(exc)}"
                continue
            m.absorb(
                relative_error(value, base_value),
                {n: relative_error(g, b) for n, g, b in zip(wrt, grads, base_grads, strict=True)},
            )
    return results


def measure_reference(name: str) -> tuple[str, Measurement] | None:
    """The NumPy float64 baseline of ``name`` against its reference library, if any."""
    spec = get_spec(name)
    ref = REFERENCES.get(spec.name)
    if ref is None:
        return None
    m = Measurement()
    cases = cases_for(spec.name) or []
    fn = public_functions()[name]
    for case in cases:
        wrt = differentiable(name, case)
        try:
            result = ref.run(case, spec.args, wrt)
        except ImportError as exc:
            m.skipped = f"{ref.library} is not installed ({exc})"
            break
        except Exception as exc:
            m.error = f"{ref.function} failed on case {case.label!r}: {_describe(exc)}"
            break
        if result is None:
            continue
        ref_value, ref_grads = result
        try:
            with _fastpaths_off():
                value, grads = evaluate(fn, case, _NUMPY, "float64", wrt)
        except Exception as exc:
            m.error = f"case {case.label!r}: {_describe(exc)}"
            break
        by_name = dict(zip(wrt, grads, strict=True))
        m.absorb(
            relative_error(value, ref_value),
            {n: relative_error(by_name[n], g) for n, g in ref_grads.items() if n in by_name},
        )
    return ref.function, m


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


def check(
    targets: Sequence[Target],
    *,
    dtype: str = "float64",
    losses: Sequence[str] | None = None,
    references: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Measure every loss (or those named) on every target; see the module docstring.

    ``progress(name)`` is called after each loss is measured.
    """
    if dtype not in TOLERANCES:
        raise ValueError(f"dtype={dtype!r} is not valid; expected one of {', '.join(TOLERANCES)}")
    if any(t.backend == "jax" for t in targets) or references:
        _enable_jax_x64()
    records = registry()
    wanted = list(records) if losses is None else list(losses)
    unknown = [n for n in wanted if n not in records]
    if unknown:
        raise ValueError(f"unknown loss {unknown[0]!r}; known losses are {', '.join(records)}")
    spec_names = {n: get_spec(n).name for n in records}
    aliases = {n: s for n, s in spec_names.items() if n != s and n in wanted}
    names = sorted({spec_names[n] for n in wanted})
    cells: dict[tuple[str, str], Measurement] = {}
    refs: dict[str, tuple[str, Measurement]] = {}
    for name in names:
        for label, m in measure(name, targets, dtype).items():
            cells[(name, label)] = m
        if references:
            ref = measure_reference(name)
            if ref is not None:
                refs[name] = ref
        if progress is not None:
            progress(name)
    return Report(
        dtype=dtype,
        tolerance=TOLERANCES[dtype],
        targets=list(targets),
        losses=names,
        aliases=aliases,
        families={n: records[n].family for n in records},
        cells=cells,
        references=refs,
        fastpaths=not fast.disabled(),
    )


def _enable_jax_x64() -> None:
    with contextlib.suppress(ImportError):
        import jax

        jax.config.update("jax_enable_x64", True)
