# test_fed_heal.py: convergence after partitions, end to end. Three mxdbd
# (A, B, C) share a table. Seeded rounds each cut the cluster (A|B with C
# seeing both, or A|BC: a node is cut from another by restarting it with
# that peer's --peer entry at a dead port, both ways), write at random on
# every side (the same keys on both sides, keys of one side, deletes, rows
# overwritten several times, power-level changes, a user leaving and
# rejoining), heal (real addresses again) and wait until quiet. Then every
# node must return the same rows at the same versions and the same current
# state (/state_ids), no write of one side may be lost unless the resolved
# power levels forbid its sender (or it was lost on its own side already),
# a row a node's side wrote whose winner
# became the other side's at the heal must have a `merge` record there,
# every row changed at the heal a record, and replaying a node's change
# feed must give its table. The last round writes more events on A than B may fetch
# (federation_max_gap_events) while C relays them: B places C's row from the
# state at the gap, and A's events arrive late at the heal.
# Then a fixed case: after such a fallback B keeps its old extremity beside
# the event placed over the gap; A's late events must drop it and B's
# state become the others' again (a row written in the gap and forbidden by
# a level raised after it told them apart).
# A new row of B's that loses its fork (A raised the level) shows nowhere.
# A write of A's over one of B's that C relayed to A changes B's row at the
# heal as a plain `remote` change (no merge: A's event extends B's state).
# Last, D joins through A while cut from B: after the heal and one new
# event, all four nodes hold the same rows and state.
# MXDB_HEAL_SEED picks another scenario (the seed is printed),
# MXDB_HEAL_ROUNDS how many pairs of rounds come before the gap (2).
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, dead_port, q, shared_table, table_rows, wait_for  # noqa: E402
from keylib import Fed, load_key  # noqa: E402

TYPE = "com.example.todo"
PL = "m.room.power_levels"
MAX_GAP = 20
SEED = int(os.environ.get("MXDB_HEAL_SEED", "20261125"))
T0 = time.time()


def req(node, token, method, path, body=None, ok=(200,)):
    saved, node.token = node.token, token
    try:
        return node.call(method, path, body, ok=ok)
    finally:
        node.token = saved


def row_path(room, key):
    return "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(room), TYPE, q(key))


class World:
    def __init__(self, cl, room):
        self.cl, self.room = cl, room
        self.a, self.b, self.c = cl.nodes[:3]
        self.ports = {n.name: n.port for n in cl.nodes}
        self.cut = set()
        self.extra = {}  # node name -> (user id, token, joined): a second user, who leaves and rejoins

    def node(self, name):
        return next(n for n in self.cl.nodes if n.name == name)

    def set_links(self, cut):
        """Restarts the nodes whose cut peers change: pairs in cut get dead ports."""
        def cuts(n, pairs):
            return {m.name for m in self.cl.nodes if (n.name, m.name) in pairs or (m.name, n.name) in pairs}
        for n in self.cl.nodes:
            if cuts(n, cut) == cuts(n, self.cut):
                continue
            n.stop()
            n.peers = ["%s=127.0.0.1:%d" % (m.name, dead_port() if m.name in cuts(n, cut) else self.ports[m.name])
                       for m in self.cl.nodes if m is not n]
            n.start()
        self.cut = set(cut)

    def head(self, node):
        _, out = node.call("GET", "/_mxdb/v1/changes?since=0&limit=1&room=%s" % q(self.room))
        return out["head"]

    def changes(self, node):
        out, since = [], 0
        for _ in range(100):
            _, page = node.call("GET", "/_mxdb/v1/changes?since=%d&limit=10000&room=%s" % (since, q(self.room)))
            out += page["changes"]
            if not page["changes"]:
                return out
            since = page["changes"][-1]["seq"]
        raise AssertionError("too many change pages")

    def power(self, node):
        _, pl = node.client("GET", "/rooms/%s/state/%s/" % (q(self.room), PL))
        return pl

    def state_ids(self, node, full=False):
        other = next(n for n in self.cl.nodes if n is not node)
        fed = Fed(node, other.name, load_key(os.path.join(other.data, "signing.key")))
        st, out = fed.request("GET", "/_matrix/federation/v1/state_ids/%s" % q(self.room))
        assert st == 200, (node.name, st, out)
        return out if full else sorted(out["pdu_ids"])

    def state_before(self, node, event_id):
        """The event IDs of node's state before event_id."""
        other = next(n for n in self.cl.nodes if n is not node)
        fed = Fed(node, other.name, load_key(os.path.join(other.data, "signing.key")))
        st, out = fed.request("GET", "/_matrix/federation/v1/state_ids/%s?event_id=%s" % (
            q(self.room), q(event_id)))
        assert st == 200, (node.name, event_id, st, out)
        return set(out["pdu_ids"])

    def quiet(self, nodes, still=0.8, timeout=20):
        """Waits until no node's change head moves for `still` seconds."""
        last, since, deadline = None, time.time(), time.time() + timeout
        while time.time() < deadline:
            now = [self.head(n) for n in nodes]
            if now != last:
                last, since = now, time.time()
            elif time.time() - since >= still:
                return
            time.sleep(0.1)
        raise AssertionError("nodes never went quiet")


