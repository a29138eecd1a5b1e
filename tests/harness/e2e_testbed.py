"""Helpers for the end-to-end tests: the namespace testbed (scripts/testbed),
dplb running in it on net_af_packet, clients in the client namespace, and a
sniffer on the bridge port in front of dplb.

Sockets are opened inside a namespace by a short-lived thread that setns()es
first, as tests/decap does: a socket belongs to the namespace it was created
in, whichever thread uses it later. So the tests talk HTTP and UDP from the
client namespace directly, with no helper processes, and read dplb's
counters from its DPDK telemetry socket (a path in the file system, which
namespaces do not split).

Everything waits by polling a condition with a generous deadline, never by
sleeping a fixed time.
"""

import contextlib
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

from .dplb_telemetry import DplbTelemetry
from .polling import wait_for as poll_until

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("DPLB_BUILD", REPO / "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
DPLB = BUILD / "app" / "dplb"
TESTBED = REPO / "scripts" / "testbed"
SCALE_TESTBED = REPO / "scripts" / "testbed-scale"
WAIT_SECONDS = float(os.environ.get("DPLB_TEST_WAIT", "60"))

# The testbed's fixed plan (see scripts/testbed).
CLIENT_ADDR = "198.18.0.2"
LB_ADDR = "198.18.0.10"
LB_MAC = "02:db:00:00:00:0a"
CLIENT_MAC = "02:db:00:00:00:02"
BACKENDS = {"b1": "198.18.0.11", "b2": "198.18.0.12", "b3": "198.18.0.13"}
BACKEND_MACS = {"b1": "02:db:00:00:00:0b", "b2": "02:db:00:00:00:0c",
                "b3": "02:db:00:00:00:0d"}
# IPv6 beside it: the segment fd00:db1b::/64 with the same last numbers
# (dplb's own IPv6 address, for [dataplane] address6, is LB_ADDR6), and the
# IPv6 VIPs fd00:db1b:1::/64, local on every backend's lo and routed from
# the client via LB_ADDR6. The backends' servers and dplb-decap take both
# families; health checks of IPv6 backends leave from LB_MGMT_ADDR6.
CLIENT_ADDR6 = "fd00:db1b::2"
LB_ADDR6 = "fd00:db1b::10"
LB_MGMT_ADDR = "198.18.0.9"
LB_MGMT_ADDR6 = "fd00:db1b::9"
PREFIX_LENGTH6 = 64
BACKENDS6 = {"b1": "fd00:db1b::11", "b2": "fd00:db1b::12", "b3": "fd00:db1b::13"}
VIP6_RANGE = "fd00:db1b:1::/64"
VIP6 = "fd00:db1b:1::80"  # one address of it, as 198.18.1.80 is of the IPv4 VIPs
NAME_OF = {addr: name for name, addr in list(BACKENDS.items()) + list(BACKENDS6.items())}
GUE_PORT = 6080

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer")

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4
_libc = ctypes.CDLL(None, use_errno=True)


def wait_for(predicate, what, timeout=WAIT_SECONDS, interval=0.02):
    """Poll predicate until it returns a true value; fail after timeout."""
    return poll_until(predicate, what, timeout=timeout, interval=interval)


def in_netns(ns, function, *args):
    """Run function(*args) in a fresh thread inside namespace ns and return
    its result (or raise its exception). Sockets it creates stay in ns."""
    result = {}

    def target():
        try:
            with open(f"/run/netns/{ns}", "rb") as f:
                if _libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            result["value"] = function(*args)
        except BaseException as e:  # re-raised in the caller's thread
            result["error"] = e

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def run(*args, check=True, timeout=120, env=None):
    return subprocess.run([str(a) for a in args], check=check, capture_output=True,
                          text=True, timeout=timeout, env=env)


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


# ------------------------------------------------------------------ testbed


class Testbed:
    """One testbed of scripts/testbed, under its own namespace prefix."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, prefix, static_neigh=False):
        self.prefix = prefix
        self.env = dict(os.environ, DPLB_TESTBED_PREFIX=prefix, DPLB_BUILD=str(BUILD),
                        DPLB_TESTBED_STATIC_NEIGH="1" if static_neigh else "0")

    def ns(self, node):
        return self.prefix + node

    def script(self, *args, check=True):
        return run(TESTBED, *args, check=check, env=self.env)

    def up(self):
        res = self.script("up", check=False)
        if res.returncode != 0:
            raise AssertionError(f"scripts/testbed up failed:\n{res.stdout}\n{res.stderr}")
        return res

    def down(self):
        return self.script("down", check=False)

    def exec(self, node, *args, check=True, timeout=120):
        return run("ip", "netns", "exec", self.ns(node), *args, check=check, timeout=timeout)


def _require(tools):
    """Skip without root; fail when a program the testbed runs is missing."""
    import pytest  # only the test modules need it

    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: run scripts/setup")


@contextlib.contextmanager
def running_testbed(prefix, tools=("ip", "ethtool"), static_neigh=False):
    """A testbed for a module or a session: up on entry, down on exit."""
    _require(tools)
    tb = Testbed(prefix, static_neigh=static_neigh)
    try:
        tb.up()
        yield tb
    finally:
        tb.down()


@contextlib.contextmanager
def running_scale_testbed(prefix, tools=("ip", "ethtool", "bird", "birdc")):
    """The scale-out testbed (scripts/testbed-scale: a router running BIRD,
    a far client behind it, two dplb namespaces): up on entry, down on exit."""
    _require(tools)
    tb = Testbed(prefix)
    try:
        res = run(SCALE_TESTBED, "up", check=False, env=tb.env)
        assert res.returncode == 0, res.stdout + res.stderr
        yield tb
    finally:
        run(SCALE_TESTBED, "down", check=False, env=tb.env)


def router_paths(testbed, address):
    """The scale-out router's next hops toward address: a set of dplb
    addresses (one per instance announcing it)."""
    family = ["-6"] if ":" in address else []
    res = testbed.exec("router", "ip", "-j", *family, "route", "show", address, check=False)
    routes = json.loads(res.stdout or "[]") if res.returncode == 0 else []
    found = set()
    for route in routes:
        if "gateway" in route:
            found.add(route["gateway"])
        for hop in route.get("nexthops", []):
            found.add(hop["gateway"])
    return found


# --------------------------------------------------------------------- dplb


AF_PACKET_VDEV = "net_af_packet0,iface=eth0"
# eth0 through libpcap. DPDK 22.11's net_af_packet joins a PACKET_FANOUT
# group with PACKET_FANOUT_FLAG_DEFRAG, so the kernel reassembles IP
# fragments before dplb sees them (and a datagram beyond its 2048-byte frame
# slots arrives cut, dropped as bad_length); libpcap's socket has no fanout,
# so dplb sees every fragment as the wire carries it, as with a NIC.
# phy_mac: the port keeps eth0's MAC, as net_af_packet's does.
PCAP_VDEV = "net_pcap0,iface=eth0,phy_mac=1"


@contextlib.contextmanager
def dplb_running(testbed, workdir, config, ready=None, vdev=None):
    """dplb started in the testbed with config (then ready(lb), if given);
    on exit stopped, and it must have exited 0 with its summary and without
    a sanitizer report. vdev: as LiveDplb's."""
    lb = LiveDplb(testbed, workdir, vdev=vdev)
    try:
        lb.start(config)
        if ready is not None:
            ready(lb)
        yield lb
    finally:
        result = lb.stop()
    code, out, err = result
    for marker in SANITIZER_MARKERS:
        assert marker not in err, err
    assert code == 0, f"dplb exited {code}:\n{out}\n{err}"
    assert "dplb summary:" in out


class LiveDplb(DplbTelemetry):
    """dplb in the testbed's lb namespace, driving its eth0 via net_af_packet,
    or via the --vdev given (PCAP_VDEV)."""

    def __init__(self, testbed, workdir, vdev=None):
        self.testbed = testbed
        self.vdev = vdev or AF_PACKET_VDEV
        self.workdir = Path(workdir)
        self.prefix = testbed.ns("lb")  # DPDK file prefix, as scripts/testbed uses
        self.config_path = self.workdir / "dplb.ini"
        self.stdout_path = self.workdir / "dplb.stdout"
        self.stderr_path = self.workdir / "dplb.stderr"
        self.proc = None

    def command(self):
        return ["ip", "netns", "exec", self.testbed.ns("lb"), str(DPLB),
                "--no-huge", "-m", "512", "--no-pci", "-l", "0-1",
                "--file-prefix", self.prefix, "--vdev", self.vdev,
                "--", "-c", str(self.config_path)]

    def start(self, config):
        if not os.access(DPLB, os.X_OK):
            raise AssertionError(f"dplb not found at {DPLB}; build it or set DPLB_BUILD")
        self.config_path.write_text(config)
        subprocess.run(["rm", "-rf", f"/var/run/dpdk/{self.prefix}"], check=False)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            # ip netns exec execs dplb, so this pid is dplb's own.
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        wait_for(self._ready, "dplb to start")
        return self

    def output(self):
        return (self.stdout_path.read_text(errors="replace"),
                self.stderr_path.read_text(errors="replace"))

    def _ready(self):
        if self.proc.poll() is not None:
            out, err = self.output()
            raise AssertionError(f"dplb exited early ({self.proc.returncode}):\n{out}\n{err}")
        return ": running with" in self.output()[0]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def reload(self, config):
        """Rewrite the file, SIGHUP, and wait until dplb has taken it."""
        before = self.stats()
        self.config_path.write_text(config)
        self.proc.send_signal(signal.SIGHUP)

        def handled():
            s = self.stats()
            done = s["reloads_ok"] + s["reloads_failed"]
            return s if done > before["reloads_ok"] + before["reloads_failed"] else None
        after = wait_for(handled, "the reload to be handled")
        assert after["reloads_ok"] == before["reloads_ok"] + 1, self.output()
        return after

    def stop(self):
        """SIGINT; returns (returncode, stdout, stderr)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("dplb did not stop on SIGINT")
        finally:
            subprocess.run(["rm", "-rf", f"/var/run/dpdk/{self.prefix}"], check=False)
        out, err = self.output()
        return self.proc.returncode, out, err


def config_text(vips, static_macs=False):
    """dplb's INI for the testbed. vips: [(name, address, port, protocol,
    encap, {backend address: weight})]. With static_macs the testbed's
    backends get mac=...; otherwise dplb resolves them by ARP."""
    lines = ["[dataplane]", "ports = 0", f"address = {LB_ADDR}", "prefix_length = 24",
             "flow_table_size = 65536", "tcp_timeout = 300", "udp_timeout = 60", "",
             "[management]", "listen = 127.0.0.1:8080", ""]
    for name, address, port, protocol, encap, backends in vips:
        lines += [f"[vip:{name}]", f"address = {address}", f"port = {port}",
                  f"protocol = {protocol}", f"encap = {encap}", "scheduler = maglev",
                  "health_check = none"]
        for backend, weight in backends.items():
            mac = ""
            if static_macs and backend in NAME_OF:
                mac = f" mac={BACKEND_MACS[NAME_OF[backend]]}"
            lines.append(f"backend = {backend} weight={weight}{mac}")
        lines.append("")
    return "\n".join(lines)


def api_get(testbed, path):
    """GET path from dplb's API (127.0.0.1:8080 in the lb namespace); the
    JSON body of its 200 answer."""
    def request():
        conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()
    status, body = in_netns(testbed.ns("lb"), request)
    assert status == 200, body
    return body


# ------------------------------------------------------------------ clients


class KeepAliveClient:
    """One HTTP/1.1 connection from the client namespace, kept open for many
    requests. The testbed's servers answer with a line naming themselves."""

    def __init__(self, testbed, vip, port=80, local_port=0):
        def connect():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(WAIT_SECONDS)
            if local_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((CLIENT_ADDR, local_port))
            sock.connect((vip, port))
            return sock
        self.sock = in_netns(testbed.ns("client"), connect)
        self.local_port = self.sock.getsockname()[1]
        self.buffer = b""

    def _read_until(self, marker):
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def request(self, path="/", close=False):
        """GET path; returns (status, body)."""
        extra = "Connection: close\r\n" if close else ""
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: vip\r\n{extra}\r\n".encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        status = int(head.split()[1])
        length = 0
        for line in head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-length":
                length = int(value)
        while len(self.buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed in the middle of a response")
            self.buffer += chunk
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body.decode("latin-1")

    def ask(self, path="/"):
        """A request whose answer must name a backend; returns (backend
        name, client port the backend saw, request number on this
        connection)."""
        status, body = self.request(path)
        assert status == 200, body
        return parse_identity(body)

    def close(self):
        self.sock.close()


def download_past_a_narrow_link(lb, ns, url, size):
    """From namespace ns, one curl download of url (size bytes) whose path
    back from the backends meets a narrow link: it must complete whole,
    and lb (a LiveDplb) must have forwarded ICMP or ICMPv6 errors to the
    backend on the way (path MTU discovery through dplb). Returns how many."""
    before = lb.stats()["icmp_errors_forwarded"]
    res = run("ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "60", "-o", "/dev/null",
              "-w", "%{size_download}", url, check=False, timeout=90)
    forwarded = lb.stats()["icmp_errors_forwarded"] - before
    assert res.returncode == 0 and res.stdout == str(size), (
        f"download failed ({res.returncode}, {res.stdout!r} bytes, {res.stderr.strip()}); "
        f"dplb forwarded {forwarded} ICMP errors")
    assert forwarded > 0, "the download never met the narrow link"
    return forwarded


def http_once(ns, address, port=80, timeout=WAIT_SECONDS):
    """From namespace ns: one new connection to address:port, one HTTP/1.0
    GET /; the answer's body. Raises OSError when nobody answers, and
    ConnectionError when the answer is not a 200."""
    def ask():
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(f"answer {head[:40]!r}")
        return body.decode()
    return in_netns(ns, ask)


def udp_from_ports(client, vip, ports, datagrams):
    """Run in the client namespace (in_netns): from each source port of
    client's address, `datagrams` queries to the backends' UDP echo servers
    behind vip:53 (either family). Returns {port: [backend of each answer]}."""
    family = socket.AF_INET6 if ":" in vip else socket.AF_INET
    answers = {}
    for port in ports:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((client, port))
            sock.connect((vip, 53))
            sock.settimeout(2)
            names = []
            for i in range(datagrams):
                query = f"q{port}-{i}".encode()
                for _attempt in range(15):  # a lost datagram is sent again
                    sock.send(query)
                    try:
                        reply = sock.recv(512).decode()
                        break
                    except socket.timeout:
                        continue
                else:
                    raise AssertionError(f"no answer to {query!r} from port {port}")
                assert reply.endswith(" " + query.decode()), reply
                name, seen_port, _ = parse_identity(reply.rsplit(" ", 1)[0])
                assert seen_port == port
                names.append(name)
            answers[port] = names
    return answers


def parse_identity(line):
    """'backend b1 client 198.18.0.2:40312 request 3' -> ('b1', 40312, 3);
    an IPv6 client reads '[fd00:db1b::2]:40312'."""
    words = line.split()
    assert words[0] == "backend" and words[2] == "client", line
    host, port = words[3].rsplit(":", 1)
    assert host in (CLIENT_ADDR, f"[{CLIENT_ADDR6}]"), line
    number = int(words[5]) if len(words) > 5 and words[4] == "request" else None
    return words[1], int(port), number


# ------------------------------------------------------------------ sniffer


class Sniffer:
    """Everything dplb transmits, as seen on the bridge port in front of it
    (the veth peer of dplb's eth0, in the net namespace)."""

    def __init__(self, testbed):
        def open_socket():
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
            sock.bind(("lb", ETH_P_ALL))
            sock.settimeout(0.1)
            return sock
        self.sock = in_netns(testbed.ns("net"), open_socket)
        self.frames = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping.is_set():
            try:
                data, address = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if address[2] == PACKET_OUTGOING:
                continue  # sent toward dplb by the bridge, not by dplb
            with self.lock:
                self.frames.append(data)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=WAIT_SECONDS)
        self.sock.close()
        with self.lock:
            return list(self.frames)

    def snapshot(self):
        with self.lock:
            return list(self.frames)


