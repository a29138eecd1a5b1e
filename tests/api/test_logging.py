"""Logging never stalls the management lcore: with stdout and stderr pipes
nobody reads, hundreds of changes (each logged) leave the API answering at
once, and what could not be written is counted in /stats, /metrics,
telemetry and the exit summary."""

import os
import re
import signal
import socket
import subprocess
import time

from harness.apitest import WAIT_SECONDS, Dplb, config, metric, ok, parse_metrics, tcp, wait_for
from harness.dplb_harness import free_port
from scapy.all import PcapWriter

CHANGES = 300
RELOADS = 20


def dplb_on_capture(tmp_path, text=None, **kwargs):
    """A dplb (not started) reading a short capture from a file. Not a FIFO:
    a worker blocked reading one would hold back the grace periods that
    hundreds of changes need."""
    capture = tmp_path / "in.pcap"
    writer = PcapWriter(str(capture), linktype=1, sync=True)
    for i in range(32):
        writer.write(tcp(i))
    writer.close()
    return Dplb(tmp_path, config() if text is None else text, rx_pcap=capture, **kwargs)


def port_open(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def timed_healthz(dplb):
    start = time.monotonic()
    status, _, _ = dplb.http("GET", "/healthz", timeout=5)
    return status, time.monotonic() - start


def test_a_stalled_log_reader_loses_lines_not_the_api(tmp_path):
    # One page per pipe: a few dozen lines fill it, as a stalled reader's
    # 64 KiB pipe would be filled by a few hundred.
    with dplb_on_capture(tmp_path, pipe_size=4096) as dplb:
        before = ok(dplb, "GET", "/stats")["log_dropped"]
        for i in range(CHANGES):
            answer = ok(dplb, "PATCH", "/vips/web/backends/10.0.1.1", {"weight": 2 + i % 2})
            assert answer["applied"] is True
        for _ in range(RELOADS):
            dplb.reload()
        for _ in range(20):
            status, seconds = timed_healthz(dplb)
            assert status == 200 and seconds < 0.1, seconds
        stats = ok(dplb, "GET", "/stats")
        assert stats["reloads_ok"] == RELOADS
        # Each change logs two lines, each reload one: most of them found
        # the pipe full.
        dropped = stats["log_dropped"]
        assert dropped - before > CHANGES, stats
        assert stats["log_dropped_bytes"] > dropped * 20
        samples = parse_metrics(ok(dplb, "GET", "/metrics").decode())
        assert metric(samples, "dplb_log_dropped_total") >= dropped
        assert metric(samples, "dplb_log_dropped_bytes_total") >= stats["log_dropped_bytes"]
        assert dplb.telemetry("/dplb/stats")["log_dropped"] >= dropped
        code, out, err = dplb.stop()
    assert code == 0, err
    # What the pipe took first is intact, whole lines; the summary, printed
    # at exit, waits for its reader and counts what the log lost.
    assert ": running with" in out
    assert "dplb: api: vip web: backend 10.0.1.1 changed (weight)" in out
    summary = re.search(r"log: (\d+) lines \((\d+) bytes\) could not be written", out)
    assert summary and int(summary.group(1)) >= dropped, out[-2000:]


def test_log_lines_go_to_stdout_and_warnings_to_stderr(tmp_path):
    token = tmp_path / "token"
    token.write_text("")
    with dplb_on_capture(tmp_path, config(management=f"token_file = {token}")) as dplb:
        code, out, err = dplb.stop()
    assert code == 0, err
    assert re.search(r"^dplb: version \S+: running with 1 workers on 1 ports", out, re.M)
    assert "token file" not in out
    assert re.search(r"^dplb: token file \S+ is empty: every change is refused$", err, re.M)
    assert "dplb summary:" in out and "log: 0 lines (0 bytes)" in out


def test_journald_gets_priorities_and_never_blocks_dplb(tmp_path):
    """Run as systemd does with StandardOutput=journal: stdout and stderr are
    one stream socket, named by JOURNAL_STREAM. Lines carry their syslog
    priority, and a journal that stops reading costs lines, not the API."""
    port = free_port()
    # Listening on every address earns a warning: one line of each priority.
    dplb = dplb_on_capture(tmp_path, config(management=f"listen = 0.0.0.0:{port}"),
                           http_port=port)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    st = os.fstat(theirs.fileno())
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    proc = subprocess.Popen(dplb.command(), stdout=theirs, stderr=theirs, env=env,
                            cwd=tmp_path)
    theirs.close()
    try:
        wait_for(lambda: proc.poll() is not None or port_open(port), "dplb's API")
        assert proc.poll() is None, "dplb exited while starting"
        for i in range(CHANGES):
            ok(dplb, "PATCH", "/vips/web/backends/10.0.1.1", {"weight": 2 + i % 2})
        status, seconds = timed_healthz(dplb)
        assert status == 200 and seconds < 0.1, seconds
        assert ok(dplb, "GET", "/stats")["log_dropped"] > CHANGES
        proc.send_signal(signal.SIGINT)
        received = b""
        while chunk := ours.recv(65536):
            received += chunk
        assert proc.wait(timeout=WAIT_SECONDS) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ours.close()
        subprocess.run(["rm", "-rf", f"/var/run/dpdk/{dplb.prefix}"], check=False)
    text = received.decode(errors="replace")
    assert re.search(r"^<5>dplb: version \S+: running with", text, re.M), text[:3000]
    assert re.search(r"^<4>dplb: warning: 0.0.0.0:\d+ accepts changes", text, re.M), text[:3000]
    assert "dplb summary:" in text
