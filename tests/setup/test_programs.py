"""Every program the scripts and tests run is there after scripts/setup.

PROGRAMS is the reviewed list: each program any of scripts/*, dist/* (meson
install steps), .ci/run or tests/**/*.py starts, with the Debian package it comes from. Three checks
keep it honest:

- each program is on PATH (so a missing install step fails here, not on a
  user's first run);
- each package is one scripts/setup installs, or an Essential package that
  every Debian root has, and it really owns the program (dpkg -S);
- the list is exactly what the sources call: bash scripts are parsed with
  shfmt (its syntax tree, not regular expressions), Python with ast. A new
  program in a script fails this test until it is added here, and setup
  installs its package.

The parsers follow literal command names, variables assigned a literal
(PYTHON=/usr/bin/python3, TESTPMD = "dpdk-testpmd") and the wrappers the
scripts use (timeout, ip netns exec, setsid, bash -c, ...). Commands named by
a variable they cannot resolve ("$BUILD/app/dplb") are dplb's own programs.
"""

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# program -> the Debian package that provides it. Programs run by absolute
# path are listed by that path.
PROGRAMS = {
    "/usr/bin/python3": "python3",
    "apt-get": "apt",
    "awk": "mawk",
    "bash": "bash",
    "bird": "bird2",
    "birdc": "bird2",
    "cat": "coreutils",
    "chroot": "coreutils",
    "chrt": "util-linux",
    "cp": "coreutils",
    "clang-format": "clang-format",
    "curl": "curl",
    "dirname": "coreutils",
    "dpdk-telemetry.py": "dpdk-dev",
    "dpdk-testpmd": "dpdk-dev",
    "dpkg-query": "dpkg",
    "env": "coreutils",
    "ethtool": "ethtool",
    "find": "findutils",
    "git": "git",
    "grep": "grep",
    "install": "coreutils",
    "ip": "iproute2",
    "man": "man-db",
    "meson": "meson",
    "mkdir": "coreutils",
    "mktemp": "coreutils",
    "mmdebstrap": "mmdebstrap",
    "mount": "mount",
    "mv": "coreutils",
    "ninja": "ninja-build",
    "ping": "iputils-ping",
    "pkg-config": "pkg-config",
    "promtool": "prometheus",
    "ps": "procps",
    "realpath": "coreutils",
    "rm": "coreutils",
    "sed": "sed",
    "seq": "coreutils",
    "setsid": "util-linux",
    "shfmt": "shfmt",
    "sleep": "coreutils",
    "sort": "coreutils",
    "sysctl": "procps",
    "systemd-analyze": "systemd",
    "tar": "tar",
    "timeout": "coreutils",
    "touch": "coreutils",
    "umount": "mount",
    "uniq": "coreutils",
    "unshare": "util-linux",
    "xargs": "findutils",
}

# Bash builtins and keywords: not programs.
BUILTINS = set("""
    . : [ [[ alias bg break builtin cd command compgen complete continue declare
    dirs disown echo enable eval exec exit export false fc fg getopts hash help
    history jobs kill let local logout mapfile popd printf pushd pwd read
    readarray readonly return set shift shopt source suspend test times trap
    true type typeset ulimit umask unalias unset wait
""".split())

# Functions of the scripts that run their arguments as a command, and how
# many arguments come before it.
SHELL_WRAPPERS = {"in_ns": 1, "on_client": 0, "spawn": 2}


def script_files():
    """(path, language) of every script and test."""
    files = [p for d in ("scripts", "dist") for p in sorted((REPO / d).iterdir()) if p.is_file()]
    files.append(REPO / ".ci" / "run")
    out = []
    for path in files:
        first = path.read_text().split("\n", 1)[0]
        if "python" in first:
            out.append((path, "python"))
        elif "bash" in first or first.endswith("/sh"):
            out.append((path, "bash"))
    out += [(p, "python") for p in sorted((REPO / "tests").rglob("*.py"))]
    return out


def unwrap(argv):
    """The programs one command line runs: the command itself, and what its
    wrappers (timeout, ip netns exec, ...) run in turn. Unknown words (from
    variables not resolved) are None."""
    found = []
    while argv:
        prog, args = argv[0], argv[1:]
        if prog is None:
            return found
        if "/" in prog and not prog.startswith("/"):
            # Our own: scripts/testbed exec NODE COMMAND..., build/app/dplb.
            if prog.endswith("scripts/testbed") and args[:1] == ["exec"]:
                argv = args[2:]
                continue
            return found
        if prog in SHELL_WRAPPERS:
            argv = args[SHELL_WRAPPERS[prog]:]
            continue
        if prog in ("exec", "command"):
            # "command -v NAME" looks a program up: it is needed all the same.
            argv = [a for a in args if a is None or not a.startswith("-")]
            continue
        if prog in BUILTINS:
            return found
        if prog.startswith("/") and prog not in PROGRAMS:
            prog = os.path.basename(prog)
        found.append(prog)
        if prog == "unshare" and "--" in args:
            argv = args[args.index("--") + 1:]
        elif prog in ("timeout", "setsid", "xargs", "nice", "env", "unshare"):
            rest = list(args)
            while rest and rest[0] is not None and (rest[0].startswith("-") or "=" in rest[0]):
                if rest[0] == "--":
                    rest = rest[1:]
                    break
                rest = rest[1:]
            if prog == "timeout" and rest:
                rest = rest[1:]  # the duration
            argv = rest
        elif prog == "chroot":
            argv = args[1:]
        elif prog == "ip" and args[:2] == ["netns", "exec"]:
            argv = args[3:]
        elif prog in ("bash", "sh") and "-c" in args:
            script = args[args.index("-c") + 1]
            if script is not None:
                found += shell_programs(script)
            return found
        else:
            return found
    return found


