# The fixwright service image: slim Python, runs as a non-root user, with a health check.
# The sandbox image Claude Code runs in is a separate build (sandbox/Dockerfile).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 fixwright

WORKDIR /srv/fixwright
COPY pyproject.toml README.md manifest.yml ./
COPY app ./app
COPY handlers ./handlers
COPY sandbox ./sandbox
RUN pip install --no-cache-dir . && mkdir -p /srv/fixwright/data && chown fixwright /srv/fixwright/data

USER fixwright
# Listening on every interface of the container makes /metrics, /metrics/prometheus and /quota
# reachable from outside it, so the service starts only with FIXWRIGHT_METRICS_TOKEN set (give
# scrapers the same token) or with FIXWRIGHT_METRICS_PUBLIC=true (open on purpose).
ENV FIXWRIGHT_HOST=0.0.0.0 \
    FIXWRIGHT_PORT=8000 \
    FIXWRIGHT_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
EXPOSE 8000
VOLUME ["/srv/fixwright/data"]
# /health answers from the last background readings at once; it says 503 "starting" until the
# store has been checked once, which the start period covers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('FIXWRIGHT_PORT', '8000')}/health\", timeout=4)"]
CMD ["fixwright", "serve"]