class Side:
    """The writes of one side of a partition in one round."""

    def __init__(self, w, nodes, rnd):
        self.w, self.nodes, self.rnd = w, nodes, rnd
        self.last = {}  # key -> (content or None, sender)
        self.ids = {}  # key -> the last write's event ID
        self.left = set()  # users who left (and came back) in this round

    def write(self, node, token, user, key, content):
        if content is None:
            st, out = req(node, token, "DELETE", row_path(self.w.room, key), ok=())
        else:
            st, out = req(node, token, "PUT", row_path(self.w.room, key), content, ok=())
        assert st in (200, 403) or (st == 404 and content is None), (node.name, key, st)
        if st == 200:
            self.last[key] = (content, user)
            self.ids[key] = out["event_id"]

    def writers(self):
        out = []
        for n in self.nodes:
            out.append((n, n.token, n.user))
            if n.name in self.w.extra and self.w.extra[n.name][2]:
                uid, tok, _ = self.w.extra[n.name]
                out.append((n, tok, uid))
        return out

    def random_writes(self, rng, shared, count):
        for i in range(count):
            node, tok, user = rng.choice(self.writers())
            roll = rng.random()
            if roll < 0.35:
                key = rng.choice(shared)
            elif roll < 0.55 and self.last:
                key = rng.choice(sorted(self.last))
            else:
                key = "r%d-%s-%d" % (self.rnd, node.name[0], i)
            content = None if rng.random() < 0.15 else {"v": i, "by": user, "round": self.rnd}
            self.write(node, tok, user, key, content)

    def power_change(self, rng):
        """Alice (or bob once he may) changes the power levels on this side."""
        for node in self.nodes:
            pl = self.w.power(node)
            me = node.user
            need = pl.get("events", {}).get(PL, pl.get("state_default", 50))
            if level(pl, me) < need:
                continue
            what = rng.choice(["type", "user", "both"])
            pl.setdefault("events", {})
            pl.setdefault("users", {})
            if what in ("type", "both"):
                pl["events"][TYPE] = rng.choice([0, 50])
            if what in ("user", "both"):
                other = rng.choice([m for m in self.w.cl.nodes if m is not node])
                pl["users"][other.user] = rng.choice([0, 50, 100])
            st, _ = node.client("PUT", "/rooms/%s/state/%s/" % (q(self.w.room), PL), pl, ok=())
            return node.name, what, st
        return None

    def membership(self, rng):
        names = [n.name for n in self.nodes if n.name in self.w.extra]
        if not names:
            return
        name = rng.choice(names)
        uid, tok, joined = self.w.extra[name]
        node = self.w.node(name)
        if joined:
            req(node, tok, "POST", "/_matrix/client/v3/rooms/%s/leave" % q(self.w.room), {})
            self.w.extra[name] = (uid, tok, False)
            self.left.add(uid)
        req(node, tok, "POST", "/_matrix/client/v3/join/%s" % q(self.w.room), {})
        self.w.extra[name] = (uid, tok, True)


