# fedlib.py: helpers for the federation integration tests: start real mxdbd
# processes on loopback ports (each with --peer entries for the others and
# --federation-plain-http), talk to them over the Matrix client API, and
# wait for replication with bounded polls. Not a test itself.
import base64
import hashlib
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

import canonicaljson
import signedjson.key
import signedjson.sign

BIN = os.environ.get("MXDB_BIN", os.path.join(os.path.dirname(__file__), "../../build/test"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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
                    print(open(n.data + ".log").read()[-3000:])
                except OSError:
                    pass
        shutil.rmtree(self.base, ignore_errors=True)


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


class Fed:
    """Speaks server-server to one node as `origin`, signing with `key`."""

    def __init__(self, node, origin, key):
        self.node, self.origin, self.key = node, origin, key

    def request(self, method, uri, body=None, key=None, destination=None):
        key = key or self.key
        dest = destination or self.node.name
        j = {"method": method, "uri": uri, "origin": self.origin, "destination": dest}
        if body is not None:
            j["content"] = body
        sig = signedjson.sign.sign_json(j, self.origin, key)["signatures"][self.origin]
        kid, s = next(iter(sig.items()))
        req = urllib.request.Request(self.node.url + uri, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Authorization", 'X-Matrix origin="%s",destination="%s",key="%s",sig="%s"'
                       % (self.origin, dest, kid, s))
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def send(self, txn, pdus, **kw):
        return self.request("PUT", "/_matrix/federation/v1/send/%s" % txn,
                            {"origin": self.origin, "origin_server_ts": int(time.time() * 1000),
                             "pdus": pdus, "edus": []}, **kw)


def load_key(path):
    alg, version, seed = open(path).read().split()
    return signedjson.key.decode_signing_key_base64(alg, version, seed)


# Top-level keys a redaction keeps in rooms v11 and v12.
KEEP = ["event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
        "depth", "prev_events", "auth_events", "origin_server_ts"]


def b64(b, url=False):
    s = (base64.urlsafe_b64encode if url else base64.b64encode)(b).decode()
    return s.rstrip("=")


def redact(ev):
    r = {k: v for k, v in ev.items() if k in KEEP}
    content = ev.get("content", {})
    r["content"] = {"membership": content["membership"]} if ev["type"] == "m.room.member" else {}
    return r


def event_id(ev):
    r = redact(ev)
    r.pop("signatures", None)
    r.pop("unsigned", None)
    return "$" + b64(hashlib.sha256(canonicaljson.encode_canonical_json(r)).digest(), url=True)


def seal(ev, key, server):
    body = {k: v for k, v in ev.items() if k not in ("unsigned", "signatures", "hashes")}
    ev["hashes"] = {"sha256": b64(hashlib.sha256(canonicaljson.encode_canonical_json(body)).digest())}
    signed = signedjson.sign.sign_json(redact(ev), server, key)
    ev["signatures"] = signed["signatures"]
    return ev
