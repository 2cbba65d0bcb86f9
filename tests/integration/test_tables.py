"""test_tables.py: the native table API of a real mxdbd (a free loopback
port, its own data directory): rows and ETags, compare-and-set (and a race
of two writers on one row: exactly one wins per round, the other gets 412),
deletes, history, access rules (members only for private tables, public
tables readable by anyone, writes by power level), CBOR bodies both ways
and the values refused, scan paging across 10,000 rows, the long-poll and
Server-Sent Events forms of the change feed, and a clean shutdown."""
import json
import os
import socket
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tablelib import Checks, Server, q, request, row_path  # noqa: E402

T = Checks("test_tables")
check = T.check


# ---- a little CBOR, enough for the test (RFC 8949, definite lengths) ----
def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError(n)


def cbor_enc(v):
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return cbor_head(0, v) if v >= 0 else cbor_head(1, -1 - v)
    if isinstance(v, str):
        b = v.encode()
        return cbor_head(3, len(b)) + b
    if isinstance(v, list):
        return cbor_head(4, len(v)) + b"".join(cbor_enc(x) for x in v)
    if isinstance(v, dict):
        return cbor_head(5, len(v)) + b"".join(cbor_enc(k) + cbor_enc(x) for k, x in v.items())
    raise TypeError(v)


def cbor_dec(b, i=0):
    ib = b[i]
    major, ai = ib >> 5, ib & 31
    i += 1
    if major == 7:
        return {20: False, 21: True, 22: None}[ai], i
    if ai < 24:
        n = ai
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[ai]
        n = int.from_bytes(b[i:i + size], "big")
        i += size
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major == 3:
        return b[i:i + n].decode(), i + n
    if major == 4:
        out = []
        for _ in range(n):
            x, i = cbor_dec(b, i)
            out.append(x)
        return out, i
    if major == 5:
        out = {}
        for _ in range(n):
            k, i = cbor_dec(b, i)
            out[k], i = cbor_dec(b, i)
        return out, i
    raise ValueError(ib)


def main():
    srv = Server()
    try:
        run(srv)
    finally:
        rc = srv.stop()
        check(rc == 0, "mxdbd exits 0 on SIGTERM (got %s)" % rc)
    return T.done()


