#!/usr/bin/env bash
# Nightly wrapper for `checkuser run`, for cron or systemd. Quiet when all is well; every failure,
# its own included, goes to stderr, to syslog and to the alert hook. Run with --help for the details.
#
# crontab (every night at 01:00; cron's PATH is minimal, so give a full one):
#   PATH=/usr/local/bin:/usr/bin:/bin
#   CHECKUSER_ALERT='logger -t checkuser-alert -p user.err -- "$CHECKUSER_STATUS"'
#   0 1 * * * /usr/local/lib/checkuser/nightly.sh /srv/leads/leads.csv
# (logger works on a bare Debian; a webhook with curl, or mail, needs packages: see the README.)
# systemd: scripts/systemd/checkuser-nightly.{service,timer}.
set -uo pipefail
shopt -s extglob

usage() {
  cat <<'EOF'
usage: nightly.sh LEADS [checkuser run options...]

Runs `checkuser run LEADS` for cron or systemd and writes, in the output folder,
  <stem>.<key>.<run>.checked.csv  the results    <stem>.<key>.<run>.summary.json  the summary
  <stem>.<key>.<run>.changes.csv  the changes    <stem>.<key>.<run>.log           checkuser's log
where <key> is 8 hex digits of the SHA-256 of the leads file's real path (so that two lists of
one name in different folders never share files, lock or pruning) and <run> is the date, with
_2, _3... for a second and later run that day (it never replaces the first one's files).
The last CHECKUSER_KEEP nights of these files are kept (only these: another lead list's results
in the same folder are left alone). Nothing is printed when all is well; every failure prints
one line to stderr (which cron mails), with checkuser's own first error line when it printed
one, and runs CHECKUSER_ALERT. One status line goes to syslog (tag "checkuser") either way.

Settings come from the environment, after reading the env file:
  CHECKUSER_ENV      env file (shell syntax, KEY=value lines) read first, with every variable
                     exported to checkuser; must be readable by its owner only (chmod 600) and
                     owned by you or root. Default /etc/checkuser/env (skipped if missing);
                     set it empty to read none (systemd's EnvironmentFile= already did).
  CHECKUSER_BIN      the checkuser binary; default: checkuser in PATH, then ~/.cargo/bin,
                     then /usr/local/bin.
  CHECKUSER_OUT_DIR  output folder (default: results/ beside LEADS). Refused, not trimmed, if
                     it holds a newline or CR or starts or ends with a space.
  CHECKUSER_KEEP     nights of results to keep, a decimal count (default 14; 0 keeps all).
  CHECKUSER_TIMEOUT  stop the run after this long: a number with s, m, h or d (default 10h;
                     0 for no limit). Not passed on to checkuser.
  CHECKUSER_DEADLINE (or --deadline) a time of day such as 06:30: when sending stops. If the
                     next such time is further away than CHECKUSER_TIMEOUT (10h when 0), the
                     run is refused (exit 2, with an alert), not sent through the working day:
                     a late start, such as a timer catching up at boot. Otherwise checkuser gets
                     that moment as a full date and time.
  CHECKUSER_ALERT    shell command run (by sh -c) on every failure, with CHECKUSER_STATUS,
                     CHECKUSER_LOG and CHECKUSER_EXIT set; and, even after a successful run,
                     when some answers changed, with CHECKUSER_STATUS=changes and
                     CHECKUSER_CHANGES=<the .changes.csv file>.
  CHECKUSER_ALERT_TIMEOUT  the hook's time limit (default 10m): then SIGTERM, and SIGKILL 5s
                     later, to the hook and its children, so that it cannot hold the lock.
  CHECKUSER_METRICS_FILE and the other CHECKUSER_* options are read by checkuser itself.

Only one nightly run per LEADS at a time (lock file .<stem>.<key>.nightly.lock in the output
folder).

Exit codes: checkuser's (0 ok; 1 some checks ended error or pending, the next run resumes them;
2 fatal; 130 interrupted); 124 the run timed out; 2 also for the wrapper's own failures
(env file refused, output folder not writable, checkuser not found, lock held, a deadline
too far away...).
EOF
}

case "${1-}" in
  -h | --help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
  -*) echo "nightly.sh: the first argument must be the leads file, not '$1'" >&2; usage >&2; exit 2 ;;
esac
input=$1
shift

