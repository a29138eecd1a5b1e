"""Helper processes (dplb, dplb-gen) started without races, and what a
failure says about one: how it ended, the last lines it wrote and, when it
still ran, what each of its threads was doing (with every stack when
DPLB_TEST_GDB names a gdb).

The race avoided: free_port picks a port the kernel never hands out by
itself, so only another test's own pick can take it first, and port_taken
tells that case from any other failure, so the caller starts again on
another port instead of failing.
"""

import os
import random
import re
import signal
import socket
import subprocess
from pathlib import Path

TAIL_LINES = 40
PORT_ATTEMPTS = 5

_PORT_TAKEN = re.compile(r"cannot listen on \S+: .*Address already in use")


def _first_ephemeral_port():
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback TCP port nobody uses right now, for a server started next.

    Not the kernel's pick (bind to port 0): that comes from the ephemeral
    range, where every connect() and every bind to port 0 on the machine
    (dplb's own health checks, other tests' clients) draws too, so one of
    them could take it before the server binds it. A random port below that
    range can only be taken by another process's own pick of the same
    number; the caller recognises that with `port_taken` and tries again."""
    low = _first_ephemeral_port()
    if low > 12000:  # else from the kernel, as a last resort
        for _ in range(100):
            port = random.randrange(10000, low)
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_taken(output):
    """Whether dplb's output says another process had its API port."""
    return _PORT_TAKEN.search(output) is not None


def tail(text, lines=TAIL_LINES):
    kept = text.rstrip("\n").splitlines()
    cut = len(kept) - lines
    return "\n".join(([f"[... {cut} lines before]"] if cut > 0 else []) + kept[-lines:])


def threads(pid):
    """What the threads of a running process are doing: each one's name,
    state and kernel wait channel, then every stack by the debugger named
    in DPLB_TEST_GDB (gdb is not among the programs scripts/setup
    installs: set DPLB_TEST_GDB=gdb where it is)."""
    lines = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*"), key=lambda t: int(t.name)):
        try:
            name = (task / "comm").read_text().strip()
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            wchan = (task / "wchan").read_text().strip() or "-"
        except (OSError, IndexError):
            continue
        lines.append(f"  thread {task.name} ({name}): state {state}, in kernel at {wchan}")
    debugger = os.environ.get("DPLB_TEST_GDB")
    if not debugger:
        return "\n".join(lines + ["  (DPLB_TEST_GDB=gdb adds every thread's stack)"])
    try:
        gdb = subprocess.run(
            [debugger, "-batch", "-nx", "-p", str(pid), "-ex", "set pagination off",
             "-ex", "thread apply all bt"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        noise = ("[New LWP", "[Thread debugging", "Using host libthread_db")
        lines += [line for line in (gdb.stdout or gdb.stderr).splitlines()
                  if line.strip() and not line.startswith(noise)]
    except (OSError, subprocess.TimeoutExpired) as error:
        lines.append(f"  ({debugger}: {error})")
    return "\n".join(lines)


def report(name, pid, status, output, stacks=None):
    """A failure's account of a process: its exit status, or that it was
    still running (and its threads then), and the last lines of its output.
    status None means it was still running when the test gave up."""
    if status is None:
        state = f"{name} (pid {pid}) was still running; its threads:\n{stacks or '  (unknown)'}"
    elif status < 0:
        state = f"{name} (pid {pid}) was killed by {signal.Signals(-status).name}"
    else:
        state = f"{name} (pid {pid}) exited with status {status}"
    return f"{state}\n--- the last lines {name} wrote:\n{tail(output) or '(nothing)'}"


def report_popen(name, proc, output_paths):
    """report() for a process whose output goes to files, running or not."""
    status = proc.poll()
    stacks = threads(proc.pid) if status is None else None
    output = "".join(Path(p).read_text(errors="replace") for p in output_paths
                     if os.path.exists(p))
    return report(name, proc.pid, status, output, stacks)
