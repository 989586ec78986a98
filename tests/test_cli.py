"""``python -m arrayloss``: info, check, demo, bench and docs, as a user runs them."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import arrayloss as al
from arrayloss import fast
from arrayloss._spec import get_spec, registry
from arrayloss.cli import main
from arrayloss.conformance import INPUTS

pytest.importorskip("rich")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# --------------------------------------------------------------------------- info


def test_info_json_lists_backends_versions_devices_and_loss_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(capsys, "info", "--json")
    assert status == 0
    data = json.loads(out)
    assert data["arrayloss"] == al.__version__
    by_name = {b["name"]: b for b in data["backends"]}
    assert {b.name for b in al.backends()} == set(by_name)
    assert by_name["numpy"]["devices"] == ["cpu"]
    assert by_name["numpy"]["version"] == np.__version__
    assert data["losses"] == len({get_spec(n).name for n in registry()})
    assert set(data["aliases"]) == {n for n in registry() if get_spec(n).name != n}
    assert data["fast_paths_enabled"] is True


def test_info_says_when_fast_paths_are_disabled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARRAYLOSS_DISABLE_FASTPATHS", "1")
    status, out, _ = _run(capsys, "info")
    assert status == 0
    assert "numpy" in out
    assert "fast paths: disabled" in out


# -------------------------------------------------------------------------- check


def test_check_json_is_the_only_stdout_and_covers_every_loss(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = _run(capsys, "check", "--backend", "numpy", "--json", "--no-references")
    report = json.loads(out)  # nothing but the document on stdout
    assert status == 0, report["failures"]
    assert report["passed"] is True
    assert set(report["losses"]) == set(registry())
    assert [b["label"] for b in report["backends"]] == ["numpy"]
    assert set(report["losses"]["mse"]["backends"]["numpy"]["grad_errors"]) == {"pred", "target"}
    assert report["losses"]["l1"]["alias_of"] == "mae"
    assert "mse" in err  # the table went to stderr


@pytest.mark.parametrize(
    ("loss", "function"),
    [("mse", "torch.nn.functional.mse_loss"), ("log_cosh", "optax.losses.log_cosh")],
)
def test_check_compares_with_the_reference_library(
    capsys: pytest.CaptureFixture[str], loss: str, function: str
) -> None:
    pytest.importorskip(function.split(".")[0])
    status, out, _ = _run(capsys, "check", "--backend", "numpy", "--loss", loss, "--json")
    reference = json.loads(out)["losses"][loss]["reference"]
    assert status == 0
    assert reference["function"] == function
    assert reference["passed"] is True
    assert reference["value_error"] < 1e-12
    assert max(reference["grad_errors"].values()) < 1e-12


def _broken_fast_path(scale_value: float, scale_grad: float) -> Any:
    """A fast path for mse that is off by the given factors (a deliberately broken kernel)."""

    def broken(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
        if problem.weight is not None or problem.where is not None or problem.reduction != "mean":
            return NotImplemented
        xp = problem.xp
        pred, target = problem.arrays
        d = pred - target
        value = xp.mean(d * d) * scale_value
        grads = tuple(
            2 * d / math.prod(d.shape) * (1 if n == "pred" else -1) * scale_grad for n in wrt
        )
        return value, grads

    return broken


@pytest.mark.parametrize(
    ("scale_value", "scale_grad", "what"), [(1.01, 1.0, "value"), (1.0, 1.001, "gradient")]
)
def test_check_fails_when_a_backend_disagrees(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    scale_value: float,
    scale_grad: float,
    what: str,
) -> None:
    pytest.importorskip("torch")
    fast.registered()  # load the real fast paths first, so ours is not overwritten
    monkeypatch.setitem(fast._PATHS, ("mse", "torch"), _broken_fast_path(scale_value, scale_grad))
    status, out, _ = _run(
        capsys, "check", "--backend", "numpy", "--backend", "torch", "--loss", "mse", "--json"
    )
    report = json.loads(out)
    assert status == 1
    assert report["passed"] is False
    assert [(f["loss"], f["backend"]) for f in report["failures"]] == [("mse", "torch")]
    cell = report["losses"]["mse"]["backends"]["torch"]
    errors = [cell["value_error"]] if what == "value" else list(cell["grad_errors"].values())
    assert max(errors) > 1e-4
    assert report["losses"]["mse"]["backends"]["numpy"]["passed"] is True


def test_check_table_names_the_failing_cell(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    fast.registered()
    monkeypatch.setitem(fast._PATHS, ("mse", "torch"), _broken_fast_path(1.5, 1.0))
    status, out, _ = _run(capsys, "check", "--backend", "torch", "--loss", "mse", "--no-references")
    assert status == 1
    assert "✗" in out
    assert "mse on torch: relative error" in " ".join(out.split())


def test_check_reports_a_loss_without_inputs_as_failure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(INPUTS, "log_cosh")
    status, out, _ = _run(capsys, "check", "--backend", "numpy", "--loss", "log_cosh", "--json")
    assert status == 1
    assert json.loads(out)["failures"][0]["reason"] == "no conformance inputs"


def test_check_float32_uses_the_float32_tolerance(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(
        capsys, "check", "--backend", "numpy", "--dtype", "float32", "--loss", "huber", "--json"
    )
    report = json.loads(out)
    assert status == 0
    assert report["dtype"] == "float32"
    assert report["tolerance"] == pytest.approx(4 * np.sqrt(np.finfo(np.float32).eps))
    assert 0 < report["losses"]["huber"]["backends"]["numpy"]["value_error"] < report["tolerance"]


@pytest.mark.parametrize(("argv", "message"), [
    (["check", "--backend", "tensorflow"], "backend 'tensorflow' is not available here; available: numpy"),
    (["check", "--backend", "numpy", "--loss", "nope"], "unknown loss 'nope'"),
])  # fmt: skip
def test_check_usage_errors_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, _, err = _run(capsys, *argv)
    assert status == 2
    assert message in " ".join(err.split())


def test_python_dash_m_check_json_prints_only_json(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "arrayloss",
            "check",
            "--json",
            "--backend",
            "numpy",
            "--loss",
            "mse",
            "--no-references",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["losses"]["mse"]["backends"]["numpy"]["passed"] is True


# -------------------------------------------------------------------------- bench


def test_bench_passes_its_arguments_to_the_benchmark(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType("arrayloss.benchmark")
    fake.main = lambda argv: seen.append(argv) or 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "arrayloss.benchmark", fake)
    assert main(["bench", "--quick", "--backend", "numpy"]) == 3
    assert seen == [["--quick", "--backend", "numpy"]]


def test_bench_without_the_benchmark_module_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "arrayloss.benchmark", None)
    status, _, err = _run(capsys, "bench")
    assert status == 2
    assert "no arrayloss.benchmark" in err


# --------------------------------------------------------------------------- demo


def test_demo_quick_trains_on_every_backend_and_writes_its_plots(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    status, out, _ = _run(capsys, "demo", "--quick", "--output", str(tmp_path / "plots"))
    assert status == 0, out
    expected = ["diabetes_loss.png", "time_per_backend.png"]
    if hasattr(al, "cross_entropy"):
        expected.append("digits_loss.png")
    for name in expected:
        path = tmp_path / "plots" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert path.stat().st_size > 10_000
        assert f"wrote {path}" in out
    for backend in al.backends():
        assert backend.name in out


def test_demo_names_the_missing_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    status, _, err = _run(capsys, "demo", "--quick")
    assert status == 2
    assert "the demo needs matplotlib" in err
    assert 'pip install "arrayloss[demo]"' in err
