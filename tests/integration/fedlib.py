# fedlib.py: helpers for the federation integration tests: start real mxdbd
# processes on loopback ports (each with --peer entries for the others and
# --federation-plain-http), talk to them over the Matrix client API, and
# wait for replication with bounded polls. Not a test itself.
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

BIN = os.environ.get("MXDB_BIN", os.path.join(os.path.dirname(__file__), "../../build/test"))


_HANDED = set()


def free_port():
    """A loopback port free now and never handed out before in this process:
    the probe socket is closed at once, so the kernel may offer the same port
    again, and mxdbd listens with SO_REUSEPORT (MHD's address reuse): two
    nodes given one port would both listen there and share its connections
    (seed 19 of test_fed_heal: B and D on one port, D's join failing)."""
    for _ in range(100):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _HANDED:
            _HANDED.add(port)
            return port
    raise AssertionError("no fresh loopback port in 100 tries")


def q(s):
    return urllib.parse.quote(s, safe="")


class Node:
    def __init__(self, name, base, port, peers, extra=(), plain=True, cafile=None):
        self.name, self.port, self.peers, self.extra = name, port, peers, list(extra)
        self.plain = plain
        self.data = os.path.join(base, name)
        self.url = "%s://127.0.0.1:%d" % ("http" if plain else "https", port)
        # Over HTTPS the test checks the certificate too, by the server name.
        self.ctx = None
        if not plain:
            self.ctx = ssl.create_default_context(cafile=cafile)
            self.ctx.check_hostname = False
        self.proc = None
        self.token = None
        self.user = None

    def start(self):
        args = [os.path.join(BIN, "mxdbd"), "--listen", "127.0.0.1:%d" % self.port,
                "--server-name", self.name, "--data", self.data,
                "--feed", "ipc://%s.feed" % self.data, "--password-hash", "fast",
                "--log-level", "warn"] + (["--federation-plain-http"] if self.plain else []) + self.extra
        for p in self.peers:
            args += ["--peer", p]
        self.log = open(self.data + ".log", "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url + "/_matrix/federation/v1/version", timeout=1,
                                       context=self.ctx)
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError("mxdbd %s died: %s" % (self.name, open(self.data + ".log").read()))
                time.sleep(0.1)
        raise RuntimeError("mxdbd %s did not start" % self.name)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def call(self, method, path, body=None, token=True, ok=(200,)):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token and self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=60, context=self.ctx) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        out = json.loads(text) if text else None
        if ok and status not in ok:
            raise AssertionError("%s %s %s -> %d %s" % (self.name, method, path, status, text[:300]))
        return status, out

    def client(self, method, path, body=None, **kw):
        return self.call(method, "/_matrix/client/v3" + path, body, **kw)

    def register(self, user):
        _, out = self.client("POST", "/register", {"username": user, "password": "pw",
                                                   "auth": {"type": "m.login.dummy"}}, token=False)
        self.token, self.user = out["access_token"], out["user_id"]

    def put_row(self, room, key, content, typ="com.example.todo"):
        _, out = self.client("PUT", "/rooms/%s/state/%s/%s" % (q(room), q(typ), q(key)), content)
        return out["event_id"]

    def get_row(self, room, key, typ="com.example.todo"):
        status, out = self.client("GET", "/rooms/%s/state/%s/%s" % (q(room), q(typ), q(key)), ok=())
        return out if status == 200 else None


class Cluster:
    def __init__(self, names, extra=(), per_node=None, plain=True, cafile=None):
        self.base = tempfile.mkdtemp(prefix="mxdb-fed-")
        ports = {n: free_port() for n in names}
        self.nodes = []
        for n in names:
            peers = ["%s=127.0.0.1:%d" % (m, ports[m]) for m in names if m != n]
            more = list(extra) + list((per_node or {}).get(n, []))
            self.nodes.append(Node(n, self.base, ports[n], peers, more, plain, cafile))

    def __enter__(self):
        for n in self.nodes:
            n.start()
        return self

    def __exit__(self, *exc):
        for n in self.nodes:
            n.stop()
        if exc[0] is not None:
            for n in self.nodes:
                try:
                    print("---- %s log (tail)" % n.name)
                    print(open(n.data + ".log", errors="replace").read()[-3000:])
                except OSError:
                    pass
        shutil.rmtree(self.base, ignore_errors=True)


USERS = ["alice", "bob", "carol", "dave", "erin"]


def shared_table(cl, name, joiners=None, visibility="public", **fields):
    """The usual start: one user per node (alice on the first, bob on the
    second...), a table created on the first node (fields: more of the
    create request, e.g. topic), joined from joiners (default: every other
    node). Returns the table's room ID."""
    first = cl.nodes[0]
    for n, user in zip(cl.nodes, USERS):
        n.register(user)
    _, t = first.call("POST", "/_mxdb/v1/tables", dict(fields, name=name, visibility=visibility))
    room = t["room_id"]
    for n in cl.nodes[1:] if joiners is None else joiners:
        _, out = n.client("POST", "/join/%s" % q("#%s:%s" % (name, first.name)), {})
        assert out["room_id"] == room, out
    return room


def wait_for(what, fn, timeout=20.0):
    """Polls fn() until it returns a true value (bounded); returns it."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def table_rows(node, room, typ=None):
    """Every live row of a table on node, through the paged scan: a dict
    (type, key) -> (content, event_id)."""
    out, frm = {}, None
    for _ in range(1000):  # pages of 1000: a million rows at most
        path = "/_mxdb/v1/tables/%s/rows?limit=1000" % q(room)
        if typ:
            path += "&type=" + q(typ)
        if frm:
            path += "&from=" + q(frm)
        _, page = node.call("GET", path)
        for r in page["rows"]:
            out[(r["type"], r["key"])] = (r["content"], r["event_id"])
        frm = page.get("next")
        if not frm:
            return out
    raise AssertionError("too many pages")


def dead_port():
    """A loopback port nobody listens on: a --peer entry pointing there
    makes a server unreachable (connection refused at once)."""
    return free_port()


def add_user(node, name):
    """Registers one more user on node without making it the node's own
    (node.token stays); returns (user_id, access_token) for as_user."""
    _, reg = node.client("POST", "/register", {"username": name, "password": "pw",
                                               "auth": {"type": "m.login.dummy"}}, token=False)
    return reg["user_id"], reg["access_token"]


def as_user(node, tok, method, path, body=None, ok=(200,)):
    """A client API call on node with another user's token."""
    saved, node.token = node.token, tok
    try:
        return node.client(method, path, body, ok=ok)
    finally:
        node.token = saved
