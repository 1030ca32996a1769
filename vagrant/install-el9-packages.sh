#!/usr/bin/env bash
# vagrant/install-el9-packages.sh - the EL9 system packages, for `make` on an
# EL9 machine (the Makefile's system-deps target calls it) and for provision.sh.
#
# Installs EPEL (for busybox), the lab VM's packages (lib.sh: EL_PACKAGES) and
# the peers the test suite compares minidocker with (EL_TEST_PACKAGES), plus any
# package names given as arguments. Only what is missing is installed.
#
# Not installed: `curl` (EL9 ships curl-minimal, which conflicts with it and
# already provides /usr/bin/curl); umoci and docker-registry (not in EL9's
# repositories: the tests that need them skip with a message).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root" "sudo bash $0"
[ "$(os_family)" = el ] || die "this script is for EL9; on Debian/Ubuntu use apt-get"
ensure_epel
# shellcheck disable=SC2086  # the lists are split into names on purpose
install_packages el $EL_PACKAGES $EL_TEST_PACKAGES "$@"
tally
