#!/usr/bin/env bash
# Runs checkuser's benchmarks on this machine and prints their figures (nothing here asserts).
#
#   scripts/bench.sh            all benchmarks (about 5 minutes)
#   scripts/bench.sh validate   only one: validate | rate | overhead | latency | store | xlsx | team
#
# Needs: cargo, python3, /usr/bin/time (GNU time).
set -euo pipefail
cd "$(dirname "$0")/.."
only="${1:-all}"

TMP="$(mktemp -d)"
SANDBOX_PID=""
cleanup() { [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

cargo build --release --quiet --bins --examples
# The binaries are copied out of the target directory (which may be shared, CARGO_TARGET_DIR):
# another build there must not swap them in the middle of a measurement.
mkdir "$TMP/bin"
for b in checkuser examples/store_bench examples/bare_loop; do
  cp "${CARGO_TARGET_DIR:-target}/release/$b" "$TMP/bin/"
done
BIN="$TMP/bin/checkuser"

export HUAWEICLOUD_SDK_AK=SANDBOXAK00000000001
export HUAWEICLOUD_SDK_SK=sandbox-sk-only-opens-the-simulator
PARTNER=sandbox-partner-0001

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# Starts the simulator as its own process on a free port; sets ENDPOINT.
start_sandbox() {
  if [ -n "$SANDBOX_PID" ]; then kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; fi
  "$BIN" sandbox --port 0 "$@" > "$TMP/sandbox.out" 2>&1 &
  SANDBOX_PID=$!
  for _ in $(seq 50); do
    ENDPOINT=$(awk '/endpoint:/ {print $2}' "$TMP/sandbox.out")
    [ -n "$ENDPOINT" ] && return 0
    sleep 0.1
  done
  echo "sandbox did not start" >&2; exit 1
}

emails_csv() { # N FILE
  python3 -c "
import sys
n = int(sys.argv[1])
with open(sys.argv[2], 'w') as f:
    f.write('searchType,searchKey\n')
    for i in range(n): f.write(f'email,bench{i}@example{i % 100}.com\n')
" "$1" "$2"
}

# Collects one line per benchmark for the table printed at the end.
row() { printf "%-58s %s\n" "$1" "$2" >> "$TMP/table"; }

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])" "$1" "$2"; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); $(rustc --version)"
echo "checkuser $("$BIN" --version | awk '{print $2}'), release build, $(date -u +%F)"
echo

if [ "$only" = all ] || [ "$only" = validate ]; then
  echo "== validate: CRM export, 3 checks per row (median of 3 runs)"
  printf "%10s %10s %12s %12s\n" rows "wall s" "peak RSS MB" "rows/s"
  for n in 10000 100000 1000000; do
    python3 scripts/gen_leads.py "$n" "$TMP/crm.csv"
    walls=(); rss=()
    for _ in 1 2 3; do
      /usr/bin/time -f "%e %M" -o "$TMP/time" "$BIN" validate "$TMP/crm.csv" -q -o "$TMP/out.csv" \
        --check email=E-Mail --check mobile=Phone --check name=Account
      read -r w m < "$TMP/time"; walls+=("$w"); rss+=("$m")
    done
    w=$(printf "%s\n" "${walls[@]}" | median); m=$(printf "%s\n" "${rss[@]}" | median)
    printf "%10d %10.2f %12.1f %12.0f\n" "$n" "$w" "$(echo "$m/1024" | bc -l)" "$(echo "$n/$w" | bc -l)"
    row "validate $n rows x 3 checks (median of 3)" "$(printf "%.2f s, %.1f MB peak" "$w" "$(echo "$m/1024" | bc -l)")"
  done
  echo
fi

if [ "$only" = all ] || [ "$only" = rate ]; then
  echo "== rate fidelity: gateway throttling at 5/s, --rate 5, 150 checks"
  start_sandbox --throttle 5
  emails_csv 150 "$TMP/rate.csv"
  "$BIN" run "$TMP/rate.csv" --endpoint "$ENDPOINT" --partner-id "$PARTNER" --state "$TMP/rate.sqlite" \
    --rate 5 -q -o "$TMP/rate.out.csv" --summary-json "$TMP/rate.json" || true
  req=$(json "$TMP/rate.json" api_requests); thr=$(json "$TMP/rate.json" throttled)
  rps=$(json "$TMP/rate.json" requests_per_second)
  echo "answers/s: $rps  requests: $req  throttled: $thr ($(echo "100*$thr/$req" | bc -l | cut -c1-5)%)"
  row "rate fidelity (gateway 5/s, --rate 5)" "$(printf "%.2f answers/s, %s of %s throttled" "$rps" "$thr" "$req")"
  echo
