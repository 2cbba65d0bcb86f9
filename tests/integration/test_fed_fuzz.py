# test_fed_fuzz.py: a bounded structured fuzzer of the federation API. A
# real mxdbd (A, built with ASan/UBSan by `make test`) shares a table with a
# second real server (B); the test speaks as B with B's real key (so the
# requests pass X-Matrix and reach the code behind it) and sends mutated
# input to every federation endpoint: PDUs with fields missing, of the wrong
# JSON type, huge, deeply nested, bad prev/auth events (non-strings, 1000
# entries, cycles, self-references, another room's events), depths out of
# range, unknown room versions, v12 create events, junk EDUs; junk query
# parameters and bodies for the read endpoints; mismatching joins, leaves
# and invites; junk key queries; malformed X-Matrix headers. A fixed seed
# and a fixed number of cases. After each batch: A is alive, every reply is
# JSON, an error is a 4xx with an errcode (never a 5xx, never a dropped
# connection), and the table's rows changed only by events A accepted. At
# the end: A stops cleanly on SIGTERM, the sanitizers printed nothing and
# SQLite's integrity_check of A's database is ok.
import copy
import json
import os
import random
import sys
import time

import signedjson.sign

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, q, shared_table, table_rows  # noqa: E402
from fuzzlib import check_reply, final_checks, nested, raw, stats  # noqa: E402
from keylib import Fed, event_id, key_id, load_key, now_ms, seal  # noqa: E402

SEED = int(os.environ.get("MXDB_FUZZ_SEED", "20261125"))  # fixed unless exploring
SCALE = int(os.environ.get("MXDB_FUZZ_SCALE", "1"))  # cases x SCALE when exploring
TYPE = "com.example.todo"
FED = "/_matrix/federation"

rng = random.Random(SEED)
def xmatrix(origin, dest, key, method, uri, content=None):
    j = {"method": method, "uri": uri, "origin": origin, "destination": dest}
    if content is not None:
        j["content"] = content
    sig = signedjson.sign.sign_json(j, origin, key)["signatures"][origin][key_id(key)]
    return 'X-Matrix origin="%s",destination="%s",key="%s",sig="%s"' % (origin, dest, key_id(key), sig)


JUNK = [None, True, False, 0, -1, 1.5, 2 ** 53, -(2 ** 63), 2 ** 64, "", "x" * 70000, "\u0000",
        "\U0010ffff", [], [1, "a"], {}, {"a": {"b": []}}, nested(60)]


def junk():
    return copy.deepcopy(rng.choice(JUNK))


