# shellcheck shell=bash
# apt_install PKG...: apt-get update once per hour (stamp in the cache), then install.
apt_install() {
  local stamp="$OTEL_REPLAY_CACHE/.apt-updated"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  # serialize concurrent installs (setup-all runs some in parallel)
  exec 9>"$OTEL_REPLAY_CACHE/.apt.lock"
  flock 9
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +60 2>/dev/null)" ]; then
    log "apt: apt-get update"
    $sudo apt-get update -q >/dev/null
    touch "$stamp"
  fi
  log "apt: installing $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@" >/dev/null
  flock -u 9
}
