"""SIGHUP reloads between two halves of a capture: established flows keep
their backends unless their backend is gone or down; a bad file changes
nothing; a bad file at start-up is refused with file, line and reason."""

import subprocess

from scapy.all import IP, Ether, TCP, raw

from harness.dplb_harness import BURST, DPLB, Dplb
from harness.frames import BACKENDS, PORT_MAC, config, five_tuple, tcp_packet

FIRST = 320  # flows in the first half; a multiple of the PMD's burst


def filler():
    """A burst of packets for no VIP: the PMD blocks until a burst is full,
    so this pushes every real packet through."""
    return [Ether(dst=PORT_MAC) / IP(dst="10.9.9.9") / TCP(dport=9)] * BURST


def inner_tuple(out):
    return five_tuple(IP(raw(out[IP])[20:]))


def run_with_reload(tmp_path, before, after, second_half):
    first_half = [tcp_packet(i) for i in range(FIRST)]
    with Dplb(tmp_path, before, fifo=True) as dplb:
        dplb.write(first_half)
        dplb.wait_received(FIRST)
        reloaded = dplb.reload(after)
        dplb.write(second_half + filler())
        dplb.wait_received(FIRST + len(second_half) + BURST)
    out = dplb.output()
    first = {inner_tuple(o): o[IP].dst for o in out[:FIRST]}
    second = [(inner_tuple(o), o[IP].dst) for o in out[FIRST:]]
    return first, second, reloaded


def test_adding_a_backend_keeps_established_flows(tmp_path):
    grown = dict(BACKENDS, **{"10.0.1.4": 4})
    second_half = [tcp_packet(i, flags="A") for i in range(FIRST)]
    second_half += [tcp_packet(i) for i in range(FIRST, 2 * FIRST)]
    first, second, reloaded = run_with_reload(tmp_path, config(), config(backends=grown),
                                              second_half)
    assert reloaded["reloads_ok"] == 1 and reloaded["generation"] == 2
    assert len(first) == FIRST
    new_backends = set()
    for key, backend in second:
        if key in first:
            assert backend == first[key], f"established flow {key} moved"
        else:
            new_backends.add(backend)
    assert "10.0.1.4" in new_backends


def test_changing_weights_moves_no_flow(tmp_path):
    reweighted = {"10.0.1.1": 5, "10.0.1.2": 1, "10.0.1.3": 3}
    second_half = [tcp_packet(i, flags="A") for i in range(FIRST)]
    first, second, _ = run_with_reload(tmp_path, config(), config(backends=reweighted),
                                       second_half)
    assert len(second) == FIRST
    assert all(first[key] == backend for key, backend in second)


def test_removing_a_backend_moves_only_its_flows(tmp_path):
    shrunk = {"10.0.1.1": 1, "10.0.1.3": 1}
    second_half = [tcp_packet(i, flags="A") for i in range(FIRST)]
    first, second, _ = run_with_reload(tmp_path, config(), config(backends=shrunk), second_half)
    moved = 0
    for key, backend in second:
        assert backend in shrunk
        if first[key] == "10.0.1.2":
            moved += 1
        else:
            assert backend == first[key]
    assert moved == sum(1 for b in first.values() if b == "10.0.1.2") > 0


def test_drain_keeps_flows_and_down_moves_them(tmp_path):
    states = {"10.0.1.1": "weight=1", "10.0.1.2": "weight=2 state=drain",
              "10.0.1.3": "weight=1 state=down"}
    second_half = [tcp_packet(i, flags="A") for i in range(FIRST)]
    second_half += [tcp_packet(i) for i in range(FIRST, 2 * FIRST)]
    first, second, _ = run_with_reload(tmp_path, config(), config(backends=states), second_half)
    for key, backend in second:
        if key not in first:
            assert backend == "10.0.1.1", "new flows go to up backends only"
        elif first[key] == "10.0.1.2":
            assert backend == "10.0.1.2", "a draining backend keeps its flows"
        elif first[key] == "10.0.1.3":
            assert backend == "10.0.1.1", "a down backend's flows move"
        else:
            assert backend == first[key]


def test_invalid_reload_changes_nothing(tmp_path):
    broken = config() + "\nbogus_key = 1\n"
    second_half = [tcp_packet(i, flags="A") for i in range(FIRST)]
    second_half += [tcp_packet(i) for i in range(FIRST, 2 * FIRST)]
    first, second, reloaded = run_with_reload(tmp_path, config(), broken, second_half)
    assert reloaded["reloads_failed"] == 1 and reloaded["generation"] == 1
    for key, backend in second:
        if key in first:
            assert backend == first[key]
    assert {b for _, b in second} == set(BACKENDS)


def test_invalid_reload_is_logged_with_line(tmp_path):
    dplb = Dplb(tmp_path, config(), fifo=True).start()
    try:
        dplb.reload(config() + "\nbogus_key = 1\n")
    finally:
        code, out, err = dplb.stop()
    assert code == 0
    assert "refused" in err and "dplb.ini:" in err and "bogus_key" in err


def test_bad_config_refused_at_start_and_by_check_config(tmp_path):
    path = tmp_path / "bad.ini"
    path.write_text(config() + "backend = 10.0.1.9 weight=0\n")
    for extra in ([], ["--check-config"]):
        result = subprocess.run(
            [str(DPLB), "--no-huge", "--no-pci", "-l", "0-1", "--file-prefix", "dplbt-bad",
             "--", "-c", str(path)] + extra, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert f"{path}:" in result.stderr and "weight" in result.stderr


def test_check_config_accepts_a_good_file(tmp_path):
    path = tmp_path / "good.ini"
    path.write_text(config())
    result = subprocess.run([str(DPLB), "--", "-c", str(path), "--check-config"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "10.0.1.2" in result.stdout and "valid" in result.stdout
