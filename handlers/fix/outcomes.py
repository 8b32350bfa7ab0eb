"""Why a fix's changes were not pushed, in words a maintainer can act on: pure text."""

from __future__ import annotations

from app.kinds import Words
from sandbox.workspace_walk import Refusal, WorkspaceRefused


def code_path(path: str) -> str:
    """A path the agent chose, as inline code that nothing in it can break out of."""
    text = "".join(char if char.isprintable() else "?" for char in path.replace("`", "'"))
    return f"`{text[:200] + '…' if len(text) > 200 else text}`"


# Limits an operator may raise, by the refusal that names them.
_SETTINGS: dict[Refusal, str] = {
    Refusal.FILE_TOO_LARGE: "FIXWRIGHT_WORKSPACE_MAX_FILE_BYTES",
    Refusal.TOO_MANY_BYTES: "FIXWRIGHT_WORKSPACE_MAX_BYTES",
    Refusal.TOO_MANY_FILES: "FIXWRIGHT_WORKSPACE_MAX_FILES",
    Refusal.CHANGES_TOO_LARGE: "FIXWRIGHT_WORKSPACE_MAX_CHANGED_BYTES",
}
# What fixwright does not do with the rest, said after naming it.
_NEVER: dict[Refusal, str] = {
    Refusal.NESTED_REPOSITORY: "fixwright never reads or commits one",
    Refusal.SPECIAL_FILE: "git cannot hold one, and fixwright never opens one",
    Refusal.TOO_DEEP: "fixwright reads no deeper",
    Refusal.UNREADABLE: "fixwright commits only what it can read",
    Refusal.IGNORE_RULES: "fixwright reads no more of them",
}


def workspace_refusal(error: WorkspaceRefused, words: Words) -> tuple[str, str]:
    """(reason, next step) when the workspace holds what fixwright will not commit."""
    where = code_path(error.path)
    setting = _SETTINGS.get(error.refusal)
    if setting is not None:
        found = (
            f"include {error.what} at {where}"
            if error.refusal is Refusal.FILE_TOO_LARGE
            else f"hold {error.what} (the limit was reached at {where})"
        )
        return (
            f"Claude's changes {found}, so nothing was pushed.",
            "Keep generated and downloaded files out of the change (or in `.gitignore`), or ask "
            f"the operator to raise `{setting}`; {words.then_retry}",
        )
    reason = (
        f"Claude's changes include {error.what} at {where}; {_NEVER[error.refusal]}, so nothing "
        "was pushed."
    )
    if error.refusal is Refusal.NESTED_REPOSITORY:
        return reason, (
            f"Comment `{words.retry_command} <instructions>` asking for the change without another repository in "
            "it (files copied from one leave its `.git` behind)."
        )
    return reason, (
        f"Comment `{words.retry_command} <instructions>` asking Claude to remove it, or list it in `.gitignore` so "
        "it is left out."
    )
