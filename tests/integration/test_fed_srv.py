# test_fed_srv.py: server discovery through DNS SRV records (spec
# "Resolving server names", steps 4-5), for real: a small DNS server written
# here answers SRV and A records for made-up names, and the mxdbd processes
# run in a network namespace whose /etc/resolv.conf points at it (`ip netns
# exec` bind-mounts /etc/netns/<ns>/resolv.conf). No --peer entries: A
# (node-a.test) is found through _matrix-fed._tcp (the record of lowest
# priority wins: the other one leads to a decoy never asked), B (node-b.test)
# through the deprecated _matrix._tcp after _matrix-fed._tcp was asked
# first; a table replicates both ways. A fake key server found through SRV
# sees the Host header carry the server name, not the SRV target (its first
# record points at a closed port: the next record is tried at once); one
# reached through .well-known delegation and then the delegated name's SRV
# record sees the delegated name; answers are cached (asked once). Needs root (namespaces): skipped otherwise.
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Node, free_port, q, wait_for  # noqa: E402
from keylib import dump_logs, key_response, signed_request, two_nodes_one_table  # noqa: E402

T_A, T_SRV, T_AAAA = 1, 33, 28
NS = "mxdbsrv%d" % os.getpid()


def encode_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"


class Dns:
    """UDP DNS on 127.0.0.1:53: records[(name, qtype)] = [(ttl, rdata)];
    names it does not know get NXDOMAIN. Logs every question."""

    def __init__(self, records):
        self.records, self.log = records, []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            off, labels = 12, []
            while data[off]:
                labels.append(data[off + 1:off + 1 + data[off]].decode().lower())
                off += 1 + data[off]
            qtype, _ = struct.unpack(">HH", data[off + 1:off + 5])
            name = ".".join(labels)
            self.log.append((name, qtype))
            answers = self.records.get((name, qtype), [])
            known = any(n == name for n, _ in self.records)
            flags = 0x8580 | (0 if known else 3)  # QR AA RD RA, NXDOMAIN when unknown
            out = data[:2] + struct.pack(">HHHHH", flags, 1, len(answers), 0, 0) + data[12:off + 5]
            for ttl, rdata in answers:
                out += b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, ttl, len(rdata)) + rdata
            self.sock.sendto(out, peer)


def srv(prio, weight, port, target, ttl=300):
    return (ttl, struct.pack(">HHH", prio, weight, port) + encode_name(target))


def a_rec(ip="127.0.0.1"):
    return (300, socket.inet_aton(ip))


