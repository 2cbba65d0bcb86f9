# fedsign.py: speaking server-server as a real server, implemented here
# independently of mxdb (signedjson, canonicaljson): redaction, event IDs,
# hashing and signing of PDUs, X-Matrix signed requests, and a server's
# signing key from its data directory. Not a test itself.
import base64
import hashlib
import json
import time
import urllib.error
import urllib.request

import canonicaljson
import signedjson.key
import signedjson.sign

# Top-level keys a redaction keeps in rooms v11 and v12.
KEEP = ["event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
        "depth", "prev_events", "auth_events", "origin_server_ts"]


def b64(b, url=False):
    s = (base64.urlsafe_b64encode if url else base64.b64encode)(b).decode()
    return s.rstrip("=")


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
    body = {k: v for k, v in ev.items() if k not in ("unsigned", "signatures", "hashes")}
    ev["hashes"] = {"sha256": b64(hashlib.sha256(canonicaljson.encode_canonical_json(body)).digest())}
    signed = signedjson.sign.sign_json(redact(ev), server, key)
    ev["signatures"] = signed["signatures"]
    return ev


class Fed:
    """Speaks server-server to one node as `origin`, signing with `key`."""

    def __init__(self, node, origin, key):
        self.node, self.origin, self.key = node, origin, key

    def request(self, method, uri, body=None, key=None, destination=None):
        key = key or self.key
        dest = destination or self.node.name
        j = {"method": method, "uri": uri, "origin": self.origin, "destination": dest}
        if body is not None:
            j["content"] = body
        sig = signedjson.sign.sign_json(j, self.origin, key)["signatures"][self.origin]
        kid, s = next(iter(sig.items()))
        req = urllib.request.Request(self.node.url + uri, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Authorization", 'X-Matrix origin="%s",destination="%s",key="%s",sig="%s"'
                       % (self.origin, dest, kid, s))
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def send(self, txn, pdus, **kw):
        return self.request("PUT", "/_matrix/federation/v1/send/%s" % txn,
                            {"origin": self.origin, "origin_server_ts": int(time.time() * 1000),
                             "pdus": pdus, "edus": []}, **kw)


def load_key(path):
    alg, version, seed = open(path).read().split()
    return signedjson.key.decode_signing_key_base64(alg, version, seed)
