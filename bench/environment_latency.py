"""Environment latency: webhook 202 -> Claude Code's first model request, in the sandbox image as it
is, in a repository environment prepared for the job (cold: build, set-up behind the proxy,
commit), and in the same environment found in the cache (warm), all in the same run.

The set-up installs pytest from wheels served on the host through the job's allow-list proxy (as
`tests/test_environments.py` does); each cold job's set-up differs by a comment, so its key is new.

    python -m bench.environment_latency [--rounds 5] [--out bench/results/environment_latency.md]
"""

from __future__ import annotations

import statistics
import threading
import time
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path

import docker

from bench.agent_service import AgentService, agent_service
from bench.job_latency import QUIET_SECONDS, one_job
from bench.report import publish, run_rounds
from tests.fakes.github.fixtures import REPOSITORY
from tests.fixtures.environments import EGRESS_IMAGE, WHEELS, QuietHandler, bridge_gateway
from tests.fixtures.sandbox import SANDBOX_IMAGE


def environment_file(index: str, host: str, variant: str) -> str:
    """`.github/fixwright.yml` naming the sandbox image and a set-up that installs pytest."""
    wheel = sorted(WHEELS.glob("pip-*.whl"))[0].name
    commands = [
        f"curl -fsS {index}/{wheel} -o /tmp/pip.whl",
        "python3 /tmp/pip.whl/pip install --quiet --user --break-system-packages --no-index "
        f"--trusted-host {host} --find-links {index}/ pytest  # {variant}",
    ]
    listed = "".join(f"    - {command!r}\n" for command in commands)
    return f"environment:\n  image: {SANDBOX_IMAGE}\n  setup:\n{listed}"


def describe(running: AgentService, text: str | None) -> None:
    """Commit the repository's environment description (None: remove it) to its default branch."""
    running.github.state.push_branch(REPOSITORY, "main", {".github/fixwright.yml": text})


def measure(running: AgentService, number: int) -> float:
    time.sleep(QUIET_SECONDS)
    return one_job(running, number, len(running.finished_jobs()))["first_request"]


def main(rounds: int, out: Path | None) -> None:
    host = bridge_gateway(docker.from_env())
    server = ThreadingHTTPServer(("0.0.0.0", 0), partial(QuietHandler, directory=str(WHEELS)))  # noqa: S104 - reached from the proxy's container
    threading.Thread(target=server.serve_forever, daemon=True).start()
    index = f"http://{host}:{server.server_address[1]}"
    samples: dict[str, list[float]] = {"none": [], "cold": [], "warm": []}
    settings = {"FIXWRIGHT_EGRESS_IMAGE": EGRESS_IMAGE, "FIXWRIGHT_EGRESS_ALLOWLIST": host}
    with agent_service(workers=1, **settings) as running:
        numbers = iter(running.add_issues(3 * rounds + 2))
        describe(running, environment_file(index, host, "warm"))
        measure(running, next(numbers))  # warm-up; also prepares the warm environment
        describe(running, None)
        measure(running, next(numbers))  # warm-up of the plain image
        for round_number in range(rounds):
            describe(running, None)
            samples["none"].append(measure(running, next(numbers)))
            describe(running, environment_file(index, host, f"cold {round_number} {time.time()}"))
            samples["cold"].append(measure(running, next(numbers)))
            describe(running, environment_file(index, host, "warm"))
            samples["warm"].append(measure(running, next(numbers)))
            print({name: round(values[-1], 3) for name, values in samples.items()}, flush=True)
    server.shutdown()
    table = render(rounds, samples)
    publish(table, out)


def render(rounds: int, samples: dict[str, list[float]]) -> str:
    plain = statistics.median(samples["none"])
    titles = {
        "none": "sandbox image as it is (no environment)",
        "cold": "environment prepared for the job (set-up behind the proxy, commit)",
        "warm": "environment found in the cache",
    }
    lines = [
        f"# Environment latency: webhook 202 → first model request, {rounds} rounds",
        "",
        "| environment | median s | min s | max s | vs. no environment |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, title in titles.items():
        values = samples[name]
        median = statistics.median(values)
        lines.append(
            f"| {title} | {median:.2f} | {min(values):.2f} | {max(values):.2f} | "
            f"{median / plain:.2f}x |"
        )
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    run_rounds(__doc__, main, rounds=5)
