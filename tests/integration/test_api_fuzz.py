# test_api_fuzz.py: a bounded fuzzer of the client API and the native
# table API against a real mxdbd (ASan/UBSan under `make test`): junk JSON
# bodies (invalid UTF-8, NUL, huge numbers, floats, nesting 10,000 deep,
# 2 MB), malformed CBOR bodies, junk path segments (percent-encoding errors,
# overlong IDs), bad tokens, filters, `since` tokens, If-Match headers and
# query parameters, sent to every route. A fixed seed and a fixed number of
# cases. After each batch: the daemon is alive, every reply is JSON, an
# error is a 4xx with an errcode (never a 5xx, never a dropped connection),
# and a guard table nobody writes to is unchanged; rows of the fuzzed table
# change only by writes that were answered 200. At the end: a clean SIGTERM
# stop, no sanitizer report in the log, SQLite integrity_check ok.
import json
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, q, table_rows  # noqa: E402
from fuzzlib import check_reply, final_checks, nested, raw, stats  # noqa: E402

SEED = int(os.environ.get("MXDB_FUZZ_SEED", "4242"))  # fixed unless exploring
SCALE = int(os.environ.get("MXDB_FUZZ_SCALE", "1"))  # cases x SCALE when exploring
TYPE = "com.example.todo"
CS = "/_matrix/client/v3"
TB = "/_mxdb/v1"

rng = random.Random(SEED)

BIG = 2 * 1024 * 1024
JSON_BODIES = [
    b"", b"null", b"[]", b'"s"', b"{", b"}", b"{}x", b"\xef\xbb\xbf{}", b'{"v":"\xff\xfe"}',
    b'{"v":"\xc0\xaf"}', b'{"v":"\xed\xa0\x80"}', b'{"v":"a\x00b"}', b'{"v":"\\u0000"}',
    b'{"v":"\\ud800"}', b'{"\\u0000":1}', b'{"v":1e400}', b'{"v":-1e400}', b'{"v":1.5}', b'{"v":-0}',
    b'{"v":123456789012345678901234567890}', b'{"v":9007199254740992}', b'{"v":-9223372036854775809}',
    b'{"v":NaN}', b'{"v":Infinity}', b'{"a":1,"a":2}', b'{"v":' + b"[" * 10000 + b"]" * 10000 + b"}",
    b'{"v":' + b'{"a":' * 10000 + b"1" + b"}" * 10000 + b"}", b"[" * 10000,
    b'{"v":"' + b"x" * BIG + b'"}', b'{"k":"' + b"\xff" * 1000 + b'"}', b"\x00\x00\x00",
    b'{"v":' + b"9" * 5000 + b"}", json.dumps({"v": nested(100)}).encode(),
    json.dumps({"k%d" % i: i for i in range(20000)}).encode(),
]
CBOR_BODIES = [
    b"", b"\xff", b"\xa1", b"\xbf", b"\xbf\x61a", b"\x9f" * 10000, b"\x81" * 10000, b"\xa1\x61a" * 5000,
    b"\xa1\x61v\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00", b"\xa1\x01\x02", b"\xa1\x61v\xc2\x49" + b"\x01" * 9,
    b"\x7b\xff\xff\xff\xff\xff\xff\xff\xff", b"\xa1\x61v\x7b\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", b"\xbb\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\xa1\x61v\x62\xff\xfe", b"\xa2\x61a\x01\x61a\x02", b"\xa1\x61v\xf9\x7c\x00", b"\xa1\x61v\xf7",
    b"\xa1\x61v\x1b\xff\xff\xff\xff\xff\xff\xff\xff", b"\xa1\x61v\x3b\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\xa1\x61v\xd9\xd9\xf7\x01", b"\xa1\x61v\x5f\x41a\xff", b"\xa1\x61v\x7f\x61a\x41b\xff",
    b"\xa1\x61v\x7f\x61a", b"\x1c", b"\xa1\x61v\xf8\x18", b"\xa0\xa0", b"\xa1\x60\xa0",
    # heads declaring 2^28..2^31 items in five bytes (libcbor once allocated for them)
    b"\x9a\x10\x00\x00\x00", b"\xba\x10\x00\x00\x00", b"\x9a\x7f\x00\x00\x00",
]
SEGMENTS = ["%", "%z", "%zz", "%00", "%ff", "%c0%af", "x" * 5000, "!" + "r" * 300 + ":a.test", "", "%2F",
            "..", "#nope:a.test", "!nope:a.test", "$nope", "@nope:a.test", "%20", "a%00b"]
