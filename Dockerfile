# The fixwright service image: the service and its workers, run as a non-root user, with a health
# check. The sandbox image Claude Code runs in is a separate build (`fixwright sandbox build` on the
# host), and jobs run on the host's Docker engine, reached through DOCKER_HOST.
#
#   docker build -t fixwright .
#
# Networks that intercept TLS: put the extra CA bundle at ./extra-ca.crt before building; apt and
# pip then trust it (it stays in the image's trust store, as the host's own does).
#
# Running it (README.md, Deployment): the engine resolves the sandbox's bind mounts (workspaces
# and the model relay's socket) on the host, so the data directory must be mounted at the SAME
# path inside and outside, and be owned by uid 1000 (the service's user, which is also the
# sandbox agent's, so the agent can write the workspaces the service prepares):
#
#   sudo install -d -o 1000 -g 1000 /var/lib/fixwright
#   docker run -d --name fixwright --env-file .env -p 8000:8000 \
#     -v /var/lib/fixwright:/var/lib/fixwright \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" fixwright
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# extra-ca.cr[t]: copied when present, and the build does not fail when it is not (the copy
# needs one file that is always there: .dockerignore, which seldom changes).
COPY .dockerignore extra-ca.cr[t] /tmp/ca/
RUN if [ -s /tmp/ca/extra-ca.crt ]; then \
        mkdir -p /usr/local/share/ca-certificates \
        && cp /tmp/ca/extra-ca.crt /usr/local/share/ca-certificates/extra.crt; \
    fi \
 && rm -rf /tmp/ca \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates git python3 python3-venv \
 && update-ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --user-group --create-home --home-dir /home/fixwright fixwright

# The dependencies, from pyproject.toml alone: this layer is rebuilt only when it changes.
COPY pyproject.toml /tmp/build/
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/build/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/build/requirements.txt \
 && python3 -m venv /opt/fixwright \
 && /opt/fixwright/bin/pip install --no-cache-dir --disable-pip-version-check \
        --cert /etc/ssl/certs/ca-certificates.crt \
        "setuptools>=68" -r /tmp/build/requirements.txt

# The service itself.
WORKDIR /srv/fixwright
COPY pyproject.toml README.md manifest.yml ./
COPY app ./app
COPY handlers ./handlers
COPY sandbox ./sandbox
RUN /opt/fixwright/bin/pip install --no-cache-dir --disable-pip-version-check \
        --no-deps --no-build-isolation . \
 && rm -rf build ./*.egg-info /tmp/build

USER fixwright
# The data directory holds the store, the workspaces and the relay's socket directory (TMPDIR);
# all three must be where the engine sees them, at the same path.
# Listening on every interface makes /metrics, /metrics/prometheus and /quota reachable from
# outside, so the service starts only with FIXWRIGHT_METRICS_TOKEN set (give scrapers the same
# token) or with FIXWRIGHT_METRICS_PUBLIC=true (open on purpose).
ENV PATH=/opt/fixwright/bin:$PATH \
    FIXWRIGHT_STATE_DIR=/var/lib/fixwright \
    FIXWRIGHT_STORE_URL=sqlite:////var/lib/fixwright/fixwright.db \
    TMPDIR=/var/lib/fixwright/tmp \
    FIXWRIGHT_HOST=0.0.0.0 \
    FIXWRIGHT_PORT=8000 \
    FIXWRIGHT_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
EXPOSE 8000
# /health answers at once from the last background readings (503 "starting" until the store has
# been checked once, which the start period covers); one second is all it is given.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('FIXWRIGHT_PORT', '8000'), timeout=1)"]
# TMPDIR is made first: Python would otherwise quietly fall back to /tmp, which the engine cannot see.
CMD ["sh", "-c", "mkdir -p \"$TMPDIR\" && exec fixwright serve"]
