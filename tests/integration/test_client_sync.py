"""test_client_sync.py: what /sync delivers besides timelines, against a real
mxdbd: stored and inline filters (timeline limit, types), full_state,
typing and receipts (ephemeral), global and room account data, to-device
messages, one-time key counts, device list changes and keys/changes, and the
account endpoints around them (key upload/query/claim, profile changes that
reach member events, password change revoking the other devices, device
deletion with interactive auth, user directory)."""
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cslib  # noqa: E402
from cslib import check, ok, q, req  # noqa: E402
from mxdbd_util import Mxdbd  # noqa: E402


def register(name, device=None):
    body = {"username": name, "password": "pw", "auth": {"type": "m.login.dummy"}}
    if device:
        body["device_id"] = device
    j = ok("POST", "/register", body)
    return j["access_token"], j["user_id"], j["device_id"]


def sync(token, since=None, timeout=0, **params):
    p = dict(params)
    if since:
        p["since"] = since
    p["timeout"] = str(timeout)
    return ok("GET", "/sync?" + urllib.parse.urlencode(p), token=token)


def run():
    a, alice, adev = register("alice", "ALICEDEV")
    b, bob, bdev = register("bob", "BOBDEV")
    room = ok("POST", "/createRoom", {"name": "sync", "invite": [bob]}, a)["room_id"]
    ok("POST", "/join/" + q(room), {}, b)
    bsince = sync(b)["next_batch"]

    # stored filter: timeline limit 3, only messages
    fid = ok("POST", "/user/%s/filter" % q(bob),
             {"room": {"timeline": {"limit": 3, "types": ["m.room.message"]}}}, b)["filter_id"]
    check(ok("GET", "/user/%s/filter/%s" % (q(bob), fid), token=b)["room"]["timeline"]["limit"] == 3,
          "filter round trip")
    for i in range(6):
        ok("PUT", "/rooms/%s/send/m.room.message/f%d" % (q(room), i),
           {"msgtype": "m.text", "body": "m%d" % i}, a)
    ok("PUT", "/rooms/%s/state/com.example.x/k" % q(room), {"v": 1}, a)
    j = sync(b, bsince, filter=fid)
    tl = j["rooms"]["join"][room]["timeline"]
    bodies = [e["content"].get("body") for e in tl["events"]]
    check(tl["limited"] and "prev_batch" in tl, "limited timeline: %r" % tl)
    check(all(e["type"] == "m.room.message" for e in tl["events"]), "type filter: %r" % bodies)
    check(bodies[-1] == "m5", "newest message last: %r" % bodies)
    # inline filter
    j = sync(b, bsince, filter=json.dumps({"room": {"timeline": {"limit": 2}}}))
    check(len(j["rooms"]["join"][room]["timeline"]["events"]) == 2, "inline filter limit")
    # the sender's device sees its transaction ID
    j = sync(a, None, filter=json.dumps({"room": {"timeline": {"limit": 20}}}))
    mine = [e for e in j["rooms"]["join"][room]["timeline"]["events"]
            if e["content"].get("body") == "m0"]
    check(mine and mine[0].get("unsigned", {}).get("transaction_id") == "f0",
          "transaction_id for the sender: %r" % mine)
    bsince = sync(b, bsince)["next_batch"]

    # full_state gives the room's state even with no new events, and the summary
    j = sync(b, bsince, full_state="true")
    summary = j["rooms"]["join"][room]["summary"]
    check(summary.get("m.joined_member_count") == 2 and summary.get("m.heroes") == [alice],
          "summary: %r" % summary)
    types = {e["type"] for e in j["rooms"]["join"][room]["state"]["events"]}
    check({"m.room.create", "m.room.power_levels", "com.example.x"} <= types, "full_state: %r" % types)

    # typing and receipts arrive as ephemeral events, and wake a long-poll
    def later():
        time.sleep(0.3)
        ok("PUT", "/rooms/%s/typing/%s" % (q(room), q(alice)), {"typing": True, "timeout": 10000}, a)
    threading.Thread(target=later).start()
    t0 = time.time()
    j = sync(b, bsince, timeout=10000)
    check(time.time() - t0 < 5, "typing did not wake the long-poll")
    eph = j["rooms"]["join"][room]["ephemeral"]["events"]
    check(any(e["type"] == "m.typing" and alice in e["content"]["user_ids"] for e in eph),
          "typing: %r" % eph)
    bsince = j["next_batch"]
    last = ok("PUT", "/rooms/%s/send/m.room.message/r1" % q(room), {"msgtype": "m.text", "body": "x"},
              a)["event_id"]
    ok("POST", "/rooms/%s/receipt/m.read/%s" % (q(room), q(last)), {}, a)
    ok("POST", "/rooms/%s/receipt/m.read.private/%s" % (q(room), q(last)), {}, a)
    j = sync(b, bsince)
    eph = j["rooms"]["join"][room]["ephemeral"]["events"]
    rc = [e for e in eph if e["type"] == "m.receipt"]
    check(rc and alice in rc[0]["content"][last]["m.read"], "receipt: %r" % eph)
    check("m.read.private" not in rc[0]["content"][last], "bob sees alice's private receipt")
    bsince = j["next_batch"]

    # account data, global and per room
    ok("PUT", "/user/%s/account_data/org.example.settings" % q(bob), {"theme": "dark"}, b)
    ok("PUT", "/user/%s/rooms/%s/account_data/m.tag" % (q(bob), q(room)), {"tags": {"u": {}}}, b)
    j = sync(b, bsince)
    check(any(e["type"] == "org.example.settings" and e["content"]["theme"] == "dark"
              for e in j["account_data"]["events"]), "global account data: %r" % j["account_data"])
    check(any(e["type"] == "m.tag" for e in j["rooms"]["join"][room]["account_data"]["events"]),
          "room account data")
    check(ok("GET", "/user/%s/account_data/org.example.settings" % q(bob), token=b) == {"theme": "dark"},
          "account data read back")
    bsince = j["next_batch"]

    # keys: upload, counts in sync, query, claim, changes
    dk = {"user_id": bob, "device_id": bdev, "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
          "keys": {"curve25519:" + bdev: "c", "ed25519:" + bdev: "e"}, "signatures": {}}
    j = ok("POST", "/keys/upload", {"device_keys": dk, "one_time_keys": {
        "signed_curve25519:AAA": {"key": "k1"}, "signed_curve25519:AAB": {"key": "k2"}}}, b)
    check(j["one_time_key_counts"]["signed_curve25519"] == 2, "upload counts: %r" % j)
    asince = sync(a)["next_batch"]
    j = sync(b, bsince)
    check(j["device_one_time_keys_count"]["signed_curve25519"] == 2, "otk count in sync")
    j = ok("POST", "/keys/query", {"device_keys": {bob: []}}, a)
    check(j["device_keys"][bob][bdev]["keys"]["ed25519:" + bdev] == "e", "query: %r" % j)
    j = ok("POST", "/keys/claim", {"one_time_keys": {bob: {bdev: "signed_curve25519"}}}, a)
    check(len(j["one_time_keys"][bob][bdev]) == 1, "claim: %r" % j)
    dk["keys"]["ed25519:" + bdev] = "e2"
    ok("POST", "/keys/upload", {"device_keys": dk}, b)
    j = sync(a, asince)
    check(bob in j["device_lists"]["changed"], "device_lists.changed: %r" % j["device_lists"])
    j2 = ok("GET", "/keys/changes?from=%s&to=%s" % (q(asince), q(j["next_batch"])), token=a)
    check(bob in j2["changed"], "keys/changes: %r" % j2)

    # to-device: alice to bob's device, delivered once
    bsince = sync(b, bsince)["next_batch"]
    ok("PUT", "/sendToDevice/m.room_key_request/td1",
       {"messages": {bob: {bdev: {"hello": "device"}}}}, a)
    ok("PUT", "/sendToDevice/m.room_key_request/td1",
       {"messages": {bob: {bdev: {"hello": "device"}}}}, a)  # same txn: no second copy
    j = sync(b, bsince)
    td = j["to_device"]["events"]
    check(len(td) == 1 and td[0]["sender"] == alice and td[0]["content"] == {"hello": "device"},
          "to_device: %r" % td)
    j = sync(b, j["next_batch"])
    check(j["to_device"]["events"] == [], "to-device delivered twice")
    bsince = j["next_batch"]

    # profile change reaches the member event
    ok("PUT", "/profile/%s/displayname" % q(bob), {"displayname": "Bob B."}, b)
    check(ok("GET", "/profile/%s/displayname" % q(bob)) == {"displayname": "Bob B."}, "profile read")
    j = ok("GET", "/rooms/%s/joined_members" % q(room), token=a)
    check(j["joined"][bob].get("display_name") == "Bob B.", "joined_members: %r" % j)

    # user directory
    j = ok("POST", "/user_directory/search", {"search_term": "bob"}, a)
    check([u["user_id"] for u in j["results"]] == [bob], "user search: %r" % j)

    # password change (interactive auth) revokes the other devices' tokens
    b2 = ok("POST", "/login", {"type": "m.login.password", "user": "bob", "password": "pw"})["access_token"]
    st, j = req("POST", "/account/password", {"new_password": "pw2"}, b)
    check(st == 401 and j["flows"][0]["stages"] == ["m.login.password"], "password UIA: %r" % j)
    ok("POST", "/account/password", {"new_password": "pw2", "auth": {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": bob},
        "password": "pw"}}, b)
    check(req("GET", "/account/whoami", token=b2)[0] == 401, "other token survived")
    check(req("GET", "/account/whoami", token=b)[0] == 200, "own token revoked")
    # deleting a device needs the password
    b3 = ok("POST", "/login", {"type": "m.login.password", "user": "bob", "password": "pw2",
                               "device_id": "THIRD"})["access_token"]
    devs = [d["device_id"] for d in ok("GET", "/devices", token=b)["devices"]]
    check("THIRD" in devs and bdev in devs, "devices: %r" % devs)
    check(req("DELETE", "/devices/THIRD", {}, b)[0] == 401, "device delete without auth")
    ok("DELETE", "/devices/THIRD", {"auth": {"type": "m.login.password", "user": bob,
                                             "password": "pw2"}}, b)
    check(req("GET", "/account/whoami", token=b3)[0] == 401, "deleted device's token works")


with Mxdbd() as d:
    cslib.PORT = d.port
    run()
    rc = d.stop()
    check(rc == 0, "mxdbd exit %s: %s" % (rc, d.log()))
print("test_client_sync: ok")
