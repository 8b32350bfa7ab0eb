# PostgreSQL from Debian's own package, for the many-hosts compose example
# (deploy/docker-compose.many-hosts.yml): `docker-compose -f docker-compose.many-hosts.yml build`.
# The first start creates the cluster with the password in POSTGRES_PASSWORD and a database
# named fixwright (postgres-entrypoint.sh); later starts use what the volume holds.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data \
 && chown postgres:postgres /var/lib/postgresql/data \
 && chmod 0700 /var/lib/postgresql/data
# Executable in the repository; the legacy builder (docker-compose 1) has no COPY --chmod.
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
ENV PGDATA=/var/lib/postgresql/data
EXPOSE 5432
VOLUME ["/var/lib/postgresql/data"]
HEALTHCHECK --interval=5s --timeout=3s --retries=10 \
    CMD ["/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1", "-d", "fixwright", "-U", "postgres"]
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
