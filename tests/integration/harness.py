"""Integration test harness: real gregor brokers on free loopback ports.

    from harness import Broker, test, main

    @test
    def produce_and_consume():
        with Broker(overrides={"num.partitions": 3}) as b:
            ... clients against b.bootstrap ...

    if __name__ == "__main__":
        main()

Each broker gets a fresh data directory, a config file written from the
arguments, and a log file of its stderr under build/test-logs/ (kept after
the run for diagnosis). Stopping a broker is a check in itself: it must
exit 0 on SIGTERM and its stderr must hold no sanitizer report.

Every wait here is bounded; nothing in a test should be able to hang the
suite. Run with /usr/bin/python3 (the one with confluent_kafka and kafka).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.environ.get("GREGOR_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("GREGOR_BIN") or os.path.join(ROOT, "build", "asan", "gregor")
LOG_DIR = os.path.join(ROOT, "build", "test-logs")

START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30

# GREGOR_BROKER_WRAPPER runs the broker under a tool, e.g.
# "valgrind --error-exitcode=99 --leak-check=full" (make soak does).
BROKER_WRAPPER = os.environ.get("GREGOR_BROKER_WRAPPER", "").split()
if BROKER_WRAPPER:
    START_TIMEOUT_S, STOP_TIMEOUT_S = 180, 120

# Lines that mean a sanitizer caught something; any of them fails the test.
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
    "ERROR: MemorySanitizer",
)

# Sanitizer settings for brokers started outside tests/run.
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")

# valgrind's reports: an error as it happens (under --quiet, and after a
# kill -9 there is no summary) or a summary with a non-zero count.
VALGRIND_ERRORS = re.compile(r"==\d+== (ERROR SUMMARY: [1-9]|\s*definitely lost: [1-9]|Invalid (read|write|free)"
                             r"|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination)")

_current_test = "adhoc"


class BrokerError(AssertionError):
    """The broker failed to start, died, or exited badly."""


def free_port():
    """A loopback port free right now (the broker binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=30.0, interval=0.1, what="condition"):
    """Polls cond() until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _safe_name(s):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


class Broker:
    """A gregor process with its own port, data directory and log file.

    overrides: extra config keys written to the config file.
    cli_overrides: keys passed as --override key=value instead (tests the CLI path).
    """

    def __init__(self, overrides=None, cli_overrides=None, name=None, start_timeout=START_TIMEOUT_S, env=None,
                 data_dir=None, binary=None):
        self.overrides = dict(overrides or {})
        # Extra environment for the broker process (e.g. LD_PRELOAD of the fault shim).
        self.env = dict(env or {})
        # binary: another broker build (e.g. the release one, for RSS measurements).
        self.binary = binary or BIN
        self.cli_overrides = dict(cli_overrides or {})
        self.name = _safe_name(name or _current_test)
        self.start_timeout = start_timeout
        self.tmp = tempfile.mkdtemp(prefix="gregor-it-")
        # data_dir: somewhere else than the temporary directory (e.g. a small tmpfs).
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.config_path = os.path.join(self.tmp, "server.properties")
        self.port = None
        self.admin_port = None  # the HTTP admin listener (admin.listener)
        self.proc = None
        self.starts = 0
        os.makedirs(LOG_DIR, exist_ok=True)
        self.log_path = os.path.join(LOG_DIR, "%s.%d.broker.log" % (self.name, os.getpid()))
        n = 1
        while os.path.exists(self.log_path):
            n += 1
            self.log_path = os.path.join(LOG_DIR, "%s.%d.%d.broker.log" % (self.name, os.getpid(), n))
        self._log_offset = 0  # where the current run's output starts in the log file

    @property
    def admin_url(self):
        return "http://127.0.0.1:%d" % self.admin_port

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.proc is not None and self.proc.poll() is None:
                if exc_type is None:
                    self.stop()
                else:
                    # The test already failed; still report a sanitizer finding,
                    # but never hide the original error behind a stop failure.
                    try:
                        self.stop()
                    except BaseException as e:
                        sys.stderr.write("broker stop after failure: %s\n" % e)
            elif self.proc is not None and exc_type is None:
                self.check_log()
        finally:
            self.cleanup()
        return False

    # ---- lifecycle ----

    def _write_config(self):
        lines = [
            "listeners=PLAINTEXT://127.0.0.1:%d" % self.port,
            "log.dirs=%s" % self.data_dir,
            # Its own admin port, so brokers of parallel tests never share 9644.
            "admin.listener=127.0.0.1:%d" % self.admin_port,
        ]
        for k, v in self.overrides.items():
            lines.append("%s=%s" % (k, _prop_value(v)))
        with open(self.config_path, "w") as f:
            f.write("# written by tests/integration/harness.py\n")
            f.write("\n".join(lines) + "\n")

    def start(self):
        """Starts the broker (a fresh port on first start, the same one after)."""
        if not os.access(self.binary, os.X_OK):
            raise BrokerError("broker binary not found or not executable: %s" % self.binary)
        attempts = 3 if self.port is None else 1
        for attempt in range(attempts):
            if self.starts == 0:
                self.port = free_port()
                self.admin_port = free_port()
            self._write_config()
            self._spawn()
            try:
                self._wait_ready()
                return
            except BrokerError:
                text = self.log_text()
                # Another process took the port between our probe and the bind.
                if attempt + 1 < attempts and "in use" in text.lower() and self.proc.poll() is not None:
                    self.starts = 0
                    continue
                self._kill_quietly()
                raise

    def _spawn(self):
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            header = "==== start %d at %s port %d ====\n" % (self.starts + 1, time.strftime("%H:%M:%S"), self.port)
            log.write(header.encode())
            log.flush()
            self._log_offset = log.tell()
            cmd = BROKER_WRAPPER + [self.binary, "broker", "--config", self.config_path]
            for k, v in self.cli_overrides.items():
                cmd += ["--override", "%s=%s" % (k, v)]
            env = None
            if self.env:
                env = dict(os.environ, **self.env)
                if "LD_PRELOAD" in self.env:
                    # ASan insists on being first in the preload list; the shim
                    # only wraps libc calls, so the order does not matter.
                    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.tmp, env=env)
        self.starts += 1

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise BrokerError("broker exited with %s during start-up\n%s" % (self.proc.returncode, self.log_tail()))
            # The port listens before start-up finishes (the kernel queues
            # early connections); "started" in the log means loading is done.
            if "broker: started" in self.log_text():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise BrokerError("broker not accepting connections on port %d after %ds\n%s"
                                  % (self.port, self.start_timeout, self.log_tail()))
            time.sleep(0.05)

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM; the broker must exit 0 in time with a clean log."""
        if self.proc is None or self.proc.poll() is not None:
            self.check_log()
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_quietly()
            raise BrokerError("broker did not exit within %ds of SIGTERM\n%s" % (timeout, self.log_tail()))
        if rc != 0:
            raise BrokerError("broker exited with %d after SIGTERM (expected 0)\n%s" % (rc, self.log_tail()))
        self.check_log()

    def kill9(self):
        """SIGKILL: a crash as far as the data directory can tell."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        self.check_log()

    def restart(self):
        """Stops (cleanly, if still running) and starts on the same port and data."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            raise BrokerError("broker died (exit %s)\n%s" % (self.proc.returncode, self.log_tail()))

    def _kill_quietly(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass

    def cleanup(self):
        self._kill_quietly()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- the broker's log ----

    def log_text(self):
        """This run's stderr (since the last start)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=40):
        text = self.log_text().splitlines()
        return "---- %s (last %d lines) ----\n%s" % (self.log_path, min(lines, len(text)), "\n".join(text[-lines:]))

    def check_log(self):
        """Fails on any sanitizer report in this run's output."""
        text = self.log_text()
        found = [ln for ln in text.splitlines()
                 if any(m in ln for m in SANITIZER_MARKERS) or VALGRIND_ERRORS.search(ln)]
        if found:
            idx = text.find(found[0])
            raise BrokerError("sanitizer report in broker log %s:\n%s" % (self.log_path, text[max(0, idx - 200): idx + 4000]))


def _prop_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ---- kcat ----

def kcat(args, input=None, timeout=120, check=True):
    """Runs kcat with a bound on time; returns the CompletedProcess (bytes)."""
    cmd = ["kcat"] + list(args)
    try:
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("kcat timed out after %ds: %s\nstderr: %s"
                             % (timeout, " ".join(cmd), (e.stderr or b"")[-2000:].decode("utf-8", "replace")))
    if check and p.returncode != 0:
        raise AssertionError("kcat exited %d: %s\nstderr: %s"
                             % (p.returncode, " ".join(cmd), p.stderr[-2000:].decode("utf-8", "replace")))
    return p


# ---- a tiny test registry ----

_tests = []


def test(fn=None, timeout=180):
    """Registers a test; `@test` or `@test(timeout=600)` (seconds, enforced by SIGALRM)."""
    def register(f):
        f._timeout = timeout
        _tests.append(f)
        return f
    if fn is not None:
        return register(fn)
    return register


class TestTimeout(AssertionError):
    pass


class Skip(Exception):
    """Raised by a test that cannot run here (e.g. the client lacks the API).
    Printed as "SKIP name: reason", which tests/run counts as neither."""


def _on_alarm(signum, frame):
    raise TestTimeout("test exceeded its time limit")


def main():
    """Runs the registered tests (or those named on the command line)."""
    global _current_test
    wanted = set(sys.argv[1:])
    signal.signal(signal.SIGALRM, _on_alarm)
    failed = 0
    for fn in _tests:
        name = fn.__name__
        if wanted and name not in wanted:
            continue
        _current_test = "%s.%s" % (os.path.splitext(os.path.basename(sys.argv[0]))[0], name)
        t0 = time.monotonic()
        ok = True
        signal.alarm(fn._timeout)
        try:
            fn()
        except Skip as e:
            signal.alarm(0)
            print("SKIP %s: %s" % (name, e), flush=True)
            continue
        except BaseException as e:  # noqa: B902 - a test failure of any kind is reported, not fatal
            if isinstance(e, KeyboardInterrupt):
                raise
            ok = False
            sys.stderr.write("---- %s failed ----\n" % name)
            traceback.print_exc(file=sys.stderr)
        finally:
            signal.alarm(0)
        if not ok:
            failed += 1
        sys.stderr.flush()
        print("%s %s (%.1fs)" % ("PASS" if ok else "FAIL", name, time.monotonic() - t0), flush=True)
    sys.exit(1 if failed else 0)
