"""README.md's configuration tables say what the declarations in app/config.py say."""

from __future__ import annotations

import re
from pathlib import Path

from app.config import DECLARED, PREFIX, Declared

README = Path(__file__).resolve().parent.parent / "README.md"
# The tables of variables: the Configuration section's and the Quotas one under Operations.
TABLE_SECTIONS = ("## Configuration", "### Quotas")


def table_rows(readme: str) -> dict[str, str]:
    """Each FIXWRIGHT_* variable named in the tables, with the default its row gives."""
    rows: dict[str, str] = {}
    for section in TABLE_SECTIONS:
        body = readme.split(f"\n{section}\n", 1)[1]
        body = re.split(r"\n#{2,3} ", body, maxsplit=1)[0]
        for line in body.splitlines():
            cells = [cell.strip() for cell in line.split("|")]
            if len(cells) < 4 or not cells[1].startswith(f"`{PREFIX}"):
                continue
            names = [name.strip("`") for name in cells[1].split(" / ")]
            # `FIXWRIGHT_SANDBOX_MEMORY` / `_CPUS` is short for FIXWRIGHT_SANDBOX_CPUS.
            stem = names[0].rsplit("_", 1)[0]
            names = [stem + name if name.startswith("_") else name for name in names]
            defaults = [cell.strip("`") for cell in cells[2].split(" / ")]
            if len(defaults) == 1:
                defaults *= len(names)
            assert len(defaults) == len(names), f"row of {names} has {len(defaults)} defaults"
            rows.update(zip(names, defaults, strict=True))
    return rows


def declared_variables() -> dict[str, tuple[Declared, int]]:
    """Every declared variable's full name, with its declaration and its place among its names."""
    return {
        PREFIX + name: (declared, index)
        for declared in DECLARED
        for index, name in enumerate(declared.names)
    }


def agrees(declared: Declared, index: int, shown: str) -> bool:
    """Whether a row's default is the declared one: the text declared for it, or a value that
    reads as the default (so `1` and `1.0` both say 1.0)."""
    if declared.var.shown:
        return shown == declared.var.shown[index]
    if not shown:
        return isinstance(declared.default, str | tuple | dict) and not declared.default
    try:
        return declared.var.parse(shown, declared.default) == declared.default
    except ValueError:
        return False


def disagreements(readme: str) -> list[str]:
    """What the README's tables get wrong: missing rows, unknown variables, other defaults."""
    rows, declared = table_rows(readme), declared_variables()
    problems = [f"{name} has no row" for name in declared if name not in rows]
    problems += [
        f"{name} is in the README but not declared" for name in rows if name not in declared
    ]
    problems += [
        f"{name}: the README says {rows[name]!r}"
        for name, (declaration, index) in declared.items()
        if name in rows and not agrees(declaration, index, rows[name])
    ]
    return problems


def test_every_declared_variable_has_a_row_with_its_default() -> None:
    """The README's tables name every declared variable, only those, each with its default."""
    assert disagreements(README.read_text(encoding="utf-8")) == []


def test_a_missing_row_an_unknown_variable_and_a_wrong_default_are_each_found() -> None:
    """The check catches a row taken out, a row for a variable nobody reads, and a changed default."""
    readme = README.read_text(encoding="utf-8")
    planted = (
        readme.replace("| `FIXWRIGHT_MAX_TURNS` | `30` |", "| `FIXWRIGHT_MAX_TURNS` | `40` |")
        .replace("| `FIXWRIGHT_WORKERS` |", "| `FIXWRIGHT_WORKERZ` |")
        .replace("/ `1.0` /", "/ `2.0` /")
    )
    assert set(disagreements(planted)) == {
        "FIXWRIGHT_MAX_TURNS: the README says '40'",
        "FIXWRIGHT_WORKERS has no row",
        "FIXWRIGHT_WORKERZ is in the README but not declared",
        "FIXWRIGHT_SANDBOX_CPUS: the README says '2.0'",
    }