def level(pl, user):
    if user.startswith("@alice:"):  # the creator (v12: above every level)
        return 1 << 60
    return pl.get("users", {}).get(user, pl.get("users_default", 0))


def all_same(cl, room):
    rows = [table_rows(n, room) for n in cl.nodes]
    return all(r == rows[0] for r in rows)


def settle(cl, room, timeout=20):
    """Waits (bounded) until every node holds the same rows."""
    deadline = time.time() + timeout
    while not all_same(cl, room) and time.time() < deadline:
        time.sleep(0.2)


def dump_logs(cl):
    """Each node's log, without the partition's failed sends."""
    for n in cl.nodes:
        lines = [x for x in open(n.data + ".log", errors="replace") if "failed (0 PUT" not in x]
        print("---- %s log, %d lines\n%s" % (n.name, len(lines), "".join(lines[-40:])[-6000:]))


def sender_may_write(pl, members, user):
    if members.get(user) != "join":
        return False
    need = pl.get("events", {}).get(TYPE, pl.get("state_default", 50))
    return level(pl, user) >= need


def members_of(w, node):
    _, out = node.client("GET", "/rooms/%s/members" % q(w.room))
    return {e["state_key"]: e["content"].get("membership") for e in out["chunk"]}


def check(w, sides, before, heads, label):
    nodes = w.cl.nodes

    def agreed():
        rows = [table_rows(n, w.room) for n in nodes]
        return rows if all(r == rows[0] for r in rows) else None
    deadline = time.time() + 40
    rows = None
    while time.time() < deadline:
        rows = agreed()
        if rows:
            break
        time.sleep(0.2)
    if not rows:
        rows = [table_rows(n, w.room) for n in nodes]
        diff = {k for r in rows for k in r if any(o.get(k) != r.get(k) for o in rows)}
        for n in nodes:
            print(n.name, [(r["cause"], r["event"][:8], r["prev"] and r["prev"][:8], r["content"], r["seq"])
                           for r in w.changes(n) if (r["type"], r["key"]) in diff])
        raise AssertionError("%s: rows differ after the heal: %s" % (
            label, {k: [r.get(k) for r in rows] for k in sorted(diff)[:6]}))
    w.quiet(nodes)
    rows = [table_rows(n, w.room) for n in nodes]
    assert all(r == rows[0] for r in rows), label + ": rows differ once quiet"
    sids = [w.state_ids(n) for n in nodes]
    assert all(s == sids[0] for s in sids), (label, "state_ids differ", [len(s) for s in sids])
    final = rows[0]
    pl, members = w.power(w.a), members_of(w, w.a)
    # No write of one side lost.
    keys = [set(s.last) for s in sides]
    lost = []
    for i, s in enumerate(sides):
        others = set().union(*(k for j, k in enumerate(keys) if j != i))
        for key, (content, user) in s.last.items():
            # A user who left in the round may lose the writes made before:
            # a merge while they were out finds them not joined. And a write
            # may lose already on its own side (room v12 orders the rows by
            # the mainline of the power levels its resolution reached, which
            # may be a level event of an old branch): only a write its side
            # held before the heal must survive it.
            held = set(w.pre_heal[s.nodes[0].name]["pdu_ids"])
            if key in others or user in s.left or not sender_may_write(pl, members, user) or \
                    s.ids.get(key) not in held:
                continue
            got = final.get((TYPE, key))
            if (got[0] if got else None) != content:
                lost.append((key, content, user, got, s.ids.get(key)))
    if lost:
        other = w.b
        fed = Fed(w.a, other.name, load_key(os.path.join(other.data, "signing.key")))

        def pdu(eid):
            st, out = fed.request("GET", "/_matrix/federation/v1/event/%s" % q(eid))
            return out["pdus"][0] if st == 200 else None

        def show(eid, depth=0):
            ev = pdu(eid)
            if ev is None or depth > 3:
                return
            print("  " * depth, eid, ev["type"], ev.get("state_key"), ev["sender"], ev["origin_server_ts"],
                  "content" if ev["type"] != PL else ev["content"].get("users"), ev["content"].get("events", {}).get(TYPE) if ev["type"] == PL else ev["content"])
            for a in ev["auth_events"]:
                aev = pdu(a)
                if aev and aev["type"] == PL:
                    show(a, depth + 1)
        for key, _, _, got, mine in lost[:2]:
            for eid in (mine, got[1] if got else None):
                if eid:
                    show(eid)
        print("power levels", pl, "members", members)
        # The resolution of the states before the heal, as a state-res fixture.
        ids = set()
        for x in w.pre_heal.values():
            ids |= set(x["pdu_ids"]) | set(x["auth_chain_ids"])
        evs = {i: pdu(i) for i in ids}
        sets = []
        for name, x in sorted(w.pre_heal.items()):
            sets.append({"%s|%s" % (evs[i]["type"], evs[i]["state_key"]): i for i in x["pdu_ids"]})
        fx = {"kind": "resolve", "room_version": w.version,
              "events": [dict(e, event_id=i, prev_events=[]) for i, e in evs.items()],
              "state_sets": sets}
        path = os.environ.get("MXDB_HEAL_FIXTURE")
        if path:
            json.dump(fx, open(path, "w"))
            print("fixture written to", path)
        print("state PL", [x for x in w.state_ids(w.a) if pdu(x)["type"] == PL])
    assert not lost, "%s: writes of one side lost: %s" % (label, lost[:5])
    # Feeds: a replay gives the table; a winner changed at the heal has a merge record.
    for n in nodes:
        recs = w.changes(n)
        seqs = [r["seq"] for r in recs]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), n.name
        replay = {}
        for r in recs:
            if r["content"] is None or r["content"] == {}:
                replay.pop((r["type"], r["key"]), None)
            else:
                replay[(r["type"], r["key"])] = (r["content"], r["event"])
        mine = {k: v for k, v in replay.items() if k[0] == TYPE}
        assert mine == table_rows(n, w.room, TYPE), "%s: %s's feed replayed is not its table" % (label, n.name)
        # A row this node's side wrote whose winner became the other side's
        # event: its own write was a forward extremity, so only a merge can
        # have changed it (a late event of its own side may come as remote).
        mine_side = next(sd for sd in sides if n in sd.nodes) if any(n in sd.nodes for sd in sides) else None
        after = [r for r in recs if r["seq"] > heads[n.name]]
        for key in (mine_side.last if mine_side else ()):
            k = (TYPE, key)
            recs_k = [r for r in after if (r["type"], r["key"]) == k]
            if before[n.name].get(k) == final.get(k) or not recs_k:
                continue
            server = recs_k[-1]["sender"].split(":", 1)[1]
            if server in {m.name for m in mine_side.nodes} or \
                    server not in {m.name for sd in sides for m in sd.nodes}:
                continue  # its own side's, or C's when it saw both sides
            # In A|B, C relays each side's events to the other (C's events
            # cite them, the other side fetches them as missing). An event of
            # the other side written over this side's write, which it held in
            # its state, replaces it as any write does: when it extends this
            # node's extremities it comes as `remote`, no resolution involved
            # (seed 42, 4 rounds). Only a winner its writer never saw this
            # side's write (or the row this node held) under must be a merge's.
            held = {mine_side.ids.get(key), (before[n.name].get(k) or (None, None))[1]}
            if held & w.state_before(n, recs_k[-1]["event"]):
                if "merge" not in [r["cause"] for r in recs_k]:
                    print("%s: %s: %s: %s saw its write, came as %s" % (
                        label, n.name, key, recs_k[-1]["event"][:8], recs_k[-1]["cause"]))
                continue
            assert "merge" in [r["cause"] for r in recs_k], \
                "%s: %s: %s changed at the heal without a merge record: %s" % (
                    label, n.name, k, [(r["cause"], r["event"], r["sender"]) for r in recs_k])
        missing = [k for k in final if k[0] == TYPE and final[k] != before[n.name].get(k)
                   and not [r for r in after if (r["type"], r["key"]) == k]]
        assert not missing, "%s: %s: rows changed at the heal without a record: %s" % (label, n.name, missing[:5])
    return final


