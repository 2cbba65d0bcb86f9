# keylib.py: speaking server-server as some server, implemented here
# independently of mxdb (signedjson, canonicaljson): redaction, event IDs,
# hashing and signing PDUs, X-Matrix signed requests (Fed), key responses,
# and a small fake key server whose answers the test scripts. Not a test.
import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import canonicaljson
import signedjson.key
import signedjson.sign

# Top-level keys a redaction keeps in rooms v11 and v12.
KEEP = ["event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
        "depth", "prev_events", "auth_events", "origin_server_ts"]


def load_key(path):
    alg, version, seed = open(path).read().split()
    return signedjson.key.decode_signing_key_base64(alg, version, seed)


def key_id(key):
    return "%s:%s" % (key.alg, key.version)


def pub(key):
    return signedjson.key.encode_verify_key_base64(signedjson.key.get_verify_key(key))


def now_ms():
    return int(time.time() * 1000)


def b64(b, url=False):
    return (base64.urlsafe_b64encode if url else base64.b64encode)(b).decode().rstrip("=")


# Content keys a redaction keeps, by type (rooms v11 and v12; None: all).
KEEP_CONTENT = {
    "m.room.create": None,
    "m.room.member": ["membership", "join_authorised_via_users_server", "third_party_invite"],
    "m.room.join_rules": ["join_rule", "allow"],
    "m.room.power_levels": ["ban", "events", "events_default", "invite", "kick", "redact",
                            "state_default", "users", "users_default"],
    "m.room.history_visibility": ["history_visibility"],
    "m.room.redaction": ["redacts"],
}


def redact(ev):
    r = {k: v for k, v in ev.items() if k in KEEP}
    content = ev.get("content", {})
    keep = KEEP_CONTENT.get(ev["type"], [])
    r["content"] = dict(content) if keep is None else {k: v for k, v in content.items() if k in keep}
    tpi = r["content"].get("third_party_invite")
    if isinstance(tpi, dict):
        r["content"]["third_party_invite"] = {"signed": tpi["signed"]} if "signed" in tpi else {}
    return r


def event_id(ev):
    r = redact(ev)
    r.pop("signatures", None)
    r.pop("unsigned", None)
    return "$" + b64(hashlib.sha256(canonicaljson.encode_canonical_json(r)).digest(), url=True)


def seal(ev, key, server):
    """Content hash, then server's signature over the redacted event (rooms v11+)."""
    body = {k: v for k, v in ev.items() if k not in ("unsigned", "signatures", "hashes")}
    ev["hashes"] = {"sha256": b64(hashlib.sha256(canonicaljson.encode_canonical_json(body)).digest())}
    ev["signatures"] = signedjson.sign.sign_json(redact(ev), server, key)["signatures"]
    return ev


def signed_request(url, origin, destination, key, method, uri, body=None):
    """One federation request to url+uri signed as origin with key: (status, json)."""
    j = {"method": method, "uri": uri, "origin": origin, "destination": destination}
    if body is not None:
        j["content"] = body
    sig = signedjson.sign.sign_json(j, origin, key)["signatures"][origin][key_id(key)]
    req = urllib.request.Request(url + uri, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", 'X-Matrix origin="%s",destination="%s",key="%s",sig="%s"'
                   % (origin, destination, key_id(key), sig))
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Fed:
    """Speaks server-server to one node as `origin`, signing with `key`."""

    def __init__(self, node, origin, key):
        self.node, self.origin, self.key = node, origin, key

    def request(self, method, uri, body=None, key=None, destination=None):
        return signed_request(self.node.url, self.origin, destination or self.node.name, key or self.key,
                              method, uri, body)

    def send(self, txn, pdus, **kw):
        return self.request("PUT", "/_matrix/federation/v1/send/%s" % txn,
                            {"origin": self.origin, "origin_server_ts": now_ms(),
                             "pdus": pdus, "edus": []}, **kw)


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def key_response(server, key, valid_for_ms=3600 * 1000, old=None, sign_with=None):
    """server's key response publishing key (and old: {key_id: (pub, expired_ts)}),
    signed by sign_with (default: key itself)."""
    r = {"server_name": server, "verify_keys": {key_id(key): {"key": pub(key)}},
         "old_verify_keys": {k: {"key": p, "expired_ts": ts} for k, (p, ts) in (old or {}).items()},
         "valid_until_ts": now_ms() + valid_for_ms}
    return signedjson.sign.sign_json(r, server, sign_with or key)


def dump_logs(nodes):
    for n in nodes:
        try:
            print("---- %s log (tail)" % n.name)
            print(open(n.data + ".log").read()[-3000:])
        except OSError:
            pass


def two_nodes_one_table(a, b, key, value):
    """Starts a and b (fedlib Nodes), registers alice on a and bob on b, makes
    a public table "t" on a holding one row; returns its room ID."""
    a.start()
    b.start()
    a.register("alice")
    b.register("bob")
    _, t = a.call("POST", "/_mxdb/v1/tables", {"name": "t", "visibility": "public"})
    a.put_row(t["room_id"], key, value)
    return t["room_id"]


class FakeKeyServer:
    """A key server on 127.0.0.1: GET /_matrix/key/v2/server answers its own
    key; POST /_matrix/key/v2/query answers answers[server_name] (a list of
    key responses, sent as they are) and records the request bodies."""

    def __init__(self, name, key, port):
        self.name, self.key, self.port = name, key, port
        self.answers, self.queries = {}, []
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.startswith("/_matrix/key/v2/server"):
                    self.reply(200, key_response(fake.name, fake.key))
                else:
                    self.reply(404, {"errcode": "M_NOT_FOUND", "error": "no"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.queries.append(body)
                out = []
                for server in body.get("server_keys", {}):
                    out += fake.answers.get(server, [])
                self.reply(200, {"server_keys": out})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
