# test_fed_srv.py: server discovery through DNS SRV records (spec
# "Resolving server names", steps 4-5), for real: a small DNS server written
# here answers SRV and A records for made-up names, and the mxdbd processes
# run in a network namespace whose /etc/resolv.conf points at it (`ip netns
# exec` bind-mounts /etc/netns/<ns>/resolv.conf). No --peer entries: A
# (node-a.test) is found through _matrix-fed._tcp (the record of lowest
# priority wins: the other one points at a closed port), B (node-b.test)
# through the deprecated _matrix._tcp after _matrix-fed._tcp was asked
# first; a table replicates both ways. A fake key server found through SRV
# sees the Host header carry the server name, not the SRV target; the SRV
# answer is cached (asked once). Needs root (namespaces): skipped otherwise.
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Node, free_port, q, wait_for  # noqa: E402
from keylib import key_response, signed_request  # noqa: E402

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


class HostRecorder:
    """Answers GET /_matrix/key/v2/server for node-c.test and records the Host headers."""

    def __init__(self, port, key):
        self.hosts = []
        rec = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                rec.hosts.append(self.headers.get("Host"))
                data = __import__("json").dumps(key_response("node-c.test", key)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def inside():
    import signedjson.key
    pa, pb, pc, closed = free_port(), free_port(), free_port(), free_port()
    dns = Dns({
        ("_matrix-fed._tcp.node-a.test", T_SRV): [srv(20, 0, closed, "host-a.test"),
                                                  srv(10, 0, pa, "host-a.test")],
        ("_matrix._tcp.node-b.test", T_SRV): [srv(0, 0, pb, "host-b.test")],
        ("_matrix-fed._tcp.node-c.test", T_SRV): [srv(0, 0, pc, "host-c.test")],
        ("host-a.test", T_A): [a_rec()], ("host-b.test", T_A): [a_rec()],
        ("host-c.test", T_A): [a_rec()],
    })
    kc = signedjson.key.generate_signing_key("c1")
    c = HostRecorder(pc, kc)
    base = tempfile.mkdtemp(prefix="mxdb-srv-")
    a = Node("node-a.test", base, pa, [])
    b = Node("node-b.test", base, pb, [])
    try:
        a.start()
        b.start()
        a.register("alice")
        b.register("bob")
        _, t = a.call("POST", "/_mxdb/v1/tables", {"name": "t", "visibility": "public"})
        room = t["room_id"]
        a.put_row(room, "from-a", {"v": 1})
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
        # Cached within the TTL: B asked for A's records once.
        assert asked.count("_matrix-fed._tcp.node-a.test") == 1, asked

        # node-c.test: B fetches its keys from the SRV target, Host: node-c.test.
        st, _ = signed_request(b.url, "node-c.test", "node-b.test", kc, "GET",
                               "/_matrix/federation/v1/query/profile?user_id=%s" % q("@x:node-b.test"))
        assert st != 401, st
        assert c.hosts and all(h == "node-c.test" for h in c.hosts), c.hosts
    except Exception:
        for n in (a, b):
            try:
                print("---- %s log (tail)" % n.name)
                print(open(n.data + ".log").read()[-3000:])
            except OSError:
                pass
        print("DNS questions:", dns.log)
        raise
    finally:
        a.stop()
        b.stop()
        c.httpd.shutdown()
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
