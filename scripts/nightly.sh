#!/usr/bin/env bash
# Nightly cron wrapper for checkuser.
#
#   scripts/nightly.sh LEADS.csv [extra checkuser run options...]
#
# - Reads settings and credentials from an environment file (default /etc/checkuser/env,
#   override with CHECKUSER_ENV), which must be readable by its owner only, e.g.:
#       HUAWEICLOUD_SDK_AK=...
#       HUAWEICLOUD_SDK_SK=...
#       HUAWEICLOUD_PARTNER_ID=...
#       CHECKUSER_OUT_DIR=/srv/leads/results      # where dated results go
#       CHECKUSER_KEEP=14                         # how many nights of results to keep
#       CHECKUSER_ALERT='mail -s "checkuser: $CHECKUSER_STATUS" ops@example.com < "$CHECKUSER_LOG"'
# - Writes RESULTS_DIR/<stem>.<date>.checked.csv, .summary.json and .log, and keeps the last N.
# - Exit code is checkuser's: 0 all answered, 1 some error/pending (tomorrow's run resumes them),
#   2 fatal/usage/lock, 130 interrupted. The alert hook runs for anything but 0.
#   checkuser's own run lock already prevents overlapping runs.
#
# crontab (every night at 02:30):
#   30 2 * * * /opt/checkuser/scripts/nightly.sh /srv/leads/leads.csv >/dev/null 2>&1
set -uo pipefail

input="${1:?usage: nightly.sh LEADS.csv [checkuser run options...]}"
shift

env_file="${CHECKUSER_ENV:-/etc/checkuser/env}"
if [ -f "$env_file" ]; then
  mode=$(stat -c %a "$env_file")
  if [ "${mode: -2}" != "00" ]; then
    echo "nightly.sh: $env_file is readable by others (mode $mode): chmod 600 it" >&2
    exit 2
  fi
  set -a +u
  # shellcheck disable=SC1090
  . "$env_file"
  set +a -u
fi

bin="${CHECKUSER_BIN:-checkuser}"
out_dir="${CHECKUSER_OUT_DIR:-$(dirname "$input")/results}"
keep="${CHECKUSER_KEEP:-14}"
mkdir -p "$out_dir"

stem=$(basename "$input"); stem="${stem%.*}"
day=$(date +%F)
base="$out_dir/$stem.$day"
export CHECKUSER_LOG="$base.log"

"$bin" run "$input" -o "$base.checked.csv" --summary-json "$base.summary.json" \
  --progress never "$@" >>"$CHECKUSER_LOG" 2>&1
code=$?

case "$code" in
  0)   export CHECKUSER_STATUS="ok" ;;
  1)   export CHECKUSER_STATUS="finished with errors or pending checks (the next run resumes them)" ;;
  130) export CHECKUSER_STATUS="interrupted" ;;
  *)   export CHECKUSER_STATUS="failed (exit $code): see $CHECKUSER_LOG" ;;
esac
echo "$(date -u +%FT%TZ) nightly: $CHECKUSER_STATUS" >>"$CHECKUSER_LOG"

if [ "$code" -ne 0 ] && [ -n "${CHECKUSER_ALERT:-}" ]; then
  sh -c "$CHECKUSER_ALERT" || echo "nightly.sh: the alert hook failed" >>"$CHECKUSER_LOG"
fi

# Keep the last $keep nights (each night is one .checked.csv with its .summary.json and .log).
ls -1 "$out_dir/$stem".*.checked.csv 2>/dev/null | sort | head -n -"$keep" | while read -r old; do
  rm -f "$old" "${old%.checked.csv}.summary.json" "${old%.checked.csv}.log"
done

exit "$code"
