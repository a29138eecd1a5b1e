"""A big reload does not stop the API (issue 13, defect 7): one VIP of 4,080
backends with maglev_size = 16777259 takes a second or more to build (more
under ASan), and all the while /healthz answers, polled without a pause:
through a SIGHUP, a POST /reload, an API change that comes while a reload is
built (it waits its turn and gets its real answer), and a new snapshot made
because ARP learned a MAC. A change is answered only once it serves.

The requirement is 100 ms. Before the tables were built off the management
loop, every one of these stopped /healthz for the whole build, so the check
is relative to the build, not a fixed time that a loaded machine or an ASan
build would miss: the slowest answer must take less than a third of the
watched time (the build, mostly), or 500 ms, whichever is longer."""

import http.client
import ipaddress
import threading
import time

from scapy.all import ARP, Ether

from harness.dplb_harness import Dplb, wait_for
from harness.frames import GATEWAY_MAC as STATIC_GATEWAY_MAC
from harness.frames import LOCAL, PORT_MAC, config
from test_reload import filler

BACKENDS = 4080
MAGLEV_SIZE = 16777259  # the largest allowed, a prime above 2^24
BOUND = 0.5  # seconds, at least; the requirement is 0.1
GATEWAY, GATEWAY_MAC = "10.0.0.1", "02:00:00:00:00:42"
FIRST = str(ipaddress.IPv4Address("10.1.0.1"))


def big_config(weight, maglev_size=MAGLEV_SIZE, extra=""):
    """One VIP of BACKENDS backends from 10.1.0.1 on, all of weight."""
    base = ipaddress.IPv4Address(FIRST)
    backends = {str(base + i): weight for i in range(BACKENDS)}
    return config(backends=backends, extra=extra, extra_vip=f"maglev_size = {maglev_size}")


class HealthzWatch:
    """GET /healthz over and over, each on a connection of its own (as a
    monitor would), from a thread; records how long each answer took."""

    def __init__(self, port):
        self.port = port
        self.took = []
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            start = time.monotonic()
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    self.failures.append(response.status)
            except OSError as error:
                self.failures.append(repr(error))
            finally:
                connection.close()
            self.took.append(time.monotonic() - start)
            time.sleep(0.01)

    def __enter__(self):
        self.started = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.watched = time.monotonic() - self.started

    def check(self, what):
        assert not self.failures, f"{what}: /healthz failed: {self.failures[:3]}"
        worst = max(self.took)
        bound = max(BOUND, self.watched / 3)
        print(f"{what}: {len(self.took)} answers to /healthz in {self.watched:.2f} s, "
              f"worst {worst * 1000:.1f} ms (bound {bound * 1000:.0f} ms)")
        assert worst < bound, f"{what}: /healthz took {worst:.3f} s of {self.watched:.3f} s"
        assert len(self.took) >= 5, f"{what}: only {len(self.took)} answers: too short to tell"


def weight_of(dplb, address):
    status, _, answer = dplb.http("GET", f"/vips/web/backends/{address}")
    assert status == 200, answer
    return answer["weight"]


def test_reloads_and_a_change_meanwhile_leave_healthz_answering(tmp_path):
    # In memory: the change below need not find the file as the reload left it.
    management = "\n[management]\npersist_changes = no\n"
    # Small tables to start with, quickly; the reloads make them big.
    with Dplb(tmp_path, big_config(1, maglev_size=65537) + management, fifo=True) as dplb:
        with HealthzWatch(dplb.http_port) as watch:
            reloaded = dplb.reload(big_config(2) + management)
        watch.check("SIGHUP")
        assert reloaded["reloads_ok"] == 1 and reloaded["generation"] == 2
        assert weight_of(dplb, FIRST) == 2

        # POST /reload, and a change while its snapshot is built: the change
        # waits for it, then is applied on top of it, and each client gets
        # its own answer once what it asked for serves.
        dplb.config_path.write_text(dplb.with_listen(big_config(3) + management))
        answers = {}

        def post_reload():
            answers["reload"] = dplb.http("POST", "/reload")

        with HealthzWatch(dplb.http_port) as watch:
            reload_thread = threading.Thread(target=post_reload)
            reload_thread.start()
            time.sleep(0.3)  # the reload's build is under way (a second or more)
            answers["change"] = dplb.http("PATCH", f"/vips/web/backends/{FIRST}",
                                          {"weight": 9})
            # Answered once it serves.
            assert weight_of(dplb, FIRST) == 9
            reload_thread.join()
        watch.check("POST /reload, and PATCH meanwhile")
        status, _, reload_answer = answers["reload"]
        assert status == 200, reload_answer
        assert reload_answer["applied"] and reload_answer["generation"] == 3
        # Every change counted; at most 1,000 listed (docs/api.md, Reload).
        listed = len(reload_answer["changes"])
        assert listed == 1000 and listed + reload_answer["more_changes"] == BACKENDS
        status, _, change_answer = answers["change"]
        assert status == 200 and change_answer["generation"] == 4, change_answer
        assert change_answer["changes"][0]["before"]["weight"] == 3
        assert weight_of(dplb, str(ipaddress.IPv4Address(FIRST) + 1)) == 3
        stats = dplb.stats()
        assert stats["reloads_ok"] == 2 and stats["reloads_failed"] == 0
        assert stats["generation"] == 4


def test_a_snapshot_for_a_learned_mac_leaves_healthz_answering(tmp_path):
    # No static MAC: the gateway's is learned by ARP, and a new snapshot,
    # tables and all, is built for it.
    text = big_config(1).replace(f"gateway_mac = {STATIC_GATEWAY_MAC}", f"gateway = {GATEWAY}")
    assert "gateway_mac" not in text
    reply = (Ether(dst=PORT_MAC, src=GATEWAY_MAC) /
             ARP(op=2, hwsrc=GATEWAY_MAC, psrc=GATEWAY, hwdst=PORT_MAC, pdst=LOCAL))
    with Dplb(tmp_path, text, fifo=True) as dplb:
        wait_for(lambda: dplb.stats()["arp_requests_sent"] >= 1, "an ARP request")
        with HealthzWatch(dplb.http_port) as watch:
            time.sleep(0.1)
            dplb.write([reply] + filler()[1:])  # a whole burst
            stats = wait_for(lambda: (lambda s: s if s["next_hop_updates"] >= 1 else None)(
                dplb.stats()), "the learned MAC to be published")
        watch.check("ARP")
        assert stats["generation"] == 2
