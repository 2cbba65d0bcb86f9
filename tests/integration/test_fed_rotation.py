# test_fed_rotation.py: rotating a server's signing key (docs/replication.md,
# "Rotating the signing key"), with real mxdbd processes on loopback. A
# writes rows with key K1, B follows; A restarts with a new key K2 and K1
# as --old-signing-key FILE:EXPIRED_TS. Checked: A's /key/v2/server lists
# K1 under old_verify_keys with that expired_ts; A's new rows reach B; a
# new node C joins and accepts A's events signed by K1 before expired_ts;
# requests signed by K1 after expiry are refused (401) by B (which knew K1
# as current) and C, while K2 passes; an event signed by K1 with an
# origin_server_ts after expiry is rejected by B, the same event signed by
# K2 accepted.
import os
import shutil
import sys
import tempfile

import signedjson.key
import signedjson.sign

sys.path.insert(0, os.path.dirname(__file__))
from fedlib import Node, free_port, q, wait_for  # noqa: E402
from keylib import (dump_logs, event_id, get_json, key_id, load_key, now_ms, pub, seal,  # noqa: E402
                    signed_request, two_nodes_one_table)


def main():
    base = tempfile.mkdtemp(prefix="mxdb-rot-")
    ports = {n: free_port() for n in ("a.test", "b.test", "c.test")}

    def peers(me):
        return ["%s=127.0.0.1:%d" % (n, p) for n, p in ports.items() if n != me]

    a, b, c = (Node(n, base, ports[n], peers(n)) for n in ("a.test", "b.test", "c.test"))
    nodes = [a, b, c]
    try:
        room = two_nodes_one_table(a, b, "before", {"v": 1})
        b.client("POST", "/join/%s" % q(room) + "?server_name=a.test", {})
        assert b.get_row(room, "before") == {"v": 1}
        k1 = load_key(os.path.join(a.data, "signing.key"))

        # Rotation: the old key file kept aside, a new one made on start.
        a.stop()
        old_path = os.path.join(base, "a-old.key")
        os.rename(os.path.join(a.data, "signing.key"), old_path)
        expired = now_ms()
        a.extra += ["--old-signing-key", "%s:%d" % (old_path, expired)]
        a.start()
        k2 = load_key(os.path.join(a.data, "signing.key"))
        assert key_id(k2) != key_id(k1)
        keys = get_json(a.url + "/_matrix/key/v2/server")
        assert keys["verify_keys"] == {key_id(k2): {"key": pub(k2)}}, keys
        assert keys["old_verify_keys"] == {key_id(k1): {"key": pub(k1), "expired_ts": expired}}, keys
        signedjson.sign.verify_signed_json(keys, "a.test", signedjson.key.get_verify_key(k2))

        # Rows written with K2 reach B (which fetches A's keys anew).
        after_id = a.put_row(room, "after", {"v": 2})
        wait_for("A's row after the rotation on B", lambda: b.get_row(room, "after") == {"v": 2})

        # C never saw K1 as current: the join hands it A's events signed by
        # K1 before expired_ts, which must be accepted.
        c.start()
        c.register("carol")
        c.client("POST", "/join/%s" % q(room) + "?server_name=a.test", {})
        assert c.get_row(room, "before") == {"v": 1}
        assert c.get_row(room, "after") == {"v": 2}

        # Requests: K1 retired, so refused; K2 good.
        uri = "/_matrix/federation/v1/query/profile?user_id=%s"
        for n in (b, c):
            st, _ = signed_request(n.url, "a.test", n.name, k1, "GET", uri % q("@x:" + n.name))
            assert st == 401, "%s took a request signed by a retired key (%d)" % (n.name, st)
            st, _ = signed_request(n.url, "a.test", n.name, k2, "GET", uri % q("@x:" + n.name))
            assert st != 401, "%s refused a request signed by the current key" % n.name

        # An event stamped after K1's expiry and signed by K1: rejected.
        st, got = signed_request(a.url, "b.test", "a.test", load_key(os.path.join(b.data, "signing.key")),
                                 "GET", "/_matrix/federation/v1/event/%s" % q(after_id))
        assert st == 200, got
        tmpl = got["pdus"][0]

        def forge(key, state_key):
            ev = {k: v for k, v in tmpl.items() if k not in ("hashes", "signatures", "unsigned")}
            ev.update({"state_key": state_key, "content": {"v": state_key}, "prev_events": [after_id],
                       "depth": tmpl["depth"] + 1, "origin_server_ts": now_ms()})
            return seal(ev, key, "a.test")

        def send(txn, ev):
            return signed_request(b.url, "a.test", "b.test", k2, "PUT", "/_matrix/federation/v1/send/" + txn,
                                  {"origin": "a.test", "origin_server_ts": now_ms(), "pdus": [ev], "edus": []})

        late = forge(k1, "late-k1")
        st, out = send("rot-1", late)
        assert st == 200 and "error" in out["pdus"].get(event_id(late), {}), out
        assert b.get_row(room, "late-k1") is None
        good = forge(k2, "late-k2")
        st, out = send("rot-2", good)
        assert st == 200 and out["pdus"].get(event_id(good)) == {}, out
        assert b.get_row(room, "late-k2") == {"v": "late-k2"}
    except Exception:
        dump_logs(nodes)
        raise
    finally:
        for n in nodes:
            n.stop()
        shutil.rmtree(base, ignore_errors=True)
    print("test_fed_rotation: ok")


main()
