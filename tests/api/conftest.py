"""The API tests reuse the packet tests' harness (tests/packet/dplb_harness.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packet"))
