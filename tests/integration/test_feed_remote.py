"""test_feed_remote.py: the reliable subscriber across processes. A real
mxdbd publishes on nng; `mxdb watch` subscribers with a one-message receive
queue (so nng drops most of a burst) read while 16 HTTP clients write;
catch-up over GET /_mxdb/v1/changes must fill every gap: each subscriber
ends with exactly the table's changes, each once, in room_seq order. One
subscriber starts from 0 (a late start: it catches up on the history),
one starts from "now" in the middle of the burst (the snapshot+feed race)."""
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tablelib import BIN, Checks, Server, q, request, row_path  # noqa: E402

T = Checks("test_feed_remote")
check = T.check
N = 3000


def watcher(srv, token, table, extra):
    env = dict(os.environ, MXDB_SERVER=srv.url, MXDB_TOKEN=token, XDG_CONFIG_HOME="/nonexistent")
    return subprocess.Popen([os.path.join(BIN, "mxdb"), "watch", table, "--recv-buf", "1", "--stats"] + extra,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def main():
    srv = Server()
    try:
        run(srv)
    finally:
        check(srv.stop() == 0, "mxdbd exits 0")
    return T.done()


def run(srv):
    alice = srv.register("alice")
    st, b, _ = request(srv, "POST", "/_mxdb/v1/tables", alice, {"name": "doc"})
    room = b["room_id"]
    table = "#doc:" + srv.name
    st, b, _ = request(srv, "POST", "/_mxdb/v1/tables", alice, {"name": "other"})
    other = b["room_id"]
    for i in range(50):  # history before anyone watches
        request(srv, "PUT", row_path(room, "com.example.p", "pre%d" % (i % 7)), alice, {"i": i})

    st, b, _ = request(srv, "GET", "/_mxdb/v1/changes?limit=0", alice)
    start_seq = b["head"]
    # enough changes for the whole run: the table's history + N / 2 of the burst
    history = request(srv, "GET", "/_mxdb/v1/changes?since=0&room=%s&limit=10000" % q(room), alice)[1]["changes"]
    from_zero = watcher(srv, alice, table, ["--since", "0", "--count", str(len(history) + N // 2),
                                                   "--timeout", "60000"])
    time.sleep(0.3)

    started = {}

    def put(i):
        if i == N // 4:
            # no --count: it runs 10 s, well past the burst, then exits 0
            started["late"] = watcher(srv, alice, room, ["--timeout", "10000"])
        rm = room if i % 2 == 0 else other
        return request(srv, "PUT", row_path(rm, "com.example.p", "k%d" % (i % 97)), alice, {"i": i})[0]

    t0 = time.time()
    with ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(put, range(N)))
    print("%d PUTs in %.2f s" % (N, time.time() - t0))
    check(codes.count(200) == N, "all writes succeed")
    log = request(srv, "GET", "/_mxdb/v1/changes?since=0&room=%s&limit=10000" % q(room), alice)[1]["changes"]
    check(len(log) == len(history) + N // 2, "the table's log has %d changes" % len(log))

    out, err = from_zero.communicate(timeout=120)
    lines = [json.loads(x) for x in out.splitlines()]
    check(from_zero.returncode == 0, "watch from 0 exits 0: %s %s" % (from_zero.returncode, err))
    check([c["seq"] for c in lines] == [c["seq"] for c in log], "watch from 0 got every change once, in order (%d of %d)"
          % (len(lines), len(log)))
    check([c["room_seq"] for c in lines] == list(range(1, len(log) + 1)), "room_seq runs 1..%d" % len(log))
    check(all(a == b for a, b in zip(lines, log)), "records equal the catch-up log")
    print("from 0:", err.strip())

    late = started["late"]
    try:
        out, err = late.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        late.kill()
        out, err = late.communicate()
    lines = [json.loads(x) for x in out.splitlines()]
    first = lines[0]["seq"] if lines else 0
    expect = [c["seq"] for c in log if c["seq"] >= first]
    check(len(lines) > 0 and first > start_seq, "the late watcher started mid-burst (seq %d)" % first)
    check(late.returncode == 0, "late watcher exits 0: %s" % late.returncode)
    check([c["seq"] for c in lines] == expect,
          "late watcher: %d of %d changes, each once, in order, no hole" % (len(lines), len(expect)))
    rs = [c["room_seq"] for c in lines]
    check(rs == list(range(rs[0], rs[0] + len(rs))) if rs else False, "late watcher room_seq contiguous")
    print("late watcher: %d changes from seq %d; stderr: %s" % (len(lines), first, err.strip()))


if __name__ == "__main__":
    sys.exit(main())
