# kumo: an OpenStack-compatible cloud on one machine.  See README.md.
SHELL := /bin/bash
VENV := .venv
IMAGE := build/cirros.qcow2
PYTEST_ARGS ?=

.PHONY: up down status test unit install image image-debian bench bench-identity bench-network bench-compute tempest

up: install image
	$(VENV)/bin/kumo up --image $(IMAGE)

down:
	@$(VENV)/bin/kumo down

status:
	@$(VENV)/bin/kumo status

install:
	@scripts/install.sh

image: install
	@images/cirros/build.sh $(IMAGE)

# Debian 12 with the real cloud-init (debootstrap; cached by recipe in build/debian.qcow2.stamp),
# uploaded as the public image `debian` when a cloud answers (OS_CLOUD, default admin).
image-debian: install
	@scripts/debian-image.sh --upload build/debian.qcow2

# The whole suite: unit and API tests, then (as root) integration and e2e tests.
test: install image
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

unit: install
	$(VENV)/bin/pytest -q tests/unit tests/api

bench: install image
	$(VENV)/bin/python -m bench.run
	$(VENV)/bin/python -m bench.identity

# kumo's identity API against upstream Keystone (uwsgi, 2 workers), token issue and validate
# (bench/results/identity.json; BENCH_ARGS: e.g. --seconds 5).  Never touches the running cloud.
bench-identity: install
	$(VENV)/bin/python -m bench.identity $(BENCH_ARGS)

# Networking: ports, routers, port lists, floating IP -> first ping (bench/results/network.json) against
# a cloud of clouds.yaml (root on its host for the namespace checks).  BENCH_ARGS: e.g. --cloud admin
# --with-vm --only ports,routers.  In a sandbox: scripts/sandbox.sh exec NAME .venv/bin/python -m bench.network
bench-network: install
	$(VENV)/bin/python -m bench.network $(BENCH_ARGS)

# Compute: scheduling decisions at 1000 fake hosts (in-process), GET /servers/detail with 1000 servers and
# 20 concurrent boots against a cloud of clouds.yaml (bench/results/compute.json).  BENCH_ARGS: e.g.
# --only sched.  In a sandbox (fake driver): scripts/sandbox.sh exec NAME .venv/bin/python -m bench.compute
bench-compute: install
	$(VENV)/bin/python -m bench.compute $(BENCH_ARGS)

# Tempest against the running cloud.  AREA: identity image compute network volume object_storage
# scenario smoke; TEMPEST_ARGS: extra `tempest run` options.  Workspace and results in build/tempest,
# counts in docs/conformance.md.  See scripts/tempest.py.
tempest: install
	$(VENV)/bin/python scripts/tempest.py $(AREA) $(TEMPEST_ARGS)