def parse_frame(frame):
    """A frame dplb sent, as a dict: kind 'tunnel' (outer_dst, encap, inner
    src/dst/proto/sport/dport), 'arp' (op, target), 'icmp' or 'other';
    always dst_mac and src_mac."""
    info = {"dst_mac": frame[0:6], "src_mac": frame[6:12], "kind": "other"}
    offset, ether_type = 14, struct.unpack("!H", frame[12:14])[0]
    if ether_type == 0x8100:
        offset, ether_type = 18, struct.unpack("!H", frame[16:18])[0]
    if ether_type == ETH_P_ARP and len(frame) >= offset + 28:
        info.update(kind="arp", op=struct.unpack("!H", frame[offset + 6:offset + 8])[0],
                    sender=socket.inet_ntoa(frame[offset + 14:offset + 18]),
                    target=socket.inet_ntoa(frame[offset + 24:offset + 28]))
        return info
    if ether_type != 0x0800 or len(frame) < offset + 20:
        return info
    ihl = (frame[offset] & 0x0F) * 4
    proto = frame[offset + 9]
    info["outer_src"] = socket.inet_ntoa(frame[offset + 12:offset + 16])
    info["outer_dst"] = socket.inet_ntoa(frame[offset + 16:offset + 20])
    inner = None
    if proto == 4:
        inner, info["encap"] = offset + ihl, "ipip"
    elif proto == 17 and struct.unpack("!H", frame[offset + ihl + 2:offset + ihl + 4])[0] == GUE_PORT:
        inner, info["encap"] = offset + ihl + 8, "gue"
    elif proto == 1:
        info["kind"] = "icmp"
        return info
    if inner is None or len(frame) < inner + 24:
        return info
    inner_ihl = (frame[inner] & 0x0F) * 4
    info.update(kind="tunnel", proto=frame[inner + 9],
                src=socket.inet_ntoa(frame[inner + 12:inner + 16]),
                dst=socket.inet_ntoa(frame[inner + 16:inner + 20]))
    info["sport"], info["dport"] = struct.unpack(
        "!HH", frame[inner + inner_ihl:inner + inner_ihl + 4])
    return info


