"""Changes made through the API are written into the configuration file
([management] persist_changes = yes, the default) before they are answered:
a SIGKILL right after the 2xx loses nothing, a reload then finds no
difference, only the changed backend's line is touched, a file edited behind
dplb's back is not written over (409), and a file that cannot be written
refuses the change (nothing changes). With persist_changes = no the file is
left alone and a reload undoes the changes."""

import array
import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.apitest import dplb_at, ok, state_of

# Comments, blank lines and options on purpose: all of it must survive.
TEXT = """; dplb, for the persistence tests
[dataplane]
ports = 0
address = 10.0.0.10
gateway_mac = 02:00:00:00:00:01   ; the router
flow_table_size = 65536

[management]

# the site
[vip:web]
address = 10.0.0.100
port = 80
backend = 10.0.1.1 weight=1
backend = 10.0.1.2 weight=2   ; the bigger box
backend = 10.0.1.3 weight=1

; one backend only
[vip:solo]
address = 10.0.0.103
port = 8443
backend = 10.0.4.1
"""

CHANGES = [
    ("POST", "/vips/web/backends", {"address": "10.0.1.9"}),
    ("PATCH", "/vips/web/backends/10.0.1.1", {"weight": 3}),
    ("DELETE", "/vips/web/backends/10.0.1.1", None),
]

# <linux/fs.h>: the immutable flag stops even root from replacing a file or
# creating one in a directory.
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IMMUTABLE_FL = 0x80086601, 0x40086602, 0x10


def set_immutable(path, on):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        flags[0] = flags[0] | FS_IMMUTABLE_FL if on else flags[0] & ~FS_IMMUTABLE_FL
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags)
    finally:
        os.close(fd)


@contextmanager
def immutable(path):
    try:
        set_immutable(path, True)
    except OSError as error:
        pytest.skip(f"cannot make {path} immutable here: {error}")
    try:
        yield
    finally:
        set_immutable(path, False)


def kill9(dplb):
    """SIGKILL, as a crash would: nothing of dplb's runs after it."""
    dplb.proc.kill()
    dplb.proc.communicate()
    dplb.proc = None
    if dplb.writer is not None:
        try:
            dplb.writer.close()
        except OSError:
            pass
        dplb.writer = None
    shutil.rmtree(Path("/var/run/dpdk") / dplb.prefix, ignore_errors=True)


def backends(dplb, vip="web"):
    return {b["address"]: (b["weight"], b["state"], b["mac"])
            for b in ok(dplb, "GET", f"/vips/{vip}")["backends"]}


def serving(dplb):
    """state_of without the generation, which every reload moves on."""
    state = json.loads(state_of(dplb))
    state.pop("generation")
    return state


def temporary_files(directory):
    return [p.name for p in Path(directory).iterdir() if p.name.startswith(".dplb.ini.")]


def test_an_added_backend_survives_kill_9_right_after_the_answer(tmp_path):
    with dplb_at(tmp_path, TEXT) as dplb:
        before = dplb.config_path.read_text()
        status, _, answer = dplb.http("POST", "/vips/web/backends",
                                      {"address": "10.0.1.4", "weight": 3})
        assert status == 201, answer
        kill9(dplb)
    text = dplb.config_path.read_text()
    assert text == before.replace("backend = 10.0.1.3 weight=1\n",
                                  "backend = 10.0.1.3 weight=1\nbackend = 10.0.1.4 weight=3\n")
    with dplb_at(tmp_path, text, http_port=dplb.http_port) as again:
        assert backends(again)["10.0.1.4"] == (3, "up", None)
        assert list(backends(again)) == ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4"]


