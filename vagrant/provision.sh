#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# vagrant/provision.sh - make this machine the minidocker lab VM. Idempotent.
#
# Run as root by `vagrant up` / `vagrant provision` (see ../Vagrantfile), or by
# hand: `sudo MINIDOCKER_SRC=/path/to/checkout bash vagrant/provision.sh`.
# Works on any EL9 (CentOS Stream 9, AlmaLinux 9, Rocky 9, RHEL 9) and on
# Debian 12 / Ubuntu 22.04+ (which is how it is tested: docs/lab-vm.md).
#
# Every step checks first and prints "[ok]" when there is nothing to do or
# "[changed]" when it acted; the last line is the tally. A second run on a
# provisioned machine prints "0 changed".
#
# Steps, in order:
#   1. packages        python, gcc/make, ip, iptables/nft, busybox, skopeo/runc
#   2. kernel          overlay module now and at boot; IPv4 forwarding now and at boot
#   3. state           /var/lib/minidocker on a local filesystem (never the synced folder)
#   4. python          a virtualenv outside the synced folder, the project installed editable
#   5. base image      busybox:latest built offline into the image store (from busybox)
#   6. jupyterlab      token, settings, start script, systemd unit; enabled and running;
#                      firewalld (if running) lets its port and minidocker's bridge through
#   7. url             print the URL (again later with `sudo minidocker-lab-url`)
#
# Settings (environment variables, all optional; the Vagrantfile passes them):
#   MINIDOCKER_SRC            the project checkout (default /vagrant, the synced folder)
#   MINIDOCKER_VENV           the virtualenv (default /opt/minidocker/venv)
#   MINIDOCKER_LAB_IP         address JupyterLab listens on inside the VM (default 0.0.0.0)
#   MINIDOCKER_LAB_PORT       its port inside the VM (default 8888)
#   MINIDOCKER_LAB_HOST_PORT  the port on the laptop, for the printed URL (default = LAB_PORT)
set -euo pipefail

SRC=${MINIDOCKER_SRC:-/vagrant}
# Vagrant uploads this one file to /tmp and runs it there; its companions
# (lib.sh, the unit, the start script) are then read from the synced project.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -f "$HERE/lib.sh" ] || HERE=$SRC/vagrant
if [ ! -f "$HERE/lib.sh" ]; then
    echo "provision.sh: $HERE/lib.sh not found: is the project synced at $SRC?" >&2
    exit 1
fi
# shellcheck source=lib.sh
. "$HERE/lib.sh"

VENV=${MINIDOCKER_VENV:-/opt/minidocker/venv}
LAB_IP=${MINIDOCKER_LAB_IP:-0.0.0.0}
LAB_PORT=${MINIDOCKER_LAB_PORT:-8888}
LAB_HOST_PORT=${MINIDOCKER_LAB_HOST_PORT:-$LAB_PORT}
ETC=/etc/minidocker                      # lab settings and the token (root only)
STATE=/var/lib/minidocker                # = params.DEFAULT_LIB: images, containers, volumes
LIBEXEC=/usr/local/libexec/minidocker    # the JupyterLab start script
UNIT=minidocker-lab.service
LAB_RESTART=0                            # set to 1 when something JupyterLab runs on changed

[ "$(id -u)" = 0 ] || die "provision.sh must run as root" "sudo bash $0"
[ -f "$SRC/pyproject.toml" ] || die "no project at $SRC (pyproject.toml missing)" \
    "set MINIDOCKER_SRC to the checkout, or check the Vagrantfile's synced folder"
FAMILY=$(os_family)
info "provisioning a $FAMILY machine from $SRC"

# --- 1. packages -------------------------------------------------------------
step_packages() {
    if [ "$FAMILY" = el ]; then
        ensure_epel
        # shellcheck disable=SC2086  # word splitting of the list is wanted
        install_packages el $EL_PACKAGES
    else
        # shellcheck disable=SC2086
        install_packages debian $DEBIAN_PACKAGES
    fi
    # The base image must be a *static* busybox: it runs alone in an empty root.
    local bb
    bb=$(command -v busybox) || die "busybox not found after installing it"
    if ldd "$bb" >/dev/null 2>&1; then
        die "$bb is dynamically linked; the offline base image needs a static busybox" \
            "install a static busybox (Debian: busybox-static; EL9: EPEL busybox)"
    fi
    ok "static busybox at $bb"
    # minidocker.image.base reads /bin/busybox (Debian's path); EPEL's is /usr/sbin/busybox
    if [ -e /bin/busybox ]; then ok "/bin/busybox"; else
        ln -s "$bb" /bin/busybox
        changed "/bin/busybox -> $bb"
    fi
}