class FakeHome:
    """On 127.0.0.1:port: GET /_matrix/key/v2/server answers the key of
    server_name; GET /.well-known/matrix/server answers wellknown (with
    Cache-Control: max-age=600) when given, else 404. Records (Host, path)."""

    def __init__(self, port, server_name, key, wellknown=None):
        self.seen = []
        home = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                home.seen.append((self.headers.get("Host"), self.path))
                if self.path == "/_matrix/key/v2/server" and key:
                    body, code = key_response(server_name, key), 200
                elif self.path == "/.well-known/matrix/server" and wellknown:
                    body, code = wellknown, 200
                else:
                    body, code = {"errcode": "M_NOT_FOUND", "error": "no"}, 404
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "max-age=600")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def inside():
    import signedjson.key
    pa, pb, pc, pd, pdecoy, closed = (free_port() for _ in range(6))
    dns = Dns({
        # Priority 20 leads to a decoy that must never be asked.
        ("_matrix-fed._tcp.node-a.test", T_SRV): [srv(20, 0, pdecoy, "host-a.test"),
                                                  srv(10, 0, pa, "host-a.test")],
        ("_matrix._tcp.node-b.test", T_SRV): [srv(0, 0, pb, "host-b.test")],
        # The first target of node-c.test is down: the next one is tried.
        ("_matrix-fed._tcp.node-c.test", T_SRV): [srv(0, 0, closed, "host-c.test"),
                                                  srv(5, 0, pc, "host-c.test")],
        # node-d.test delegates (.well-known on port 80) to deleg-d.test,
        # whose SRV record leads to the port of node-d.test's fake server.
        ("node-d.test", T_A): [a_rec()],
        ("_matrix-fed._tcp.deleg-d.test", T_SRV): [srv(0, 0, pd, "host-d.test")],
        ("host-a.test", T_A): [a_rec()], ("host-b.test", T_A): [a_rec()],
        ("host-c.test", T_A): [a_rec()], ("host-d.test", T_A): [a_rec()],
    })
    kc = signedjson.key.generate_signing_key("c1")
    kd = signedjson.key.generate_signing_key("d1")
    c = FakeHome(pc, "node-c.test", kc)
    decoy = FakeHome(pdecoy, "node-a.test", None)
    d = FakeHome(pd, "node-d.test", kd)
    wk = FakeHome(80, None, None, {"m.server": "deleg-d.test"})
    base = tempfile.mkdtemp(prefix="mxdb-srv-")
    a = Node("node-a.test", base, pa, [])
    b = Node("node-b.test", base, pb, [])
    try:
        room = two_nodes_one_table(a, b, "from-a", {"v": 1})
        b.client("POST", "/join/%s" % q("#t:node-a.test"), {})
        assert b.get_row(room, "from-a") == {"v": 1}
        a.put_row(room, "from-a-2", {"v": 2})
        wait_for("A's row on B", lambda: b.get_row(room, "from-a-2") == {"v": 2})
        b.put_row(room, "from-b", {"v": 3})
        wait_for("B's row on A", lambda: a.get_row(room, "from-b") == {"v": 3})

        asked = [n for n, t in dns.log if t == T_SRV]
        assert "_matrix-fed._tcp.node-a.test" in asked, dns.log
        nb = [n for n in asked if n.endswith("node-b.test")]
        assert nb[:2] == ["_matrix-fed._tcp.node-b.test", "_matrix._tcp.node-b.test"], nb
        assert decoy.seen == [], decoy.seen
        # Cached within the TTL: B asked for A's records once.
        assert asked.count("_matrix-fed._tcp.node-a.test") == 1, asked

        # node-c.test: B fetches its keys from the SRV target, Host: node-c.test.
        st, _ = signed_request(b.url, "node-c.test", "node-b.test", kc, "GET",
                               "/_matrix/federation/v1/query/profile?user_id=%s" % q("@x:node-b.test"))
        assert st != 401, st
        assert c.seen and all(h == "node-c.test" for h, _ in c.seen), c.seen

        # node-d.test: .well-known delegation, then the SRV record of the
        # delegated name (spec step 3.3); the Host header is the delegated name.
        def as_d(key):
            return signed_request(b.url, "node-d.test", "node-b.test", key, "GET",
                                  "/_matrix/federation/v1/query/profile?user_id=%s" % q("@x:node-b.test"))[0]

        assert as_d(kd) != 401
        # A key ID node-d.test does not publish: B asks again (after its
        # short refetch pause), over the cached route, and refuses.
        time.sleep(1.2)
        assert as_d(signedjson.key.generate_signing_key("d2")) == 401
        assert [p for _, p in d.seen].count("/_matrix/key/v2/server") == 2, d.seen
        assert d.seen and all(h == "deleg-d.test" for h, _ in d.seen), d.seen
        assert ("node-d.test", "/.well-known/matrix/server") in wk.seen, wk.seen
        # One .well-known fetch, one SRV question: both cached.
        assert [p for _, p in wk.seen].count("/.well-known/matrix/server") == 1, wk.seen
        assert [n for n, t in dns.log if t == T_SRV].count("_matrix-fed._tcp.deleg-d.test") == 1, dns.log
    except Exception:
        dump_logs((a, b))
        print("DNS questions:", dns.log)
        raise
    finally:
        a.stop()
        b.stop()
        for h in (c, d, wk, decoy):
            h.httpd.shutdown()
        shutil.rmtree(base, ignore_errors=True)
    print("test_fed_srv: ok")


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def outside():
    if os.geteuid() != 0:
        print("test_fed_srv: SKIPPED: needs root to create a network namespace (not root here)")
        return 0
    etc = "/etc/netns/" + NS
    try:
        sh("ip", "netns", "add", NS)
        sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
        os.makedirs(etc)
        with open(etc + "/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
    except (subprocess.CalledProcessError, FileNotFoundError, OSError) as e:
        sh("ip", "netns", "del", NS, check=False)
        shutil.rmtree(etc, ignore_errors=True)
        print("test_fed_srv: SKIPPED: cannot set up a network namespace: %s" % (getattr(e, "stderr", "") or e))
        return 0
    try:
        return subprocess.run(["ip", "netns", "exec", NS, sys.executable, os.path.abspath(__file__),
                               "--inside"], timeout=300).returncode
    finally:
        sh("ip", "netns", "del", NS, check=False)
        shutil.rmtree(etc, ignore_errors=True)
        try:
            os.rmdir("/etc/netns")  # only when nothing else lives there
        except OSError:
            pass


if len(sys.argv) > 1 and sys.argv[1] == "--inside":
    inside()
else:
    sys.exit(outside())
