# test_fed_gap.py: a long gap in a room's graph is recovered. Three mxdbd
# (A, B, C) share a table. A is restarted with B's address pointing at a
# dead port, so A's events to B stay queued and B never hears from A. A
# writes 300 rows; they reach C. C then writes one row: its prev event is
# A's newest, so B lacks 300 ancestors. B must fetch them with repeated
# get_missing_events rounds from C (one round is at most 100 events) and
# store C's row; all three must then hold the same rows at the same
# versions. A's queue, once A can reach B again, changes nothing.
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, dead_port, q, table_rows, wait_for  # noqa: E402

TYPE = "com.example.todo"
N = 300


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
    a.register("alice")
    b.register("bob")
    c.register("carol")
    _, t = a.call("POST", "/_mxdb/v1/tables", {"name": "gap", "visibility": "public"})
    room = t["room_id"]
    for n in (b, c):
        _, out = n.client("POST", "/join/%s" % q("#gap:a.test"), {})
        assert out["room_id"] == room, out
    put(a, room, "base", {"v": 0})
    for n in cl.nodes:
        wait_for("base on " + n.name, lambda n=n: row(n, room, "base"))
    wait_for("B sees carol joined", lambda: b.client(
        "GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q("@carol:c.test")), ok=())[0] == 200)
    return room


def write_gap(a, c, room):
    """A writes N rows (they reach C, not B); returns the keys."""
    keys = ["r%03d" % i for i in range(N)]
    for k in keys:
        put(a, room, k, {"i": k})
    wait_for("A's rows on C", lambda: row(c, room, keys[-1]), timeout=30)
    wait_for("all of A's rows on C", lambda: len(table_rows(c, room, TYPE)) == N + 1, timeout=30)
    return keys


def c_queue(node, dest):
    """How many items node's outbound queue holds for dest (its own SQLite
    file, read while it runs: WAL allows that)."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(node.data, "mxdb.sqlite3"), uri=True, timeout=10)
    try:
        return db.execute("SELECT count(*) FROM fed_outbox WHERE destination = ?", (dest,)).fetchone()[0]
    finally:
        db.close()


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
        keys = write_gap(a, c, room)
        assert row(b, room, keys[0]) is None, "B got A's rows although A cannot reach it"
        put(c, room, "from-c", {"by": "c"})
        wait_for("C's row on B", lambda: row(b, room, "from-c"), timeout=40)
        rows = same_rows(cl, room, N + 2)
        assert rows["b.test"][(TYPE, "from-c")][0] == {"by": "c"}
        # A reaches B again: its queued events are known there already.
        reconnect(a, b)
        put(a, room, "after", {"v": 1})
        wait_for("after on all", lambda: all(row(n, room, "after") for n in cl.nodes), timeout=30)
        same_rows(cl, room, N + 3)


def kept_pending():
    """B may fetch only 20 events per gap (federation_max_gap_events): it
    cannot place C's row and keeps it pending, until A's queue, once A
    reaches B again, brings the ancestors; then C's row is placed."""
    with Cluster(["a.test", "b.test", "c.test"],
                 per_node={"b.test": ["--federation-max-gap-events", "20"]}) as cl:
        a, b, c = cl.nodes
        room = setup(cl)
        cut_a_from_b(a, b.name)
        write_gap(a, c, room)
        put(c, room, "from-c", {"by": "c"})
        # C's row reached B (its transaction was answered) but is not placed.
        wait_for("C's queue to B drained", lambda: not c_queue(c, b.name))
        assert row(b, room, "from-c") is None, "a gap over the bound was closed"
        reconnect(a, b)
        wait_for("C's row on B", lambda: row(b, room, "from-c"), timeout=40)
        rows = same_rows(cl, room, N + 2)
        assert rows["b.test"][(TYPE, "from-c")][0] == {"by": "c"}


def main():
    t0 = time.time()
    closed_by_fetching()
    t1 = time.time()
    kept_pending()
    print("test_fed_gap: ok (gap of %d events: fetched in %.1f s; over the bound, kept pending: %.1f s)" %
          (N, t1 - t0, time.time() - t1))


main()
