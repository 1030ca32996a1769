#!/bin/sh
# v2guest stage 1: /init of the tiny initramfs (busybox sh, PID 1).
#
# Map:
#   1. proc, sys, devtmpfs            -- busybox needs them for everything below
#   2. insmod the listed modules      -- Debian's kernel builds virtio/9p/overlay as modules
#   3. host / over 9p (read-only) + tmpfs overlay on top  -> /newroot
#   4. the results share (read-write 9p) -> /newroot/.v2guest/results
#   5. switch_root into /newroot and run stage 2 (guest_run.sh) as PID 1
#
# Nothing here writes to the host: the host's / is mounted read-only and every
# write in the guest lands in the tmpfs upper layer, except the results share.
# On any failure we power off at once, so the host sees "no rc file" and
# reports the console log instead of waiting for its timeout.
export PATH=/bin

die() {
    echo "v2guest: FATAL: $*"
    echo o > /proc/sysrq-trigger   # power off now (sysrq 'o'); qemu then exits
    sleep 30
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# modules/order was written on the host from `modprobe --show-depends`
# against the unpacked kernel package: dependencies come first.
while read -r ko; do
    insmod "/modules/$ko" 2>/dev/null || echo "v2guest: insmod $ko failed (continuing)"
done < /modules/order

mkdir -p /mnt/lower /mnt/rw /newroot
# msize: bigger 9p messages, far fewer round trips for python's imports.
# cache=loose: the host root is read-only for us and lives only for one test
# run, so caching file data and metadata in the guest is safe and much faster.
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose \
    hostroot /mnt/lower || die "cannot mount the host root share (9p)"
mount -t tmpfs -o mode=755 tmpfs /mnt/rw || die "tmpfs"
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work \
    overlay /newroot || die "cannot mount the overlay root"

mkdir -p /newroot/.v2guest/results
# No cache on the results share: every write reaches the host before poweroff.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 \
    results /newroot/.v2guest/results || die "cannot mount the results share (9p)"
cp /bin/busybox /stage2.sh /newroot/.v2guest/ || die "copy stage 2"
# The host's / stays reachable under the overlay: stage 2 needs it when the
# checkout lives under a directory it covers with a fresh tmpfs (/tmp ...).
mkdir -p /newroot/.v2guest/host
mount --bind /mnt/lower /newroot/.v2guest/host || die "bind the host root"
cut -d' ' -f1 /proc/uptime > /newroot/.v2guest/results/t_stage1_done

mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
# switch_root must run as PID 1: exec. If it fails, PID 1 exits, the kernel
# panics and panic=-1 + qemu's -no-reboot end the guest at once.
# shellcheck disable=SC2093
exec switch_root /newroot /.v2guest/busybox sh /.v2guest/stage2.sh
