"""Linux namespaces for simulated hosts: one machine, several "hosts" that tests and benchmarks can
connect, cut off and kill.

A simulated host is three namespaces, each pinned by a file so that it outlives its processes:

- a **network namespace** (``ip netns add``: ``/run/netns/<name>``) with its own loopback and one
  veth interface ``eth0`` carrying the host's address;
- a **UTS namespace** (its own hostname: what ``socket.gethostname()`` and so every TaskRun and
  worker name report);
- a **mount namespace** in which ``/dev/shm`` is a private tmpfs (the host's shared memory: another
  host never sees its files).

The UTS and mount namespaces are made by ``unshare --mount=FILE --uts=FILE``; the files live under
``NS_DIR``, a private bind mount (a mount namespace may only be pinned on a private mount). Every
process of a host is started through ``nsenter`` into all three (``enter``).

The hosts reach each other through a *switch*: one more network namespace holding a bridge; each
host's ``eth0`` is one end of a veth pair whose other end is a port of that bridge. Every interface
and address lives inside namespaces made here — the root namespace gains none — and a host's link is
cut by setting its bridge port down (``set_link``).

    root namespace           switch namespace            host namespaces
    (nothing added)          br0 ── p1 ═══ veth ═══ eth0 (h1: 198.51.100.11/24, own hostname, /dev/shm)
                                └── p2 ═══ veth ═══ eth0 (h2: 198.51.100.12/24, ...)

Names start with ``PREFIX`` and a per-harness tag, so several harnesses (and their sweeps) run side
by side: ``sweep`` removes only the leftovers of harnesses whose owning process is gone.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

PREFIX = "sfh"  # network namespaces of the hosts harness: sfh-<tag>-h1, sfh-<tag>-sw
BASE = Path("/run/slaflow-hosts")  # one directory per harness: state.json and the relays' sockets
NS_DIR = BASE / "ns"  # private bind mount pinning the UTS and mount namespaces: <tag>-h1.mnt, <tag>-h1.uts
NETNS_DIR = Path("/run/netns")
SUBNET = "198.51.100"  # TEST-NET-2 (RFC 5737): documentation addresses, assigned only inside the namespaces
TOOLS = ("ip", "unshare", "nsenter", "socat", "taskset")


class HostsError(RuntimeError):
    """The hosts harness cannot do what was asked (not root, a tool missing, a command failed)."""


def check_tools() -> None:
    if os.geteuid() != 0:
        raise HostsError("the hosts harness needs root (network, mount and UTS namespaces)")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise HostsError(
            f"the hosts harness needs {', '.join(missing)} on PATH (Debian: apt-get install iproute2 util-linux socat)"
        )


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command; on failure raise HostsError with its output."""
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise HostsError(f"{' '.join(argv)} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done


def netns_name(tag: str, role: str) -> str:
    return f"{PREFIX}-{tag}-{role}"


def address(index: int) -> str:
    """Host ``index`` (1-based)'s address on the switch."""
    if not 1 <= index <= 200:
        raise HostsError(f"host index {index} is outside 1..200")
    return f"{SUBNET}.{10 + index}"


# --- the private directory pinning namespaces ------------------------------------------------------


def _is_mountpoint(path: Path) -> bool:
    try:
        return any(line.split()[4] == str(path) for line in Path("/proc/self/mountinfo").read_text().splitlines())
    except OSError:
        return False


def ensure_dirs() -> None:
    """``NS_DIR`` as a private bind mount of itself, made once (a lock keeps two harnesses from both
    mounting it)."""
    NS_DIR.mkdir(parents=True, exist_ok=True)
    with open(BASE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _is_mountpoint(NS_DIR):
            sh("mount", "--bind", str(NS_DIR), str(NS_DIR))
        sh("mount", "--make-private", str(NS_DIR))


def ns_files(tag: str, role: str) -> tuple[Path, Path]:
    return NS_DIR / f"{tag}-{role}.mnt", NS_DIR / f"{tag}-{role}.uts"


# --- namespaces -------------------------------------------------------------------------------------


def check_subnet_free() -> None:
    """Refuse to run where the root namespace itself has an address in ``SUBNET``: a host's address
    must never stand for anything outside the harness."""
    out = sh("ip", "-j", "addr").stdout
    used = [
        a["local"]
        for i in json.loads(out)
        for a in i.get("addr_info", [])
        if str(a.get("local", "")).startswith(SUBNET + ".")
    ]
    if used:
        raise HostsError(f"this machine has {', '.join(used)} in {SUBNET}.0/24, the hosts harness's range")


def add_netns(name: str) -> None:
    """A network namespace with its loopback up and IPv6 off (the hosts speak IPv4 on the switch only)."""
    sh("ip", "netns", "add", name)
    sh(
        "ip",
        "netns",
        "exec",
        name,
        "sysctl",
        "-q",
        "-w",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
    )
    sh("ip", "-n", name, "link", "set", "lo", "up")


def make_host(tag: str, role: str, hostname: str, shm_mb: int) -> None:
    """The host's pinned mount namespace (a private tmpfs on /dev/shm) and UTS namespace (its hostname).

    Inside the new mount namespace the copies of the pinning mounts are detached: otherwise each
    host would hold a reference to every other harness's namespaces and keep them alive."""
    mnt, uts = ns_files(tag, role)
    for f in (mnt, uts):
        f.touch()
    script = (
        f"umount -l {NS_DIR} 2>/dev/null; umount -l {NETNS_DIR} 2>/dev/null; "
        f"mount -t tmpfs -o size={int(shm_mb)}m,mode=1777 slaflow-shm /dev/shm && hostname {hostname}"
    )
    sh("unshare", f"--mount={mnt}", f"--uts={uts}", "--propagation", "private", "sh", "-c", script)


def enter(tag: str, role: str, wd: str = "/") -> list[str]:
    """The command prefix that runs a program inside host ``role`` (its network, mount and UTS namespaces)
    in directory ``wd`` (entering a mount namespace would otherwise leave it in ``/``)."""
    mnt, uts = ns_files(tag, role)
    return [
        "nsenter",
        f"--net={NETNS_DIR / netns_name(tag, role)}",
        f"--mount={mnt}",
        f"--uts={uts}",
        f"--wd={wd}",
        "--",
    ]


def make_switch(tag: str) -> str:
    sw = netns_name(tag, "sw")
    add_netns(sw)
    sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0")
    sh("ip", "-n", sw, "link", "set", "br0", "up")
    return sw


def plug(tag: str, role: str, index: int) -> None:
    """A veth from the switch's port ``p<index>`` to the host's ``eth0``, both ends made inside their
    namespaces (nothing appears in the root namespace), the host's address on ``eth0``."""
    sw, host = netns_name(tag, "sw"), netns_name(tag, role)
    port = f"p{index}"
    sh("ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host)
    sh("ip", "-n", sw, "link", "set", port, "master", "br0", "up")
    sh("ip", "-n", host, "addr", "add", f"{address(index)}/24", "dev", "eth0")
    sh("ip", "-n", host, "link", "set", "eth0", "up")


def set_link(tag: str, index: int, up: bool) -> None:
    """Connect or cut host ``index``'s link (its switch port): its processes stay alive."""
    sh("ip", "-n", netns_name(tag, "sw"), "link", "set", f"p{index}", "up" if up else "down")


def link_is_up(tag: str, index: int) -> bool:
    out = sh("ip", "-j", "-n", netns_name(tag, "sw"), "link", "show", f"p{index}").stdout
    return "UP" in (json.loads(out)[0].get("flags") or [])


def pids_in(netns: str) -> list[int]:
    done = sh("ip", "netns", "pids", netns, check=False)
    return [int(p) for p in done.stdout.split() if p.isdigit()]


def kill_all_in(netns: str) -> int:
    """SIGKILL every process in a network namespace (they were all started by this harness)."""
    killed = 0
    for _ in range(50):
        pids = pids_in(netns)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return killed


def remove(tag: str, roles: list[str]) -> None:
    """Kill what runs in the namespaces, delete them and their pinning files (idempotent)."""
    for role in roles:
        name = netns_name(tag, role)
        if (NETNS_DIR / name).exists():
            kill_all_in(name)
            sh("ip", "netns", "del", name, check=False)
        for f in ns_files(tag, role):
            if f.exists():
                sh("umount", str(f), check=False)
                f.unlink(missing_ok=True)


def netns_names() -> list[str]:
    return sorted(p.name for p in NETNS_DIR.glob(f"{PREFIX}-*")) if NETNS_DIR.is_dir() else []


# --- ownership: a harness's state file and the sweep of dead harnesses' leftovers --------------------


def start_time(pid: int) -> str | None:
    """A process's start time (field 22 of /proc/PID/stat): with the pid, it names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def alive(pid: int, started: str | None) -> bool:
    return started is not None and start_time(pid) == started


def write_state(tag: str, state: dict) -> None:
    path = BASE / tag / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def read_state(tag: str) -> dict | None:
    try:
        return json.loads((BASE / tag / "state.json").read_text())
    except (OSError, ValueError):
        return None


def harness_tags() -> list[str]:
    tags = {p.name for p in BASE.iterdir() if p.is_dir() and p != NS_DIR} if BASE.is_dir() else set()
    tags |= {name.split("-")[1] for name in netns_names()}
    tags |= {p.name.split("-")[0] for p in NS_DIR.glob("*.mnt")} if NS_DIR.is_dir() else set()
    return sorted(tags)


def owner_alive(tag: str) -> bool:
    state = read_state(tag)
    return bool(state) and alive(int(state["owner_pid"]), state.get("owner_started"))


def teardown(tag: str) -> None:
    """Remove everything harness ``tag`` made: its recorded root-side processes (only if they are still
    the processes it started), every process in its namespaces, the namespaces, its directory."""
    state = read_state(tag) or {}
    for pid, started in state.get("processes", []):
        if alive(pid, started):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    roles = set(state.get("roles", []))
    roles |= {name.split("-", 2)[2] for name in netns_names() if name.split("-")[1] == tag}
    if NS_DIR.is_dir():
        roles |= {p.name[len(tag) + 1 : -len(".mnt")] for p in NS_DIR.glob(f"{tag}-*.mnt")}
    # Hosts first (their processes), the switch last.
    remove(tag, [r for r in roles if r != "sw"] + (["sw"] if "sw" in roles else []))
    shutil.rmtree(BASE / tag, ignore_errors=True)


def sweep() -> list[str]:
    """Tear down the leftovers of harnesses whose owner process is gone (a crashed run); live ones stay."""
    swept = []
    for tag in harness_tags():
        if not owner_alive(tag):
            teardown(tag)
            swept.append(tag)
    return swept
