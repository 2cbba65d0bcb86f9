"""Differential test of `mxdb event-id` against an independent Python
computation of the reference hash (canonicaljson + hashlib + base64), with
the redaction rules written here straight from the spec (rooms/v10.md with
fragments/v9-redactions.md; fragments/v11-redactions.md for v11 and v12).

A few hundred generated events per room version, mixing every event type the
redaction rules name, kept and dropped keys, nested objects and non-ASCII
text. Also checks that bad input exits with status 2.
"""
import base64
import hashlib
import json
import os
import random
import subprocess
import sys

import canonicaljson

# --- the reference implementation ------------------------------------------

TOP_V10 = {"event_id", "type", "room_id", "sender", "state_key", "content",
           "hashes", "signatures", "depth", "prev_events", "prev_state",
           "auth_events", "origin", "origin_server_ts", "membership"}
TOP_V11 = TOP_V10 - {"origin", "membership", "prev_state"}

CONTENT_V10 = {
    "m.room.member": ["membership", "join_authorised_via_users_server"],
    "m.room.create": ["creator"],
    "m.room.join_rules": ["join_rule", "allow"],
    "m.room.power_levels": ["ban", "events", "events_default", "kick", "redact",
                            "state_default", "users", "users_default"],
    "m.room.history_visibility": ["history_visibility"],
}
CONTENT_V11 = dict(CONTENT_V10)
CONTENT_V11["m.room.create"] = None  # everything
CONTENT_V11["m.room.power_levels"] = CONTENT_V10["m.room.power_levels"] + ["invite"]
CONTENT_V11["m.room.redaction"] = ["redacts"]

RULES = {"10": (TOP_V10, CONTENT_V10, False),
         "11": (TOP_V11, CONTENT_V11, True),
         "12": (TOP_V11, CONTENT_V11, True)}


def redact(ev, version):
    top, content_rules, v11 = RULES[version]
    out = {k: v for k, v in ev.items() if k in top}
    if "content" in out:
        content = out["content"]
        t = ev.get("type")
        if t not in content_rules:
            out["content"] = {}
        elif content_rules[t] is not None:
            kept = {k: v for k, v in content.items() if k in content_rules[t]}
            tpi = content.get("third_party_invite")
            if v11 and t == "m.room.member" and isinstance(tpi, dict) and "signed" in tpi:
                kept["third_party_invite"] = {"signed": tpi["signed"]}
            out["content"] = kept
    return out


def event_id(ev, version):
    r = redact(ev, version)
    for k in ("signatures", "unsigned", "age_ts"):
        r.pop(k, None)
    digest = hashlib.sha256(canonicaljson.encode_canonical_json(r)).digest()
    return "$" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


# --- generated events ---------------------------------------------------------

TYPES = ["m.room.member", "m.room.create", "m.room.join_rules", "m.room.power_levels",
         "m.room.history_visibility", "m.room.redaction", "m.room.message",
         "com.example.todo", "m.room.name"]
WORDS = ["membership", "join", "invite", "ban", "events", "users", "creator", "redacts",
         "allow", "join_rule", "history_visibility", "body", "title", "done", "invite",
         "kick", "redact", "state_default", "users_default", "events_default",
         "join_authorised_via_users_server", "third_party_invite", "signed", "room_version",
         "notifications", "x", "ünïcødé", "日本", "emoji \U0001F600", "quote\"back\\slash",
         "tab\tnl\n", "\x01ctl"]


