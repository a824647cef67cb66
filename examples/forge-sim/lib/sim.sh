# forge-sim: shared helpers for the forge simulator.
#
# THIS IS A SIMULATOR. It stands in for `forge` and `fmail` in the rbx demo
# and tests (examples/forge-sim/); it is not forge and does nothing forge
# does. Sourced by bin/forge, bin/fmail and bin/forge-sim.
#
# State lives in $FORGE_SIM_STATE (default ./.forge-sim):
#   runtime        rust | go: which build is the primary entrypoint
#   rust.version   go.version: what `forge --version` reports for each
#   broken         surfaces broken in the Rust build, one per line
#                  (version doctor migrations loops agents fmail tui)
#   frozen         present once deploys are frozen
#   events.log     side effects (freeze, switch), one line each
#   loops          NAME STATE ITERATIONS RUNTIME, one loop per line
#   agents         agents spawned, one name per line
#   fmail/TOPIC    messages sent to TOPIC, one per line

SIM_STATE=${FORGE_SIM_STATE:-./.forge-sim}

sim_die() {
  echo "$SIM_NAME: $*" >&2
  exit 1
}

sim_need_state() {
  [ -f "$SIM_STATE/runtime" ] ||
    sim_die "no simulator state in $SIM_STATE (run: forge-sim init healthy|broken)"
}

sim_now() {
  date -u +%Y-%m-%dT%H:%M:%SZ
}

sim_event() {
  echo "$(sim_now) $*" >>"$SIM_STATE/events.log"
}

sim_runtime() {
  cat "$SIM_STATE/runtime"
}

sim_version() {
  cat "$SIM_STATE/$(sim_runtime).version"
}

# True when SURFACE is broken in the build that is live now. Only the Rust
# build can be broken: the Go build is the known-good rollback target.
sim_broken() {
  [ "$(sim_runtime)" = rust ] && grep -qx "$1" "$SIM_STATE/broken" 2>/dev/null
}

# tmux, on the server of $FORGE_SIM_TMUX_SOCKET if set (a name, as `tmux -L`,
# or a path, as `tmux -S`: tests use a server of their own); absent when
# tmux is not installed or FORGE_SIM_TMUX=0.
sim_has_tmux() {
  [ "${FORGE_SIM_TMUX:-1}" != 0 ] && command -v tmux >/dev/null 2>&1
}

sim_tmux() {
  case ${FORGE_SIM_TMUX_SOCKET:-} in
    '') tmux "$@" ;;
    */*) tmux -S "$FORGE_SIM_TMUX_SOCKET" "$@" ;;
    *) tmux -L "$FORGE_SIM_TMUX_SOCKET" "$@" ;;
  esac
}
