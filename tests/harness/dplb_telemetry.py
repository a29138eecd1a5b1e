"""A client of DPDK's telemetry socket, for tests that read dplb's own
commands (/dplb/stats, /dplb/drops, ...) while it runs."""

import json
import socket


def telemetry_query(file_prefix, command, timeout=10):
    """Send one command to the DPDK process started with --file-prefix
    file_prefix and return its answer (the value under the command name)."""
    path = f"/var/run/dpdk/{file_prefix}/dpdk_telemetry.v2"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.recv(4096)  # the greeting: version, pid, max_output_len
        sock.send(command.encode())
        reply = json.loads(sock.recv(1 << 20))
    return reply[command.split(",")[0]]


class DplbTelemetry:
    """dplb's own telemetry commands, for a test's handle on a running dplb
    that has a `prefix` attribute (its --file-prefix)."""

    def telemetry(self, command):
        return telemetry_query(self.prefix, command)

    def stats(self):
        return self.telemetry("/dplb/stats")

    def drops(self):
        return self.telemetry("/dplb/drops")
