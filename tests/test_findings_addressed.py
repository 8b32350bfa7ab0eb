"""Which findings a later commit addressed, from the comparison's patches (pure): a finding's
lines removed or rewritten count, a line added beside them does not, nor an unknown patch."""

from __future__ import annotations

import pytest

from app.store.outcomes import PostedFinding
from handlers.findings.addressed import FileChange, addressed, changed_old_lines, is_addressed

PATCH = """@@ -2,6 +2,7 @@ def greet(name):
 context line 2
-removed line 3
+its rewrite
 context line 4
+an added line
 context line 5
-removed line 6
 context line 7
@@ -20,2 +21,2 @@
-removed line 20
+rewritten
 context line 21
\\ No newline at end of file"""


def finding(
    line: int, start: int | None = None, side: str = "RIGHT", path: str = "a.py"
) -> PostedFinding:
    return PostedFinding("job", line, "o/r", 1, "abc", path, start or line, line, side, "minor")


def test_the_old_lines_a_patch_removes_or_rewrites() -> None:
    assert changed_old_lines(PATCH) == {3, 6, 20}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((3, None), True),  # rewritten
        ((6, None), True),  # removed
        ((20, None), True),  # in the second hunk
        ((5, 4), False),  # beside an added line, itself unchanged
        ((7, 4), True),  # a range that holds a removed line
        ((2, None), False),
        ((30, None), False),  # past every hunk
    ],
)
def test_a_finding_is_addressed_when_one_of_its_lines_changed(
    lines: tuple[int, int | None], expected: bool
) -> None:
    line, start = lines
    assert is_addressed(finding(line, start), FileChange("modified", PATCH)) is expected


def test_files_removed_renamed_untouched_or_without_a_patch() -> None:
    assert is_addressed(finding(3), FileChange("removed", None))
    assert is_addressed(finding(3), FileChange("renamed", ""))
    assert not is_addressed(finding(3), None)  # the file did not change
    assert not is_addressed(finding(3), FileChange("modified", None))  # lines unknown
    assert not is_addressed(finding(3, side="LEFT"), FileChange("modified", PATCH))


def test_addressed_picks_by_path() -> None:
    found = [finding(3, path="a.py"), finding(3, path="b.py")]
    changes = {"a.py": FileChange("modified", PATCH)}
    assert [item.path for item in addressed(found, changes)] == ["a.py"]