TOKENS = ["", "Bearer", "Bearer ", "Bearer x", "Bearer " + "a" * 10000, "Basic eDp5", "bearer x",
          "Bearer \x01\x02", "Bearer a b", "X-Matrix origin=x"]
SINCE = ["", "s", "s-1", "-1", "99999999999999999999999", "%ff", "s1_2_3_4_5", "abc", "0", "1.5",
         "s99999999999", "%00", "x" * 3000, "s_", "_", "1e5"]
LIMITS = ["-1", "0", "abc", "99999999999999999999", "1.5", "", "%00", "-9223372036854775808", "1e9"]
IF_MATCH = ['"$x"', "*", "", 'W/"x"', '"' * 1000, '"', '""', "$" + "x" * 5000, '"$a", "$b"', "\x7f"]


def send_raw(port, data, wait=2.0):
    """Bytes on a fresh connection; whatever comes back within wait (or a
    reset: broken HTTP may be cut off)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    out, t0 = b"", time.time()
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while time.time() - t0 < wait:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except (OSError, socket.timeout):
        pass
    finally:
        s.close()
    return out


def main():
    with Cluster(["a.test"]) as cl:
        a = cl.nodes[0]
        a.register("alice")
        tok = a.token
        me = a.user
        _, t = a.call("POST", TB + "/tables", {"name": "t", "visibility": "public"})
        room = t["room_id"]
        _, g = a.call("POST", TB + "/tables", {"name": "guard", "visibility": "private"})
        guard = g["room_id"]
        for i in range(5):
            a.put_row(room, "r%d" % i, {"v": i})
            a.put_row(guard, "g%d" % i, {"v": i})
        guard_rows = table_rows(a, guard)
        written = set()

        def req(method, path, body=None, token=True, ctype="application/json", headers=None):
            h = {}
            if body is not None and ctype:
                h["Content-Type"] = ctype
            if token is True:
                h["Authorization"] = "Bearer " + tok
            elif token is not None:
                h["Authorization"] = token
            h.update(headers or {})
            st, out = raw(a, method, path, body, h)
            check_reply("%s %s" % (method, path[:100]), st, out)
            if st == 200 and isinstance(out, dict) and "event_id" in out:
                written.add(out["event_id"])
            # A profile or membership change answered 200 rewrites member rows.
            if st == 200 and method in ("PUT", "POST") and any(
                    w in path for w in ("/profile/", "/join", "/leave", "/invite", "/kick", "/ban", "/knock")):
                written.add("member")
            return st, out

        before = table_rows(a, room)

        def after_batch(what):
            nonlocal before
            st, out = raw(a, "GET", "/_matrix/client/versions")
            assert st == 200 and "versions" in out, (what, st, out)
            assert table_rows(a, guard) == guard_rows, what
            now = table_rows(a, room)
            for k, (content, eid) in now.items():
                if before.get(k) != (content, eid):
                    assert eid in written or (k[0] == "m.room.member" and "member" in written), "%s changed row %s to %s by %s (not answered 200)" % (what, k, content, eid)
            before = now

        # ---- batch 1: junk bodies into every writing route (JSON and CBOR)
        writers = [
            ("PUT", TB + "/tables/%s/rows/%s/fz" % (q(room), TYPE)),
            ("PUT", CS + "/rooms/%s/state/%s/fz" % (q(room), TYPE)),
            ("PUT", CS + "/rooms/%s/send/m.room.message/fz%%d" % q(room)),
            ("POST", TB + "/tables"), ("POST", CS + "/createRoom"), ("POST", CS + "/register"),
            ("POST", CS + "/login"), ("POST", CS + "/user/%s/filter" % q(me)),
            ("PUT", CS + "/user/%s/account_data/x.y" % q(me)), ("PUT", CS + "/profile/%s/displayname" % q(me)),
            ("POST", CS + "/keys/upload"), ("POST", CS + "/keys/query"), ("POST", CS + "/keys/claim"),
            ("PUT", CS + "/rooms/%s/typing/%s" % (q(room), q(me))), ("POST", CS + "/rooms/%s/read_markers" % q(room)),
            ("POST", CS + "/rooms/%s/receipt/m.read/%s" % (q(room), q("$x"))), ("POST", CS + "/rooms/%s/invite" % q(room)),
            ("POST", CS + "/rooms/%s/kick" % q(room)), ("PUT", CS + "/directory/room/%s" % q("#fz:a.test")),
            ("PUT", CS + "/directory/list/room/%s" % q(room)), ("PUT", CS + "/presence/%s/status" % q(me)),
            ("PUT", CS + "/devices/X"), ("POST", CS + "/user_directory/search"), ("POST", CS + "/publicRooms"),
            ("PUT", CS + "/sendToDevice/m.x/fz%d"), ("POST", CS + "/account/password"),
            ("PUT", CS + "/rooms/%s/redact/%s/fz%%d" % (q(room), q("$nope"))), ("POST", CS + "/join/%s" % q(room)),
            ("POST", CS + "/knock/%s" % q(room)),
        ]
        for i, (m, p) in enumerate(writers):
            p = p.replace("%d", str(i)) if "%d" in p else p
            for body in rng.sample(JSON_BODIES, 12) + [JSON_BODIES[0], JSON_BODIES[-6]]:
                req(m, p, body)
            if p.startswith(TB):
                for body in CBOR_BODIES:
                    t0 = time.time()
                    req(m, p, body, ctype="application/cbor")
                    # a hang detector, far above a normal answer (ms)
                    assert time.time() - t0 < 10, (body[:10], time.time() - t0)
            req(m, p, b"{}", ctype="text/plain")
            req(m, p, b"\xa0", ctype="application/cbor; charset=x")
        after_batch("batch 1")

        # ---- batch 2: junk path segments for every route family
        paths = [
            ("GET", TB + "/tables/{s}"), ("GET", TB + "/tables/{s}/rows"), ("GET", TB + "/tables/{s}/rows/{s}/{s}"),
            ("PUT", TB + "/tables/{s}/rows/{s}/{s}"), ("DELETE", TB + "/tables/{s}/rows/{s}/{s}"),
            ("GET", TB + "/tables/%s/rows/{s}/{s}" % q(room)), ("PUT", TB + "/tables/%s/rows/{s}/{s}" % q(room)),
            ("GET", CS + "/rooms/{s}/state"), ("GET", CS + "/rooms/{s}/state/{s}/{s}"),
            ("PUT", CS + "/rooms/{s}/state/{s}/{s}"), ("PUT", CS + "/rooms/%s/state/{s}/{s}" % q(room)),
            ("PUT", CS + "/rooms/{s}/send/{s}/{s}"), ("GET", CS + "/rooms/{s}/messages"),
            ("GET", CS + "/rooms/{s}/members"), ("GET", CS + "/rooms/{s}/joined_members"),
            ("GET", CS + "/rooms/{s}/event/{s}"), ("GET", CS + "/rooms/%s/event/{s}" % q(room)),
            ("GET", CS + "/rooms/{s}/context/{s}"), ("PUT", CS + "/rooms/{s}/redact/{s}/{s}"),
            ("POST", CS + "/rooms/{s}/join"), ("POST", CS + "/rooms/{s}/leave"), ("POST", CS + "/rooms/{s}/forget"),
            ("POST", CS + "/join/{s}"), ("POST", CS + "/knock/{s}"), ("PUT", CS + "/rooms/{s}/typing/{s}"),
            ("POST", CS + "/rooms/{s}/receipt/{s}/{s}"), ("GET", CS + "/directory/room/{s}"),
            ("DELETE", CS + "/directory/room/{s}"), ("GET", CS + "/directory/list/room/{s}"),
            ("GET", CS + "/profile/{s}"), ("GET", CS + "/profile/{s}/{s}"), ("GET", CS + "/presence/{s}/status"),
            ("GET", CS + "/user/{s}/filter/{s}"), ("GET", CS + "/user/%s/filter/{s}" % q(me)),
            ("GET", CS + "/user/{s}/account_data/{s}"), ("GET", CS + "/user/{s}/rooms/{s}/account_data/{s}"),
            ("PUT", CS + "/user/{s}/rooms/{s}/account_data/{s}"), ("GET", CS + "/devices/{s}"),
            ("DELETE", CS + "/devices/{s}"), ("PUT", CS + "/sendToDevice/{s}/{s}"), ("GET", CS + "/{s}"),
            ("GET", TB + "/{s}"), ("GET", "/_matrix/{s}"), ("GET", "/{s}"), ("GET", CS + "/rooms/{s}/{s}"),
        ]
        for m, p in paths:
            for s in rng.sample(SEGMENTS, 6) + ["%", "%ff"]:
                body = b'{"v":1}' if m in ("PUT", "POST") else None
                req(m, p.replace("{s}", s), body)
        after_batch("batch 2")

        # ---- batch 3: tokens
        for tk in TOKENS:
            for m, p in (("GET", CS + "/account/whoami"), ("GET", CS + "/sync?timeout=0"),
                         ("PUT", TB + "/tables/%s/rows/%s/tk" % (q(room), TYPE)),
                         ("GET", TB + "/tables/%s/rows" % q(guard))):
                st, out = req(m, p, b'{"v":1}' if m == "PUT" else None, token=tk)
                assert st == 401 or (st == 403 and "guard" not in p and q(guard) in p), (tk[:40], p, st, out)
        st, out = req("GET", CS + "/account/whoami", token=b"Bearer \xff\xfe")
        assert st == 401, (st, out)
        # libmicrohttpd ends a header value at NUL: the token before it counts.
        st, out = req("GET", CS + "/account/whoami", token=b"Bearer " + tok.encode() + b"\x00junk")
        assert st in (200, 401), (st, out)
        for qs in ("access_token=", "access_token=%ff", "access_token=" + "x" * 5000, "access_token=%00"):
            st, out = req("GET", CS + "/account/whoami?" + qs, token=None)
            assert st == 401, (qs, st, out)
        after_batch("batch 3")

        # ---- batch 4: filters, since tokens, query parameters
        filters = ["x", "%ff", "{", "[]", "99999999999999999999", "-1", q('{"room":{"timeline":{"limit":-1}}}'),
                   q('{"room":{"timeline":{"limit":"x"}}}'), q('{"room":{"rooms":[1,2]}}'),
                   q('{"event_fields":[1]}'), q(json.dumps(nested(200))), q('{"room":{"state":{"types":"x"}}}'),
                   q('{"room":{"timeline":{"limit":99999999999999}}}'), q('{"presence":{"not_types":[null]}}')]
        for f in filters:
            req("GET", CS + "/sync?timeout=0&filter=" + f)
            req("GET", CS + "/rooms/%s/messages?dir=b&filter=%s" % (q(room), f))
            req("POST", CS + "/user/%s/filter" % q(me), json.dumps(
                {"room": {"timeline": {"limit": rng.choice([-1, "x", None, 2 ** 70, [], {}])}}}).encode())
        for s in SINCE:
            req("GET", CS + "/sync?timeout=0&since=" + s)
            req("GET", CS + "/rooms/%s/messages?dir=b&from=%s" % (q(room), s))
            req("GET", CS + "/rooms/%s/messages?dir=f&from=%s&to=%s" % (q(room), s, s))
            req("GET", TB + "/changes?since=%s&timeout=0" % s)
            req("GET", TB + "/changes?since=0&timeout=0&room=" + s)
            req("GET", TB + "/tables/%s/rows?from=%s" % (q(room), s))
            req("GET", CS + "/keys/changes?from=%s&to=%s" % (s, s))
            req("GET", CS + "/publicRooms?since=%s&limit=%s" % (s, rng.choice(LIMITS)))
        for lim in LIMITS:
            req("GET", CS + "/rooms/%s/messages?dir=b&limit=%s" % (q(room), lim))
            req("GET", CS + "/rooms/%s/context/%s?limit=%s" % (q(room), q("$nope"), lim))
            req("GET", TB + "/tables/%s/rows?limit=%s&type=%s&prefix=%s" % (q(room), lim, rng.choice(SEGMENTS[:6]),
                                                                            rng.choice(SEGMENTS[:6])))
            req("GET", TB + "/changes?since=0&limit=%s&timeout=0" % lim)
            req("GET", TB + "/changes?since=0&timeout=%s&limit=1" % rng.choice(["-1", "abc", "-99999999999"]))
            req("GET", CS + "/sync?timeout=%s&full_state=%s&set_presence=%s" % (
                rng.choice(["-1", "abc", "0"]), rng.choice(SEGMENTS[:5]), rng.choice(SEGMENTS[:5])))
        for d in ("x", "", "%ff", "bb", "B"):
            req("GET", CS + "/rooms/%s/messages?dir=%s" % (q(room), d))
        after_batch("batch 4")

        # ---- batch 5: If-Match on writes and deletes
        st, out = req("GET", TB + "/tables/%s/rows/%s/r0" % (q(room), TYPE))
        assert st == 200, out
        for im in IF_MATCH:
            for m in ("PUT", "DELETE"):
                st, out = req(m, TB + "/tables/%s/rows/%s/r1" % (q(room), TYPE),
                              b'{"v":99}' if m == "PUT" else None, headers={"If-Match": im})
                assert st in (400, 412) or (st == 200 and im == "*"), (im[:40], m, st, out)
        for bim in (b'"\xff\xfe"', b'"$\x00"'):
            st, out = req("PUT", TB + "/tables/%s/rows/%s/r1" % (q(room), TYPE), b'{"v":98}',
                          headers={"If-Match": bim})
            assert st in (400, 412), (bim, st, out)
        after_batch("batch 5")

        # ---- batch 6: random mixes of all of the above
        every = [p for _, p in writers] + [p.replace("{s}", "x") for _, p in paths]
        for i in range(150 * SCALE):
            m = rng.choice(["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "HEAD"])
            p = rng.choice(every).replace("%d", str(i))
            if rng.random() < 0.5:
                p += "?" + "&".join("%s=%s" % (rng.choice(["limit", "since", "from", "dir", "filter", "x", "%ff", ""]),
                                               rng.choice(SINCE + LIMITS)) for _ in range(rng.randrange(1, 4)))
            body = rng.choice(JSON_BODIES[:-6] + CBOR_BODIES[:8] + [None])
            ct = rng.choice(["application/json", "application/cbor", None, "x/y"])
            if m == "HEAD":
                continue  # no body comes back to check
            req(m, p, body, ctype=ct)
        after_batch("batch 6")

        # ---- batch 7: well-formed JSON with junk meanings (auth-relevant state,
        # room creation options), the kind that reaches the auth rules
        vals = [None, True, -1, 0, 2 ** 53 - 1, -(2 ** 53 - 1), "x", "50", "", [], [1], {}, {"a": "b"},
                nested(30), "\U0010ffff" * 10]

        def jv():
            return rng.choice(vals)
        special = {
            "m.room.power_levels": lambda: {k: jv() for k in rng.sample(
                ["users", "events", "users_default", "events_default", "state_default", "ban", "kick",
                 "redact", "invite", "notifications"], 4)} | {"users": {me: 100, "@x:y": jv()}},
            "m.room.join_rules": lambda: {"join_rule": jv(), "allow": rng.choice([jv(), [jv(), {"type": jv(), "room_id": jv()}]])},
            "m.room.member": lambda: {"membership": rng.choice([jv(), "join", "ban", "knock", "invite"]),
                                      "join_authorised_via_users_server": jv()},
            "m.room.create": lambda: {"room_version": jv(), "creator": jv(), "additional_creators": jv()},
            "m.room.history_visibility": lambda: {"history_visibility": jv()},
            "m.room.redaction": lambda: {"redacts": jv()},
            "m.room.canonical_alias": lambda: {"alias": jv(), "alt_aliases": jv()},
            "m.room.server_acl": lambda: {"allow": jv(), "deny": jv(), "allow_ip_literals": jv()},
            "m.room.name": lambda: {"name": jv()},
        }
        for i in range(80):
            typ = rng.choice(list(special))
            skey = rng.choice(["", me, "@x:a.test", "x"])
            req("PUT", CS + "/rooms/%s/state/%s/%s" % (q(room), typ, q(skey)), json.dumps(special[typ]()).encode())
            req("PUT", TB + "/tables/%s/rows/%s/%s" % (q(room), typ, q(skey) or "%22%22"),
                json.dumps(special[typ]()).encode())
        for i in range(40):
            body = {k: jv() for k in rng.sample(["name", "visibility", "preset", "room_version", "topic",
                                                 "invite", "initial_state", "creation_content", "is_direct",
                                                 "power_level_content_override", "room_alias_name"], 4)}
            if rng.random() < 0.5:
                body["initial_state"] = [{"type": rng.choice(list(special)), "state_key": jv(), "content": jv()}]
            if rng.random() < 0.3:
                body["power_level_content_override"] = special["m.room.power_levels"]()
            req("POST", CS + "/createRoom", json.dumps(body).encode())
            req("POST", TB + "/tables", json.dumps(body).encode())
        # The table still answers, and alice can still write to it (her
        # power was never taken by junk accepted above, or the test says so).
        st, out = req("GET", TB + "/tables/%s/rows" % q(room))
        assert st == 200, out
        # Whatever power levels were taken obey the room version's rules
        # (rooms v10+: integers only, users a map of user IDs to integers).
        st, pl = req("GET", CS + "/rooms/%s/state/m.room.power_levels/" % q(room))
        assert st == 200, pl
        for k in ("users_default", "events_default", "state_default", "ban", "kick", "redact", "invite"):
            assert k not in pl or type(pl[k]) is int, (k, pl)
        for k in ("users", "events", "notifications"):
            assert k not in pl or (isinstance(pl[k], dict) and all(type(v) is int for v in pl[k].values())), (k, pl)
        after_batch("batch 7")

        # ---- batch 8: broken HTTP itself (libmicrohttpd answers most of it;
        # the daemon must live on and the row must stay as it was)
        rp = (TB + "/tables/%s/rows/%s/r2" % (q(room), TYPE)).encode()
        head = b"PUT " + rp + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok.encode() + b"\r\n"
        v = b'{"v":99}'  # none of these may write it
        for data in (head + b"Content-Length: -1\r\n\r\n" + v, head + b"Content-Length: 99999999999999\r\n\r\n" + v,
                     head + b"Content-Length: 99999999999999999999999\r\n\r\n" + v,
                     head + b"Content-Length: 10\r\n\r\n" + v[:-1],
                     # two lengths: a proxy may have framed it by the other one (smuggling)
                     head + b"Content-Length: 8\r\nContent-Length: 9\r\n\r\n" + v,
                     head + b"Content-Length: 8\r\ncontent-length: 8\r\n\r\n" + v,
                     head + b"Content-Length: 8\r\nTransfer-Encoding: chunked\r\n\r\n" + v,
                     head + b"Transfer-Encoding: chunked\r\n\r\n100000\r\n" + b"x" * 0x100000 + b"\r\n100000\r\n" +
                     b"x" * 0x100000 + b"\r\n0\r\n\r\n",
                     head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", head + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc",
                     head + b"Expect: 100-continue\r\nContent-Length: 5000000\r\n\r\n",
                     b"GARBAGE\r\n\r\n", b"\x00\x01\x02\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET " + b"/" * 100000 + b" HTTP/1.1\r\n\r\n",
                     b"GET /_matrix/client/versions HTTP/1.1\r\n" + b"X-A: b\r\n" * 10000 + b"\r\n",
                     b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n" * 50):
            send_raw(a.port, data)
        after_batch("batch 8")
        assert table_rows(a, room)[(TYPE, "r2")][0] == {"v": 2}

        # The good path still works, and the guard table is intact.
        st, out = req("PUT", TB + "/tables/%s/rows/%s/final" % (q(room), TYPE), b'{"ok":true}')
        assert st == 200, out
        assert table_rows(a, room)[(TYPE, "final")][0] == {"ok": True}
        assert table_rows(a, guard) == guard_rows
        print("api fuzz: %d requests, %d writes taken" % (stats["requests"], len(written)))
        final_checks(a)


if __name__ == "__main__":
    t0 = time.time()
    main()
    print("ok (%.1f s)" % (time.time() - t0))