# --- 2. kernel ---------------------------------------------------------------
step_kernel() {
    # overlay: built into some kernels, a module on EL9. /proc/filesystems
    # lists it once it is available either way.
    if grep -qw overlay /proc/filesystems; then
        ok "overlay filesystem available"
    else
        modprobe overlay
        changed "overlay module loaded (modprobe overlay)"
    fi
    printf 'overlay\n' | put_file 0644 /etc/modules-load.d/minidocker.conf || true

    # Containers on the bridge reach the outside only if the VM routes for them.
    printf '# minidocker lab: containers on the bridge are routed and NATed\nnet.ipv4.ip_forward = 1\n' \
        | put_file 0644 /etc/sysctl.d/90-minidocker.conf || true
    if [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ]; then
        ok "net.ipv4.ip_forward = 1"
    else
        # only our file: `sysctl --system` would re-apply every other setting too
        sysctl -q -p /etc/sysctl.d/90-minidocker.conf
        changed "net.ipv4.ip_forward = 1 (sysctl -p)"
    fi
}

# --- 3. state ----------------------------------------------------------------
step_state() {
    if [ -d "$STATE" ]; then ok "state directory $STATE"; else
        install -d -m 0711 "$STATE"
        changed "state directory $STATE created"
    fi
    # overlay refuses upper directories on vboxsf/NFS/9p, and on overlayfs
    # itself (a container's root): state must be on a local disk filesystem
    local fstype
    fstype=$(stat -f -c %T "$STATE")
    case "$fstype" in
        nfs* | vboxsf | 9p | v9fs | fuse* | virtiofs | smb* | cifs | overlayfs)
            die "$STATE is on $fstype; overlay upper directories cannot live there" \
                "keep /var/lib/minidocker on the VM's own disk (do not sync it)" ;;
    esac
    ok "$STATE is on $fstype"
}

# --- 4. python ---------------------------------------------------------------
pick_python() {
    if [ "$FAMILY" = el ]; then command -v python3.12; else command -v python3; fi
}

step_python() {
    local py stamp want
    py=$(pick_python) || die "python not found after installing packages"
    # The venv stays off the synced folder: a Windows host's shared folder
    # cannot hold its symlinks, and a Linux/macOS host has its own .venv there.
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        ok "virtualenv $VENV"
    else
        rm -rf "$VENV"
        mkdir -p "$(dirname "$VENV")"
        "$py" -m venv "$VENV"
        changed "virtualenv $VENV ($("$VENV/bin/python" -V 2>&1))"
    fi
    # Reinstall only when the project's declared dependencies change: an
    # editable install sees code edits without reinstalling.
    want="$(sha256sum "$SRC/pyproject.toml" | cut -d' ' -f1) $SRC"
    stamp="$VENV/.minidocker-installed"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
        && "$VENV/bin/python" -c 'import minidocker, jupyterlab' 2>/dev/null; then
        ok "project installed in $VENV (editable, [lab,test])"
    else
        "$VENV/bin/python" -m pip install -q -e "${SRC}[lab,test]"
        printf '%s\n' "$want" >"$stamp"
        LAB_RESTART=1
        changed "project installed in $VENV (pip install -e '${SRC}[lab,test]')"
    fi
    # the `minidocker` command as `python -I -S` (minidocker/launcher.py: ~4 ms less per call)
    if "$VENV/bin/python" -c 'import sys; from minidocker.launcher import launcher_text
sys.exit(open(sys.argv[1]).read() != launcher_text())' "$VENV/bin/minidocker" 2>/dev/null; then
        ok "$VENV/bin/minidocker (python -I -S launcher)"
    else
        "$VENV/bin/python" -m minidocker.launcher "$VENV/bin/minidocker"
        changed "$VENV/bin/minidocker: python -I -S launcher"
    fi
    # `sudo minidocker ...` and root shells find the CLI here
    if [ "$(readlink /usr/local/bin/minidocker 2>/dev/null)" = "$VENV/bin/minidocker" ]; then
        ok "/usr/local/bin/minidocker"
    else
        ln -sfn "$VENV/bin/minidocker" /usr/local/bin/minidocker
        changed "/usr/local/bin/minidocker -> $VENV/bin/minidocker"
    fi
    if [ "$FAMILY" = el ]; then
        # EL's sudo resets PATH to /sbin:/bin:/usr/sbin:/usr/bin; add /usr/local/bin
        # so `sudo minidocker` and `sudo minidocker-lab-url` work as documented.
        if printf 'Defaults secure_path = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' \
            | put_file 0440 /etc/sudoers.d/minidocker; then
            visudo -c -q -f /etc/sudoers.d/minidocker || { rm -f /etc/sudoers.d/minidocker; die "sudoers drop-in rejected"; }
        fi
    fi
}

