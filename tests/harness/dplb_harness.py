"""Run the real dplb binary on net_pcap virtual devices and talk to it.

Input is a pcap file, or a FIFO the test keeps writing to (so that a reload
can fall between two halves of a capture). Progress is read from dplb's own
DPDK telemetry commands (/dplb/stats, /dplb/drops), so tests wait for
counters, never for time.

dplb asks the pcap PMD for bursts of BURST (DPLB_BURST) and the PMD blocks
on a FIFO until a burst is full, so FIFO writers send whole bursts
(`padded` in apitest.py, the tests' fillers).

Each dplb gets a free loopback port for its HTTP API (added to the config
as [management] listen unless the config names one), so tests never
collide on the default 8080; `http()` talks to it. Should another process
take that port before dplb binds it, dplb is started again on another.

When dplb does not start, or a test fails while it runs, the failure says
how dplb ended or what its threads were doing, and what it wrote last
(see processes.py).
"""

import errno
import fcntl
import http.client
import json
import os
import re
import signal
import subprocess
import uuid
from pathlib import Path

from scapy.all import PcapWriter, rdpcap  # noqa: F401  (re-exported for tests)

from .dplb_telemetry import DplbTelemetry
from .polling import wait_for as poll_until
from .processes import PORT_ATTEMPTS, free_port, port_taken, report, threads

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("DPLB_BUILD", REPO / "build"))
DPLB = BUILD / "app" / "dplb"
# dplb's DPLB_BURST, read where it is defined so that the two cannot drift.
BURST = int(re.search(r"^#define DPLB_BURST (\d+)$",
                      (REPO / "lib" / "packet" / "worker.h").read_text(), re.M).group(1))
WAIT_SECONDS = float(os.environ.get("DPLB_TEST_WAIT", "120"))

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def wait_for(predicate, what, timeout=WAIT_SECONDS):
    """Poll predicate until it returns a true value; fail after timeout."""
    return poll_until(predicate, what, timeout=timeout)


class PortTaken(Exception):
    """dplb could not listen on its API port: another process had it."""


