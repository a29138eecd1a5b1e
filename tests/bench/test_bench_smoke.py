"""Smoke tests of the benchmark tools: they run, and dplb-gen's checks bite.

These prove that dplb-bench and dplb-gen work, with tiny sizes and without
hugepages; they assert nothing about speed (a benchmark prints numbers, it
does not fail on a slow machine). dplb-gen talks to a real dplb over memif,
the generator being the memif server, and must report errors when told to
expect the wrong backends or the wrong encapsulation. When that pair does
not run, the failure says how each process ended (or what its threads were
doing) and what each wrote last.
"""

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from harness.dplb_telemetry import telemetry_query
from harness.processes import PORT_ATTEMPTS, free_port, port_taken, report_popen

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("DPLB_BUILD", REPO / "build"))
TIMEOUT = 120
BACKENDS = [f"10.10.1.{i}" for i in range(1, 9)]
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def eal(name, lcores, memory=256):
    prefix = f"dplbs-{name}-{uuid.uuid4().hex[:8]}"
    return prefix, ["-l", lcores, "--no-huge", "-m", str(memory), "--no-pci",
                    "--file-prefix", prefix, "--log-level", "lib.eal:warning"]


def forget(prefix):
    subprocess.run(["rm", "-rf", f"/var/run/dpdk/{prefix}"], check=False)


def no_sanitizer_report(text):
    for marker in SANITIZER_MARKERS:
        assert marker not in text, text


