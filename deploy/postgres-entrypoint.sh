#!/bin/sh
# The many-hosts example's PostgreSQL (postgres.Dockerfile): on the first start, a cluster whose
# superuser `postgres` has POSTGRES_PASSWORD, that takes password (SCRAM) connections from other
# containers, with an empty database `fixwright` (fixwright applies its migrations itself).
set -eu
bin=/usr/lib/postgresql/15/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (deploy/.env)}"
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    "$bin/initdb" -D "$PGDATA" -U postgres -E UTF8 --auth-local=peer \
        --auth-host=scram-sha-256 --pwfile="$password_file"
    rm -f "$password_file"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE fixwright;" | "$bin/postgres" --single -D "$PGDATA" postgres > /dev/null
fi
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*'
