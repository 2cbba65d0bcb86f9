# test_fed_cluster.py: three real mxdbd on loopback replicating over Matrix
# federation. A table created on A is joined from B and C (by alias, through
# the client API); a row written on any node becomes readable on all three
# with the same version; each node's change feed (the HTTP catch-up form of
# the nng records) reports it, "local" where written and "remote" elsewhere;
# concurrent writes of one row on all three converge on one winner, with
# "merge" records where a winner changed; typing and read receipts cross
# over as EDUs.
import sys
import os
import threading

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, q, shared_table, wait_for  # noqa: E402

TYPE = "com.example.todo"


def row(node, room, key):
    status, out = node.call("GET", "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(room), TYPE, q(key)), ok=())
    return out if status == 200 else None


def put(node, room, key, value):
    _, out = node.call("PUT", "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(room), TYPE, q(key)), value)
    return out["event_id"]


def changes(node, room):
    _, out = node.call("GET", "/_mxdb/v1/changes?since=0&limit=10000&room=%s" % q(room))
    return out["changes"]


def version(node, room, key):
    for c in reversed(changes(node, room)):
        if c["type"] == TYPE and c["key"] == key:
            return c["event"]
    return None


def main():
    with Cluster(["a.test", "b.test", "c.test"]) as cl:
        a, b, c = cl.nodes
        room = shared_table(cl, "todo")
        # Everyone knows everyone: C's join reached B through A.
        wait_for("B sees carol joined", lambda: b.client(
            "GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q("@carol:c.test")), ok=())[0] == 200)

        written = {}
        for n, key in ((a, "from-a"), (b, "from-b"), (c, "from-c")):
            written[key] = (n, put(n, room, key, {"by": n.name}))
            for m in cl.nodes:
                wait_for("%s on %s" % (key, m.name), lambda m=m, key=key: row(m, room, key))
                assert row(m, room, key) == {"by": n.name}
        for key, (origin, event) in written.items():
            for m in cl.nodes:
                recs = [x for x in changes(m, room) if x["key"] == key]
                assert recs and recs[-1]["event"] == event, (m.name, key, recs)
                want = "local" if m is origin else "remote"
                assert recs[-1]["cause"] == want, (m.name, key, recs[-1])
                assert recs[-1]["content"] == {"by": origin.name}

        # The same row written on all three at once: one winner everywhere.
        threads = [threading.Thread(target=put, args=(n, room, "contested", {"by": n.name}))
                   for n in cl.nodes]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

        def converged():
            vs = [version(m, room, "contested") for m in cl.nodes]
            rows = [row(m, room, "contested") for m in cl.nodes]
            return vs[0] and len(set(vs)) == 1 and all(r == rows[0] for r in rows) and vs
        wait_for("the contested row converges", converged, timeout=30)
        merges = sum(1 for m in cl.nodes for x in changes(m, room)
                     if x["key"] == "contested" and x["cause"] == "merge")
        locals_ = sum(1 for m in cl.nodes for x in changes(m, room)
                      if x["key"] == "contested" and x["cause"] == "local")
        assert locals_ == 3, locals_
        # The node whose own write won changed no winner; the others did,
        # unless a remote write arrived before their own (then it was remote).
        print("contested: %d merge records" % merges)
        # EDUs: bob types and reads on B; alice's sync on A shows both.
        b.client("PUT", "/rooms/%s/typing/%s" % (q(room), q(b.user)), {"typing": True, "timeout": 30000})
        ev = written["from-a"][1]
        b.client("POST", "/rooms/%s/receipt/m.read/%s" % (q(room), q(ev)), {})

        def ephemeral(kind):
            _, out = a.client("GET", "/sync?timeout=0")
            evs = out.get("rooms", {}).get("join", {}).get(room, {}).get("ephemeral", {}).get("events", [])
            return [e for e in evs if e["type"] == kind]
        wait_for("bob typing on A", lambda: any(b.user in e["content"].get("user_ids", [])
                                                for e in ephemeral("m.typing")))
        wait_for("bob's receipt on A", lambda: any(
            b.user in e["content"].get(ev, {}).get("m.read", {}) for e in ephemeral("m.receipt")))
        # Rows written before stay identical everywhere.
        for key in written:
            assert len({version(m, room, key) for m in cl.nodes}) == 1, key
    print("test_fed_cluster: ok")


main()
