"""Smoke tests of the benchmark tools: they run, and dplb-gen's checks bite.

These prove that dplb-bench and dplb-gen work, with tiny sizes and without
hugepages; they assert nothing about speed (a benchmark prints numbers, it
does not fail on a slow machine). dplb-gen talks to a real dplb over memif,
the generator being the memif server, and must report errors when told to
expect the wrong backends or the wrong encapsulation.
"""

import json
import os
import re
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_line(stream, prefix):
    """Read stream until a line starting with prefix; return all read.
    Bounded by dplb-gen's own --count and --wait-link limits."""
    text = ""
    for line in stream:
        text += line
        if line.startswith(prefix):
            break
    return text


def stop_dplb(dplb):
    """SIGINT dplb and return its stderr (kill it if it hangs)."""
    if dplb.poll() is None:
        dplb.send_signal(signal.SIGINT)
    try:
        _, err = dplb.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        dplb.kill()
        _, err = dplb.communicate()
    return err


def run_gen_against_dplb(tmp_path, gen_options):
    """dplb-gen (memif server) -> dplb (memif client) -> back; returns
    (dplb-gen's exit status, its JSON result, its output)."""
    config = tmp_path / "dplb.ini"
    config.write_text("\n".join([
        "[dataplane]", "ports = 0", "address = 10.10.0.10", "gateway = 10.10.0.1",
        "gateway_mac = 02:00:00:00:00:01", "flow_table_size = 4096",
        "[management]", f"listen = 127.0.0.1:{free_port()}",
        "[vip:web]", "address = 10.10.0.100", "port = 80", "protocol = udp", "encap = ipip",
    ] + [f"backend = {b}" for b in BACKENDS]) + "\n")
    sock = tmp_path / "memif.sock"
    gen_prefix, gen_eal = eal("gen", "1")
    dplb_prefix, dplb_eal = eal("dplb", "0-1", memory=512)
    gen = subprocess.Popen(
        [str(BUILD / "tools" / "dplb-gen")] + gen_eal + [
            "--vdev", f"net_memif0,role=server,socket={sock},socket-abstract=no", "--",
            "--vip", "10.10.0.100:80", "--proto", "udp", "--flows", "64", "--count", "5000",
            "--rate", "100000", "--json", "--wait-link", "60", "--hold"] + gen_options,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dplb = dplb_err = None
    try:
        # The memif client needs the server's socket to exist.
        for _ in range(200):
            if sock.exists() or gen.poll() is not None:
                break
            subprocess.run(["sleep", "0.05"], check=False)
        dplb = subprocess.Popen(
            [str(BUILD / "app" / "dplb")] + dplb_eal + [
                # dplb-gen sends to 02:00:00:00:00:01 unless told otherwise,
                # and dplb drops frames unicast to another MAC.
                "--vdev", f"net_memif0,role=client,socket={sock},socket-abstract=no,"
                "mac=02:00:00:00:00:01", "--",
                "-c", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # dplb-gen holds its memif port open after its report: dplb stops
        # first, since DPDK 22.11's memif PMD can crash a peer that is still
        # polling when the other side closes.
        report = wait_for_line(gen.stdout, "{")
        dplb_err = stop_dplb(dplb)
        gen.send_signal(signal.SIGINT)
        out, err = gen.communicate(timeout=TIMEOUT)
        out = report + out
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.communicate()
        if dplb is not None and dplb_err is None:
            dplb_err = stop_dplb(dplb)
        if dplb_err is not None:
            no_sanitizer_report(dplb_err)
        forget(gen_prefix)
        forget(dplb_prefix)
    no_sanitizer_report(err)
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert results, out + err
    return gen.returncode, results[-1], out + err


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
