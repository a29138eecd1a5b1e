"""conf/bird/bird.conf, the BIRD configuration README points operators
to, is one BIRD accepts as shipped: both families' kernel protocols and BGP
channels (BIRD's own parse, `bird -p`). Only the parse: the IPv4 half is
what scripts/testbed-scale runs against a router (tests/e2e), the IPv6
half has not met one."""

import shutil
import subprocess
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "conf" / "bird" / "bird.conf"


def test_bird_accepts_the_shipped_configuration():
    bird = shutil.which("bird") or "/usr/sbin/bird"
    if not Path(bird).exists():
        pytest.fail("bird is missing: scripts/setup installs bird2")
    res = subprocess.run([bird, "-p", "-c", str(CONF)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = CONF.read_text()
    assert "ipv6 table dplb_vips6;" in text and "protocol kernel dplb_routes6" in text
