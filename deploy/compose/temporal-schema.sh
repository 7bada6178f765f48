#!/bin/sh
# Runs in temporalio/admin-tools before the Temporal server starts: creates
# Temporal's database and brings its schema up to the image's version, then
# the visibility index in Elasticsearch. Safe to run on every `up`: an
# existing database is kept and update-schema applies only what is missing.
set -eu
sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
    -u "$POSTGRES_USER" --pw "$SQL_PASSWORD" --db temporal "$@"
}
if sql create; then
  sql setup-schema -v 0.0
else
  echo "database temporal exists; upgrading its schema"
fi
sql update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned

temporal-elasticsearch-tool --ep "$ES_SERVER" setup-schema
temporal-elasticsearch-tool --ep "$ES_SERVER" create-index --index "$ES_VIS_INDEX" ||
  echo "index $ES_VIS_INDEX exists"
echo "temporal schema ready"
