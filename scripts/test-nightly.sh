#!/usr/bin/env bash
# Tests for scripts/nightly.sh, with a stub checkuser (no network, no build, a few seconds):
#   bash scripts/test-nightly.sh
# One line per case, then "N passed, M failed"; exits 1 if any failed. Works as root.
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
nightly="$here/nightly.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-nightly.XXXXXX") || exit 1
trap 'rm -rf -- "$tmp"' EXIT
passed=0
failed=0
today=$(env -i date +%F)   # as nightly.sh sees it, in the clean environment it runs in

# --- fixtures -----------------------------------------------------------------------------------
mkdir -p "$tmp/stubbin" "$tmp/fakebin"

# The stub checkuser: records its arguments and CHECKUSER_* environment, writes the files it is
# asked for, sleeps STUB_SLEEP seconds (TERM or INT ends it with 130) and exits with STUB_EXIT.
# STUB_CHANGES: rows (a changed row), header (header only, the default) or none (no file).
cat >"$tmp/stubbin/checkuser" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$@" >"$STUB_ARGS"
env | grep '^CHECKUSER_' | sort >"$STUB_ARGS.env"
out="" summary="" changes="" input=${2-}
while [ $# -gt 0 ]; do
  case $1 in
    -o) out=$2; shift ;;
    --summary-json) summary=$2; shift ;;
    --changes) changes=$2; shift ;;
  esac
  shift
done
echo "stub: running"
# STUB_SAY: what checkuser prints to stderr (its log) before it ends, e.g. its error.
if [ -n "${STUB_SAY-}" ]; then printf '%s\n' "$STUB_SAY" >&2; fi
if [ -n "${STUB_SLEEP-}" ]; then
  trap 'echo "stub: terminated" >>"$STUB_ARGS.signals"; exit 130' TERM INT
  : >"$STUB_ARGS.ready"
  sleep "$STUB_SLEEP" &
  wait $!
fi
# Each file names the leads file it was written for, and its run (STUB_RUN).
if [ -n "$out" ]; then printf 'email,result\na@example.com,free\n# %s %s\n' "$input" "${STUB_RUN-}" >"$out"; fi
if [ -n "$summary" ]; then printf '{"changed": 0, "input": "%s", "run": "%s"}\n' "$input" "${STUB_RUN-}" >"$summary"; fi
if [ -n "$changes" ]; then
  case ${STUB_CHANGES:-header} in
    rows) printf 'email,result\na@example.com,taken %s %s\n' "$input" "${STUB_RUN-}" >"$changes" ;;
    header) printf 'email,result\n' >"$changes" ;;
  esac
fi
exit "${STUB_EXIT:-0}"
EOF

# The alert hook: appends what it was given to the file named by its argument.
cat >"$tmp/hook" <<'EOF'
#!/bin/sh
{
  printf 'status=%s\n' "$CHECKUSER_STATUS"
  printf 'log=%s\n' "$CHECKUSER_LOG"
  printf 'changes=%s\n' "${CHECKUSER_CHANGES-}"
  printf 'exit=%s\n' "$CHECKUSER_EXIT"
  if [ -r "$CHECKUSER_LOG" ]; then echo "log_readable=yes"; fi
  echo "--"
} >>"$1"
EOF

# A fake logger: records the line in FAKE_SYSLOG (fails with FAKE_LOGGER_FAIL=1).
cat >"$tmp/fakebin/logger" <<'EOF'
#!/bin/sh
if [ "${FAKE_LOGGER_FAIL-}" = 1 ]; then echo "logger: socket /dev/log: No such file" >&2; exit 1; fi
echo "$*" >>"$FAKE_SYSLOG"
EOF
# A date that says FAKE_TODAY for "date +%F" (the night a run is filed under), the real one
# otherwise.
cat >"$tmp/fakebin/date" <<'EOF'
#!/bin/sh
if [ -n "${FAKE_TODAY-}" ] && [ "$*" = "+%F" ]; then echo "$FAKE_TODAY"; exit 0; fi
PATH=/usr/bin:/bin exec date "$@"
EOF
chmod 755 "$tmp/stubbin/checkuser" "$tmp/hook" "$tmp/fakebin/logger" "$tmp/fakebin/date"

# Cron's PATH, with the fake logger; checkuser is not in it.
cron_path="$tmp/fakebin:/usr/bin:/bin"

# The key nightly.sh puts in a list's file names: 8 hex digits of the SHA-256 of its real path.
list_key() { printf '%s' "$(realpath -m -- "$1")" | sha256sum | cut -c1-8; }

# A fresh case folder $d: leads.csv, and an env file (mode 600) naming the stub and the hook;
# k is leads.csv's key (its files are $d/results/leads.$k.<night>.*), k2 leads.1999-12-31.csv's.
new_case() {
  d="$tmp/$1"
  mkdir -p "$d/home"
  printf 'email\na@example.com\n' >"$d/leads.csv"
  k=$(list_key "$d/leads.csv")
  k2=$(list_key "$d/leads.1999-12-31.csv")
  {
    printf 'CHECKUSER_BIN=%q\n' "$tmp/stubbin/checkuser"
    printf 'CHECKUSER_ALERT=%q\n' "$tmp/hook $d/alerts"
  } >"$d/env"
  chmod 600 "$d/env"
  errors=()
}

# run [VAR=value...] -- [nightly.sh arguments...]: runs nightly.sh in $d with a clean environment
# like cron's; sets rc and elapsed. Its stdout and stderr go to $d/stdout and $d/stderr.
start() {
  local -a vars=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  ( cd "$d" && exec env -i HOME="$d/home" PATH="$cron_path" TMPDIR="$d" LC_ALL=C \
      CHECKUSER_ENV="$d/env" FAKE_SYSLOG="$d/syslog" STUB_ARGS="$d/argv" "${vars[@]}" \
      bash "$nightly" "$@" >"$d/stdout" 2>"$d/stderr" 8>&- ) &
  pid=$!
}
run() {
  local t0=$SECONDS
  start "$@"
  wait "$pid"
  rc=$?
  elapsed=$((SECONDS - t0))
}

