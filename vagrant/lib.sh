# shellcheck shell=bash
# vagrant/lib.sh - shared helpers for the lab VM's provisioning scripts.
#
# Sourced by provision.sh (and cgroup-mode.sh); never run on its own.
#
# Map of this file:
#   reporting     ok/changed/skip/fail lines and the closing tally
#   os detection  os_family: "el" (CentOS Stream 9, Alma, Rocky, RHEL 9) or "debian"
#   packages      the package names per family, and install-only-what-is-missing
#   files         put_file: write a file only when its content or mode differs
#
# Idempotence is the rule of every helper here: each one first checks the
# state it wants, reports "ok" when it is already there, and only acts (and
# reports "changed") when it is not. The test runs provision.sh twice and
# requires "0 changed" the second time.

MD_CHANGED=0
MD_OK=0
MD_SKIPPED=0

# --- reporting ---------------------------------------------------------------

ok()      { MD_OK=$((MD_OK + 1));           printf '[ok]      %s\n' "$*"; }
changed() { MD_CHANGED=$((MD_CHANGED + 1)); printf '[changed] %s\n' "$*"; }
skip()    { MD_SKIPPED=$((MD_SKIPPED + 1)); printf '[skip]    %s\n' "$*"; }
info()    { printf '          %s\n' "$*"; }
die()     { printf '[failed]  %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'hint: %s\n' "$2" >&2; exit 1; }

tally() {
    printf 'provision: %d changed, %d ok, %d skipped\n' "$MD_CHANGED" "$MD_OK" "$MD_SKIPPED"
}

# --- os detection ------------------------------------------------------------

# os_family: prints "el" or "debian" from /etc/os-release (ID and ID_LIKE),
# or fails naming what it found. EL9 clones all say ID_LIKE="rhel centos fedora"
# or similar; Ubuntu says ID_LIKE=debian.
os_family() {
    local f=${MINIDOCKER_OS_RELEASE:-/etc/os-release} id="" like="" version=""  # tests point it at samples
    # shellcheck disable=SC1090  # the file is the guest's, not ours
    id=$(. "$f" && printf '%s' "${ID:-}")
    # shellcheck disable=SC1090
    like=$(. "$f" && printf '%s' "${ID_LIKE:-}")
    # shellcheck disable=SC1090
    version=$(. "$f" && printf '%s' "${VERSION_ID:-}")
    case " $id $like " in
        *" rhel "* | *" centos "* | *" fedora "*)
            case "$version" in
                9 | 9.*) printf 'el\n' ;;
                *) die "EL family release $version is not supported ($id)" \
                       "use an EL9 box: bento/centos-stream-9, bento/almalinux-9, bento/rockylinux-9" ;;
            esac ;;
        *" debian "* | *" ubuntu "*) printf 'debian\n' ;;
        *) die "unsupported distribution: ID=$id ID_LIKE=$like" \
               "use an EL9 box (see docs/lab-vm.md) or Debian 12 / Ubuntu 22.04+" ;;
    esac
}

# --- packages ----------------------------------------------------------------

# Why each package is here:
#   python            the course's interpreter (EL9: 3.12 from AppStream; Debian 12: 3.11)
#   gcc, make         C examples in the lessons, and any wheel that must compile
#   iproute(2)        `ip` for the networking lessons
#   iptables, nftables the NAT and port-publishing lessons (EL9: the nft backend)
#   busybox           the static binary the offline base image is made of
#   skopeo, runc      the real tools the lessons compare minidocker with
#   git, curl         fetching exercises; the provisioning's own health check
#   kmod, procps      modprobe and sysctl
# shellcheck disable=SC2034  # used by the scripts that source this file
EL_PACKAGES="python3.12 python3.12-pip gcc make git iproute iptables-nft nftables
busybox skopeo runc kmod procps-ng tar"
# shellcheck disable=SC2034
DEBIAN_PACKAGES="python3 python3-venv gcc make git iproute2 iptables nftables
busybox-static skopeo runc kmod procps curl ca-certificates systemd"

# Peers the test suite compares minidocker with, and headers for wheels that
# must compile (python3.12-devel). EL9 has no umoci or docker-registry package.
# shellcheck disable=SC2034
EL_TEST_PACKAGES="crun httpd-tools python3.12-devel util-linux"

# missing_packages FAMILY PKG...: prints the packages that are not installed.
missing_packages() {
    local family=$1 pkg
    shift
    for pkg in "$@"; do
        if [ "$family" = el ]; then
            rpm -q "$pkg" >/dev/null 2>&1 || printf '%s\n' "$pkg"
        else
            dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
                || printf '%s\n' "$pkg"
        fi
    done
}

# install_packages FAMILY PKG...: installs exactly the missing ones.
install_packages() {
    local family=$1 missing
    shift
    missing=$(missing_packages "$family" "$@" | tr '\n' ' ')
    if [ -z "${missing// /}" ]; then
        ok "packages: $*"
        return 0
    fi
    # $missing is a space-separated list of package names: split on purpose
    if [ "$family" = el ]; then
        # shellcheck disable=SC2086
        dnf -y -q install $missing
    else
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $missing >/dev/null
    fi
    changed "packages installed: $missing"
}

# ensure_epel: EPEL carries busybox. CentOS Stream, Alma and Rocky ship
# epel-release in their extras repository; RHEL proper needs the release RPM.
ensure_epel() {
    if rpm -q epel-release >/dev/null 2>&1; then
        ok "EPEL repository"
        return 0
    fi
    dnf -y -q install epel-release \
        || dnf -y -q install "https://dl.fedoraproject.org/pub/epel/epel-release-latest-9.noarch.rpm"
    changed "EPEL repository enabled"
}

# --- files -------------------------------------------------------------------

# put_file MODE DEST [SRC]: installs SRC (or stdin) as DEST with MODE, only if
# the content or the mode differs. Returns 0 if it changed something, 1 if not,
# so callers can restart a service only when its files changed.
put_file() {
    local mode=$1 dest=$2 src=${3:-} tmp
    tmp=$(mktemp)
    if [ -n "$src" ]; then cat "$src" >"$tmp"; else cat >"$tmp"; fi
    if [ -f "$dest" ] && cmp -s "$tmp" "$dest" \
        && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
        rm -f "$tmp"
        ok "file $dest"
        return 1
    fi
    mkdir -p "$(dirname "$dest")"
    install -m "$mode" "$tmp" "$dest"
    rm -f "$tmp"
    changed "file $dest"
    return 0
}
