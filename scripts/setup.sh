#!/usr/bin/env bash
# Set up codepref on a Debian machine as root: system packages, a Docker engine, a virtual
# environment in .venv with codepref installed, and the sandbox images (built offline).
#
#   bash scripts/setup.sh          # the product: llama.cpp, CPU training, reports, SQL
#   bash scripts/setup.sh --dev    # plus the test tools
#
# Every step is skipped when its result is already there, so reruns are quick.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="cpu,train,report,sql,eval"
if [[ "${1:-}" == "--dev" ]]; then EXTRAS="cpu,train,report,sql,eval,serve,ray,dev"; fi
VENV="${CODEPREF_VENV:-.venv}"
# llama-cpp-python is built from source; build only the text library (no multimodal library,
# server, tools, tests or examples): 7.6 CPU-minutes. pip's wheel cache keeps the result.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"

log() { printf '[setup] %s\n' "$*" >&2; }

# 1. System packages: the Docker engine, debootstrap (offline base image), venv support.
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. A Docker engine. Containers need no network, so no bridge and no iptables rules.
if ! docker info >/dev/null 2>&1; then
    log "starting dockerd"
    nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/codepref-dockerd.log 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/codepref-dockerd.log"; exit 1; }
fi

# 3. The Python environment.
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi
log "pip install -e .[$EXTRAS]"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]"

# 4. The sandbox images (reused when they exist): Python/SQL; with --dev (the tests run them)
# also C++ and JavaScript, ~10 min more the first time. Without --dev a C++ or JavaScript run
# says which command builds its image.
"$VENV/bin/codepref" sandbox build --offline >/dev/null
if [[ "${1:-}" == "--dev" ]]; then
    "$VENV/bin/codepref" sandbox build --offline --language cpp >/dev/null
    "$VENV/bin/codepref" sandbox build --offline --language javascript >/dev/null
fi
log "ready: $VENV/bin/codepref"