def rand_value(rng, depth=0):
    r = rng.random()
    if depth > 2 or r < 0.35:
        return rng.choice(WORDS)
    if r < 0.55:
        return rng.randint(-(2**53) + 1, 2**53 - 1) if rng.random() < 0.3 else rng.randint(0, 100)
    if r < 0.62:
        return rng.choice([True, False, None])
    if r < 0.8:
        return [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rand_obj(rng, depth + 1)


def rand_obj(rng, depth=0):
    return {rng.choice(WORDS): rand_value(rng, depth) for _ in range(rng.randint(0, 5))}


def rand_event(rng, version, i):
    t = rng.choice(TYPES)
    content = rand_obj(rng)
    if t == "m.room.member" and rng.random() < 0.6:
        content["third_party_invite"] = {"signed": rand_obj(rng), "display_name": "x"}
    ev = {
        "type": t,
        "sender": "@u%d:example.org" % rng.randint(0, 9),
        "room_id": "!room%d:example.org" % rng.randint(0, 3),
        "content": content,
        "depth": rng.randint(1, 10**6),
        "origin_server_ts": 1700000000000 + i,
        "prev_events": ["$p%d" % rng.randint(0, 99) for _ in range(rng.randint(0, 3))],
        "auth_events": ["$a%d" % rng.randint(0, 99) for _ in range(rng.randint(0, 3))],
        "hashes": {"sha256": base64.b64encode(os.urandom(32)).decode().rstrip("=")},
        "signatures": {"example.org": {"ed25519:a": "sig%d" % i}},
    }
    if t != "m.room.message" or rng.random() < 0.2:
        ev["state_key"] = rng.choice(["", "@u1:example.org", "row-%d" % i])
    if t == "m.room.redaction":
        if version == "10":
            ev["redacts"] = "$r%d" % i
        else:
            content["redacts"] = "$r%d" % i
    for extra in ("origin", "membership", "prev_state", "unsigned", "age_ts", "foo"):
        if rng.random() < 0.3:
            ev[extra] = rand_value(rng) if extra != "unsigned" else rand_obj(rng)
    if version == "12" and t == "m.room.create" and rng.random() < 0.5:
        del ev["room_id"]
    return ev


def run_cli(version, text, *extra):
    exe = os.path.join(os.environ.get("MXDB_BIN", "build/test"), "mxdb")
    return subprocess.run([exe, "event-id", "--room-version", version, *extra], input=text,
                          capture_output=True, timeout=60)


def one_line(rng, ev):
    """The event as one line of JSON, canonical or not (order, escapes)."""
    if rng.random() < 0.5:
        return canonicaljson.encode_canonical_json(ev)
    return json.dumps(ev, ensure_ascii=rng.random() < 0.5,
                      separators=rng.choice([(",", ":"), (", ", ": ")])).encode()


def main():
    rng = random.Random(20261125)
    failures = 0
    checked = 0

    def fail(msg):
        nonlocal failures
        failures += 1
        if failures <= 8:
            print(msg)

    for version in ("10", "11", "12"):
        # Bulk: 300 events, one process (--lines).
        events = [rand_event(rng, version, i) for i in range(300)]
        lines = [one_line(rng, ev) for ev in events]
        p = run_cli(version, b"\n".join(lines) + b"\n", "--lines")
        got = p.stdout.decode().split("\n")
        if p.returncode != 0 or len(got) != len(events) + 1:
            fail("v%s --lines: rc=%d, %d lines, stderr=%s" %
                 (version, p.returncode, len(got), p.stderr.decode()[:300]))
        for i, ev in enumerate(events):
            checked += 1
            want = event_id(ev, version)
            if i >= len(got) or got[i] != want:
                fail("v%s event %d: got %r want %r\n  %s" %
                     (version, i, got[i] if i < len(got) else None, want, lines[i][:400]))
        # Single documents, pretty-printed over several lines.
        for ev in events[:10]:
            checked += 1
            p = run_cli(version, json.dumps(ev, indent=2).encode())
            want = event_id(ev, version) + "\n"
            if p.returncode != 0 or p.stdout.decode() != want:
                fail("v%s single: rc=%d got %r want %r" % (version, p.returncode, p.stdout, want))

    # Bad input: exit status 2 with a message on stderr, nothing on stdout.
    bad = [("10", b"not json"), ("10", b"[1,2]"), ("99", b"{}"), ("10", b'{"type":"x"}'),
           ("11", b'{"type":1.5}'), ("11", b'{"a":1,"a":2}')]
    for version, text in bad:
        p = run_cli(version, text)
        checked += 1
        if p.returncode != 2 or not p.stderr or p.stdout:
            fail("bad input %r (v%s): rc=%d stdout=%r stderr=%r" %
                 (text, version, p.returncode, p.stdout, p.stderr))
    # --lines keeps going after a bad line and says which one.
    ev = rand_event(rng, "11", 0)
    good = canonicaljson.encode_canonical_json(ev)
    p = run_cli("11", good + b"\n{}\n" + good + b"\n", "--lines")
    out = p.stdout.decode().split("\n")
    checked += 1
    if (p.returncode != 2 or len(out) != 4 or out[0] != event_id(ev, "11") or
            not out[1].startswith("error: ") or out[2] != out[0] or b"line 2" not in p.stderr):
        fail("--lines with a bad line: rc=%d out=%r err=%r" % (p.returncode, out, p.stderr))

    print("test_event_id: %d checks, %d failed" % (checked, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