# Assertions collect what went wrong in `errors`; done() prints the case's line.
expect() {  # DESCRIPTION COMMAND...
  local what=$1
  shift
  "$@" || errors+=("$what")
}
has() { grep -q -e "$2" -- "$1" 2>/dev/null; }           # FILE PATTERN
lacks() { ! grep -q -e "$2" -- "$1" 2>/dev/null; }       # FILE PATTERN
rc_is() { [ "$rc" -eq "$1" ]; }
absent() { [ ! -e "$1" ]; }
present() { [ -e "$1" ]; }
empty() { [ ! -s "$1" ]; }
count_is() { [ "$(grep -c -e "$2" -- "$1" 2>/dev/null)" -eq "$3" ]; }  # FILE PATTERN N
not_run() { absent "$d/argv"; }
alerted() { has "$d/alerts" "^status=.*$1"; }           # the hook got a status matching $1
# Every failure prints exactly one line to stderr: "nightly.sh: leads.csv: STATUS".
one_line() {  # PATTERN (in the status)
  [ "$(wc -l <"$d/stderr")" -eq 1 ] && has "$d/stderr" "^nightly.sh: leads.csv: .*$1"
}
no_hook() { sed -i '/^CHECKUSER_ALERT=/d' "$d/env"; }   # the env file sets no CHECKUSER_ALERT
gone() {  # PIDFILE: that process has ended (a zombie nobody reaped counts as ended)
  local p
  p=$(cat "$1" 2>/dev/null) || return 0
  ! kill -0 "$p" 2>/dev/null || grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null
}

