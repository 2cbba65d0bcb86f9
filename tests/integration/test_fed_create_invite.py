# test_fed_create_invite.py: the invite list of createRoom (and the remote
# writers of the table API's create) reaching users of other servers, with
# real mxdbd on loopback. alice on A creates a private room inviting bob of
# B, carol of A and zed of C (C is down): the room exists, carol's invite is
# local, bob's reached B (his /sync shows it; he joins by room ID alone, a
# row of A's reaches B and a message of his reaches A), zed's failed without
# failing the creation. Then a private table with bob as a writer: the same
# path, and his rows (level 50) reach A. Last, a trusted_private_chat
# direct room: bob's power level is alice's, and his invite is_direct.
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, q, wait_for  # noqa: E402


def member(node, room, user):
    st, ev = node.client("GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q(user)), ok=())
    return ev.get("membership") if st == 200 else None


def join_and_replicate(a, b, room, tag):
    wait_for("bob's invite to " + tag,
             lambda: room in b.client("GET", "/sync?timeout=0")[1]["rooms"]["invite"])
    _, s = b.client("GET", "/sync?timeout=0")
    events = s["rooms"]["invite"][room]["invite_state"]["events"]
    mine = [e for e in events if e["type"] == "m.room.member" and e["state_key"] == "@bob:b.test"]
    assert mine and mine[0]["content"]["membership"] == "invite", events
    assert mine[0]["sender"] == "@alice:a.test", mine
    assert member(a, room, "@bob:b.test") == "invite"
    _, out = b.client("POST", "/join/%s" % q(room), {})
    assert out["room_id"] == room, out
    wait_for("A sees bob joined " + tag, lambda: member(a, room, "@bob:b.test") == "join")
    a.put_row(room, "from-a", {"by": "a"})
    wait_for("from-a on B", lambda: b.get_row(room, "from-a"))
    assert b.get_row(room, "from-a") == {"by": "a"}
    # bob's power is the default (0): a message, not a row, goes back.
    _, sent = b.client("PUT", "/rooms/%s/send/m.room.message/t-%s" % (q(room), q(tag)),
                       {"msgtype": "m.text", "body": "hi from b"})
    path = "/rooms/%s/event/%s" % (q(room), q(sent["event_id"]))
    wait_for("bob's message on A", lambda: a.client("GET", path, ok=())[0] == 200)
    _, ev = a.client("GET", path)
    assert ev["sender"] == "@bob:b.test" and ev["content"]["body"] == "hi from b", ev


def main():
    with Cluster(["a.test", "b.test", "c.test"]) as cl:
        a, b, c = cl.nodes
        c.stop()
        b.register("bob")
        a.register("carol")
        a.register("alice")

        # bob was not invited anywhere yet.
        _, s0 = b.client("GET", "/sync?timeout=0")
        assert s0["rooms"]["invite"] == {}, s0["rooms"]

        _, out = a.client("POST", "/createRoom", {
            "preset": "private_chat", "name": "plans",
            "invite": ["@bob:b.test", "@carol:a.test", "@zed:c.test"]})
        room = out["room_id"]
        assert member(a, room, "@carol:a.test") == "invite"
        assert member(a, room, "@zed:c.test") is None  # C was down: logged, not failed
        # B has only the invite, not a copy of the room, until bob joins.
        st, _ = b.client("GET", "/rooms/%s/state" % q(room), ok=())
        assert st != 200, st
        join_and_replicate(a, b, room, "the room")

        # The table API's writers of other servers are invited the same way.
        _, t = a.call("POST", "/_mxdb/v1/tables", {"name": "ledger", "visibility": "private",
                                                  "writers": {"@bob:b.test": 50}})
        join_and_replicate(a, b, t["room_id"], "the table")
        b.put_row(t["room_id"], "from-b", {"by": "b"})
        wait_for("from-b on A", lambda: a.get_row(t["room_id"], "from-b"))
        assert a.get_row(t["room_id"], "from-b") == {"by": "b"}
        _, joined = b.client("GET", "/joined_rooms")
        assert {room, t["room_id"]} <= set(joined["joined_rooms"]), joined

        # trusted_private_chat: bob gets alice's power level though his
        # invite goes over federation, and the invite he sees is direct.
        _, out = a.client("POST", "/createRoom", {
            "preset": "trusted_private_chat", "room_version": "11", "is_direct": True,
            "invite": ["@bob:b.test"]})
        dm = out["room_id"]
        _, pl = a.client("GET", "/rooms/%s/state/m.room.power_levels/" % q(dm))
        assert pl["users"].get("@bob:b.test") == pl["users"]["@alice:a.test"] == 100, pl
        wait_for("bob's direct invite",
                 lambda: dm in b.client("GET", "/sync?timeout=0")[1]["rooms"]["invite"])
        _, s = b.client("GET", "/sync?timeout=0")
        inv = [e for e in s["rooms"]["invite"][dm]["invite_state"]["events"]
               if e["type"] == "m.room.member" and e["state_key"] == "@bob:b.test"]
        assert inv and inv[0]["content"].get("is_direct") is True, inv
        _, ev = a.client("GET", "/rooms/%s/state/m.room.member/%s" % (q(dm), q("@bob:b.test")))
        assert ev == {"membership": "invite", "is_direct": True}, ev
        # His power works: he joins and changes the room's name (level 50).
        b.client("POST", "/join/%s" % q(dm), {})
        b.client("PUT", "/rooms/%s/state/m.room.name/" % q(dm), {"name": "ours"})
        wait_for("bob's name on A", lambda: a.client(
            "GET", "/rooms/%s/state/m.room.name/" % q(dm), ok=())[1].get("name") == "ours")
    print("ok")


if __name__ == "__main__":
    main()
