#!/usr/bin/env bash
# A private kumo cloud in its own network namespace, for developing and running Tempest side by side
# with the main cloud (ports 5000, 9292, ... are per namespace, so nothing clashes).
#
#   scripts/sandbox.sh up NAME            start (or restart) the sandbox cloud NAME with the working tree's code
#   scripts/sandbox.sh exec NAME CMD...   run CMD inside it (openstack, tempest, curl ...)
#   scripts/sandbox.sh tempest NAME AREA [tempest run args]   scripts/tempest.py inside it
#   scripts/sandbox.sh down NAME          stop it and remove its namespace and state
#
# State lives in /var/lib/kumo-sandbox/NAME (settings, databases, logs/kumo.log, clouds.yaml, tempest
# workspace). Compute uses the fake virt driver unless SANDBOX_DRIVER=libvirt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: sandbox.sh up|exec|tempest|down NAME ...}
name=${2:?sandbox name}
shift 2
ns="kumo-sb-$name"
state="/var/lib/kumo-sandbox/$name"
export KUMO_CONFIG="$state/kumo.toml" KUMO_STATE_DIR="$state" OS_CLIENT_CONFIG_FILE="$state/clouds.yaml"
export TEMPEST_WORKSPACE="$state/tempest" KUMO_LOG="$state/logs/kumo.log"
export KUMO_COMPUTE__DRIVER="${SANDBOX_DRIVER:-fake}" PATH="$ROOT/.venv/bin:$PATH"

in_ns() { ip netns exec "$ns" "$@"; }

case "$cmd" in
  up)
    mkdir -p "$state"
    if ! ip netns list | grep -qw "$ns"; then
      ip netns add "$ns"
    fi
    ip -n "$ns" link set lo up
    in_ns kumo down >/dev/null 2>&1 || true
    in_ns kumo up --image "$ROOT/build/cirros.qcow2"
    ;;
  exec)
    in_ns "$@"
    ;;
  tempest)
    in_ns "$ROOT/.venv/bin/python" "$ROOT/scripts/tempest.py" "$@"
    ;;
  down)
    if ip netns list | grep -qw "$ns"; then
      in_ns kumo down || true
      ip netns delete "$ns"
    fi
    rm -rf "$state"
    ;;
  *)
    echo "unknown command $cmd" >&2; exit 2 ;;
esac