fi

if [ "$only" = all ] || [ "$only" = overhead ]; then
  n="${OVERHEAD_N:-50000}"
  echo "== client overhead: simulator in its own process, no throttle, no latency, $n checks, 32 in flight"
  echo "   each round times checkuser, then a bare loop that signs and sends the same requests with"
  echo "   reqwest and nothing else (examples/bare_loop.rs), against the same simulator process"
  start_sandbox --throttle 0
  emails_csv "$n" "$TMP/over.csv"
  walls=(); cpus=(); cu_per=(); bare_walls=(); bare_per=()
  for i in 1 2 3; do
    busy=$(pgrep -x 'rustc|cc1|cc1plus|ld' | wc -l || true)
    [ "$busy" -gt 0 ] && echo "   (warning: $busy compiler processes running; figures may be disturbed)"
    /usr/bin/time -f "%e %U %S" -o "$TMP/time" "$BIN" run "$TMP/over.csv" --endpoint "$ENDPOINT" \
      --partner-id "$PARTNER" --state "$TMP/over$i.sqlite" --rate 100000 --concurrency 32 -q \
      -o "$TMP/over.out.csv" --summary-json "$TMP/over.json" || true
    read -r w u s < "$TMP/time"
    req=$(json "$TMP/over.json" api_requests)
    walls+=("$w"); cpus+=("$(echo "$u+$s" | bc -l)"); cu_per+=("$(echo "($u+$s)*1000000/$req" | bc -l)")
    echo "run $i: checkuser $(echo "$n/$w" | bc -l | cut -c1-8) checks/s, wall ${w}s, CPU user ${u}s sys ${s}s, $req requests"
    /usr/bin/time -f "%e %U %S" -o "$TMP/time" "$TMP/bin/bare_loop" "$ENDPOINT" "$PARTNER" "$n" 32 \
      > "$TMP/bare.out"
    read -r w u s < "$TMP/time"
    bare_walls+=("$w"); bare_per+=("$(echo "($u+$s)*1000000/$n" | bc -l)")
    echo "       $(cat "$TMP/bare.out"); CPU user ${u}s sys ${s}s"
  done
  w=$(printf "%s\n" "${walls[@]}" | median); c=$(printf "%s\n" "${cpus[@]}" | median)
  p=$(printf "%s\n" "${cu_per[@]}" | median); bp=$(printf "%s\n" "${bare_per[@]}" | median)
  bw=$(printf "%s\n" "${bare_walls[@]}" | median)
  echo "median: $(echo "$n/$w" | bc -l | cut -c1-8) checks/s, client CPU per 10,000 checks $(echo "$c*10000/$n" | bc -l | cut -c1-5)s"
  ratio=$(echo "$p/$bp" | bc -l)
  printf "bare signed-request loop: %.1f µs CPU per request; checkuser: %.1f µs; ratio %.2f (goal <= 1.5)\n" \
    "$bp" "$p" "$ratio"
  row "client overhead ($n checks, no throttle, median of 3)" "$(printf "%.0f checks/s, %.2f s CPU per 10k checks" "$(echo "$n/$w" | bc -l)" "$(echo "$c*10000/$n" | bc -l)")"
  row "bare signed-request loop, same requests (median of 3)" "$(printf "%.0f requests/s, %.1f us CPU per request" "$(echo "$n/$bw" | bc -l)" "$bp")"
  row "client CPU per request, checkuser / bare loop" "$(printf "%.1f us / %.1f us = %.2f (goal <= 1.5)" "$p" "$bp" "$ratio")"
  echo
fi

if [ "$only" = all ] || [ "$only" = latency ]; then
  echo "== latency-bound: 200 ms per answer, --rate 1000 --concurrency 64, 3000 checks"
  start_sandbox --throttle 0 --latency 200ms
  emails_csv 3000 "$TMP/lat.csv"
  "$BIN" run "$TMP/lat.csv" --endpoint "$ENDPOINT" --partner-id "$PARTNER" --state "$TMP/lat.sqlite" \
    --rate 1000 --concurrency 64 -q -o "$TMP/lat.out.csv" --summary-json "$TMP/lat.json" || true
  rps=$(json "$TMP/lat.json" requests_per_second)
  echo "requests/s: $rps  (Little's law: 64 / 0.2 s = 320/s; ratio $(echo "$rps/320" | bc -l | cut -c1-5))"
  row "latency-bound (200 ms, concurrency 64; ideal 320/s)" "$(printf "%.1f requests/s" "$rps")"
  echo