log=""           # this night's log, once the output folder is known
exit_code=0      # what nightly.sh will exit with, passed to the hook as CHECKUSER_EXIT

now() { date -u +%FT%TZ; }

# A time limit for timeout(1), more than 0: a number with s, m, h or d (90m, 10h, 1.5h).
valid_limit() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?[smhd]?$ && "$1" =~ [1-9] ]]; }

# Append a line to this night's log (when there is one).
note() {
  if [ -n "$log" ]; then
    printf '%s nightly.sh: %s\n' "$(now)" "$*" >>"$log" 2>/dev/null
  fi
}

# One line to syslog; a missing or failing logger is not an error.
to_syslog() {  # PRIORITY MESSAGE
  if command -v logger >/dev/null 2>&1; then
    logger -t checkuser -p "user.$1" -- "$2" >/dev/null 2>&1 || true
  fi
}

# Run the alert hook, if any, with CHECKUSER_STATUS, CHECKUSER_LOG and CHECKUSER_EXIT set (and
# CHECKUSER_CHANGES for changes). Without a log yet, the hook gets a temporary one holding the status.
alert() {  # STATUS [CHANGES_FILE]
  local status=$1 changes=${2-} hook_log=$log tmp="" rc=0 hook_pid=""
  [ -n "${CHECKUSER_ALERT-}" ] || return 0
  if [ -z "$hook_log" ]; then
    tmp=$(mktemp "${TMPDIR:-/tmp}/checkuser-nightly.XXXXXX" 2>/dev/null) || tmp=""
    if [ -n "$tmp" ]; then
      printf '%s nightly.sh: %s: %s\n' "$(now)" "$input" "$status" >"$tmp"
    fi
    hook_log=${tmp:-/dev/null}
  fi
  local -a vars=(CHECKUSER_STATUS="$status" CHECKUSER_LOG="$hook_log" CHECKUSER_EXIT="$exit_code")
  if [ -n "$changes" ]; then vars+=(CHECKUSER_CHANGES="$changes"); fi
  # The hook's output goes to our stderr (cron mails it, systemd keeps it); it never holds the lock.
  # A time limit, so that a hung hook cannot keep this script (and its lock) waiting: SIGTERM
  # after it, SIGKILL 5 s later if the hook ignores SIGTERM. timeout runs the hook in a process
  # group of its own (its id is timeout's pid) and signals all of it; whatever of that group is
  # still there when timeout returns (a child ignoring SIGTERM whose shell ended) is killed too.
  local hook_limit=10m
  if valid_limit "${CHECKUSER_ALERT_TIMEOUT-}"; then hook_limit=$CHECKUSER_ALERT_TIMEOUT; fi
  if command -v timeout >/dev/null 2>&1; then
    env "${vars[@]}" timeout --kill-after=5s "$hook_limit" sh -c "$CHECKUSER_ALERT" \
      </dev/null >&2 9>&- &
    hook_pid=$!
    wait "$hook_pid" 2>/dev/null || rc=$?   # (no "Killed" notice from bash)
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      kill -KILL -- "-$hook_pid" 2>/dev/null
    fi
  else
    env "${vars[@]}" sh -c "$CHECKUSER_ALERT" </dev/null >&2 9>&- || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    local why="failed (exit $rc)"
    if [ -n "$hook_pid" ] && { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; }; then
      why="did not end within $hook_limit (CHECKUSER_ALERT_TIMEOUT): killed"
    fi
    echo "nightly.sh: the alert hook CHECKUSER_ALERT $why" >&2
    note "the alert hook CHECKUSER_ALERT $why"
    to_syslog err "nightly $input: the alert hook CHECKUSER_ALERT $why"
  fi
  if [ -n "$tmp" ]; then rm -f -- "$tmp"; fi
}

