"""Every registered loss on arrays sharded over 4 host CPU devices (run as a script).

``tests/test_scaleout.py`` starts this file with ``sys.executable`` because
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` only takes effect if it is set
before JAX initialises, which in the pytest process has already happened.

Every loss (inputs from ``_scaleout_cases``) runs on a mesh with an ``Explicit`` axis
(the default of ``jax.make_mesh``), and one loss per family on an ``Auto`` mesh. The
batch-major inputs are placed with ``NamedSharding(mesh, P("batch"))``, the rest
replicated, then one ``jax.jit`` computes:

* ``al.value_and_grad(loss, wrt=<every differentiable argument>)`` (the gradient table),
  whose value must be replicated (global) and whose gradients must have the shardings
  of their inputs,
* ``jax.value_and_grad`` of the loss in its first argument (the ``custom_vjp`` wiring,
  as in a training step), with the same requirements,
* the loss with ``reduction="none"``,
* the loss with a ``weight`` concentrated on the last device's rows and a ``where`` mask,

all compared with NumPy float64 on the unsharded inputs. A few losses are also called
eagerly (no ``jax.jit``) on the Explicit mesh. It prints one JSON object per
line (``{"loss", "mesh", "ok", "problems"}``) and a last ``{"summary": ...}`` line.
Usage: ``python tests/sharded_check.py [loss names...]``.
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["JAX_ENABLE_X64"] = "1"

import json
import sys
import time
import traceback
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import arrayloss as al
from _scaleout_cases import (
    batch_major,
    case_for,
    differentiable,
    loss_names,
    weighted_options,
)
from arrayloss._spec import get_spec, public_functions

RTOL = 1e-10


def _close(actual: Any, desired: Any) -> bool:
    return bool(
        np.allclose(np.asarray(actual), np.asarray(desired), rtol=RTOL, atol=1e-13, equal_nan=True)
    )


def _place(x: Any, mesh: Any) -> Any:
    if not isinstance(x, np.ndarray):
        return x
    spec = P("batch") if batch_major(x) else P()
    return jax.device_put(x, NamedSharding(mesh, spec))


def check(name: str, mesh: Any) -> list[str]:
    """The problems found for one loss on one mesh (empty: all good)."""
    fn = public_functions()[name]
    case = case_for(name)
    if case is None:
        return ["no input factory in tests/_scaleout_cases.py"]
    wrt = differentiable(name, case)
    array_options = {k: v for k, v in case.options.items() if isinstance(v, np.ndarray)}
    static = {k: v for k, v in case.options.items() if k not in array_options}

    want_value, want_grads = al.value_and_grad(fn, wrt=wrt)(*case.args, **case.options)
    names = get_spec(name).args
    args = [_place(a, mesh) for a in case.args]
    arrays = {k: _place(v, mesh) for k, v in array_options.items()}
    given = dict(zip(names, args, strict=False)) | arrays

    first = names[0]
    want_none = fn(*case.args, **case.options, reduction="none")
    weighted = weighted_options(name, case)
    want_weighted = fn(*case.args, **weighted)
    weighted_arrays = {k: _place(v, mesh) for k, v in weighted.items() if isinstance(v, np.ndarray)}

    @jax.jit
    def step(args: list[Any], arrays: dict[str, Any], weighted_arrays: dict[str, Any]) -> Any:
        table = al.value_and_grad(fn, wrt=wrt)(*args, **arrays, **static)
        training = jax.value_and_grad(lambda x: fn(x, *args[1:], **arrays, **static))(args[0])
        none = fn(*args, **arrays, **static, reduction="none")
        return table, training, none, fn(*args, **weighted_arrays, **static)

    (value, grads), (train_value, train_grad), none, weighted_value = step(
        args, arrays, weighted_arrays
    )
    problems = []
    if not _close(value, want_value):
        problems.append(f"value {float(value)!r} != NumPy {float(want_value)!r}")
    if not value.sharding.is_fully_replicated:
        problems.append(f"the reduced value is not global: {value.sharding}")
    for arg, g, want in zip(wrt, grads, want_grads, strict=True):
        x = given[arg]
        if not _close(g, want):
            problems.append(f"gradient for {arg} differs from NumPy")
        if not g.sharding.is_equivalent_to(x.sharding, x.ndim):
            problems.append(f"gradient for {arg} has sharding {g.sharding}, input {x.sharding}")
    if not _close(train_value, want_value):
        problems.append(f"jax.value_and_grad value {float(train_value)!r} != NumPy")
    if first in wrt and not _close(train_grad, want_grads[wrt.index(first)]):
        problems.append(f"jax.value_and_grad gradient for {first} differs from NumPy")
    if not train_grad.sharding.is_equivalent_to(args[0].sharding, args[0].ndim):
        problems.append(
            f"jax.value_and_grad gradient has sharding {train_grad.sharding}, "
            f"input {args[0].sharding}"
        )
    if not _close(none, want_none):
        problems.append('reduction="none" differs from NumPy')
    if not _close(weighted_value, want_weighted):
        problems.append("the weighted, masked mean differs from NumPy")
    return problems


def check_eager(name: str, mesh: Any) -> list[str]:
    """A plain (not jitted) call on sharded inputs: the global value, replicated."""
    fn = public_functions()[name]
    case = case_for(name)
    if case is None:
        return ["no input factory in tests/_scaleout_cases.py"]
    value = fn(*(_place(a, mesh) for a in case.args), **case.options)
    problems = []
    if not _close(value, fn(*case.args, **case.options)):
        problems.append("the eager value differs from NumPy")
    if not value.sharding.is_fully_replicated:
        problems.append(f"the eager value is not global: {value.sharding}")
    return problems


def _one_per_family(canonical: list[str]) -> list[str]:
    chosen: dict[str, str] = {}
    for name, record in al.registry().items():
        if name in canonical:
            chosen.setdefault(record.family, name)
    return sorted(chosen.values())


def main(names: list[str]) -> int:
    started = time.perf_counter()
    devices = jax.devices()
    canonical = sorted({get_spec(n).name for n in names})
    failed = checks = 0
    # Every loss jitted on an Explicit mesh (the default of jax.make_mesh; its losses run
    # with the axes made Auto inside), one loss per family on an Auto mesh, and a few
    # eager calls on an Explicit mesh.
    eager = [n for n in ("cross_entropy", "mse", "ntxent") if n in canonical]
    runs = (
        ("Explicit", AxisType.Explicit, check, canonical),
        ("Auto", AxisType.Auto, check, _one_per_family(canonical)),
        ("Explicit, eager", AxisType.Explicit, check_eager, eager),
    )
    for label, kind, run, losses in runs:
        mesh = jax.make_mesh((len(devices),), ("batch",), axis_types=(kind,))
        for name in losses:
            try:
                problems = run(name, mesh)
            except Exception as exc:  # report every loss, not just the first failure
                problems = [f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=-3)]
            failed += bool(problems)
            checks += 1
            record = {"loss": name, "mesh": label, "ok": not problems, "problems": problems}
            print(json.dumps(record), flush=True)
    summary = {
        "devices": len(devices),
        "checks": checks,
        "platform": devices[0].platform,
        "losses": len(canonical),
        "failed": failed,
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps({"summary": summary}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or loss_names()))
