"""NAT and filtering with the `iptables` command, in chains of our own.

Map of this file:
  run / save                          one `iptables -w -t TABLE ...` call (traced) / iptables-save
  chain_exists / ensure_chain / delete_chain
  rule_exists / ensure_rule / delete_rule / list_rules     idempotent rule verbs (-C, -A/-I, -D)
  Chains(base)                        the names of our chains (base = params.iptables_chain())
  install_base / remove_base          create our chains and the jumps into them from the built-ins
  network_rules(...)                  what one bridge network needs (MASQUERADE, isolation, forward)
  port_rules(...)                     what one published port needs (DNAT, hairpin, accept)

The layout copies docker's (its DOCKER, DOCKER-ISOLATION-STAGE-1/2 chains), so
`iptables -t nat -S` on a minidocker host reads like a docker host:

  nat    PREROUTING  -m addrtype --dst-type LOCAL -j MINIDOCKER   packets from outside to a host address
  nat    OUTPUT      -m addrtype --dst-type LOCAL -j MINIDOCKER   packets from host processes (curl localhost)
  nat    MINIDOCKER  -p tcp --dport 8080 -j DNAT --to-destination 10.88.0.2:80     one per -p
  nat    POSTROUTING -j MINIDOCKER-POSTROUTING
  nat    MINIDOCKER-POSTROUTING  -s 10.88.0.0/16 ! -o mdk0 -j MASQUERADE   containers going out
                                 -o mdk0 -m addrtype --src-type LOCAL -j MASQUERADE   localhost -> container
                                 -s C -d C -p tcp --dport 80 -j MASQUERADE            hairpin to itself
  filter FORWARD     -j MINIDOCKER-FORWARD
  filter MINIDOCKER-FORWARD  -j MINIDOCKER-ISOLATION-1, -j MINIDOCKER, then per bridge:
                             ESTABLISHED back in, out of the bridge, within the bridge: ACCEPT; else DROP
  filter MINIDOCKER          -d C ! -i mdk0 -o mdk0 -p tcp --dport 80 -j ACCEPT   one per -p

Why DNAT in OUTPUT as well as PREROUTING: packets a host process sends
(`curl 127.0.0.1:8080`) never pass PREROUTING. Their source is 127.0.0.1,
which the kernel refuses to route out of a real interface unless the bridge
has `route_localnet=1`, and which the container could not answer, hence the
`--src-type LOCAL` MASQUERADE. Docker's alternative is a userland proxy
(docker-proxy listening on the host port and copying bytes); we use rules
only, so the whole path is visible in `iptables -S` (see lab/plots_network.py).

Every command runs with `-w` (wait for the xtables lock) because several
containers may start at once. On Debian 12 and EL9 `iptables` is the
nf_tables backend (`iptables -V` says "nf_tables"); the rules land in nftables
tables named like the iptables ones, so `nft list ruleset` shows them too.
"""
from __future__ import annotations

import errno
import shlex
import subprocess
from ..plaindata import dataclass

from ..errors import KernelError
from ..trace import step

__all__ = ["run", "save", "chain_exists", "ensure_chain", "delete_chain", "rule_exists",
           "ensure_rule", "delete_rule", "list_rules", "Chains", "install_base",
           "remove_base", "network_rules", "port_rules", "Rule"]

IPTABLES = "iptables"

#: a rule: (table, chain, [match and target arguments])
Rule = tuple  # (str, str, list[str])


def _shell(table: str, args: list[str]) -> str:
    """The command as a student types it (quotes only where the shell needs them)."""
    return " ".join(a if a == "!" else shlex.quote(a) for a in [IPTABLES, "-t", table, *args])


