"""Every dplb command line the README and conf/example.ini show works as shown.

The commands are read from the documents themselves (indented code lines and
`code spans` that start with dplb, build/app/dplb or dplb-decap), so a
command added to them is run here too. Placeholders become real values
(FILE -> conf/example.ini). Commands that need no EAL (--check-config,
--help, --version) run as written; a command that would start the data plane
(root, hugepages or NICs) runs with --check-config added, which checks that
dplb reads that very command line (EAL options before "--", its own after)
without starting anything.
"""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("DPLB_BUILD", REPO / "build"))
EXAMPLE = "conf/example.ini"
DOCUMENTS = ("README.md", "conf/example.ini")

# What the documents write for the reader to fill in.
PLACEHOLDERS = {
    "[EAL options]": "--no-huge --no-pci -l 0-1",
    "0-N": "0-1",
    "/etc/dplb/dplb.ini": EXAMPLE,
    "FILE": EXAMPLE,
}
COMMAND = re.compile(r"^(?:build/(?:app|decap)/)?dplb(?:-decap)?(?:\s|$)")
# Where each program is built.
BUILT_IN = {"dplb": "app", "dplb-decap": "decap"}


def documented_commands():
    """(document, command line) for every dplb command the documents show."""
    found = []
    for name in DOCUMENTS:
        text = (REPO / name).read_text()
        for span in re.findall(r"`([^`\n]+)`", text):
            if COMMAND.match(span) and len(span.split()) > 1:
                found.append((name, span))
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            line = re.sub(r"^[;#]", "", lines[i]).strip()
            if lines[i].startswith(("    ", ";    ")) and COMMAND.match(line):
                while line.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    line = line[:-1] + " " + lines[i].strip()
                found.append((name, re.sub(r"\s+#.*$", "", line)))
            i += 1
    return found


def argv_of(command):
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    argv = shlex.split(command)
    left = [a for a in argv if re.fullmatch(r"[A-Z]+|\[.*|\|", a)]
    assert not left, f"placeholder(s) {left} in {command!r}: add them to PLACEHOLDERS"
    program = os.path.basename(argv[0])
    return [str(BUILD / BUILT_IN[program] / program)] + argv[1:]


def run(argv):
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)


COMMANDS = documented_commands()


def test_the_documents_show_commands():
    shown = {command for _, command in COMMANDS}
    assert "build/app/dplb --check-config FILE" in shown
    assert "dplb --check-config FILE" in shown  # conf/example.ini's own advice
    assert any("--help" in c for c in shown) and any("--version" in c for c in shown)


@pytest.mark.parametrize("document,command", COMMANDS)
def test_documented_command(document, command):
    argv = argv_of(command)
    starts_eal = os.path.basename(argv[0]) == "dplb" and not {
        "--check-config", "--help", "-h", "--version", "-V"} & set(argv)
    if starts_eal:
        assert "--" in argv, f"{document}: {command!r} runs dplb without \"--\""
        argv.append("--check-config")
    result = run(argv)
    assert result.returncode == 0, f"{document}: {command!r}\n{result.stdout}{result.stderr}"
    if "--check-config" in argv:
        assert "configuration is valid" in result.stdout
    if "--version" in argv:
        assert re.fullmatch(r"dplb \d+\.\d+\.\d+\n", result.stdout)
    if "--help" in argv or "-h" in argv:
        assert result.stdout.startswith("Usage: ")


DPLB = str(BUILD / "app" / "dplb")


@pytest.mark.parametrize("args", [
    ["--check-config", EXAMPLE],
    ["--check-config", "-c", EXAMPLE],
    ["--check-config", "--config", EXAMPLE],
    [EXAMPLE, "--check-config"],
    ["--", "--check-config", EXAMPLE],
    ["--", "-c", EXAMPLE, "--check-config"],
    ["--no-huge", "-l", "0-1", "--", "--check-config", EXAMPLE],
])
def test_check_config_with_or_without_separator(args):
    result = run([DPLB] + args)
    assert result.returncode == 0, result.stderr
    assert f"{EXAMPLE}: configuration is valid" in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--", "--help"], ["--version"], ["-V"],
                                  ["--", "--version"]])
def test_help_and_version_with_or_without_separator(args):
    result = run([DPLB] + args)
    assert result.returncode == 0 and result.stdout and not result.stderr


def test_an_invalid_file_exits_1_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.ini"
    bad.write_text("[vip:web]\nadress = 10.0.0.1\n")
    result = run([DPLB, "--check-config", str(bad)])
    assert result.returncode == 1
    assert f"{bad}:2: unknown key" in result.stderr


@pytest.mark.parametrize("args,words", [
    ([], "no configuration given"),
    (["--check-config"], "no configuration given"),
    (["-c", EXAMPLE], "running needs \"--\""),
    ([EXAMPLE], "running needs \"--\""),
    (["--check-config", EXAMPLE, "other.ini"], "unexpected argument \"other.ini\""),
    (["--no-huge", "--check-config", EXAMPLE], "Usage:"),
    (["--", "--bogus"], "Usage:"),
])
def test_usage_errors_exit_2(args, words):
    result = run([DPLB] + args)
    assert result.returncode == 2
    assert words in result.stderr
