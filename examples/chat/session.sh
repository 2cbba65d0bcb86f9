#!/bin/sh
# session.sh: a chat session through mxdb's Matrix client API with curl
# only: register (or log in), create a room with an alias, send messages,
# read them back with /sync and /messages. Any Matrix client (Element,
# matrix-nio...) can join the same room.
#   HS=http://127.0.0.1:8008 USER_NAME=alice PASSWORD=secret ROOM=lobby sh session.sh
set -eu
HS=${HS:-http://127.0.0.1:8008}
USER=${USER_NAME:-alice}
PASSWORD=${PASSWORD:-alice-password}
ROOM=${ROOM:-lobby}
API="$HS/_matrix/client/v3"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# 1. an account: register, or log in when it exists
TOKEN=$(curl -s -X POST "$API/register" -H 'Content-Type: application/json' \
	-d "{\"username\":\"$USER\",\"password\":\"$PASSWORD\",\"auth\":{\"type\":\"m.login.dummy\"}}" |
	json '.get("access_token","")')
if [ -z "$TOKEN" ]; then
	TOKEN=$(curl -s -X POST "$API/login" -H 'Content-Type: application/json' \
		-d "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"$USER\"},\"password\":\"$PASSWORD\"}" |
		json '["access_token"]')
fi
AUTH="Authorization: Bearer $TOKEN"
echo "logged in as $USER"

# 2. a public room with an alias (or the existing one)
ROOM_ID=$(curl -s -X POST "$API/createRoom" -H "$AUTH" -H 'Content-Type: application/json' \
	-d "{\"room_alias_name\":\"$ROOM\",\"preset\":\"public_chat\",\"name\":\"$ROOM\"}" | json '.get("room_id","")')
if [ -z "$ROOM_ID" ]; then
	SERVER_NAME=$(curl -s "$API/account/whoami" -H "$AUTH" | json '["user_id"].split(":",1)[1]')
	ROOM_ID=$(curl -s -X POST "$API/join/%23$ROOM:$SERVER_NAME" -H "$AUTH" -H 'Content-Type: application/json' -d '{}' |
		json '["room_id"]')
fi
echo "in room $ROOM_ID"

# 3. messages (the transaction ID makes a retried PUT harmless)
for text in "hello from curl" "mxdb rooms are tables, and chat rooms too"; do
	TXN="txn-$(date +%s%N)"
	curl -s -X PUT "$API/rooms/$ROOM_ID/send/m.room.message/$TXN" -H "$AUTH" -H 'Content-Type: application/json' \
		-d "{\"msgtype\":\"m.text\",\"body\":\"$text\"}" | json '["event_id"]'
done

# 4. read: the room's timeline from /sync, then the last messages
curl -s "$API/sync?timeout=0" -H "$AUTH" |
	python3 -c "
import json, sys
room = json.load(sys.stdin)['rooms']['join']['$ROOM_ID']
for ev in room['timeline']['events']:
    if ev['type'] == 'm.room.message':
        print('sync:', ev['sender'], ev['content']['body'])"
curl -s "$API/rooms/$ROOM_ID/messages?dir=b&limit=5" -H "$AUTH" |
	python3 -c "
import json, sys
for ev in json.load(sys.stdin)['chunk']:
    if ev['type'] == 'm.room.message':
        print('messages:', ev['sender'], ev['content']['body'])"
