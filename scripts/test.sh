#!/usr/bin/env bash
# The whole test suite: lint, types, then unit, integration and end-to-end
# tests on the real engines and models. Installs what it needs on first use.
set -euo pipefail
# shellcheck source=scripts/bootstrap.sh
source "$(dirname "$0")/bootstrap.sh"
# espeak-ng and sox synthesise and inspect test speech.
ensure_debian_packages espeak-ng sox
cd "$ROOT"
say "ruff"
"$VENV_PYTHON" -m ruff check .
"$VENV_PYTHON" -m ruff format --check .
say "mypy (strict)"
"$VENV_PYTHON" -m mypy
say "pytest"
exec "$VENV_PYTHON" -m pytest "$@"