# --- 5. base image -----------------------------------------------------------
step_base_image() {
    local py="$VENV/bin/python"
    # MINIDOCKER_ROOT must not leak in: the image goes to the VM's real store.
    if ! env -u MINIDOCKER_ROOT "$py" -c 'from minidocker.image.base import ensure_base_image' 2>/dev/null; then
        skip "base image: this version of minidocker has no minidocker.image.base.ensure_base_image"
        return 0
    fi
    if env -u MINIDOCKER_ROOT "$py" -c \
        'from minidocker.image.store import Store; Store().resolve("busybox:latest")' 2>/dev/null; then
        ok "base image busybox:latest in the image store"
    else
        env -u MINIDOCKER_ROOT "$py" -c \
            'from minidocker.image.base import ensure_base_image; print(ensure_base_image().id)'
        changed "base image busybox:latest built (minidocker.image.base.ensure_base_image)"
    fi
}

# --- 6. jupyterlab -----------------------------------------------------------
step_lab_files() {
    install -d -m 0755 "$ETC"
    # The token is made once and kept: a re-provision must not change the URL.
    if [ -s "$ETC/lab-token" ]; then ok "token $ETC/lab-token"; else
        (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$ETC/lab-token")
        changed "token $ETC/lab-token generated"
    fi
    if [ "$(stat -c %a "$ETC/lab-token")" != 600 ]; then
        chmod 0600 "$ETC/lab-token"
        changed "token file made root-only"
    fi
    put_file 0644 "$ETC/lab.env" <<EOF && LAB_RESTART=1
# Written by vagrant/provision.sh on every run: change the Vagrantfile's
# settings (MINIDOCKER_LAB_*) instead, then \`vagrant provision\`.
MINIDOCKER_SRC=$SRC
MINIDOCKER_VENV=$VENV
LAB_IP=$LAB_IP
LAB_PORT=$LAB_PORT
LAB_HOST_PORT=$LAB_HOST_PORT
NOTEBOOK_DIR=$SRC/notebooks
EOF
    put_file 0755 "$LIBEXEC/lab-start" "$HERE/lab-start.sh" && LAB_RESTART=1
    put_file 0755 /usr/local/bin/minidocker-lab-url "$HERE/lab-url.sh" || true
    put_file 0644 "/etc/systemd/system/$UNIT" "$HERE/$UNIT" && LAB_RESTART=2
    if command -v selinuxenabled >/dev/null && selinuxenabled; then
        # Files made by pip and install(1) get their directory's default labels
        # (usr_t under /opt, bin_t under /usr/local); restorecon fixes any that
        # were copied with another label. No policy change is needed: systemd
        # runs a root service from usr_t/bin_t as unconfined_service_t.
        if [ -n "$(restorecon -R -n -v "$VENV" "$LIBEXEC" "/etc/systemd/system/$UNIT" "$ETC")" ]; then
            restorecon -R "$VENV" "$LIBEXEC" "/etc/systemd/system/$UNIT" "$ETC"
            changed "SELinux labels restored"
        else
            ok "SELinux labels"
        fi
        ok "SELinux mode: $(getenforce) (left as it is)"
    fi
}

lab_pid() {  # prints the pid of a JupyterLab started without systemd, if alive
    local pid
    pid=$(cat /run/minidocker-lab.pid 2>/dev/null) || return 1
    [ -n "$pid" ] && grep -qa jupyter "/proc/$pid/cmdline" 2>/dev/null && printf '%s\n' "$pid"
}

step_lab_service() {
    if [ -d /run/systemd/system ]; then
        # a normal boot: systemd is PID 1
        [ "$LAB_RESTART" = 2 ] && systemctl daemon-reload
        if systemctl is-enabled -q "$UNIT"; then ok "$UNIT enabled"; else
            systemctl enable -q "$UNIT"
            changed "$UNIT enabled (starts at boot)"
        fi
        if ! systemctl is-active -q "$UNIT"; then
            systemctl start "$UNIT"
            changed "$UNIT started"
        elif [ "$LAB_RESTART" != 0 ]; then
            systemctl restart "$UNIT"
            changed "$UNIT restarted (its files changed)"
        else
            ok "$UNIT running"
        fi
        return 0
    fi
    # No systemd as PID 1 (a chroot or container, as in this project's test):
    # the unit is still installed and enabled for the next real boot, and
    # JupyterLab is started directly with the same start script.
    if command -v systemctl >/dev/null; then
        if systemctl is-enabled -q "$UNIT" 2>/dev/null; then ok "$UNIT enabled"; else
            systemctl enable -q "$UNIT" 2>/dev/null
            changed "$UNIT enabled (offline: systemd is not running)"
        fi
    fi
    local pid
    if pid=$(lab_pid); then
        if [ "$LAB_RESTART" = 0 ]; then ok "JupyterLab running without systemd (pid $pid)"; return 0; fi
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    setsid "$LIBEXEC/lab-start" </dev/null >>/var/log/minidocker-lab.log 2>&1 &
    printf '%s\n' "$!" >/run/minidocker-lab.pid
    changed "JupyterLab started without systemd (pid $!, log /var/log/minidocker-lab.log)"
}

# EL boxes may run firewalld. Its default zone would drop the forwarded
# JupyterLab port, and its forward policy would drop containers' traffic on
# minidocker's bridge (mdk0 = params.BRIDGE_NAME). Open exactly those two.
step_firewall() {
    if ! command -v firewall-cmd >/dev/null || ! firewall-cmd --state >/dev/null 2>&1; then
        return 0  # no firewalld running: nothing to open
    fi
    if firewall-cmd -q --query-port="$LAB_PORT/tcp"; then ok "firewalld: $LAB_PORT/tcp open"; else
        firewall-cmd -q --add-port="$LAB_PORT/tcp"
        firewall-cmd -q --permanent --add-port="$LAB_PORT/tcp"
        changed "firewalld: $LAB_PORT/tcp opened (JupyterLab)"
    fi
    if firewall-cmd -q --zone=trusted --query-interface=mdk0; then ok "firewalld: mdk0 trusted"; else
        firewall-cmd -q --zone=trusted --add-interface=mdk0
        firewall-cmd -q --permanent --zone=trusted --add-interface=mdk0
        changed "firewalld: minidocker's bridge mdk0 in the trusted zone"
    fi
}

wait_for_lab() {
    local host=$LAB_IP
    [ "$host" = 0.0.0.0 ] && host=127.0.0.1
    for _ in $(seq 120); do
        if curl -fs -o /dev/null --noproxy '*' "http://$host:$LAB_PORT/api"; then
            ok "JupyterLab answers on $host:$LAB_PORT"
            return 0
        fi
        sleep 0.5
    done
    die "JupyterLab does not answer on $host:$LAB_PORT after 60 s" \
        "see: journalctl -u $UNIT  (or /var/log/minidocker-lab.log without systemd)"
}

step_packages
step_kernel
step_state
step_python
step_base_image
step_lab_files
step_lab_service
step_firewall
wait_for_lab
tally
# --- 7. url ------------------------------------------------------------------
/usr/local/bin/minidocker-lab-url
