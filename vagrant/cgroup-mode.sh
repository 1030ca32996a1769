#!/usr/bin/env bash
# vagrant/cgroup-mode.sh - boot the lab VM with cgroup v1 (hybrid) or v2.
#
#   cgroup-mode.sh status   which mode runs now, which one the next boot gets
#   cgroup-mode.sh v1       next boot: v1 controllers (the seed's v1 walkthrough)
#   cgroup-mode.sh v2       next boot: the unified v2 hierarchy (EL9's default)
#
# From the laptop:
#   vagrant provision --provision-with cgroup-v1 && vagrant reload
#   vagrant provision --provision-with cgroup-v2 && vagrant reload
#
# How: systemd decides the layout at boot from the kernel command line.
# `systemd.unified_cgroup_hierarchy=0` makes it mount the v1 controllers under
# /sys/fs/cgroup/<controller> and v2 at /sys/fs/cgroup/unified ("hybrid", as on
# the machine the course was written on). Removing it gives pure v2 again.
# EL9: `grubby --update-kernel=ALL --args=...` (also applies to kernels that
# updates install later). Debian/Ubuntu: GRUB_CMDLINE_LINUX in
# /etc/default/grub, then update-grub. Either way it takes a reboot.
#
# EL9's systemd (252) still supports v1; systemd 256+ (EL10, Debian 13) does
# not, so on those this switch boots but systemd refuses the v1 layout.
#
# Self-contained (Vagrant uploads this file alone). Idempotent.
set -euo pipefail

ARG="systemd.unified_cgroup_hierarchy=0"
GRUB_DEFAULTS=${MINIDOCKER_GRUB_DEFAULTS:-/etc/default/grub}  # tests point it at a copy
UPDATE_GRUB=${MINIDOCKER_UPDATE_GRUB:-update-grub}

running_mode() {
    # /sys/fs/cgroup is cgroup2 itself on v2, a tmpfs of v1 mounts otherwise
    if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then echo v2; else echo v1; fi
}

# --- EL9: grubby edits every installed kernel's boot entry -------------------
el_configured() {
    if grubby --info=ALL | grep '^args=' | grep -q -- "$ARG"; then echo v1; else echo v2; fi
}

el_set() {
    if [ "$1" = v1 ]; then
        grubby --update-kernel=ALL --args="$ARG"
    else
        grubby --update-kernel=ALL --remove-args="$ARG"
    fi
}

# --- Debian/Ubuntu: GRUB_CMDLINE_LINUX in /etc/default/grub ------------------
deb_configured() {
    if grep -q "^GRUB_CMDLINE_LINUX=.*$ARG" "$GRUB_DEFAULTS"; then echo v1; else echo v2; fi
}

deb_set() {
    local tmp
    tmp=$(mktemp)
    if [ "$1" = v1 ]; then
        # append inside the quotes: GRUB_CMDLINE_LINUX="quiet" -> "quiet systemd..."
        sed -E "s/^(GRUB_CMDLINE_LINUX=\")(.*)\"/\1\2 $ARG\"/; s/^(GRUB_CMDLINE_LINUX=\") /\1/" \
            "$GRUB_DEFAULTS" >"$tmp"
    else
        sed -E "/^GRUB_CMDLINE_LINUX=/{s/ ?$ARG//g; s/=\" /=\"/}" "$GRUB_DEFAULTS" >"$tmp"
    fi
    cat "$tmp" >"$GRUB_DEFAULTS"
    rm -f "$tmp"
    $UPDATE_GRUB
}

main() {
    local want=${1:-status} configured
    if command -v grubby >/dev/null; then
        configured=$(el_configured)
    elif [ -f "$GRUB_DEFAULTS" ]; then
        grep -q '^GRUB_CMDLINE_LINUX=' "$GRUB_DEFAULTS" \
            || echo 'GRUB_CMDLINE_LINUX=""' >>"$GRUB_DEFAULTS"
        configured=$(deb_configured)
    else
        echo "cgroup-mode: neither grubby nor $GRUB_DEFAULTS found; cannot set kernel arguments" >&2
        exit 1
    fi
    case "$want" in
        status)
            echo "running: cgroup $(running_mode); next boot: cgroup $configured"
            return 0 ;;
        v1 | v2) ;;
        *)
            echo "usage: $0 v1|v2|status" >&2
            exit 2 ;;
    esac
    if [ "$configured" = "$want" ]; then
        echo "[ok]      next boot already uses cgroup $want"
    else
        if command -v grubby >/dev/null; then el_set "$want"; else deb_set "$want"; fi
        echo "[changed] next boot uses cgroup $want"
    fi
    if [ "$(running_mode)" != "$want" ]; then
        echo "reboot to apply: 'vagrant reload' on the laptop (or 'sudo reboot' inside)"
    fi
}

main "$@"