def test_each_change_edits_its_line_only_and_a_reload_finds_no_difference(tmp_path):
    with dplb_at(tmp_path, TEXT) as dplb:
        original = dplb.config_path.read_text()
        ok(dplb, "POST", "/vips/web/backends", {"address": "10.0.1.4"}, status=201)
        ok(dplb, "PATCH", "/vips/web/backends/10.0.1.2",
           {"weight": 5, "state": "drain", "mac": "02:00:00:00:01:02"})
        ok(dplb, "DELETE", "/vips/web/backends/10.0.1.1")
        ok(dplb, "PATCH", "/vips/solo/backends/10.0.4.1", {"state": "down"})
        expected = (original
                    .replace("backend = 10.0.1.1 weight=1\n", "")
                    .replace("backend = 10.0.1.2 weight=2   ; the bigger box",
                             "backend = 10.0.1.2 weight=5 state=drain mac=02:00:00:00:01:02"
                             "   ; the bigger box")
                    .replace("backend = 10.0.1.3 weight=1\n",
                             "backend = 10.0.1.3 weight=1\nbackend = 10.0.1.4\n")
                    .replace("backend = 10.0.4.1\n", "backend = 10.0.4.1 state=down\n"))
        assert dplb.config_path.read_text() == expected
        assert temporary_files(tmp_path) == []

        # The file and what serves agree: a reload (the API's, or SIGHUP)
        # changes nothing.
        before = serving(dplb)
        answer = ok(dplb, "POST", "/reload")
        assert answer["applied"] is True and answer["changes"] == []
        stats = dplb.reload()
        assert stats["reloads_ok"] == 2 and stats["reloads_failed"] == 0
        assert serving(dplb) == before
        assert backends(dplb) == {"10.0.1.2": (5, "drain", "02:00:00:00:01:02"),
                                  "10.0.1.3": (1, "up", None), "10.0.1.4": (1, "up", None)}
        # ... and the next change is written over the file the reload read.
        ok(dplb, "PATCH", "/vips/web/backends/10.0.1.2", {"mac": None})
        assert "backend = 10.0.1.2 weight=5 state=drain   ; the bigger box\n" in \
            dplb.config_path.read_text()
    assert f"api: written into {dplb.config_path}" in dplb.stdout


def test_a_file_edited_behind_dplbs_back_is_not_written_over(tmp_path):
    with dplb_at(tmp_path, TEXT) as dplb:
        before = state_of(dplb)
        edited = dplb.config_path.read_text().replace("; one backend only",
                                                      "; one backend only, edited by hand")
        dplb.config_path.write_text(edited)
        for method, path, body in CHANGES:
            status, _, answer = dplb.http(method, path, body)
            assert status == 409, (method, path, answer)
            assert "changed since dplb read it: reload it first" in answer["error"]
        assert state_of(dplb) == before
        assert dplb.stats()["generation"] == 1
        assert dplb.config_path.read_text() == edited

        # Once dplb has read the edit, changes are written over it again.
        assert ok(dplb, "POST", "/reload")["changes"] == []
        ok(dplb, "POST", "/vips/web/backends", {"address": "10.0.1.9"}, status=201)
        text = dplb.config_path.read_text()
        assert "edited by hand" in text and "backend = 10.0.1.9\n" in text


def test_a_file_that_cannot_be_written_refuses_the_change(tmp_path):
    with dplb_at(tmp_path, TEXT) as dplb:
        before = state_of(dplb)
        text = dplb.config_path.read_text()
        for target, reason in ((dplb.config_path, "cannot replace"),
                               (tmp_path, "cannot create a temporary file in")):
            with immutable(target):
                for method, path, body in CHANGES:
                    status, _, answer = dplb.http(method, path, body)
                    assert status == 500, (method, path, answer)
                    assert reason in answer["error"], answer
                    assert "Operation not permitted" in answer["error"], answer
                    assert "the change is refused" in answer["error"], answer
            assert state_of(dplb) == before
            assert dplb.stats()["generation"] == 1
            assert dplb.config_path.read_text() == text
            assert temporary_files(tmp_path) == []
        # Writable again: the same change goes through.
        ok(dplb, "POST", "/vips/web/backends", {"address": "10.0.1.9"}, status=201)
        assert "backend = 10.0.1.9\n" in dplb.config_path.read_text()
        _, out, err = dplb.stop()
    assert "api: change refused: cannot replace" in err


def test_with_persist_changes_no_the_file_is_left_alone(tmp_path):
    text = TEXT.replace("[management]\n", "[management]\npersist_changes = no\n")
    with dplb_at(tmp_path, text) as dplb:
        original = dplb.config_path.read_text()
        for method, path, body in CHANGES:
            status, _, answer = dplb.http(method, path, body)
            assert status in (200, 201), answer
        assert dplb.config_path.read_text() == original
        changes = ok(dplb, "POST", "/reload")["changes"]
        assert [(c["change"], c["backend"]) for c in changes] == [
            ("backend_added", "10.0.1.1"), ("backend_removed", "10.0.1.9")]
