# test_fed_badinput.py: hostile federation input against a real mxdbd (A),
# crafted here in Python with signedjson/canonicaljson (an implementation
# independent of ours) using the real key of a second real server (B) that
# joined A's table. Checked: a good event is accepted; a forged signature,
# a request signed by the wrong key and a request for another destination
# are refused; an event failing the auth rules is rejected (kept, no
# effect, shown to no client: not in /sync, /messages, /context, /event); a wrong content hash stores
# the event redacted; a replayed transaction changes nothing; a server
# outside the room reads none of its history; a transaction of 50 PDUs
# near the size limit is taken (the federation body limit is over the client
# API's), a larger body refused with 413.
import base64
import copy
import json
import os
import sys
import time
import urllib.error
import urllib.request

import canonicaljson
import nacl.signing

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Cluster, q, shared_table, wait_for  # noqa: E402
from keylib import Fed, b64, event_id, load_key, seal  # noqa: E402

TYPE = "com.example.todo"
def main():
    with Cluster(["a.test", "b.test", "c.test"]) as cl:
        a, b, c = cl.nodes
        room = shared_table(cl, "t", joiners=[b])
        fed = Fed(a, "b.test", load_key(os.path.join(b.data, "signing.key")))

        # The room's state as A serves it, to cite the right auth events.
        st, ids = fed.request("GET", "/_matrix/federation/v1/state_ids/%s" % q(room))
        assert st == 200, ids
        by_key = {}
        for eid in ids["pdu_ids"]:
            st, out = fed.request("GET", "/_matrix/federation/v1/event/%s" % q(eid))
            pdu = out["pdus"][0]
            by_key[(pdu["type"], pdu.get("state_key"))] = eid
        st, made = fed.request("GET", "/_matrix/federation/v1/make_join/%s/%s?ver=10&ver=11&ver=12" % (q(room), q("@eve:b.test")))
        assert st == 200, made
        version = made["room_version"]

        def heads():
            _, m = fed.request("GET", "/_matrix/federation/v1/make_join/%s/%s?ver=10&ver=11&ver=12" % (q(room), q("@eve:b.test")))
            return m["event"]["prev_events"], m["event"]["depth"]

        def row_event(sender, key, content, after=None):
            prev, depth = after or heads()
            auth = [by_key[("m.room.power_levels", "")]]
            if version not in ("12",):
                auth.append(by_key[("m.room.create", "")])
            if ("m.room.member", sender) in by_key:
                auth.append(by_key[("m.room.member", sender)])
            ev = {"auth_events": auth, "prev_events": prev, "depth": depth, "content": content,
                  "origin_server_ts": int(time.time() * 1000), "room_id": room, "sender": sender,
                  "type": TYPE, "state_key": key}
            return seal(ev, fed.key, "b.test")

        def a_row(key):
            st, out = a.call("GET", "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(room), TYPE, key), ok=())
            return out if st == 200 else None

        def a_changes():
            _, out = a.call("GET", "/_mxdb/v1/changes?since=0&limit=10000&room=%s" % q(room))
            return out["changes"]

        def stored(eid):
            st, _ = fed.request("GET", "/_matrix/federation/v1/event/%s" % q(eid))
            return st == 200

        # A good event: accepted, stored, its row readable, cause remote.
        good = row_event("@bob:b.test", "good", {"v": 1})
        st, out = fed.send("t-good", [good])
        assert st == 200 and out["pdus"].get(event_id(good)) == {}, out
        assert a_row("good") == {"v": 1}
        assert [c["cause"] for c in a_changes() if c["key"] == "good"] == ["remote"]

        # A replayed transaction: the same answer, nothing new.
        before = len(a_changes())
        st2, out2 = fed.send("t-good", [good])
        assert st2 == 200 and out2 == out, out2
        # The same event in a new transaction: known, nothing new either.
        st3, out3 = fed.send("t-again", [good])
        assert st3 == 200 and out3["pdus"].get(event_id(good)) == {}, out3
        assert len(a_changes()) == before

        # A forged signature: dropped.
        forged = row_event("@bob:b.test", "forged", {"v": 2})
        s = forged["signatures"]["b.test"]
        kid = next(iter(s))
        sig = bytearray(base64.b64decode(s[kid] + "=="))
        sig[5] ^= 1
        s[kid] = b64(bytes(sig))
        st, out = fed.send("t-forged", [forged])
        assert st == 200 and "error" in out["pdus"].get(event_id(forged), {}), out
        assert a_row("forged") is None and not stored(event_id(forged))

        # Signed by B but by a user who never joined: fails the auth rules.
        # It is kept as rejected (events citing it still fit the graph) but
        # changes nothing: no row, not in the room's state.
        _, s0 = a.client("GET", "/sync?timeout=0")
        eve = row_event("@eve:b.test", "eve", {"v": 3})
        st, out = fed.send("t-eve", [eve])
        assert st == 200 and "error" in out["pdus"].get(event_id(eve), {}), out
        assert a_row("eve") is None
        st, ids2 = fed.request("GET", "/_matrix/federation/v1/state_ids/%s" % q(room))
        assert st == 200 and event_id(eve) not in ids2["pdu_ids"], ids2
        # Stored (federation serves it) but shown to no client: not in /sync,
        # /messages, /context, /event, while a good event after it is.
        assert stored(event_id(eve))
        later = row_event("@bob:b.test", "after-eve", {"v": 7})
        st, out = fed.send("t-later", [later])
        assert st == 200 and out["pdus"].get(event_id(later)) == {}, out
        eid, lid = event_id(eve), event_id(later)
        _, s1 = a.client("GET", "/sync?timeout=0&since=%s" % q(s0["next_batch"]))
        tl = [e["event_id"] for e in s1["rooms"]["join"][room]["timeline"]["events"]]
        assert lid in tl and eid not in tl, tl
        _, msgs = a.client("GET", "/rooms/%s/messages?dir=b&limit=100" % q(room))
        ids = [e["event_id"] for e in msgs["chunk"]]
        assert lid in ids and event_id(good) in ids and eid not in ids, ids
        _, ctx = a.client("GET", "/rooms/%s/context/%s?limit=20" % (q(room), q(event_id(good))))
        around = [e["event_id"] for e in ctx["events_before"] + ctx["events_after"]]
        assert lid in around and eid not in around, around
        st, _ = a.client("GET", "/rooms/%s/event/%s" % (q(room), q(eid)), ok=())
        assert st == 404, st
        st, _ = a.client("GET", "/rooms/%s/context/%s" % (q(room), q(eid)), ok=())
        assert st == 404, st
        st, _ = a.client("GET", "/rooms/%s/event/%s" % (q(room), q(lid)))
        assert st == 200

        # A wrong content hash: kept, but redacted (the row reads as deleted).
        bad = row_event("@bob:b.test", "hashbad", {"v": 4})
        bad["content"] = {"v": 666}
        st, out = fed.send("t-hash", [bad])
        assert st == 200 and out["pdus"].get(event_id(bad)) == {}, out
        assert a_row("hashbad") is None
        st, ev = fed.request("GET", "/_matrix/federation/v1/event/%s" % q(event_id(bad)))
        assert st == 200 and ev["pdus"][0]["content"] == {}, ev

        # A request signed by the wrong key under B's key ID: 401, nothing stored.
        wrong = nacl.signing.SigningKey.generate()
        wrong.version, wrong.alg = fed.key.version, "ed25519"
        sneaky = row_event("@bob:b.test", "wrongkey", {"v": 5})
        st, out = fed.send("t-wrongkey", [sneaky], key=wrong)
        assert st == 401 and out["errcode"] == "M_UNAUTHORIZED", (st, out)
        assert a_row("wrongkey") is None and not stored(event_id(sneaky))
        # Addressed to another server: 401.
        st, out = fed.send("t-dest", [sneaky], destination="c.test")
        assert st == 401, (st, out)
        assert a_row("wrongkey") is None
        # No Authorization at all.
        req = urllib.request.Request(a.url + "/_matrix/federation/v1/send/x", method="PUT",
                                     data=b'{"pdus":[],"edus":[]}')
        try:
            urllib.request.urlopen(req)
            raise AssertionError("unauthenticated send accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 401
        # A server that is not in the room gets none of its history.
        outsider = Fed(a, "c.test", load_key(os.path.join(c.data, "signing.key")))
        for path in ("/_matrix/federation/v1/state_ids/%s" % q(room),
                     "/_matrix/federation/v1/state/%s" % q(room),
                     "/_matrix/federation/v1/event/%s" % q(event_id(good)),
                     "/_matrix/federation/v1/backfill/%s?v=%s&limit=5" % (q(room), q(event_id(good)))):
            st, out = outsider.request("GET", path)
            assert st == 403, (path, st, out)
        st, out = outsider.request("POST", "/_matrix/federation/v1/get_missing_events/%s" % q(room),
                                   {"earliest_events": [], "latest_events": [event_id(good)], "limit": 5})
        assert st == 403, (st, out)
        # The largest transaction a server may send: 50 PDUs near the 64 KiB
        # event limit (about 3 MB, over the client API's 1 MiB) is taken whole.
        chain, after = [], None
        for i in range(50):
            ev = row_event("@bob:b.test", "big%d" % i, {"v": "x" * 60000}, after)
            assert len(canonicaljson.encode_canonical_json(ev)) <= 65536
            chain.append(ev)
            after = ([event_id(ev)], ev["depth"] + 1)
        body_len = len(json.dumps({"pdus": chain, "edus": []}))
        assert body_len > 2 * 1024 * 1024, body_len
        st, out = fed.send("t-large", chain)
        assert st == 200 and all(out["pdus"].get(event_id(e)) == {} for e in chain), (st, str(out)[:300])
        assert a_row("big49") == {"v": "x" * 60000}
        # Beyond the federation limit: 413 before anything is looked at.
        req = urllib.request.Request(a.url + "/_matrix/federation/v1/send/huge", method="PUT",
                                     data=b"x" * (5 * 1024 * 1024))
        try:
            urllib.request.urlopen(req)
            raise AssertionError("a 5 MiB transaction was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 413, e.code
        # The client API keeps its 1 MiB.
        st, out = b.client("PUT", "/rooms/%s/state/%s/huge" % (q(room), TYPE),
                           {"v": "x" * (1100 * 1024)}, ok=())
        assert st == 413, st

        # More than 50 PDUs in one transaction: refused whole.
        st, out = fed.send("t-big", [good] * 51)
        assert st == 400, (st, out)
    print("test_fed_badinput: ok")


main()
