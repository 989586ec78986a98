"""The documentation: generated tables up to date with the registry, complete docstrings."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from arrayloss import docgen
from arrayloss._spec import get_spec, public_functions, registry

ROOT = Path(__file__).resolve().parents[1]
LOSSES = sorted({get_spec(name).name for name in registry()})


def test_committed_loss_tables_match_the_registry() -> None:
    stale = docgen.update(ROOT, check=True)
    assert not stale, f"{stale} are out of date with al.registry(); run: python -m arrayloss docs"


def test_docs_check_command_reports_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    from arrayloss.cli import main

    assert main(["docs", "--check", "--root", str(ROOT)]) == 0


def test_docs_check_command_fails_on_a_stale_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from arrayloss.cli import main

    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("<!-- loss-table:start -->\n<!-- loss-table:end -->\n")
    (tmp_path / "docs" / "losses.md").write_text(
        "<!-- loss-table:start -->\n<!-- loss-table:end -->\n"
        "<!-- loss-reference:start -->\n<!-- loss-reference:end -->\n"
    )
    assert main(["docs", "--check", "--root", str(tmp_path)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["docs", "--root", str(tmp_path)]) == 0
    assert main(["docs", "--check", "--root", str(tmp_path)]) == 0
    assert "| [`mse`](docs/losses.md#mse) |" in (tmp_path / "README.md").read_text()


def test_replace_between_keeps_the_hand_written_text() -> None:
    text = "intro\n<!-- t:start -->\nold\n<!-- t:end -->\noutro\n"
    assert (
        docgen.replace_between(text, "t", "new")
        == "intro\n<!-- t:start -->\nnew\n<!-- t:end -->\noutro\n"
    )
    with pytest.raises(ValueError, match="markers"):
        docgen.replace_between("no markers", "t", "new")


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_is_documented_with_formula_args_returns_and_example(name: str) -> None:
    doc = inspect.getdoc(public_functions()[name]) or ""
    for section in (".. math::", "Args:", "Returns:", "Examples:", ">>> "):
        assert section in doc, f"the docstring of {name} has no {section!r}"
    reference = registry()[name].reference
    assert reference, f"{name} names no reference library in its LossSpec"


def test_losses_md_documents_every_loss_and_the_edge_cases() -> None:
    text = (ROOT / "docs" / "losses.md").read_text(encoding="utf-8")
    for name in registry():
        assert f"`{name}`" in text
    for heading in ("## Edge-case policy", 'The `"mean"` denominator with `weight`'):
        assert heading in text


def test_migration_guide_maps_every_peer() -> None:
    text = (ROOT / "docs" / "migration.md").read_text(encoding="utf-8")
    for peer in ("PyTorch", "optax", "Keras", "scikit-learn"):
        assert f"## {peer}" in text
