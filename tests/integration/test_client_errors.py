"""test_client_errors.py: bad input for each endpoint family of the client
API against a real mxdbd: routing (404, 405, OPTIONS/CORS, 413), JSON
(M_NOT_JSON, M_BAD_JSON, wrong types, missing fields), tokens, accounts,
rooms (unknown room, not a member, forbidden by power levels), state,
messages, sync, keys and ephemeral events, and percent-encoded room IDs.
Also that endpoints with an empty spec response answer exactly {}."""
import http.client
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mxdbd_util import Mxdbd  # noqa: E402

failures = []


class Client:
    def __init__(self, port):
        self.port = port

    def req(self, method, path, body=None, token=None, raw=None, headers=None, prefix=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            h["Content-Type"] = "application/json"
        url = ("/_matrix/client/v3" + path) if prefix else path
        conn.request(method, url, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        try:
            j = json.loads(text) if text else None
        except ValueError:
            j = None
        return r.status, j, r.headers, text


def expect(what, got, status, errcode=None):
    st, j, _, text = got
    ok = st == status and (errcode is None or (isinstance(j, dict) and j.get("errcode") == errcode))
    if not ok:
        failures.append("%s: expected %s %s, got %s %s" % (what, status, errcode or "", st, text))
    return j


def expect_empty(what, got):
    st, _, _, text = got
    if st != 200 or text != "{}":
        failures.append("%s: expected exactly {} with 200, got %s %r" % (what, st, text))


def register(c, name):
    st, j, _, _ = c.req("POST", "/register", {"username": name, "password": "pw",
                                              "auth": {"type": "m.login.dummy"}})
    assert st == 200, j
    return j["access_token"], j["user_id"]


def q(s):
    return urllib.parse.quote(s, safe="")


def run(c):
    # ---- routing and HTTP ----
    expect("unknown path", c.req("GET", "/no/such/endpoint"), 404, "M_UNRECOGNIZED")
    expect("unknown prefix", c.req("GET", "/_matrix/client/v9/versions", prefix=False), 404,
           "M_UNRECOGNIZED")
    expect("wrong method", c.req("DELETE", "/versions"), 405, "M_UNRECOGNIZED")
    expect("wrong method on sync", c.req("POST", "/sync", {}), 405, "M_UNRECOGNIZED")
    st, _, h, _ = c.req("OPTIONS", "/createRoom", headers={
        "Origin": "http://example.org", "Access-Control-Request-Method": "POST"})
    if st != 200 or h.get("Access-Control-Allow-Origin") != "*" or \
            "POST" not in (h.get("Access-Control-Allow-Methods") or "") or \
            "Authorization" not in (h.get("Access-Control-Allow-Headers") or ""):
        failures.append("OPTIONS preflight: %s %s" % (st, dict(h)))
    _, _, h, _ = c.req("GET", "/no/such/endpoint")
    if h.get("Access-Control-Allow-Origin") != "*":
        failures.append("no CORS header on an error answer")
    expect("oversize body", c.req("POST", "/register", raw="{\"x\":\"" + "a" * (2 << 20) + "\"}"),
           413, "M_TOO_LARGE")
    expect("not JSON", c.req("POST", "/register", raw="{not json"), 400, "M_NOT_JSON")
    expect("JSON array body", c.req("POST", "/register", raw="[1,2]"), 400, "M_BAD_JSON")
    expect("duplicate keys", c.req("POST", "/login", raw='{"type":"a","type":"b"}'), 400,
           "M_NOT_JSON")

    # ---- tokens ----
    expect("missing token", c.req("GET", "/account/whoami"), 401, "M_MISSING_TOKEN")
    expect("unknown token", c.req("GET", "/account/whoami", token="nope"), 401, "M_UNKNOWN_TOKEN")
    expect("unknown token in query", c.req("GET", "/account/whoami?access_token=nope"), 401,
           "M_UNKNOWN_TOKEN")

    # ---- accounts ----
    expect("username not a string", c.req("POST", "/register", {"username": 5, "password": "x"}),
           400, "M_BAD_JSON")
    expect("invalid username", c.req("POST", "/register", {"username": "Has Space", "password": "x",
                                                           "auth": {"type": "m.login.dummy"}}),
           400, "M_INVALID_USERNAME")
    a, alice = register(c, "alice")
    b, bob = register(c, "bob")
    m, mallory = register(c, "mallory")
    expect("username taken", c.req("POST", "/register", {"username": "alice", "password": "x",
                                                         "auth": {"type": "m.login.dummy"}}),
           400, "M_USER_IN_USE")
    expect("available: taken", c.req("GET", "/register/available?username=alice"), 400,
           "M_USER_IN_USE")
    j = expect("available: free", c.req("GET", "/register/available?username=zed"), 200)
    if not (j or {}).get("available"):
        failures.append("register/available for a free name")
    expect("login without password", c.req("POST", "/login", {"type": "m.login.password",
                                                              "user": "alice"}), 400,
           "M_MISSING_PARAM")
    expect("login, unknown type", c.req("POST", "/login", {"type": "m.login.magic"}), 400, "M_UNKNOWN")
    expect("login, wrong password", c.req("POST", "/login", {"type": "m.login.password",
                                                             "user": "alice", "password": "no"}),
           403, "M_FORBIDDEN")
    expect("login, unknown user", c.req("POST", "/login", {"type": "m.login.password",
                                                           "user": "nobody", "password": "pw"}),
           403, "M_FORBIDDEN")
    expect("login, password not a string", c.req("POST", "/login", {
        "type": "m.login.password", "user": "alice", "password": 1}), 400, "M_BAD_JSON")
    expect("unknown device", c.req("GET", "/devices/NOPE", token=a), 404, "M_NOT_FOUND")
    expect("device delete needs auth", c.req("DELETE", "/devices/NOPE", {}, token=a), 404)
    expect("password change needs auth", c.req("POST", "/account/password",
                                               {"new_password": "x"}, token=a), 401)
    expect("someone else's profile", c.req("PUT", "/profile/%s/displayname" % q(bob),
                                           {"displayname": "x"}, token=a), 403, "M_FORBIDDEN")
    expect("displayname not a string", c.req("PUT", "/profile/%s/displayname" % q(alice),
                                             {"displayname": 3}, token=a), 400, "M_BAD_JSON")
    expect("unknown profile", c.req("GET", "/profile/%s" % q("@nobody:test.local")), 404, "M_NOT_FOUND")
    expect_empty("set displayname", c.req("PUT", "/profile/%s/displayname" % q(alice),
                                          {"displayname": "Alice"}, token=a))

    # ---- user data ----
    expect("someone else's filter", c.req("POST", "/user/%s/filter" % q(bob), {}, token=a), 403,
           "M_FORBIDDEN")
    expect("unknown filter", c.req("GET", "/user/%s/filter/99" % q(alice), token=a), 404, "M_NOT_FOUND")
    expect("someone else's account data", c.req("PUT", "/user/%s/account_data/x" % q(bob), {},
                                                 token=a), 403, "M_FORBIDDEN")
    expect("missing account data", c.req("GET", "/user/%s/account_data/x.y" % q(alice), token=a),
           404, "M_NOT_FOUND")
    expect_empty("put account data", c.req("PUT", "/user/%s/account_data/x.y" % q(alice),
                                           {"k": 1}, token=a))
    expect("keys of another device", c.req("POST", "/keys/upload", {"device_keys": {
        "user_id": bob, "device_id": "X", "keys": {}}}, token=a), 400, "M_INVALID_PARAM")
    expect("keys not an object", c.req("POST", "/keys/upload", {"one_time_keys": [1]}, token=a),
           400, "M_BAD_JSON")
    expect("to-device without messages", c.req("PUT", "/sendToDevice/m.x/t1", {}, token=a), 400,
           "M_BAD_JSON")
    expect_empty("to-device", c.req("PUT", "/sendToDevice/m.x/t1", {"messages": {}}, token=a))
    expect("room key backup", c.req("GET", "/room_keys/version", token=a), 404, "M_NOT_FOUND")
    expect_empty("turn server", c.req("GET", "/voip/turnServer", token=a))
    expect_empty("third-party protocols", c.req("GET", "/thirdparty/protocols", token=a))

    # ---- rooms ----
    expect("invite not a list", c.req("POST", "/createRoom", {"invite": "@bob:test.local"}, token=a),
           400, "M_BAD_JSON")
    expect("invite of a non-user", c.req("POST", "/createRoom", {"invite": ["bob"]}, token=a),
           400, "M_INVALID_PARAM")
    expect("unknown preset", c.req("POST", "/createRoom", {"preset": "party"}, token=a), 400,
           "M_BAD_JSON")
    expect("name not a string", c.req("POST", "/createRoom", {"name": ["x"]}, token=a), 400,
           "M_BAD_JSON")
    expect("unknown room version", c.req("POST", "/createRoom", {"room_version": "99"}, token=a),
           400, "M_UNSUPPORTED_ROOM_VERSION")
    j = expect("createRoom", c.req("POST", "/createRoom", {"name": "errors", "invite": [bob],
                                                         "room_alias_name": "errs"}, token=a), 200)
    room = j["room_id"]
    expect("alias taken", c.req("POST", "/createRoom", {"room_alias_name": "errs"}, token=a), 400,
           "M_ROOM_IN_USE")
    unknown = "!doesnotexist:test.local"
    expect("send to an unknown room", c.req("PUT", "/rooms/%s/send/m.room.message/1" % q(unknown),
                                            {"body": "x"}, token=a), 404, "M_NOT_FOUND")
    expect("join an unknown room", c.req("POST", "/join/%s" % q(unknown), {}, token=a), 404,
           "M_NOT_FOUND")
    expect("join an unknown alias", c.req("POST", "/join/%s" % q("#nope:test.local"), {}, token=a),
           404, "M_NOT_FOUND")
    expect("send, not a member", c.req("PUT", "/rooms/%s/send/m.room.message/1" % q(room),
                                       {"body": "x"}, token=m), 403, "M_FORBIDDEN")
    expect("join without invite", c.req("POST", "/rooms/%s/join" % q(room), {}, token=m), 403,
           "M_FORBIDDEN")
    expect("state, not a member", c.req("GET", "/rooms/%s/state" % q(room), token=m), 403,
           "M_FORBIDDEN")
    expect("messages, not a member", c.req("GET", "/rooms/%s/messages" % q(room), token=m), 403,
           "M_FORBIDDEN")
    expect("members, not a member", c.req("GET", "/rooms/%s/members" % q(room), token=m), 403,
           "M_FORBIDDEN")
    expect("invite without user_id", c.req("POST", "/rooms/%s/invite" % q(room), {}, token=a), 400,
           "M_MISSING_PARAM")
    expect("invite with a number", c.req("POST", "/rooms/%s/invite" % q(room), {"user_id": 7},
                                         token=a), 400, "M_BAD_JSON")
    expect("content not an object", c.req("PUT", "/rooms/%s/send/m.room.message/2" % q(room),
                                          raw="[1]", token=a), 400, "M_BAD_JSON")
    expect("float in content", c.req("PUT", "/rooms/%s/send/m.room.message/3" % q(room),
                                     raw='{"body":"x","n":1.5}', token=a), 400, "M_BAD_JSON")
    # the alias resolves; the room ID works raw and percent-encoded
    j = expect("alias", c.req("GET", "/directory/room/%s" % q("#errs:test.local")), 200)
    if (j or {}).get("room_id") != room:
        failures.append("alias resolves to %r" % (j,))
    expect("raw room ID", c.req("GET", "/rooms/%s/state/m.room.name" % room, token=a), 200)
    j = expect("encoded room ID", c.req("GET", "/rooms/%s/state/m.room.name/" % q(room), token=a), 200)
    if (j or {}).get("name") != "errors":
        failures.append("state m.room.name: %r" % (j,))
    expect("missing state", c.req("GET", "/rooms/%s/state/com.example.none/k" % q(room), token=a),
           404, "M_NOT_FOUND")
    # bob joins, then is refused what his power level does not allow
    expect("bob joins", c.req("POST", "/rooms/%s/join" % q(room), {}, token=b), 200)
    expect("power levels", c.req("PUT", "/rooms/%s/state/m.room.power_levels/" % q(room), {},
                                 token=b), 403, "M_FORBIDDEN")
    expect("kick by a plain member", c.req("POST", "/rooms/%s/kick" % q(room), {"user_id": alice},
                                           token=b), 403, "M_FORBIDDEN")
    expect("ban by a plain member", c.req("POST", "/rooms/%s/ban" % q(room), {"user_id": alice},
                                          token=b), 403, "M_FORBIDDEN")
    j = expect("alice sends", c.req("PUT", "/rooms/%s/send/m.room.message/4" % q(room),
                                    {"msgtype": "m.text", "body": "hi"}, token=a), 200)
    ev = j["event_id"]
    expect("redact another's event", c.req("PUT", "/rooms/%s/redact/%s/r1" % (q(room), q(ev)),
                                           {}, token=b), 403, "M_FORBIDDEN")
    expect("unknown event", c.req("GET", "/rooms/%s/event/%s" % (q(room), q("$nope")), token=b),
           404, "M_NOT_FOUND")
    expect("event", c.req("GET", "/rooms/%s/event/%s" % (q(room), q(ev)), token=b), 200)
    expect("bad dir", c.req("GET", "/rooms/%s/messages?dir=x" % q(room), token=b), 400,
           "M_INVALID_PARAM")
    expect("bad from", c.req("GET", "/rooms/%s/messages?from=zzz" % q(room), token=b), 400,
           "M_INVALID_PARAM")
    expect("bad filter", c.req("GET", "/rooms/%s/messages?filter=%s" % (q(room), q("[1]")),
                               token=b), 400, "M_BAD_JSON")
    expect("typing for someone else", c.req("PUT", "/rooms/%s/typing/%s" % (q(room), q(alice)),
                                            {"typing": True}, token=b), 403, "M_FORBIDDEN")
    expect("typing not a boolean", c.req("PUT", "/rooms/%s/typing/%s" % (q(room), q(bob)),
                                         {"typing": "yes"}, token=b), 400, "M_BAD_JSON")
    expect_empty("typing", c.req("PUT", "/rooms/%s/typing/%s" % (q(room), q(bob)),
                                 {"typing": True, "timeout": 5000}, token=b))
    expect("unknown receipt type", c.req("POST", "/rooms/%s/receipt/m.nope/%s" % (q(room), q(ev)),
                                         {}, token=b), 400, "M_INVALID_PARAM")
    expect_empty("receipt", c.req("POST", "/rooms/%s/receipt/m.read/%s" % (q(room), q(ev)), {},
                                  token=b))
    expect_empty("read markers", c.req("POST", "/rooms/%s/read_markers" % q(room),
                                       {"m.fully_read": ev}, token=b))
    expect("forget while joined", c.req("POST", "/rooms/%s/forget" % q(room), {}, token=b), 400)
    expect_empty("leave", c.req("POST", "/rooms/%s/leave" % q(room), {}, token=b))
    expect("send after leaving", c.req("PUT", "/rooms/%s/send/m.room.message/5" % q(room),
                                       {"body": "x"}, token=b), 403, "M_FORBIDDEN")
    # after leaving, bob reads the history up to his leave, and nothing newer
    j = expect("alice sends after bob left", c.req(
        "PUT", "/rooms/%s/send/m.room.message/6" % q(room), {"msgtype": "m.text", "body": "secret"},
        token=a), 200)
    later = j["event_id"]
    j = expect("messages after leaving", c.req("GET", "/rooms/%s/messages?dir=b&limit=50" % q(room),
                                               token=b), 200)
    chunk = (j or {}).get("chunk", [])
    if not chunk or chunk[0].get("content", {}).get("membership") != "leave" or \
            any(e.get("event_id") == later for e in chunk) or \
            not any(e.get("event_id") == ev for e in chunk):
        failures.append("history after leaving: %r" % [e.get("event_id") for e in chunk])
    j = expect("messages forwards after leaving", c.req(
        "GET", "/rooms/%s/messages?dir=f&limit=50" % q(room), token=b), 200)
    if any(e.get("event_id") == later for e in (j or {}).get("chunk", [])):
        failures.append("forward history after leaving shows a later message")
    expect("state after leaving", c.req("GET", "/rooms/%s/state" % q(room), token=b), 403,
           "M_FORBIDDEN")
    expect("event after leaving", c.req("GET", "/rooms/%s/event/%s" % (q(room), q(later)),
                                        token=b), 403, "M_FORBIDDEN")
    expect_empty("forget", c.req("POST", "/rooms/%s/forget" % q(room), {}, token=b))
    expect("delete someone's alias", c.req("DELETE", "/directory/room/%s" % q("#errs:test.local"),
                                           token=m), 403, "M_FORBIDDEN")
    expect("alias on another server", c.req("PUT", "/directory/room/%s" % q("#x:elsewhere"),
                                            {"room_id": room}, token=a), 400, "M_INVALID_PARAM")
    expect("bad visibility", c.req("PUT", "/directory/list/room/%s" % q(room),
                                   {"visibility": "secret"}, token=a), 400, "M_INVALID_PARAM")

    # ---- room directory: public rooms, search and paging ----
    for name in ("Gardening", "Cooking", "Garden tools"):
        expect("public room", c.req("POST", "/createRoom", {"name": name, "visibility": "public",
                                                            "preset": "public_chat"}, token=a), 200)
    j = expect("publicRooms", c.req("GET", "/publicRooms?limit=2"), 200)
    if len(j["chunk"]) != 2 or j.get("total_room_count_estimate") != 3 or "next_batch" not in j:
        failures.append("publicRooms page 1: %r" % (j,))
    j2 = expect("publicRooms page 2", c.req("GET", "/publicRooms?limit=2&since=" + j["next_batch"]), 200)
    names = {e.get("name") for e in j["chunk"] + j2["chunk"]}
    if names != {"Gardening", "Cooking", "Garden tools"} or "next_batch" in j2:
        failures.append("publicRooms paging: %r %r" % (j, j2))
    j = expect("publicRooms search", c.req("POST", "/publicRooms", {
        "filter": {"generic_search_term": "garden"}}, token=a), 200)
    if sorted(e.get("name") for e in j["chunk"]) != ["Garden tools", "Gardening"]:
        failures.append("publicRooms search: %r" % (j,))
    j = expect("members not leave", c.req("GET", "/rooms/%s/members?not_membership=leave" % q(room),
                                          token=a), 200)
    if any(m["content"]["membership"] == "leave" for m in j["chunk"]) or not j["chunk"]:
        failures.append("not_membership: %r" % (j,))

    # ---- sync ----
    expect("bad since", c.req("GET", "/sync?since=garbage", token=a), 400, "M_INVALID_PARAM")
    expect("bad inline filter", c.req("GET", "/sync?filter=%s" % q("{nope"), token=a), 400, "M_BAD_JSON")
    expect("unknown stored filter", c.req("GET", "/sync?filter=42", token=a), 400, "M_INVALID_PARAM")
    expect_empty("logout", c.req("POST", "/logout", {}, token=m))
    expect("token after logout", c.req("GET", "/sync", token=m), 401, "M_UNKNOWN_TOKEN")


with Mxdbd() as d:
    run(Client(d.port))
    rc = d.stop()
    if rc != 0:
        failures.append("mxdbd exit status %s: %s" % (rc, d.log()))
for f in failures:
    print("FAIL:", f)
if failures:
    sys.exit(1)
print("test_client_errors: ok")
