# test_fed_fuzz_peer.py: a hostile peer. A real mxdbd (A) has a table that
# a fake server (evil.test, written here: a key server and a federation
# server on loopback) joins correctly; then evil sends events whose prev
# events A lacks, and answers A's fetches (get_missing_events, state_ids,
# state, event, backfill) with junk: errors, non-JSON, wrong JSON types,
# thousands of entries, deep nesting, events of another room or with bad
# hashes, self-citing events. A fixed seed, a fixed number of rounds.
# Checked after each: A answers the transaction (200 or a 4xx with an
# errcode, never a 5xx), stays alive, and its table changes only by events
# it accepted. At the end: clean SIGTERM, no sanitizer report, SQLite
# integrity_check ok.
import json
import os
import random
import sys
import threading
import time
from urllib.parse import unquote
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import signedjson.key

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, free_port, q, table_rows  # noqa: E402
from fuzzlib import check_reply, final_checks, nested, raw  # noqa: E402
from keylib import Fed, event_id, key_response, now_ms, seal  # noqa: E402

SEED = int(os.environ.get("MXDB_FUZZ_SEED", "777"))  # fixed unless exploring
TYPE = "com.example.todo"
FED = "/_matrix/federation"
rng = random.Random(SEED)


class Evil:
    """evil.test: its own key, and per-path answers set by the test."""

    def __init__(self, port):
        self.key = signedjson.key.generate_signing_key("ev1")
        self.answer = lambda path, body: (404, {"errcode": "M_NOT_FOUND", "error": "no"})
        self.asked = []
        evil = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, code, data):
                if not isinstance(data, bytes):
                    data = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self):
                n = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(n) if n else b""
                if self.path.startswith("/_matrix/key/v2/server"):
                    return self.reply(200, key_response("evil.test", evil.key))
                evil.asked.append(self.path)
                code, data = evil.answer(self.path, body)
                self.reply(code, data)

            do_GET = do_POST = do_PUT = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def main():
    port = free_port()
    evil = Evil(port)
    try:
        with Cluster(["a.test"], extra=["--peer", "evil.test=127.0.0.1:%d" % port]) as cl:
            run(cl.nodes[0], evil)
    finally:
        evil.stop()


