"""Fixtures for the dplb-decap end-to-end tests.

Two network namespaces joined by a veth pair stand in for a client-side
sender (A) and a backend (B). dplb-decap runs in B; the tests send tunnelled
packets from A and watch the real kernel in B deliver and answer them.

Sockets are opened inside a namespace by a short-lived thread that setns()es
first: a socket belongs to the namespace it was created in, whichever thread
uses it later, so the test body can drive sockets in A and B directly and
needs no helper processes or readiness handshakes.
"""

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Documentation ranges (RFC 5737), used only inside our own namespaces.
A_ADDR = "198.51.100.1"
B_ADDR = "198.51.100.2"
VIP = "203.0.113.10"
A_MAC = "02:00:5e:00:00:0a"
B_MAC = "02:00:5e:00:00:0b"
GUE_PORT = 6080

# Upper bound for anything we wait on; waits poll and return as soon as the
# condition holds, so a healthy run never sleeps this long.
TIMEOUT = 15.0

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def run(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True,
                          text=True, timeout=60)


def wait_for(predicate, what, timeout=TIMEOUT, interval=0.02):
    """Poll predicate until it returns a true value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def netns_socket(ns, family, type_, proto=0):
    """Create a socket in network namespace ns."""
    result = {}

    def target():
        try:
            with open(f"/run/netns/{ns}", "rb") as f:
                if _libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            result["sock"] = socket.socket(family, type_, proto)
        except BaseException as e:  # re-raised in the caller's thread
            result["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["sock"]


class Net:
    """The namespace pair, and ways to send tunnelled packets from A to B."""

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def send_ipip(self, inner, ip_options=None):
        # The kernel in A adds the outer header, protocol 4, itself.
        with netns_socket(self.a, socket.AF_INET, socket.SOCK_RAW,
                          socket.IPPROTO_IPIP) as s:
            if ip_options:
                s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS,
                             ip_options)
            s.sendto(inner, (B_ADDR, 0))

    def send_gue(self, payload, port=GUE_PORT):
        with netns_socket(self.a, socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(payload, (B_ADDR, port))


@pytest.fixture(scope="session")
def decap_binary():
    path = Path(os.environ.get("DPLB_DECAP",
                               REPO_ROOT / "build" / "app" / "dplb-decap"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not os.access(path, os.X_OK):
        pytest.fail(f"dplb-decap binary not found at {path}; "
                    "build it or set DPLB_DECAP")
    return path


@pytest.fixture(scope="module")
def net():
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    tag = f"{os.getpid()}-{secrets.token_hex(3)}"
    a, b = f"dplb-t-{tag}-a", f"dplb-t-{tag}-b"
    created = []
    try:
        for ns in (a, b):
            run("ip", "netns", "add", ns)
            created.append(ns)
        # Both ends are made directly inside their namespaces, so nothing
        # ever appears in the host's.
        run("ip", "-n", a, "link", "add", "veth-a", "address", A_MAC,
            "type", "veth", "peer", "name", "veth-b", "address", B_MAC,
            "netns", b)
        for ns, dev, addr in ((a, "veth-a", A_ADDR), (b, "veth-b", B_ADDR)):
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
        # Static neighbours: no ARP round trip that could queue or lose the
        # first packets.
        run("ip", "-n", a, "neigh", "replace", B_ADDR, "lladdr", B_MAC,
            "dev", "veth-a", "nud", "permanent")
        run("ip", "-n", b, "neigh", "replace", A_ADDR, "lladdr", A_MAC,
            "dev", "veth-b", "nud", "permanent")
        # The backend set-up the usage text asks for: VIP on lo, and no
        # strict reverse-path filter on the TUN devices created later.
        run("ip", "-n", b, "addr", "add", f"{VIP}/32", "dev", "lo")
        for key in ("all", "default"):
            run("ip", "netns", "exec", b, "sysctl", "-qw",
                f"net.ipv4.conf.{key}.rp_filter=0")
        yield Net(a, b)
    finally:
        for ns in created:
            run("ip", "netns", "del", ns, check=False)


class Decap:
    """One dplb-decap process running in namespace B."""

    _seq = 0

    def __init__(self, binary, net, workdir, args, tun=None):
        Decap._seq += 1
        self.net = net
        # A fresh name per run: no dependence on how soon the kernel has
        # removed the previous run's device.
        self.tun = tun or f"dplbdc{os.getpid() % 10000}x{Decap._seq}"
        self.stats_path = workdir / f"stats-{Decap._seq}"
        self.stderr_path = workdir / f"stderr-{Decap._seq}"
        self.argv = ["ip", "netns", "exec", net.b, str(binary),
                     "-i", self.tun, "-s", str(self.stats_path)] + list(args)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        with open(self.stderr_path, "wb") as err:
            # ip netns exec execs the binary, so this pid is dplb-decap's.
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=err, env=env)
        self.returncode = None

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def wait_ready(self):
        def ready():
            if self.proc.poll() is not None:
                pytest.fail(f"dplb-decap exited {self.proc.returncode}:\n"
                            + self.stderr())
            return "dplb-decap: ready:" in self.stderr()
        wait_for(ready, "dplb-decap to start")
        # The kernel takes the larger of 'all' and the device's rp_filter;
        # default=0 already covers new devices, this also covers an
        # attached, pre-existing one.
        run("ip", "netns", "exec", self.net.b, "sysctl", "-qw",
            f"net.ipv4.conf.{self.tun}.rp_filter=0")

    def running(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM):
        """Stop with sig; return the stats file as a dict."""
        self.proc.send_signal(sig)
        self.returncode = self.proc.wait(timeout=TIMEOUT)
        err = self.stderr()
        assert "AddressSanitizer" not in err, err
        assert "runtime error:" not in err, err
        assert self.returncode == 0, err
        return parse_stats(self.stats_path.read_text())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)


def parse_stats(text):
    stats = {}
    for line in text.splitlines():
        key, value = line.split()
        stats[key] = int(value)
    return stats


@pytest.fixture
def decap(decap_binary, net, tmp_path):
    """Factory: decap(*args) starts dplb-decap in B and waits until ready."""
    started = []

    def start(*args, tun=None):
        d = Decap(decap_binary, net, tmp_path, args, tun)
        started.append(d)
        d.wait_ready()
        return d

    yield start
    for d in started:
        d.kill()


@pytest.fixture
def ns_socket():
    """Factory: ns_socket(ns, family, type, proto) -> socket in ns, closed
    when the test ends so the next test can bind the same port."""
    opened = []

    def make(ns, family, type_, proto=0):
        s = netns_socket(ns, family, type_, proto)
        opened.append(s)
        s.settimeout(TIMEOUT)
        return s

    yield make
    for s in opened:
        s.close()
