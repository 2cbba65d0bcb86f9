# test_knock_local.py: knocking on a table of the same server over the
# client API (POST /knock/{roomIdOrAlias}), with a real mxdbd on loopback.
# The engine writes the knock and the auth rules decide: refused (403
# M_FORBIDDEN) while the join rule is invite or public, taken once it is
# knock; the admin sees the knock in the room's state, the knocker's /sync
# shows the room under rooms.knock; the admin invites, the knocker joins.
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, add_user, as_user, q  # noqa: E402


def main():
    with Cluster(["a.test"]) as cl:
        a = cl.nodes[0]
        a.register("alice")
        bob, tok = add_user(a, "bob")
        _, t = a.call("POST", "/_mxdb/v1/tables", {"name": "door", "visibility": "private"})
        room = t["room_id"]
        _, pub = a.call("POST", "/_mxdb/v1/tables", {"name": "open", "visibility": "public"})

        # Invite-only and public rooms take no knocks.
        for r in (room, pub["room_id"]):
            st, err = as_user(a, tok, "POST", "/knock/%s" % q(r), {}, ok=())
            assert st == 403 and err["errcode"] == "M_FORBIDDEN", (r, st, err)
        st, err = as_user(a, tok, "POST", "/knock/%s" % q("!nowhere:a.test"), {}, ok=())
        assert st == 404, (st, err)

        a.client("PUT", "/rooms/%s/state/m.room.join_rules/" % q(room), {"join_rule": "knock"})
        # By alias, with a reason.
        _, out = as_user(a, tok, "POST", "/knock/%s" % q("#door:a.test"), {"reason": "let me in"})
        assert out == {"room_id": room}, out
        _, ev = a.client("GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q(bob)))
        assert ev["membership"] == "knock" and ev["reason"] == "let me in", ev
        # A knocker is not a member: no joining on one's own, no reading.
        st, _ = as_user(a, tok, "POST", "/join/%s" % q(room), {}, ok=())
        assert st == 403, st
        st, _ = as_user(a, tok, "GET", "/rooms/%s/state" % q(room), ok=())
        assert st == 403, st

        _, s = as_user(a, tok, "GET", "/sync?timeout=0")
        k = s["rooms"]["knock"].get(room)
        assert k is not None and room not in s["rooms"]["invite"], s["rooms"]
        types = {(e["type"], e["state_key"]) for e in k["knock_state"]["events"]}
        assert ("m.room.create", "") in types and ("m.room.join_rules", "") in types, types
        mine = [e for e in k["knock_state"]["events"] if e["type"] == "m.room.member"]
        assert mine and mine[0]["content"]["membership"] == "knock", mine

        # The admin lets bob in: an invite, then bob joins.
        a.client("POST", "/rooms/%s/invite" % q(room), {"user_id": bob})
        _, s2 = as_user(a, tok, "GET", "/sync?timeout=0&since=%s" % q(s["next_batch"]))
        assert room in s2["rooms"]["invite"] and room not in s2["rooms"]["knock"], s2["rooms"]
        _, out = as_user(a, tok, "POST", "/join/%s" % q(room), {})
        assert out["room_id"] == room, out
        _, ev = a.client("GET", "/rooms/%s/state/m.room.member/%s" % (q(room), q(bob)))
        assert ev["membership"] == "join", ev
        # A member knocks no more.
        st, err = as_user(a, tok, "POST", "/knock/%s" % q(room), {}, ok=())
        assert st == 403, (st, err)
    print("ok")


if __name__ == "__main__":
    main()
