"""Every default and limit in one place (xv6's param.h habit).

Change a value here, not in the code that uses it. Each line says why.
"""
from __future__ import annotations

import os

# --- where state lives -------------------------------------------------------
#: One variable moves all state: MINIDOCKER_ROOT=/tmp/x puts persistent state
#: in /tmp/x/lib and runtime state in /tmp/x/run (tests use one per test).
ROOT_ENV = "MINIDOCKER_ROOT"
DEFAULT_LIB = "/var/lib/minidocker"   # images, containers, volumes (survives reboot)
DEFAULT_RUN = "/run/minidocker"       # pids, locks, sockets (gone at reboot)


def lib_root() -> str:
    root = os.environ.get(ROOT_ENV)
    return os.path.join(root, "lib") if root else DEFAULT_LIB


def run_root() -> str:
    root = os.environ.get(ROOT_ENV)
    return os.path.join(root, "run") if root else DEFAULT_RUN


#: Version of the JSON state files; readers refuse other versions clearly.
STATE_VERSION = 1

# --- containers --------------------------------------------------------------
ID_BYTES = 32                 # container ids are 64 hex chars, like docker's
SHORT_ID = 12                 # docker prints the first 12
STOP_TIMEOUT = 10             # seconds between SIGTERM and SIGKILL (docker's default)
LOCK_TIMEOUT = 30.0           # seconds to wait for the state lock before giving up
START_TIMEOUT = 20.0          # seconds for a container's init to report ready
LOG_DRIVER = "json-file"      # docker's default log format, one JSON object a line
#: $PATH of a container whose image sets none, and of the offline base image (docker's and runc's default)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Short-name generator (docker's "adjective_scientist" habit, smaller lists).
NAME_LEFT = ["admiring", "brave", "clever", "eager", "gallant", "happy", "jolly",
             "keen", "lucid", "modest", "nifty", "quirky", "serene", "tender", "vivid", "zen"]
NAME_RIGHT = ["curie", "dijkstra", "hopper", "kernighan", "knuth", "lamport", "liskov",
              "lovelace", "mccarthy", "ritchie", "shannon", "thompson", "torvalds", "turing"]

# --- cgroups -----------------------------------------------------------------
#: All container cgroups live under this one parent at the hierarchy's root
#: (like docker's cgroupfs driver "/docker"); see kernel/cgroups for why.
CGROUP_PARENT = "minidocker"
#: Tests (and two labs on one host) move that parent: MINIDOCKER_CGROUP_PARENT=
#: minidocker-test-123 keeps concurrent runs apart. Keep "minidocker" in the name
#: so leak checks (find /sys/fs/cgroup -name '*minidocker*') still see it.
CGROUP_PARENT_ENV = "MINIDOCKER_CGROUP_PARENT"
CGROUP_ROOT = "/sys/fs/cgroup"        # where v2 (or v1's tmpfs of hierarchies) is mounted
CGROUP_RMDIR_TIMEOUT = 2.0            # seconds destroy() waits for a cgroup's tasks to leave
CGROUP_FREEZE_TIMEOUT = 5.0           # seconds freeze() waits for FREEZING -> FROZEN
CPU_PERIOD_DEFAULT = 100000           # us; docker's --cpus uses this CFS period (100 ms)
MEMORY_MIN = 6 * 1024 * 1024          # docker refuses --memory below 6 MiB, so do we

# --- networking --------------------------------------------------------------
BRIDGE_NAME = "mdk0"                  # not docker0: minidocker and docker can share a VM
BRIDGE_SUBNET = "10.88.0.0/16"        # not docker's 172.17.0.0/16
IPTABLES_CHAIN = "MINIDOCKER"         # our own chains: iptables -t nat -S shows them
# (network engineer's lines below)
#: Environment overrides, so tests (and a second minidocker beside the first)
#: use their own bridge, subnet and chains: MINIDOCKER_BRIDGE=mdt5a0
#: MINIDOCKER_SUBNET=10.205.1.0/24 MINIDOCKER_CHAIN=MDT5A. Read through the
#: functions below, never the constants directly.
BRIDGE_ENV, SUBNET_ENV, CHAIN_ENV = "MINIDOCKER_BRIDGE", "MINIDOCKER_SUBNET", "MINIDOCKER_CHAIN"
USER_BRIDGE_PREFIX = "mdk-"           # user networks: mdk-<11 hex of the network id> (IFNAMSIZ is 16)
USER_SUBNET_POOL = "10.89.0.0/16"     # `network create` without --subnet takes the next free /24 here
VETH_PREFIX = "mdv"                   # host end of a container's veth: mdv<8 hex>, easy to spot in `ip link`
PORT_RANGE = (49153, 65535)           # -p CPORT / -P pick a random free host port here (docker's range)
MAC_PREFIX = "02:42"                  # container MAC = 02:42 + the 4 IP bytes (locally administered, like docker)
FALLBACK_DNS = ["8.8.8.8", "8.8.4.4"] # written into resolv.conf only when the host has just 127.x resolvers


def bridge_name() -> str:
    return os.environ.get(BRIDGE_ENV) or BRIDGE_NAME


def bridge_subnet() -> str:
    return os.environ.get(SUBNET_ENV) or BRIDGE_SUBNET


def iptables_chain() -> str:
    return os.environ.get(CHAIN_ENV) or IPTABLES_CHAIN

# --- images ------------------------------------------------------------------
DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
BASE_IMAGE = "busybox"                # the offline base image built from busybox-static

# --- builds and registries (issue 6) ----------------------------------------
AUTH_FILE = "auth.json"               # under lib_root(); docker's config.json "auths" shape, mode 0600
REGISTRY_TIMEOUT = 30.0               # seconds for one HTTP request to a registry
#: extra registries reached over plain HTTP (localhost/127.0.0.1 always are),
#: comma-separated, like dockerd's --insecure-registry
INSECURE_REGISTRIES_ENV = "MINIDOCKER_INSECURE_REGISTRIES"
DOCKER_HUB_API = "registry-1.docker.io"   # the host behind "docker.io" references
PULL_PARALLEL = 3                     # docker's max-concurrent-downloads default
PUSH_PARALLEL = 5                     # docker's max-concurrent-uploads default
UPLOAD_CHUNK = 5 * 1024 * 1024        # chunked uploads send PATCHes of this size
BUILD_CACHE_FILE = "build-cache.json"  # under lib_root()/image: cache key -> image id
BUILD_NETWORK = "none"                # RUN steps get no network: builds stay offline and reproducible

# --- image store, layers and overlay (issue 4) -------------------------------
LAYER_LINK_LEN = 12                   # hex chars of a layer's short link L/image/l/<name> (overlay options)
OVERLAY_MAX_LAYERS = 500              # the kernel's OVL_MAX_STACK: overlayfs stacks no more lower dirs
TAR_MAX_SYMLINK_HOPS = 40             # like the kernel's MAXSYMLINKS: extraction stops `a -> b -> a` loops
IMAGE_LEFTOVER_AGE = 3600             # seconds before a half-written temp dir in the store counts as debris
