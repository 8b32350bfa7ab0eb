"""Clone latency of a large repository: webhook 202 -> Claude Code's first model request, with a plain
clone from GitHub for every job, and through the host's mirror cold (made by this job) and warm
(made by an earlier job, brought up to date by one fetch), all in the same run.

The fixture repository grows to 50,000 files over 5,000 commits (`git fast-import`), and GitHub
gets one small commit before every job, so the warm fetch always has something to bring. Besides
the time, the table gives the bytes GitHub sent for the job's git requests: on this machine the
fake GitHub is on loopback, so the transfer the mirror saves costs little time here and the
checkout of 50,000 files, the same in every mode, weighs most. Two
services run side by side, one with FIXWRIGHT_GIT_MIRRORS=false; the rounds alternate between them.

    python -m bench.clone_mirror [--rounds 5] [--out bench/results/clone_mirror.md]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

from bench.agent_service import AgentService, agent_service
from bench.job_latency import QUIET_SECONDS, one_job
from bench.report import publish, run_rounds
from tests.fakes.github.fixtures import REPOSITORY

COMMITS = 5_000
FILES_PER_COMMIT = 10
MODES = {
    "plain": "plain clone from GitHub (FIXWRIGHT_GIT_MIRRORS=false)",
    "cold": "through a mirror made by this job",
    "warm": "through the mirror an earlier job made (one fetch)",
}


def history(commits: int, files_per_commit: int) -> bytes:
    """A `git fast-import` stream of `commits` commits on main, each adding `files_per_commit`."""
    parts = []
    for number in range(commits):
        message = f"Add batch {number}".encode()
        parts.append(
            b"commit refs/heads/main\n"
            b"committer Bench <bench@example.invalid> 1700000000 +0000\n"
            + b"data %d\n%s\n" % (len(message), message)
            + (b"from refs/heads/main^0\n" if number == 0 else b"")
        )
        for index in range(files_per_commit):
            body = b"".join(
                b"VALUE_%d_%d_%d = %d\n" % (number, index, line, line) for line in range(12)
            )
            path = b"pkg%03d/batch%05d_%d.py" % (number % 100, number, index)
            parts.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path, len(body), body))
    return b"".join(parts)


def import_history(running: AgentService, stream: bytes) -> None:
    """Add the commits of a `git fast-import` stream to the fake's repository, on top of main."""
    bare = running.github.state.repositories[REPOSITORY].path
    subprocess.run(
        ["git", "--git-dir", str(bare), "fast-import", "--quiet"], input=stream, check=True
    )


def grow(running: AgentService, stream: bytes) -> None:
    """The large history, packed as GitHub keeps its repositories."""
    import_history(running, stream)
    bare = running.github.state.repositories[REPOSITORY].path
    subprocess.run(["git", "--git-dir", str(bare), "repack", "-adq"], check=True)


def small_commit(number: int) -> bytes:
    """One more commit on main, changing one file: what GitHub gains between two jobs."""
    body = f"job {number}\n".encode()
    return (
        b"commit refs/heads/main\n"
        b"committer Bench <bench@example.invalid> 1700000000 +0000\n"
        b"data 4\nNews\n"
        b"from refs/heads/main^0\n" + b"M 100644 inline NEWS.md\ndata %d\n%s\n" % (len(body), body)
    )


def measure(running: AgentService, number: int) -> dict[str, float]:
    """One job after one small new commit on GitHub: its first model request and its fetch."""
    import_history(running, small_commit(number))
    time.sleep(QUIET_SECONDS)
    return one_job(running, number, len(running.finished_jobs()))


def forget_mirrors(running: AgentService) -> None:
    shutil.rmtree(running.scratch / "state" / "mirrors", ignore_errors=True)


def main(rounds: int, out: Path | None) -> None:
    stream = history(COMMITS, FILES_PER_COMMIT)
    samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with ExitStack() as stack:
        plain = stack.enter_context(agent_service(workers=1, FIXWRIGHT_GIT_MIRRORS="false"))
        mirrored = stack.enter_context(agent_service(workers=1))
        for running in (plain, mirrored):
            grow(running, stream)
        plain_numbers = iter(plain.add_issues(rounds + 1))
        mirrored_numbers = iter(mirrored.add_issues(2 * rounds + 1))
        measure(plain, next(plain_numbers))  # warm-up: the image's first start on each
        measure(mirrored, next(mirrored_numbers))
        for _ in range(rounds):
            samples["plain"].append(measure(plain, next(plain_numbers)))
            forget_mirrors(mirrored)
            samples["cold"].append(measure(mirrored, next(mirrored_numbers)))
            samples["warm"].append(measure(mirrored, next(mirrored_numbers)))
            print(
                {mode: round(values[-1]["first_request"], 3) for mode, values in samples.items()},
                flush=True,
            )
    table = render(rounds, samples)
    publish(table, out)


def render(rounds: int, samples: dict[str, list[dict[str, float]]]) -> str:
    files = COMMITS * FILES_PER_COMMIT

    def median(mode: str, key: str) -> float:
        return statistics.median(sample[key] for sample in samples[mode])

    plain = median("plain", "first_request")
    lines = [
        f"# Clone latency: {files:,} files over {COMMITS:,} commits, webhook 202 → first model "
        f"request, {rounds} rounds",
        "",
        "| clone | median s | min s | max s | vs. plain | GitHub's git answers, median KB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, title in MODES.items():
        values = [sample["first_request"] for sample in samples[mode]]
        lines.append(
            f"| {title} | {median(mode, 'first_request'):.2f} | {min(values):.2f} | "
            f"{max(values):.2f} | {median(mode, 'first_request') / plain:.2f}x | "
            f"{median(mode, 'fetched_bytes') / 1e3:,.1f} |"
        )
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    run_rounds(__doc__, main, rounds=5)
