#!/.v2guest/busybox sh
# v2guest stage 2: PID 1 in the guest's real root (host / + tmpfs overlay).
#
# Map:
#   1. read the job the host wrote into the results share (job.sh)
#   2. make the guest look like a pure cgroup v2 host (EL9 without systemd):
#      cgroup2 at /sys/fs/cgroup, cpu/memory/pids/cpuset/io delegated to
#      children, our shell moved out of the root into v2guest.scope
#   3. fresh tmpfs for /tmp, /run, /var/lib/minidocker (overlayfs refuses an
#      overlay as upperdir, and the tests' overlays need a real upper fs);
#      a checkout that lived under one of them comes back as an overlay
#   4. run pytest on the selection; write rc, log, results.json, facts.json
#   5. power off through sysrq
BB=/.v2guest/busybox
RES=/.v2guest/results
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb

poweroff_now() {
    sync
    $BB umount "$RES" 2>/dev/null
    echo o > /proc/sysrq-trigger
    $BB sleep 30
}

# 1. the job: REPO, PY, SELECTION, GUEST_TIMEOUT, ACCEL (written by v2guest.py)
# shellcheck source=/dev/null
if ! . "$RES/job.sh"; then
    echo "v2guest: no job.sh in the results share" > "$RES/error"
    poweroff_now
fi

# 2. pure cgroup v2; cgroup_no_v1=all on the kernel command line keeps v1 away.
$BB mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in cpu cpuset memory pids io; do
    echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
done
# Like systemd's session scope: the test runner is not in the root cgroup, so
# the "no internal processes" rule applies to the tests as it does on EL9.
$BB mkdir -p /sys/fs/cgroup/v2guest.scope
echo $$ > /sys/fs/cgroup/v2guest.scope/cgroup.procs

# 3. scratch filesystems
for d in /tmp /run /var/tmp /var/lib/minidocker; do
    $BB mkdir -p $d && $BB mount -t tmpfs -o mode=1777 tmpfs $d
done
$BB chmod 755 /run /var/lib/minidocker
# A checkout under one of those (a CI clone in /tmp, say) was just hidden:
# bring it back as a writable overlay of the host's copy.
case "$REPO" in
    /tmp/*|/run/*|/var/tmp/*|/var/lib/minidocker/*)
        $BB mkdir -p "$REPO" /run/v2guest-repo/upper /run/v2guest-repo/work
        $BB mount -t overlay -o "lowerdir=/.v2guest/host$REPO,upperdir=/run/v2guest-repo/upper,workdir=/run/v2guest-repo/work" \
            overlay "$REPO" ;;
esac
$BB mkdir -p /dev/pts /dev/shm /dev/mqueue
$BB mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
$BB mount -t tmpfs -o mode=1777 tmpfs /dev/shm
$BB mount -t mqueue mqueue /dev/mqueue
$BB ln -sf /proc/self/fd /dev/fd 2>/dev/null
$BB hostname v2guest
$BB ip link set lo up

# facts.json: what the host test prints ("ran on real kernel ...")
T0=$($BB cut -d' ' -f1 /proc/uptime)
{
    printf '{"kernel": "%s",' "$($BB uname -r)"
    # shellcheck disable=SC2016  # awk's $2 and $3, not the shell's
    printf ' "fstype": "%s",' "$($BB awk '$2 == "/sys/fs/cgroup" {print $3}' /proc/mounts)"
    printf ' "controllers": "%s",' "$(cat /sys/fs/cgroup/cgroup.controllers)"
    printf ' "subtree_control": "%s",' "$(cat /sys/fs/cgroup/cgroup.subtree_control)"
    printf ' "nproc": %s,' "$($BB nproc)"
    printf ' "t_pytest_start": %s}\n' "$T0"
} > "$RES/facts.json"

# 4. the tests. The guest_report plugin writes results.json test by test.
cd "$REPO" || { echo "v2guest: no repo $REPO" > "$RES/error"; poweroff_now; }
# No plugin autoload: scanning every installed package's entry points over 9p
# under TCG cost ~60 s of pytest start-up (measured); guest_report is loaded by name.
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
export PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$REPO/tests/vm${PYTHONPATH:+:$PYTHONPATH}"
export MINIDOCKER_V2GUEST=1 V2GUEST_RESULTS="$RES"
PYBIN=$(dirname "$PY")           # the venv's bin: the `minidocker` entry point
export PATH="$PYBIN:$PATH"
# busybox timeout: a hung test still lets us report (rc 124/143) and power off.
# shellcheck disable=SC2086  # SELECTION is a list of words on purpose
$BB timeout "$GUEST_TIMEOUT" "$PY" -m pytest -p guest_report -p no:cacheprovider \
    -rfEs -v --durations=12 $SELECTION > "$RES/log" 2>&1 < /dev/null
echo $? > "$RES/rc.tmp"
$BB cut -d' ' -f1 /proc/uptime > "$RES/t_pytest_end"
$BB mv "$RES/rc.tmp" "$RES/rc"
poweroff_now
