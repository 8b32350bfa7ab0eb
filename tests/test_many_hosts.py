"""Many processes on one PostgreSQL store, as on many hosts: three `fixwright serve --role worker`
and one `--role web`, each a real process on its own port, with the fake GitHub (and, for the fix
job, the scripted model and the real sandbox).

Thirty jobs across ten targets each end exactly once, one at a time per target; a worker killed
with SIGKILL mid-job has its job taken back once, ending in a single pull request; a web node
killed right after its 202 leaves a job the workers run.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import psycopg
import pytest

from tests.corpus import comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess, service_environment
from tests.pg import fresh_database
from tests.test_fix_loop import FIX, JOB_TIMEOUT, label_delivery, sandbox_containers
from tests.waiting import wait_for

WORKER_NODES = 3
# Four processes importing at once on a small, busy machine.
START_TIMEOUT = 120.0
# Cheap jobs need no engine: these worker nodes start without one.
NO_ENGINE = "unix:///nonexistent/docker.sock"
UNPACED = {
    "FIXWRIGHT_GITHUB_WRITE_INTERVAL_SECONDS": "0",
    "FIXWRIGHT_GITHUB_CONTENT_INTERVAL_SECONDS": "0",
}
SLOW_FIX = Scenario([Scenario.run("sleep 4", "Wait for the build"), *FIX.steps])
HELP_MARKER = "fixwright:help"


@dataclass
class Cluster:
    """One web node and the worker nodes, all on the database at `store_url`."""

    web: ServiceProcess
    workers: list[ServiceProcess]
    store_url: str

    def rows(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        """What the shared store holds now (a connection of the test's own)."""
        with psycopg.connect(self.store_url) as db:
            return db.execute(sql.replace("?", "%s"), parameters).fetchall()

    def jobs(self) -> list[tuple[Any, ...]]:
        """(id, target, state, attempts, started_at, finished_at) of every job."""
        return self.rows(
            "SELECT id, target, state, attempts, started_at, finished_at FROM jobs"
            " ORDER BY created_at"
        )

    def node_of(self, lease_owner: str) -> ServiceProcess:
        """The worker node whose process holds a lease (`host:pid:nonce/n`)."""
        pid = int(lease_owner.split("/")[0].split(":")[1])
        [node] = [w for w in self.workers if w.process is not None and w.process.pid == pid]
        return node

    def start(self, **worker_env: str) -> Cluster:
        """All nodes at once (each takes seconds to import on a loaded machine), then each
        waited for until its /health answers 200."""
        for worker in self.workers:
            worker.env.update(worker_env)
        nodes = [*self.workers, self.web]
        for node in nodes:
            launch(node)
        for node in nodes:
            node._wait_until_healthy(timeout=START_TIMEOUT)
        return self

    def stop(self) -> None:
        """SIGTERM to every node at once, then each waited for (SIGKILL if it hangs)."""
        nodes = [n for n in [self.web, *self.workers] if n.process and n.process.poll() is None]
        for node in nodes:
            assert node.process is not None
            node.process.send_signal(signal.SIGTERM)
        for node in nodes:
            assert node.process is not None
            try:
                node.process.wait(15)
            except subprocess.TimeoutExpired:
                node.kill()


def launch(node: ServiceProcess) -> None:
    """`fixwright serve` for the node, not waited for (ServiceProcess.start waits)."""
    env = {**node.env, "FIXWRIGHT_PORT": str(node.port)}
    with node.log_path.open("ab") as log:
        node.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            cwd=node.log_path.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def cluster_of(base: dict[str, str], store_url: str, tmp_path: Path) -> Cluster:
    """The nodes' processes, not started: the web node has the webhook secret, the worker
    nodes have none (they take no deliveries), each worker its own state directory."""
    base = {**base, "FIXWRIGHT_STORE_URL": store_url}
    store_path = tmp_path / "unused"  # the store is the database
    web = ServiceProcess(
        env={**base, "FIXWRIGHT_ROLE": "web", "FIXWRIGHT_STATE_DIR": str(tmp_path / "web")},
        log_path=tmp_path / "web.log",
        store_path=store_path,
    )
    workers = []
    for number in range(WORKER_NODES):
        env = {
            **base,
            "FIXWRIGHT_ROLE": "worker",
            "FIXWRIGHT_WORKERS": "2",
            "FIXWRIGHT_STATE_DIR": str(tmp_path / f"worker-{number}"),
        }
        del env["FIXWRIGHT_WEBHOOK_SECRET"]
        workers.append(
            ServiceProcess(
                env=env, log_path=tmp_path / f"worker-{number}.log", store_path=store_path
            )
        )
    return Cluster(web, workers, store_url)


@pytest.fixture
def cluster(fake_github: FakeGitHub, tmp_path: Path) -> Iterator[Cluster]:
    """Not started: each test chooses what the worker nodes run on."""
    with fresh_database() as store_url:
        made = cluster_of(service_environment(fake_github, tmp_path), store_url, tmp_path)
        try:
            yield made
        finally:
            made.stop()


def finished_on(node: ServiceProcess) -> list[str]:
    """The ids of the jobs a node's log says it finished."""
    return [line["job_id"] for line in node.log_lines() if line["event"] == "job.finished"]


def help_replies(fake_github: FakeGitHub, number: int) -> int:
    return sum(HELP_MARKER in c.body for c in fake_github.state.issue_comments(REPOSITORY, number))


def test_thirty_jobs_on_three_worker_nodes_each_end_once_one_at_a_time_per_target(
    cluster: Cluster, fake_github: FakeGitHub
) -> None:
    # GitHub's pacing of comments (3 s apart per installation and process) is not what is tested.
    cluster.start(DOCKER_HOST=NO_ENGINE, **UNPACED)
    counted = wait_for(
        lambda: (
            (w := httpx.get(cluster.web.url + "/health").json()["components"]["workers"])[
                "message"
            ].startswith("3 worker processes alive")
            and w
        )
    )
    assert counted["message"] == "3 worker processes alive elsewhere, 6 workers, 0 busy"
    listed = json.loads(cluster.web.command("workers", "--json").stdout)
    assert sorted(w["status"] for w in listed) == ["alive"] * 3
    assert {w["engine"] for w in listed} == {NO_ENGINE}

    numbers = [1] + [fake_github.state.add_issue(REPOSITORY, f"issue {n}").number for n in range(9)]
    sent = []
    for person in ("alice", "bob", "carol"):  # help is answered once an hour per person
        for number in numbers:
            payload = comment_on(REPOSITORY, INSTALLATION_ID, number, "/help", sender=person)
            answer = cluster.web.post("issue_comment", payload)
            assert answer.status_code == 202, answer.text
            sent.extend(answer.json()["jobs"])
    assert len(sent) == 30

    ended = lambda: all(state == "succeeded" for _, _, state, *_ in cluster.jobs())  # noqa: E731
    wait_for(ended, timeout=90)
    jobs = cluster.jobs()
    assert sorted(job_id for job_id, *_ in jobs) == sorted(sent)
    assert {attempts for _, _, _, attempts, _, _ in jobs} == {1}
    finished = [job_id for node in cluster.workers for job_id in finished_on(node)]
    assert sorted(finished) == sorted(sent)  # each ended once, on one node
    assert sum(1 for node in cluster.workers if finished_on(node)) >= 2
    assert [help_replies(fake_github, number) for number in numbers] == [3] * 10
    for number in numbers:
        runs = sorted(
            (started, ended_at)
            for _, target, _, _, started, ended_at in jobs
            if target == f"{REPOSITORY}#{number}"
        )
        for (_, previous_end), (next_start, _) in itertools.pairwise(runs):
            assert next_start >= previous_end, f"jobs of issue {number} overlapped"

    stopped = cluster.workers[0]
    stopped.stop()  # SIGTERM: it drains, then leaves the registry
    remaining = json.loads(cluster.web.command("workers", "--json").stdout)
    assert len(remaining) == 2 and all(w["status"] == "alive" for w in remaining)
    assert stopped.process is not None
    assert str(stopped.process.pid) not in {w["id"].split(":")[1] for w in remaining}


def test_a_job_queued_on_the_web_node_wakes_an_idle_worker_node_at_once(
    cluster: Cluster, fake_github: FakeGitHub
) -> None:
    """The workers poll only every two minutes here: the job runs well before, because the
    store tells every node a job was queued (PostgreSQL's NOTIFY)."""
    cluster.start(DOCKER_HOST=NO_ENGINE, FIXWRIGHT_POLL_INTERVAL_SECONDS="120")
    answer = cluster.web.post("issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help"))
    assert answer.status_code == 202
    wait_for(lambda: cluster.jobs()[0][2] == "succeeded", timeout=30)
    assert help_replies(fake_github, 1) == 1


