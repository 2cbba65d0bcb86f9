"""tablelib.py: what the table-API integration tests share: a real mxdbd on
random loopback ports (HTTP and nng feed) in a temporary data directory,
account registration, and small HTTP helpers (urllib only)."""
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

BIN = os.environ.get("MXDB_BIN", "build/test")


def free_port():
    for _ in range(50):
        p = random.randint(20000, 60000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
                with socket.socket() as s2:
                    s2.bind(("127.0.0.1", p + 1))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port")


class Server:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mxdb-tables-")
        self.port = free_port()
        self.feed = "tcp://127.0.0.1:%d" % (self.port + 1)
        self.name = "localhost:%d" % self.port
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "mxdbd.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "mxdbd"), "--listen", "127.0.0.1:%d" % self.port, "--server-name", self.name,
             "--data", os.path.join(self.dir, "data"), "--feed", self.feed, "--password-hash", "fast",
             "--log-level", "warn"], stdout=self.log, stderr=self.log)
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("mxdbd did not start: " + open(self.log.name).read())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        rc = self.proc.returncode
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc

    def register(self, user, password="pw-" + str(random.random())):
        st, body, _ = request(self, "POST", "/_matrix/client/v3/register", None,
                              {"username": user, "password": password, "auth": {"type": "m.login.dummy"}})
        assert st == 200, (st, body)
        return body["access_token"]


class Resp:
    pass


def request(srv, method, path, token=None, body=None, headers=None, raw=None, timeout=30):
    """Returns (status, parsed JSON body or raw bytes, headers)."""
    h = dict(headers or {})
    data = None
    if raw is not None:
        data = raw
    elif body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(srv.url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, payload, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, payload, hdrs = e.code, e.read(), e.headers
    ctype = hdrs.get("Content-Type", "")
    if ctype.startswith("application/json") and payload:
        return status, json.loads(payload), hdrs
    return status, payload, hdrs


def q(s):
    return urllib.parse.quote(s, safe="")


def row_path(table, typ, key):
    return "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(table), q(typ), q(key))


class Checks:
    def __init__(self, name):
        self.name, self.n, self.failed = name, 0, 0

    def check(self, cond, what):
        self.n += 1
        if not cond:
            self.failed += 1
            print("FAIL:", what, flush=True)

    def done(self):
        print("%s: %d checks, %d failed" % (self.name, self.n, self.failed))
        return 1 if self.failed else 0
