# test_fed_notary.py: key fetching through notaries (spec "Querying keys
# through another server"), with real mxdbd processes on loopback.
# 1. A node E whose only trusted key server is a fake notary scripted here:
#    keys of servers E cannot reach are taken from the notary only when both
#    the origin's self-signature and the notary's signature verify (a
#    forged origin signature, a forged notary signature and a missing one
#    are refused: requests signed with those keys get 401); the notary is
#    asked with minimum_valid_until_ts; E then answers as a notary itself,
#    the origin's and the notary's signatures kept and its own added.
# 2. Three real nodes: B cannot reach A (its --peer entry for A points at a
#    closed port) but trusts C as key server; B joins A's table through C
#    and gets A's rows, its key for A having come through C.
import os
import shutil
import sys
import tempfile

import signedjson.key
import signedjson.sign

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Node, free_port, q, wait_for  # noqa: E402
from keylib import (FakeKeyServer, dump_logs, get_json, key_id, key_response, load_key, now_ms,  # noqa: E402
                    pub, signed_request)


def verify(obj, server, key):
    signedjson.sign.verify_signed_json(obj, server, signedjson.key.get_verify_key(key))


def profile(node, origin, key):
    """An authenticated request as origin: 401 when its key was refused."""
    st, _ = signed_request(node.url, origin, node.name, key, "GET",
                           "/_matrix/federation/v1/query/profile?user_id=%s" % q("@nobody:" + node.name))
    return st


def fake_notary_part(base):
    closed = free_port()  # nobody listens: the origins are unreachable directly
    nkey = signedjson.key.generate_signing_key("n1")
    notary = FakeKeyServer("notary.test", nkey, free_port())
    origins = ["good.test", "badorigin.test", "badnotary.test", "unsigned.test"]
    e = Node("e.test", base, free_port(),
             ["notary.test=127.0.0.1:%d" % notary.port] + ["%s=127.0.0.1:%d" % (o, closed) for o in origins],
             ["--trusted-key-server", "notary.test"])
    keys = {o: signedjson.key.generate_signing_key("k1") for o in origins}

    def countersign(resp, k=nkey):
        return signedjson.sign.sign_json(resp, "notary.test", k)

    notary.answers["good.test"] = [countersign(key_response("good.test", keys["good.test"]))]
    # The origin's self-signature made by another key under the same key ID.
    other = signedjson.key.generate_signing_key("k1")
    notary.answers["badorigin.test"] = [countersign(
        key_response("badorigin.test", keys["badorigin.test"], sign_with=other))]
    # The notary's signature made by a key that is not the notary's.
    fake_n = signedjson.key.generate_signing_key("n1")
    notary.answers["badnotary.test"] = [countersign(key_response("badnotary.test", keys["badnotary.test"]), fake_n)]
    # No notary signature at all.
    notary.answers["unsigned.test"] = [key_response("unsigned.test", keys["unsigned.test"])]
    e.start()
    try:
        before = now_ms()
        st = profile(e, "good.test", keys["good.test"])
        assert st != 401, "a key from the notary, both signatures good, was refused (%d)" % st
        asked = [qy for qy in notary.queries if "good.test" in qy.get("server_keys", {})]
        assert asked, notary.queries
        crit = asked[0]["server_keys"]["good.test"][key_id(keys["good.test"])]
        assert crit["minimum_valid_until_ts"] >= before - 1000, crit
        for o in ("badorigin.test", "badnotary.test", "unsigned.test"):
            st = profile(e, o, keys[o])
            assert st == 401, "%s: a forged notary answer was taken (%d)" % (o, st)
        assert any("badnotary.test" in qy.get("server_keys", {}) for qy in notary.queries)

        # E as a notary: the answer keeps good.test's and notary.test's
        # signatures and carries E's own.
        e_key = load_key(os.path.join(e.data, "signing.key"))
        out = get_json(e.url + "/_matrix/key/v2/query/good.test")["server_keys"]
        assert len(out) == 1 and out[0]["server_name"] == "good.test", out
        assert out[0]["verify_keys"][key_id(keys["good.test"])]["key"] == pub(keys["good.test"])
        verify(out[0], "good.test", keys["good.test"])
        verify(out[0], "notary.test", nkey)
        verify(out[0], "e.test", e_key)
        # Nothing for a server whose keys were refused.
        out = get_json(e.url + "/_matrix/key/v2/query/badnotary.test")["server_keys"]
        assert out == [], out
    except Exception:
        print(open(e.data + ".log").read()[-3000:])
        raise
    finally:
        e.stop()
        notary.stop()


