"""The endpoint as a server: it refuses to start when it cannot listen,
answers many clients at once while traffic flows without losing a packet,
keeps connections alive, and dplbctl drives it."""

import http.client
import json
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from harness.apitest import Dplb, Traffic, config, dplb_at, ok, tcp
from harness.dplb_harness import WAIT_SECONDS, PcapWriter

DPLBCTL = Path(__file__).resolve().parents[2] / "scripts" / "dplbctl"


def test_start_fails_when_the_port_is_taken(tmp_path):
    empty = tmp_path / "empty.pcap"
    writer = PcapWriter(str(empty), linktype=1)
    writer.write_header(None)
    writer.close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dplb = Dplb(tmp_path, config(), rx_pcap=empty, http_port=port)
        with pytest.raises(AssertionError) as failure:
            dplb.start()
    message = str(failure.value)
    assert "exited early (1)" in message
    assert f"management endpoint: cannot listen on 127.0.0.1:{port}" in message


def test_start_fails_when_the_port_is_taken_even_while_the_input_blocks(tmp_path):
    # Input from a FIFO whose writer stays open and silent: a worker reading
    # it would block for ever. dplb must find out that it cannot listen
    # before it launches its workers, and exit by itself.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dplb = Dplb(tmp_path, config(), fifo=True, http_port=port)
        os.mkfifo(dplb.in_pcap)
        proc = subprocess.Popen(dplb.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=tmp_path)
        writer = None
        try:
            # Blocks until dplb opens its end; dplb's pcap driver then
            # waits for the file header.
            writer = PcapWriter(open(dplb.in_pcap, "wb"), linktype=1, sync=True)
            writer.write_header(None)
            try:
                out, err = proc.communicate(timeout=WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise AssertionError("dplb that cannot listen did not exit while its "
                                     "input blocked") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if writer is not None:
                writer.close()
            subprocess.run(["rm", "-rf", f"/var/run/dpdk/{dplb.prefix}"], check=False)
    assert proc.returncode == 1, out + err
    assert f"management endpoint: cannot listen on 127.0.0.1:{port}" in out + err


def test_many_clients_while_traffic_flows(tmp_path):
    with dplb_at(tmp_path) as dplb:
        traffic = Traffic(dplb)
        answers, errors = [], []

        def client(n):
            try:
                for i in range(20):
                    path = ("/stats", "/metrics", "/vips", "/vips/web", "/healthz")[(n + i) % 5]
                    answers.append(dplb.http("GET", path)[0])
            except Exception as error:  # noqa: BLE001 (reported below)
                errors.append(error)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for burst in range(20):
            traffic.send(tcp(burst * 64 + i) for i in range(64))
        for t in threads:
            t.join()
        assert not errors and answers == [200] * 160
        stats = ok(dplb, "GET", "/stats")["totals"]
        assert stats["rx_packets"] == stats["tx_packets"] == 20 * 64
        assert stats["drops_total"] == 0


def test_one_connection_serves_many_requests(tmp_path):
    with dplb_at(tmp_path) as dplb:
        connection = http.client.HTTPConnection("127.0.0.1", dplb.http_port, timeout=60)
        try:
            for weight in range(2, 12):
                connection.request("PATCH", "/vips/web/backends/10.0.1.1",
                                   body=json.dumps({"weight": weight}))
                response = connection.getresponse()
                assert response.status == 200
                assert json.loads(response.read())["generation"] == weight
        finally:
            connection.close()


def dplbctl(dplb, *args):
    result = subprocess.run(["/usr/bin/python3", str(DPLBCTL), "--url",
                             f"http://127.0.0.1:{dplb.http_port}", *args],
                            capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout, result.stderr


def test_dplbctl_drives_the_api(tmp_path):
    with dplb_at(tmp_path) as dplb:
        code, out, _ = dplbctl(dplb, "vips")
        assert code == 0 and [v["name"] for v in json.loads(out)["vips"]][0] == "web"
        code, out, _ = dplbctl(dplb, "add", "web", "10.0.1.4", "--weight", "3")
        assert code == 0 and json.loads(out)["changes"][0]["change"] == "backend_added"
        code, out, _ = dplbctl(dplb, "set", "web", "10.0.1.4", "--state", "drain")
        assert code == 0 and json.loads(out)["changes"][0]["after"]["state"] == "drain"
        code, out, _ = dplbctl(dplb, "lookup", "web", "172.16.0.1", "1024")
        assert code == 0 and json.loads(out)["backend"] in ("10.0.1.1", "10.0.1.2", "10.0.1.3")
        code, out, _ = dplbctl(dplb, "remove", "web", "10.0.1.4")
        assert code == 0 and json.loads(out)["generation"] == 4
        code, out, err = dplbctl(dplb, "set", "web", "10.0.1.9", "--weight", "2")
        assert code == 1 and "404" in err and "no backend 10.0.1.9" in err
        code, out, _ = dplbctl(dplb, "metrics")
        assert code == 0 and "dplb_state_generation 4" in out
        code, out, _ = dplbctl(dplb, "reload")
        assert code == 0 and json.loads(out)["applied"] is True
