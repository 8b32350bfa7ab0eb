"""`.github/fixwright.yml`: a repository may narrow the operator's settings, never widen them."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.quota import limits_from
from app.repo_config import (
    RepoConfig,
    RepoConfigError,
    VerifyConfig,
    narrowed,
    parse_repo_config,
)
from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for

OPERATOR = Settings(max_turns=30, job_token_budget=1_000_000, quota_tokens_per_day=5_000_000)


def test_a_valid_file_is_read() -> None:
    """Every documented key parses into the config."""
    config = parse_repo_config(
        "model: claude-haiku-4-5\nmax_turns: 8\ntrigger_permission: maintain\n"
        "draft_pull_requests: false\nlimits:\n  tokens_per_job: 200000\n  cost_per_day_usd: 5\n"
    )
    assert config == RepoConfig(
        model="claude-haiku-4-5",
        max_turns=8,
        trigger_permission="maintain",
        draft_pull_requests=False,
        limits={"tokens_per_job": 200000.0, "cost_per_day_usd": 5.0},
    )


def test_every_problem_is_named() -> None:
    """Unknown keys, wrong types and bad values are all reported together."""
    with pytest.raises(RepoConfigError) as raised:
        parse_repo_config(
            "max_turn: 3\nmax_turns: 0\ntrigger_permission: owner\nlimits:\n  tokens: 5\n"
        )
    assert len(raised.value.problems) == 4
    with pytest.raises(RepoConfigError, match="not valid YAML"):
        parse_repo_config("model: [unclosed")


def test_the_repository_can_only_narrow() -> None:
    """Higher limits and a lower role are ignored; lower limits and a higher role apply."""
    wider = narrowed(
        OPERATOR,
        RepoConfig(max_turns=99, trigger_permission="read", limits={"tokens_per_job": 9e9}),
    )
    assert (wider.max_turns, wider.trigger_permission, wider.job_token_budget) == (
        30,
        "write",
        1_000_000,
    )
    narrower = narrowed(
        OPERATOR,
        RepoConfig(max_turns=5, trigger_permission="admin", limits={"tokens_per_day": 1000.0}),
    )
    assert (narrower.max_turns, narrower.trigger_permission) == (5, "admin")
    assert limits_from(narrower, 1).tokens_per_day == 1000
    assert limits_from(wider, 1).tokens_per_day == 5_000_000


def test_verify_settings_are_read_and_bounded_by_the_operators() -> None:
    """`verify:` parses; its timeout and rounds never pass the operator's; `false` turns it off."""
    config = parse_repo_config("verify:\n  command: make test\n  timeout: 9000\n  max_rounds: 5\n")
    assert config.verify == VerifyConfig("make test", 9000.0, 5)
    settings = narrowed(OPERATOR, config)
    assert (settings.repo_verify_command, settings.verify_timeout_seconds) == ("make test", 600.0)
    assert settings.verify_max_rounds == 2
    default = narrowed(OPERATOR, parse_repo_config("model: x\n"))
    assert (default.verify_max_rounds, default.repo_verify_command) == (1, "")
    assert narrowed(OPERATOR, parse_repo_config("verify: false\n")).repo_verify_off


def test_every_verify_problem_is_named() -> None:
    """A wrong type or value in `verify` is named, with the others."""
    with pytest.raises(RepoConfigError) as raised:
        parse_repo_config(
            "verify:\n  command: [pytest]\n  timeout: 0\n  max_rounds: 11\n  network: on\n"
        )
    assert raised.value.problems == [
        "unknown setting `verify.network` (known: command, timeout, max_rounds)",
        "`verify.command` must be a shell command",
        "`verify.timeout` must be a positive number of seconds",
        "`verify.max_rounds` must be a whole number from 0 to 10",
    ]
    with pytest.raises(RepoConfigError, match="`verify` must be a mapping"):
        parse_repo_config("verify: pytest\n")


@pytest.mark.docker
def test_the_repositorys_model_and_turn_limit_reach_claude_code(
    agent_service: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model,
) -> None:
    """With `model` and `max_turns` in the file, the CLI asks for that model and stops at that many turns."""
    fake_github.state.push_branch(
        REPOSITORY,
        "main",
        {".github/fixwright.yml": "model: claude-haiku-4-5\nmax_turns: 1\n"},
        "Configure fixwright",
    )
    fake_model.set_scenario(
        Scenario(
            [
                Scenario.read("/workspace/README.md"),
                Scenario.read("/workspace/README.md"),
                Scenario.say("ok"),
            ]
        )
    )
    agent_service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    wait_for(
        lambda: [line for line in agent_service.log_lines() if line["event"] == "job.finished"],
        timeout=120,
    )
    main_requests = [r for r in fake_model.requests if r.body.get("tools")]
    assert {r.body["model"] for r in main_requests} == {"claude-haiku-4-5"}
    [progress] = [
        c for c in fake_github.state.issue_comments(REPOSITORY, 1) if "fixwright:progress" in c.body
    ]
    assert "limit of 1 turn" in progress.body


def test_protected_paths_extend_what_a_fix_may_not_change() -> None:
    """`protected_paths` is read as a list of patterns and reaches the job's settings as an addition."""
    config = parse_repo_config("protected_paths:\n  - deploy/**\n  - '**/secrets.env'\n")
    assert config.protected_paths == ("deploy/**", "**/secrets.env")
    assert narrowed(OPERATOR, config).repo_protected_paths == ("deploy/**", "**/secrets.env")
    assert narrowed(OPERATOR, parse_repo_config("protected_paths: []\n")).repo_protected_paths == ()


def test_each_bad_protected_path_is_named() -> None:
    """A pattern fixwright cannot read, or a value that is not a list, is reported, not skipped."""
    with pytest.raises(RepoConfigError) as raised:
        parse_repo_config("protected_paths:\n  - 'src/{a,b}/**'\n  - /deploy\n  - 3\n  - ok/**\n")
    problems = raised.value.problems
    assert len(problems) == 3, problems
    assert "'src/{a,b}/**'" in problems[0] and "only `*`, `**` and `?`" in problems[0]
    assert "'/deploy'" in problems[1] and "3 must be" in problems[2]
    with pytest.raises(RepoConfigError, match="must be a list of path patterns"):
        parse_repo_config("protected_paths: deploy/**\n")
