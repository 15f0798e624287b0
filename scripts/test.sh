#!/usr/bin/env bash
# The whole test suite: lint, types, then unit, integration and end-to-end
# tests on the real engines and models. Installs what it needs on first use.
set -euo pipefail
# shellcheck source=scripts/bootstrap.sh
source "$(dirname "$0")/bootstrap.sh"
# espeak-ng and sox synthesise and inspect test speech; chromium and its driver
# place the browser softphone test call. Kamailio (PBX), baresip and SIPp
# (sip-tester) are the SIP peers of the SIP tests; kamailio-tls-modules gives
# Kamailio its TLS listener (registration over TLS).
ensure_debian_packages espeak-ng sox chromium chromium-driver kamailio kamailio-tls-modules \
    baresip sip-tester
# The separate vLLM venv and converted model for tests/integration/test_llm_vllm.py
# (minutes the first time, about a second afterwards).
"$ROOT/scripts/vllm_env.sh" >/dev/null
cd "$ROOT"
say "ruff"
"$VENV_PYTHON" -m ruff check .
"$VENV_PYTHON" -m ruff format --check .
say "mypy (strict)"
"$VENV_PYTHON" -m mypy
say "pytest"
exec "$VENV_PYTHON" -m pytest "$@"
