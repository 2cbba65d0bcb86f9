# fuzzlib.py: what the fuzz tests (test_fed_fuzz.py, test_api_fuzz.py)
# share: one HTTP request with exactly the bytes given, the reply rule for
# hostile input (JSON; an error is a 4xx with a Matrix errcode, never a 5xx
# or a dropped connection) and the end-of-run checks (clean SIGTERM stop,
# no sanitizer report in the daemon's log, SQLite integrity_check ok).
# Not a test itself.
import http.client
import json
import os
import sqlite3

stats = {"requests": 0}


def raw(node, method, path, body=None, headers=None, timeout=60):
    """One HTTP request with exactly these bytes: (status, parsed JSON).
    A dropped connection or a non-JSON reply fails the test."""
    c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=timeout)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    stats["requests"] += 1
    # libmicrohttpd answers a header over its memory limit itself (431,
    # HTML) before mxdbd sees the request: the one non-JSON error allowed.
    if r.status == 431 and len(repr(headers)) > 16384:
        return r.status, {"errcode": "M_TOO_LARGE"}
    try:
        out = json.loads(data) if data else None
    except ValueError:
        raise AssertionError("%s %s: %d, reply is not JSON: %r" % (method, path[:120], r.status, data[:200]))
    return r.status, out


def check_reply(what, st, out):
    assert st < 500, "%s -> %d %s" % (what, st, str(out)[:300])
    if st == 401 and isinstance(out, dict) and isinstance(out.get("flows"), list):
        return  # user-interactive authentication: the flows, an errcode optional
    if st >= 400:
        assert isinstance(out, dict) and isinstance(out.get("errcode"), str) and \
            out["errcode"].startswith("M_"), "%s -> %d without errcode: %s" % (what, st, str(out)[:300])


def nested(depth, leaf=1):
    v = leaf
    for i in range(depth):
        v = [v] if i % 2 else {"a": v}
    return v


def final_checks(node):
    """Stops node with SIGTERM: it exits 0, its log holds no sanitizer
    report, every SQLite file in its data directory passes integrity_check."""
    proc = node.proc
    node.stop()
    log = open(node.data + ".log", errors="replace").read()
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert marker not in log, log[max(0, log.find(marker) - 200):][:6000]
    assert proc.returncode == 0, (proc.returncode, log[-3000:])
    dbs = [os.path.join(node.data, f) for f in os.listdir(node.data) if f.endswith((".db", ".sqlite", ".sqlite3"))]
    assert dbs, os.listdir(node.data)
    for path in dbs:
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", path
        con.close()