def main():
    with Cluster(["a.test", "b.test"]) as cl:
        a, b = cl.nodes
        room = shared_table(cl, "t", joiners=[b])
        # A second table both servers are in: its events exist on A, in another room.
        _, t2 = a.call("POST", "/_mxdb/v1/tables", {"name": "t2", "visibility": "public"})
        room2 = t2["room_id"]
        b.client("POST", "/join/%s?server_name=a.test" % q(room2), {})
        a.put_row(room, "seed", {"v": 1})
        key = load_key(os.path.join(b.data, "signing.key"))
        fed = Fed(a, "b.test", key)

        def req(method, uri, body=None, raw_body=None, auth=True, headers=None):
            """A correctly signed request as B (body: JSON object signed and
            sent; raw_body: bytes sent as they are, unsigned content)."""
            h = {"Content-Type": "application/json"}
            if auth:
                h["Authorization"] = xmatrix("b.test", "a.test", key, method, uri, body)
            h.update(headers or {})
            data = raw_body if raw_body is not None else (
                json.dumps(body).encode() if body is not None else None)
            st, out = raw(a, method, uri, data, h)
            check_reply("%s %s" % (method, uri[:100]), st, out)
            return st, out

        st, ids = req("GET", FED + "/v1/state_ids/%s" % q(room))
        assert st == 200, ids
        by_key, pdus = {}, {}
        for eid in ids["pdu_ids"]:
            st, out = req("GET", FED + "/v1/event/%s" % q(eid))
            pdu = out["pdus"][0]
            by_key[(pdu["type"], pdu.get("state_key"))] = eid
            pdus[eid] = pdu
        st, made = req("GET", FED + "/v1/make_join/%s/%s?ver=10&ver=11&ver=12" % (q(room), q("@eve:b.test")))
        assert st == 200, made
        version = made["room_version"]
        create_id = by_key[("m.room.create", "")]

        def heads():
            _, m = req("GET", FED + "/v1/make_join/%s/%s?ver=10&ver=11&ver=12" % (q(room), q("@eve:b.test")))
            return m["event"]["prev_events"], m["event"]["depth"]

        def row_event(skey, content, prev=None, depth=None):
            p, d = heads()
            auth = [by_key[("m.room.power_levels", "")], by_key[("m.room.member", "@bob:b.test")]]
            if version != "12":
                auth.append(create_id)
            return {"auth_events": auth, "prev_events": prev if prev is not None else p,
                    "depth": depth if depth is not None else d, "content": content,
                    "origin_server_ts": now_ms(), "room_id": room, "sender": "@bob:b.test",
                    "type": TYPE, "state_key": skey}

        accepted = set()

        def send(pdus_, edus=None, reseal=True, txn=None):
            body = {"origin": "b.test", "origin_server_ts": now_ms(), "pdus": pdus_, "edus": edus or []}
            if reseal:
                for p in pdus_:
                    if isinstance(p, dict) and isinstance(p.get("type"), str):
                        try:
                            seal(p, key, "b.test")
                        except Exception:
                            pass
            txn = txn or "fz%d" % rng.getrandbits(48)
            st, out = req("PUT", FED + "/v1/send/%s" % txn, body)
            if st == 200:
                for eid, res in out["pdus"].items():
                    if res == {}:
                        accepted.add(eid)
            return st, out

        def rows_check(before, what):
            after = table_rows(a, room)
            for k, (content, eid) in after.items():
                if before.get(k) != (content, eid):
                    assert eid in accepted, "%s changed row %s to %s by %s (not accepted)" % (what, k, content, eid)
            for k in before:  # no fuzz event writes {} to a row that exists
                assert k in after, "%s deleted row %s" % (what, k)
            return after

        def alive(what):
            st, out = raw(a, "GET", FED + "/v1/version")
            assert st == 200 and out["server"]["name"] == "mxdb", (what, st, out)

        # ---- batch 1: PDUs with one field mutated, resealed (past the signature check)
        before = table_rows(a, room)
        fields = ["auth_events", "prev_events", "depth", "content", "origin_server_ts", "room_id",
                  "sender", "type", "state_key", "hashes", "signatures", "unsigned", "redacts"]
        for i in range(60 * SCALE):
            f = fields[i % len(fields)]
            mode = rng.randrange(3)
            ev = row_event("fz1-%d" % i, {"v": i})
            if mode == 0:
                ev.pop(f, None)
                reseal = f not in ("hashes", "signatures")
            else:
                ev[f] = junk()
                if f != "content":
                    ev["content"]["f"] = "%s=%r" % (f, ev[f])[:100]
                reseal = f not in ("hashes", "signatures")
            send([ev], reseal=reseal)
        alive("batch 1")
        before = rows_check(before, "batch 1")

        # ---- batch 2: prev_events / auth_events made hostile
        other = {"type": TYPE, "room_id": "!other:b.test", "sender": "@bob:b.test", "state_key": "o",
                 "content": {}, "depth": 5, "prev_events": [], "auth_events": [], "origin_server_ts": now_ms()}
        seal(other, key, "b.test")
        other_id = event_id(other)
        st, ids2 = req("GET", FED + "/v1/state_ids/%s" % q(room2))
        assert st == 200, ids2
        foreign = ids2["pdu_ids"]  # A has them all, in room2
        hostile = [
            [1, 2, 3], [None], [{"a": 1}], ["$" + "A" * 43] * 1000,
            ["$%d" % i for i in range(1000)], ["not-an-id"], ["$"], [""], ["$" + "x" * 5000],
            [other_id], [create_id, create_id], "$string", {}, [["$a"]], ["\u0000$x"],
            foreign, foreign[:1], foreign * 40,
        ]
        for i, h in enumerate(hostile):
            for f in ("prev_events", "auth_events"):
                ev = row_event("fz2-%d-%s" % (i, f), {"v": i})
                ev[f] = h if f == "prev_events" or not isinstance(h, list) else \
                    [x for x in ev["auth_events"]] + h if h is foreign else h
                send([ev])
                # Citing junk, unknown events or another room's events as
                # auth events, or another room's as prev events: never taken.
                if f == "auth_events" or h in (foreign, foreign[:1]):
                    assert event_id(ev) not in accepted, (f, h[:3] if isinstance(h, list) else h)
        # State and history asked at another room's event: nothing of it.
        for path in ("/v1/state_ids/%s?event_id=%s", "/v1/state/%s?event_id=%s", "/v1/backfill/%s?v=%s&limit=5"):
            st, out = req("GET", FED + path % (q(room), q(foreign[0])))
            assert st >= 400 or foreign[0] not in json.dumps(out) or "backfill" not in path, (path, st, out)
        st, out = req("POST", FED + "/v1/get_missing_events/%s" % q(room), {"latest_events": foreign, "limit": 50})
        assert st >= 400 or all(e.get("room_id") == room for e in out["events"]), out
        send([other])  # an event of a room A does not have
        # A self-reference and a two-event cycle: IDs are hashes, so the
        # self reference is by a guessed ID and the cycle by each other's ID
        # before resealing (neither can match after; both must be refused).
        ev = row_event("fz2-self", {"v": 1})
        seal(ev, key, "b.test")
        ev["prev_events"] = [event_id(ev)]
        send([ev])
        x, y = row_event("fz2-x", {}), row_event("fz2-y", {})
        seal(x, key, "b.test")
        seal(y, key, "b.test")
        x["prev_events"], y["prev_events"] = [event_id(y)], [event_id(x)]
        send([x, y])
        alive("batch 2")
        before = rows_check(before, "batch 2")

        # ---- batch 3: depth, sizes, nesting, versions, v12 creates
        for d in (-1, -(2 ** 63), 2 ** 53, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 64, 0, 1.0, "5", None):
            send([row_event("fz3-d%r" % (d,), {"v": 1}, depth=d)])
        send([row_event("fz3-huge", {"v": "x" * 70000})])
        send([row_event("fz3-deep", {"v": nested(200)})])
        deep = b"[" * 5000 + b"]" * 5000  # past any parser's depth: refused whole
        req("PUT", FED + "/v1/send/fz3-deep", raw_body=b'{"origin":"b.test","pdus":[{"content":' + deep + b'}],"edus":[]}')
        send([row_event("fz3-float", {"v": 1.5})])
        send([row_event("fz3-bigint", {"v": 2 ** 60})])
        send([row_event("fz3-key", {"v": 1}) | {"state_key": "k" * 300}])
        send([row_event("fz3-type", {"v": 1}) | {"type": "t" * 300}])
        for rv in ("12", "11", "10", "1", "999", "", None, 12):
            cr = {"type": "m.room.create", "state_key": "", "sender": "@bob:b.test", "content":
                  {"room_version": rv, "creator": "@bob:b.test"} if rv is not None else {},
                  "depth": 1, "prev_events": [], "auth_events": [], "origin_server_ts": now_ms()}
            if rv != "12":
                cr["room_id"] = "!new%s:b.test" % rv
            send([cr])
            cr2 = dict(cr, room_id=room)
            send([cr2])
        # A v12 create with a room_id (forbidden) and one citing our room's create.
        cr = {"type": "m.room.create", "state_key": "", "sender": "@bob:b.test", "room_id": room,
              "content": {"room_version": "12"}, "depth": 1, "prev_events": [create_id],
              "auth_events": [create_id], "origin_server_ts": now_ms()}
        send([cr])
        # Non-object PDUs and junk transactions.
        send([1, "x", None, [], {}])
        for body in ({"pdus": "x"}, {"pdus": [], "edus": "x"}, {"pdus": [], "origin": "c.test"},
                     {"pdus": [{}] * 51}, {"pdus": [], "edus": [{}] * 101}, {}, [], nested(300)):
            req("PUT", FED + "/v1/send/fz3-%d" % rng.getrandbits(32), body if isinstance(body, dict) else None,
                raw_body=None if isinstance(body, dict) else json.dumps(body).encode())
        for rb in (b"", b"{", b"\xff\xfe", b'{"pdus":[]}\x00', b"[" * 100000, b'{"a":' * 20000,
                   b'{"pdus":[],"pdus":[]}', b"null", b"1e999999"):
            req("PUT", FED + "/v1/send/fz3r", raw_body=rb)
        # Auth-relevant event types with junk content: they reach the auth
        # rules (power levels, membership, join rules, redactions, create).
        vals = [None, True, -1, 2 ** 53 - 1, "x", "50", "", [], [1, None], {}, {"a": "b"}, nested(20)]
        kinds = {
            "m.room.power_levels": lambda: {k: rng.choice(vals) for k in rng.sample(
                ["users", "events", "users_default", "events_default", "state_default", "ban", "kick",
                 "redact", "invite", "notifications"], 4)},
            "m.room.member": lambda: {"membership": rng.choice(vals + ["knock", "invite", "join"]),
                                      "join_authorised_via_users_server": rng.choice(vals),
                                      "third_party_invite": rng.choice(vals)},
            "m.room.join_rules": lambda: {"join_rule": rng.choice(vals + ["restricted", "knock_restricted"]),
                                          "allow": rng.choice(vals + [[{"type": "m.room_membership", "room_id": 5}]])},
            "m.room.redaction": lambda: {"redacts": rng.choice(vals + [good_ev_for_redact])},
            "m.room.create": lambda: {"room_version": rng.choice(vals), "additional_creators": rng.choice(vals)},
            "m.room.third_party_invite": lambda: {"public_key": rng.choice(vals), "key_validity_url": rng.choice(vals)},
        }
        good_ev_for_redact = by_key[("m.room.power_levels", "")]
        for i in range(40 * SCALE):
            typ = rng.choice(list(kinds))
            ev = row_event("x", {})
            ev["type"] = typ
            ev["state_key"] = rng.choice(["", "@carol:b.test", "@alice:a.test", 5, None]) \
                if typ != "m.room.member" else rng.choice(["@carol:b.test", "@alice:a.test", "@bob:c.test"])
            if typ == "m.room.redaction" and rng.random() < 0.5:
                ev.pop("state_key")
                ev["redacts"] = rng.choice(vals + [good_ev_for_redact])
            ev["content"] = kinds[typ]()
            send([ev])
        # A redaction with a state key: a row of its own and a redacted row,
        # two change records in one event (the second once reused the
        # first's seq: every later write on the server failed with a 500).
        for target in ("$" + "N" * 43, None):
            row = row_event("fz3-red", {"v": 1})
            st, out = send([row])
            assert out["pdus"] == {event_id(row): {}}, out
            red = row_event("", {"redacts": target or event_id(row)})
            red["type"] = "m.room.redaction"
            st, out = send([red])
            assert out["pdus"] == {event_id(red): {}}, out
            nxt = row_event("fz3-after-red", {"v": 2})
            st, out = send([nxt])
            assert out["pdus"] == {event_id(nxt): {}}, out
            accepted.add(a.put_row(room, "local-after-red", {"v": 3}))
        # Bob (power 0, another server) redacting alice's row and the power
        # levels: the event is taken (the auth rules allow any redaction)
        # but not applied (spec "Handling redactions").
        for target in (by_key[("m.room.power_levels", "")], a.put_row(room, "alice-row", {"v": 1})):
            red = row_event("x", {"redacts": target})
            red["type"] = "m.room.redaction"
            red.pop("state_key")
            send([red])
        rows = table_rows(a, room)
        assert rows[(TYPE, "alice-row")][0] == {"v": 1}, rows
        accepted.add(rows[(TYPE, "alice-row")][1])
        assert rows[("m.room.power_levels", "")] == before[("m.room.power_levels", "")], rows
        assert (TYPE, "fz3-red") not in rows and rows[(TYPE, "fz3-after-red")][0] == {"v": 2}, rows
        _, ch = a.call("GET", "/_mxdb/v1/changes?since=0&limit=10000&room=%s" % q(room))
        rs = [c["room_seq"] for c in ch["changes"]]
        assert rs == list(range(1, len(rs) + 1)), rs
        alive("batch 3")
        before = rows_check(before, "batch 3")

        # ---- batch 4: EDUs of every type with junk content
        edu_types = ["m.typing", "m.receipt", "m.presence", "m.device_list_update", "m.direct_to_device",
                     "m.signing_key_update", "org.junk", "", None, 5]
        for t in edu_types:
            for c in (junk(), {"room_id": room, "user_id": "@bob:b.test", "typing": junk()},
                      {room: {"m.read": {"@bob:b.test": {"event_ids": junk(), "data": junk()}}}},
                      {room: {"m.read": junk()}}, {junk_key: 1 for junk_key in ["", "\u0000"]},
                      {"push": [junk(), {"user_id": junk()}]}):
                send([], edus=[{"edu_type": t, "content": c}, junk()])
        alive("batch 4")
        before = rows_check(before, "batch 4")

        # ---- batch 5: reading endpoints with junk parameters and bodies
        good_ev = by_key[("m.room.power_levels", "")]
        junk_q = ["-1", "0", "99999999999999999999", "abc", "", "1e3", "%00", "%ff", "1.5", "%205"]
        ids_ = [q(good_ev), q(other_id), "%24", "x", q("$" + "A" * 5000), "%ff%fe", "%", "%2", q("\u0000")]
        rooms = [q(room), q("!nope:a.test"), "%", q("!" + "r" * 3000 + ":x"), "%ff", ""]
        for r_ in rooms:
            for jq in rng.sample(junk_q, 3):
                req("GET", FED + "/v1/backfill/%s?v=%s&limit=%s" % (r_, q(good_ev), jq))
                req("GET", FED + "/v1/backfill/%s?limit=%s" % (r_, jq))
            for i_ in ids_[:4]:
                req("GET", FED + "/v1/state/%s?event_id=%s" % (r_, i_))
                req("GET", FED + "/v1/state_ids/%s?event_id=%s" % (r_, i_))
            req("GET", FED + "/v1/state_ids/%s" % r_)
        for i_ in ids_:
            req("GET", FED + "/v1/event/%s" % i_)
        for body in ({"latest_events": junk(), "earliest_events": junk(), "limit": junk(), "min_depth": junk()},
                     {"latest_events": [good_ev] * 1000, "limit": -5}, {"latest_events": [good_ev], "limit": 2 ** 62},
                     {"latest_events": [good_ev], "limit": "10"}, {"latest_events": [1, None, {}], "earliest_events": [[]]},
                     {"latest_events": [good_ev], "min_depth": -(2 ** 63)}, {"latest_events": [good_ev], "limit": 1.5},
                     {}, {"latest_events": [other_id]}):
            for r_ in (q(room), q("!nope:a.test")):
                req("POST", FED + "/v1/get_missing_events/%s" % r_, body)
        for rb in (b"", b"[]", b"\xff", b'{"latest_events":' * 5000):
            req("POST", FED + "/v1/get_missing_events/%s" % q(room), raw_body=rb)
        for i in range(20):
            req("POST", FED + "/v1/get_missing_events/%s" % q(room),
                {"latest_events": junk(), "earliest_events": junk(), "limit": junk(), "min_depth": junk()})
        alive("batch 5")
        before = rows_check(before, "batch 5")

        # ---- batch 6: make_/send_join, send_leave, invite with mismatches
        for user in ("@eve:b.test", "@eve:c.test", "eve", "@:b.test", "@eve", "%ff", "@" + "e" * 300 + ":b.test"):
            for r_ in (q(room), q("!nope:a.test"), "%"):
                for ver in ("", "?ver=10&ver=11&ver=12", "?ver=" + "x" * 1000, "?" + "&".join(["ver=1"] * 100)):
                    req("GET", FED + "/v1/make_join/%s/%s%s" % (r_, q(user) if user != "%ff" else user, ver))
                req("GET", FED + "/v1/make_leave/%s/%s" % (r_, q(user)))
                req("GET", FED + "/v1/make_knock/%s/%s?ver=%s" % (r_, q(user), version))
        st, m = req("GET", FED + "/v1/make_join/%s/%s?ver=%s" % (q(room), q("@eve:b.test"), version))
        assert st == 200, m
        tmpl = m["event"]
        tmpl["origin_server_ts"] = now_ms()

        def join_variant(mut):
            ev = copy.deepcopy(tmpl)
            mut(ev)
            try:
                seal(ev, key, "b.test")
                eid = event_id(ev)
            except Exception:
                eid = "$x"
            return ev, eid

        variants = [
            lambda e: e["content"].update(membership="leave"),
            lambda e: e["content"].update(membership="ban"),
            lambda e: e["content"].update(membership=5),
            lambda e: e.update(sender="@eve:c.test"),
            lambda e: e.update(sender="@mallory:b.test"),
            lambda e: e.update(state_key="@other:b.test"),
            lambda e: e.update(state_key=5),
            lambda e: e.update(room_id="!nope:a.test"),
            lambda e: e.update(type="m.room.message"),
            lambda e: e.update(depth=-5),
            lambda e: e.update(prev_events=["$" + "B" * 43]),
            lambda e: e.update(auth_events=[]),
            lambda e: e.pop("content"),
            lambda e: e["content"].update(join_authorised_via_users_server="@alice:a.test"),
            lambda e: e["content"].update(join_authorised_via_users_server=["x"]),
            lambda e: e.update(content="x"),
        ]
        for v in variants:
            ev, eid = join_variant(v)
            for r_, e_ in ((q(room), q(eid)), (q(room), q("$" + "C" * 43)), (q("!nope:a.test"), q(eid))):
                for kind in ("send_join", "send_leave", "send_knock"):
                    st, _ = req("PUT", FED + "/%s/%s/%s/%s" % ("v1" if kind == "send_knock" else "v2", kind, r_, e_), ev)
                    if st == 200:  # a well-formed membership of B's user: taken
                        assert e_ == q(eid) and r_ == q(room), (kind, ev)
                        assert ev["content"]["membership"] == kind[5:] and ev["sender"] == "@eve:b.test" \
                            and ev["state_key"] == "@eve:b.test" and ev["type"] == "m.room.member", (kind, ev)
                        accepted.add(eid)
                req("PUT", FED + "/v2/invite/%s/%s" % (r_, e_),
                    {"event": ev, "room_version": version, "invite_room_state": junk()})
            req("PUT", FED + "/v2/send_join/%s/%s" % (q(room), q(eid)), raw_body=b"[1]")
        inv = copy.deepcopy(tmpl)
        inv.update(state_key="@alice:a.test", content={"membership": "invite"})
        seal(inv, key, "b.test")
        for body in ({"event": inv, "room_version": "999"}, {"event": inv, "room_version": None},
                     {"event": "x", "room_version": version}, {"event": inv, "room_version": version,
                                                                "invite_room_state": [junk(), {"type": 1}, nested(100)]},
                     {}, {"event": dict(inv, state_key="@alice:c.test"), "room_version": version}):
            req("PUT", FED + "/v2/invite/%s/%s" % (q(room), q(event_id(inv))), body)
        alive("batch 6")
        before = rows_check(before, "batch 6")

        # ---- batch 7: key queries with junk
        for body in ({"server_keys": junk()}, {"server_keys": {"a.test": junk(), "b.test": {"k": junk()}}},
                     {"server_keys": {"x%d.invalid" % i: {} for i in range(40)}},
                     {"server_keys": {"": {}, "\u0000": {}, "a" * 1000: {}}},
                     {"server_keys": {"a.test": {"ed25519:x": {"minimum_valid_until_ts": 2 ** 63 - 1}}}},
                     {"server_keys": {"a.test": {"ed25519:x": {"minimum_valid_until_ts": -(2 ** 63)}}}}):
            st, out = raw(a, "POST", "/_matrix/key/v2/query", json.dumps(body).encode(),
                          {"Content-Type": "application/json"})
            check_reply("key query", st, out)
        for rb in (b"", b"x", b"\xff", b"[]", b'{"server_keys":' * 3000):
            st, out = raw(a, "POST", "/_matrix/key/v2/query", rb, {"Content-Type": "application/json"})
            check_reply("key query raw", st, out)
        for path in ("/_matrix/key/v2/query/%s?minimum_valid_until_ts=%s" % (n, t)
                     for n in ("a.test", "%ff", "%", "", "x" * 300, "127.0.0.1:1")
                     for t in ("-1", "abc", "99999999999999999999999")):
            check_reply(path, *raw(a, "GET", path))
        for path in ("/_matrix/key/v2/server/%ff", "/_matrix/key/v2/server/x", "/_matrix/key/v2/server/" + "k" * 5000):
            check_reply(path, *raw(a, "GET", path))
        check_reply("directory", *req("GET", FED + "/v1/query/directory?room_alias=%ff"))
        check_reply("directory", *req("GET", FED + "/v1/query/directory"))
        check_reply("profile", *req("GET", FED + "/v1/query/profile?user_id=%40alice%3Aa.test&field=%ff"))
        check_reply("profile", *req("GET", FED + "/v1/query/profile?user_id=x"))
        alive("batch 7")
        before = rows_check(before, "batch 7")

        # ---- batch 8: malformed X-Matrix headers (every one must be a 401)
        uri = FED + "/v1/state_ids/%s" % q(room)
        good = xmatrix("b.test", "a.test", key, "GET", uri)
        bad_headers = [
            "", "X-Matrix", "X-Matrix ", "Bearer x", good.replace(",", ";"),
            good.replace("X-Matrix ", "X-Matrix"),
            'X-Matrix origin="b.test' , 'X-Matrix origin=', 'X-Matrix =,=,=', 'X-Matrix ,,,,,',
            'X-Matrix origin="' + "b" * 100000 + '"', good.replace('key="', 'key="x'),
            good.replace('sig="', 'sig="!!!'),
            good.replace('origin="b.test"', 'origin="B.TEST"'), good.replace('origin="b.test"', 'origin="a.test"'),
            good.replace('origin="b.test"', 'origin="b.test\\"x"'), 'X-Matrix ' + ','.join(['a="b"'] * 5000),
            good[:-5], good.replace("ed25519", "curve25519"),
        ]
        wrong = []
        for hdr in bad_headers:
            st, out = raw(a, "GET", uri, None, {"Authorization": hdr})
            check_reply("X-Matrix %r" % hdr[:60], st, out)
            if st not in (401, 431):
                wrong.append((hdr[:100], st))
        assert not wrong, wrong
        # Unquoted values and quoted-pair escapes are allowed (RFC 9110
        # auth-param), an empty destination reads as none (older senders).
        for hdr in (good.replace('"', ""), good.replace('sig="', 'sig="\\'),
                    good.replace('destination="a.test"', 'destination=""')):
            st, out = raw(a, "GET", uri, None, {"Authorization": hdr})
            check_reply("X-Matrix lenient", st, out)
            assert st in (200, 401), st
        # A parameter given twice: refused or, when both copies agree, taken.
        for hdr in (good + "," + good[len("X-Matrix "):], good + ',origin="c.test"'):
            st, out = raw(a, "GET", uri, None, {"Authorization": hdr})
            check_reply("X-Matrix duplicate", st, out)
            assert st == 401 or (st == 200 and "c.test" not in hdr), (hdr[:100], st, out)
        for bb in (b"X-Matrix origin=\"\xff\xfe\",destination=\"a.test\",key=\"ed25519:a\",sig=\"x\"",
                   b"X-Matrix origin=\"b.test\",destination=\"a.test\xc3\x28\",key=\"ed25519:a\",sig=\"x\"",
                   b"X-Matrix \x00\x01\x02"):
            st, out = raw(a, "GET", uri, None, {"Authorization": bb})
            check_reply("X-Matrix bytes", st, out)
            assert st == 401, (bb, st, out)
        # Signed over another body than the one sent.
        body = {"origin": "b.test", "pdus": [], "edus": []}
        hdr = xmatrix("b.test", "a.test", key, "PUT", FED + "/v1/send/fz8", {"x": 1})
        st, out = raw(a, "PUT", FED + "/v1/send/fz8", json.dumps(body).encode(), {"Authorization": hdr})
        check_reply("body mismatch", st, out)
        assert st == 401, (st, out)
        alive("batch 8")
        before = rows_check(before, "batch 8")

        # The good path still works after all this: a row written by B lands.
        st, out = send([row_event("fz-final", {"ok": True})])
        assert st == 200 and list(out["pdus"].values()) == [{}], out
        rows = table_rows(a, room)
        assert rows[(TYPE, "fz-final")][0] == {"ok": True}
        assert rows[(TYPE, "seed")][0] == {"v": 1}
        print("federation fuzz: %d requests, %d events accepted" % (stats["requests"], len(accepted)))

        final_checks(a)

if __name__ == "__main__":
    t0 = time.time()
    main()
    print("ok (%.1f s)" % (time.time() - t0))
