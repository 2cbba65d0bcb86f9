# test_example_chat.sh: examples/chat against a real mxdbd: the curl session
# runs through (register, room, messages, sync, messages), and the bot
# answers a message sent after it joined.
. "$(dirname "$0")/mxdbd_lib.sh"
EX="$MXDB_SRC/examples/chat"
start_mxdbd --log-level warn

out=$(HS=$HS USER_NAME=alice PASSWORD=alice-pw sh "$EX/session.sh") || fail "session.sh: $out"
echo "$out" | grep -q "^sync: @alice:test.local hello from curl$" || fail "session.sh did not read its message back: $out"
echo "$out" | grep -q "^messages: @alice:test.local mxdb rooms are tables" || fail "no /messages: $out"
# the second run logs in and joins the existing room
HS=$HS USER_NAME=alice PASSWORD=alice-pw sh "$EX/session.sh" >/dev/null || fail "session.sh, second run"

python3 "$EX/bot.py" --server "$HS" --room "#lobby:test.local" --max 1 --timeout 30 >"$DATA/bot.out" 2>&1 &
BOT=$!
for _ in $(seq 100); do grep -q " in !" "$DATA/bot.out" && break; sleep 0.1; done
grep -q " in !" "$DATA/bot.out" || fail "the bot did not join: $(cat "$DATA/bot.out")"

TOKEN=$(curl -s -X POST "$API/login" -H 'Content-Type: application/json' \
	-d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"alice-pw"}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
ROOM_ID=$(curl -s "$API/directory/room/%23lobby:test.local" | python3 -c 'import json,sys; print(json.load(sys.stdin)["room_id"])')
curl -s -X PUT "$API/rooms/$ROOM_ID/send/m.room.message/t-bot" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/json' -d '{"msgtype":"m.text","body":"hello bot"}' >/dev/null
wait $BOT || fail "the bot exited with $?: $(cat "$DATA/bot.out")"
grep -q "hello bot -> you said: hello bot" "$DATA/bot.out" || fail "the bot did not answer: $(cat "$DATA/bot.out")"
curl -s "$API/rooms/$ROOM_ID/messages?dir=b&limit=3" -H "Authorization: Bearer $TOKEN" |
	python3 -c '
import json, sys
bodies = [(e["sender"], e["content"].get("body")) for e in json.load(sys.stdin)["chunk"]]
assert ("@bot:test.local", "you said: hello bot") in bodies, bodies' || fail "the answer is not in the room"
echo "test_example_chat: ok"
