#!/usr/bin/env bash
# vagrant/lab-start.sh - start JupyterLab for the course. Installed by
# provision.sh as /usr/local/libexec/minidocker/lab-start.
#
# Run by minidocker-lab.service (or directly by provision.sh where systemd is
# not PID 1). Reads the settings provision.sh wrote to /etc/minidocker/lab.env
# and the token from the root-only /etc/minidocker/lab-token, then becomes
# JupyterLab (exec), so systemd sees and stops the real process.
#
# It runs as root on purpose: the lessons create namespaces, cgroups, bridges
# and iptables rules. The VM is the sandbox, and JupyterLab listens on the
# VM's port only, which the Vagrantfile forwards to the laptop's 127.0.0.1.
set -euo pipefail

# shellcheck source=/dev/null  # written by provision.sh
. /etc/minidocker/lab.env

# After a reboot systemd may start us before Vagrant has mounted the synced
# folder: fail, and let Restart=on-failure try again a few seconds later.
if [ ! -d "$NOTEBOOK_DIR" ]; then
    echo "lab-start: $NOTEBOOK_DIR is not there yet (synced folder not mounted?)" >&2
    exit 1
fi

# jupyter_server reads its token from JUPYTER_TOKEN: not on the command
# line, where `ps` would show it.
JUPYTER_TOKEN=$(cat /etc/minidocker/lab-token)
export JUPYTER_TOKEN
export HOME=${HOME:-/root}
cd "$NOTEBOOK_DIR"
exec "$MINIDOCKER_VENV/bin/jupyter-lab" \
    --allow-root \
    --no-browser \
    --ip="$LAB_IP" \
    --port="$LAB_PORT" \
    --ServerApp.port_retries=0 \
    --ServerApp.root_dir="$NOTEBOOK_DIR"