def run(a, evil):
    a.register("alice")
    _, t = a.call("POST", "/_mxdb/v1/tables", {"name": "t", "visibility": "public"})
    room = t["room_id"]
    a.put_row(room, "seed", {"v": 1})
    fed = Fed(a, "evil.test", evil.key)
    mal = "@mal:evil.test"

    def req(method, uri, body=None):
        st, out = fed.request(method, uri, body)
        check_reply("%s %s" % (method, uri[:80]), st, out)
        return st, out

    st, made = req("GET", FED + "/v1/make_join/%s/%s?ver=10&ver=11&ver=12" % (q(room), q(mal)))
    assert st == 200, made
    join = made["event"]
    join["origin_server_ts"] = now_ms()
    seal(join, evil.key, "evil.test")
    st, out = req("PUT", FED + "/v2/send_join/%s/%s" % (q(room), q(event_id(join))), join)
    assert st == 200, out
    by_key = {}
    for ev in out["state"]:
        by_key[(ev["type"], ev.get("state_key"))] = event_id(ev)
    by_key[("m.room.member", mal)] = event_id(join)
    version = made["room_version"]
    heads = [event_id(join)]
    depth = join["depth"] + 1

    def row_event(skey, content, prev, d=None):
        auth = [by_key[("m.room.power_levels", "")], by_key[("m.room.member", mal)]]
        if version != "12":
            auth.append(by_key[("m.room.create", "")])
        ev = {"auth_events": auth, "prev_events": prev, "depth": d or depth, "content": content,
              "origin_server_ts": now_ms(), "room_id": room, "sender": mal, "type": TYPE, "state_key": skey}
        return seal(ev, evil.key, "evil.test")

    accepted = set()
    before = table_rows(a, room)

    # Events evil can serve: a chain after the join that A has not seen.
    def chain(n, tag):
        out, prev = [], heads
        for i in range(n):
            ev = row_event("%s-%d" % (tag, i), {"i": i}, prev, depth + i)
            out.append(ev)
            prev = [event_id(ev)]
        return out

    def junk_event():
        ev = row_event("junk", {"x": 1}, heads)
        k = rng.choice(["room_id", "prev_events", "auth_events", "depth", "type", "hashes", "content", "sender"])
        ev[k] = rng.choice([None, 5, "x", [], {}, ["$x"] * 50, "!other:evil.test", -1, 2 ** 60, nested(50)])
        if k != "hashes" and rng.random() < 0.7:
            try:
                seal(ev, evil.key, "evil.test")
            except (AttributeError, TypeError):
                pass  # content of a type that cannot be redacted: sent unsealed
        return ev

    def self_citing():
        ev = row_event("self", {}, heads)
        ev["prev_events"] = [event_id(ev)]
        return seal(ev, evil.key, "evil.test")

    def other_room():
        ev = row_event("other", {}, heads)
        ev["room_id"] = "!elsewhere:evil.test"
        return seal(ev, evil.key, "evil.test")

    def right(p, b, c):
        """The right events, every one: a correct answer, for contrast."""
        return 200, {"events": c, "pdus": c[:1], "origin": "evil.test", "origin_server_ts": now_ms()}

    answers = [
        lambda p, b, c: (500, {"errcode": "M_UNKNOWN", "error": "boom"}),
        lambda p, b, c: (200, b"not json at all"),
        lambda p, b, c: (200, b"\xff\xfe\x00"),
        lambda p, b, c: (200, []),
        lambda p, b, c: (200, {"events": "x", "pdus": 5, "pdu_ids": {}, "auth_chain_ids": None}),
        lambda p, b, c: (200, {"events": [1, None, "x", []], "pdus": [1, None], "pdu_ids": [1, None, {}],
                               "auth_chain_ids": ["$" + "z" * 43] * 5000, "auth_chain": [None]}),
        lambda p, b, c: (200, b'{"events":' + b"[" * 5000 + b"]" * 5000 + b"}"),
        lambda p, b, c: (200, {"events": junk30, "pdus": junk30, "pdu_ids": junk_ids,
                               "auth_chain_ids": []}),
        lambda p, b, c: (200, {"events": odd, "pdus": odd, "pdu_ids": [event_id(odd[0])],
                               "auth_chain_ids": [event_id(odd[1])]}),
        # The right events, but with a content changed (a wrong hash).
        lambda p, b, c: (200, {"events": [dict(e, content={"evil": 1}) for e in c],
                               "pdus": [dict(e, content={"evil": 1}) for e in c[:1]]}),
        right,
        lambda p, b, c: (200, {"events": c * 20, "pdus": c * 20}),
        lambda p, b, c: (200, b'{"events":[' + b'{"a":1},' * 200000 + b'{}]}'),
        lambda p, b, c: (404, b""),
    ]
    # Fixed answers: an answer of fresh fabricated ancestors every time is
    # a history without end, which A follows to its bound (GAP_DEADLINE_MS).
    junk30 = [junk_event() for _ in range(30)]
    odd = [self_citing(), other_room()]
    junk_ids = []
    for e in junk30:
        try:
            junk_ids.append(event_id(e))
        except (AttributeError, TypeError):
            pass
    for r, answer in enumerate(answers):
        missing = chain(4, "c%d" % r)
        last = row_event("last%d" % r, {"r": r}, [event_id(missing[-1])], depth + 4)
        by_id = {event_id(e): e for e in missing}

        def respond(path, body, answer=answer, missing=missing, by_id=by_id):
            if "/event/" in path:  # /event asks one: the one named when we have it
                eid = path.split("/event/")[1].split("?")[0]
                one = [by_id[unquote(eid)]] if unquote(eid) in by_id else []
                return answer(path, body, one or missing[:1])
            return answer(path, body, missing)

        evil.answer = respond
        body = {"origin": "evil.test", "origin_server_ts": now_ms(), "pdus": [last], "edus": []}
        st, out = req("PUT", FED + "/v1/send/evil%d" % r, body)
        assert st == 200, (r, st, out)
        for eid, res in out["pdus"].items():
            if res == {}:
                accepted.add(eid)
        # What A stored from evil's answers it may have accepted too: the
        # rows changed must be those of the chain, with their real values.
        st, _ = raw(a, "GET", FED + "/v1/version")
        assert st == 200, (r, st)
        now = table_rows(a, room)
        for k, (content, eid) in now.items():
            if before.get(k) != (content, eid):
                if k[1] == "junk":  # a mutation that left a valid event (sealed after it)
                    assert eid in accepted or eid in junk_ids, (r, k, content)
                    continue
                assert k[0] == TYPE and k[1] != "seed", (r, k, content)
                want = {"i": int(k[1].split("-")[1])} if k[1].startswith("c") else {"r": int(k[1][4:])}
                assert content == want, (r, k, content)
        for k in before:
            assert k in now, (r, k)
        before = now
        if answer is right:  # the fetch path works: the whole chain landed
            assert all((TYPE, "c%d-%d" % (r, i)) in now for i in range(4)) and (TYPE, "last%d" % r) in now, \
                sorted(now)
    # ---- evil as the resident of a room alice joins: its make_join and
    # send_join answers are junk. A must answer alice (an error: a 4xx, or
    # 502/504 for the remote's fault) and keep nothing of a failed join.
    vroom = "!vroom:evil.test"
    vcreate = {"type": "m.room.create", "state_key": "", "sender": mal, "content": {"room_version": "11"},
               "room_id": vroom, "depth": 1, "prev_events": [], "auth_events": [], "origin_server_ts": now_ms()}
    seal(vcreate, evil.key, "evil.test")

    def template(user):
        return {"type": "m.room.member", "state_key": user, "sender": user, "room_id": vroom,
                "content": {"membership": "join"}, "depth": 2, "prev_events": [event_id(vcreate)],
                "auth_events": [event_id(vcreate)], "origin_server_ts": now_ms()}
    make_answers = [
        (200, {"room_version": "11", "event": "x"}), (200, {"room_version": "999", "event": {}}),
        (200, {"room_version": None}), (200, b"\xff"), (200, []), (500, b"oops"),
        (200, {"room_version": "11", "event": {"type": 5, "content": [], "prev_events": "x"}}),
        (200, {"room_version": "11", "event": {"room_id": "!other:evil.test"}}),
        (200, b'{"room_version":"11","event":' + b"[" * 3000 + b"]" * 3000 + b"}"),
        # Templates we must not sign: another user's membership, a ban, power levels.
        (200, {"room_version": "11", "event": dict(template("@alice:a.test"), state_key="@bob:a.test")}),
        (200, {"room_version": "11", "event": dict(template("@alice:a.test"), content={"membership": "ban"})}),
        (200, {"room_version": "11", "event": dict(template("@alice:a.test"), type="m.room.power_levels",
                                                   state_key="", content={"users": {mal: 100}})}),
        (200, "TEMPLATE"), (200, "TEMPLATE"), (200, "TEMPLATE"), (200, "TEMPLATE"), (200, "TEMPLATE"),
    ]
    send_answers = [None] * 12 + [
        (200, {"state": "x", "auth_chain": None, "event": 5}),
        (200, {"state": [junk_event() for _ in range(5)], "auth_chain": [1, None, {}]}),
        (200, {"state": [vcreate] * 2000, "auth_chain": [vcreate]}),
        (200, {"state": [dict(vcreate, room_id="!other:evil.test")], "auth_chain": []}),
        (200, b'{"state":' + b"[" * 3000 + b"]" * 3000 + b"}"),
    ]
    a_rooms_before = a.client("GET", "/joined_rooms")[1]["joined_rooms"]
    signed = []  # what A signed and sent to evil's send_join
    for i, (mk, sj) in enumerate(zip(make_answers, send_answers)):
        def respond(path, body, mk=mk, sj=sj):
            if "/make_join/" in path:
                code, data = mk
                return code, ({"room_version": "11", "event": template(unquote(path.split("/")[-1].split("?")[0]))}
                              if data == "TEMPLATE" else data)
            if "/send_join/" in path:
                signed.append(json.loads(body))
                if sj is not None:
                    return sj
            return 404, {"errcode": "M_NOT_FOUND", "error": "no"}
        evil.answer = respond
        st, out = a.client("POST", "/join/%s?server_name=evil.test" % q(vroom), {}, ok=())
        assert (400 <= st < 500 or st in (502, 504)) and isinstance(out, dict) and "errcode" in out, (i, st, out)
        st, _ = raw(a, "GET", FED + "/v1/version")
        assert st == 200, i
    assert a.client("GET", "/joined_rooms")[1]["joined_rooms"] == a_rooms_before
    assert len(signed) >= 5, len(signed)  # the five good templates (retries too), and only they
    for ev in signed:
        assert ev["type"] == "m.room.member" and ev["state_key"] == ev["sender"] == "@alice:a.test" and \
            ev["content"]["membership"] == "join" and ev["room_id"] == vroom, ev
    print("hostile peer: %d rounds, %d fetches answered, %d events accepted" % (
        len(answers), len(evil.asked), len(accepted)))
    assert evil.asked, "A never asked evil for anything"
    assert table_rows(a, room)[(TYPE, "seed")][0] == {"v": 1}
    final_checks(a)


if __name__ == "__main__":
    t0 = time.time()
    main()
    print("ok (%.1f s)" % (time.time() - t0))
