"""Load githubkit's REST modules and response models for the calls fixwright makes, at start.

githubkit imports them the first time a call is made or its response parsed, and creating their
pydantic models takes up to a few hundred milliseconds of CPU on the event loop: in the middle
of the first jobs after a start, where it stalled the intake (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
import re

from githubkit import GitHub

# Every REST call the service makes, as (namespace, method); a test keeps the list complete.
CALLS = (
    ("apps", "async_create_from_manifest"),
    ("apps", "async_create_installation_access_token"),
    ("apps", "async_get_authenticated"),
    ("apps", "async_get_repo_installation"),
    ("apps", "async_list_webhook_deliveries"),
    ("apps", "async_redeliver_webhook_delivery"),
    ("apps", "async_revoke_installation_access_token"),
    ("checks", "async_create"),
    ("checks", "async_list_for_ref"),
    ("checks", "async_update"),
    ("git", "async_get_ref"),
    ("issues", "async_create"),
    ("issues", "async_create_comment"),
    ("issues", "async_list_comments"),
    ("pulls", "async_create"),
    ("pulls", "async_create_reply_for_review_comment"),
    ("pulls", "async_create_review"),
    ("pulls", "async_get"),
    ("pulls", "async_list"),
    ("pulls", "async_list_comments_for_review"),
    ("pulls", "async_list_review_comments"),
    ("pulls", "async_list_reviews"),
    ("pulls", "async_update"),
    ("repos", "async_compare_commits"),
    ("repos", "async_get"),
    ("repos", "async_get_collaborator_permission_level"),
    ("repos", "async_get_content"),
    ("users", "async_get_by_username"),
)

TYPE_NAME = re.compile(r"\b[A-Z]\w*")


def warm_up_github() -> int:
    """Import the modules and models CALLS need; returns how many models were loaded."""
    github = GitHub("warm-up")  # nothing is sent: only namespaces and models are touched
    loaded = set()
    for namespace, name in CALLS:
        method = getattr(getattr(github.rest, namespace), name)
        # "githubkit_schemas.<version>.rest.issues" -> "githubkit_schemas.<version>.models"
        version = type(method.__self__).__module__.rsplit(".rest.", 1)[0]
        models = importlib.import_module(f"{version}.models")
        for type_name in TYPE_NAME.findall(str(method.__annotations__.get("return", ""))):
            if type_name != "Response" and hasattr(models, type_name):
                loaded.add(type_name)
    return len(loaded)