def run(table: str, args: list[str], check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    """Run `iptables -w -t TABLE ARGS...`; trace it unless `quiet` (read-only checks).

    A failure raises KernelError naming the command, with iptables' own
    message as the hint (e.g. "Chain already exists").
    """
    if not quiet:
        step("iptables", f"execve(iptables): {table} table", _shell(table, args))
    try:
        p = subprocess.run([IPTABLES, "-w", "-t", table, *args],
                           capture_output=True, text=True)
    except FileNotFoundError:
        raise KernelError(errno.ENOENT, "exec", IPTABLES,
                          hint="install iptables (apt-get install iptables / dnf install iptables-nft)") from None
    if check and p.returncode != 0:
        raise KernelError(errno.EINVAL if p.returncode == 2 else errno.EPERM,
                          "iptables", " ".join(["-t", table, *args]),
                          hint=p.stderr.strip() or f"iptables exited with {p.returncode}")
    return p


def save() -> str:
    """The whole ruleset as text (`iptables-save`), for before/after comparisons."""
    return subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout


# --- chains ------------------------------------------------------------------

def chain_exists(table: str, chain: str) -> bool:
    """Does `chain` exist in `table`? (`iptables -t TABLE -S CHAIN`)"""
    return run(table, ["-S", chain], check=False, quiet=True).returncode == 0


def ensure_chain(table: str, chain: str) -> None:
    """Create a user chain if missing. Shell: `iptables -t TABLE -N CHAIN`."""
    if not chain_exists(table, chain):
        p = run(table, ["-N", chain], check=False)
        if p.returncode != 0 and not chain_exists(table, chain):   # lost a race: fine
            run(table, ["-N", chain])


def delete_chain(table: str, chain: str) -> None:
    """Flush and delete a user chain if present. Shell: `iptables -t T -F C; iptables -t T -X C`."""
    if chain_exists(table, chain):
        run(table, ["-F", chain])
        run(table, ["-X", chain])


def list_rules(table: str, chain: str | None = None) -> list[str]:
    """The rules as `-A ...` lines (`iptables -t TABLE -S [CHAIN]`); [] if no such chain."""
    p = run(table, ["-S"] + ([chain] if chain else []), check=False, quiet=True)
    return [ln for ln in p.stdout.splitlines() if ln.startswith("-A ")] if p.returncode == 0 else []


# --- rules -------------------------------------------------------------------

def rule_exists(table: str, chain: str, spec: list[str]) -> bool:
    """Is this exact rule in `chain`? Shell: `iptables -t TABLE -C CHAIN SPEC...`."""
    return run(table, ["-C", chain, *spec], check=False, quiet=True).returncode == 0


def ensure_rule(table: str, chain: str, spec: list[str], first: bool = False) -> None:
    """Add a rule unless it is there already (`-C || -A`, or `-I CHAIN 1` if `first`)."""
    if not rule_exists(table, chain, spec):
        run(table, (["-I", chain, "1"] if first else ["-A", chain]) + spec)


def delete_rule(table: str, chain: str, spec: list[str]) -> None:
    """Remove every copy of a rule; a missing rule or chain is fine. Shell: `iptables -t T -D C SPEC`."""
    while rule_exists(table, chain, spec):
        run(table, ["-D", chain, *spec])


# --- our layout --------------------------------------------------------------

@dataclass(frozen=True)
class Chains:
    """Our chain names, all derived from one base name (default MINIDOCKER)."""
    base: str

    @property
    def nat(self) -> str: return self.base                        # DNAT for published ports
    @property
    def post(self) -> str: return self.base + "-POSTROUTING"      # MASQUERADE
    @property
    def forward(self) -> str: return self.base + "-FORWARD"       # what may cross the host
    @property
    def iso1(self) -> str: return self.base + "-ISOLATION-1"      # leaving a bridge for another...
    @property
    def iso2(self) -> str: return self.base + "-ISOLATION-2"      # ...bridge of ours: DROP
    @property
    def ports(self) -> str: return self.base                      # filter: ACCEPT published ports

    def jumps(self) -> list[Rule]:
        """The rules in the built-in chains that send packets into ours."""
        local_dst = ["-m", "addrtype", "--dst-type", "LOCAL", "-j", self.nat]
        return [("nat", "PREROUTING", local_dst),
                ("nat", "OUTPUT", local_dst),
                ("nat", "POSTROUTING", ["-j", self.post]),
                ("filter", "FORWARD", ["-j", self.forward])]


def install_base(chains: Chains) -> None:
    """Create our chains and hook them into PREROUTING/OUTPUT/POSTROUTING/FORWARD.

    Idempotent. The FORWARD jump goes first so a DROP policy (a host with
    docker or firewalld) cannot hide our ACCEPTs.
    """
    for table, chain in [("nat", chains.nat), ("nat", chains.post), ("filter", chains.forward),
                         ("filter", chains.iso1), ("filter", chains.iso2), ("filter", chains.ports)]:
        ensure_chain(table, chain)
    ensure_rule("filter", chains.forward, ["-j", chains.iso1])
    ensure_rule("filter", chains.forward, ["-j", chains.ports])
    for table, chain, spec in chains.jumps():
        ensure_rule(table, chain, spec, first=(chain == "FORWARD"))


def remove_base(chains: Chains) -> None:
    """Undo install_base: remove the jumps, then flush and delete our chains. Idempotent."""
    for table, chain, spec in chains.jumps():
        delete_rule(table, chain, spec)
    for table, chain in [("filter", chains.forward), ("filter", chains.iso1), ("filter", chains.iso2),
                         ("filter", chains.ports), ("nat", chains.nat), ("nat", chains.post)]:
        delete_chain(table, chain)


def network_rules(chains: Chains, bridge: str, subnet: str) -> list[Rule]:
    """What one bridge network adds (docker adds the same for docker0).

    In order: containers going out are MASQUERADEd to the host's address;
    host-local sources (127.0.0.1 after OUTPUT DNAT) are MASQUERADEd to the
    bridge address; packets leaving this bridge for another of our bridges
    are dropped (isolation); replies come back in; containers may talk out
    and to each other; anything else towards the bridge is dropped, so only
    published ports (accepted earlier in the filter chain) are reachable.
    """
    return [
        ("nat", chains.post, ["-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"]),
        ("nat", chains.post, ["-o", bridge, "-m", "addrtype", "--src-type", "LOCAL", "-j", "MASQUERADE"]),
        ("filter", chains.iso1, ["-i", bridge, "!", "-o", bridge, "-j", chains.iso2]),
        ("filter", chains.iso2, ["-o", bridge, "-j", "DROP"]),
        ("filter", chains.forward, ["-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
                                    "-j", "ACCEPT"]),
        ("filter", chains.forward, ["-i", bridge, "!", "-o", bridge, "-j", "ACCEPT"]),
        ("filter", chains.forward, ["-i", bridge, "-o", bridge, "-j", "ACCEPT"]),
        ("filter", chains.forward, ["-o", bridge, "-j", "DROP"]),
    ]


def port_rules(chains: Chains, bridge: str, container_ip: str, proto: str,
               host_ip: str, host_port: int, container_port: int, tag: str) -> list[Rule]:
    """What one published port (`-p [HOST_IP:]HOST_PORT:CONTAINER_PORT/PROTO`) adds.

    1. nat DNAT: a packet to a host address and HOST_PORT gets its destination
       rewritten to CONTAINER_IP:CONTAINER_PORT (only to HOST_IP if one was given).
    2. nat MASQUERADE (hairpin): if the container reaches its own published
       port, make the host the source so the reply comes back through the host
       and is un-NATed there instead of short-circuiting over lo.
    3. filter ACCEPT: let the rewritten packet be forwarded into the bridge.
    `tag` (e.g. "container=abc123 80/tcp") goes into an iptables comment so
    `iptables -S` says who added the rule, and prune can find strays.
    """
    p = ["-p", proto, "-m", proto]
    comment = ["-m", "comment", "--comment", tag]
    dst = [] if host_ip in ("", "0.0.0.0") else ["-d", f"{host_ip}/32"]
    cip = f"{container_ip}/32"
    return [
        ("nat", chains.nat, dst + p + ["--dport", str(host_port)] + comment +
         ["-j", "DNAT", "--to-destination", f"{container_ip}:{container_port}"]),
        ("nat", chains.post, ["-s", cip, "-d", cip] + p + ["--dport", str(container_port)] + comment +
         ["-j", "MASQUERADE"]),
        ("filter", chains.ports, ["-d", cip, "!", "-i", bridge, "-o", bridge] + p +
         ["--dport", str(container_port)] + comment + ["-j", "ACCEPT"]),
    ]