# ---- bash, through shfmt's syntax tree ----

def shell_word(word, variables):
    """The literal value of a shfmt Word, None when it is not known."""
    text = ""
    for part in word.get("Parts", []):
        kind = part["Type"]
        if kind in ("Lit", "SglQuoted"):
            text += part["Value"]
        elif kind == "DblQuoted":
            inner = shell_word(part, variables)
            if inner is None:
                return None
            text += inner
        elif kind == "ParamExp" and not part.get("Length") and not part.get("Exp"):
            value = variables.get(part["Param"]["Value"])
            if value is None:
                return None
            text += value
        else:
            return None
    return text


def walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def shell_programs(source):
    tree = json.loads(subprocess.run(["shfmt", "--to-json"], input=source, text=True,
                                     capture_output=True, check=True).stdout)
    variables = {}
    for node in walk(tree):
        if node.get("Type") == "CallExpr" and not node.get("Args"):
            for assign in node.get("Assigns", []):
                if assign.get("Value"):
                    variables[assign["Name"]["Value"]] = shell_word(assign["Value"], {})
    functions = {node["Name"]["Value"] for node in walk(tree) if node.get("Type") == "FuncDecl"}
    found = []
    for node in walk(tree):
        if node.get("Type") == "CallExpr" and node.get("Args"):
            argv = [shell_word(w, variables) for w in node["Args"]]
            if argv[0] in functions and argv[0] not in SHELL_WRAPPERS:
                continue
            found += unwrap(argv)
    return found


# ---- Python, through ast ----

RUNNERS = {"run", "run_checked", "Popen", "check_output", "check_call", "call"}


def python_programs(source):
    tree = ast.parse(source)
    constants = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            constants[node.targets[0].id] = node.value.value

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return constants.get(node.id)
        return None

    def argv_of(node):
        """A command line written as a list literal, or [list] + more."""
        while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            node = node.left
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            return [value(e) for e in node.elts]
        return None

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in RUNNERS and node.args:
                argv = argv_of(node.args[0])
                if argv is None and value(node.args[0]) is not None:
                    argv = [value(a) for a in node.args]  # run("ip", "netns", ...)
                found += unwrap(argv or [])
            elif name == "exec" and isinstance(func, ast.Attribute) and len(node.args) > 1:
                found += unwrap([value(a) for a in node.args[1:]])  # testbed.exec(node, ...)
            elif name == "which" and node.args and value(node.args[0]):
                found.append(value(node.args[0]))
        elif isinstance(node, ast.Assign):
            # cmd = [...], gen_cmd = [...]: command lines built before they run.
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if any(n == "argv" or n.endswith("cmd") for n in names):
                found += unwrap(argv_of(node.value) or [])
        elif isinstance(node, ast.For) and isinstance(node.iter, (ast.Tuple, ast.List)):
            # for tool in ("ip", "curl"): shutil.which(tool)
            target = getattr(node.target, "id", None)
            for inner in ast.walk(node):
                if (isinstance(inner, ast.Call) and getattr(inner.func, "attr", None) == "which"
                        and inner.args and getattr(inner.args[0], "id", None) == target):
                    found += [value(e) for e in node.iter.elts if value(e)]
    return found


def called_programs():
    """{program: [files calling it]} over every script and test."""
    calls = {}
    for path, language in script_files():
        source = path.read_text()
        programs = python_programs(source) if language == "python" else shell_programs(source)
        for prog in programs:
            calls.setdefault(prog, set()).add(str(path.relative_to(REPO)))
    return calls


def setup_packages():
    text = (REPO / "scripts" / "setup").read_text()
    block = re.search(r"^packages=\((.*?)^\)", text, re.S | re.M).group(1)
    return {word for line in block.splitlines() for word in line.split("#")[0].split()}


def dpkg_field(package, field):
    result = subprocess.run(["dpkg-query", "-W", "-f", "${" + field + "}", package],
                            capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def owners(program):
    """Packages owning the program's file, through usr-merge and alternatives."""
    path = shutil.which(program)
    names = {os.path.basename(program)}
    if path:
        names.add(os.path.basename(os.path.realpath(path)))
    found = set()
    for name in names:
        result = subprocess.run(["dpkg-query", "-S", "*bin/" + name], capture_output=True,
                                text=True)
        for line in result.stdout.splitlines():
            packages, _, file = line.partition(": ")
            if file in [d + name for d in ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/")]:
                found |= {p.strip().split(":")[0] for p in packages.split(",")}
    return found


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_program_is_on_path(program):
    assert shutil.which(program), (
        f"{program} not found: scripts/setup must install {PROGRAMS[program]}")


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_package_is_installed_by_setup_and_owns_the_program(program):
    package = PROGRAMS[program]
    # mmdebstrap --variant=apt, the smallest root: Essential packages and apt.
    assert (package in setup_packages() or package == "apt"
            or dpkg_field(package, "Essential") == "yes"), (
        f"{package} (for {program}) is neither in scripts/setup nor Essential")
    found = owners(program)
    depends = (dpkg_field(package, "Depends") or "") + "," + (dpkg_field(package, "Pre-Depends") or "")
    direct = {d.strip().split()[0].split(":")[0] for d in re.split(r"[,|]", depends) if d.strip()}
    assert package in found or found & direct, (
        f"{program} belongs to {sorted(found)}, not to {package}")


def test_the_list_is_what_the_sources_call():
    calls = called_programs()
    unlisted = {p: sorted(f) for p, f in calls.items() if p not in PROGRAMS}
    unused = sorted(set(PROGRAMS) - set(calls))
    assert not unlisted, f"called but not in PROGRAMS (add it, and its package to setup): {unlisted}"
    assert not unused, f"in PROGRAMS but called by nothing (remove it): {unused}"
