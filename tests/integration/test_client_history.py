"""test_client_history.py: what a real mxdbd serves a user who joined a
room late, over HTTP: history visibility on /messages, /context, /event and
the /sync timeline for joined, invited and shared rooms; the /sync state
block as the state at the start of the timeline, initial and limited
incremental."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cslib  # noqa: E402
from cslib import check, ok, q, req  # noqa: E402
from mxdbd_util import Mxdbd  # noqa: E402


def register(name):
    return ok("POST", "/register", {"username": name, "password": "pw",
                                    "auth": {"type": "m.login.dummy"}})


def visibility(a, b, bob, hv):
    """Alice writes before the invite, while Bob is invited, after he
    joined; returns what Bob's reads show of the three messages."""
    room = ok("POST", "/createRoom", {"preset": "public_chat"}, a)["room_id"]
    r = "/rooms/" + q(room)
    ok("PUT", r + "/state/m.room.history_visibility/", {"history_visibility": hv}, a)
    sent = [ok("PUT", r + "/send/m.room.message/%s0" % hv, {"msgtype": "m.text", "body": "0"}, a)]
    ok("POST", r + "/invite", {"user_id": bob}, a)
    sent.append(ok("PUT", r + "/send/m.room.message/%s1" % hv, {"msgtype": "m.text", "body": "1"}, a))
    ok("POST", "/join/" + q(room), {}, b)
    sent.append(ok("PUT", r + "/send/m.room.message/%s2" % hv, {"msgtype": "m.text", "body": "2"}, a))
    ids = [s["event_id"] for s in sent]

    chunk = ok("GET", r + "/messages?dir=b&limit=50", token=b)["chunk"]
    in_messages = [i in {e["event_id"] for e in chunk} for i in ids]
    by_event = [req("GET", r + "/event/" + q(i), token=b)[0] == 200 for i in ids]
    by_context = [req("GET", r + "/context/" + q(i), token=b)[0] == 200 for i in ids]
    sync = ok("GET", "/sync?timeout=0&filter=" + q(json.dumps({"room": {"timeline": {"limit": 50}}})),
              token=b)
    tl = sync["rooms"]["join"][room]["timeline"]["events"]
    in_sync = [i in {e["event_id"] for e in tl} for i in ids]
    check(in_messages == by_event == by_context == in_sync,
          "%s: messages %r event %r context %r sync %r" % (hv, in_messages, by_event, by_context, in_sync))
    return in_messages


def sync_state(a):
    """A name change inside the timeline window is in the timeline, and the
    state block shows the name before it."""
    room = ok("POST", "/createRoom", {"name": "before"}, a)["room_id"]
    r = "/rooms/" + q(room)
    f = q(json.dumps({"room": {"timeline": {"limit": 3}}}))

    sent = [0]

    def send(n):
        for _ in range(n):
            sent[0] += 1
            ok("PUT", r + "/send/m.room.message/s%d" % sent[0], {"msgtype": "m.text", "body": "x"}, a)

    def names(entry):
        st = [e["content"].get("name") for e in entry["state"]["events"] if e["type"] == "m.room.name"]
        tl = [e["content"].get("name") for e in entry["timeline"]["events"] if e["type"] == "m.room.name"]
        return st, tl

    send(1)
    ok("PUT", r + "/state/m.room.name/", {"name": "inside"}, a)
    send(1)
    j = ok("GET", "/sync?timeout=0&filter=" + f, token=a)
    entry = j["rooms"]["join"][room]
    check(entry["timeline"]["limited"], "initial sync not limited")
    check(names(entry) == (["before"], ["inside"]), "initial sync names %r" % (names(entry),))
    check(len(entry["timeline"]["events"]) == 3, "timeline %r" % entry["timeline"])

    send(4)
    ok("PUT", r + "/state/m.room.name/", {"name": "third"}, a)
    send(1)
    j = ok("GET", "/sync?timeout=0&since=%s&filter=%s" % (q(j["next_batch"]), f), token=a)
    entry = j["rooms"]["join"][room]
    check(entry["timeline"]["limited"], "incremental sync not limited")
    check(names(entry) == (["inside"], ["third"]), "incremental sync names %r" % (names(entry),))


def run():
    a = register("alice")["access_token"]
    bj = register("bob")
    b, bob = bj["access_token"], bj["user_id"]
    check(visibility(a, b, bob, "joined") == [False, False, True], "joined")
    check(visibility(a, b, bob, "invited") == [False, True, True], "invited")
    check(visibility(a, b, bob, "shared") == [True, True, True], "shared")
    check(visibility(a, b, bob, "world_readable") == [True, True, True], "world_readable")
    sync_state(a)


with Mxdbd() as d:
    cslib.PORT = d.port
    run()
    rc = d.stop()
    check(rc == 0, "mxdbd exit %s: %s" % (rc, d.log()))
print("test_client_history: ok")
