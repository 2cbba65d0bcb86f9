# test_fed_partition.py: a real network partition. Three mxdbd, each in its
# own network namespace, joined pairwise by veth links (A-B, A-C, B-C). The
# A-B link is cut; A and B write the same row and a row of their own each, C
# writes one; the link comes back. Every node must then return the same
# winner for every row, no non-conflicting write may be lost (B's rows reach
# A through C and get_missing_events while the link is down), and the feeds
# must show the changed winners with cause "merge".
# Needs root (namespaces); without it the test says why and passes.
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import BIN, q, wait_for  # noqa: E402

TYPE = "com.example.todo"
TAG = "mxf%d" % (os.getpid() % 10000)
NODES = ["a", "b", "c"]
LINKS = {("a", "b"): "10.231.12", ("a", "c"): "10.231.13", ("b", "c"): "10.231.23"}


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def ns(n):
    return "%s_%s" % (TAG, n)


def dev(x, y):
    return "%s%s%s" % (TAG, x, y)


def addr(x, y):
    """x's address on the x-y link."""
    key = (x, y) if (x, y) in LINKS else (y, x)
    return "%s.%d" % (LINKS[key], 1 if x == key[0] else 2)


def setup():
    for n in NODES:
        sh("ip", "netns", "add", ns(n))
        sh("ip", "netns", "exec", ns(n), "ip", "link", "set", "lo", "up")
    for (x, y) in LINKS:
        sh("ip", "link", "add", dev(x, y), "netns", ns(x), "type", "veth", "peer", "name", dev(y, x),
           "netns", ns(y))
        for me, other in ((x, y), (y, x)):
            sh("ip", "netns", "exec", ns(me), "ip", "addr", "add", addr(me, other) + "/24", "dev", dev(me, other))
            sh("ip", "netns", "exec", ns(me), "ip", "link", "set", dev(me, other), "up")


def teardown():
    for n in NODES:
        sh("ip", "netns", "del", ns(n), check=False)  # takes its veth ends along


def link(x, y, up):
    for me, other in ((x, y), (y, x)):
        sh("ip", "netns", "exec", ns(me), "ip", "link", "set", dev(me, other), "up" if up else "down")


class NsNode:
    def __init__(self, n, base):
        self.n, self.name = n, "%s.test" % n
        self.data = os.path.join(base, n)
        self.proc, self.token = None, None

    def start(self):
        peers = []
        for o in NODES:
            if o != self.n:
                peers += ["--peer", "%s.test=%s:8448" % (o, addr(o, self.n))]
        self.log = open(self.data + ".log", "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns(self.n), os.path.join(BIN, "mxdbd"), "--listen", "0.0.0.0:8448",
             "--server-name", self.name, "--data", self.data, "--feed", "ipc://%s.feed" % self.data,
             "--password-hash", "fast", "--federation-plain-http", "--log-level", "warn"] + peers,
            stdout=self.log, stderr=self.log)
        wait_for("%s up" % self.name, lambda: self.curl("GET", "/_matrix/federation/v1/version")[0] == 200)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def curl(self, method, path, body=None):
        args = ["ip", "netns", "exec", ns(self.n), "curl", "-s", "-m", "30", "-o", "-", "-w", "\n%{http_code}",
                "-X", method, "http://127.0.0.1:8448" + path]
        if self.token:
            args += ["-H", "Authorization: Bearer " + self.token]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        r = sh(*args, check=False)
        text, _, code = r.stdout.rpartition("\n")
        try:
            return int(code or 0), (json.loads(text) if text else None)
        except ValueError:
            return int(code or 0), None

    def ok(self, method, path, body=None):
        st, out = self.curl(method, path, body)
        assert st == 200, (self.name, method, path, st, out)
        return out

    def row(self, room, key):
        st, out = self.curl("GET", "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(room), TYPE, key))
        return out if st == 200 else None

    def put(self, room, key, value):
        return self.ok("PUT", "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(room), TYPE, key), value)["event_id"]

    def changes(self, room):
        return self.ok("GET", "/_mxdb/v1/changes?since=0&limit=10000&room=%s" % q(room))["changes"]

    def version(self, room, key):
        v = None
        for c in self.changes(room):
            if c["type"] == TYPE and c["key"] == key:
                v = c["event"]
        return v


def main():
    if os.geteuid() != 0:
        print("test_fed_partition: SKIPPED: needs root to create network namespaces (not root here)")
        return
    try:
        setup()
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        teardown()
        print("test_fed_partition: SKIPPED: cannot create namespaces and veth links: %s" %
              (getattr(e, "stderr", "") or e))
        return
    base = tempfile.mkdtemp(prefix="mxdb-part-")
    nodes = [NsNode(n, base) for n in NODES]
    failed = True
    try:
        for n in nodes:
            n.start()
        a, b, c = nodes
        for n, u in zip(nodes, ("alice", "bob", "carol")):
            n.token = n.ok("POST", "/_matrix/client/v3/register",
                           {"username": u, "password": "pw", "auth": {"type": "m.login.dummy"}})["access_token"]
        room = a.ok("POST", "/_mxdb/v1/tables", {"name": "t", "visibility": "public"})["room_id"]
        for n in (b, c):
            assert n.ok("POST", "/_matrix/client/v3/join/%s" % q("#t:a.test"), {})["room_id"] == room
        a.put(room, "base", {"v": 0})
        for n in nodes:
            wait_for("base on " + n.name, lambda n=n: n.row(room, "base"))

        link("a", "b", False)
        a.put(room, "same", {"by": "a"})
        b.put(room, "same", {"by": "b"})
        a.put(room, "only-a", {"v": "a"})
        b.put(room, "only-b", {"v": "b"})
        time.sleep(1.0)  # let C hear from both sides while A-B is cut
        c.put(room, "only-c", {"v": "c"})
        time.sleep(1.0)
        link("a", "b", True)

        keys = ["base", "same", "only-a", "only-b", "only-c"]

        def converged():
            for k in keys:
                vs = {n.version(room, k) for n in nodes}
                if None in vs or len(vs) != 1:
                    return False
            return True
        wait_for("all rows converge on all nodes", converged, timeout=120)
        for k, want in (("only-a", {"v": "a"}), ("only-b", {"v": "b"}), ("only-c", {"v": "c"})):
            for n in nodes:
                assert n.row(room, k) == want, (n.name, k, n.row(room, k))
        winner = a.row(room, "same")
        assert winner in ({"by": "a"}, {"by": "b"}) and all(n.row(room, "same") == winner for n in nodes)
        # The side whose own write lost saw its winner change: a merge record.
        loser = a if winner == {"by": "b"} else b
        causes = [x["cause"] for x in loser.changes(room) if x["key"] == "same"]
        assert causes[0] == "local" and "merge" in causes[1:], (loser.name, causes)
        print("test_fed_partition: winner %s; %s's feed: %s" % (winner, loser.name, causes))
        failed = False
    finally:
        for n in nodes:
            n.stop()
        if failed:
            for n in nodes:
                try:
                    print("---- %s" % n.name, open(n.data + ".log").read()[-2000:])
                except OSError:
                    pass
        teardown()
        shutil.rmtree(base, ignore_errors=True)
    print("test_fed_partition: ok")


main()
