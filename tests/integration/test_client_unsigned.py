"""test_client_unsigned.py: the unsigned block of events as clients read
them over HTTP from a real mxdbd (/event, /messages, /sync, /state):
age, prev_content and replaces_state on a replaced state key, the whole
redaction event in redacted_because, transaction_id for the sending device
only."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cslib  # noqa: E402
from cslib import check, ok, q  # noqa: E402
from mxdbd_util import Mxdbd  # noqa: E402


def run():
    a = ok("POST", "/register", {"username": "alice", "password": "pw", "device_id": "ADEV",
                                 "auth": {"type": "m.login.dummy"}})["access_token"]
    a2 = ok("POST", "/login", {"type": "m.login.password", "user": "alice", "password": "pw",
                               "device_id": "ADEV2"})["access_token"]
    room = ok("POST", "/createRoom", {"name": "first"}, a)["room_id"]
    r = "/rooms/" + q(room)
    t1 = ok("PUT", r + "/state/m.room.topic/", {"topic": "one"}, a)["event_id"]
    t2 = ok("PUT", r + "/state/m.room.topic/", {"topic": "two"}, a)["event_id"]
    m = ok("PUT", r + "/send/m.room.message/tx1", {"msgtype": "m.text", "body": "hi"}, a)["event_id"]
    red = ok("PUT", r + "/redact/%s/tx2" % q(m), {"reason": "oops"}, a)["event_id"]

    ev = ok("GET", r + "/event/" + q(t2), token=a)
    u = ev["unsigned"]
    check(u.get("replaces_state") == t1 and u.get("prev_content") == {"topic": "one"},
          "replaced topic: %r" % u)
    check(isinstance(u.get("age"), int) and 0 <= u["age"] < 60000, "age %r" % u)
    first = ok("GET", r + "/event/" + q(t1), token=a)["unsigned"]
    check("prev_content" not in first and "replaces_state" not in first, "first topic: %r" % first)

    rb = ok("GET", r + "/event/" + q(m), token=a)["unsigned"].get("redacted_because", {})
    check(rb.get("event_id") == red and rb.get("sender", "").startswith("@alice:") and
          rb.get("content", {}).get("reason") == "oops" and "origin_server_ts" in rb,
          "redacted_because %r" % rb)

    msgs = ok("GET", r + "/messages?dir=b&limit=10", token=a)["chunk"]
    byid = {e["event_id"]: e for e in msgs}
    check(byid[t2]["unsigned"].get("prev_content") == {"topic": "one"}, "messages prev_content")
    check(byid[m]["unsigned"]["redacted_because"]["event_id"] == red, "messages redacted_because")
    check(all(isinstance(e["unsigned"].get("age"), int) for e in msgs), "messages age")
    state = ok("GET", r + "/state", token=a)
    topic = [e for e in state if e["type"] == "m.room.topic"][0]
    check(topic["unsigned"].get("replaces_state") == t1, "state replaces_state")

    # transaction_id: the sending device sees it, the user's other device does not
    def txn_of(token):
        tl = ok("GET", "/sync?timeout=0", token=token)["rooms"]["join"][room]["timeline"]["events"]
        return {e["event_id"]: e["unsigned"].get("transaction_id") for e in tl}
    check(txn_of(a).get(red) == "tx2", "sender device transaction_id")
    check(txn_of(a2).get(red) is None, "other device saw transaction_id")


with Mxdbd() as d:
    cslib.PORT = d.port
    run()
    rc = d.stop()
    check(rc == 0, "mxdbd exit %s: %s" % (rc, d.log()))
print("test_client_unsigned: ok")
