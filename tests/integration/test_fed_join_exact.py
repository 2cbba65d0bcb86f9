# test_fed_join_exact.py: joins over federation answer and store exactly the
# state before the join, with real mxdbd on loopback and events crafted
# here (signedjson/canonicaljson) with the real key of B, which joined A's
# table. Two rows written concurrently (both citing the same head) leave A
# with two forward extremities; a join then cites both:
# - a send_join done here answers as state exactly A's state before the
#   join (A's current state just before), and an auth chain that closes it;
# - carol of C joins through her client: A's and C's /state_ids at her join
#   both equal that state; C's copy holds both rows; the events C got in the
#   answer are outliers there: /state_ids at one is 404 M_NOT_FOUND, they
#   are in no timeline (/sync, /messages), and backfill from the join stops
#   at them.
# Also: make_join reads every `ver` (the room's version last still works)
# and answers M_INCOMPATIBLE_ROOM_VERSION when it is not among them.
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, q, shared_table, wait_for  # noqa: E402
from keylib import Fed, event_id, load_key, seal  # noqa: E402

TYPE = "com.example.todo"


def main():
    with Cluster(["a.test", "b.test", "c.test"]) as cl:
        a, b, c = cl.nodes
        room = shared_table(cl, "t", joiners=[b])
        key = load_key(os.path.join(b.data, "signing.key"))
        fa, fc = Fed(a, "b.test", key), Fed(c, "b.test", key)

        def make_join(user, vers):
            return fa.request("GET", "/_matrix/federation/v1/make_join/%s/%s%s"
                              % (q(room), q(user), "".join("%sver=%s" % ("&" if i else "?", v)
                                                            for i, v in enumerate(vers))))

        # make_join: every ver is read; the room's version last is found.
        st, made = make_join("@dan:b.test", ["10", "11", "12"])
        assert st == 200, made
        version = made["room_version"]
        st, made = make_join("@dan:b.test", ["1", "2", "9", version])
        assert st == 200 and made["room_version"] == version, made
        st, bad = make_join("@dan:b.test", ["1", "2"])
        assert st == 400 and bad["errcode"] == "M_INCOMPATIBLE_ROOM_VERSION", bad
        assert bad["room_version"] == version, bad
        st, bad = make_join("@dan:b.test", [])  # none means ["1"]
        assert st == 400 and bad["errcode"] == "M_INCOMPATIBLE_ROOM_VERSION", bad

        def state_ids(fed, at=None):
            st, out = fed.request("GET", "/_matrix/federation/v1/state_ids/%s%s"
                                  % (q(room), "?event_id=" + q(at) if at else ""))
            return st, out

        _, cur = state_ids(fa)
        by_key = {}
        for eid in cur["pdu_ids"]:
            _, out = fa.request("GET", "/_matrix/federation/v1/event/%s" % q(eid))
            pdu = out["pdus"][0]
            by_key[(pdu["type"], pdu.get("state_key"))] = eid

        def row_event(k, value, prev, depth):
            auth = [by_key[("m.room.power_levels", "")], by_key[("m.room.member", "@bob:b.test")]]
            if version != "12":
                auth.append(by_key[("m.room.create", "")])
            ev = {"auth_events": auth, "prev_events": prev, "depth": depth, "content": value,
                  "origin_server_ts": int(time.time() * 1000), "room_id": room,
                  "sender": "@bob:b.test", "type": TYPE, "state_key": k}
            return seal(ev, key, "b.test")

        # Two writes citing the same head: A has two forward extremities.
        head = made["event"]["prev_events"]
        depth = made["event"]["depth"]
        x = row_event("x", {"v": "x"}, head, depth)
        y = row_event("y", {"v": "y"}, head, depth)
        st, out = fa.send("t-fork", [x, y])
        assert st == 200 and out["pdus"] == {event_id(x): {}, event_id(y): {}}, out
        _, made = make_join("@dan:b.test", [version])
        prevs = made["event"]["prev_events"]
        assert sorted(prevs) == sorted([event_id(x), event_id(y)]), prevs

        # The state before a join citing both: A's current state now.
        _, before = state_ids(fa)
        expected = set(before["pdu_ids"])
        assert {event_id(x), event_id(y)} <= expected

        # Our own send_join (dan of B): the answer's state is exactly that.
        join = dict(made["event"])
        join.pop("origin", None)
        join["origin_server_ts"] = int(time.time() * 1000)
        seal(join, key, "b.test")
        jid = event_id(join)
        st, ans = fa.request("PUT", "/_matrix/federation/v2/send_join/%s/%s" % (q(room), q(jid)), join)
        assert st == 200, ans
        got = {event_id(p) for p in ans["state"]}
        assert got == expected, (got ^ expected)
        chain = {event_id(p) for p in ans["auth_chain"]}
        for p in ans["state"] + ans["auth_chain"] + [join]:
            missing = set(p["auth_events"]) - got - chain
            assert not missing, (p["type"], missing)
        # /state_ids at the join on A: the state before it, the same set.
        st, at = state_ids(fa, jid)
        assert st == 200 and set(at["pdu_ids"]) == expected, at

        # Another fork, then carol joins from C through her client: her join
        # cites both heads again.
        _, made = make_join("@dan:b.test", [version])
        head, depth = made["event"]["prev_events"], made["event"]["depth"]
        by_key[("m.room.member", "@dan:b.test")] = jid
        x2 = row_event("x", {"v": "x2"}, head, depth)
        z = row_event("z", {"v": "z"}, head, depth)
        st, out = fa.send("t-fork2", [x2, z])
        assert st == 200 and out["pdus"] == {event_id(x2): {}, event_id(z): {}}, out
        _, before = state_ids(fa)
        expected = set(before["pdu_ids"])
        _, j = c.client("POST", "/join/%s" % q("#t:a.test"), {})
        assert j["room_id"] == room, j
        _, mine = c.client("GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q("@carol:c.test")))
        assert mine["membership"] == "join"
        _, full = c.client("GET", "/rooms/%s/state" % q(room))
        carol_join = [e for e in full if e["type"] == "m.room.member"
                      and e["state_key"] == "@carol:c.test"][0]["event_id"]
        st, pdu = fa.request("GET", "/_matrix/federation/v1/event/%s" % q(carol_join))
        assert st == 200 and len(pdu["pdus"][0]["prev_events"]) == 2, pdu
        st, at_a = state_ids(fa, carol_join)
        assert st == 200 and set(at_a["pdu_ids"]) == expected, set(at_a["pdu_ids"]) ^ expected
        wait_for("C knows b.test's key", lambda: state_ids(fc, carol_join)[0] == 200)
        st, at_c = state_ids(fc, carol_join)
        assert set(at_c["pdu_ids"]) == expected, set(at_c["pdu_ids"]) ^ expected
        # C's table: the rows as A resolved them.
        for k in ("x", "y", "z"):
            _, va = a.call("GET", "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(room), TYPE, k))
            _, vc = c.call("GET", "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(room), TYPE, k))
            assert va == vc, (k, va, vc)

        # A row C knows only from the join's state has that one version.
        _, h = c.call("GET", "/_mxdb/v1/tables/%s/rows/%s/y?history=true" % (q(room), TYPE))
        assert [(v["event_id"], v["winner"]) for v in h["versions"]] == [(event_id(y), True)], h

        # The answer's events are outliers on C.
        st, err = state_ids(fc, event_id(z))
        assert st == 404 and err["errcode"] == "M_NOT_FOUND", (st, err)
        st, ev = fc.request("GET", "/_matrix/federation/v1/event/%s" % q(event_id(z)))
        assert st == 200 and ev["pdus"][0]["content"] == {"v": "z"}, ev
        st, bf = fc.request("GET", "/_matrix/federation/v1/backfill/%s?v=%s&limit=20"
                            % (q(room), q(carol_join)))
        assert st == 200 and [event_id(p) for p in bf["pdus"]] == [carol_join], bf
        _, s = c.client("GET", "/sync?timeout=0")
        joined = s["rooms"]["join"][room]
        timeline = [e["event_id"] for e in joined["timeline"]["events"]]
        assert timeline == [carol_join], timeline
        assert expected <= {e["event_id"] for e in joined["state"]["events"]}
        _, msgs = c.client("GET", "/rooms/%s/messages?dir=b&limit=50" % q(room))
        assert [e["event_id"] for e in msgs["chunk"]] == [carol_join], msgs
        if msgs.get("end"):
            _, more = c.client("GET", "/rooms/%s/messages?dir=b&limit=50&from=%s"
                               % (q(room), q(msgs["end"])))
            assert more["chunk"] == [], more

        # Life goes on: a row of A reaches C, one of C reaches A.
        a.put_row(room, "after", {"by": "a"})
        wait_for("A's row on C", lambda: c.get_row(room, "after"))
        c.put_row(room, "from-c", {"by": "c"})
        wait_for("C's row on A", lambda: a.get_row(room, "from-c"))
    print("ok")


if __name__ == "__main__":
    main()
