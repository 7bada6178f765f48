#!/bin/sh
# The compose smoke test's stand-in for the official postgres image's
# entrypoint, over Debian's PostgreSQL: the same variables (POSTGRES_USER,
# POSTGRES_PASSWORD), the same data directory, the same
# /docker-entrypoint-initdb.d/*.sql run once on a new cluster, password
# authentication over the network as the official image sets it up.
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
data=${PGDATA:-/var/lib/postgresql/data}
mkdir -p "$data" /run/postgresql
chown -R postgres:postgres "$data" /run/postgresql
as_pg() { runuser -u postgres -- "$@"; }
if [ ! -s "$data/PG_VERSION" ]; then
  pw=$(mktemp); printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"; chown postgres "$pw"
  as_pg "$bin/initdb" -D "$data" -U "$POSTGRES_USER" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
  echo "host all all all scram-sha-256" >>"$data/pg_hba.conf"
  as_pg "$bin/pg_ctl" -D "$data" -o "-c listen_addresses=''" -w start >/dev/null
  for f in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$f" ] || continue
    echo "running $f"
    as_pg psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -f "$f"
  done
  as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
fi
exec runuser -u postgres -- "$bin/postgres" -D "$data" -c listen_addresses='*'
