# test_fed_restricted.py: restricted rooms (join rule "restricted", allow
# the members of a room S), with real mxdbd on loopback.
# One node (A): a member of S joins R through the client API and their
# event names A's admin in join_authorised_via_users_server; a user not in
# S is refused 403 M_FORBIDDEN.
# Two nodes: B holds S too (bob joined it through A). B's dan, not in S,
# asks to join R (held on A only): A refuses, 403 M_FORBIDDEN. Bob joins R
# through make_join/send_join at A: his event names A's admin and carries
# A's signature besides B's, the same event on both. Carol of B (joined to S on B)
# joins R, which B now has but none of B's users may invite (R's invite
# level is 50): B goes through A, which lets her in. Direct make_join calls
# at A answer the spec's errcodes: M_FORBIDDEN, M_UNABLE_TO_AUTHORISE_JOIN
# (an allow room A is not in), M_UNABLE_TO_GRANT_JOIN (nobody on A may
# invite).
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, q, wait_for  # noqa: E402
from keylib import Fed, load_key  # noqa: E402


def register(node, user):
    node.register(user)
    return node.token


def as_user(node, token):
    node.token = token
    return node


def restricted(node, allow, version=None, pl=None):
    body = {"preset": "private_chat",
            "initial_state": [{"type": "m.room.join_rules", "state_key": "",
                               "content": {"join_rule": "restricted",
                                           "allow": [{"type": "m.room_membership", "room_id": r}
                                                     for r in allow]}}]}
    if version:
        body["room_version"] = version
    if pl:
        body["power_level_content_override"] = pl
    return node.client("POST", "/createRoom", body)[1]["room_id"]


def member_event(node, room, user):
    """user's current member event in room as node's current user sees it."""
    _, state = node.client("GET", "/rooms/%s/state" % q(room))
    for ev in state:
        if ev["type"] == "m.room.member" and ev["state_key"] == user:
            return ev
    return None


def join(node, room, via=None):
    return node.client("POST", "/join/%s%s" % (q(room), "?server_name=" + q(via) if via else ""),
                       {}, ok=())


def main():
    with Cluster(["a.test", "b.test"]) as cl:
        a, b = cl.nodes
        alice = register(a, "alice")
        space = a.client("POST", "/createRoom", {"preset": "public_chat"})[1]["room_id"]
        room = restricted(a, [space], pl={"invite": 50})

        # ---- one node ----
        register(a, "joe")
        assert join(a, space)[0] == 200
        st, out = join(a, room)
        assert st == 200 and out["room_id"] == room, out
        register(a, "eve")
        st, out = join(a, room)
        assert st == 403 and out["errcode"] == "M_FORBIDDEN", out
        as_user(a, alice)
        ev = member_event(a, room, "@joe:a.test")
        assert ev["content"]["membership"] == "join", ev
        assert ev["content"]["join_authorised_via_users_server"] == "@alice:a.test", ev
        assert member_event(a, room, "@eve:a.test") is None

        # ---- two nodes ----
        bkey = load_key(os.path.join(b.data, "signing.key"))
        fa = Fed(a, "b.test", bkey)
        dan = register(b, "dan")  # in no allowed room
        bob = register(b, "bob")
        assert join(b, space, "a.test")[0] == 200
        # dan asks first, while R is on A only: A refuses.
        st, out = join(as_user(b, dan), room, "a.test")
        assert st == 403 and out["errcode"] == "M_FORBIDDEN", (st, out)

        def make_join(r, user):
            return fa.request("GET", "/_matrix/federation/v1/make_join/%s/%s?ver=10&ver=11&ver=12"
                              % (q(r), q(user)))

        st, out = make_join(room, "@dan:b.test")
        assert st == 403 and out["errcode"] == "M_FORBIDDEN", out
        st, made = make_join(room, "@bob:b.test")
        assert st == 200, made
        assert made["event"]["content"]["join_authorised_via_users_server"] == "@alice:a.test", made
        blind = restricted(as_user(a, alice), ["!elsewhere:c.test"])
        st, out = make_join(blind, "@bob:b.test")
        assert st == 400 and out["errcode"] == "M_UNABLE_TO_AUTHORISE_JOIN", out
        # Room v11: nobody on A reaches invite level 101.
        locked = restricted(a, [space], "11", {"invite": 101, "users": {"@alice:a.test": 100}})
        st, out = make_join(locked, "@bob:b.test")
        assert st == 400 and out["errcode"] == "M_UNABLE_TO_GRANT_JOIN", out

        # bob joins R through A.
        st, out = join(as_user(b, bob), room, "a.test")
        assert st == 200 and out["room_id"] == room, (st, out)
        on_b = member_event(b, room, "@bob:b.test")
        assert on_b["content"]["join_authorised_via_users_server"] == "@alice:a.test", on_b
        on_a = wait_for("bob's join on A", lambda: member_event(as_user(a, alice), room, "@bob:b.test"))
        assert on_a["event_id"] == on_b["event_id"], (on_a, on_b)
        st, got = fa.request("GET", "/_matrix/federation/v1/event/%s" % q(on_a["event_id"]))
        assert st == 200, got
        sigs = got["pdus"][0]["signatures"]
        assert "a.test" in sigs and "b.test" in sigs, sigs

        # carol of B joins S on B, then R: B has R now, but bob (level 0)
        # may not invite: B goes through A.
        carol = register(b, "carol")
        assert join(b, space)[0] == 200
        wait_for("carol in S on A", lambda: (member_event(as_user(a, alice), space, "@carol:b.test")
                                             or {}).get("content", {}).get("membership") == "join")
        st, out = join(as_user(b, carol), room)
        assert st == 200 and out["room_id"] == room, (st, out)
        ev = member_event(b, room, "@carol:b.test")
        assert ev["content"]["join_authorised_via_users_server"] == "@alice:a.test", ev
        wait_for("carol's join on A", lambda: member_event(as_user(a, alice), room, "@carol:b.test"))
        # dan, in no allowed room, is refused on B itself now that B has R.
        st, out = join(as_user(b, dan), room)
        assert st == 403 and out["errcode"] == "M_FORBIDDEN", (st, out)
    print("ok")


if __name__ == "__main__":
    main()
