"""A short storm under load (issue 13): scripts/storm with 10 reloads and 50
API changes while dplb-gen sends over memif and checks every packet.

Asserted: nothing lost, no established flow moved, no drop reason counted,
every request answered with its expected status, every reload applied. No
timing is asserted (a slow machine is not a failure). And the checks bite:
a storm whose second configuration removes a measured backend must report
the flows it moved, and fail.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("DPLB_BUILD", REPO / "build"))
TIMEOUT = 180


def storm(tmp_path, *options):
    """Run scripts/storm small and without hugepages; returns (exit status,
    its JSON result, its output)."""
    result_path = tmp_path / "storm.json"
    # 50 kpps over 1024 flows: the memif rings (2^14 slots each way) hold
    # 300 ms of packets, so a generator preempted by a busy machine for a
    # moment loses nothing.
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "storm"), "--no-build", "--build-dir",
         str(BUILD), "--no-huge", "--rate", "50000", "--flows", "1024",
         "--results-dir", str(tmp_path), "--json", str(result_path)] + list(options),
        capture_output=True, text=True, timeout=TIMEOUT)
    text = proc.stdout + proc.stderr
    assert result_path.exists(), text
    return proc.returncode, json.loads(result_path.read_text()), text


def test_storm_loses_nothing_and_moves_no_flow(tmp_path):
    code, r, text = storm(tmp_path, "--reloads", "10", "--api-changes", "50")
    assert code == 0, text
    gen = r["gen"]
    assert gen["tx_packets"] > 0 and gen["loss"] == 0, text
    assert gen["flows_moved"] == 0 and gen["errors"] == 0, text
    assert gen["flows_seen"] == 1024, text
    drops = r["stats_after"]["drops"]
    assert not any(drops.values()), drops
    assert r["reloads"] == r["reloads_ok"] == 10 and r["reloads_failed"] == 0, text
    assert r["api_changes"] == 50 and r["latency"]["change"]["count"] == 50, text
    assert r["unexpected_answers"] == [] and r["not_applied"] == [], text
    # Each of the 50 changes and 10 reloads published a snapshot.
    assert r["generations"] >= 60, text
    assert r["dplb_status"] == 0 and r["sanitizer"] == [], text


def test_storm_reports_flows_moved_by_a_removed_backend(tmp_path):
    # One reload to the broken variant: a measured backend is gone, its
    # flows move on their next packet (not lost: they go elsewhere).
    code, r, text = storm(tmp_path, "--reloads", "1", "--api-changes", "0",
                          "--break", "remove-backend")
    assert code == 1, text
    gen = r["gen"]
    assert gen["flows_moved"] > 0 and gen["error_kinds"]["flow_moved"] > 0, text
    assert gen["loss"] == 0, text
    assert "FAIL established flows moved" in text