def test_a_job_acknowledged_by_a_web_node_killed_right_after_runs_on_a_worker(
    cluster: Cluster, fake_github: FakeGitHub
) -> None:
    cluster.start(DOCKER_HOST=NO_ENGINE)
    answer = cluster.web.post("issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help"))
    assert answer.status_code == 202
    cluster.web.kill()
    [job_id] = answer.json()["jobs"]
    wait_for(lambda: cluster.jobs() and cluster.jobs()[0][2] == "succeeded", timeout=30)
    [(stored_id, _, _, attempts, _, _)] = cluster.jobs()
    assert (stored_id, attempts) == (job_id, 1)
    assert help_replies(fake_github, 1) == 1


@pytest.mark.docker
def test_a_worker_killed_mid_fix_has_its_job_taken_back_once_and_one_pull_request(
    cluster: Cluster,
    fake_github: FakeGitHub,
    fake_model: Any,
    sandbox_image: str,
    docker_client: docker.DockerClient,
) -> None:
    fake_model.set_scenario(SLOW_FIX)
    cluster.start(
        FIXWRIGHT_ANTHROPIC_API_KEY=fake_model.api_key,
        FIXWRIGHT_MODEL_UPSTREAM_URL=fake_model.url,
        FIXWRIGHT_SANDBOX_IMAGE=sandbox_image,
        FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS="60",
        FIXWRIGHT_WORKERS="1",
    )
    answer = cluster.web.post("issues", label_delivery(fake_github))
    assert answer.status_code == 202
    [job_id] = answer.json()["jobs"]
    wait_for(lambda: fake_model.api.scenario_requests, JOB_TIMEOUT)
    wait_for(lambda: sandbox_containers(docker_client, job_id))
    [(owner,)] = cluster.rows("SELECT lease_owner FROM jobs WHERE id = ?", job_id)
    victim = cluster.node_of(owner)
    victim.kill()

    wait_for(lambda: cluster.jobs()[0][2] not in ("queued", "running"), JOB_TIMEOUT)
    [(_, _, state, attempts, _, _)] = cluster.jobs()
    assert (state, attempts) == ("succeeded", 2)
    assert len(fake_github.state.pulls) == 1
    survivors = [w for w in cluster.workers if w is not victim]
    assert sum(finished_on(node).count(job_id) for node in survivors) == 1
    victim_id = owner.split("/")[0]
    lost = "SELECT 1 FROM workers WHERE id = ? AND lost_at IS NOT NULL"
    wait_for(lambda: cluster.rows(lost, victim_id))  # marked lost by a node still alive
    wait_for(lambda: sandbox_containers(docker_client, job_id) == [])