# The end of every run: one status line to the log and to syslog; unless all is well, the same
# line to stderr (cron mails it, even with no alert hook) and the alert hook; then exit.
finish() {  # EXIT_CODE STATUS
  exit_code=$1
  # One line, whatever a message quoted (a value with a newline, an error of several lines).
  local status=${2//[$'\n\r']/ } leads=${input//[$'\n\r']/ }
  note "$status"
  if [ "$exit_code" -eq 0 ]; then
    to_syslog notice "nightly $leads: $status"
  else
    printf 'nightly.sh: %s: %s\n' "$leads" "$status" >&2
    to_syslog err "nightly $leads: $status"
    alert "$status"
  fi
  exit "$exit_code"
}

# The wrapper's own failures.
fail() {  # MESSAGE
  finish 2 "failed (exit 2): $*"
}

# --- the env file -------------------------------------------------------------------------------
env_file=${CHECKUSER_ENV-/etc/checkuser/env}
if [ -n "$env_file" ]; then
  if [ ! -e "$env_file" ]; then
    # The default file is optional (settings may come from the environment); a named one is not.
    if [ -n "${CHECKUSER_ENV-}" ]; then
      fail "the env file $env_file (CHECKUSER_ENV) does not exist"
    fi
  else
    read -r perm owner < <(stat -L -c '%a %u' -- "$env_file" 2>/dev/null) || true
    if [ -z "${perm-}" ] || [ ! -f "$env_file" ]; then
      fail "the env file $env_file is not a regular file"
    fi
    if [ "$owner" -ne 0 ] && [ "$owner" -ne "$(id -u)" ]; then
      fail "the env file $env_file is owned by uid $owner, not by $(id -un) or root: chown it"
    fi
    if (( 8#$perm & 8#077 )); then
      # Refused: it holds credentials. Still, when only its readers are wrong (nobody else can
      # write it), it can be trusted for the alert hook, so that this refusal is not silent.
      if ! (( 8#$perm & 8#022 )); then
        # shellcheck disable=SC1090
        file_hook=$( (set +u; . "$env_file" >/dev/null 2>&1; printf '%s' "${CHECKUSER_ALERT-}") )
        if [ -n "$file_hook" ]; then CHECKUSER_ALERT=$file_hook; fi
      fi
      fail "the env file $env_file is open to group or others (mode $perm): chmod 600 $env_file (and change the credentials it holds if others could read them)"
    fi
    # shellcheck disable=SC1090
    env_errors=$( (set +u; . "$env_file") 2>&1 >/dev/null )
    if [ -n "$env_errors" ]; then
      fail "cannot read the env file $env_file: $(printf '%s' "$env_errors" | head -n 1)"
    fi
    set -a +u
    # shellcheck disable=SC1090
    . "$env_file"
    set +a -u
  fi
fi

# --- settings -----------------------------------------------------------------------------------
run_timeout=${CHECKUSER_TIMEOUT:-10h}
unset CHECKUSER_TIMEOUT   # the whole run's limit, not checkuser's --timeout (one request's)
keep=${CHECKUSER_KEEP:-14}
if [ -n "${CHECKUSER_OUT_DIR-}" ]; then
  out_dir=$CHECKUSER_OUT_DIR
else
  # (A trailing "." keeps $(...) from eating a newline that ends the folder's name.)
  in_dir=$(dirname -- "$input" && echo .)
  out_dir=${in_dir%$'\n.'}/results
fi
stem=$(basename -- "$input")
stem=${stem%.*}

# --- the output folder and this night's log -----------------------------------------------------
# A newline, CR or space at an end (an env file with Windows line ends, a stray space) is refused,
# not trimmed: it would make one folder, and commands that drop it would write into another.
if [[ "$out_dir" == *[[:cntrl:]]* || "$out_dir" == [[:space:]]* || "$out_dir" == *[[:space:]] ]]; then
  if [ -n "${CHECKUSER_OUT_DIR-}" ]; then
    fail "CHECKUSER_OUT_DIR=$(printf %q "$out_dir") holds a newline or another control character, or starts or ends with a space (Windows line ends in the env file?): write the folder's path alone"
  fi
  fail "the output folder $(printf %q "$out_dir") (beside the leads file) holds a newline or another control character: set CHECKUSER_OUT_DIR"
fi
# A folder created here is private (the results hold personal data); -m applies to its last part.
# shellcheck disable=SC2174
if ! mkdir_error=$(mkdir -p -m 700 -- "$out_dir" 2>&1) || [ ! -d "$out_dir" ]; then
  fail "cannot create the output folder $out_dir (CHECKUSER_OUT_DIR): ${mkdir_error#mkdir: }"
fi
abs_dir=$(cd -- "$out_dir" && pwd && echo .) || fail "cannot enter the output folder $out_dir (CHECKUSER_OUT_DIR)"
out_dir=${abs_dir%$'\n.'}

# This list's files are named after it and a key of its full path: north/leads.csv and
# south/leads.csv, sharing an output folder, get leads.<key1>.* and leads.<key2>.*, and so
# never share results, change feed, summary, lock or pruning.
real_input=$(realpath -m -- "$input" && echo .) || fail "cannot resolve the full path of the leads file $input (realpath)"
real_input=${real_input%$'\n.'}
key=$(printf '%s' "$real_input" | sha256sum 2>/dev/null) || key=""
key=${key:0:8}
if ! [[ "$key" =~ ^[0-9a-f]{8}$ ]]; then
  fail "sha256sum not found in PATH ($PATH): install it (coreutils)"
fi
prefix="$out_dir/$stem.$key"

# Each run its own files: the night's date, then <date>_2, _3... for a second and later run that
# day, so that none replaces the first one's results, change feed or summary. The log is created
# only where none is (noclobber): of two runs starting at once, each gets its own name.
night=$(date +%F)
n=1
while :; do
  run_id=$night
  if [ "$n" -gt 1 ]; then run_id="${night}_$n"; fi
  base="$prefix.$run_id"
  if [ ! -e "$base.log" ] && [ ! -e "$base.checked.csv" ] && [ ! -e "$base.summary.json" ] &&
    [ ! -e "$base.changes.csv" ]; then
    if (set -C; : >"$base.log") 2>/dev/null; then break; fi
    if [ ! -e "$base.log" ]; then
      fail "cannot write $base.log: check the output folder $out_dir (CHECKUSER_OUT_DIR)"
    fi
  fi
  n=$((n + 1))
  if [ "$n" -gt 9999 ]; then fail "more than 9999 runs of $input on $night: cannot name the next one"; fi
done
log="$base.log"

# A decimal count, always: 010 is ten nights (bash arithmetic would read it as octal 8, and 08
# as an error). Leading zeros go; more than 6 digits is no count of nights (and could overflow).
if [[ "$keep" =~ ^0*([0-9]{1,6})$ ]]; then
  keep=$((10#${BASH_REMATCH[1]}))
else
  fail "CHECKUSER_KEEP must be a number of nights (decimal digits, 0 keeps all), not '$keep'"
fi
if ! [[ "$run_timeout" =~ ^[0-9]+(\.[0-9]+)?[smhd]?$ ]]; then
  fail "CHECKUSER_TIMEOUT must be a duration such as 90m or 10h, not '$run_timeout'"
fi
if [ -n "${CHECKUSER_ALERT_TIMEOUT-}" ] && ! valid_limit "$CHECKUSER_ALERT_TIMEOUT"; then
  fail "CHECKUSER_ALERT_TIMEOUT must be a duration such as 30s or 10m, not '$CHECKUSER_ALERT_TIMEOUT'"
fi
for tool in flock timeout; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found in PATH ($PATH): install it (util-linux, coreutils)"
done

# --- the deadline: a late start never sends into the working day ---------------------------------
# checkuser reads a time of day (CHECKUSER_DEADLINE=06:30, --deadline 06:30) as the next such
# time: a run that starts after it (a timer catching up at boot) would send until tomorrow's.
# Such a deadline further away than the run's time limit is refused; one within it is given to
# checkuser as that moment, so that both read it alike.
args=("$@")
deadline=${CHECKUSER_DEADLINE-}
deadline_at=-1   # the argument holding it; -1: the environment
for i in "${!args[@]}"; do
  case ${args[i]} in
    --) break ;;
    --deadline) if [ "$((i + 1))" -lt "${#args[@]}" ]; then deadline=${args[i + 1]}; deadline_at=$((i + 1)); fi ;;
    --deadline=*) deadline=${args[i]#--deadline=}; deadline_at=$i ;;
  esac
done
if [ "$deadline_at" -lt 0 ]; then
  deadline_name="CHECKUSER_DEADLINE=$deadline"
elif [ "${args[deadline_at]}" = "$deadline" ]; then
  deadline_name="--deadline $deadline"
else
  deadline_name="--deadline=$deadline"
fi
if [[ "$deadline" =~ ^[[:space:]]*([0-9]{1,2}):([0-9]{2})(:([0-9]{2}))?[[:space:]]*$ ]] &&
  [ "$((10#${BASH_REMATCH[1]}))" -le 23 ] && [ "$((10#${BASH_REMATCH[2]}))" -le 59 ] &&
  [ "$((10#${BASH_REMATCH[4]:-0}))" -le 59 ]; then
  clock=$(printf '%02d:%02d:%02d' "$((10#${BASH_REMATCH[1]}))" "$((10#${BASH_REMATCH[2]}))" "$((10#${BASH_REMATCH[4]:-0}))")
  now_s=$(date +%s)
  target=""
  for day in 0 1 2; do
    ymd=$(date -d "@$((now_s + day * 86400))" +%F)
    t=$(date -d "$ymd $clock" +%s 2>/dev/null) || continue   # (not on a clock change's gap)
    if [ "$t" -gt "$now_s" ]; then target=$t; break; fi
  done
  # The run's time limit in seconds (timeout(1)'s units); with no limit, the default 10h.
  limit_s=$(awk -v t="$run_timeout" 'BEGIN {
    u = substr(t, length(t)); m = 1
    if (u == "m") m = 60; else if (u == "h") m = 3600; else if (u == "d") m = 86400
    if (u ~ /[smhd]/) t = substr(t, 1, length(t) - 1)
    printf "%d", t * m }')
  limit_name="CHECKUSER_TIMEOUT=$run_timeout"
  if [ "$limit_s" -le 0 ]; then limit_s=36000; limit_name="10h (CHECKUSER_TIMEOUT=$run_timeout: no limit)"; fi
  if [ -z "$target" ] || [ "$((target - now_s))" -gt "$limit_s" ]; then
    away="?"
    if [ -n "$target" ]; then
      away="$(((target - now_s) / 3600))h$(printf '%02d' "$(((target - now_s) % 3600 / 60))")m"
    fi
    finish 2 "not run (exit 2): $deadline_name is $away away, more than the run's time limit $limit_name: started late (a timer catching up at boot?), it would send into the working day; nothing was sent, the next night's run checks this list (or run it now by hand with a later deadline)"
  fi
  deadline_iso=$(date -d "@$target" +%FT%T%:z)
  note "$deadline_name: sending stops at $deadline_iso"
  if [ "$deadline_at" -lt 0 ]; then
    export CHECKUSER_DEADLINE=$deadline_iso
  elif [ "${args[deadline_at]}" = "$deadline" ]; then
    args[deadline_at]=$deadline_iso
  else
    args[deadline_at]="--deadline=$deadline_iso"
  fi
fi
set -- "${args[@]}"

# --- one nightly run per input at a time ---------------------------------------------------------
lock_file="$out_dir/.$stem.$key.nightly.lock"
if ! { exec 9>>"$lock_file"; } 2>/dev/null; then
  fail "cannot open the lock file $lock_file"
fi
if ! flock -n 9; then
  fail "another nightly run for $input is still running (it holds $lock_file)"
fi

# --- the binary: CHECKUSER_BIN, else PATH, ~/.cargo/bin, /usr/local/bin ---------------------------
if [ -n "${CHECKUSER_BIN-}" ]; then
  bin=$(type -P -- "$CHECKUSER_BIN") ||
    fail "CHECKUSER_BIN=$CHECKUSER_BIN is not an executable file: set CHECKUSER_BIN to the checkuser binary's full path"
else
  bin=$(type -P checkuser) || bin=""
  for candidate in "${HOME:+$HOME/.cargo/bin/checkuser}" /usr/local/bin/checkuser; do
    if [ -z "$bin" ] && [ -n "$candidate" ] && [ -f "$candidate" ] && [ -x "$candidate" ]; then
      bin=$candidate
    fi
  done
  if [ -z "$bin" ]; then
    fail "checkuser not found in PATH ($PATH), ~/.cargo/bin or /usr/local/bin: set CHECKUSER_BIN to its full path (in the env file or the crontab)"
  fi
fi

if [ ! -r "$input" ] || [ -d "$input" ]; then
  fail "the leads file $input does not exist or cannot be read"
fi

# --- the run ------------------------------------------------------------------------------------
changes="$base.changes.csv"   # this run's own (an earlier run's today has another name)
note "start: $bin run $input (timeout $run_timeout)"
started=$SECONDS

# In the background so that a signal to this script (Ctrl-C, systemctl stop) is passed on to
# checkuser once, which then finishes its output; timeout kills it 5 minutes after its own TERM.
timeout --kill-after=5m "$run_timeout" \
  "$bin" run "$input" -o "$base.checked.csv" --summary-json "$base.summary.json" \
  --changes "$changes" --progress never "$@" </dev/null >>"$log" 2>&1 9>&- &
child=$!
signalled=""
trap 'signalled=1; kill -TERM "$child" 2>/dev/null' INT TERM HUP
code=""
while :; do
  signalled=""
  wait "$child"
  rc=$?
  # 127 after a signal: the child was already collected and its status is the one we have.
  if [ "$rc" -eq 127 ] && [ -n "$code" ]; then break; fi
  code=$rc
  # wait returns early (> 128) when a signal arrives; the child is still finishing then.
  if [ -z "$signalled" ] || [ "$rc" -le 128 ]; then break; fi
done
trap - INT TERM HUP
elapsed=$((SECONDS - started))

# checkuser's own first error line in this run's log (nightly.sh's notes there never match): its
# "checkuser: error: ...", a usage error ("error: ..."), or a log line at level ERROR. One line, at
# most 300 characters, without control characters; checkuser's log is already redacted, and
# nothing from the env file is added.
said=$(awk '
  /^checkuser: error: / { sub(/^checkuser: error: /, ""); print; exit }
  /^error: / { sub(/^error: /, ""); print; exit }
  /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[^ ]* +ERROR / { sub(/^[^ ]* +ERROR +/, ""); print; exit }
' "$log" 2>/dev/null | tr -d '\000-\037\177')
if [ "${#said}" -gt 300 ]; then said="${said:0:300}..."; fi
said=${said%%+([: ])}   # "...credentials:" introduced lines that are not in the mail
cause=${said:+; checkuser: $said}

case "$code" in
  0)   status="ok" ;;
  1)   status="errors (exit 1): some checks ended error or pending, the next run resumes them$cause; see $log" ;;
  2)   if [ -n "$said" ]; then
         status="failed (exit 2): checkuser: $said; see $log"
       else
         status="failed (exit 2): fatal or usage error, circuit open, or another run holds checkuser's lock; see $log"
       fi ;;
  124) status="timed out (exit 124): stopped after CHECKUSER_TIMEOUT=$run_timeout, the next run resumes the pending checks$cause; see $log" ;;
  130) status="interrupted (exit 130)$cause: see $log" ;;
  137) status="killed (exit 137): SIGKILL, 5 minutes after the timeout or out of memory$cause; see $log" ;;
  *)   status="failed (exit $code)$cause: see $log" ;;
