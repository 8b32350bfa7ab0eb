"""`fixwright --version` and every command's `--help`: found by walking the parser, so a new
command is covered without touching this file."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from app.cli import build_parser, installed_version, main


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command's words and parser, depth first, the top one included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def option_names(parser: argparse.ArgumentParser) -> list[str]:
    """The long options and positional names a command's help must mention."""
    names: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        long = [flag for flag in action.option_strings if flag.startswith("--")]
        names.extend(long[:1] or action.option_strings[:1] or [str(action.metavar or action.dest)])
    return names


ALL = list(commands(build_parser()))


def test_the_tree_holds_the_known_commands() -> None:
    """The walk really descends: the top command and nested ones are found."""
    found = {" ".join(path) for path, _ in ALL}
    assert {"", "serve", "jobs", "doctor"} <= found
    assert any(len(path) > 1 for path, _ in ALL), "no nested command found"


@pytest.mark.parametrize(("path", "parser"), ALL, ids=[" ".join(p) or "fixwright" for p, _ in ALL])
def test_help_exits_zero_and_names_every_option(
    path: tuple[str, ...], parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: fixwright")
    for name in option_names(parser):
        assert name in shown, f"`fixwright {' '.join(path)} --help` does not mention {name}"


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"fixwright {installed_version()}"
    assert installed_version()[0].isdigit()
