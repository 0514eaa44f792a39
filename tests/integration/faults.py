"""Fault-injection helpers for the integration tests: the LD_PRELOAD shim
(tests/faultshim/faultshim.c, built as build/faultshim.so) and the power-cut
tool that rolls a data directory back to what the broker made durable.

    shim = FaultShim()
    with Broker(env=shim.env) as b:
        shim.set("pwrite .log ENOSPC")      # every append to a segment fails
        ...
        shim.clear()                        # the disk has room again
        b.kill9(); report = power_cut(b.data_dir, shim.events_path)

The power cut models a machine that loses its page cache: every file keeps
only the bytes up to its last successful fsync/fdatasync, and every name
that no synced directory listing holds disappears. It is the strictest
state a POSIX file system may come back in (writes never synced are all
gone), so anything that survives it survives a real power loss of a
correctly behaving disk.
"""

import os
import shutil
import tempfile

from harness import ROOT

SHIM = os.path.join(ROOT, "build", "faultshim.so")


class FaultShim:
    """The control and event files of one broker run under the shim."""

    def __init__(self):
        if not os.path.exists(SHIM):
            raise AssertionError("fault shim not built: make %s" % os.path.relpath(SHIM, ROOT))
        self.dir = tempfile.mkdtemp(prefix="gregor-shim-")
        self.ctl_path = os.path.join(self.dir, "ctl")
        self.events_path = os.path.join(self.dir, "events")
        self._generation = 0
        self.set("")

    @property
    def env(self):
        return {"LD_PRELOAD": SHIM, "FAULTSHIM_CTL": self.ctl_path, "FAULTSHIM_EVENTS": self.events_path}

    def set(self, *rules):
        """Replaces the active rules ("<op> <path-substring> <ERRNO> [count]")."""
        self._generation += 1
        # The comment line changes the size and content even when the rules
        # repeat, so the shim's mtime+size check always sees a new file.
        text = "# generation %d\n%s\n" % (self._generation, "\n".join(rules))
        tmp = self.ctl_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.ctl_path)

    def clear(self):
        self.set()

    def faults_fired(self, op=None):
        """The injected faults so far: [(op, errno, path)]."""
        out = []
        for line in self._event_lines():
            parts = line.split(" ", 3)
            if parts[0] == "fault" and len(parts) == 4 and (op is None or parts[1] == op):
                out.append((parts[1], int(parts[2]), parts[3]))
        return out

    def _event_lines(self):
        try:
            with open(self.events_path, "r", errors="replace") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def durable_state(events_path):
    """(size by inode, listing by directory inode) from the shim's events."""
    sizes = {}
    listings = {}
    with open(events_path, "r", errors="replace") as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        parts = lines[i].split(" ")
        i += 1
        kind = parts[0]
        if kind == "sync":
            sizes[int(parts[1])] = int(parts[2])
        elif kind == "trunc":
            ino, size = int(parts[1]), int(parts[2])
            if ino in sizes:
                sizes[ino] = min(sizes[ino], size)
        elif kind == "unlink":
            sizes.pop(int(parts[1]), None)
        elif kind == "dirsync":
            dir_ino, count = int(parts[1]), int(parts[2])
            entries = set()
            for line in lines[i:i + count]:
                _, ino, name = line.split(" ", 2)
                entries.add((name, int(ino)))
            listings[dir_ino] = entries
            i += count
    return sizes, listings


class PowerCutReport:
    def __init__(self):
        self.truncated = []      # (path, old size, new size)
        self.removed = []        # paths whose name was never made durable
        self.unrestorable = []   # names replaced by an unsynced rename: old content is gone

    def __str__(self):
        return "power cut: %d files cut back, %d names removed, %d unrestorable" % (
            len(self.truncated), len(self.removed), len(self.unrestorable))


def power_cut(data_dir, events_path):
    """Rolls data_dir back to its durable state (call after kill -9)."""
    sizes, listings = durable_state(events_path)
    report = PowerCutReport()
    for dirpath, dirnames, filenames in os.walk(data_dir, topdown=True):
        dir_ino = os.lstat(dirpath).st_ino
        listing = listings.get(dir_ino, set())
        durable_names = {name for name, _ in listing}
        for name in list(dirnames) + list(filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if (name, st.st_ino) in listing:
                continue
            if name in durable_names:
                # The durable entry pointed at a file that no longer exists
                # (replaced by rename before the directory was synced).
                report.unrestorable.append(path)
                continue
            report.removed.append(path)
            if name in dirnames:
                shutil.rmtree(path)
                dirnames.remove(name)
            else:
                os.unlink(path)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.lexists(path):
                continue
            st = os.lstat(path)
            keep = sizes.get(st.st_ino, 0)
            if st.st_size > keep:
                os.truncate(path, keep)
                report.truncated.append((path, st.st_size, keep))
    return report
