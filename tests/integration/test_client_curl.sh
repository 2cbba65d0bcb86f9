#!/bin/bash
# test_client_curl.sh: the Matrix tutorial session with curl against a real
# mxdbd: versions, register (dummy interactive auth), login, createRoom with
# an invite, initial and incremental sync, the invitee sees the invite and
# joins, joined_rooms, a message seen in the other user's sync, and a
# long-poll sync woken by a message.
. "$(dirname "$0")/mxdbd_lib.sh"
start_mxdbd

# versions: the bare path is unknown, the prefixed ones answer
curl -sf "$HS/_matrix/client/versions" >/dev/null || fail "/_matrix/client/versions"
curl -sf "$HS/_matrix/client/r0/versions" >/dev/null || fail "r0 prefix"
expect_status 200 GET /versions
echo "$OUT" | jq -e '.versions | index("v1.1")' >/dev/null || fail "versions: $OUT"

# register: first the interactive-auth challenge, then the dummy stage
expect_status 401 POST /register '{"username":"alice","password":"wonderland"}'
SESSION=$(echo "$OUT" | jq -r .session)
echo "$OUT" | jq -e '.flows[0].stages == ["m.login.dummy"] and (.params | type == "object")' >/dev/null ||
	fail "register flows: $OUT"
expect_status 200 POST /register "{\"username\":\"alice\",\"password\":\"wonderland\",\"auth\":{\"type\":\"m.login.dummy\",\"session\":\"$SESSION\"}}"
[ "$(echo "$OUT" | jq -r .user_id)" = "@alice:test.local" ] || fail "register: $OUT"
# without a session, too
expect_status 200 POST /register '{"username":"bob","password":"builder","auth":{"type":"m.login.dummy"}}'
BOB_TOKEN0=$(echo "$OUT" | jq -r .access_token)
expect_status 400 POST /register '{"username":"bob","password":"x","auth":{"type":"m.login.dummy"}}'
[ "$(echo "$OUT" | jq -r .errcode)" = M_USER_IN_USE ] || fail "$OUT"

# login (identifier form and legacy user form), whoami
expect_status 200 POST /login '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"wonderland"}'
A=$(echo "$OUT" | jq -r .access_token)
expect_status 200 POST /login '{"type":"m.login.password","user":"@bob:test.local","password":"builder"}'
B=$(echo "$OUT" | jq -r .access_token)
expect_status 403 POST /login '{"type":"m.login.password","user":"bob","password":"wrong"}'
expect_status 200 GET /account/whoami "" "$A"
[ "$(echo "$OUT" | jq -r .user_id)" = "@alice:test.local" ] || fail "whoami: $OUT"
expect_status 200 POST /logout '{}' "$BOB_TOKEN0"
[ "$OUT" = "{}" ] || fail "logout must answer {}: $OUT"
expect_status 401 GET /account/whoami "" "$BOB_TOKEN0"

# bob's initial sync: nothing yet
expect_status 200 GET "/sync" "" "$B"
BSINCE=$(echo "$OUT" | jq -r .next_batch)

# createRoom with an invite
expect_status 200 POST /createRoom '{"name":"Tutorial","topic":"curl","invite":["@bob:test.local"]}' "$A"
ROOM=$(echo "$OUT" | jq -r .room_id)
[ "${ROOM:0:1}" = "!" ] || fail "createRoom: $OUT"
ROOM_ENC=$(jq -rn --arg r "$ROOM" '$r|@uri')

# alice's initial sync has the room with its state
expect_status 200 GET "/sync" "" "$A"
echo "$OUT" | jq -e --arg r "$ROOM" '.rooms.join[$r].timeline.events | map(.type) | index("m.room.create")' >/dev/null ||
	fail "alice initial sync: $OUT"

# bob's incremental sync: the invite, with its stripped state
expect_status 200 GET "/sync?since=$BSINCE" "" "$B"
echo "$OUT" | jq -e --arg r "$ROOM" '.rooms.invite[$r].invite_state.events | map(select(.type=="m.room.name")) | .[0].content.name == "Tutorial"' >/dev/null ||
	fail "bob sees no invite: $OUT"
BSINCE=$(echo "$OUT" | jq -r .next_batch)

# bob joins (the room ID percent-encoded), joined_rooms lists it
expect_status 200 POST "/join/$ROOM_ENC" '{}' "$B"
[ "$(echo "$OUT" | jq -r .room_id)" = "$ROOM" ] || fail "join: $OUT"
expect_status 200 GET /joined_rooms "" "$B"
echo "$OUT" | jq -e --arg r "$ROOM" '.joined_rooms | index($r)' >/dev/null || fail "joined_rooms: $OUT"

# alice sends; bob's incremental sync has the message
expect_status 200 PUT "/rooms/$ROOM_ENC/send/m.room.message/txn1" '{"msgtype":"m.text","body":"hello bob"}' "$A"
EV=$(echo "$OUT" | jq -r .event_id)
expect_status 200 GET "/sync?since=$BSINCE" "" "$B"
echo "$OUT" | jq -e --arg r "$ROOM" --arg e "$EV" '.rooms.join[$r].timeline.events | map(select(.event_id==$e)) | .[0].content.body == "hello bob"' >/dev/null ||
	fail "bob does not see the message: $OUT"
BSINCE=$(echo "$OUT" | jq -r .next_batch)

# the same txnId again: same event, nothing new
expect_status 200 PUT "/rooms/$ROOM_ENC/send/m.room.message/txn1" '{"msgtype":"m.text","body":"hello bob"}' "$A"
[ "$(echo "$OUT" | jq -r .event_id)" = "$EV" ] || fail "txnId not idempotent: $OUT"

# a long-poll woken by a message: bob waits up to 10 s, alice sends after 0.5 s
curl -s -o "$DATA/lp" -w '%{time_total}' "$API/sync?since=$BSINCE&timeout=10000" \
	-H "Authorization: Bearer $B" >"$DATA/lp_time" &
LP=$!
sleep 0.5
expect_status 200 PUT "/rooms/$ROOM_ENC/send/m.room.message/txn2" '{"msgtype":"m.text","body":"wake up"}' "$A"
wait $LP
T=$(cat "$DATA/lp_time")
jq -e --arg r "$ROOM" '.rooms.join[$r].timeline.events | map(.content.body) | index("wake up")' "$DATA/lp" >/dev/null ||
	fail "long-poll answer lacks the message: $(cat "$DATA/lp")"
awk -v t="$T" 'BEGIN { exit !(t < 5) }' || fail "long-poll took $T s"
# with nothing to say, the long-poll waits for its timeout
BSINCE=$(jq -r .next_batch "$DATA/lp")
T=$(curl -s -o /dev/null -w '%{time_total}' "$API/sync?since=$BSINCE&timeout=600" -H "Authorization: Bearer $B")
awk -v t="$T" 'BEGIN { exit !(t >= 0.55 && t < 5) }' || fail "empty long-poll took $T s"

# the daemon stops cleanly on SIGTERM
stop_mxdbd
grep -qi "error" "$DATA/err.log" && fail "errors in the log: $(cat "$DATA/err.log")"
echo "test_client_curl: ok"