def backends_by_flow(frames):
    """{(proto, src, sport, dst, dport): set of outer destinations} over
    the tunnelled frames."""
    flows = {}
    for frame in frames:
        info = parse_frame(frame)
        if info["kind"] != "tunnel":
            continue
        key = (info["proto"], info["src"], info["sport"], info["dst"], info["dport"])
        flows.setdefault(key, set()).add(info["outer_dst"])
    return flows


class Repeatedly:
    """function() called again and again from a thread until stop(), each
    call recorded in results as (time it started, seconds it took, what it
    returned or "error: ..." when it raised OSError or AssertionError):
    new connections made one after another while something changes."""

    def __init__(self, function, pause=0.0):
        self.function = function
        self.pause = pause
        self.results = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                outcome = self.function()
            except (OSError, AssertionError) as e:  # ConnectionError is an OSError
                outcome = f"error: {e!r}"
            self.results.append((started, time.monotonic() - started, outcome))
            if self.pause:
                self.stopping.wait(self.pause)

    def since(self, moment):
        """What the calls started at moment or later returned."""
        return [outcome for started, _, outcome in list(self.results) if started >= moment]

    def errors(self):
        return [r for r in list(self.results) if isinstance(r[2], str) and r[2].startswith("error")]

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=WAIT_SECONDS)
        return list(self.results)
