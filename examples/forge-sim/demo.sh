#!/bin/sh
# demo.sh — run the seed post-cutover runbook end to end against the forge
# SIMULATOR (examples/forge-sim/README.md). Nothing here touches a real
# forge: `forge`, `fmail` and `forge-sim` are the shell scripts in bin/.
#
#   examples/forge-sim/demo.sh [healthy|broken]
#
#   healthy  the Rust build works: smoke passes, the run ends `resolved`
#   broken   the Rust build's migrations are broken: smoke fails, triage,
#            migration playbook, rollback to Go, smoke again (passes on Go),
#            the run ends `rolled_back`
#
# Everything the demo writes is under target/forge-sim-demo/MODE/ (the
# simulator's state in sim/, the rbx store in rbx/), wiped at each start.
# RBX=path/to/rbx uses that binary instead of building target/release/rbx.
set -eu

MODE=${1:-healthy}
case $MODE in
  healthy) EXPECTED=resolved ;;
  broken) EXPECTED=rolled_back ;;
  *) echo "usage: $0 [healthy|broken]" >&2; exit 2 ;;
esac

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

if [ -z "${RBX:-}" ]; then
  echo "== building rbx (release)"
  cargo build --release -q
  RBX=$ROOT/target/release/rbx
fi

DEMO=$ROOT/target/forge-sim-demo/$MODE
rm -rf "$DEMO"
mkdir -p "$DEMO"
FORGE_SIM_STATE=$DEMO/sim
PATH=$HERE/bin:$PATH
RBX_OPERATOR=${RBX_OPERATOR:-${USER:-forge-sim-demo}}
export FORGE_SIM_STATE PATH RBX_OPERATOR

echo "== forge simulator: $MODE"
forge-sim init "$MODE"

# The manual smoke items, as an operator would do them by hand against the
# simulator. Their evidence is what the answers file records.
echo "== manual smoke items, by hand (simulated)"
if forge up --count 1 --name smoke-loop; then
  forge logs smoke-loop
fi
if forge agent spawn smoke-agent; then
  forge agent ls
  forge agent stop smoke-agent || true
fi

echo "== rbx run runbooks/post-cutover.runbook ($MODE)"
start=$(date +%s)
set +e
"$RBX" run runbooks/post-cutover.runbook \
  --fill examples/forge-sim/fill.toml \
  --answers "examples/forge-sim/answers-$MODE.toml" \
  --non-interactive \
  --state-dir "$DEMO/rbx" \
  --set rust_version=2.0.0 \
  --set go_version=1.9.4 \
  --set "freeze_cmd=forge-sim freeze" \
  --set "switch_to_go_cmd=forge-sim switch go"
status=$?
set -e
elapsed=$(($(date +%s) - start))

echo "== rbx status"
"$RBX" status --state-dir "$DEMO/rbx" || echo "(rbx status failed)"

echo "== forge simulator state"
forge-sim state

# What a program reads: the run's status as JSON (`rbx status --format
# json`, documented in the book's CLI reference).
json=$("$RBX" status --format json --state-dir "$DEMO/rbx")
outcome=$(printf '%s\n' "$json" | sed -n 's/.*"outcome":"\([a-z_]*\)".*/\1/p')
echo "== outcome: $outcome (rbx exit status $status, ${elapsed}s; expected $EXPECTED)"
echo "   everything is in $DEMO"
[ "$outcome" = "$EXPECTED" ]
