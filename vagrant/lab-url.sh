#!/usr/bin/env bash
# vagrant/lab-url.sh - print the JupyterLab URL with its token. Installed by
# provision.sh as /usr/local/bin/minidocker-lab-url.
#
# From the laptop:  vagrant ssh -c 'sudo minidocker-lab-url'
# The URL uses the laptop's side of the forwarded port (LAB_HOST_PORT), so it
# can be pasted into the laptop's browser as it is.
set -euo pipefail

if [ ! -r /etc/minidocker/lab-token ]; then
    echo "minidocker-lab-url: cannot read /etc/minidocker/lab-token" >&2
    echo "hint: run it as root (sudo minidocker-lab-url), after provisioning" >&2
    exit 1
fi
# shellcheck source=/dev/null  # written by provision.sh
. /etc/minidocker/lab.env
printf 'JupyterLab: http://127.0.0.1:%s/lab?token=%s\n' \
    "$LAB_HOST_PORT" "$(cat /etc/minidocker/lab-token)"
