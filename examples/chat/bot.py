"""bot.py: a small Matrix bot for mxdb (standard library only): it logs in
(registering on first run), joins a room, follows /sync (a long-poll) and
answers every text message from someone else: "!ping" with "pong", anything
else with "you said: ...". Any Matrix homeserver would do; mxdb serves the
same client API.

    python3 bot.py --server http://127.0.0.1:8008 --room '#lobby:localhost:8008'
"""
import argparse
import json
import time
import urllib.error
import urllib.parse
import urllib.request


class Client:
    def __init__(self, server):
        self.api = server.rstrip("/") + "/_matrix/client/v3"
        self.token = None

    def call(self, method, path, body=None, timeout=60):
        req = urllib.request.Request(self.api + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="http://127.0.0.1:8008")
    ap.add_argument("--user", default="bot")
    ap.add_argument("--password", default="bot-password")
    ap.add_argument("--room", required=True, help="room ID or alias")
    ap.add_argument("--max", type=int, default=0, help="stop after this many answers (0: never)")
    ap.add_argument("--timeout", type=float, default=0, help="stop after this many seconds (0: never)")
    a = ap.parse_args()

    c = Client(a.server)
    st, b = c.call("POST", "/login", {"type": "m.login.password", "password": a.password,
                                      "identifier": {"type": "m.id.user", "user": a.user}})
    if st != 200:
        st, b = c.call("POST", "/register", {"username": a.user, "password": a.password,
                                             "auth": {"type": "m.login.dummy"}})
    if st != 200:
        raise SystemExit("cannot log in: %s" % b)
    c.token, me = b["access_token"], b["user_id"]
    st, b = c.call("POST", "/join/" + urllib.parse.quote(a.room, safe=""), {})
    if st != 200:
        raise SystemExit("cannot join %s: %s" % (a.room, b))
    room = b["room_id"]
    print("%s in %s" % (me, room), flush=True)

    # the first sync only finds where "now" is: answer what comes after
    st, b = c.call("GET", "/sync?timeout=0")
    since, answered, deadline = b["next_batch"], 0, time.time() + a.timeout if a.timeout else None
    while (not a.max or answered < a.max) and (deadline is None or time.time() < deadline):
        st, b = c.call("GET", "/sync?timeout=5000&since=" + urllib.parse.quote(since), timeout=30)
        if st != 200:
            time.sleep(1)
            continue
        since = b["next_batch"]
        events = b.get("rooms", {}).get("join", {}).get(room, {}).get("timeline", {}).get("events", [])
        for ev in events:
            body = ev.get("content", {}).get("body")
            if ev["type"] != "m.room.message" or ev["sender"] == me or not isinstance(body, str):
                continue
            reply = "pong" if body.strip() == "!ping" else "you said: " + body
            txn = "bot-%d-%d" % (time.time() * 1000, answered)
            c.call("PUT", "/rooms/%s/send/m.room.message/%s" % (urllib.parse.quote(room), txn),
                   {"msgtype": "m.notice", "body": reply})
            print("%s: %s -> %s" % (ev["sender"], body, reply), flush=True)
            answered += 1


if __name__ == "__main__":
    main()
