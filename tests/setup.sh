#!/usr/bin/env bash
# Installs what the test suite needs: the project in .venv, a Docker engine (as root on Debian,
# when none runs), the sandbox and egress proxy images, the @octokit/webhooks-examples corpus, the
# wheels the environment tests serve, and the browser the job page's test drives (Debian's Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

WEBHOOK_EXAMPLES_VERSION=7.6.1
PIP_WHEEL_VERSION=24.3.1
PYTEST_WHEEL_VERSION=8.3.4
PLAYWRIGHT_VERSION=1.65.3
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

log() { printf '[setup] %s\n' "$*"; }

ensure_venv() {
    if [ ! -x .venv/bin/python ]; then
        log "creating .venv"
        python3 -m venv .venv
    fi
    log "installing fixwright with its test dependencies"
    .venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
}

docker_answers() { docker info >/dev/null 2>&1; }

ensure_docker() {
    if docker_answers; then
        log "Docker engine: running"
        return
    fi
    if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
        log "Docker engine: none running (tests that need it will be skipped unless FIXWRIGHT_REQUIRE_DOCKER=1)"
        return
    fi
    local packages=()
    command -v dockerd >/dev/null || packages+=(docker.io)
    command -v debootstrap >/dev/null || packages+=(debootstrap)
    command -v git >/dev/null || packages+=(git)
    if [ ${#packages[@]} -gt 0 ]; then
        log "installing ${packages[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
    log "starting dockerd"
    mkdir -p /var/log
    nohup dockerd --storage-driver overlay2 >/var/log/fixwright-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker_answers && { log "Docker engine: started"; return; }
        sleep 1
    done
    log "dockerd did not start; its log:"
    tail -n 30 /var/log/fixwright-dockerd.log >&2
    exit 1
}

ensure_prometheus() {
    # promtool checks the exposition and the dashboard; the server is scraped in a test.
    if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
        return
    fi
    if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
        log "prometheus: not installed (install Debian's prometheus package for its tests)"
        return
    fi
    log "installing prometheus"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

ensure_compose() {
    # The compose example's test runs Debian's docker-compose against the engine.
    command -v docker-compose >/dev/null && return
    if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
        log "docker-compose: not installed (install Debian's docker-compose package for its test)"
        return
    fi
    log "installing docker-compose"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
}

ensure_browser() {
    # The job page's end-to-end test drives Debian's Chromium through Playwright's Python
    # package; Playwright's own browser builds are never downloaded.
    if ! .venv/bin/python -c "import playwright" 2>/dev/null; then
        log "installing playwright"
        .venv/bin/pip install --quiet --disable-pip-version-check "playwright==$PLAYWRIGHT_VERSION"
    fi
    [ -x /usr/lib/chromium/chromium ] && return
    if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
        log "chromium: not installed (install Debian's chromium package for the job page's browser test)"
        return
    fi
    log "installing chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
}

ensure_wheels() {
    # A package index the environment tests serve on the host and let through the egress proxy.
    local marker="tests/.wheels/pytest-$PYTEST_WHEEL_VERSION-py3-none-any.whl"
    [ -f "$marker" ] && return
    log "downloading the wheels the environment tests install"
    .venv/bin/pip download --quiet --disable-pip-version-check --only-binary=:all: \
        --python-version 3.11 --dest tests/.wheels \
        "pip==$PIP_WHEEL_VERSION" "pytest==$PYTEST_WHEEL_VERSION"
}

ensure_sandbox_image() {
    docker_answers || return 0
    local ca_args=()
    [ -f "$CA_BUNDLE" ] && ca_args=(--ca-bundle "$CA_BUNDLE")
    .venv/bin/fixwright sandbox build "${ca_args[@]}"
}

ensure_corpus() {
    local marker=tests/.corpus/node_modules/@octokit/webhooks-examples/package.json
    if [ -f "$marker" ] && grep -q "\"version\": \"$WEBHOOK_EXAMPLES_VERSION\"" "$marker"; then
        return
    fi
    command -v npm >/dev/null || {
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
        fi
    }
    log "installing @octokit/webhooks-examples@$WEBHOOK_EXAMPLES_VERSION"
    mkdir -p tests/.corpus
    npm install --silent --no-save --no-audit --no-fund --prefix tests/.corpus \
        "@octokit/webhooks-examples@$WEBHOOK_EXAMPLES_VERSION" >/dev/null
}

ensure_venv
ensure_docker
ensure_prometheus
ensure_compose
ensure_browser
ensure_corpus
ensure_wheels
ensure_sandbox_image
