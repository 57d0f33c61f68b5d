#!/usr/bin/env bash
# A private RabbitMQ broker for kumo's rabbit:// bus, with all of its state in one directory.
#
#   scripts/rabbitmq.sh start DIR [PORT]   start a broker (AMQP on 127.0.0.1:PORT, default 5672);
#                                          prints its bus URL: rabbit://kumo:PASSWORD@127.0.0.1:PORT/kumo
#   scripts/rabbitmq.sh stop DIR           stop it, then kill whatever of it is left
#   scripts/rabbitmq.sh status DIR         exit 0 if it is running
#   scripts/rabbitmq.sh url DIR            print the bus URL again
#   scripts/rabbitmq.sh install            apt-get install rabbitmq-server without starting the
#                                          distribution's own broker (no systemd needed)
#
# DIR holds everything: the Erlang cookie (DIR/home/.erlang.cookie), the database (DIR/mnesia),
# logs (DIR/log), the config and the kumo user's password. Nothing is read from /etc/rabbitmq or
# written to /var/lib/rabbitmq, so this broker runs next to a system one (use another PORT).
#
# Environment: RABBITMQ_START_TIMEOUT (seconds, default 60) bounds the start,
# RABBITMQ_STOP_TIMEOUT (default 30) the stop; KUMO_RABBIT_DIST_PORT (default PORT+20000) and
# KUMO_RABBIT_EPMD_PORT (default 4369) choose the Erlang distribution and port-mapper ports.
set -euo pipefail

RMQ_BIN=/usr/lib/rabbitmq/bin
START_TIMEOUT=${RABBITMQ_START_TIMEOUT:-60}
STOP_TIMEOUT=${RABBITMQ_STOP_TIMEOUT:-30}

die() { echo "rabbitmq.sh: $*" >&2; exit 1; }

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# The absolute path of an existing broker directory.
broker_dir() { [ -d "$1" ] || die "no broker in $1"; (cd "$1" && pwd); }