def three_node_part(base):
    ports = {n: free_port() for n in ("a.test", "b.test", "c.test")}
    closed = free_port()

    def peer(n, port=None):
        return "%s=127.0.0.1:%d" % (n, port or ports[n])

    a = Node("a.test", base, ports["a.test"], [peer("b.test"), peer("c.test")])
    b = Node("b.test", base, ports["b.test"], [peer("c.test"), peer("a.test", closed)],
             ["--trusted-key-server", "c.test"])
    c = Node("c.test", base, ports["c.test"], [peer("a.test"), peer("b.test")])
    nodes = [a, b, c]
    try:
        for n in nodes:
            n.start()
        for n, u in zip(nodes, ("alice", "bob", "carol")):
            n.register(u)
        _, t = a.call("POST", "/_mxdb/v1/tables", {"name": "t", "visibility": "public"})
        room = t["room_id"]
        a.put_row(room, "before", {"v": 1})
        c.client("POST", "/join/%s" % q(room) + "?server_name=a.test", {})
        # B asks C (it cannot reach A): C's answer holds A's events, signed by A.
        b.client("POST", "/join/%s" % q(room) + "?server_name=c.test", {})
        assert b.get_row(room, "before") == {"v": 1}
        a.put_row(room, "after", {"v": 2})
        wait_for("A's new row on B", lambda: b.get_row(room, "after") == {"v": 2})

        # B's copy of A's keys came through C: B, as a notary itself, hands
        # on A's self-signature and C's countersignature, and adds its own.
        a_key, b_key, c_key = (load_key(os.path.join(n.data, "signing.key")) for n in nodes)
        out = get_json(b.url + "/_matrix/key/v2/query/a.test")["server_keys"]
        assert len(out) == 1, out
        verify(out[0], "a.test", a_key)
        verify(out[0], "c.test", c_key)
        verify(out[0], "b.test", b_key)
        # Minimum validity beyond anything A gives: C tries A again, then
        # answers what it has (the asker judges the validity), countersigned.
        want = now_ms() + 30 * 86400000
        _, ans = c.call("POST", "/_matrix/key/v2/query",
                        {"server_keys": {"a.test": {key_id(a_key): {"minimum_valid_until_ts": want}}}})
        assert len(ans["server_keys"]) == 1 and ans["server_keys"][0]["valid_until_ts"] < want, ans
        verify(ans["server_keys"][0], "a.test", a_key)
        verify(ans["server_keys"][0], "c.test", c_key)
        # A server nobody has keys of (an IP literal where nobody listens): an empty list.
        _, ans = c.call("POST", "/_matrix/key/v2/query", {"server_keys": {"127.0.0.1:%d" % closed: {}}})
        assert ans["server_keys"] == [], ans
        # A request C signs reaches nothing at B it should not: B trusts
        # keys, not senders; a request claiming to be A but signed by C's
        # key is refused.
        st, _ = signed_request(b.url, "a.test", "b.test", c_key, "GET",
                               "/_matrix/federation/v1/query/profile?user_id=%s" % q("@bob:b.test"))
        assert st == 401, st
    except Exception:
        dump_logs(nodes)
        raise
    finally:
        for n in nodes:
            n.stop()


def main():
    base = tempfile.mkdtemp(prefix="mxdb-notary-")
    try:
        fake_notary_part(base)
        three_node_part(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("test_fed_notary: ok")


main()
