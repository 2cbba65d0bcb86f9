"""mxdbd_util.py: for the Python integration tests: starts a real mxdbd from
$MXDB_BIN on a free loopback port with a temporary data directory and stops
it (SIGTERM, then checks it exited cleanly) when the `with` block ends."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time


class Mxdbd:
    def __init__(self, *flags):
        here = os.path.dirname(os.path.abspath(__file__))
        self.bin = os.environ.get("MXDB_BIN", os.path.join(here, "../../build/test"))
        self.flags = list(flags)
        self.proc = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="mxdb-it-")
        self.out = open(os.path.join(self.dir, "out.log"), "w+")
        self.err = open(os.path.join(self.dir, "err.log"), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(self.bin, "mxdbd"), "--listen", "127.0.0.1:0",
             "--server-name", "test.local", "--data", os.path.join(self.dir, "data"),
             "--feed", "ipc://" + os.path.join(self.dir, "feed"),
             "--password-hash", "fast"] + self.flags,
            stdout=self.out, stderr=self.err)
        deadline = time.time() + 20
        while time.time() < deadline:
            self.out.seek(0)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.out.read())
            if m:
                self.port = int(m.group(1))
                self.url = "http://127.0.0.1:%d" % self.port
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError("mxdbd did not start")

    def stop(self):
        """Stops the daemon; returns its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9

    def log(self):
        self.err.seek(0)
        return self.err.read()

    def __exit__(self, *exc):
        self.stop()
        self.out.close()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False