fi

if [ "$only" = all ] || [ "$only" = store ]; then
  echo "== state store: 1,000,000 answers"
  "$TMP/bin/store_bench" 1000000 "$TMP/store.sqlite" | tee "$TMP/store.txt"
  row "state store: record / lookup per answer" "$(awk '/record/ {r=$3} /lookup/ {l=$3} END {print r " us / " l " us"}' "$TMP/store.txt")"
  row "state store: size per answer" "$(awk '/file size/ {print $5 " bytes"}' "$TMP/store.txt" | tr -d '(')"
  python3 -c "
with open('$TMP/cached.csv', 'w') as f:
    f.write('searchType,searchKey\n')
    for i in range(1000000): f.write(f'email,lead.{i}@example{i % 100}.com\n')
"
  /usr/bin/time -f "%e %M" -o "$TMP/time" "$BIN" run "$TMP/cached.csv" --sandbox --state "$TMP/store.sqlite" \
    --max-age 72h -q -o "$TMP/cached.out.csv" --summary-json "$TMP/cached.json" || true
  read -r w m < "$TMP/time"
  echo "fully cached re-run of 1,000,000 rows: ${w}s wall, $(echo "$m/1024" | bc -l | cut -c1-5) MB peak, $(json "$TMP/cached.json" api_requests) requests, $(json "$TMP/cached.json" cache_hits) checks from the store"
  row "fully cached re-run, 1M rows" "$(printf "%s s, %.1f MB peak, %s requests" "$w" "$(echo "$m/1024" | bc -l)" "$(json "$TMP/cached.json" api_requests)")"
fi

if [ "$only" = all ] || [ "$only" = xlsx ]; then
  echo
  echo "== 1,000,000 result rows (validate, 3 checks per row): csv vs xlsx"
  python3 scripts/gen_leads.py 1000000 "$TMP/crm.csv"
  for f in csv xlsx; do
    /usr/bin/time -f "%e %M" -o "$TMP/time" "$BIN" validate "$TMP/crm.csv" -q -o "$TMP/out.$f" \
      --check email=E-Mail --check mobile=Phone --check name=Account
    read -r w m < "$TMP/time"
    echo "$f: ${w}s wall, $(echo "$m/1024" | bc -l | cut -c1-5) MB peak, $(du -m "$TMP/out.$f" | cut -f1) MB file"
    row "1M result rows to $f" "$(printf "%s s, %.1f MB peak" "$w" "$(echo "$m/1024" | bc -l)")"
  done
fi

if [ "$only" = all ] || [ "$only" = team ]; then
  echo
  echo "== team mode: P processes on one PostgreSQL scope, simulator gateway at 5/s"
  PGBIN=$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PGDIR="$TMP/pg"; mkdir -p "$PGDIR"
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  [ "$(id -u)" = 0 ] && chmod 711 "$TMP" && chown postgres: "$PGDIR"
  PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres --no-sync > /dev/null
  # pg_stat_statements counts every statement the server ran (it ships with the server).
  PRELOAD="-c shared_preload_libraries=pg_stat_statements"
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 $PRELOAD" start > /dev/null \
  || as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start > /dev/null
  pgstop() { as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop > /dev/null 2>&1 || true; }
  trap 'pgstop; cleanup' EXIT
  psql_() { psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qAt "$@"; }
  echo "Each process has a list of 20 keys overlapping its neighbours' by half; the database's own"
  echo "count of committed transactions (pg_stat_database) and statements (pg_stat_statements, if"
  echo "loaded) per request sent, read before and after."
  printf "%6s %8s %10s %12s %10s %10s %14s %14s\n" procs distinct "wall s" "answers/s" throttled req/key "xact/request" "stmts/request"
  for P in ${TEAM_SIZES:-1 2 4 8 32}; do
    db="bench$P"; psql_ -c "CREATE DATABASE $db"
    psql_ -d "$db" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" 2>/dev/null || true
    URL="postgres://postgres@127.0.0.1:$PGPORT/$db?sslmode=disable"
    start_sandbox --throttle 5
    rm -f "$TMP"/team[0-9]*.csv
    per=20
    for i in $(seq 0 $((P - 1))); do
      python3 -c "
import sys
per, i = map(int, sys.argv[1:3])
with open(sys.argv[3], 'w') as f:
    f.write('searchType,searchKey\n')
    for j in range(per): f.write(f'email,team{i * per // 2 + j}@example.com\n')
