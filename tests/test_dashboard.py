"""The Grafana dashboard and Prometheus config: every metric they name is one the service exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import DECLARED
from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fixtures.service import ServiceProcess

DEPLOY = Path(__file__).parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "fixwright.json"
METRIC_NAME = re.compile(r"\bfixwright_[a-z_]+\b")


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def exported_series(text: str) -> set[str]:
    """Every series name a scrape declares, as PromQL names them (`_total`, `_bucket`, ...),
    including labelled families that have no sample yet."""
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {sample.name for sample in family.samples}
        names |= {family.name + s for s in SERIES_SUFFIXES.get(family.type, ("",))}
    return names


def test_every_metric_the_dashboard_queries_is_exported(service: ServiceProcess) -> None:
    """Each fixwright_* name in the dashboard's PromQL appears in the real /metrics/prometheus."""
    service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    exported = exported_series(httpx.get(service.url + "/metrics/prometheus").text)
    queried = {name for query in dashboard_queries() for name in METRIC_NAME.findall(query)}
    assert len(queried) >= 14
    assert not queried - exported, f"not exported: {sorted(queried - exported)}"


# Gauges every node reads from the shared store, so every node reports the same figures.
CLUSTER_WIDE = (
    "fixwright_queue_depth",
    "fixwright_queue_jobs",
    "fixwright_queue_oldest_age_seconds",
    "fixwright_worker_running_jobs",
    "fixwright_worker_capacity",
    "fixwright_worker_processes",
    "fixwright_pull_requests",
)
# The cluster's panels: a word of the title, the gauge it shows, the label it is split by.
CLUSTER_PANELS = (
    ("queue by kind", "fixwright_queue_jobs", "kind"),
    ("oldest queued job's age by kind", "fixwright_queue_oldest_age_seconds", "kind"),
    ("running jobs per worker", "fixwright_worker_running_jobs", "worker"),
)


def declared_series() -> set[str]:
    """Every series name the service declares (app/metrics.py), as PromQL names them."""
    kinds = {"Counter": "counter", "Histogram": "histogram", "Gauge": "gauge"}
    return {
        declared.name + suffix
        for declared in DECLARED.values()
        for suffix in SERIES_SUFFIXES.get(kinds[declared.make.__name__], ("",))
    }


def test_the_cluster_panels_show_each_kind_and_worker_once() -> None:
    """Queue by kind, oldest queued age by kind and running jobs per worker each have a panel
    whose query splits a declared gauge by that label; every node reports these same figures
    from the shared store, so each query takes their `max` and none their `sum`."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    declared = declared_series()
    for words, metric, label in CLUSTER_PANELS:
        [panel] = [p for p in panels if words in p["title"].lower()]
        queries = [target["expr"] for target in panel["targets"]]
        assert any(
            re.search(rf"max by \([^)]*\b{label}\b[^)]*\) \({metric}\)", query) for query in queries
        ), queries
        named = {name for query in queries for name in METRIC_NAME.findall(query)}
        assert named <= declared, f"not declared: {sorted(named - declared)}"
    for query in dashboard_queries():
        if any(re.search(rf"\b{name}\b", query) for name in CLUSTER_WIDE):
            assert "max" in query and "sum" not in query, query


def test_the_dashboard_covers_what_operators_watch() -> None:
    """Intake, rejections, queue, jobs, durations, tokens, cost, quota, containers and GitHub are all there."""
    titles = " ".join(p["title"] for p in json.loads(DASHBOARD.read_text())["panels"]).lower()
    for topic in (
        "intake rate",
        "p99",
        "rejected",
        "queue",
        "jobs by outcome",
        "percentiles",
        "tokens",
        "cost",
        "quota",
        "containers",
        "rate-limit",
        "queue by kind",
        "age by kind",
        "per worker",
        "by outcome",
        "to merge",
        "per merged pull request",
        "findings",
    ):
        assert topic in titles


def test_the_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard query (as recording rules) and the scrape config."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"fixwright:dashboard_query_{i}", "expr": query}
                    for i, query in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump(rules))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = subprocess.run(
        ["promtool", "check", "config", "--syntax-only", str(DEPLOY / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert config.returncode == 0, config.stdout + config.stderr
