"""Sessions: tests, tests_minimal, gpu, bench, demo, lint, docs.

The README's two commands are ``nox -s demo`` and ``nox -s tests``; ``.ci/run`` calls the
second. Backends are installed from ``backends/*.txt``.
"""

from __future__ import annotations

import shutil
import subprocess

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

CPU_BACKENDS = ["strict", "jax", "torch", "dask"]


def _requirements(*names: str) -> list[str]:
    args: list[str] = []
    for name in names:
        args += ["-r", f"backends/{name}.txt"]
    return args


def _install_cpu_stack(session: nox.Session, *extras: str) -> None:
    extra = ",".join(("test", *extras))
    session.install("-e", f".[{extra}]", *_requirements("numpy", *CPU_BACKENDS, "oracles"))


def _gpu_visible() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return result.returncode == 0 and "GPU" in result.stdout


@nox.session
def tests(session: nox.Session) -> None:
    """Every CPU backend (numpy, array-api-strict, jax, torch, dask) and the oracles."""
    _install_cpu_stack(session, "demo")
    # one pytest worker per core (pytest-xdist); `nox -s tests -- -n 0` runs serially
    chose_workers = any(
        a == "-n" or a.startswith(("-n=", "--numprocesses")) for a in session.posargs
    )
    args = session.posargs if chose_workers else ["-n", "auto", *session.posargs]
    session.run("python", "-m", "pytest", *args, env={"ARRAYLOSS_JAX_PLATFORMS": "cpu"})


@nox.session
def tests_minimal(session: nox.Session) -> None:
    """Only the runtime dependencies and pytest: the package works with nothing else."""
    session.install("-e", ".", "pytest")
    session.run(
        "python",
        "-m",
        "pytest",
        *session.posargs,
        env={"ARRAYLOSS_BACKENDS": "numpy,numpy_readonly"},
    )


@nox.session
def gpu(session: nox.Session) -> None:
    """CuPy and JAX CUDA tests; skips with a message when no GPU is visible."""
    if not _gpu_visible():
        session.skip("no NVIDIA GPU visible (nvidia-smi found none): nothing to run")
    session.install(
        "-e", ".[test]", *_requirements("numpy", "cupy-cuda12", "jax-cuda12", "torch", "oracles")
    )
    session.run(
        "python",
        "-m",
        "pytest",
        "-m",
        "gpu",
        *session.posargs,
        env={"ARRAYLOSS_BACKENDS": "cupy,jax_gpu", "ARRAYLOSS_JAX_PLATFORMS": "cuda,cpu"},
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The CPU benchmark suite (``nox -s bench -- --quick`` for the short run)."""
    _install_cpu_stack(session, "demo")
    session.run("python", "-m", "arrayloss", "bench", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Train small models with every installed backend; writes plots to demo-output/."""
    _install_cpu_stack(session, "demo")
    session.run("python", "-m", "arrayloss", "demo", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, mypy on src."""
    session.install("-e", ".", "ruff", "mypy")
    session.run("ruff", "check", "src", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "noxfile.py")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate the loss tables in docs/losses.md and README.md from the registry."""
    _install_cpu_stack(session, "demo")
    session.run("python", "-m", "arrayloss", "docs", *session.posargs)
