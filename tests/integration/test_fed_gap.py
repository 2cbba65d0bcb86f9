# test_fed_gap.py: long gaps in a room's graph are recovered. Three mxdbd
# (A, B, C) share a table. A is restarted with B's address pointing at a
# dead port, so A's events to B stay queued and B never hears from A. A
# writes 300 times; the events reach C. C then writes one row: its prev
# event is A's newest, so B lacks 300 ancestors.
# 1. B fetches them with repeated get_missing_events rounds from C (one
#    round is at most 100 events) and stores C's row; all three then hold
#    the same rows at the same versions. A's queue, once A can reach B
#    again, changes nothing.
# 2. B may fetch only 20 events per gap (federation_max_gap_events), and A
#    wrote each of 150 keys twice: B takes the state at the missing prev
#    event from C (/state_ids, /state), stores those events as outliers
#    (not in its timeline) and places C's row over the gap; its rows then
#    equal C's. Walking back to the gap on B (get_missing_events and
#    backfill served by B, /messages) answers what B has; /state_ids at an
#    outlier is 404.
#    Once A reaches B again, the missing events arrive late and the
#    outliers join the timeline: B's timeline then equals C's.
# 3. An event whose prev event only a server other than the origin has is
#    placed from that server's state; one whose prev event no server has is
#    kept pending on B, and placed as soon as that prev event arrives; one
#    whose auth event B lacks gets it fetched (from A, the origin lacks it)
#    and is judged, not kept pending for good.
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, dead_port, q, shared_table, table_rows, wait_for  # noqa: E402
from keylib import Fed, event_id, load_key, seal  # noqa: E402

TYPE = "com.example.todo"
N = 300
FIGURES = {}  # seconds from C's write to its row on B


