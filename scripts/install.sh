#!/usr/bin/env bash
# Install what kumo needs and is missing: Debian packages (apt-get), the
# virtualenv .venv with kumo in it, and the `kumo` and `openstack` commands on PATH.
# Fast when everything is there already.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

lists=(scripts/host-packages.txt)
for extra in images/cirros/host-packages.txt tests/integration/host-packages.txt; do
  [ -f "$extra" ] && lists+=("$extra")
done
missing=()
for pkg in $(grep -hv '^\s*#' "${lists[@]}" | tr -s ' \n' '\n' | sort -u); do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "apt-get install: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # kumo starts the daemons it needs itself: keep packages (libvirt, rabbitmq)
  # from starting their system services while they install.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.kumo-installed
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "pip install kumo (virtualenv .venv)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[host,test]"
  touch "$stamp"
fi

for cmd in kumo openstack; do
  target=/usr/local/bin/$cmd
  if [ -w /usr/local/bin ] && { [ ! -e "$target" ] || [ -L "$target" ]; }; then
    ln -sfn "$top/.venv/bin/$cmd" "$target"
  fi
done
