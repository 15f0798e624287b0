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
"$APPLIANCE_PYTHON" -m ruff check .
"$APPLIANCE_PYTHON" -m ruff format --check .
say "mypy (strict)"
"$APPLIANCE_PYTHON" -m mypy
say "pytest"
exec "$APPLIANCE_PYTHON" -m pytest "$@"