def run(srv):
    alice, bob = srv.register("alice"), srv.register("bob")
    carol = srv.register("carol")
    A, B = "@alice:" + srv.name, "@bob:" + srv.name

    st, b, _ = request(srv, "POST", "/_mxdb/v1/tables", alice, {"name": "notes"})
    check(st == 200 and b["room_id"].startswith("!") and b["alias"] == "#notes:" + srv.name, "create: %s %s" % (st, b))
    room = b["room_id"]
    alias = "#notes:" + srv.name
    st, b, _ = request(srv, "POST", "/_mxdb/v1/tables", alice, {"name": "notes"})
    check(st == 400 and b["errcode"] == "M_ROOM_IN_USE", "the alias is taken: %s %s" % (st, b))
    st, b, _ = request(srv, "POST", "/_mxdb/v1/tables", None, {"name": "x"})
    check(st == 401, "create needs a token: %s" % st)
    st, b, _ = request(srv, "GET", "/_mxdb/v1/tables/" + q(alias), alice)
    check(st == 200 and b["room_id"] == room and b["visibility"] == "private" and b["feed"] == srv.feed,
          "table info: %s" % b)

    # ---- rows, ETags, compare-and-set ----
    p = row_path(alias, "com.example.note", "n1")
    st, b, h = request(srv, "PUT", p, alice, {"text": "hello", "n": 1})
    check(st == 200 and b["event_id"].startswith("$") and b["seq"] > 0, "put: %s %s" % (st, b))
    v1 = b["event_id"]
    check(h.get("ETag") == '"%s"' % v1, "put answers the ETag: %s" % h.get("ETag"))
    st, b, h = request(srv, "GET", row_path(room, "com.example.note", "n1"), alice)
    check(st == 200 and b == {"text": "hello", "n": 1} and h.get("ETag") == '"%s"' % v1, "get: %s %s" % (st, b))
    st, b, h = request(srv, "GET", p, alice, headers={"If-None-Match": '"%s"' % v1})
    check(st == 304, "If-None-Match on GET: %s" % st)
    st, b, h = request(srv, "PUT", p, alice, {"text": "v2"}, headers={"If-Match": '"%s"' % v1})
    check(st == 200, "If-Match quoted: %s %s" % (st, b))
    v2 = b["event_id"]
    st, b, h = request(srv, "PUT", p, alice, {"text": "v3"}, headers={"If-Match": v1})
    check(st == 412 and b["errcode"] == "M_CONDITION_FAILED" and b["current"] == v2 and h.get("ETag") == '"%s"' % v2,
          "stale If-Match: %s %s" % (st, b))
    st, b, h = request(srv, "PUT", p, alice, {"text": "v3"}, headers={"If-Match": v2})
    check(st == 200, "If-Match bare: %s %s" % (st, b))
    st, b, _ = request(srv, "PUT", p, alice, {"x": 1}, headers={"If-None-Match": "*"})
    check(st == 412 and b["errcode"] == "M_CONDITION_FAILED", "If-None-Match * on an existing row: %s" % st)
    p2 = row_path(alias, "com.example.note", "n2")
    st, b, _ = request(srv, "PUT", p2, alice, {"x": 1}, headers={"If-Match": "*"})
    check(st == 412 and b.get("current") is None, "If-Match * on a missing row: %s %s" % (st, b))
    st, b, _ = request(srv, "PUT", p2, alice, {"x": 1}, headers={"If-None-Match": "*"})
    check(st == 200, "If-None-Match * creates: %s" % st)
    st, b, _ = request(srv, "PUT", p2, alice, {"x": 2}, headers={"If-Match": "*"})
    check(st == 200, "If-Match * on an existing row: %s" % st)
    st, b, _ = request(srv, "PUT", p2, alice, raw=b"[1,2]", headers={"Content-Type": "application/json"})
    check(st == 400, "a value must be an object: %s" % st)
    st, b, _ = request(srv, "PUT", p2, alice, raw=b'{"f":1.5}', headers={"Content-Type": "application/json"})
    check(st == 400 and b["errcode"] == "M_BAD_JSON", "floats refused: %s %s" % (st, b))

    # ---- delete and history ----
    st, b, _ = request(srv, "DELETE", p2, alice, headers={"If-Match": '"$stale"'})
    check(st == 412, "stale delete: %s" % st)
    st, b, _ = request(srv, "DELETE", p2, alice)
    check(st == 200 and b["seq"] > 0, "delete: %s %s" % (st, b))
    st, b, _ = request(srv, "GET", p2, alice)
    check(st == 404 and b["errcode"] == "M_NOT_FOUND", "deleted row: %s" % st)
    st, b, _ = request(srv, "DELETE", p2, alice)
    check(st == 404, "delete of a missing row: %s" % st)
    st, b, _ = request(srv, "GET", p + "?history=true", alice)
    vs = b.get("versions", []) if st == 200 else []
    check(st == 200 and [v["event_id"] for v in vs][:2] == [v1, v2] and len(vs) == 3, "history: %s %s" % (st, b))
    check([v["winner"] for v in vs] == [False, False, True] and not any(v["lost"] for v in vs),
          "history marks the winner: %s" % vs)
    st, b, _ = request(srv, "GET", p2 + "?history=true", alice)
    check(st == 200 and b["versions"][-1]["deleted"] and b["versions"][-1]["content"] is None,
          "history shows the tombstone: %s" % b)

    # ---- CAS race: two writers, one row, exactly one wins each round ----
    pr = row_path(alias, "com.example.counter", "c")
    request(srv, "PUT", pr, alice, {"n": 0})
    st, _, _ = request(srv, "POST", "/_matrix/client/v3/rooms/%s/invite" % q(room), alice, {"user_id": B})
    check(st == 200, "invite bob: %s" % st)
    st, _, _ = request(srv, "POST", "/_matrix/client/v3/join/%s" % q(room), bob, {})
    check(st == 200, "bob joins: %s" % st)
    rounds, ok_rounds = 25, 0
    for rnd in range(rounds):
        st, cur, h = request(srv, "GET", pr, alice)
        etag = h.get("ETag")
        barrier = threading.Barrier(2)
        results = [None, None]

        def writer(i, tok):
            barrier.wait()
            results[i] = request(srv, "PUT", pr, tok, {"n": cur["n"] + 1, "by": i}, headers={"If-Match": etag})[0]

        ts = [threading.Thread(target=writer, args=(i, t)) for i, t in enumerate((alice, bob))]
        [t.start() for t in ts]
        [t.join() for t in ts]
        ok_rounds += sorted(results) == [200, 412]
    st, cur, _ = request(srv, "GET", pr, alice)
    check(ok_rounds == rounds and cur["n"] == rounds, "CAS race: %d/%d rounds with one winner, n=%s" % (ok_rounds, rounds, cur))

    # ---- access ----
    st, b, _ = request(srv, "POST", "/_mxdb/v1/tables", alice, {"name": "secret"})
    secret = b["room_id"]
    ps = row_path(secret, "com.example.s", "k")
    request(srv, "PUT", ps, alice, {"v": 1})
    for what, method, path, body in (("get", "GET", ps, None), ("scan", "GET", "/_mxdb/v1/tables/%s/rows" % q(secret), None),
                                     ("history", "GET", ps + "?history=true", None), ("put", "PUT", ps, {"v": 2}),
                                     ("delete", "DELETE", ps, None), ("info", "GET", "/_mxdb/v1/tables/" + q(secret), None),
                                     ("changes", "GET", "/_mxdb/v1/changes?room=" + q(secret), None)):
        st, b, _ = request(srv, method, path, carol, body)
        check(st == 403 and b["errcode"] == "M_FORBIDDEN", "non-member %s: %s %s" % (what, st, b))
    st, b, _ = request(srv, "GET", ps, None)
    check(st == 401, "private table without a token: %s" % st)
    st, b, _ = request(srv, "GET", "/_mxdb/v1/changes?since=0&limit=10000", carol)
    check(st == 200 and all(c["room"] != secret and c["room"] != room for c in b["changes"]),
          "all-rooms changes leave out unreadable tables")
    check(st == 200 and b["next"] >= b["head"] - 0 and b["head"] > 0, "all-rooms changes move on: %s" % {k: b[k] for k in ("head", "next")})
    st, b, _ = request(srv, "GET", ps, alice)
    check(st == 200 and b == {"v": 1}, "the member still reads: %s" % st)

    st, b, _ = request(srv, "POST", "/_mxdb/v1/tables", alice, {"name": "open", "visibility": "public"})
    pub = b["room_id"]
    pp = row_path(pub, "com.example.p", "k")
    request(srv, "PUT", pp, alice, {"v": "public"})
    st, b, _ = request(srv, "GET", pp, None)
    check(st == 200 and b == {"v": "public"}, "public table read without a token: %s" % st)
    st, b, _ = request(srv, "GET", pp, carol)
    check(st == 200, "public table read by a non-member: %s" % st)
    st, b, _ = request(srv, "PUT", row_path(pub, "com.example.p", "carol"), carol, {"hi": 1})
    check(st == 200, "a public table's writer joins on the first write: %s %s" % (st, b))

    st, b, _ = request(srv, "POST", "/_mxdb/v1/tables", alice, {"name": "restricted", "writers": {B: 50}})
    check(st == 200, "create with listed writers: %s %s" % (st, b))
    rr = b["room_id"]
    st, b, _ = request(srv, "PUT", row_path(rr, "com.example.r", "k"), bob, {"by": "bob"})
    check(st == 200, "a listed (invited) writer writes: %s %s" % (st, b))
    st, b, _ = request(srv, "PUT", row_path(rr, "com.example.r", "k"), carol, {"by": "carol"})
    check(st == 403, "an unlisted user cannot: %s %s" % (st, b))
    for typ in ("m.room.power_levels", "m.room.join_rules", "m.room.history_visibility"):
        st, b, _ = request(srv, "PUT", row_path(room, typ, ""), bob, {"users": {B: 100}, "join_rule": "public"})
        check(st == 403, "a member cannot rewrite the table's %s: %s" % (typ, st))
    st, b, _ = request(srv, "PUT", row_path(room, "com.example.note", "by-bob"), bob, {"ok": 1})
    check(st == 200, "a member writes rows: %s" % st)

    # ---- CBOR ----
    value = {"name": "Zoë ✓", "tags": ["a", "b"], "n": -9007199254740991, "big": 9007199254740991,
             "nested": {"ok": True, "no": False, "nil": None}}
    pc = row_path(room, "com.example.cbor", "k")
    st, b, _ = request(srv, "PUT", pc, alice, raw=cbor_enc(value), headers={"Content-Type": "application/cbor"})
    check(st == 200, "CBOR put: %s %s" % (st, b))
    st, b, h = request(srv, "GET", pc, alice, headers={"Accept": "application/cbor"})
    check(st == 200 and h.get("Content-Type") == "application/cbor" and cbor_dec(b)[0] == value,
          "CBOR get round trip: %s" % (cbor_dec(b)[0] if st == 200 else b))
    st, b, _ = request(srv, "GET", pc, alice)
    check(st == 200 and b == value, "the CBOR value read as JSON: %s" % b)
    for what, blob in (("float", b"\xa1\x61f\xfb\x3f\xf1\x99\x99\x99\x99\x99\x9a"), ("bytes", b"\xa1\x61b\x42\x01\x02"),
                       ("tag", b"\xa1\x61t\xc1\x1a\x51\x4b\x67\xb0"), ("undefined", b"\xa1\x61u\xf7"),
                       ("int key", b"\xa1\x01\x02"), ("2^53", b"\xa1\x61i\x1b\x00\x20\x00\x00\x00\x00\x00\x00")):
        st, b, _ = request(srv, "PUT", pc, alice, raw=blob, headers={"Content-Type": "application/cbor"})
        check(st == 400 and b["errcode"] == "M_BAD_JSON" and b["error"], "CBOR %s refused: %s %s" % (what, st, b))
    st, b, _ = request(srv, "PUT", pc, alice, raw=b"\xa2\x61", headers={"Content-Type": "application/cbor"})
    check(st == 400 and b["errcode"] == "M_NOT_JSON", "broken CBOR: %s %s" % (st, b))
    st, b, h = request(srv, "GET", "/_mxdb/v1/changes?since=0&limit=3&room=" + q(room), alice,
                       headers={"Accept": "application/cbor"})
    doc = cbor_dec(b)[0] if st == 200 else {}
    check(len(doc.get("changes", [])) == 3 and doc["changes"][0]["room_seq"] == 1, "changes as CBOR: %s" % doc)

    # ---- scan paging across 10,000 rows ----
    st, b, _ = request(srv, "POST", "/_mxdb/v1/tables", alice, {"name": "big"})
    big = b["room_id"]
    N = 10000

    def put(i):
        return request(srv, "PUT", row_path(big, "com.example.item", "k%05d" % i), alice, {"i": i})[0]

    t0 = time.time()
    with ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(put, range(N)))
    check(codes.count(200) == N, "10,000 puts: %s" % {c: codes.count(c) for c in set(codes)})
    print("10,000 PUTs with 16 clients: %.0f rows/s" % (N / (time.time() - t0)))
    keys, frm, pages = [], None, 0
    while pages < 100:
        path = "/_mxdb/v1/tables/%s/rows?type=com.example.item&limit=700" % q(big) + ("&from=" + q(frm) if frm else "")
        st, b, _ = request(srv, "GET", path, alice)
        if st != 200:
            check(False, "scan page: %s %s" % (st, b))
            break
        keys += [r["key"] for r in b["rows"]]
        pages += 1
        frm = b.get("next")
        if not frm:
            break
    check(keys == ["k%05d" % i for i in range(N)], "scan: %d keys in %d pages, in order, each once" % (len(keys), pages))
    check(pages == (N + 699) // 700, "page count %d" % pages)
    st, b, _ = request(srv, "GET", "/_mxdb/v1/tables/%s/rows?type=com.example.item&prefix=k0999&limit=1000" % q(big), alice)
    check(st == 200 and [r["key"] for r in b["rows"]] == ["k0999%d" % i for i in range(10)] and "next" not in b,
          "scan with a prefix: %s" % (b if st != 200 else len(b["rows"])))
    st, b, _ = request(srv, "GET", "/_mxdb/v1/tables/%s/rows?limit=0" % q(big), alice)
    check(st == 400, "limit 0 refused: %s" % st)

    # ---- long-poll ----
    st, b, _ = request(srv, "GET", "/_mxdb/v1/changes?limit=0", alice)
    head = b["head"]
    got = {}

    def poll():
        t = time.time()
        got["r"] = request(srv, "GET", "/_mxdb/v1/changes?since=%d&timeout=10000" % head, alice, timeout=20)
        got["t"] = time.time() - t

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.4)
    request(srv, "PUT", row_path(room, "com.example.note", "poll"), alice, {"woke": True})
    th.join()
    st, b, _ = got["r"]
    check(st == 200 and len(b["changes"]) == 1 and b["changes"][0]["key"] == "poll" and b["changes"][0]["seq"] == head + 1,
          "long-poll answers the new change: %s" % b)
    check(0.3 < got["t"] < 5, "long-poll waited for it: %.2f s" % got["t"])
    t = time.time()
    st, b, _ = request(srv, "GET", "/_mxdb/v1/changes?since=%d&timeout=500" % (head + 1), alice)
    check(st == 200 and b["changes"] == [] and 0.4 < time.time() - t < 5, "long-poll times out empty")

    # ---- Server-Sent Events, resumed with Last-Event-ID ----
    events = sse_read(srv, alice, "/_mxdb/v1/changes?feed=eventsource&since=%d" % (head - 3), None, 4)
    check([e["id"] for e in events] == [str(head - 2), str(head - 1), str(head), str(head + 1)] and
          json.loads(events[-1]["data"])["key"] == "poll", "SSE from since: %s" % [e["id"] for e in events])
    events = sse_read(srv, alice, "/_mxdb/v1/changes?feed=eventsource&room=%s" % q(alias), str(head), 1)
    check([e["id"] for e in events] == [str(head + 1)], "SSE resumes after Last-Event-ID: %s" % events)
    st, b, _ = request(srv, "GET", "/_mxdb/v1/changes?feed=eventsource&room=" + q(secret), carol)
    check(st == 403, "SSE of a private table to a non-member: %s" % st)
    events = sse_read(srv, None, "/_mxdb/v1/changes?feed=eventsource&since=0&room=%s&access_token=%s" % (q(secret), alice),
                      None, 1)
    check(len(events) == 1 and json.loads(events[0]["data"])["room"] == secret,
          "SSE with the token in the query (what EventSource can do): %s" % events)
    live = {}
    th = threading.Thread(target=lambda: live.setdefault("e", sse_read(srv, alice, "/_mxdb/v1/changes?feed=eventsource", None, 1)))
    th.start()
    time.sleep(0.5)
    st, b, _ = request(srv, "PUT", row_path(room, "com.example.note", "sse"), alice, {"live": 1})
    th.join()
    ev = live.get("e", [])
    check(len(ev) == 1 and ev[0]["id"] == str(b["seq"]) and json.loads(ev[0]["data"])["content"] == {"live": 1},
          "SSE streams a live change: %s" % ev)


def sse_read(srv, token, path, last_id, n, timeout=10):
    """Reads n events from an event stream (raw socket: chunked HTTP)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    hdr = "GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" % path
    if token:
        hdr += "Authorization: Bearer %s\r\n" % token
    if last_id:
        hdr += "Last-Event-ID: %s\r\n" % last_id
    s.sendall((hdr + "\r\n").encode())
    buf, events, deadline = b"", [], time.time() + timeout
    while len(events) < n and time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        text = buf.decode(errors="replace")
        events = []
        for block in text.split("\n\n"):
            fields = {}
            for line in block.splitlines():
                if line.startswith("id: "):
                    fields["id"] = line[4:]
                elif line.startswith("data: "):
                    fields["data"] = line[6:]
            if "id" in fields and "data" in fields:
                events.append(fields)
    s.close()
    return events[:n]


if __name__ == "__main__":
    sys.exit(main())
