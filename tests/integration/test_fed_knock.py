# test_fed_knock.py: knocking on a table of another server, and joins and
# knocks through a list of servers, with real mxdbd on loopback. A holds a
# knock-only table.
# - bob of B knocks by room ID through server_name=a.test (make_knock,
#   send_knock): B keeps the knock and bob's /sync shows it under
#   rooms.knock with the knock_room_state A answered; A sees the knock.
# - alice invites bob (the invite replaces the knock); bob, through
#   matrix-nio (no knock call in nio, but it must parse the sync), joins
#   through the inviter and rows flow. gus of B then knocks on B's copy (an
#   engine write replicated to A).
# - carol of C knocks, then rescinds (leave: make_leave, send_leave at A).
# - erin of C joins a public table naming first a server that is down
#   (dead.test: a dead port), then a.test; dave of C knocks through the same
#   list. A restricted room that B has but where none of B's users may
#   invite: B answers M_UNABLE_TO_GRANT_JOIN, and erin gets in through A,
#   named next; hal of B, asking B's copy, then C (named), ends at A (the
#   room's servers).
# - make_knock and send_knock signed here with B's key: refused on a room
#   without the knock join rule, every `ver` read, M_INCOMPATIBLE_ROOM_VERSION
#   as for make_join; knock_room_state holds signed PDUs.
import asyncio
import os
import sys

import nio

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, add_user, as_user, dead_port, q, shared_table, wait_for  # noqa: E402
from keylib import Fed, event_id, load_key, now_ms, seal  # noqa: E402


async def nio_session(node, user, steps):
    """A real client (matrix-nio) logged in as user on node, running steps(client)."""
    client = nio.AsyncClient(node.url, user)
    try:
        r = await client.login("pw")
        assert isinstance(r, nio.LoginResponse), r
        return await steps(client)
    finally:
        await client.close()


