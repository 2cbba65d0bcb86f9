"""tablelib.py: what the table-API integration tests share: a real mxdbd
(mxdbd_util.py: a free loopback port, an ipc:// feed, a temporary data
directory), account registration, and small HTTP helpers (urllib only)."""
import json
import os
import random
import urllib.error
import urllib.parse
import urllib.request

from mxdbd_util import Mxdbd  # noqa: E402

BIN = os.environ.get("MXDB_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../build/test"))


class Server:
    """A started mxdbd (mxdbd_util.Mxdbd: port 0, ipc:// feed) with the
    table tests' accessors; stop() returns its exit status."""

    def __init__(self):
        self.d = Mxdbd("--log-level", "warn").__enter__()
        self.port, self.url, self.dir = self.d.port, self.d.url, self.d.dir
        self.name = "test.local"
        self.feed = "ipc://" + os.path.join(self.d.dir, "feed")

    def stop(self):
        rc = self.d.stop()
        self.d.__exit__(None, None, None)
        return rc

    def register(self, user, password="pw-" + str(random.random())):
        st, body, _ = request(self, "POST", "/_matrix/client/v3/register", None,
                              {"username": user, "password": password, "auth": {"type": "m.login.dummy"}})
        assert st == 200, (st, body)
        return body["access_token"]


def request(srv, method, path, token=None, body=None, headers=None, raw=None, timeout=30):
    """Returns (status, parsed JSON body or raw bytes, headers)."""
    h = dict(headers or {})
    data = None
    if raw is not None:
        data = raw
    elif body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(srv.url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, payload, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, payload, hdrs = e.code, e.read(), e.headers
    ctype = hdrs.get("Content-Type", "")
    if ctype.startswith("application/json") and payload:
        return status, json.loads(payload), hdrs
    return status, payload, hdrs


def q(s):
    return urllib.parse.quote(s, safe="")


def row_path(table, typ, key):
    return "/_mxdb/v1/tables/%s/rows/%s/%s" % (q(table), q(typ), q(key))


class Checks:
    def __init__(self, name):
        self.name, self.n, self.failed = name, 0, 0

    def check(self, cond, what):
        self.n += 1
        if not cond:
            self.failed += 1
            print("FAIL:", what, flush=True)

    def done(self):
        print("%s: %d checks, %d failed" % (self.name, self.n, self.failed))
        return 1 if self.failed else 0
