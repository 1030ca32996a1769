"""Thin wrappers over Linux, one file per mechanism.

  libc.py        ctypes: unshare, setns, mount, umount2, pivot_root, sethostname, prctl
  namespaces.py  the seven namespace kinds, /proc/PID/ns inodes, compare, enter
  mounts.py      rootfs assembly: private /, overlay, /proc, /dev, /sys, pivot_root
  cgroups/       detect v1/v2, one Manager with the same verbs on both
  overlay.py     overlay mount options (short layer links for deep images)
  netlink.py     bridges, veths, addresses, routes (one `ip` command each)
  rtnl.py        rtnetlink by hand: AF_NETLINK socket, struct-packed messages, dumps, setns
  iptables.py    NAT and port publishing in our own chains

Each function's docstring names the syscall or file it uses and the shell
command that does the same; `minidocker.trace` records those as it goes.
"""
