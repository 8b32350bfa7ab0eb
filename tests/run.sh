#!/usr/bin/env bash
# The whole test suite: set-up (see tests/setup.sh), lint, the import contract, types, then pytest.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The layers import only downward ([tool.importlinter] in pyproject.toml).
.venv/bin/lint-imports
# The types of app/, handlers/ and sandbox/ ([tool.mypy] in pyproject.toml: the pure core strictly).
.venv/bin/mypy
# The slowest tests are listed at the end, to keep an eye on the run's length.
exec .venv/bin/python -m pytest --durations=15 "$@"