esac

# --- keep the last $keep nights ------------------------------------------------------------------
# Only this list's outputs, by their exact names: <stem>.<key>.<date>[_N].<kind>, and the
# temporary files a killed checkuser left beside them (.<stem>.<key>.<date>[_N].<kind>.XXXXXX.tmp).
# A night is a date: all its runs are kept or go together. Another list's outputs in the same
# folder (another key, or leads.2026-11-01.csv's leads.2026-11-01.<key>.*) and other files stay.
kinds=(checked.csv summary.json changes.csv log)
date_glob='[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
runs_glob='?(_+([0-9]))'   # the date's runs after the first
if [ "$keep" -gt 0 ]; then
  mapfile -t nights < <(
    for kind in "${kinds[@]}"; do
      for f in "$prefix".$date_glob$runs_glob."$kind"; do
        [ -e "$f" ] || continue
        night=${f#"$prefix."}
        printf '%s\n' "${night:0:10}"
      done
    done | LC_ALL=C sort -u
  )
  if [ "${#nights[@]}" -gt "$keep" ]; then
    for night in "${nights[@]:0:${#nights[@]}-keep}"; do
      for kind in "${kinds[@]}"; do
        # shellcheck disable=SC2231  # $runs_glob is a pattern, unquoted on purpose
        for f in "$prefix.$night"$runs_glob."$kind" "$out_dir/.$stem.$key.$night"$runs_glob."$kind".*.tmp; do
          rm -f -- "$f"
        done
      done
    done
  fi
fi

# --- changed answers: reported even after a successful run ---------------------------------------
if [ -f "$changes" ] && awk 'NR > 1 && NF { found = 1; exit } END { exit !found }' "$changes"; then
  exit_code=$code
  note "changed answers: $changes"
  alert changes "$changes"
  status="$status; changed answers in $changes"
fi

finish "$code" "$status (${elapsed}s)"
