#!/usr/bin/env bash
# Kill-and-resume soak: SIGKILL checkuser at seeded random moments while it checks a few
# thousand rows against the simulator, rerun until it finishes, then verify the output
# (one row per record, in order, each with the simulator's answer) and that repeated requests
# stay within what the kills explain.
#
#   scripts/soak.sh [ROWS] [KILLS] [SEED]      defaults: 3000 15 7
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bins --examples
CHECKUSER_BIN="$PWD/target/release/checkuser" ./target/release/examples/soak "${1:-3000}" "${2:-15}" "${3:-7}"
