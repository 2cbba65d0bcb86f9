# test_fed_invite.py: inviting a user of another server, with real mxdbd on
# loopback. alice on A invites bob of B into a private (invite-only) table:
# A builds the invite, B signs it (PUT /v2/invite) and keeps it, so bob's
# /sync shows it under rooms.invite with its stripped state; bob joins by
# room ID alone (through the inviting server); rows then replicate both
# ways. dave of B and erin of C decline theirs (erin's server has no copy
# of the room: a leave through A). carol of C, not invited, cannot join.
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, q, shared_table, wait_for  # noqa: E402


def main():
    with Cluster(["a.test", "b.test", "c.test"]) as cl:
        a, b, c = cl.nodes
        room = shared_table(cl, "secret", joiners=[], visibility="private", topic="for bob")

        # Not invited yet: bob cannot join, and his sync shows nothing.
        st, _ = b.client("POST", "/join/%s?server_name=a.test" % q(room), {}, ok=())
        assert st == 403, st
        _, s0 = b.client("GET", "/sync?timeout=0")
        assert room not in s0["rooms"]["invite"], s0["rooms"]

        # A long-polling incremental sync of bob's wakes when the invite comes.
        polled = {}

        def poll():
            t0 = time.monotonic()
            polled["answer"] = b.client("GET", "/sync?timeout=15000&since=%s" % q(s0["next_batch"]))[1]
            polled["took"] = time.monotonic() - t0
        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.3)
        _, out = a.client("POST", "/rooms/%s/invite" % q(room), {"user_id": "@bob:b.test"})
        assert out == {}, out
        th.join(30)
        assert room in polled["answer"]["rooms"]["invite"] and polled["took"] < 10, polled
        # A's copy of the invite carries both servers' signatures.
        _, ev = a.client("GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q("@bob:b.test")))
        assert ev == {"membership": "invite"}, ev

        # Incremental: shown once, then not again.
        _, si = b.client("GET", "/sync?timeout=0&since=%s" % q(s0["next_batch"]))
        assert room in si["rooms"]["invite"], si["rooms"]
        _, si2 = b.client("GET", "/sync?timeout=0&since=%s" % q(si["next_batch"]))
        assert room not in si2["rooms"]["invite"], si2["rooms"]
        _, s1 = b.client("GET", "/sync?timeout=0")
        inv = s1["rooms"]["invite"].get(room)
        assert inv is not None, s1["rooms"]
        events = inv["invite_state"]["events"]
        types = {(e["type"], e["state_key"]) for e in events}
        assert ("m.room.create", "") in types and ("m.room.join_rules", "") in types, types
        mine = [e for e in events if e["type"] == "m.room.member" and e["state_key"] == "@bob:b.test"]
        assert mine and mine[0]["content"]["membership"] == "invite", events
        assert mine[0]["sender"] == "@alice:a.test", mine
        topic = [e for e in events if e["type"] == "m.room.topic"]
        assert topic and topic[0]["content"]["topic"] == "for bob", events
        _, joined = b.client("GET", "/joined_rooms")
        assert room not in joined["joined_rooms"]

        # The room ID alone: the invite tells which server to ask.
        _, out = b.client("POST", "/join/%s" % q(room), {})
        assert out["room_id"] == room, out
        _, s2 = b.client("GET", "/sync?timeout=0")
        assert room in s2["rooms"]["join"] and room not in s2["rooms"]["invite"], s2["rooms"]
        wait_for("A sees bob joined", lambda: a.client(
            "GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q("@bob:b.test")))[1]
            .get("membership") == "join")

        a.put_row(room, "from-a", {"by": "a"})
        wait_for("from-a on B", lambda: b.get_row(room, "from-a"))
        assert b.get_row(room, "from-a") == {"by": "a"}
        b.put_row(room, "from-b", {"by": "b"})
        wait_for("from-b on A", lambda: a.get_row(room, "from-b"))
        assert a.get_row(room, "from-b") == {"by": "b"}

        # Invitees who decline (leave before joining). dave's server B is in
        # the room: the invite reaches him through it, and his leave too.
        # erin's server C is not: her leave goes through A (make_leave,
        # send_leave) and C forgets the invite.
        for node, name in ((b, "dave"), (c, "erin")):
            user = "@%s:%s" % (name, node.name)
            _, reg = node.client("POST", "/register", {"username": name, "password": "pw",
                                                       "auth": {"type": "m.login.dummy"}}, token=False)

            def as_user(method, path, body=None, ok=(200,), node=node, tok=reg["access_token"]):
                saved, node.token = node.token, tok
                try:
                    return node.client(method, path, body, ok=ok)
                finally:
                    node.token = saved
            _, out = a.client("POST", "/rooms/%s/invite" % q(room), {"user_id": user})
            wait_for(name + "'s invite",
                     lambda: room in as_user("GET", "/sync?timeout=0")[1]["rooms"]["invite"])
            _, out = as_user("POST", "/rooms/%s/leave" % q(room), {})
            assert out == {}, out
            _, sd = as_user("GET", "/sync?timeout=0")
            assert room not in sd["rooms"]["invite"] and room not in sd["rooms"]["join"], sd["rooms"]
            wait_for(name + " left on A", lambda: a.client(
                "GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q(user)))[1]
                .get("membership") == "leave")
        st, _ = as_user("POST", "/rooms/%s/leave" % q(room), {}, ok=())
        assert st == 404, st

        # carol was not invited: neither server lets her in.
        for via in ("a.test", "b.test"):
            st, err = c.client("POST", "/join/%s?server_name=%s" % (q(room), via), {}, ok=())
            assert st == 403, (via, st, err)
        st, _ = c.client("GET", "/rooms/%s/state" % q(room), ok=())
        assert st != 200, st
        _, members = a.client("GET", "/rooms/%s/joined_members" % q(room))
        assert set(members["joined"]) == {"@alice:a.test", "@bob:b.test"}, members
    print("ok")


if __name__ == "__main__":
    main()