# Write DIR/env (the broker's whole environment) for a new broker.
configure() {
  local dir=$1 port=$2
  local dist=${KUMO_RABBIT_DIST_PORT:-$((port + 20000))}
  local epmd=${KUMO_RABBIT_EPMD_PORT:-4369}
  local node="kumo-$port@localhost"
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
  chmod 700 "$dir" "$dir/home"
  [ -f "$dir/password" ] || (umask 077; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/password")
  echo '[].' > "$dir/enabled_plugins"
  # Keep the broker quiet on disk: no plugins, logs to its own files.
  printf 'log.console = false\nlog.file.level = info\n' > "$dir/rabbitmq.conf"
  : > "$dir/rabbitmq-env.conf"
  cat > "$dir/env" <<EOF
export HOME='$dir/home'
export RABBITMQ_NODENAME='$node'
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=$dist
export ERL_EPMD_PORT=$epmd
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
export RABBITMQ_CONF_ENV_FILE='$dir/rabbitmq-env.conf'
export RABBITMQ_CONFIG_FILE='$dir/rabbitmq.conf'
export RABBITMQ_ADVANCED_CONFIG_FILE='$dir/advanced.config'
export RABBITMQ_ENABLED_PLUGINS_FILE='$dir/enabled_plugins'
export RABBITMQ_MNESIA_BASE='$dir/mnesia'
export RABBITMQ_LOG_BASE='$dir/log'
export RABBITMQ_PID_FILE='$dir/mnesia/broker.pid'
KUMO_RABBIT_PORT=$port
KUMO_RABBIT_EPMD_PORT=$epmd
EOF
}

load_env() {
  local dir=$1
  [ -f "$dir/env" ] || die "no broker in $dir (run: $0 start $dir)"
  # shellcheck disable=SC1091
  . "$dir/env"
}

ctl() { timeout "$1" "$RMQ_BIN/rabbitmqctl" -q -n "$RABBITMQ_NODENAME" "${@:2}"; }

url() {
  echo "rabbit://kumo:$(cat "$1/password")@127.0.0.1:$KUMO_RABBIT_PORT/kumo"
}

alive() { [ -f "$1/server.pid" ] && kill -0 "$(cat "$1/server.pid")" 2>/dev/null; }

epmd_running() { timeout 5 epmd -port "$KUMO_RABBIT_EPMD_PORT" -names >/dev/null 2>&1; }

# Wait (at most START_TIMEOUT seconds) until the broker has booted. `await_startup` fails at once
# while the node is not yet registered with epmd, so it is retried while the broker process lives.
await_startup() {
  local dir=$1 deadline=$((SECONDS + START_TIMEOUT)) left
  while alive "$dir"; do
    left=$((deadline - SECONDS))
    [ "$left" -gt 0 ] || return 1
    ctl "$((left + 5))" await_startup --timeout "$left" >> "$dir/log/ctl.log" 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

cmd_start() {
  local dir port
  [ $# -ge 1 ] || usage
  mkdir -p "$1"
  dir=$(cd "$1" && pwd)
  port=${2:-5672}
  [ -x "$RMQ_BIN/rabbitmq-server" ] || die "rabbitmq-server is not installed (run: $0 install)"
  if [ -f "$dir/env" ]; then load_env "$dir"; fi
  if alive "$dir"; then url "$dir"; return 0; fi
  configure "$dir" "$port"
  load_env "$dir"
  # Remember whether we bring up the Erlang port mapper, so that stop can take it down again.
  if epmd_running; then rm -f "$dir/started-epmd"; else touch "$dir/started-epmd"; fi
  # Own session: the broker and its children are one process group that stop can kill.
  setsid "$RMQ_BIN/rabbitmq-server" > "$dir/log/console.log" 2>&1 < /dev/null &
  echo $! > "$dir/server.pid"
  if ! await_startup "$dir"; then
    echo "rabbitmq.sh: broker did not start within ${START_TIMEOUT}s; last log lines:" >&2
    tail -n 20 "$dir/log/console.log" >&2 || true
    cmd_stop "$dir" >&2 || true
    exit 1
  fi
  {
    ctl 30 add_vhost kumo
    ctl 30 add_user kumo "$(cat "$dir/password")"
    ctl 30 set_permissions -p kumo kumo '.*' '.*' '.*'
  } >> "$dir/log/ctl.log" 2>&1 || { cmd_stop "$dir" >&2 || true; die "could not create the kumo user (see $dir/log/ctl.log)"; }
  url "$dir"
}

cmd_stop() {
  local dir=$1 pid i
  load_env "$dir"
  if alive "$dir"; then
    pid=$(cat "$dir/server.pid")
    ctl "$STOP_TIMEOUT" stop >> "$dir/log/ctl.log" 2>&1 || true
    # Leftovers (a stuck VM, its port helpers): the broker's own process group, by its id.
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -TERM -- "-$pid" 2>/dev/null || true
    for i in $(seq 1 30); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$dir/server.pid"
  # The port mapper was started by our broker: stop it unless another node still uses it.
  if [ -f "$dir/started-epmd" ] && epmd_running; then
    if ! timeout 5 epmd -port "$KUMO_RABBIT_EPMD_PORT" -names 2>/dev/null | grep -q '^name '; then
      timeout 5 epmd -port "$KUMO_RABBIT_EPMD_PORT" -kill >/dev/null 2>&1 || true
    fi
  fi
  rm -f "$dir/started-epmd"
}

cmd_status() {
  load_env "$1"
  alive "$1" && ctl 15 status > /dev/null 2>&1
}

cmd_install() {
  if dpkg-query -W -f='${Status}' rabbitmq-server 2>/dev/null | grep -q 'install ok installed'; then
    return 0
  fi
  # Without systemd the package's postinst would start the system broker (and fail the install
  # if that fails): a policy-rc.d that denies service starts keeps apt-get from trying.
  local policy=/usr/sbin/policy-rc.d added=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; added=1
  fi
  trap '[ -n "$added" ] && rm -f "$policy"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q > /dev/null
  apt-get install -y -q --no-install-recommends rabbitmq-server > /dev/null
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) [ $# -eq 2 ] || usage; dir=$(broker_dir "$2"); cmd_stop "$dir" ;;
  status) [ $# -eq 2 ] || usage; dir=$(broker_dir "$2"); cmd_status "$dir" ;;
  url) [ $# -eq 2 ] || usage; dir=$(broker_dir "$2"); load_env "$dir"; url "$dir" ;;
  install) cmd_install ;;
  *) usage ;;
esac
