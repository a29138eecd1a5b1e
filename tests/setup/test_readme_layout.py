"""The README's "What is where" is the tree: one entry per folder the
repository tracks, no entry for a folder that is gone, and every file an
entry names (the answers to "where is a packet encapsulated", "where is a
reload applied", "where is /metrics written") is in that folder."""

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# An entry: four spaces, a folder path ending in "/", the description, and
# continuation lines indented further.
ENTRY = re.compile(r"^    (\S+)/\s+(.*)$")
# A file name, maybe with its folder ("packet/counters.h"), found in the
# entry's folder, under lib/ or from the root; "dplb.ini(5)" is a manual page.
FILE_NAME = re.compile(r"[\w/.-]*[\w-]\.(?:c|h|py|md|ini|in|build|lua|pkt|supp|conf)\b(?!\()")


def layout_entries():
    text = (REPO / "README.md").read_text()
    section = text.split("## What is where", 1)[1].split("\n## ", 1)[0]
    entries = {}
    current = None
    for line in section.splitlines():
        m = ENTRY.match(line)
        if m:
            current = m.group(1)
            assert current not in entries, f"README lists {current}/ twice"
            entries[current] = m.group(2)
        elif current and line.startswith("      ") and line.strip():
            entries[current] += " " + line.strip()
        elif not line.startswith("    "):
            current = None
    return entries


def ignored(relative, gitignore):
    """Whether .gitignore's folder patterns (the only kind it has) leave
    this folder out."""
    name = relative.name
    for pattern in gitignore:
        pattern = pattern.rstrip("/")
        if pattern.startswith("/"):
            anchored = Path(pattern[1:])
            if len(relative.parts) == len(anchored.parts) and relative.match(str(anchored)):
                return True
        elif Path(name).match(pattern):
            return True
    return False


def tracked_folders():
    """Folders holding files, as a clone has them: read from the tree
    (scripts/test also runs from a copy that is not a git checkout), less
    hidden folders and what .gitignore leaves out (builds, results)."""
    gitignore = [line.strip() for line in (REPO / ".gitignore").read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    folders = set()
    for path, dirs, files in os.walk(REPO):
        relative = Path(path).relative_to(REPO)
        dirs[:] = [d for d in dirs
                   if not d.startswith(".") and not ignored(relative / d, gitignore)]
        if files and relative != Path("."):
            folders.add(str(relative))
    return folders


def test_every_folder_has_one_entry_and_every_entry_is_a_folder():
    entries = layout_entries()
    missing = sorted(tracked_folders() - entries.keys())
    gone = sorted(f for f in entries if not (REPO / f).is_dir())
    assert not missing, f"folders missing from the README's What is where: {missing}"
    assert not gone, f"README's What is where lists folders that do not exist: {gone}"


def test_every_file_an_entry_names_is_in_its_folder():
    wrong = [(folder, name) for folder, text in layout_entries().items()
             for name in FILE_NAME.findall(text)
             if not any((base / name).exists() for base in (REPO / folder, REPO / "lib", REPO))]
    assert not wrong, f"README's What is where names files that are not there: {wrong}"


def test_the_newcomers_questions_are_answered():
    text = " ".join(layout_entries().values())
    for question in ("encapsulated", "reload", "/metrics"):
        assert question in text, f"What is where does not say where {question!r} happens"
