"""The payload mix: real deliveries from @octokit/webhooks-examples, signed once, written for wrk."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.signature import sign

BENCH_DIR = Path(__file__).resolve().parent
REPOSITORY_ROOT = BENCH_DIR.parent.parent
CORPUS_INDEX = "node_modules/@octokit/webhooks-examples/api.github.com/index.json"
# The test set-up's copy first, then the one the harness installs with the octokit peer.
CORPUS_CANDIDATES = (
    REPOSITORY_ROOT / "tests/.corpus" / CORPUS_INDEX,
    BENCH_DIR / "peers/octokit" / CORPUS_INDEX,
)
# (event, action): routine traffic a busy organisation sends; none of it triggers a job
# (the labeled example's label is "bug", the comment is not a command).
MIX = (
    ("issues", "labeled"),
    ("issue_comment", "created"),
    ("push", None),
    ("pull_request", "opened"),
    ("star", "created"),
)
EXAMPLES_PER_EVENT = 2


@dataclass(frozen=True)
class SignedDelivery:
    """One body as GitHub would send it, with its X-Hub-Signature-256."""

    event: str
    body: bytes
    signature: str


def corpus_path() -> Path:
    for candidate in CORPUS_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "no @octokit/webhooks-examples corpus: run `bash tests/setup.sh`, or let the harness "
        "install the peers (it installs the corpus with the octokit peer)"
    )


def payload_mix(secret: str, per_event: int = EXAMPLES_PER_EVENT) -> list[SignedDelivery]:
    """The first `per_event` examples of each event in MIX, interleaved so every event recurs."""
    corpus = json.loads(corpus_path().read_text())
    by_event: list[list[SignedDelivery]] = []
    for event, action in MIX:
        examples = [
            example
            for entry in corpus
            if entry["name"] == event
            for example in entry["examples"]
            if action is None or example.get("action") == action
        ][:per_event]
        if not examples:
            raise LookupError(f"the corpus has no {event}.{action} example")
        by_event.append([signed(event, example, secret) for example in examples])
    return [delivery for round_ in zip(*by_event, strict=False) for delivery in round_]


def signed(event: str, payload: dict, secret: str) -> SignedDelivery:
    body = json.dumps(payload).encode()
    return SignedDelivery(event=event, body=body, signature=sign(body, secret))


def write_mix_file(deliveries: list[SignedDelivery], directory: Path) -> Path:
    """The file load.lua reads: one "event<TAB>signature<TAB>body path" line per delivery."""
    lines = []
    for number, delivery in enumerate(deliveries):
        body_path = directory / f"body-{number}.json"
        body_path.write_bytes(delivery.body)
        lines.append(f"{delivery.event}\t{delivery.signature}\t{body_path}")
    mix_path = directory / "mix.tsv"
    mix_path.write_text("\n".join(lines) + "\n")
    return mix_path