def member(node, room, user):
    st, ev = node.client("GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q(user)), ok=())
    return ev.get("membership") if st == 200 else None


def main():
    dead = ["--peer", "dead.test=127.0.0.1:%d" % dead_port()]
    with Cluster(["a.test", "b.test", "c.test"], per_node={"c.test": dead}) as cl:
        a, b, c = cl.nodes
        room = shared_table(cl, "door", joiners=[], visibility="private", topic="knock first")
        # Invite-only: A refuses the knock, and B keeps nothing.
        st, err = b.client("POST", "/knock/%s?server_name=a.test" % q(room), {}, ok=())
        assert st == 403 and err["errcode"] == "M_FORBIDDEN", (st, err)
        _, s0 = b.client("GET", "/sync?timeout=0")
        assert room not in s0["rooms"]["knock"], s0["rooms"]

        a.client("PUT", "/rooms/%s/state/m.room.join_rules/" % q(room), {"join_rule": "knock"})
        _, out = b.client("POST", "/knock/%s?server_name=a.test" % q(room), {"reason": "hi"})
        assert out == {"room_id": room}, out
        assert member(a, room, "@bob:b.test") == "knock"
        _, ev = a.client("GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q("@bob:b.test")))
        assert ev["reason"] == "hi", ev
        _, s1 = b.client("GET", "/sync?timeout=0&since=%s" % q(s0["next_batch"]))
        k = s1["rooms"]["knock"].get(room)
        assert k is not None, s1["rooms"]
        evs = k["knock_state"]["events"]
        types = {(e["type"], e["state_key"]) for e in evs}
        assert ("m.room.create", "") in types and ("m.room.join_rules", "") in types, types
        topic = [e for e in evs if e["type"] == "m.room.topic"]
        assert topic and topic[0]["content"] == {"topic": "knock first"}, evs
        assert all(set(e) == {"type", "state_key", "sender", "content"} for e in evs), evs
        mine = [e for e in evs if e["type"] == "m.room.member" and e["state_key"] == "@bob:b.test"]
        assert len(mine) == 1 and mine[0]["content"] == {"membership": "knock", "reason": "hi"}, evs
        _, joined = b.client("GET", "/joined_rooms")
        assert room not in joined["joined_rooms"]

        async def nio_sees_knock(client):
            # nio 0.20 knows no knocks: its sync must still parse our answer.
            r = await client.sync(timeout=0)
            assert isinstance(r, nio.SyncResponse), r
            assert room not in r.rooms.join and room not in r.rooms.invite, r.rooms
        asyncio.run(nio_session(b, "@bob:b.test", nio_sees_knock))

        # alice lets bob in: the invite takes the knock's place on B.
        a.client("POST", "/rooms/%s/invite" % q(room), {"user_id": "@bob:b.test"})
        _, s2 = b.client("GET", "/sync?timeout=0&since=%s" % q(s1["next_batch"]))
        assert room in s2["rooms"]["invite"], s2["rooms"]
        _, s2f = b.client("GET", "/sync?timeout=0")
        assert room not in s2f["rooms"]["knock"] and room in s2f["rooms"]["invite"], s2f["rooms"]

        async def nio_accepts(client):
            r = await client.sync(timeout=0)
            assert isinstance(r, nio.SyncResponse) and room in r.rooms.invite, r
            r = await client.join(room)  # through the inviter: no server named
            assert isinstance(r, nio.JoinResponse) and r.room_id == room, r
        asyncio.run(nio_session(b, "@bob:b.test", nio_accepts))
        wait_for("bob joined on A", lambda: member(a, room, "@bob:b.test") == "join")
        b.put_row(room, "from-b", {"by": "b"})
        wait_for("from-b on A", lambda: a.get_row(room, "from-b"))
        _, s3 = b.client("GET", "/sync?timeout=0")
        assert room in s3["rooms"]["join"] and room not in s3["rooms"]["knock"], s3["rooms"]

        # Now that B has the room, a knock of B's is an engine write on B that
        # replicates to A like any event.
        gus, gtok = add_user(b, "gus")
        _, out = as_user(b, gtok, "POST", "/knock/%s" % q(room), {})
        assert out == {"room_id": room}, out
        wait_for("gus's knock on A", lambda: member(a, room, gus) == "knock")
        _, sg = as_user(b, gtok, "GET", "/sync?timeout=0")
        assert room in sg["rooms"]["knock"], sg["rooms"]

        # carol knocks, then rescinds the knock (a leave through A).
        _, out = c.client("POST", "/knock/%s?via=a.test" % q(room), {})
        wait_for("carol's knock on A", lambda: member(a, room, "@carol:c.test") == "knock")
        _, out = c.client("POST", "/rooms/%s/leave" % q(room), {"reason": "never mind"})
        assert out == {}, out
        _, ev = a.client("GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q("@carol:c.test")))
        assert ev == {"membership": "leave", "reason": "never mind"}, ev
        _, s4 = c.client("GET", "/sync?timeout=0")
        assert room not in s4["rooms"]["knock"], s4["rooms"]
        st, _ = c.client("POST", "/rooms/%s/leave" % q(room), {}, ok=())
        assert st == 404, st

        # Through a list whose first server is down.
        _, pub = a.call("POST", "/_mxdb/v1/tables", {"name": "hall", "visibility": "public"})

        # make_knock as B would send it.
        fa = Fed(a, "b.test", load_key(os.path.join(b.data, "signing.key")))

        def make_knock(r, vers):
            return fa.request("GET", "/_matrix/federation/v1/make_knock/%s/%s%s" % (
                q(r), q("@zed:b.test"), "".join("%sver=%s" % ("&" if i else "?", v)
                                                for i, v in enumerate(vers))))
        st, made = make_knock(room, ["1", "10", "11", "12"])
        assert st == 200 and made["event"]["content"] == {"membership": "knock"}, made
        assert made["event"]["state_key"] == "@zed:b.test", made
        version = made["room_version"]
        st, bad = make_knock(room, ["1", "2"])
        assert st == 400 and bad["errcode"] == "M_INCOMPATIBLE_ROOM_VERSION", bad
        assert bad["room_version"] == version, bad
        st, bad = make_knock(pub["room_id"], [version])
        assert st == 403 and bad["errcode"] == "M_FORBIDDEN", bad
        # send_knock answers the room's identifying state as signed PDUs.
        ev = dict(made["event"])
        ev.pop("origin", None)
        ev["origin_server_ts"] = now_ms()
        ev = seal(ev, fa.key, "b.test")
        st, out = fa.request("PUT", "/_matrix/federation/v1/send_knock/%s/%s"
                             % (q(room), q(event_id(ev))), ev)
        assert st == 200, out
        got = {p["type"]: p for p in out["knock_room_state"]}
        assert {"m.room.create", "m.room.join_rules", "m.room.topic"} <= set(got), out
        assert all("signatures" in p and "hashes" in p for p in got.values()), out
        assert member(a, room, "@zed:b.test") == "knock"
        st, out = fa.request("PUT", "/_matrix/federation/v1/send_knock/%s/%s"
                             % (q(pub["room_id"]), q(event_id(ev))), ev)
        assert st == 400, (st, out)
        erin, etok = add_user(c, "erin")
        _, out = as_user(c, etok, "POST", "/join/%s?server_name=dead.test&via=a.test"
                         % q(pub["room_id"]), {})
        assert out["room_id"] == pub["room_id"], out
        wait_for("erin joined on A", lambda: member(a, pub["room_id"], erin) == "join")
        dave, dtok = add_user(c, "dave")
        _, out = as_user(c, dtok, "POST", "/knock/%s?server_name=dead.test&server_name=a.test"
                         % q(room), {})
        assert out["room_id"] == room, out
        wait_for("dave's knock on A", lambda: member(a, room, dave) == "knock")
        # A restricted room (members of the hall may join) that B has but where
        # none of B's users may invite: B answers M_UNABLE_TO_GRANT_JOIN and
        # the next server named, A, lets erin in.
        rules = {"join_rule": "restricted",
                 "allow": [{"type": "m.room_membership", "room_id": pub["room_id"]}]}
        _, made = a.client("POST", "/createRoom", {
            "preset": "private_chat", "power_level_content_override": {"invite": 50},
            "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": rules}]})
        locked = made["room_id"]
        b.client("POST", "/join/%s?server_name=a.test" % q(pub["room_id"]), {})
        b.client("POST", "/join/%s?server_name=a.test" % q(locked), {})
        fb = Fed(b, "c.test", load_key(os.path.join(c.data, "signing.key")))
        st, out = fb.request("GET", "/_matrix/federation/v1/make_join/%s/%s?ver=%s"
                             % (q(locked), q(erin), version))
        assert st == 400 and out["errcode"] == "M_UNABLE_TO_GRANT_JOIN", (st, out)
        _, out = as_user(c, etok, "POST", "/join/%s?server_name=b.test&server_name=a.test"
                         % q(locked), {})
        assert out["room_id"] == locked, out
        wait_for("erin in the locked room on A", lambda: member(a, locked, erin) == "join")
        # hal of B, in the hall: B has the locked room but may not let him in;
        # C, named, may not either; then the room's own servers: A does.
        hal, htok = add_user(b, "hal")
        as_user(b, htok, "POST", "/join/%s" % q(pub["room_id"]), {})
        wait_for("hal in the hall on C", lambda: as_user(
            c, etok, "GET", "/rooms/%s/state/m.room.member/%s" % (q(pub["room_id"]), q(hal)),
            ok=())[1].get("membership") == "join")
        fc = Fed(c, "b.test", load_key(os.path.join(b.data, "signing.key")))
        st, out = fc.request("GET", "/_matrix/federation/v1/make_join/%s/%s?ver=%s"
                             % (q(locked), q(hal), version))
        assert st == 400 and out["errcode"] == "M_UNABLE_TO_GRANT_JOIN", (st, out)
        _, out = as_user(b, htok, "POST", "/join/%s?via=c.test" % q(locked), {})
        assert out["room_id"] == locked and member(a, locked, hal) == "join", out

        # Nobody to ask: every server named is down (and the room ID names none).
        frank, ftok = add_user(c, "frank")
        st, err = as_user(c, ftok, "POST", "/join/%s?server_name=dead.test" % q(room), {}, ok=())
        assert st >= 400 and member(a, room, frank) is None, (st, err)
    print("ok")


if __name__ == "__main__":
    main()