" "$per" "$i" "$TMP/team$i.csv"
    done
    D=$(cat "$TMP"/team[0-9]*.csv | grep -v '^searchType' | sort -u | wc -l)
    # The schema is made before measuring: a first run's migration is not a request's cost.
    "$BIN" state --state "$URL" stats > /dev/null 2>&1 || true
    stat() { psql_ -d "$db" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'"; }
    calls() { psql_ -d "$db" -c "SELECT COALESCE(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$db'" 2>/dev/null || echo 0; }
    x0=$(stat); c0=$(calls)
    t0=$(date +%s.%N)
    team_pids=()
    for i in $(seq 0 $((P - 1))); do
      "$BIN" run "$TMP/team$i.csv" --endpoint "$ENDPOINT" --partner-id "$PARTNER" --state "$URL" \
        -q -o "$TMP/team$i.out.csv" --summary-json "$TMP/team$i.json" || true &
      team_pids+=("$!")
    done
    wait "${team_pids[@]}" 2>/dev/null || true
    t1=$(date +%s.%N)
    x1=$(stat); c1=$(calls)
    req=0; thr=0
    for i in $(seq 0 $((P - 1))); do
      req=$((req + $(json "$TMP/team$i.json" api_requests))); thr=$((thr + $(json "$TMP/team$i.json" throttled)))
    done
    wall=$(echo "$t1 - $t0" | bc -l)
    # The two statistics reads above are the benchmark's own transactions, not the runs'.
    xpr=$(echo "($x1 - $x0 - 2) / ($req + 0.0001)" | bc -l)
    spr=$(echo "($c1 - $c0 - 2) / ($req + 0.0001)" | bc -l)
    if [ -n "${TEAM_STATEMENTS:-}" ]; then
      psql_ -d "$db" -F ' | ' -c "SELECT calls, left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$db' ORDER BY calls DESC LIMIT 25" 2>/dev/null || true
    fi
    printf "%6s %8s %10.1f %12.2f %10s %10.2f %14.2f %14.2f\n" \
      "$P" "$D" "$wall" "$(echo "$D / $wall" | bc -l)" "$thr" "$(echo "$req / $D" | bc -l)" "$xpr" "$spr"
    row "team mode, $P processes, $D keys at 5/s" "$(printf "%.2f answers/s, %s throttled, %.2f requests per key, %.2f transactions per request" "$(echo "$D / $wall" | bc -l)" "$thr" "$(echo "$req / $D" | bc -l)" "$xpr")"
  done
  echo "-- a run with nothing to ask, 100,000 rows: SQLite file vs PostgreSQL (median of 3)"
  emails_csv 100000 "$TMP/c100k.csv"
  "$BIN" run "$TMP/c100k.csv" --sandbox --throttle 0 --rate 5000 --concurrency 16 --state "$TMP/c100k.sqlite" -q -o "$TMP/c.out.csv" || true
  psql_ -c "CREATE DATABASE cached"
  URL="postgres://postgres@127.0.0.1:$PGPORT/cached?sslmode=disable"
  "$BIN" state copy --from "$TMP/c100k.sqlite" --to "$URL" > /dev/null
  declare -A cached
  for store in "$TMP/c100k.sqlite" "$URL"; do
    kind=$([ "$store" = "$URL" ] && echo PostgreSQL || echo SQLite)
    walls=()
    for _ in 1 2 3; do
      /usr/bin/time -f "%e %M" -o "$TMP/time" "$BIN" run "$TMP/c100k.csv" --sandbox --state "$store" -q -o "$TMP/c.out.csv" \
        --summary-json "$TMP/c.json" || true
      read -r w m < "$TMP/time"
      walls+=("$w")
    done
    w=$(printf "%s\n" "${walls[@]}" | median)
    cached[$kind]=$w
    echo "$kind: ${w}s wall (median), $(echo "$m/1024" | bc -l | cut -c1-5) MB peak, $(json "$TMP/c.json" api_requests) requests"
    row "fully cached run, 100k rows, $kind" "$w s"
  done
  ratio=$(echo "${cached[PostgreSQL]} / ${cached[SQLite]}" | bc -l)
  printf "PostgreSQL / SQLite, fully cached: %.2f (goal <= 1.5)\n" "$ratio"
  row "fully cached run, PostgreSQL / SQLite" "$(printf "%.2f" "$ratio")"
fi

echo
echo "== summary ($(nproc) cores, $(rustc --version | cut -d' ' -f1-2), $(date -u +%F))"
cat "$TMP/table"
