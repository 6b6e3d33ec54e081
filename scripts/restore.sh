#!/bin/sh
# Restore a dump made by scripts/backup.sh into an EMPTY database (libpq's variables name
# it: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE), in one transaction: it is restored
# whole or not at all. Then run `convoca db upgrade` against it (docs/deploy.md).
#
#   createdb convoca_restored && PGDATABASE=convoca_restored scripts/restore.sh FILE.dump
set -eu

file="${1:?usage: $0 FILE.dump  (into the empty database PGDATABASE names)}"
[ -r "$file" ] || { echo "restore: cannot read $file" >&2; exit 2; }
# Named before anything runs: without it psql would look at the user's own database.
: "${PGDATABASE:?restore: PGDATABASE names the empty database}"

# Into a database that has tables, a restore would mix two installations' rows.
tables=$(psql --no-psqlrc --tuples-only --no-align --command \
  "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
if [ "$tables" != "0" ]; then
  echo "restore: database '${PGDATABASE:-}' is not empty ($tables tables); restore into a new one (createdb)" >&2
  exit 1
fi
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction \
  --dbname="$PGDATABASE" "$file"
echo "restore: $file restored into ${PGDATABASE}; now run: convoca db upgrade"
