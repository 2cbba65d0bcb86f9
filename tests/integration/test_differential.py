"""Differential test: `mxdb canonical` and `mxdb sign` against Python's
canonicaljson and signedjson (the libraries Synapse uses), byte for byte.

1,200 random documents (seeded, so a failure replays) are written in random
non-canonical forms (shuffled keys, random whitespace, \\u escapes including
surrogate pairs, \\/) and fed to mxdb in --lines mode, one process per tool;
a sample also goes through the one-document mode. Inputs that break the
spec's rules must be refused by mxdb and by the strict Python reference.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

import canonicaljson
import signedjson.key
import signedjson.sign

MXDB = os.path.join(os.environ.get("MXDB_BIN", "build/test"), "mxdb")
SEED_B64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"  # spec test vector seed
MAX_INT = 2**53 - 1
N_DOCS = 1200

rng = random.Random(20240611)
failures = []

KEY_TRAPS = ["a", "A", "b", "B", "ä", "€", "😀", "｡", "1", "10", "2", "", " ", "_",
             "ab", "abc", "é", "e\u0301", "\U0010ffff", "\ufffd", "\x7f",
             "z" * 40, "\u00e9t\u00e9", "signaturesx"]
CHAR_POOL = (
    [chr(c) for c in range(0x01, 0x20)]           # every control char but NUL
    + list("\"\\/'`{}[]:,\x7f ")                  # JSON syntax and escapes
    + list("azAZ09")
    + ["é", "ß", "日", "本", "€", "\u2028", "\u2029", "\ufeff", "\ufffd", "\uffff"]
    + ["😀", "𝄞", "\U0001f600", "\U00010000", "\U0010ffff"]  # astral plane
)


def rand_string(max_len=12):
    return "".join(rng.choice(CHAR_POOL) for _ in range(rng.randint(0, max_len)))


def rand_key():
    return rng.choice(KEY_TRAPS) if rng.random() < 0.5 else rand_string(6)


def rand_int():
    r = rng.random()
    if r < 0.3:
        return rng.choice([MAX_INT, -MAX_INT, MAX_INT - 1, -MAX_INT + 1, 0, 1, -1,
                           2**31, -2**31, 2**32, 2**63 // 2**11])
    if r < 0.6:
        return rng.randint(-1000, 1000)
    return rng.randint(-MAX_INT, MAX_INT)


def rand_value(depth):
    r = rng.random()
    if depth > 0 and r < 0.2:
        return rand_object(depth - 1)
    if depth > 0 and r < 0.35:
        return [rand_value(depth - 1) for _ in range(rng.randint(0, 5))]
    if r < 0.6:
        return rand_string()
    if r < 0.85:
        return rand_int()
    return rng.choice([True, False, None])


def rand_object(depth, width=None):
    obj = {}
    for _ in range(width if width is not None else rng.randint(0, 6)):
        obj[rand_key()] = rand_value(depth)
    return obj


def rand_doc():
    # some wide objects take the writer's qsort path (more than 16 keys)
    obj = rand_object(3, rng.choice([None, None, None, rng.randint(17, 60)]))
    if rng.random() < 0.2:
        obj["unsigned"] = rand_object(1)  # not null: signedjson drops a null unsigned
    if rng.random() < 0.15:
        obj["signatures"] = {"other.example": {"ed25519:x": rand_string(4)}}
        if rng.random() < 0.5:
            obj["signatures"]["domain"] = {"ed25519:0": "old"}
    return obj


# ---- a random, valid, non-canonical JSON writer (one line) -------------------

def ws():
    return rng.choice(["", "", "", " ", "\t", "  ", " \r "])


def enc_char(ch):
    c = ord(ch)
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
             "\r": "\\r", "\t": "\\t"}
    if ch in short and (c < 0x20 or rng.random() < 0.8):
        return short[ch]
    if ch == "/" and rng.random() < 0.5:
        return "\\/"
    if c < 0x20 or ch in '"\\' or rng.random() < 0.15:
        if c > 0xFFFF:
            c -= 0x10000
            hi, lo = 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF)
            return rng.choice(["\\u%04x\\u%04x", "\\u%04X\\u%04X"]) % (hi, lo)
        return rng.choice(["\\u%04x", "\\u%04X"]) % c
    return ch


def enc(v):
    if isinstance(v, dict):
        items = list(v.items())
        rng.shuffle(items)
        return "{" + ws() + ",".join(
            ws() + enc(k) + ws() + ":" + ws() + enc(x) + ws() for k, x in items) + "}"
    if isinstance(v, list):
        return "[" + ws() + ",".join(ws() + enc(x) + ws() for x in v) + "]"
    if isinstance(v, str):
        return '"' + "".join(enc_char(ch) for ch in v) + '"'
    return json.dumps(v)


# ---- the strict reference: the spec's rules through Python's json hooks ------

def reject(why):
    raise ValueError(why)


def strict_int(tok):
    if tok == "-0":
        reject("-0")
    i = int(tok)
    if abs(i) > MAX_INT:
        reject("integer out of range")
    return i


def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        reject("duplicate key")
    return dict(pairs)


def no_nul(v):
    # mxdb's policy (jansson's default): U+0000 is refused in strings and keys
    if isinstance(v, str) and "\0" in v:
        reject("U+0000")
    for x in (v.values() if isinstance(v, dict) else v if isinstance(v, list) else []):
        no_nul(x)
    if isinstance(v, dict):
        for k in v:
            no_nul(k)


def reference_canonical(raw: bytes) -> bytes:
    v = json.loads(raw.decode("utf-8"), parse_float=lambda t: reject("float"),
                   parse_int=strict_int, parse_constant=lambda t: reject(t),
                   object_pairs_hook=no_dups)
    no_nul(v)
    return canonicaljson.encode_canonical_json(v)  # raises on lone surrogates


def run(args, data: bytes):
    p = subprocess.run([MXDB] + args, input=data, capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    if not cond:
        failures.append(what)
        if len(failures) <= 10:
            print("FAIL:", what, file=sys.stderr)


def main():
    docs = [rand_doc() for _ in range(N_DOCS)]
    texts = [enc(d).encode("utf-8") for d in docs]
    assert all(b"\n" not in t for t in texts)
    # sanity of the generator itself: Python reads back what it wrote
    for d, t in zip(docs, texts):
        assert json.loads(t) == d

    # canonical, --lines mode
    rc, out, err = run(["canonical", "--lines"], b"\n".join(texts) + b"\n")
    check(rc == 0, "canonical --lines exit %d: %s" % (rc, err[:300]))
    lines = out.split(b"\n")
    check(lines[-1] == b"" and len(lines) == N_DOCS + 1, "canonical --lines: %d lines" % len(lines))
    for i, (d, got) in enumerate(zip(docs, lines)):
        want = canonicaljson.encode_canonical_json(d)
        check(got == want, "canonical #%d\n in:   %r\n got:  %r\n want: %r" % (i, texts[i], got, want))

    # canonical, one document per process: exact bytes, no trailing newline
    for i in rng.sample(range(N_DOCS), 25):
        rc, out, err = run(["canonical"], texts[i])
        check(rc == 0 and out == canonicaljson.encode_canonical_json(docs[i]),
              "canonical single #%d: rc %d %r" % (i, rc, out[:200]))

    # sign, --lines mode, against signedjson with the same seed
    sk = signedjson.key.decode_signing_key_base64("ed25519", "1", SEED_B64)
    with tempfile.TemporaryDirectory() as tmp:
        keyfile = os.path.join(tmp, "spec.key")
        with open(keyfile, "w") as f:
            f.write("ed25519 1 %s\n" % SEED_B64)
        rc, out, err = run(["sign", "--key", keyfile, "--server", "domain", "--lines"],
                           b"\n".join(texts) + b"\n")
        check(rc == 0, "sign --lines exit %d: %s" % (rc, err[:300]))
        lines = out.split(b"\n")
        check(len(lines) == N_DOCS + 1, "sign --lines: %d lines" % len(lines))
        for i, (t, got) in enumerate(zip(texts, lines)):
            want = canonicaljson.encode_canonical_json(
                signedjson.sign.sign_json(json.loads(t), "domain", sk))
            check(got == want, "sign #%d\n in:   %r\n got:  %r\n want: %r" % (i, t, got, want))

        # verify: Python-signed documents pass, altered ones fail with exit 1
        pk = signedjson.key.encode_verify_key_base64(sk.verify_key)
        vargs = ["verify", "--server", "domain", "--key-id", "ed25519:1", "--public-key", pk]
        for i in rng.sample(range(N_DOCS), 10):
            signed = signedjson.sign.sign_json(json.loads(texts[i]), "domain", sk)
            rc, _, err = run(vargs, json.dumps(signed).encode())
            check(rc == 0, "verify #%d: exit %d %s" % (i, rc, err))
            signed["tampered"] = 1
            rc, _, err = run(vargs, json.dumps(signed).encode())
            check(rc == 1 and b"does not verify" in err, "verify tampered #%d: exit %d %s" % (i, rc, err))

    # inputs the spec's rules forbid: both sides refuse every one
    bad = [b'{"a":1.5}', b'[1.0]', b'[1e10]', b'[1E2]', b'[-1e-2]', b'[-0]', b'-0',
           b'{"a":-0,"b":1e10}', b'[9007199254740992]', b'[-9007199254740992]',
           b'[123456789012345678901234567890]', b'{"a":1,"a":2}', b'{"x":{"k":1,"k":1}}',
           b'["\\ud800"]', b'["\\udc00"]', b'{"\\ud83d":1}', b'["\\ud800\\u0041"]',
           b'["\xff"]', b'["\xc0\x80"]', b'["\xed\xa0\x80"]', b'{"\xe6\x97":1}',
           b'["\\u0000"]', b'{"a":1', b'[1,]', b'[1] x', b'{}{}', b'[01]', b'[NaN]',
           b'[Infinity]', b"{'a':1}", b'', b'["tab\there"]']
    rc, out, err = run(["canonical", "--lines"], b"\n".join(bad) + b"\n")
    lines = out.split(b"\n")
    check(rc == 2 and len(lines) == len(bad) + 1, "bad inputs: exit %d, %d lines" % (rc, len(lines)))
    for raw, got in zip(bad, lines):
        check(got.startswith(b"error: "), "mxdb accepted %r -> %r" % (raw, got))
        try:
            reference_canonical(raw)
            check(False, "python reference accepted %r" % raw)
        except (ValueError, UnicodeError):
            pass
    # and the reference accepts what mxdb accepts at the boundaries
    for raw in [b'[9007199254740991,-9007199254740991]', b'["\\ud83d\\ude00"]', b'0', b'"\\u0001"']:
        rc, out, _ = run(["canonical"], raw)
        check(rc == 0 and out == reference_canonical(raw), "boundary %r: %d %r" % (raw, rc, out))

    print("differential: %d documents, %d failures" % (N_DOCS, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
