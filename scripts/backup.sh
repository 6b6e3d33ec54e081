#!/bin/sh
# One backup of Convoca's PostgreSQL database: pg_dump's custom format (compressed; what
# pg_restore reads), named by its UTC time, into BACKUP_DIR; dumps older than
# BACKUP_KEEP_DAYS days are then deleted. The database is the one libpq's own variables
# name (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE).
#
#   scripts/backup.sh                 one backup now
#   scripts/backup.sh --daily 03:00   one every day at that time (TZ's), for ever: compose's
#                                     `backup` service
#   scripts/backup.sh --check         exits 1 when the last backup failed or the database
#                                     does not answer: compose's healthcheck
#
# Restore: scripts/restore.sh (docs/deploy.md, "Backups and restore").
set -eu

dir="${BACKUP_DIR:-./backups}"
keep="${BACKUP_KEEP_DAYS:-14}"
failed="$dir/.last-backup-failed"

case "$keep" in
  ''|*[!0-9]*) echo "backup: BACKUP_KEEP_DAYS must be a number of days, not '$keep'" >&2; exit 2 ;;
esac

# The dumps hold everyone's personal data: readable by this account only.
umask 077

once() {
  mkdir -p "$dir"
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  file="$dir/convoca-$stamp.dump"
  # Written under another name and renamed when whole, so a dump cut short (a full disk,
  # a stop) is never taken for a backup, nor counted when old ones are deleted.
  partial="$dir/.convoca-$stamp.dump.partial"
  if ! pg_dump --format=custom --no-owner --no-privileges --file="$partial"; then
    rm -f "$partial"
    : > "$failed"
    echo "backup: pg_dump failed; the earlier backups are kept" >&2
    return 1
  fi
  mv "$partial" "$file"
  rm -f "$failed"
  # Only after a good dump: a database that stays away never costs the last backups.
  find "$dir" -maxdepth 1 -type f -name 'convoca-*.dump' -mmin +$((keep * 1440)) -delete
  echo "backup: $file"
}

case "${1:-}" in
  "")
    once
    ;;
  --daily)
    at="${2:?backup: --daily needs a time, like 03:00}"
    date -d "today $at" +%s >/dev/null 2>&1 || { echo "backup: '$at' is no time of day" >&2; exit 2; }
    while :; do
      now=$(date +%s)
      next=$(date -d "today $at" +%s)
      [ "$next" -gt "$now" ] || next=$(date -d "tomorrow $at" +%s)
      sleep $((next - now))
      once || true  # the next day tries again; --check reports it meanwhile
    done
    ;;
  --check)
    [ ! -e "$failed" ] && pg_isready --quiet
    ;;
  *)
    echo "usage: $0 [--daily HH:MM | --check]" >&2
    exit 2
    ;;
esac