def gap_writes(w, ss, rnd, gap):
    """A writes past B's bound; C relays, then writes over A's newest: B
    places C's row from the state at the gap."""
    a, b, c = w.a, w.b, w.c
    for i in range(gap):
        ss[0].write(a, a.token, a.user, "g%d-%d" % (rnd, i % (gap // 2)), {"i": i})
    wait_for("A's gap on C", lambda: table_rows(c, w.room, TYPE).get((TYPE, "g%d-%d" % (rnd, (gap - 1) % (
        gap // 2))), ({},))[0].get("i") == gap - 1, timeout=30)
    ss[2].write(c, c.token, c.user, "over-gap-%d" % rnd, {"by": "c"})
    assert "over-gap-%d" % rnd in ss[2].last, "C may not write"
    wait_for("C's row on B over the gap", lambda: (TYPE, "over-gap-%d" % rnd) in table_rows(b, w.room, TYPE),
             timeout=30)
    # B took the state at the gap (the fallback), not the whole gap.
    assert "is still open after" in open(b.data + ".log").read(), "B closed the gap by fetching"


def run_round(w, rng, rnd, shape, gap=0):
    a, b, c = w.a, w.b, w.c
    if shape == "A|B":
        cut, sides = {(a.name, b.name)}, [[a], [b], [c]]
    else:
        cut, sides = {(a.name, b.name), (a.name, c.name)}, [[a], [b, c]]
    if gap:
        # C's row over the gap must be allowed: everybody may write rows.
        pl = w.power(a)
        pl.setdefault("events", {})[TYPE] = 0
        a.client("PUT", "/rooms/%s/state/%s/" % (q(w.room), PL), pl)
        wait_for("rows open to all", lambda: all(w.power(n).get("events", {}).get(TYPE) == 0 for n in w.cl.nodes))
    w.set_links(cut)
    shared = ["s%d" % i for i in range(6)]
    # C (when it sees both sides) writes too, but counts as both sides: its
    # keys are not "of one side".
    ss = [Side(w, nodes, rnd) for nodes in sides]
    notes = []
    order = list(range(len(ss)))
    for step in range(3):
        if gap and step == 1:
            gap_writes(w, ss, rnd, gap)  # before any power change of this round
        rng.shuffle(order)
        for i in order:
            s = ss[i]
            s.random_writes(rng, shared, rng.randint(2, 5))
            if step == 1 and rng.random() < 0.5:
                notes.append(s.power_change(rng))
            if step == 1 and rng.random() < 0.5:
                s.membership(rng)
    for s in ss:  # a side's nodes hold the same rows before the heal
        if len(s.nodes) > 1:
            wait_for("side %s agrees" % [n.name for n in s.nodes], lambda s=s: all(
                table_rows(n, w.room) == table_rows(s.nodes[0], w.room) for n in s.nodes), timeout=30)
    w.quiet(w.cl.nodes)
    before = {n.name: table_rows(n, w.room, TYPE) for n in w.cl.nodes}
    heads = {n.name: w.head(n) for n in w.cl.nodes}
    w.pre_heal = {n.name: w.state_ids(n, full=True) for n in w.cl.nodes}
    w.set_links(set())
    # C's side seeing both is neither side: its writes may be conflicts.
    check_sides = ss[:2] if shape == "A|B" else ss
    if shape == "A|B":
        for key in ss[2].last:
            for s in check_sides:
                s.last.pop(key, None)
    final = check(w, check_sides, before, heads, "round %d (%s%s)" % (rnd, shape, ", gap" if gap else ""))
    print("round %d %s: %d rows, power changes %s (%.1f s)" % (
        rnd, shape, len(final), [x for x in notes if x], time.time() - T0))


def late_events_reresolve():
    """B is cut from A; A's branch overwrites a row of alice's through xa,
    then raises the rows' level above xa's; C relays, B places C's row over
    the gap from C's state, keeping its old extremity (the state before the
    partition) beside it: resolving the two, xa's write fails the new
    level. Once A reaches B its events arrive late and the old extremity
    goes: B's current state must then be the resolution of what remains
    (C's), or B's next writes build on rows nobody else has."""
    with Cluster(["a.test", "b.test", "c.test"], extra=["--federation-max-gap-events", str(MAX_GAP)]) as cl:
        a, b, c = cl.nodes
        room = shared_table(cl, "late")
        _, out = a.client("POST", "/register", {"username": "xa", "password": "pw",
                                               "auth": {"type": "m.login.dummy"}}, token=False)
        xa = out["access_token"]
        req(a, xa, "POST", "/_matrix/client/v3/join/%s" % q(room), {})
        w = World(cl, room)
        pl = w.power(a)
        pl.setdefault("events", {})[TYPE] = 0
        a.client("PUT", "/rooms/%s/state/%s/" % (q(room), PL), pl)
        req(a, a.token, "PUT", row_path(room, "k"), {"v": "e1"})
        wait_for("k everywhere", lambda: all((TYPE, "k") in table_rows(n, room, TYPE) for n in cl.nodes))
        wait_for("xa joined on B", lambda: members_of(w, b).get(out["user_id"]) == "join")
        w.set_links({(a.name, b.name)})
        req(a, xa, "PUT", row_path(room, "k"), {"v": "e2"})
        pl["events"][TYPE] = 50
        pl.setdefault("users", {})[c.user] = 50
        a.client("PUT", "/rooms/%s/state/%s/" % (q(room), PL), pl)
        for i in range(MAX_GAP + 10):
            req(a, a.token, "PUT", row_path(room, "f%d" % i), {"i": i})
        last = (TYPE, "f%d" % (MAX_GAP + 9))
        wait_for("A's rows on C", lambda: last in table_rows(c, room, TYPE), timeout=30)
        req(c, c.token, "PUT", row_path(room, "over"), {"by": "c"})
        wait_for("C's row on B", lambda: (TYPE, "over") in table_rows(b, room, TYPE), timeout=30)
        assert "is still open after" in open(b.data + ".log").read(), "B closed the gap by fetching"
        w.set_links(set())
        try:
            w.quiet(cl.nodes)
            settle(cl, room)
            got = {n.name: table_rows(n, room, TYPE).get((TYPE, "k")) for n in cl.nodes}
            assert all_same(cl, room), "rows differ once A's events arrived late on B: k %s" % got
            req(b, b.token, "PUT", row_path(room, "after"), {"by": "b"}, ok=(200, 403))
            req(a, a.token, "PUT", row_path(room, "after2"), {"by": "a"})
            wait_for("after2 everywhere", lambda: all((TYPE, "after2") in table_rows(n, room, TYPE)
                                                       for n in cl.nodes), timeout=30)
            w.quiet(cl.nodes)
            assert all_same(cl, room), "rows differ after new writes"
            assert w.state_ids(a) == w.state_ids(b) == w.state_ids(c), "state_ids differ"
        except BaseException:
            dump_logs(cl)
            raise
    print("late events: the old extremity dropped, the state re-resolved (%.1f s)" % (time.time() - T0))


def join_during_partition():
    """D joins through A while B is cut from A and D: D's state comes from
    A's send_join answer (outliers), B's branch reaches D only at the heal,
    forking from events D never had (older than its join)."""
    names = ["a.test", "b.test", "c.test", "d.test"]
    with Cluster(names, extra=["--federation-max-gap-events", str(MAX_GAP)]) as cl:
        a, b, c, d = cl.nodes
        room = shared_table(cl, "jp", joiners=[b, c])
        w = World(cl, room)
        for n in (a, b, c):
            req(n, n.token, "PUT", row_path(room, "same"), {"by": n.name})
        wait_for("rows everywhere", lambda: all(len(table_rows(n, room, TYPE)) == 1 for n in (a, b, c)))
        w.set_links({(a.name, b.name), (d.name, b.name)})
        for i in range(5):
            req(b, b.token, "PUT", row_path(room, "b%d" % i), {"i": i})
            req(a, a.token, "PUT", row_path(room, "a%d" % i), {"i": i})
        req(b, b.token, "PUT", row_path(room, "same"), {"by": "b again"})
        _, out = d.client("POST", "/join/%s" % q("#jp:%s" % a.name), {})
        assert out["room_id"] == room, out
        req(d, d.token, "PUT", row_path(room, "d0"), {"by": "d"})
        req(a, a.token, "PUT", row_path(room, "same"), {"by": "a again"})
        wait_for("D's row on A", lambda: (TYPE, "d0") in table_rows(a, room, TYPE), timeout=30)
        w.set_links(set())
        try:
            w.quiet(cl.nodes)
            # B's events of the partition went to the servers it knew then
            # (not D): D gets them through the next event citing them.
            req(a, a.token, "PUT", row_path(room, "after"), {"by": "a"})
            settle(cl, room)
            rows = [table_rows(n, room, TYPE) for n in cl.nodes]
            assert all_same(cl, room), "rows differ after the heal: %s" % {
                k: [r.get(k) for r in rows] for k in set().union(*rows) if any(r.get(k) != rows[0].get(k)
                                                                                 for r in rows)}
            for k in ["b%d" % i for i in range(5)] + ["a%d" % i for i in range(5)] + ["d0"]:
                assert (TYPE, k) in rows[0], k
            sids = [w.state_ids(n) for n in cl.nodes]
            assert all(x == sids[0] for x in sids), "state_ids differ"
        except BaseException:
            dump_logs(cl)
            raise
    print("a join during the partition: converged (%.1f s)" % (time.time() - T0))


def losing_new_row():
    """During A|B (C seeing both), A raises the rows' level above bob's
    while bob writes new rows on B: the rows fail the auth checks wherever
    both branches meet, so no node may show them (A stored bob's events
    over the state before them, which named the keys)."""
    with Cluster(["a.test", "b.test", "c.test"]) as cl:
        a, b, c = cl.nodes
        room = shared_table(cl, "lose")
        w = World(cl, room)
        req(a, a.token, "PUT", row_path(room, "base"), {"v": 0})
        wait_for("base everywhere", lambda: all((TYPE, "base") in table_rows(n, room, TYPE) for n in cl.nodes))
        w.set_links({(a.name, b.name)})
        pl = w.power(a)
        pl.setdefault("events", {})[TYPE] = 50
        a.client("PUT", "/rooms/%s/state/%s/" % (q(room), PL), pl)
        ids = [req(b, b.token, "PUT", row_path(room, "new%d" % i), {"i": i})[1]["event_id"] for i in range(3)]
        req(a, a.token, "PUT", row_path(room, "by-a"), {"v": 1})
        wait_for("B's events on C", lambda: c.client("GET", "/rooms/%s/event/%s" % (q(room), q(ids[-1])),
                                                      ok=())[0] == 200)
        # C cites B's events: A fetches them from C (a gap), B from C too.
        req(c, c.token, "PUT", row_path(room, "by-c"), {"v": 1}, ok=(200, 403))
        time.sleep(1)
        w.set_links(set())
        wait_for("the heal", lambda: all((TYPE, "by-a") in table_rows(n, room, TYPE) for n in cl.nodes), timeout=30)
        w.quiet(cl.nodes)
        for n in cl.nodes:
            rows = table_rows(n, room, TYPE)
            assert sorted(k for _, k in rows) == ["base", "by-a"], (n.name, rows)
    print("a new row losing its fork: shown nowhere (%.1f s)" % (time.time() - T0))


def remote_over_relayed_write():
    """During A|B, C relays B's write of k to A (C's row cites it, A fetches
    it as missing), and A then overwrites k holding B's write in its state.
    At the heal A's write extends B's extremities (C's row): on B it is a
    `remote` change replacing B's write, no resolution and no merge record,
    and check() must accept it (it once asked for a merge: seed 42)."""
    with Cluster(["a.test", "b.test", "c.test"]) as cl:
        a, b, c = cl.nodes
        room = shared_table(cl, "relay")
        w = World(cl, room)
        pl = w.power(a)
        pl.setdefault("events", {})[TYPE] = 0
        a.client("PUT", "/rooms/%s/state/%s/" % (q(room), PL), pl)
        wait_for("rows open to all", lambda: all(w.power(n).get("events", {}).get(TYPE) == 0 for n in cl.nodes))
        w.set_links({(a.name, b.name)})

        def at(n, key):
            return table_rows(n, room, TYPE).get((TYPE, key), (None, None))[1]
        side_a, side_b = Side(w, [a], 0), Side(w, [b], 0)
        side_b.write(b, b.token, b.user, "k", {"by": "b"})
        bk = side_b.ids["k"]
        wait_for("B's k on C", lambda: at(c, "k") == bk)
        req(c, c.token, "PUT", row_path(room, "by-c"), {"v": 1})
        wait_for("B's k on A through C", lambda: at(a, "k") == bk, timeout=30)
        wait_for("C's row on B", lambda: at(b, "by-c") is not None)
        w.quiet(cl.nodes)
        before = {n.name: table_rows(n, room, TYPE) for n in cl.nodes}
        heads = {n.name: w.head(n) for n in cl.nodes}
        side_a.write(a, a.token, a.user, "k", {"by": "a"})
        ak = side_a.ids["k"]
        wait_for("A's k on C", lambda: at(c, "k") == ak)
        w.quiet(cl.nodes)
        assert at(b, "k") == bk, "A's write reached B before the heal"
        w.pre_heal = {n.name: w.state_ids(n, full=True) for n in cl.nodes}
        w.set_links(set())
        wait_for("the heal", lambda: at(b, "k") == ak, timeout=30)
        check(w, [side_a, side_b], before, heads, "relayed write")
        recs = [(r["cause"], r["event"]) for r in w.changes(b) if r["seq"] > heads[b.name] and r["key"] == "k"]
        assert recs == [("remote", ak)], recs
    print("a write over the other side's relayed one: remote (%.1f s)" % (time.time() - T0))


def main():
    rng = random.Random(SEED)
    print("test_fed_heal: seed %d" % SEED)
    extra = ["--federation-max-gap-events", str(MAX_GAP)]
    if os.environ.get("MXDB_HEAL_LOG"):
        extra += ["--log-level", os.environ["MXDB_HEAL_LOG"]]
    with Cluster(["a.test", "b.test", "c.test"], extra=extra) as cl:
        room = shared_table(cl, "heal")
        w = World(cl, room)
        w.version = cl.nodes[0].call("GET", "/_mxdb/v1/tables/%s" % q(room))[1].get("version")
        for n, u in zip(cl.nodes, ("xa", "xb", "xc")):
            _, out = n.client("POST", "/register", {"username": u, "password": "pw",
                                                   "auth": {"type": "m.login.dummy"}}, token=False)
            req(n, out["access_token"], "POST", "/_matrix/client/v3/join/%s" % q(room), {})
            w.extra[n.name] = (out["user_id"], out["access_token"], True)
        for n in cl.nodes:
            req(n, n.token, "PUT", row_path(room, "base"), {"v": 0})
        wait_for("everyone joined everywhere", lambda: all(
            len([m for m, s in members_of(w, n).items() if s == "join"]) == 6 for n in cl.nodes), timeout=30)
        shapes = ["A|B", "A|BC"] * int(os.environ.get("MXDB_HEAL_ROUNDS", "2"))
        try:
            for rnd, shape in enumerate(shapes):
                run_round(w, rng, rnd, shape)
            run_round(w, rng, len(shapes), "A|B", gap=3 * MAX_GAP)
            run_round(w, rng, len(shapes) + 1, "A|BC")
        except BaseException:
            dump_logs(cl)
            raise
    late_events_reresolve()
    join_during_partition()
    losing_new_row()
    remote_over_relayed_write()
    print("test_fed_heal: ok (seed %d, %.1f s)" % (SEED, time.time() - T0))


main()
