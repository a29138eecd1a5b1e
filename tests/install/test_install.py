"""meson install puts everything an operator needs where it belongs, and the
systemd unit and man pages it installs are valid (systemd-analyze verify,
man -l without warnings)."""

import json
import os
import re
import struct
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("DPLB_BUILD", REPO / "build"))


def run(argv, **kwargs):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600,
                          **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(DESTDIR, {option: absolute directory}) after meson install."""
    destdir = tmp_path_factory.mktemp("destdir")
    result = run(["meson", "install", "-C", BUILD, "--destdir", destdir, "--quiet"])
    assert result.returncode == 0, result.stdout + result.stderr
    options = {o["name"]: o["value"] for o in json.loads(
        run(["meson", "introspect", BUILD, "--buildoptions"]).stdout)}
    prefix = Path(options["prefix"])
    dirs = {name: prefix / options[name] for name in ("bindir", "sbindir", "sysconfdir", "mandir")}
    dirs["prefix"] = prefix
    return destdir, dirs


def inside(destdir, path):
    return destdir / Path(path).relative_to("/")


def expected_files(dirs):
    prefix = dirs["prefix"]
    return {
        "dplb": dirs["sbindir"] / "dplb",
        "dplb-decap": dirs["sbindir"] / "dplb-decap",
        "dplbctl": dirs["bindir"] / "dplbctl",
        "config": dirs["sysconfdir"] / "dplb" / "dplb.ini",
        "unit": prefix / "lib" / "systemd" / "system" / "dplb.service",
        "sysctl": prefix / "lib" / "sysctl.d" / "60-dplb-hugepages.conf",
        "man8": dirs["mandir"] / "man8" / "dplb.8",
        "man5": dirs["mandir"] / "man5" / "dplb.ini.5",
    }


def test_every_file_is_where_expected(installed):
    destdir, dirs = installed
    for name, path in expected_files(dirs).items():
        assert inside(destdir, path).is_file(), f"{name}: {path} not installed"
    for name in ("dplb", "dplb-decap", "dplbctl"):
        assert os.access(inside(destdir, expected_files(dirs)[name]), os.X_OK), name
    config = inside(destdir, expected_files(dirs)["config"])
    assert config.read_text() == (REPO / "conf" / "example.ini").read_text()


def test_installed_programs_run(installed):
    destdir, dirs = installed
    files = {k: inside(destdir, v) for k, v in expected_files(dirs).items()}
    result = run([files["dplb"], "--check-config", files["config"]])
    assert result.returncode == 0, result.stderr
    assert run([files["dplb"], "--version"]).stdout.startswith("dplb ")
    assert run([files["dplb-decap"], "-h"]).returncode == 0
    assert run(["/usr/bin/python3", files["dplbctl"], "--help"]).returncode == 0


def needed_libraries(path):
    """The shared libraries an ELF64 little-endian file asks for (DT_NEEDED)."""
    data = Path(path).read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, f"{path}: not ELF64 LE"
    (section_offset,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    # name, type, flags, addr, offset, size, link, info, addralign, entsize
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, section_offset + i * entry_size)
                for i in range(count)]
    names = []
    for section in sections:
        if section[1] != 6:  # SHT_DYNAMIC
            continue
        strings = sections[section[6]][4]
        for offset in range(section[4], section[4] + section[5], 16):
            tag, value = struct.unpack_from("<qQ", data, offset)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                start = strings + value
                names.append(data[start:data.index(b"\0", start)].decode())
    return names


def test_dplb_links_dpdk_as_static_dpdk_says(installed):
    """Static: no librte_*.so (two EALs in one process must not happen), and
    what DPDK uses (libpcap for net_pcap, OpenSSL) still shared, so that
    security updates reach it. Shared: DPDK's libraries, as Debian ships."""
    destdir, dirs = installed
    options = {o["name"]: o["value"] for o in json.loads(
        run(["meson", "introspect", BUILD, "--buildoptions"]).stdout)}
    needed = needed_libraries(inside(destdir, expected_files(dirs)["dplb"]))
    dpdk = [name for name in needed if name.startswith("librte_")]
    if options["static_dpdk"]:
        assert dpdk == [], needed
        for library in ("libpcap.so", "libcrypto.so", "libjansson.so"):
            assert any(name.startswith(library) for name in needed), (library, needed)
    else:
        assert any(name.startswith("librte_eal.so") for name in dpdk), needed


def test_a_reinstall_keeps_the_operators_configuration(installed):
    destdir, dirs = installed
    config = inside(destdir, expected_files(dirs)["config"])
    config.write_text("; edited by the operator\n")
    result = run(["meson", "install", "-C", BUILD, "--destdir", destdir, "--quiet"])
    assert result.returncode == 0, result.stderr
    assert config.read_text() == "; edited by the operator\n"
    config.write_text((REPO / "conf" / "example.ini").read_text())


def test_the_unit_does_what_the_service_needs(installed):
    destdir, dirs = installed
    files = expected_files(dirs)
    unit = inside(destdir, files["unit"]).read_text()
    lines = [line for line in unit.splitlines() if not line.startswith("#")]
    assert f"ExecStartPre={files['dplb']} --check-config {files['config']}" in lines
    assert any(line.startswith("ExecStartPre=") and str(files["sysctl"]) in line
               for line in lines), "hugepages are not reserved before the start"
    assert f"ExecStart={files['dplb']} $DPLB_EAL_OPTIONS -- -c {files['config']}" in lines
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines
    assert "Restart=on-failure" in lines
    assert "StandardOutput=journal" in lines and "StandardError=journal" in lines
    assert "vm.nr_hugepages" in inside(destdir, files["sysctl"]).read_text()


def test_systemd_analyze_verify(installed, tmp_path):
    """The unit as installed, its paths moved into DESTDIR (verify checks
    that every command exists and every man page in Documentation= opens)."""
    destdir, dirs = installed
    unit = inside(destdir, expected_files(dirs)["unit"]).read_text()
    prefix = str(dirs["prefix"]).rstrip("/") + "/"
    for old in sorted({prefix, str(dirs["sysconfdir"]) + "/"}, key=len, reverse=True):
        unit = re.sub(r"(?<![\w/])" + re.escape(old), str(inside(destdir, old)) + "/", unit)
    (tmp_path / "dplb.service").write_text(unit)
    env = dict(os.environ, MANPATH=str(inside(destdir, dirs["mandir"])))
    result = run(["systemd-analyze", "verify", "./dplb.service"], cwd=tmp_path, env=env)
    assert result.returncode == 0 and not result.stderr.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("page", ["man8", "man5"])
def test_man_page_renders_without_warnings(installed, page):
    destdir, dirs = installed
    path = inside(destdir, expected_files(dirs)[page])
    # No bold by overstrike: plain text to search.
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", GROFF_NO_SGR="1", MANROFFOPT="-c")
    env.pop("MAN_KEEP_FORMATTING", None)
    result = run(["man", "--warnings", "-l", path], env=env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = re.sub(".\x08", "", result.stdout)
    assert "NAME" in text and "SEE ALSO" in text


def test_the_ini_page_documents_every_key_of_the_example(installed):
    """dplb.ini(5) comes from the loader's key table; the example shows the
    same keys, so neither can lose one unnoticed."""
    destdir, dirs = installed
    page = inside(destdir, expected_files(dirs)["man5"]).read_text()
    documented = set(re.findall(r"^\\fB([a-z0-9_]+)\\fR = ", page, re.M))
    example = set(re.findall(r"^;?([a-z0-9_]+) = ", (REPO / "conf" / "example.ini").read_text(), re.M))
    assert documented == example