class Dplb(DplbTelemetry):
    """One dplb process on one net_pcap port."""

    def __init__(self, workdir: Path, config: str, *, fifo=False, lcores="0-1",
                 rx_pcap=None, queue_pcaps=None, http_port=None, pipe_size=None,
                 pcap_options=""):
        self.workdir = Path(workdir)
        self.prefix = "dplbt-" + uuid.uuid4().hex[:10]
        # A port this harness picked may be picked again if it was taken.
        self.port_picked = not http_port and not re.search(r"^\s*listen\s*=", config, re.M)
        self.http_port = http_port or free_port()
        self.config = config
        self.config_path = self.workdir / "dplb.ini"
        self.config_path.write_text(self.with_listen(config))
        self.out_pcap = self.workdir / "out.pcap"
        self.in_pcap = Path(rx_pcap) if rx_pcap else self.workdir / "in.pcap"
        self.fifo = fifo
        self.lcores = lcores
        # Several queues (one worker each): one input and one output pcap per
        # queue, and lcores mapped onto the two CPUs this machine has.
        self.queue_pcaps = queue_pcaps
        if queue_pcaps:
            self.lcores = None
            self.out_pcaps = [self.workdir / f"out{q}.pcap" for q in range(len(queue_pcaps))]
        # Pipes of this many bytes for dplb's stdout and stderr (one page at
        # least), read only when it stops: a log reader that fell behind.
        self.pipe_size = pipe_size
        self.pcap_options = pcap_options  # more net_pcap arguments: "infinite_rx=1"
        self.proc = None
        self.writer = None
        self.stdout = ""
        self.stderr = ""
        self.early = {}  # what dplb wrote while starting, by pipe
        self.pid = self.proc_status = None

    # -- life cycle --

    def command(self):
        if self.queue_pcaps:
            workers = ",".join(f"{w + 1}@1" for w in range(len(self.queue_pcaps)))
            lcores = ["--lcores", f"0@0,{workers}"]
            vdev = "net_pcap0," + ",".join(
                [f"rx_pcap={p}" for p in self.queue_pcaps] +
                [f"tx_pcap={p}" for p in self.out_pcaps])
        else:
            lcores = ["-l", self.lcores]
            vdev = f"net_pcap0,rx_pcap={self.in_pcap},tx_pcap={self.out_pcap}"
        if self.pcap_options:
            vdev += "," + self.pcap_options
        return [str(DPLB), "--no-huge", "-m", "512", "--no-pci", *lcores,
                "--file-prefix", self.prefix, "--log-level", "pmd.net.pcap:error",
                "--vdev", vdev, "--", "-c", str(self.config_path)]

    def start(self):
        """Start dplb and wait until its telemetry answers; start it again
        on another port if the one picked for its API was taken meanwhile."""
        for _ in range(PORT_ATTEMPTS):
            try:
                return self._start_once()
            except PortTaken:
                self.prefix = "dplbt-" + uuid.uuid4().hex[:10]
                self.http_port = free_port()
                self.config_path.write_text(self.with_listen(self.config))
        raise AssertionError(f"{PORT_ATTEMPTS} ports picked for dplb's API were all taken "
                             "before it could listen on them")

    def _start_once(self):
        if self.fifo:
            if self.in_pcap.exists():
                self.in_pcap.unlink()
            os.mkfifo(self.in_pcap)
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=self.workdir,
                                     preexec_fn=self._shrink_pipes if self.pipe_size else None)
        self.pid = self.proc.pid
        # Read while it starts, never blocking: a dplb that cannot run does
        # not always exit (a worker blocked reading a FIFO cannot stop).
        self.early = {pipe: bytearray() for pipe in (self.proc.stdout, self.proc.stderr)}
        for pipe in self.early:
            os.set_blocking(pipe.fileno(), False)
        try:
            if self.fifo:
                # Opened once dplb has opened the other end; a dplb that
                # exits first must fail the test, not hang it.
                fd = wait_for(self._open_fifo, "dplb to open its input FIFO")
                self.writer = PcapWriter(os.fdopen(fd, "wb"), linktype=1, sync=True)
                # dplb reads the file header while starting: write it now.
                self.writer.write_header(None)
            wait_for(self._telemetry_ready, "dplb telemetry socket")
        except (AssertionError, PortTaken) as error:
            # Never leave a dplb polling a core behind a failed test, and
            # say how it ended, or what it was doing.
            status, stacks = self._end_failed_start(isinstance(error, PortTaken))
            if isinstance(error, PortTaken) and self.port_picked:
                raise
            what = str(error) if status is None else f"dplb exited early ({status})"
            raise AssertionError(f"{what}\n" + report(
                "dplb", self.pid, status, self.stdout + self.stderr, stacks)) from None
        except BaseException:
            self.stop_now()
            raise
        for pipe in self.early:
            os.set_blocking(pipe.fileno(), True)
        return self

    def _end_failed_start(self, said_why):
        """Stop a dplb that did not start; return its exit status, or None
        and its threads' stacks if it was still running. One that said why
        it cannot run gets EOF on its FIFO and time to exit by itself."""
        self._read_early()
        for pipe in self.early:
            os.set_blocking(pipe.fileno(), True)
        if said_why:
            if self.writer is not None:
                self.writer.close()
                self.writer = None
            try:
                self._collect(self.proc.communicate(timeout=WAIT_SECONDS))
                return self.proc_status, None
            except subprocess.TimeoutExpired:
                pass
        status = self.proc.poll()
        stacks = threads(self.pid) if status is None else None
        self.stop_now()
        return status, stacks

    def _shrink_pipes(self):
        """In the child, before exec: its stdout and stderr are the pipes."""
        for fd in (1, 2):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, self.pipe_size)

    def _read_early(self):
        for pipe, data in self.early.items():
            try:
                while chunk := os.read(pipe.fileno(), 65536):
                    data += chunk
            except BlockingIOError:
                pass

    def _check_starting(self):
        """Fail at once when dplb has exited, or said why it will not run."""
        self._read_early()
        if port_taken(self.early[self.proc.stderr].decode(errors="replace")):
            raise PortTaken(f"dplb could not listen on 127.0.0.1:{self.http_port}")
        if self.proc.poll() is not None:
            raise AssertionError("dplb exited early")

    def _open_fifo(self):
        self._check_starting()
        try:
            fd = os.open(self.in_pcap, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno == errno.ENXIO:  # no reader yet
                return None
            raise
        os.set_blocking(fd, True)
        return fd

    def _telemetry_ready(self):
        self._check_starting()
        try:
            reply = self.telemetry("/dplb/stats")
            return isinstance(reply, dict) and "generation" in reply
        except (OSError, ValueError, KeyError):
            return False

    def stop_now(self):
        """EOF on dplb's FIFO, SIGKILL, and keep what it wrote; nothing is
        checked."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.proc is not None:
            self.proc.kill()
            self._collect(self.proc.communicate())

    def _collect(self, outputs):
        """Keep dplb's stdout and stderr (with what was read while it
        started), forget its runtime directory."""
        early = [self.early.get(pipe, b"") for pipe in (self.proc.stdout, self.proc.stderr)]
        self.stdout, self.stderr = (bytes(e).decode(errors="replace") + (o or "")
                                    for e, o in zip(early, outputs))
        self.early = {}
        self.proc_status = self.proc.returncode
        self.proc = None
        subprocess.run(["rm", "-rf", str(Path("/var/run/dpdk") / self.prefix)], check=False)

    def stop(self):
        """SIGINT, wait, and return (returncode, stdout, stderr)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            outputs = self.proc.communicate(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            stacks = threads(self.pid)
            self.proc.kill()
            self._collect(self.proc.communicate())
            raise AssertionError("dplb did not stop on SIGINT\n" + report(
                "dplb", self.pid, None, self.stdout + self.stderr, stacks)) from None
        self._collect(outputs)
        for marker in SANITIZER_MARKERS:
            assert marker not in self.stderr, self.stderr
        return self.proc_status, self.stdout, self.stderr

    def __enter__(self):
        return self.start()

    def __exit__(self, kind, error, trace):
        if self.proc is None:
            return
        if kind is None or not issubclass(kind, Exception):
            self.stop()
            return
        # The test failed while dplb ran: what dplb was doing goes with it
        # (pytest shows what a failed test printed).
        status = self.proc.poll()
        stacks = threads(self.proc.pid) if status is None else None
        try:
            self.stop()
        except AssertionError as stop_error:
            print(stop_error)
        print(report("dplb", self.pid, status, self.stdout + self.stderr, stacks))

    def wait_received(self, count):
        def settled():
            s = self.stats()
            # Every packet received is either sent, dropped or handed over.
            done = s["tx_packets"] + s["drops"] + s["to_management"]
            return s if s["rx_packets"] >= count and done >= s["rx_packets"] else None
        wait_for(settled, f"dplb to receive and handle {count} packets")
        # Read again: the read that saw the last packet sent may have read
        # a counter the worker wrote just before sending it (icmp_errors_
        # forwarded, new_flows...) before that write; one begun after it
        # sees every write the worker made before the send (x86 keeps
        # stores in order). Counters written after the send (the VIPs' and
        # backends' packets_out, flows_active) are a few instructions
        # later, and this read comes milliseconds after.
        return self.stats()

    # -- the HTTP API --

    def with_listen(self, config):
        """config, listening on this dplb's own port unless it says where."""
        if re.search(r"^\s*listen\s*=", config, re.M):
            return config
        listen = f"listen = 127.0.0.1:{self.http_port}"
        if re.search(r"^\s*\[management\]", config, re.M):
            return re.sub(r"^(\s*\[management\][^\n]*)$", lambda m: m.group(1) + "\n" + listen,
                          config, count=1, flags=re.M)
        return f"{config}\n[management]\n{listen}\n"

    def http(self, method, path, body=None, headers=None, timeout=WAIT_SECONDS):
        """One request; returns (status, headers, body). A dict or list body is
        sent as JSON; a JSON answer is decoded."""
        connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            answer_headers = {k.lower(): v for k, v in response.getheaders()}
            if data and answer_headers.get("content-type", "").startswith("application/json"):
                data = json.loads(data)
            return response.status, answer_headers, data
        finally:
            connection.close()

    # -- feeding a FIFO --

    def write(self, packets):
        for packet in packets:
            self.writer.write(packet)

    def reload(self, config=None):
        """Rewrite the config (if given), SIGHUP, wait until it is handled."""
        before = self.stats()
        if config is not None:
            self.config_path.write_text(self.with_listen(config))
        self.proc.send_signal(signal.SIGHUP)
        return wait_for(
            lambda: (lambda s: s if s["reloads_ok"] + s["reloads_failed"] >
                     before["reloads_ok"] + before["reloads_failed"] else None)(self.stats()),
            "the reload to be handled")

    def output(self):
        if self.queue_pcaps:
            return [list(rdpcap(str(p))) for p in self.out_pcaps]
        return list(rdpcap(str(self.out_pcap))) if self.out_pcap.exists() else []


def run_capture(workdir, config, packets, **kwargs):
    """Send packets through a fresh dplb from a pcap file; return
    (output packets, final stats, drops, stdout)."""
    workdir = Path(workdir)
    in_pcap = workdir / "in.pcap"
    writer = PcapWriter(str(in_pcap), linktype=1, sync=True)
    for packet in packets:
        writer.write(packet)
    writer.close()
    dplb = Dplb(workdir, config, rx_pcap=in_pcap, **kwargs).start()
    try:
        stats = dplb.wait_received(len(packets))
        drops = dplb.drops()
    finally:
        code, out, err = dplb.stop()
    assert code == 0, err
    return dplb.output(), stats, drops, out
