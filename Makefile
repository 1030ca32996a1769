# minidocker lab kit: the two commands.
#   make lab    install what is missing, build the offline base image, start JupyterLab
#   make test   install what is missing, run the whole suite (notebooks and labs included)
# Run as root on Debian 12 / Ubuntu or an EL9 (CentOS Stream 9, AlmaLinux, Rocky).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
JUPYTER_HOST ?= 127.0.0.1
JUPYTER_PORT ?= 8888
PYTEST_ARGS ?=

# System packages, by family. Peers (runc, skopeo, umoci, crun, docker-registry)
# are here because tests use them to check what minidocker writes; e2fsprogs
# (mkfs.ext4) for the benches' scratch file system, which a test checks.
DEB_PKGS := python3 python3-venv python3-dev gcc make iproute2 iptables busybox-static \
	docker-registry runc skopeo umoci crun apache2-utils curl kmod util-linux e2fsprogs \
	qemu-system-x86 shellcheck vagrant debootstrap systemd docker.io
EL_PKGS := python3.12 python3.12-devel gcc make iproute iptables-nft nftables skopeo runc \
	crun httpd-tools curl kmod util-linux e2fsprogs

.PHONY: lab test test-fast system-deps venv base-image notebooks-test bench profile clean-state help

help:
	@echo "make lab    - set up everything and start JupyterLab on notebooks/"
	@echo "make test   - set up everything and run the whole test suite"
	@echo "make test-fast - unit + integration tests only (no notebooks, no VM guest)"
	@echo "make bench  - every speed/memory comparison against runc, crun, podman, skopeo, tar -> bench/results/"
	@echo "make profile - where 'minidocker run' and 'exec' spend their time -> bench/results/profile.md"

system-deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make: run as root (namespaces and cgroups need it)"; exit 1; fi
	@if command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	elif command -v dnf >/dev/null; then \
	  bash vagrant/install-el9-packages.sh; \
	else echo "make: neither apt-get nor dnf found: install the packages listed in the Makefile by hand"; exit 1; fi

# The first Python >= 3.10 that really runs (a pyenv shim for a version not selected only
# prints an error, so `command -v` is not enough): python3.12 on EL9, python3 on Debian 12.
PYTHON_FOR_VENV := $(shell for p in python3.12 python3.11 python3.10 python3; do \
	$$p -c 'import sys, venv; assert sys.version_info >= (3, 10)' >/dev/null 2>&1 && { echo $$p; break; }; done)

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON_FOR_VENV)" || { echo "make: no Python >= 3.10 with venv found (apt-get install python3-venv / dnf install python3.12)"; exit 1; }
	@test -x $(PY) || $(PYTHON_FOR_VENV) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[lab,test]' --config-settings editable_mode=compat
	$(PY) -m compileall -q minidocker labs bench >/dev/null   # .pyc up front: `minidocker run` starts faster
	@touch $@

venv: system-deps $(VENV)/.installed
	@$(PY) -m minidocker.launcher $(VENV)/bin/minidocker   # the command as python -I -S: ~4 ms less per call

base-image: venv
	$(PY) -m minidocker.image.base

lab: venv base-image
	$(VENV)/bin/jupyter lab --allow-root --no-browser --ip=$(JUPYTER_HOST) --port=$(JUPYTER_PORT) \
	  --ServerApp.root_dir=$(CURDIR)/notebooks

# The whole suite: tests/ (unit, real kernel, the v2 guest, the labs three ways), then
# every lesson with nbval. pytest exits 5 when it collects no test: a failure here.
NBVAL_ARGS := --nbval notebooks --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-cell-timeout=300
test: venv base-image
	-@$(PY) tests/vm/v2guest.py build >/dev/null 2>&1 || echo "make test: no cgroup v2 guest kernel here (its test will say why)"
	@rc=0; \
	$(PYTEST) -q -p no:cacheprovider $(PYTEST_ARGS) tests || rc=$$?; \
	if [ $$rc = 5 ]; then echo "make test: no tests were collected in tests/"; rc=1; fi; \
	nb=0; $(PYTEST) -q -p no:cacheprovider $(NBVAL_ARGS) || nb=$$?; \
	if [ $$nb = 5 ]; then echo "make test: no notebook was collected"; nb=1; fi; \
	echo "make test: tests/ exit $$rc, notebooks exit $$nb"; \
	[ $$rc = 0 ] && [ $$nb = 0 ]

test-fast: venv
	$(PYTEST) -q -x -p no:cacheprovider -m "not slow" --ignore=tests/integration/test_v2_guest.py \
	  --ignore=tests/integration/test_vagrant_provision.py tests/unit tests/integration

# Peers only the benchmarks need (podman is large, so it is not in DEB_PKGS).
BENCH_DEB_PKGS := podman crun runc skopeo
bench: venv base-image
	@if command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(BENCH_DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	elif command -v dnf >/dev/null; then dnf install -y -q podman crun runc skopeo; fi
	$(PY) -m pip install -q -e '.[bench]' --config-settings editable_mode=compat
	$(PY) -m bench.run $(BENCH_ARGS)

# Where `minidocker run` and `exec` spend their time (pyinstrument, py-spy, -X importtime)
profile: venv base-image
	$(PY) -m pip install -q -e '.[bench]' --config-settings editable_mode=compat
	$(PY) -m bench.profile

clean-state:
	-$(VENV)/bin/minidocker system prune -f
