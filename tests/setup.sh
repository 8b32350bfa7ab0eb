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
PG_MAJOR=15
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

# A second Docker engine on its own socket, for the tests of workers on several engines. It has
# its own data root, exec root (and so its own containerd), pidfile and bridge, and leaves the
# host's iptables to the first engine (two engines rewriting Docker's chains would undo each
# other); its bridge gets the forwarding and masquerading the first engine would have given it.
SECOND_ENGINE_SOCKET=/run/fixwright-docker2.sock
SECOND_ENGINE_BRIDGE=fwdocker2
SECOND_ENGINE_SUBNET=10.213.0.0/24
SECOND_ENGINE_ADDRESS=10.213.0.1/24
SECOND_ENGINE_POOLS=10.214.0.0/16

second_engine() { docker -H "unix://$SECOND_ENGINE_SOCKET" "$@"; }

ensure_second_bridge() {
    ip link show "$SECOND_ENGINE_BRIDGE" >/dev/null 2>&1 ||
        ip link add "$SECOND_ENGINE_BRIDGE" type bridge
    # Read whole first: with pipefail, `grep -q` quitting early fails the pipe (SIGPIPE).
    local addresses
    addresses=$(ip addr show dev "$SECOND_ENGINE_BRIDGE")
    [[ "$addresses" == *" ${SECOND_ENGINE_ADDRESS%/*}/"* ]] ||
        ip addr add "$SECOND_ENGINE_ADDRESS" dev "$SECOND_ENGINE_BRIDGE"
    ip link set "$SECOND_ENGINE_BRIDGE" up
    local rule
    # Its default bridge's traffic, and within each network it makes (a job's internal network
    # and its proxy): bridged frames pass the host's FORWARD chain, whose policy is DROP.
    for rule in "FORWARD -i $SECOND_ENGINE_BRIDGE -j ACCEPT" \
        "FORWARD -o $SECOND_ENGINE_BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" \
        "FORWARD -s $SECOND_ENGINE_POOLS -d $SECOND_ENGINE_POOLS -m physdev --physdev-is-bridged -j ACCEPT"; do
        # shellcheck disable=SC2086 # the rule is words
        iptables -C $rule 2>/dev/null || iptables -I $rule
    done
    rule="POSTROUTING -s $SECOND_ENGINE_SUBNET ! -o $SECOND_ENGINE_BRIDGE -j MASQUERADE"
    # shellcheck disable=SC2086
    iptables -t nat -C $rule 2>/dev/null || iptables -t nat -A $rule
}

ensure_second_engine() {
    docker_answers || return 0
    [ "$(id -u)" = 0 ] || { log "second Docker engine: not started (needs root)"; return; }
    ensure_second_bridge
    if ! second_engine info >/dev/null 2>&1; then
        log "starting a second dockerd on $SECOND_ENGINE_SOCKET"
        mkdir -p /var/lib/fixwright-docker2 /run/fixwright-docker2
        # Started again over the networks it stored, dockerd deletes its default bridge's
        # interface by the first engine's name, docker0, taking the first engine's bridge
        # network down. It keeps no network worth keeping: each job makes its own.
        rm -f /var/lib/fixwright-docker2/network/files/local-kv.db
        nohup dockerd --host "unix://$SECOND_ENGINE_SOCKET" \
            --data-root /var/lib/fixwright-docker2 --exec-root /run/fixwright-docker2 \
            --pidfile /run/fixwright-docker2.pid --storage-driver overlay2 \
            --bridge "$SECOND_ENGINE_BRIDGE" --iptables=false --ip-masq=false \
            --default-address-pool "base=$SECOND_ENGINE_POOLS,size=24" \
            >/var/log/fixwright-docker2.log 2>&1 &
        local started=
        for _ in $(seq 1 60); do
            second_engine info >/dev/null 2>&1 && { started=1; break; }
            sleep 1
        done
        if [ -z "$started" ]; then
            log "the second dockerd did not start; its log:"
            tail -n 30 /var/log/fixwright-docker2.log >&2
            exit 1
        fi
    fi
    if docker network inspect bridge >/dev/null 2>&1 && ! ip link show docker0 >/dev/null 2>&1; then
        log "the first engine's bridge docker0 is gone: restart its dockerd"
        exit 1
    fi
    # The images the tests run, copied from the first engine when missing or outdated there.
    local image wanted
    for image in "${FIXWRIGHT_SANDBOX_IMAGE:-fixwright-sandbox:latest}" fixwright-egress:latest; do
        wanted=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null) || continue
        [ "$(second_engine image inspect -f '{{.Id}}' "$image" 2>/dev/null)" = "$wanted" ] && continue
        log "loading $image into the second engine"
        docker save "$image" | second_engine load --quiet >/dev/null
    done
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

ensure_postgres() {
    # The store's tests run on PostgreSQL at 127.0.0.1:5432 as postgres with trust authentication
    # (a database of their own each), and start private servers from its binaries (tests/pg.py).
    local bin=/usr/lib/postgresql/$PG_MAJOR/bin hba=/etc/postgresql/$PG_MAJOR/main/pg_hba.conf
    if [ -x "$bin/initdb" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        log "PostgreSQL: running"
        return
    fi
    if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
        log "PostgreSQL: not reachable at 127.0.0.1:5432 (the store's tests need PostgreSQL $PG_MAJOR there)"
        return
    fi
    if [ ! -x "$bin/initdb" ]; then
        log "installing PostgreSQL"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "postgresql-$PG_MAJOR" >/dev/null
    fi
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        sed -i '1i local all all trust\nhost all all 127.0.0.1/32 trust' "$hba"
    fi
    log "starting PostgreSQL"
    pg_ctlcluster "$PG_MAJOR" main start 2>/dev/null || pg_ctlcluster "$PG_MAJOR" main reload
    for _ in $(seq 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return
        sleep 0.5
    done
    log "PostgreSQL: did not start"
    return 1
}

ensure_venv
ensure_docker
ensure_prometheus
ensure_compose
ensure_browser
ensure_corpus
ensure_postgres
ensure_wheels
ensure_sandbox_image
ensure_second_engine
