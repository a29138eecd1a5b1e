"""Smoke tests of scripts/pktgen/ that need no pktgen: run-memif says how to
build one and exits 2 without it, the helpers it borrows from scripts/bench
are still there, and make-capture writes the flows dplb expects."""

import ipaddress
import os
import re
import struct
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PKTGEN_DIR = REPO / "scripts" / "pktgen"


def test_run_memif_without_pktgen_says_how_to_build_it():
    env = {k: v for k, v in os.environ.items() if k != "PKTGEN"}
    proc = subprocess.run([str(PKTGEN_DIR / "run-memif")], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "-Denable_lua=true" in proc.stderr
    assert "docs/benchmarking.md" in proc.stderr


def test_what_run_memif_borrows_from_scripts_bench_is_there():
    bench = (REPO / "scripts" / "bench").read_text()
    defined = set(re.findall(r"^(?:def|class) (\w+)", bench, re.M))
    defined |= set(re.findall(r"^(\w+) = ", bench, re.M))
    for name in ("run-memif", "make-capture"):
        used = set(re.findall(r"\bbench\.(\w+)", (PKTGEN_DIR / name).read_text()))
        assert used and used <= defined, (name, used - defined)


def test_make_capture_writes_one_packet_per_flow_to_the_vip(tmp_path):
    path = tmp_path / "flows.pcap"
    subprocess.run([str(PKTGEN_DIR / "make-capture"), "-o", str(path), "--flows", "16390",
                    "--dst-mac", "02:00:00:00:00:10", "--vip", "10.10.0.100:80"],
                   check=True, capture_output=True, timeout=60)
    data = path.read_bytes()
    offset, flows = 24, set()
    while offset < len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        frame = data[offset + 16:offset + 16 + length]
        offset += 16 + length
        assert length == 60 and frame[:6] == bytes.fromhex("020000000010")
        ip = frame[14:34]
        total = sum(struct.unpack(">10H", ip))
        total = (total & 0xFFFF) + (total >> 16)
        assert total == 0xFFFF  # a right header checksum: dplb checks it
        assert ipaddress.IPv4Address(ip[16:20]) == ipaddress.IPv4Address("10.10.0.100")
        sport, dport = struct.unpack(">HH", frame[34:38])
        assert dport == 80
        flows.add((ip[12:16], sport))
    assert len(flows) == 16390
    assert (ipaddress.IPv4Address("11.0.0.1").packed, 1024 + 5) in flows