done_case() {  # NAME
  if [ "${#errors[@]}" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok   $1"
  else
    failed=$((failed + 1))
    local IFS=';'
    echo "FAIL $1: ${errors[*]} (exit $rc)"
    sed 's/^/       stderr: /' "$d/stderr" 2>/dev/null | head -n 5
    sed 's/^/       alerts: /' "$d/alerts" 2>/dev/null | head -n 12
  fi
}
skip() { echo "skip $1: $2"; }

# --- usage --------------------------------------------------------------------------------------
new_case help
run -- --help
expect "exit 0" rc_is 0
expect "usage on stdout" has "$d/stdout" '^usage: nightly.sh LEADS'
expect "nothing on stderr" empty "$d/stderr"
expect "nothing created" [ "$(cd "$d" && echo *)" = "env home leads.csv stderr stdout" ]
expect "checkuser not run" not_run
expect "hook not run" absent "$d/alerts"
run -- -h
expect "-h: exit 0 with usage" has "$d/stdout" '^usage: nightly.sh LEADS'
done_case "--help prints usage, exits 0 and creates nothing"

new_case noarg
run --
expect "exit 2" rc_is 2
expect "usage on stderr" has "$d/stderr" '^usage: nightly.sh LEADS'
expect "nothing created" [ "$(cd "$d" && echo *)" = "env home leads.csv stderr stdout" ]
expect "checkuser not run" not_run
done_case "no argument prints usage and exits 2"

new_case option-first
run -- --refresh leads.csv
expect "exit 2" rc_is 2
expect "says why" has "$d/stderr" "must be the leads file"
expect "checkuser not run" not_run
done_case "an option before LEADS is a usage error (exit 2)"

# --- the env file -------------------------------------------------------------------------------
new_case env-0644
chmod 644 "$d/env"
run -- leads.csv
expect "exit 2" rc_is 2
expect "alert names the mode" alerted "mode 644"
expect "the hook gets a readable log" has "$d/alerts" "^log_readable=yes"
expect "stderr says chmod 600" has "$d/stderr" "chmod 600"
expect "syslog line" has "$d/syslog" "-p user.err .*mode 644"
expect "checkuser not run" not_run
expect "temporary log removed" [ -z "$(find "$d" -maxdepth 1 -name 'checkuser-nightly.*')" ]
done_case "env file with mode 0644 is refused and the hook (from that file) is called"

new_case env-group-writable
chmod 660 "$d/env"
run CHECKUSER_ALERT="$tmp/hook $d/alerts-from-environment" -- leads.csv
expect "exit 2" rc_is 2
expect "the environment's hook is called" has "$d/alerts-from-environment" "^status=.*mode 660"
expect "the file's hook is not trusted" absent "$d/alerts"
expect "checkuser not run" not_run
done_case "env file writable by others is refused and its hook not trusted (the environment's is run)"

new_case env-missing
run CHECKUSER_ENV="$d/no-such-env" CHECKUSER_ALERT="$tmp/hook $d/alerts" -- leads.csv
expect "exit 2" rc_is 2
expect "alert says it does not exist" alerted "does not exist"
expect "checkuser not run" not_run
done_case "a CHECKUSER_ENV that does not exist is a failure with an alert"

new_case env-broken
printf 'FOO = bar\n' >>"$d/env"
run CHECKUSER_ALERT="$tmp/hook $d/alerts" -- leads.csv
expect "exit 2" rc_is 2
expect "alert names the error" alerted "cannot read the env file.*FOO"
expect "checkuser not run" not_run
done_case "an env file with an error is a failure with an alert"

if [ "$(id -u)" -eq 0 ]; then
  new_case env-foreign-owner
  chown 65534 "$d/env"
  run CHECKUSER_ALERT="$tmp/hook $d/alerts" -- leads.csv
  expect "exit 2" rc_is 2
  expect "alert names the owner" alerted "owned by uid 65534"
  expect "checkuser not run" not_run
  done_case "as root, an env file owned by another user is refused with an alert"
else
  skip "env file owned by another user" "needs root"
fi

# --- the output folder, the binary, the leads file ------------------------------------------------
new_case outdir
: >"$d/a-file"
printf 'CHECKUSER_OUT_DIR=%q\n' "$d/a-file/results" >>"$d/env"
run -- leads.csv
expect "exit 2" rc_is 2
expect "alert names the output folder" alerted "cannot create the output folder"
expect "checkuser not run" not_run
done_case "output folder not creatable: alert"

# CHECKUSER_OUT_DIR with a trailing newline (or CR, or spaces around it): refused before anything
# is created; before, mkdir made "results\n" and the outputs went to "results".
new_case outdir-whitespace
for bad in $'\n' $'\r' ' ' $'\t'; do
  for where in env-file environment; do
    rm -rf "$d/res"* "$d/argv" "$d/alerts"
    no_hook
    printf 'CHECKUSER_ALERT=%q\n' "$tmp/hook $d/alerts" >>"$d/env"
    sed -i '/^CHECKUSER_OUT_DIR=/d' "$d/env"
    shown=$(printf %q "$bad")
    if [ "$where" = env-file ]; then
      printf 'CHECKUSER_OUT_DIR=%q\n' "$d/res$bad" >>"$d/env"
      run -- leads.csv
    else
      run CHECKUSER_OUT_DIR="$d/res$bad" -- leads.csv
    fi
    expect "$where, ends with $shown: exit 2" rc_is 2
    expect "$where, ends with $shown: one line on stderr" one_line "CHECKUSER_OUT_DIR"
    expect "$where, ends with $shown: alert" alerted "CHECKUSER_OUT_DIR"
    expect "$where, ends with $shown: no folder created" [ -z "$(find "$d" -maxdepth 1 -name 'res*')" ]
    expect "$where, ends with $shown: checkuser not run" not_run
  done
done
rm -f "$d/argv"
run CHECKUSER_OUT_DIR=" $d/res" -- leads.csv
expect "leading space: refused" rc_is 2
expect "leading space: no folder created" [ -z "$(find "$d" -maxdepth 1 -name 'res*')" ]
run CHECKUSER_OUT_DIR="$d/my results" -- leads.csv
expect "a space inside the path is fine" rc_is 0
expect "written where named" present "$d/my results/leads.$k.$today.checked.csv"
mkdir "$d/in"$'\n'
cp "$d/leads.csv" "$d/in"$'\n'/leads.csv
run -- "in"$'\n'/leads.csv
expect "leads in a folder ending with a newline: refused" rc_is 2
expect "leads in a folder ending with a newline: says to set CHECKUSER_OUT_DIR" has "$d/stderr" "set CHECKUSER_OUT_DIR"
expect "leads in a folder ending with a newline: nothing created" [ -z "$(find "$d" -name results)" ]
done_case "CHECKUSER_OUT_DIR with a trailing newline, CR or spaces is refused; nothing is created"

new_case bin-named
printf 'CHECKUSER_BIN=%q\n' "$d/no-such-checkuser" >>"$d/env"
run -- leads.csv
expect "exit 2" rc_is 2
expect "alert names CHECKUSER_BIN" alerted "CHECKUSER_BIN=$d/no-such-checkuser is not an executable"
expect "the failure is in the night's log" has "$d/results/leads.$k.$today.log" "CHECKUSER_BIN"
done_case "CHECKUSER_BIN not executable: alert naming CHECKUSER_BIN"

new_case bin-nowhere
sed -i '/^CHECKUSER_BIN=/d' "$d/env"
if [ -e /usr/local/bin/checkuser ] || PATH=$cron_path type -P checkuser >/dev/null; then
  skip "checkuser not found" "a real checkuser is installed in cron's PATH or /usr/local/bin"
else
  run -- leads.csv
  expect "exit 2" rc_is 2
  expect "alert says to set CHECKUSER_BIN" alerted "checkuser not found.*set CHECKUSER_BIN"
  expect "stderr says it too" has "$d/stderr" "set CHECKUSER_BIN"
  done_case "checkuser not found under cron's PATH: alert saying to set CHECKUSER_BIN"
fi

new_case bin-cargo
sed -i '/^CHECKUSER_BIN=/d' "$d/env"
mkdir -p "$d/home/.cargo/bin"
cp "$tmp/stubbin/checkuser" "$d/home/.cargo/bin/checkuser"
run -- leads.csv
expect "exit 0" rc_is 0
expect "checkuser run" has "$d/argv" "^run$"
done_case "checkuser found in ~/.cargo/bin when not in cron's PATH"

new_case no-leads
run -- missing.csv
expect "exit 2" rc_is 2
expect "alert names the leads file" alerted "missing.csv does not exist"
expect "checkuser not run" not_run
done_case "a missing leads file: alert"

# --- checkuser's outcomes -----------------------------------------------------------------------
new_case exit1
run STUB_EXIT=1 -- leads.csv
expect "exit 1" rc_is 1
expect "alert with the status" alerted "errors (exit 1)"
expect "CHECKUSER_EXIT=1" has "$d/alerts" "^exit=1$"
expect "CHECKUSER_LOG is the night's log" has "$d/alerts" "^log=$d/results/leads.$k.$today.log$"
expect "the log has checkuser's output and the status" has "$d/results/leads.$k.$today.log" "errors (exit 1)"
expect "syslog" has "$d/syslog" "-p user.err .*errors (exit 1)"
done_case "checkuser exits 1: alert with the status"

new_case exit2
run STUB_EXIT=2 -- leads.csv
expect "exit 2" rc_is 2
expect "alert with the status" alerted "failed (exit 2)"
done_case "checkuser exits 2: alert with the status"

new_case timeout
run STUB_SLEEP=20 CHECKUSER_TIMEOUT=1s -- leads.csv
expect "exit 124" rc_is 124
expect "alert says timed out" alerted "timed out (exit 124).*CHECKUSER_TIMEOUT=1s"
expect "stopped within seconds" [ "$elapsed" -lt 8 ]
expect "syslog" has "$d/syslog" "timed out"
done_case "run longer than CHECKUSER_TIMEOUT: stopped, alert saying timed out"

new_case bad-timeout
run CHECKUSER_TIMEOUT=soon -- leads.csv
expect "exit 2" rc_is 2
expect "alert names CHECKUSER_TIMEOUT" alerted "CHECKUSER_TIMEOUT must be a duration"
expect "checkuser not run" not_run
done_case "an invalid CHECKUSER_TIMEOUT: alert"

new_case interrupted
start STUB_SLEEP=20 -- leads.csv
for _ in $(seq 200); do [ -e "$d/argv.ready" ] && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid"
rc=$?
expect "exit 130" rc_is 130
expect "alert says interrupted" alerted "interrupted (exit 130)"
expect "checkuser got one TERM" count_is "$d/argv.signals" "terminated" 1
done_case "TERM to nightly.sh (systemctl stop, Ctrl-C) reaches checkuser once: alert interrupted"

new_case lock
mkdir -p "$d/results"
exec 8>>"$d/results/.leads.$k.nightly.lock"
flock 8
run -- leads.csv
exec 8>&-
expect "exit 2" rc_is 2
expect "alert says another run holds the lock" alerted "another nightly run.*still running"
expect "checkuser not run" not_run
done_case "lock held by another nightly run: refused with an alert"

new_case changes
printf 'CHECKUSER_METRICS_FILE=%q\n' "$d/checkuser.prom" >>"$d/env"
run STUB_CHANGES=rows -- leads.csv
expect "exit 0" rc_is 0
expect "one hook call" count_is "$d/alerts" "^status=" 1
expect "status changes" has "$d/alerts" "^status=changes$"
expect "CHECKUSER_CHANGES" has "$d/alerts" "^changes=$d/results/leads.$k.$today.changes.csv$"
expect "CHECKUSER_EXIT=0" has "$d/alerts" "^exit=0$"
expect "one syslog line" count_is "$d/syslog" "." 1
expect "syslog ok with changes" has "$d/syslog" "-p user.notice .*: ok; changed answers"
done_case "success with changed rows: hook called with CHECKUSER_STATUS=changes"

new_case changes-and-errors
run STUB_CHANGES=rows STUB_EXIT=1 -- leads.csv
expect "exit 1" rc_is 1
expect "hook for the changes" has "$d/alerts" "^status=changes$"
expect "hook for the errors" alerted "errors (exit 1)"
done_case "errors with changed rows: hook called for both"

new_case success
printf 'CHECKUSER_METRICS_FILE=%q\n' "$d/checkuser.prom" >>"$d/env"
run CHECKUSER_TIMEOUT=5m -- leads.csv --refresh
out="$d/results/leads.$k.$today"
expect "exit 0" rc_is 0
expect "hook not called" absent "$d/alerts"
expect "quiet on stdout" empty "$d/stdout"
expect "quiet on stderr" empty "$d/stderr"
expect "one syslog line, ok" count_is "$d/syslog" "-t checkuser -p user.notice -- nightly leads.csv: ok" 1
expect "only one syslog line" count_is "$d/syslog" "." 1
expect "argv: run LEADS" [ "$(head -n 2 "$d/argv" | tr '\n' ' ')" = "run leads.csv " ]
expect "argv: -o" has "$d/argv" "^$out.checked.csv$"
expect "argv: --summary-json" has "$d/argv" "^--summary-json$"
expect "argv: --changes" has "$d/argv" "^$out.changes.csv$"
expect "argv: --progress never" has "$d/argv" "^never$"
expect "argv: extra options passed" [ "$(tail -n 1 "$d/argv")" = "--refresh" ]
expect "env file exported (metrics)" has "$d/argv.env" "^CHECKUSER_METRICS_FILE=$d/checkuser.prom$"
expect "CHECKUSER_TIMEOUT not passed to checkuser" lacks "$d/argv.env" "^CHECKUSER_TIMEOUT="
expect "results written" present "$out.checked.csv"
expect "summary written" present "$out.summary.json"
expect "log written" has "$out.log" "stub: running"
expect "output folder private" [ "$(stat -c %a "$d/results")" = 700 ]
done_case "success without changes: quiet, hook not called, one syslog line"

new_case keep
mkdir -p "$d/results"
for f in leads.$k.2000-01-01.checked.csv leads.$k.2000-01-01.log leads.$k.2000-01-02.log leads.$k.2000-01-03.summary.json other.2000-01-01.log; do
  : >"$d/results/$f"
done
run CHECKUSER_KEEP=3 -- leads.csv
expect "exit 0" rc_is 0
expect "oldest night removed" absent "$d/results/leads.$k.2000-01-01.checked.csv"
expect "oldest night's log removed" absent "$d/results/leads.$k.2000-01-01.log"
expect "second night kept" present "$d/results/leads.$k.2000-01-02.log"
expect "third night kept" present "$d/results/leads.$k.2000-01-03.summary.json"
expect "tonight kept" present "$d/results/leads.$k.$today.checked.csv"
expect "other inputs untouched" present "$d/results/other.2000-01-01.log"
expect "lock file kept" present "$d/results/.leads.$k.nightly.lock"
done_case "CHECKUSER_KEEP keeps the last N nights, failed nights included"

new_case keep-own-files
mkdir -p "$d/results"
printf 'email\nb@example.com\n' >"$d/leads.1999-12-31.csv"
# Another list's outputs: leads.1999-12-31.csv gives leads.1999-12-31.<key>.<night>.checked.csv...
for f in leads.1999-12-31.$k2.2000-01-01.checked.csv leads.1999-12-31.$k2.2000-01-01.log \
  leads.1999-12-31.$k2.2000-01-02.summary.json leads.1999-12-31.$k2.2000-01-02.changes.csv \
  leads.$k.2000-01-01.notes.txt leads.$k.2000-01-01.checked.csv.bak leads.$k.2000-01-01.xlsx; do
  : >"$d/results/$f"
done
# ...and this list's, with a temporary file a killed run left behind.
for f in leads.$k.2000-01-01.checked.csv leads.$k.2000-01-01.summary.json leads.$k.2000-01-01.changes.csv \
  leads.$k.2000-01-01.log .leads.$k.2000-01-01.checked.csv.Ab12Cd.tmp leads.$k.2000-01-02.log; do
  : >"$d/results/$f"
done
run CHECKUSER_KEEP=2 -- leads.csv
expect "exit 0" rc_is 0
for f in checked.csv summary.json changes.csv log; do
  expect "own oldest night's $f removed" absent "$d/results/leads.$k.2000-01-01.$f"
done
expect "own killed run's temporary file removed" absent "$d/results/.leads.$k.2000-01-01.checked.csv.Ab12Cd.tmp"
expect "own second night kept" present "$d/results/leads.$k.2000-01-02.log"
expect "tonight kept" present "$d/results/leads.$k.$today.checked.csv"
for f in leads.1999-12-31.$k2.2000-01-01.checked.csv leads.1999-12-31.$k2.2000-01-01.log \
  leads.1999-12-31.$k2.2000-01-02.summary.json leads.1999-12-31.$k2.2000-01-02.changes.csv; do
  expect "the other list's $f untouched" present "$d/results/$f"
done
for f in leads.$k.2000-01-01.notes.txt leads.$k.2000-01-01.checked.csv.bak leads.$k.2000-01-01.xlsx; do
  expect "a file not named like an output untouched: $f" present "$d/results/$f"
done
# The other list's run prunes its own nights, not leads.csv's.
run CHECKUSER_KEEP=1 -- leads.1999-12-31.csv
expect "the other list: exit 0" rc_is 0
expect "the other list's old nights removed" absent "$d/results/leads.1999-12-31.$k2.2000-01-02.summary.json"
expect "the other list's run leaves leads.csv's" present "$d/results/leads.$k.2000-01-02.log"
done_case "pruning touches only the outputs of the lead list being run (leads.csv vs leads.1999-12-31.csv)"

# KEEP=N in $d/results over nights 2000-01-01 ... 2000-01-12 and tonight: sets kept (how many of
# those nights are left, tonight included).
keep_run() {  # CHECKUSER_KEEP
  rm -rf "$d/results" "$d/argv"
  mkdir -p "$d/results"
  local n
  for n in 01 02 03 04 05 06 07 08 09 10 11 12; do
    : >"$d/results/leads.$k.2000-01-$n.log"
    : >"$d/results/leads.$k.2000-01-$n.checked.csv"
  done
  run CHECKUSER_KEEP="$1" -- leads.csv
  kept=$(find "$d/results" -name 'leads.*.log' | wc -l)
}
new_case keep-decimal
keep_run 010
expect "010: exit 0" rc_is 0
expect "010 keeps 10 nights (not 8)" [ "$kept" -eq 10 ]
expect "010: the oldest go" absent "$d/results/leads.$k.2000-01-03.checked.csv"
expect "010: the newest stay" present "$d/results/leads.$k.2000-01-04.checked.csv"
keep_run 08
expect "08: exit 0" rc_is 0
expect "08 keeps 8 nights" [ "$kept" -eq 8 ]
expect "08: quiet" empty "$d/stderr"
keep_run 09
expect "09 keeps 9 nights" [ "$kept" -eq 9 ]
keep_run 00
expect "00 keeps all" [ "$kept" -eq 13 ]
for bad in abc -3 ' 7' 7d 1e3 99999999999999999999; do
  keep_run "$bad"
  expect "'$bad': exit 2" rc_is 2
  expect "'$bad': alert names CHECKUSER_KEEP" alerted "CHECKUSER_KEEP must be"
  expect "'$bad': one line on stderr" one_line "CHECKUSER_KEEP must be"
  expect "'$bad': nothing pruned" [ "$kept" -eq 13 ]
  expect "'$bad': checkuser not run" not_run
done
done_case "CHECKUSER_KEEP is decimal (010 is 10, 08 and 09 work); anything else is refused with an alert"

new_case hook-fails
sed -i '/^CHECKUSER_ALERT=/d' "$d/env"
echo "CHECKUSER_ALERT='exit 3'" >>"$d/env"
run STUB_EXIT=1 FAKE_LOGGER_FAIL=1 -- leads.csv
expect "exit 1 (checkuser's)" rc_is 1
expect "stderr says the hook failed" has "$d/stderr" "alert hook CHECKUSER_ALERT failed (exit 3)"
expect "the log says the hook failed" has "$d/results/leads.$k.$today.log" "alert hook CHECKUSER_ALERT failed"
done_case "a failing hook and a failing logger are reported, the exit code stays checkuser's"

# A hook that ignores SIGTERM (and its child, which inherits that): killed, and the lock freed.
new_case hook-hangs
cat >"$d/stubborn-hook" <<'EOF'
#!/bin/sh
trap '' TERM
sleep 30 &
echo $! >"$1"
wait
EOF
chmod 755 "$d/stubborn-hook"
no_hook
printf 'CHECKUSER_ALERT=%q\n' "$d/stubborn-hook $d/hook-child" >>"$d/env"
run STUB_EXIT=2 CHECKUSER_ALERT_TIMEOUT=1s -- leads.csv
expect "exit 2 (checkuser's)" rc_is 2
expect "the hook ran" present "$d/hook-child"
expect "killed within seconds, not after the hook's 30 s" [ "$elapsed" -lt 15 ]
expect "the hook's child killed too" gone "$d/hook-child"
expect "stderr: the night's line" count_is "$d/stderr" "^nightly.sh: leads.csv: failed (exit 2)" 1
expect "stderr: the hook was killed" has "$d/stderr" "alert hook CHECKUSER_ALERT did not end within 1s"
expect "the log says so" has "$d/results/leads.$k.$today.log" "alert hook CHECKUSER_ALERT did not end within 1s"
# The hook's own shell ignores SIGTERM: SIGKILL 5 s later (--kill-after).
no_hook
printf 'CHECKUSER_ALERT=%q\n' "trap '' TERM; sleep 30 & echo \$! >$d/hook-child2; wait" >>"$d/env"
run STUB_EXIT=1 CHECKUSER_ALERT_TIMEOUT=1s -- leads.csv
expect "shell ignoring TERM: exit 1 (checkuser's)" rc_is 1
expect "shell ignoring TERM: the hook ran" present "$d/hook-child2"
expect "shell ignoring TERM: killed within seconds" [ "$elapsed" -lt 15 ]
expect "shell ignoring TERM: its child killed too" gone "$d/hook-child2"
expect "shell ignoring TERM: stderr says so" has "$d/stderr" "alert hook CHECKUSER_ALERT did not end within 1s"
expect "shell ignoring TERM: no job notice from bash" lacks "$d/stderr" "Killed"
run CHECKUSER_ALERT_TIMEOUT=1s -- leads.csv
expect "the next run is not locked out" rc_is 0
no_hook
run CHECKUSER_ALERT_TIMEOUT=soon -- leads.csv
expect "a bad CHECKUSER_ALERT_TIMEOUT: exit 2" rc_is 2
expect "a bad CHECKUSER_ALERT_TIMEOUT: one line" one_line "CHECKUSER_ALERT_TIMEOUT must be a duration"
done_case "a hook ignoring SIGTERM is killed after CHECKUSER_ALERT_TIMEOUT (--kill-after), freeing the lock"

# --- one line on stderr for every failure, with no hook (cron mails it) ---------------------------
# Each failure, checkuser's and the wrapper's own, prints exactly one line to stderr, naming the
# leads file and the status; nothing else when no hook is configured.
new_case quiet-failures
no_hook
for code in 1 2 130; do
  rm -f "$d/argv"
  run STUB_EXIT=$code -- leads.csv
  expect "exit $code: exit code" rc_is "$code"
  expect "exit $code: one line on stderr" one_line "(exit $code).*see $d/results/leads.$k.${today}[_0-9]*.log"
done
run STUB_SLEEP=20 CHECKUSER_TIMEOUT=1s -- leads.csv
expect "timeout: exit 124" rc_is 124
expect "timeout: one line on stderr" one_line "timed out (exit 124)"
exec 8>>"$d/results/.leads.$k.nightly.lock"
flock 8
run -- leads.csv
exec 8>&-
expect "lock held: one line on stderr" one_line "failed (exit 2): another nightly run"
run CHECKUSER_KEEP=many -- leads.csv
expect "bad setting: one line on stderr" one_line "failed (exit 2): CHECKUSER_KEEP"
printf 'FOO = bar\n' >>"$d/env"
run -- leads.csv
expect "broken env file: one line on stderr" one_line "failed (exit 2): cannot read the env file"
chmod 644 "$d/env"
run -- leads.csv
expect "env file 0644: one line on stderr" one_line "failed (exit 2): .*chmod 600"
expect "no hook, no alert file" absent "$d/alerts"
done_case "every failure prints exactly one line to stderr, with no alert hook configured"

new_case one-line-and-hook
run STUB_EXIT=2 -- leads.csv
expect "one line on stderr" one_line "failed (exit 2)"
expect "and the hook" alerted "failed (exit 2)"
done_case "a failure with a hook: the hook runs and stderr still has its one line"

# --- checkuser's own first error line: in the mail line and CHECKUSER_STATUS ----------------------
new_case cause
printf 'HUAWEICLOUD_SDK_SK=%s\n' 'sk-SECRET-from-the-env-file' >>"$d/env"
say=$'2026-12-07T01:00:00.000001Z  INFO 1 value to ask\n2026-12-07T01:00:00.000002Z  WARN something odd\n'
say+=$'checkuser: error: no credentials found. Set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK in the environment, or write them to ~/.huaweicloud/credentials:\n\n  [global]\n  ak = <your AK>\n'
say+=$'checkuser: error: a second error'
run STUB_EXIT=2 STUB_SAY="$say" -- leads.csv
expect "exit 2" rc_is 2
expect "one line on stderr, with checkuser's error" one_line "failed (exit 2): .*no credentials found. Set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK"
expect "the line still points to the log" one_line "no credentials found.*see $d/results/.*\.log"
expect "CHECKUSER_STATUS has checkuser's error" alerted "failed (exit 2): .*no credentials found"
expect "syslog has it" has "$d/syslog" "-p user.err .*no credentials found"
expect "only the first error line" lacks "$d/stderr" "a second error"
expect "not the lines after it" lacks "$d/stderr" "ak = "
expect "not an INFO or WARN line" lacks "$d/stderr" "something odd\|value to ask"
expect "no secret from the env file on stderr" lacks "$d/stderr" "SECRET"
expect "no secret from the env file in the alert" lacks "$d/alerts" "SECRET"
run STUB_EXIT=2 STUB_SAY=$'error: unexpected argument \'--bogus\' found\n\n  tip: to pass \'--bogus\' as a value, use \'-- --bogus\'' -- leads.csv
expect "a usage error (clap's): named" one_line "failed (exit 2): .*unexpected argument '--bogus' found"
expect "a usage error: not its tip" lacks "$d/stderr" "tip:"
run STUB_EXIT=2 STUB_SAY=$'2026-12-07T01:00:00.000001Z ERROR stopping: the partner id does not belong to this account (CBC.0101)\ncheckuser: error: the run stopped' -- leads.csv
expect "an ERROR log line: named" one_line "failed (exit 2): .*the partner id does not belong to this account"
expect "an ERROR log line: the first error only" lacks "$d/stderr" "the run stopped"
run STUB_EXIT=1 STUB_SAY=$'2026-12-07T01:00:00.000001Z ERROR the state store is unreachable: disk full' -- leads.csv
expect "exit 1: the class and checkuser's error" one_line "errors (exit 1): .*the state store is unreachable: disk full"
run STUB_EXIT=2 STUB_SAY="checkuser: error: $(printf 'x%.0s' $(seq 3000))" -- leads.csv
expect "a very long error line is cut" [ "$(wc -c <"$d/stderr")" -lt 1000 ]
run STUB_EXIT=2 -- leads.csv
expect "nothing said: the class of failure" one_line "failed (exit 2): fatal or usage error"
expect "nothing said: no earlier run's error" lacks "$d/stderr" "credentials\|partner id\|unreachable\|bogus\|xxxx"
done_case "the failure line and CHECKUSER_STATUS carry checkuser's own first error line, nothing else"

# --- two lists of one file name in different folders ---------------------------------------------
new_case same-name
mkdir -p "$d/north" "$d/south"
printf 'email\nn@example.com\n' >"$d/north/leads.csv"
printf 'email\ns@example.com\n' >"$d/south/leads.csv"
printf 'CHECKUSER_OUT_DIR=%q\n' "$d/results" >>"$d/env"
run FAKE_TODAY=2000-01-01 -- north/leads.csv
expect "north's old night: exit 0" rc_is 0
run STUB_CHANGES=rows -- north/leads.csv
expect "north: exit 0" rc_is 0
# south, while north is still running: not "another nightly run", and pruning north's nights.
start STUB_SLEEP=20 -- north/leads.csv
north_pid=$pid
for _ in $(seq 200); do [ -e "$d/argv.ready" ] && break; sleep 0.05; done
run STUB_CHANGES=rows CHECKUSER_KEEP=1 -- south/leads.csv
expect "south runs while north runs (no shared lock)" rc_is 0
kill -TERM "$north_pid"
wait "$north_pid"
for kind in checked.csv summary.json changes.csv; do
  expect "two $kind files tonight" [ "$(find "$d/results" -name "leads.*$today*.$kind" | wc -l)" -eq 2 ]
  expect "south's $kind is south's" [ "$(grep -l "south/leads.csv" "$d/results/"leads.*"$today"*".$kind" | wc -l)" -eq 1 ]
  expect "north's $kind is north's" [ "$(grep -l "north/leads.csv" "$d/results/"leads.*"$today"*".$kind" | wc -l)" -eq 1 ]
done
expect "north's old night not pruned by south's run" [ "$(find "$d/results" -name 'leads.*2000-01-01*' | wc -l)" -ge 2 ]
expect "the names stay readable (leads.…)" [ -z "$(find "$d/results" -type f ! -name 'leads.*' ! -name '.leads.*')" ]
done_case "two lists named leads.csv in two folders share no results, change feed, summary, lock or pruning"

# --- a second run of one list on the same day ------------------------------------------------------
new_case same-day
run FAKE_TODAY=2000-01-01 -- leads.csv
run STUB_CHANGES=rows STUB_RUN=first -- leads.csv
first_changes=$(sed -n 's/^changes=//p' "$d/alerts" | tail -n 1)
run STUB_CHANGES=rows STUB_RUN=second CHECKUSER_KEEP=1 -- leads.csv
second_changes=$(sed -n 's/^changes=//p' "$d/alerts" | tail -n 1)
expect "exit 0" rc_is 0
expect "the first run's change feed is kept" has "$first_changes" "taken leads.csv first"
expect "the second run's change feed is its own file" has "$second_changes" "taken leads.csv second"
expect "two change feeds with changes" [ "$(grep -l taken "$d/results/"*.changes.csv | wc -l)" -eq 2 ]
expect "the first run's summary is kept" [ "$(grep -l '"run": "first"' "$d/results/"*.summary.json | wc -l)" -eq 1 ]
expect "the second run's summary" [ "$(grep -l '"run": "second"' "$d/results/"*.summary.json | wc -l)" -eq 1 ]
expect "the first run's results are kept" [ "$(grep -l 'leads.csv first' "$d/results/"*.checked.csv | wc -l)" -eq 1 ]
expect "CHECKUSER_KEEP=1 keeps both of tonight's runs" [ "$(find "$d/results" -name "*$today*.log" | wc -l)" -eq 2 ]
expect "CHECKUSER_KEEP=1 prunes the older night" [ -z "$(find "$d/results" -name '*2000-01-01*')" ]
done_case "a second run on the same day keeps the first's change feed, summary and results"

# --- CHECKUSER_DEADLINE: a late start never sends into the working day ---------------------------
new_case deadline
gone_by=$(env -i date -d '-1 hour' +%H:%M)   # this morning's deadline has gone: tomorrow's is 23 h away
soon=$(env -i date -d '+2 hours' +%H:%M)    # within the run's time limit
printf 'CHECKUSER_DEADLINE=%s\n' "$gone_by" >>"$d/env"
run -- leads.csv
expect "a passed deadline: exit 2" rc_is 2
expect "a passed deadline: checkuser not run" not_run
expect "a passed deadline: one line naming it" one_line "CHECKUSER_DEADLINE=$gone_by.*CHECKUSER_TIMEOUT"
expect "a passed deadline: the alert says so" alerted "CHECKUSER_DEADLINE=$gone_by"
expect "a passed deadline: the log says so" has "$(find "$d/results" -name '*.log' | head -n 1)" "CHECKUSER_DEADLINE=$gone_by"
sed -i '/^CHECKUSER_DEADLINE=/d' "$d/env"
run -- leads.csv --deadline "$gone_by"
expect "--deadline HH:MM passed: refused" rc_is 2
expect "--deadline HH:MM passed: checkuser not run" not_run
expect "--deadline HH:MM passed: one line" one_line "deadline $gone_by"
run -- leads.csv "--deadline=$gone_by:00"
expect "--deadline=HH:MM:SS passed: refused" rc_is 2
expect "--deadline=HH:MM:SS passed: checkuser not run" not_run
run CHECKUSER_DEADLINE="$gone_by" CHECKUSER_TIMEOUT=24h -- leads.csv
expect "within a longer CHECKUSER_TIMEOUT: runs" rc_is 0
run CHECKUSER_DEADLINE="$soon" CHECKUSER_TIMEOUT=1h -- leads.csv
expect "2 h away, CHECKUSER_TIMEOUT=1h: refused" rc_is 2
run CHECKUSER_DEADLINE="$soon" -- leads.csv
expect "2 h away: runs" rc_is 0
expect "2 h away: checkuser gets that moment, not a time of day" has "$d/argv.env" "^CHECKUSER_DEADLINE=[0-9-]*T$soon:00\(Z\|[+-][0-9:]*\)$"
rm -f "$d/argv"
run -- leads.csv --deadline "$soon"
expect "--deadline 2 h away: runs" rc_is 0
expect "--deadline 2 h away: checkuser gets that moment" has "$d/argv" "^[0-9-]*T$soon:00\(Z\|[+-][0-9:]*\)$"
run CHECKUSER_DEADLINE=8h -- leads.csv
expect "a duration: runs" rc_is 0
expect "a duration: passed on as it is" has "$d/argv.env" "^CHECKUSER_DEADLINE=8h$"
done_case "a CHECKUSER_DEADLINE (or --deadline) time of day further than the time limit is refused, not taken as tomorrow's"

# --- the real checkuser: SIGTERM while it waits under --wait-lock --------------------------------
# CHECKUSER_REAL_BIN (set by `cargo test --test tests nightly`): the binary, in its sandbox.
if [ -n "${CHECKUSER_REAL_BIN-}" ] && [ -x "$CHECKUSER_REAL_BIN" ]; then
  new_case wait-lock-term
  sed -i '/^CHECKUSER_BIN=/d' "$d/env"
  printf 'CHECKUSER_BIN=%q\n' "$CHECKUSER_REAL_BIN" >>"$d/env"
  mkfifo "$d/stdin"
  # The first run holds the run lock while its standard input stays open.
  ( exec env -i HOME="$d/home" PATH=/usr/bin:/bin "$CHECKUSER_REAL_BIN" run - --sandbox --check email=email \
      --state "$d/state.sqlite" -o "$d/first.csv" --progress never <"$d/stdin" >"$d/first.log" 2>&1 ) &
  holder=$!
  exec 7>"$d/stdin"
  printf 'email\n' >&7
  for _ in $(seq 600); do has "$d/first.log" "INFO" && break; sleep 0.05; done
  start CHECKUSER_STATE="$d/state.sqlite" -- leads.csv --sandbox --check email=email --wait-lock
  waiting=no
  for _ in $(seq 600); do
    if grep -qs "waiting for the run with pid" "$d/results/"*.log; then waiting=yes; break; fi
    sleep 0.05
  done
  expect "the nightly run waits for the lock" [ "$waiting" = yes ]
  kill -TERM "$pid"
  t0=$SECONDS
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  ended=$((SECONDS - t0))
  kill -KILL "$holder" 2>/dev/null   # frees the lock: a waiter deaf to SIGTERM goes on from there
  exec 7>&-
  wait "$holder" 2>/dev/null
  wait "$pid"
  rc=$?
  expect "ends within seconds of SIGTERM (not when the lock is free)" [ "$ended" -lt 8 ]
  expect "exit 130" rc_is 130
  expect "alert says interrupted" alerted "interrupted (exit 130)"
  done_case "SIGTERM to a nightly run waiting under --wait-lock (the real checkuser) ends it at once"
else
  skip "SIGTERM under --wait-lock with the real checkuser" "set CHECKUSER_REAL_BIN (cargo test --test tests nightly does)"
fi

# --- the systemd units and the README's steps ----------------------------------------------------
new_case readme-systemd
root_dir=$(cd "$here/.." && pwd)
expect "service ordered after time-sync.target" has "$here/systemd/checkuser-nightly.service" '^After=.*time-sync\.target'
expect "the README's systemd steps install the man page" \
  has "$root_dir/README.md" 'checkuser man > /usr/local/share/man/man1/checkuser\.1'
done_case "the service waits for time sync, the README's systemd steps install the man page"

# The README's crontab, as cron reads it (quotes around a value removed), on a bare system: its
# alert hook must work with what Debian always has (logger; here the fake one, recording).
new_case readme-crontab
no_hook
# shellcheck disable=SC2016  # the backquotes are the README's code fence, for sed
readme_hook=$(sed -n '/^```cron$/,/^```$/s/^CHECKUSER_ALERT=//p' "$root_dir/README.md" | head -n 1)
readme_hook=${readme_hook#\'}
readme_hook=${readme_hook%\'}
env_hook=$(sed -n "s/^CHECKUSER_ALERT=//p" "$root_dir/README.md" | head -n 1)
expect "the README's crontab has an alert hook" [ -n "$readme_hook" ]
expect "the env file example has the same hook" [ "$env_hook" = "'$readme_hook'" ]
run STUB_EXIT=2 CHECKUSER_ALERT="$readme_hook" -- leads.csv
expect "exit 2" rc_is 2
expect "the hook reached syslog" has "$d/syslog" "-t checkuser-alert .*failed (exit 2)"
expect "the hook did not fail" lacks "$d/stderr" "alert hook"
done_case "the README's crontab alert hook works on a bare Debian system (logger)"

new_case units
rc=0
if command -v systemd-analyze >/dev/null 2>&1; then
  # The service as installed, but running this nightly.sh; man pages are not checked here (the
  # page comes from the checkuser binary, which these tests do not build).
  mkdir -p "$d/units"
  sed "s|/usr/local/lib/checkuser/nightly.sh|$nightly|" "$here/systemd/checkuser-nightly.service" \
    >"$d/units/checkuser-nightly.service"
  cp "$here/systemd/checkuser-nightly.timer" "$d/units/"
  # The page's unit beside them, with a binary that exists here.
  sed "s|/usr/local/bin/checkuser|/bin/true|" "$here/systemd/checkuser-serve.service" \
    >"$d/units/checkuser-serve.service"
  systemd-analyze verify --man=no "$d/units/checkuser-nightly.service" "$d/units/checkuser-nightly.timer" \
    "$d/units/checkuser-serve.service" >"$d/stderr" 2>&1 || rc=$?
  expect "systemd-analyze verify" rc_is 0
  expect "systemd-analyze verify: no warning" empty "$d/stderr"
  done_case "the systemd units pass systemd-analyze verify"
else
  skip "systemd-analyze verify" "systemd-analyze is not installed (apt-get install systemd)"
fi

# --- shellcheck ---------------------------------------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
  errors=()
  rc=0
  shellcheck -x "$nightly" "$here/test-nightly.sh" >"$tmp/shellcheck.out" 2>&1 || rc=$?
  expect "shellcheck -x" rc_is 0
  if [ "${#errors[@]}" -ne 0 ]; then sed 's/^/       /' "$tmp/shellcheck.out" | head -n 30; fi
  d=$tmp
  done_case "shellcheck -x nightly.sh test-nightly.sh"
else
  skip "shellcheck" "shellcheck is not installed (apt-get install shellcheck)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
