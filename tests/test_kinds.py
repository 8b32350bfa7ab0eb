"""Every job kind is declared once, whole, and the service reads the declaration instead of naming it."""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from pathlib import Path

import pytest

from app.config import Settings
from app.context import Context
from app.events import WebhookEvent
from app.kinds import CONFIGURED_ROLE, HelpLine, JobKind, Trigger, Words
from app.routing import Registry, RoutingError
from app.store import NewJob
from handlers import build_registry, cancel, fix, help, interrupted, review
from handlers.help.reply import help_text

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = Settings(webhook_secrets=("s",), trigger_label="please-fix")


def in_order(names: list[str], wanted: list[str]) -> bool:
    """`wanted` appear in `names` in this order (other kinds may sit between them)."""
    rest = iter(names)
    return all(name in rest for name in wanted)


def test_the_registry_holds_each_kind_once_in_help_order() -> None:
    """The kinds, in the order `/help` lists them; the store's notice kind is one of them."""
    registry = build_registry()
    assert in_order(list(registry.kinds), ["fix", "review", "cancel", "help", "interrupted"])
    assert registry.interruption_notice is interrupted.KIND
    assert {"fix", "review"} <= registry.metered()
    assert not {"cancel", "help", "interrupted"} & registry.metered()


@pytest.mark.parametrize("kind", build_registry().kinds.values(), ids=lambda kind: kind.name)
def test_each_kind_declares_all_of_it(kind: JobKind) -> None:
    """Handler, token, role, metering, words and help: nothing left to another module."""
    assert inspect.iscoroutinefunction(kind.handler)
    assert kind.problems() == []
    assert kind.permissions["metadata"] == "read"
    assert kind.words.noun
    if kind.triggers and kind.least_role is not None:
        assert kind.refusal, "a refused trigger is told what the kind does"
    if kind.metered:
        verb = kind.words.retry_verb.capitalize()  # "Comment", or "Send" for an API request
        assert kind.words.retry_hint == f"{verb} `{kind.words.retry_command}` to try again."
        # A check run is the kind's own choice: a question, which leaves no commit, has none.
        assert kind.words.narrow and kind.words.subject
    commands = [trigger for trigger in kind.triggers if trigger.event == "issue_comment"]
    assert bool(kind.help) == bool(kind.triggers), "a kind someone can ask for is in /help"
    assert len(kind.help) >= len(commands)


def test_roles_come_from_the_declaration_and_the_operator() -> None:
    """The configured role follows the operator's setting; `/help` and the notice check nobody."""
    operator = replace(SETTINGS, trigger_permission="maintain")
    assert fix.KIND.required_role(operator) == "maintain"
    assert cancel.KIND.required_role(operator) == "maintain"
    assert help.KIND.required_role(operator) is None
    assert interrupted.KIND.required_role(operator) is None


def test_help_lists_every_kinds_own_lines() -> None:
    """The help comment is built from the declarations, the trigger label filled in."""
    text = help_text(SETTINGS, build_registry().kinds.values())
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0] == "| command | where | what it does |"
    assert in_order(
        rows,
        [
            "| add the `please-fix` label | issue | opens a draft pull request that fixes the issue |",
            "| `/fix [instructions]` | issue | the same, with extra instructions |",
            "| `/review` | pull request | posts a review with comments on the changed lines |",
            "| `/cancel` (or remove the label) | issue or pull request | stops the running job and "
            "removes its sandbox |",
            "| `/help` | anywhere | this message |",
        ],
    )


def test_the_registry_refuses_a_kind_twice_or_declared_incompletely() -> None:
    """Mistakes in a declaration fail when the service starts, naming the kind and the problem."""
    with pytest.raises(RoutingError, match="'fix' is registered twice"):
        Registry([fix.KIND, fix.KIND])
    no_metadata = replace(review.KIND, permissions={"contents": "read"})
    with pytest.raises(RoutingError, match="'review': every installation token needs metadata"):
        Registry([no_metadata])
    unknown_role = replace(fix.KIND, least_role="owner")
    with pytest.raises(RoutingError, match="least_role 'owner' is not a GitHub role"):
        Registry([unknown_role])
    silent = replace(fix.KIND, words=replace(fix.KIND.words, retry_command=""))
    with pytest.raises(RoutingError, match="a metered kind needs a retry command"):
        Registry([silent])
    with pytest.raises(RoutingError, match="the interruption notice 'interrupted' is no kind"):
        Registry([fix.KIND], interruption_notice=interrupted.KIND)


def test_a_throwaway_kind_needs_nothing_but_its_declaration() -> None:
    """A new kind plugs in by being declared: routed, metered, helped and worded from itself."""

    async def answer(event: WebhookEvent, context: Context) -> str:
        return "answered"

    def plan(event: WebhookEvent, settings: Settings) -> NewJob | None:
        return None

    throwaway = JobKind(
        name="throwaway",
        handler=answer,
        triggers=(Trigger("issue_comment", "created", plan),),
        permissions={"issues": "write", "metadata": "read"},
        least_role=CONFIGURED_ROLE,
        refusal="echoes",
        metered=True,
        help=(HelpLine("`/throwaway`", "issue", "says it back"),),
        words=Words("throwaway", "/throwaway", "the issue", "Say less.", "fixwright throwaway"),
    )
    registry = Registry([*build_registry().kinds.values(), throwaway])
    assert "throwaway" in registry.metered()
    assert "| `/throwaway` | issue | says it back |" in help_text(SETTINGS, registry.kinds.values())


def literal_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants that are not dict keys (a key named `help` in a JSON answer is no kind)
    nor a path into a delivery (`dig(payload, "review", "state")` reads GitHub's field)."""
    keys = {id(key) for node in ast.walk(tree) if isinstance(node, ast.Dict) for key in node.keys}
    paths = {
        id(argument)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dig"
        for argument in node.args[1:]
    }
    skipped = keys | paths
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skipped
    ]


def test_app_names_no_kind() -> None:
    """The service reads declarations; a kind's name in app/ would be a second declaration."""
    names = set(build_registry().kinds)
    named = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in sorted((ROOT / "app").rglob("*.py"))
        for line, value in literal_strings(ast.parse(path.read_text()))
        if value in names
    ]
    assert named == []
