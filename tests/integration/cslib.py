"""cslib.py: for the Python client-API tests: JSON requests to a real
mxdbd's /_matrix/client/v3 (set cslib.PORT first), with the status checked
or returned."""
import http.client
import json
import urllib.parse

PORT = None


def req(method, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    conn.request(method, "/_matrix/client/v3" + path,
                 body=json.dumps(body) if body is not None else None, headers=h)
    r = conn.getresponse()
    text = r.read().decode()
    conn.close()
    return r.status, (json.loads(text) if text else None)


def ok(method, path, body=None, token=None):
    st, j = req(method, path, body, token)
    assert st == 200, "%s %s -> %s %s" % (method, path, st, j)
    return j


def q(s):
    return urllib.parse.quote(s, safe="")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
