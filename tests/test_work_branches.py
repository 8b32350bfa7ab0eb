"""Where fixes are pushed: one prefix, checked at start, told to the operator at start and on /health."""

from __future__ import annotations

import httpx
import pytest

from app.config import ConfigError, branch_prefix_problem, load_settings
from handlers.fix.handler import work_branch
from tests.fixtures.service import ServiceProcess
from tests.test_config import minimal

METRICS_TOKEN = "metrics-token-for-work-branches"


def test_fixes_go_to_fixwright_issue_n_unless_told_otherwise() -> None:
    """The default prefix is `fixwright/`; another one is used as given."""
    assert (
        work_branch(load_settings(minimal(), dotenv=None).branch_prefix, 7) == "fixwright/issue-7"
    )
    settings = load_settings(minimal(FIXWRIGHT_BRANCH_PREFIX="bots/fixwright/"), dotenv=None)
    assert work_branch(settings.branch_prefix, 7) == "bots/fixwright/issue-7"


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [
        ("fixwright", "must end with `/`"),
        ("fix wright/", "may hold only"),
        ("fix*/", "may hold only"),
        ("/fixwright/", "empty"),
        ("a//b/", "empty"),
        (".hidden/", "starts with `.`"),
        ("-opt/", "starts with `.` or `-`"),
        ("x.lock/", "`.lock`"),
        ("a..b/", "`..`"),
        ("f" * 70 + "/", "longer than"),
    ],
)
def test_a_prefix_git_or_a_branch_filter_would_misread_is_refused(
    prefix: str, problem: str
) -> None:
    """Each bad prefix is refused at start, naming the variable, the problem and a good value."""
    assert problem in str(branch_prefix_problem(prefix))
    with pytest.raises(ConfigError) as raised:
        load_settings(minimal(FIXWRIGHT_BRANCH_PREFIX=prefix), dotenv=None)
    [message] = raised.value.problems
    assert message.startswith("FIXWRIGHT_BRANCH_PREFIX ") and "fixwright/" in message


def test_the_start_up_line_and_health_say_where_fixes_are_pushed(
    service_process: ServiceProcess,
) -> None:
    """`service.started` and /health name the prefix and the push filter to add to workflows."""
    service = service_process.start(
        FIXWRIGHT_BRANCH_PREFIX="bots/fixwright/", FIXWRIGHT_METRICS_TOKEN=METRICS_TOKEN
    )
    [started] = [line for line in service.log_lines() if line["event"] == "service.started"]
    assert started["branch_prefix"] == "bots/fixwright/"
    assert "'bots/fixwright/**'" in started["push_workflows"]
    assert "branches-ignore" in started["push_workflows"]
    health = httpx.get(
        service.url + "/health", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    ).json()
    component = health["components"]["work_branches"]
    assert component["status"] == "healthy"
    assert "exclude 'bots/fixwright/**' from push-triggered workflows" in component["message"]