def test_dplb_bench_runs_every_kind_of_scenario():
    prefix, args = eal("bench", "0")
    try:
        proc = subprocess.run(
            [str(BUILD / "bench" / "dplb-bench")] + args + [
                "--", "--scenarios", "est-1,est-1k,flood,mix-1k,maglev", "--runs", "1",
                "--packets", "4096", "--flow-table-size", "4096"],
            capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        forget(prefix)
    no_sanitizer_report(proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for row in ("est-1-tcp", "est-1k-udp", "flood-tcp", "mix-1k-udp"):
        assert any(line.startswith(row + " ") for line in proc.stdout.splitlines()), proc.stdout
    # Every packet went through: nothing dropped or lost on the way.
    measured = [line for line in proc.stdout.splitlines() if "packets measured" in line]
    assert len(measured) == 8 and all(" 0 dropped, 0 not sent" in line for line in measured)
    assert "1000 backends, M=655373" in proc.stdout


def run_bench(name, lcores, options, memory=256):
    """dplb-bench without hugepages on lcores; its finished process."""
    prefix, args = eal(name, lcores, memory)
    try:
        proc = subprocess.run([str(BUILD / "bench" / "dplb-bench")] + args + ["--"] + options,
                              capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        forget(prefix)
    no_sanitizer_report(proc.stderr)
    return proc


def test_dplb_bench_probes_page_translation():
    """The memory scenario: a read's cost over the est-1m and est-10m tables'
    footprints, spread a line a page and packed, each a number of cycles."""
    proc = run_bench("bench-memory", "0", ["--scenarios", "memory", "--runs", "1"], memory=512)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed" not in proc.stdout, proc.stdout
    probes = re.findall(r"page translation, table of (\d+) flows \([\d.]+ MiB\): "
                        r"spread ([\d.]+) .*, packed ([\d.]+) .*, translation (-?[\d.]+) cycles",
                        proc.stdout)
    assert [flows for flows, *_ in probes] == ["1000000", "10000000"], proc.stdout
    for _, spread, packed, translation in probes:
        assert float(spread) > 0 and float(packed) > 0, proc.stdout
        assert abs(float(spread) - float(packed) - float(translation)) < 0.2, proc.stdout


def test_dplb_bench_runs_workers_side_by_side():
    """--workers 1,2: each kind of scenario on one worker, then on two
    lcores at once with the flows split between them; a line per worker,
    nothing lost, and how the aggregate grew."""
    proc = run_bench("bench-workers", "0,1", [
        "--workers", "1,2", "--scenarios", "est-1k,flood,mix-1k", "--runs", "1",
        "--packets", "4096", "--flow-table-size", "4096"], memory=512)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for row in ("est-1k-tcp", "est-1k-udp", "flood-tcp", "flood-udp", "mix-1k-tcp", "mix-1k-udp"):
        for workers in ("1", "2"):
            assert any(line.split()[:2] == [row, workers] for line in lines), proc.stdout
        assert any(line.startswith(row + " ") and " 2 vs 1 workers: aggregate " in line
                   for line in lines), proc.stdout
    # With two workers RSS gives each some of the 1000 flows, and each flow to one.
    shares, row = {}, None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and not line.startswith(" ") and fields[1] in ("1", "2"):
            row = (fields[0], fields[1])
        found = re.search(r"worker \d on lcore \d+: (\d+) flows", line)
        if found and row[1] == "2":
            shares.setdefault(row[0], []).append(int(found.group(1)))
    assert len(shares) == 4, proc.stdout
    assert all(len(s) == 2 and all(s) and sum(s) == 1000 for s in shares.values()), shares
    measured = [line for line in lines if "packets measured" in line]
    assert len(measured) == 12 and all(" 0 dropped, 0 not sent" in line for line in measured)


def test_dplb_bench_runs_ipv6_beside_ipv4():
    """--family both: each scenario in IPv4 and IPv6 (rows ending in 6), every
    packet forwarded in both, the comparison printed; --stages for IPv6 too."""
    proc = run_bench("bench-ipv6", "0", [
        "--family", "both", "--scenarios", "est-1k,flood,maglev", "--runs", "1",
        "--packets", "4096", "--stages"], memory=512)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "78-byte frames in both families" in proc.stdout, proc.stdout
    for row in ("est-1k-tcp", "est-1k-udp", "flood-tcp", "flood-udp"):
        for name in (row, row + "6"):
            assert any(line.startswith(name + " ") for line in lines), proc.stdout
        assert any(line.startswith(row + " ") and " IPv6/IPv4: " in line
                   for line in lines), proc.stdout
        assert re.search(rf"^  {row} +[0-9.]+ +[0-9.]+ +[0-9.]+x$", proc.stdout, re.M), proc.stdout
    # Every packet went through, in both families: nothing dropped or lost,
    # each established flow found (no new flow while measured).
    measured = [line for line in lines if "packets measured" in line]
    assert len(measured) == 8 and all(" 0 dropped, 0 not sent" in line and
                                      " 0 insert failures" in line for line in measured)
    established = [line for line in measured if "4096 packets measured: 0 new flows" in line]
    assert len(established) == 4, proc.stdout
    assert sum("IPv6 flow table of" in line for line in lines) == 4, proc.stdout
    stages = [line for line in lines if "stages, cycles/pkt" in line]
    assert len(stages) == 4 and all(" full " in line for line in stages), proc.stdout
    assert sum("stages, IPv6 - IPv4" in line for line in lines) == 2, proc.stdout
    assert "IPv6 backends: 16-byte keys" in proc.stdout and "IPv6/IPv4 " in proc.stdout


def test_dplb_bench_runs_ipv6_alone_with_gue():
    """--family 6 --encap gue: IPv6 rows only, forwarded whole, and no comparison."""
    proc = run_bench("bench-ipv6-gue", "0", [
        "--family", "6", "--encap", "gue", "--scenarios", "est-1k", "--proto", "udp",
        "--runs", "1", "--packets", "4096"], memory=512)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("est-1k-udp6 ") for line in lines), proc.stdout
    assert not any(line.startswith("est-1k-udp ") for line in lines), proc.stdout
    measured = [line for line in lines if "packets measured" in line]
    assert len(measured) == 1 and " 0 dropped, 0 not sent" in measured[0], proc.stdout
    assert "IPv6/IPv4" not in proc.stdout


def test_dplb_bench_wants_an_lcore_per_worker():
    proc = run_bench("bench-lcores", "0", ["--workers", "2"])
    assert proc.returncode == 2 and "needs 2 lcores" in proc.stderr, proc.stdout + proc.stderr


def test_dplb_bench_skips_what_does_not_fit():
    prefix, args = eal("bench-skip", "0", memory=128)
    try:
        proc = subprocess.run(
            [str(BUILD / "bench" / "dplb-bench")] + args + ["--", "--scenarios", "est-10m", "--proto", "udp"],
            capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        forget(prefix)
    no_sanitizer_report(proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "est-10m-udp" in proc.stdout and "skipped" in proc.stdout and "MiB" in proc.stdout


def run_to_files(command, out, err):
    with out.open("w") as stdout, err.open("w") as stderr:
        return subprocess.Popen(command, stdout=stdout, stderr=stderr)


class Pair:
    """dplb-gen (memif server) and dplb (memif client), each writing to its
    own files, so that either can be watched while the other runs and both
    can be described when something goes wrong."""

    def __init__(self, workdir, gen_options):
        workdir.mkdir()
        config = workdir / "dplb.ini"
        config.write_text("\n".join([
            "[dataplane]", "ports = 0", "address = 10.10.0.10", "gateway = 10.10.0.1",
            "gateway_mac = 02:00:00:00:00:01", "flow_table_size = 4096",
            "[management]", f"listen = 127.0.0.1:{free_port()}",
            "[vip:web]", "address = 10.10.0.100", "port = 80", "protocol = udp",
            "encap = ipip",
        ] + [f"backend = {b}" for b in BACKENDS]) + "\n")
        self.sock = workdir / "memif.sock"
        self.gen_prefix, gen_eal = eal("gen", "1")
        self.dplb_prefix, self.dplb_eal = eal("dplb", "0-1", memory=512)
        self.config = config
        self.dplb = None
        self.gen_out, self.gen_err = workdir / "gen.out", workdir / "gen.err"
        self.dplb_out, self.dplb_err = workdir / "dplb.out", workdir / "dplb.err"
        self.gen = run_to_files(
            [str(BUILD / "tools" / "dplb-gen")] + gen_eal + [
                "--vdev", f"net_memif0,role=server,socket={self.sock},socket-abstract=no",
                "--", "--vip", "10.10.0.100:80", "--proto", "udp", "--flows", "64",
                "--count", "5000", "--rate", "100000", "--json",
                "--wait-link", str(TIMEOUT), "--hold"] + gen_options,
            self.gen_out, self.gen_err)

    def start_dplb(self):
        self.dplb = run_to_files(
            [str(BUILD / "app" / "dplb")] + self.dplb_eal + [
                # dplb-gen sends to 02:00:00:00:00:01 unless told otherwise,
                # and dplb drops frames unicast to another MAC.
                "--vdev", f"net_memif0,role=client,socket={self.sock},socket-abstract=no,"
                "mac=02:00:00:00:00:01", "--",
                "-c", str(self.config)],
            self.dplb_out, self.dplb_err)

    def gen_port_started(self):
        """Whether dplb-gen has started its port. Its memif socket listens
        from EAL's start on, but a client connecting before the port starts
        is refused ("ID not found") and DPDK's memif client never tries
        again: dplb would run with its link down for good."""
        try:
            return telemetry_query(self.gen_prefix, "/ethdev/info,0")["dev_started"] == 1
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def report_line(self):
        lines = self.gen_out.read_text().splitlines()
        return next((line for line in lines if line.startswith("{")), None)

    def failure(self, what):
        """what, then how each process ended or what it was doing."""
        parts = [what, report_popen("dplb-gen", self.gen, [self.gen_out, self.gen_err])]
        if self.dplb is not None:
            parts.append(report_popen("dplb", self.dplb, [self.dplb_out, self.dplb_err]))
        else:
            parts.append("dplb was not started")
        return "\n".join(parts)

    def wait(self, predicate, what):
        """Poll predicate while both run; fail, describing both, if one
        exits first or after TIMEOUT. Returns "port taken" once dplb says
        the port picked for its API was taken."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            done = predicate()
            # Said first: dplb-gen may crash when dplb leaves, before dplb exits.
            if self.dplb is not None and port_taken(self.dplb_err.read_text(errors="replace")):
                return "port taken"
            if self.dplb is not None and self.dplb.poll() is not None:
                raise AssertionError(self.failure(f"dplb exited while waiting for {what}"))
            if done:
                return None
            if self.gen.poll() is not None:
                raise AssertionError(self.failure(f"dplb-gen exited while waiting for {what}"))
            if time.monotonic() > deadline:
                raise AssertionError(
                    self.failure(f"timed out after {TIMEOUT}s waiting for {what}"))
            time.sleep(0.05)

    def stop(self):
        """SIGINT to dplb, then to dplb-gen, which holds its memif port open
        after its report: DPDK 22.11's memif PMD can crash a peer that is
        still polling when the other side closes. Returns dplb's status."""
        for name, proc in (("dplb", self.dplb), ("dplb-gen", self.gen)):
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                raise AssertionError(self.failure(f"{name} did not stop on SIGINT")) from None
        return self.dplb.returncode

    def kill(self):
        """Whatever still runs (after a failure, or a port taken), killed."""
        for proc in (self.dplb, self.gen):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        forget(self.gen_prefix)
        forget(self.dplb_prefix)


def run_gen_against_dplb(tmp_path, gen_options):
    """dplb-gen (memif server) -> dplb (memif client) -> back; returns
    (dplb-gen's exit status, its JSON result, its output). Started again
    if the port picked for dplb's API was taken before dplb could bind it."""
    for attempt in range(PORT_ATTEMPTS):
        pair = Pair(tmp_path / f"attempt{attempt}", gen_options)
        try:
            pair.wait(pair.gen_port_started, "dplb-gen to start its memif port")
            pair.start_dplb()
            if pair.wait(pair.report_line, "dplb-gen's report") == "port taken":
                continue
            dplb_status = pair.stop()
        finally:
            pair.kill()
        no_sanitizer_report(pair.dplb_err.read_text())
        no_sanitizer_report(pair.gen_err.read_text())
        assert dplb_status == 0, pair.failure("dplb did not exit cleanly on SIGINT")
        gen_text = pair.gen_out.read_text() + pair.gen_err.read_text()
        results = [json.loads(line) for line in gen_text.splitlines() if line.startswith("{")]
        assert results, pair.failure("no JSON result from dplb-gen")
        return pair.gen.returncode, results[-1], gen_text
    raise AssertionError(f"{PORT_ATTEMPTS} ports picked for dplb's API were all taken "
                         "before it could listen on them")


def test_dplb_gen_passes_correct_output(tmp_path):
    code, result, text = run_gen_against_dplb(
        tmp_path, ["--backends", ",".join(BACKENDS), "--local", "10.10.0.10"])
    assert code == 0, text
    assert result["errors"] == 0 and result["tx_packets"] == 5000
    assert result["rx_packets"] > 0 and result["flows_seen"] > 0
    assert sum(result["backends"].values()) == result["rx_packets"]


def test_dplb_gen_reports_wrong_backends(tmp_path):
    wrong = [f"10.10.9.{i}" for i in range(1, 9)]
    code, result, text = run_gen_against_dplb(tmp_path, ["--backends", ",".join(wrong)])
    assert code == 1, text
    assert result["error_kinds"]["unknown_backend"] == result["rx_packets"] > 0
    assert "unknown_backend" in text


def test_dplb_gen_reports_wrong_encapsulation(tmp_path):
    code, result, text = run_gen_against_dplb(
        tmp_path, ["--expect", "gue", "--backends", ",".join(BACKENDS)])
    assert code == 1, text
    assert result["error_kinds"]["wrong_encap"] == result["rx_packets"] > 0


@pytest.mark.parametrize("option", [["--vip", "nonsense"], ["--expect", "ipip"]])
def test_dplb_gen_refuses_bad_usage(option):
    prefix, args = eal("gen-usage", "0")
    try:
        proc = subprocess.run(
            [str(BUILD / "tools" / "dplb-gen")] + args + ["--"] + (
                option if option[0] == "--vip" else ["--vip", "10.0.0.1:80"] + option),
            capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        forget(prefix)
    assert proc.returncode == 2, proc.stdout + proc.stderr