def put(node, room, key, value):
    _, out = node.call("PUT", "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(room), TYPE, q(key)), value)
    return out["event_id"]


def row(node, room, key):
    status, out = node.call("GET", "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(room), TYPE, q(key)), ok=())
    return out if status == 200 else None


def cut_a_from_b(a, b_name):
    """Restarts A with B's --peer entry at a dead port."""
    a.stop()
    a.peers = [p for p in a.peers if not p.startswith(b_name + "=")] + \
        ["%s=127.0.0.1:%d" % (b_name, dead_port())]
    a.start()


def setup(cl):
    a, b, c = cl.nodes
    room = shared_table(cl, "gap")
    put(a, room, "base", {"v": 0})
    for n in cl.nodes:
        wait_for("base on " + n.name, lambda n=n: row(n, room, "base"))
    wait_for("B sees carol joined", lambda: b.client(
        "GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q("@carol:c.test")), ok=())[0] == 200)
    return room


def write_gap(a, c, room, n_keys=N):
    """A writes N times over n_keys keys (the events reach C, not B);
    returns the event IDs in order."""
    ids = []
    for i in range(N):
        ids.append(put(a, room, "r%03d" % (i % n_keys), {"i": i}))
    wait_for("A's last write on C", lambda: (row(c, room, "r%03d" % ((N - 1) % n_keys)) or {}).get("i") == N - 1,
             timeout=30)
    return ids


def timeline(node, room):
    """The IDs of the table's row events in node's timeline (/messages,
    newest first, every page)."""
    out, frm = [], ""
    for _ in range(100):
        _, page = node.client("GET", "/rooms/%s/messages?dir=b&limit=1000%s" % (q(room), frm))
        out += [e["event_id"] for e in page["chunk"] if e["type"] == TYPE]
        if not page["chunk"] or "end" not in page:
            return out
        frm = "&from=" + q(page["end"])
    raise AssertionError("too many pages")


def reconnect(a, b):
    """Restarts A with B's real address: A's queue to B drains."""
    a.stop()
    a.peers = [p for p in a.peers if not p.startswith(b.name + "=")] + ["%s=127.0.0.1:%d" % (b.name, b.port)]
    a.start()


def same_rows(cl, room, want):
    rows = {n.name: table_rows(n, room, TYPE) for n in cl.nodes}
    for n in cl.nodes:
        assert len(rows[n.name]) == want, (n.name, len(rows[n.name]), want)
        assert rows[n.name] == rows[cl.nodes[0].name], n.name
    return rows


def closed_by_fetching():
    """B closes the gap itself, fetching from C in several rounds."""
    with Cluster(["a.test", "b.test", "c.test"]) as cl:
        a, b, c = cl.nodes
        room = setup(cl)
        cut_a_from_b(a, b.name)
        write_gap(a, c, room)
        assert row(b, room, "r000") is None, "B got A's rows although A cannot reach it"
        t0 = time.time()
        put(c, room, "from-c", {"by": "c"})
        wait_for("C's row on B", lambda: row(b, room, "from-c"), timeout=40)
        FIGURES["fetched"] = time.time() - t0
        rows = same_rows(cl, room, N + 2)
        assert rows["b.test"][(TYPE, "from-c")][0] == {"by": "c"}
        # A reaches B again: its queued events are known there already.
        reconnect(a, b)
        put(a, room, "after", {"v": 1})
        wait_for("after on all", lambda: all(row(n, room, "after") for n in cl.nodes), timeout=30)
        same_rows(cl, room, N + 3)


def over_the_bound():
    """B fetches at most 20 events per gap: the rest comes from the state."""
    bound = 20
    with Cluster(["a.test", "b.test", "c.test"],
                 per_node={"b.test": ["--federation-max-gap-events", str(bound)]}) as cl:
        a, b, c = cl.nodes
        room = setup(cl)
        cut_a_from_b(a, b.name)
        ids = write_gap(a, c, room, n_keys=N // 2)
        t0 = time.time()
        from_c = put(c, room, "from-c", {"by": "c"})
        wait_for("C's row on B", lambda: row(b, room, "from-c"), timeout=40)
        FIGURES["from the state"] = time.time() - t0
        same_rows(cl, room, N // 2 + 2)
        # The outliers are in no timeline: B shows base, the fetched events, C's row.
        tl = timeline(b, room)
        assert len(tl) == 1 + bound + 1 and tl[0] == from_c and tl[1:bound + 1] == ids[::-1][:bound], tl
        # Walking back to the gap (served by B, asked as C): it ends where B's
        # history does, answering what it has.
        fed = Fed(b, c.name, load_key(os.path.join(c.data, "signing.key")))
        st, got = fed.request("POST", "/_matrix/federation/v1/get_missing_events/%s" % q(room),
                              {"earliest_events": [], "latest_events": [from_c], "limit": 1000})
        assert st == 200, (st, got)
        walked = [event_id(e) for e in got["events"]]
        check_walk(walked, ids, bound)
        # min_depth: nothing below it is answered or walked through.
        depth = {event_id(e): e["depth"] for e in got["events"]}
        st, got = fed.request("POST", "/_matrix/federation/v1/get_missing_events/%s" % q(room),
                              {"earliest_events": [], "latest_events": [from_c], "limit": 1000,
                               "min_depth": depth[ids[N - 10]]})
        assert st == 200 and {event_id(e) for e in got["events"]} == set(ids[N - 10:]), got
        st, got = fed.request("GET", "/_matrix/federation/v1/backfill/%s?v=%s&limit=1000" % (q(room), q(from_c)))
        assert st == 200, (st, got)
        walked = [event_id(e) for e in got["pdus"]]
        assert walked[0] == from_c, walked[:3]
        check_walk(walked, ids, bound)
        # The state at an outlier is not known on B; before the event placed
        # over the gap it is (it holds that outlier).
        state_at = "/_matrix/federation/v1/state_ids/%s?event_id=%s"
        st, _ = fed.request("GET", state_at % (q(room), q(ids[N - bound - 1])))
        assert st == 404, st
        st, got = fed.request("GET", state_at % (q(room), q(ids[N - bound])))
        assert st == 200 and ids[N - bound - 1] in got["pdu_ids"] and ids[N - bound] not in got["pdu_ids"], st
        # A reaches B again: the missing events arrive late, the outliers join the timeline.
        reconnect(a, b)
        want = len(timeline(c, room))
        wait_for("B's timeline complete", lambda: len(timeline(b, room)) == want, timeout=40)
        assert sorted(timeline(b, room)) == sorted(timeline(c, room))
        same_rows(cl, room, N // 2 + 2)


def check_walk(walked, ids, bound):
    """A walk back from C's row on B: A's fetched events, then it ends at
    the outliers (no history known before them); none of the events
    missing on B, no event twice. A wrote key i % (N/2) at step i and B
    fetched the last `bound` writes, so the state before them holds the
    writes from N/2 - bound on (outliers); those before are missing."""
    held = N // 2 - bound
    assert len(walked) == len(set(walked)), "an event twice"
    got = set(walked)
    assert set(ids[N - bound:]) <= got, "a fetched event is missing from the walk"
    assert not got & set(ids[held:N - bound]), "the walk went past an outlier"
    assert not got & set(ids[:held]), "an event B does not have"


def other_server_and_pending():
    """Spoken to B as C (C's key), with events of carol that C itself never
    saw. (a) B lacks the prev event and the origin C has nothing, but A has
    it: B takes the state at it from A and places the event. (b) An event
    whose prev event no server has is kept pending on B (not lost), and
    placed once that prev event arrives."""
    with Cluster(["a.test", "b.test", "c.test"]) as cl:
        a, b, c = cl.nodes
        room = setup(cl)
        key = load_key(os.path.join(c.data, "signing.key"))
        fed, to_a = Fed(b, c.name, key), Fed(a, c.name, key)
        st, ids = fed.request("GET", "/_matrix/federation/v1/state_ids/%s" % q(room))
        assert st == 200, ids
        by_key = {}
        for eid in ids["pdu_ids"]:
            _, out = fed.request("GET", "/_matrix/federation/v1/event/%s" % q(eid))
            by_key[(out["pdus"][0]["type"], out["pdus"][0].get("state_key"))] = eid
        _, made = fed.request("GET", "/_matrix/federation/v1/make_join/%s/%s?ver=10&ver=11&ver=12" %
                              (q(room), q("@eve:c.test")))
        prev, depth = made["event"]["prev_events"], made["event"]["depth"]

        def row_event(key, prev, depth):
            ev = {"auth_events": [by_key[("m.room.power_levels", "")],
                                  by_key[("m.room.member", "@carol:c.test")]],
                  "prev_events": prev, "depth": depth, "content": {"k": key},
                  "origin_server_ts": int(time.time() * 1000), "room_id": room, "sender": "@carol:c.test",
                  "type": TYPE, "state_key": key}
            if made["room_version"] not in ("12",):
                ev["auth_events"].append(by_key[("m.room.create", "")])
            return seal(ev, fed.key, c.name)

        # (a) Only A has o1.
        o1 = row_event("o1", prev, depth)
        o2 = row_event("o2", [event_id(o1)], depth + 1)
        st, out = to_a.send("other-1", [o1])
        assert st == 200 and out["pdus"][event_id(o1)] == {}, out
        st, out = fed.send("other-2", [o2])
        assert st == 200 and out["pdus"][event_id(o2)] == {}, out
        assert row(b, room, "o1") == {"k": "o1"} and row(b, room, "o2") == {"k": "o2"}

        # (b) Nobody has p1 yet.
        p1 = row_event("p1", [event_id(o2)], depth + 2)
        p2 = row_event("p2", [event_id(p1)], depth + 3)
        st, out = fed.send("gap-1", [p2])
        assert st == 200 and "error" in out["pdus"][event_id(p2)], out
        assert row(b, room, "p2") is None
        st, out = fed.send("gap-2", [p1])
        assert st == 200 and out["pdus"][event_id(p1)] == {}, out
        # p1's arrival placed the pending p2.
        assert row(b, room, "p1") == {"k": "p1"} and row(b, room, "p2") == {"k": "p2"}

        # (c) An auth event only A has: eve's join, sent to A alone. Her row,
        # over prev events B has, reaches B: B fetches the join (the origin
        # lacks it, A has it) and judges the row.
        _, tmpl = to_a.request("GET", "/_matrix/federation/v1/make_join/%s/%s?ver=10&ver=11&ver=12" %
                               (q(room), q("@eve:c.test")))
        join = dict(tmpl["event"], origin_server_ts=int(time.time() * 1000))
        join.pop("signatures", None)
        join.pop("hashes", None)
        join = seal(join, fed.key, c.name)
        st, out = to_a.send("eve-join", [join])
        assert st == 200 and out["pdus"][event_id(join)] == {}, out
        _, made = fed.request("GET", "/_matrix/federation/v1/make_join/%s/%s?ver=10&ver=11&ver=12" %
                              (q(room), q("@frank:c.test")))
        ev = row_event("by-eve", made["event"]["prev_events"], made["event"]["depth"])
        ev["sender"] = "@eve:c.test"
        ev["auth_events"] = [by_key[("m.room.power_levels", "")], event_id(join)] + \
            ([by_key[("m.room.create", "")]] if made["room_version"] not in ("12",) else [])
        ev.pop("signatures")
        ev.pop("hashes")
        ev = seal(ev, fed.key, c.name)
        # Her join is in no state before the row: B decides (rejects) as A
        # does, where it used to keep the row pending for good.
        st, out = fed.send("eve-row", [ev])
        assert st == 200 and "not joined" in out["pdus"][event_id(ev)].get("error", ""), out
        st, out = to_a.send("eve-row", [ev])
        assert st == 200 and "not joined" in out["pdus"][event_id(ev)].get("error", ""), out
        assert row(b, room, "by-eve") is None and row(a, room, "by-eve") is None


def main():
    closed_by_fetching()
    over_the_bound()
    other_server_and_pending()
    print("test_fed_gap: ok (a gap of %d events; C's row on B after: %s)" %
          (N, ", ".join("%s %.2f s" % kv for kv in FIGURES.items())))


main()
