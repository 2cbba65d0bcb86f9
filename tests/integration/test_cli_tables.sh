# test_cli_tables.sh: the `mxdb` client subcommands against a real mxdbd on
# random loopback ports: register/login and the credentials file (0600),
# table create, put/get/del/scan/history with compare-and-set, watch, and
# the exit statuses a script relies on (0 ok, 1 not found / condition
# failed, 2 usage, 3 server or network error, 4 denied).
. "$(dirname "$0")/mxdbd_lib.sh"
M="$MXDB_BIN/mxdb"
export XDG_CONFIG_HOME="$DATA/config"
unset MXDB_TOKEN MXDB_PASSWORD
WORK=$DATA
fails=0 checks=0
check() { # check DESCRIPTION EXPECTED ACTUAL
	checks=$((checks + 1))
	if [ "$2" != "$3" ]; then
		fails=$((fails + 1))
		echo "FAIL: $1: expected [$2], got [$3]"
	fi
}

start_mxdbd --log-level warn
export MXDB_SERVER="$HS"
T="#todo:test.local"

out=$("$M" register alice --password s3cret-pw); check "register" "0 @alice:test.local" "$? $out"
check "credentials file mode" "600" "$(stat -c %a "$XDG_CONFIG_HOME/mxdb/credentials.json")"
"$M" register alice --password other 2>/dev/null; check "register a taken name" 2 $?
"$M" login alice --password wrong 2>/dev/null; check "login with a wrong password" 4 $?
out=$(echo s3cret-pw | "$M" login alice); check "login, password on stdin" "0 @alice:test.local" "$? $out"

room=$("$M" table create todo); check "table create" 0 $?
case "$room" in !*) ok=yes ;; *) ok=no ;; esac; check "table create prints the room ID" yes $ok
"$M" table create todo 2>/dev/null; check "table create, name taken" 2 $?
info=$("$M" table info "$T"); check "table info" 0 $?
check "table info names the room" "$room" "$(echo "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["room_id"])')"

out=$("$M" put "$T" com.example.todo t1 '{"title":"milk"}'); check "put" 0 $?
v1=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["event_id"])')
check "get" '{"title":"milk"}' "$("$M" get "$T" com.example.todo t1)"
check "get --etag" "$v1" "$("$M" get "$T" com.example.todo t1 --etag)"
echo '{"title":"bread"}' | "$M" put "$T" com.example.todo t1 --if-match '$stale' >/dev/null 2>"$WORK/err"
check "put with a stale version" 1 $?
grep -q "M_CONDITION_FAILED" "$WORK/err"; check "the 412 is explained" 0 $?
grep -q "current version $v1" "$WORK/err"; check "the current version is told" 0 $?
echo '{"title":"bread"}' | "$M" put "$T" com.example.todo t1 --if-match "$v1" >/dev/null; check "put with the current version" 0 $?
"$M" put "$T" com.example.todo t1 '{}' --if-none-match >/dev/null 2>&1; check "create-only on an existing row" 1 $?
"$M" put "$T" com.example.todo t2 '{"title":"eggs"}' --if-none-match >/dev/null; check "create-only on a new row" 0 $?
"$M" put "$T" com.example.todo t3 'not json' 2>/dev/null; check "put bad JSON" 2 $?
"$M" put "$T" com.example.todo 2>/dev/null; check "put without a key" 2 $?
"$M" get "$T" com.example.todo nope 2>/dev/null; check "get a missing row" 1 $?
"$M" get "#nope:test.local" com.example.todo t1 2>/dev/null; check "get from a missing table" 1 $?
check "scan" 2 "$("$M" scan "$T" --type com.example.todo | wc -l)"
check "scan --prefix" "t2" "$("$M" scan "$T" --type com.example.todo --prefix t2 | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["key"])')"
check "scan --limit" 1 "$("$M" scan "$T" --limit 1 | wc -l)"
check "history" "2 True" "$("$M" history "$T" com.example.todo t1 | python3 -c 'import json,sys; v=json.load(sys.stdin)["versions"]; print(len(v), v[-1]["winner"])')"
"$M" del "$T" com.example.todo t2 >/dev/null; check "del" 0 $?
"$M" get "$T" com.example.todo t2 2>/dev/null; check "get a deleted row" 1 $?
"$M" del "$T" com.example.todo t2 2>/dev/null; check "del a deleted row" 1 $?

# another user, not a member of the private table: denied
XDG_CONFIG_HOME="$WORK/bob" "$M" register bob --password bobpw >/dev/null
XDG_CONFIG_HOME="$WORK/bob" "$M" get "$T" com.example.todo t1 2>/dev/null; check "non-member get" 4 $?
XDG_CONFIG_HOME="$WORK/bob" "$M" put "$T" com.example.todo t9 '{}' 2>/dev/null; check "non-member put" 4 $?
MXDB_TOKEN=bogus "$M" get "$T" com.example.todo t1 2>/dev/null; check "unknown token" 4 $?

# watch: one JSON line per change, in order
"$M" watch "$T" --count 3 --timeout 20000 >"$WORK/watch" 2>"$WORK/watch.err" &
WPID=$!
sleep 0.5
for i in 1 2 3; do "$M" put "$T" com.example.todo w$i "{\"n\":$i}" >/dev/null; done
wait $WPID; check "watch --count exits 0" 0 $?
check "watch printed the three changes" "w1 w2 w3" "$(python3 -c '
import json,sys
recs=[json.loads(l) for l in open(sys.argv[1])]
seqs=[r["seq"] for r in recs]
assert seqs==sorted(seqs) and len(set(seqs))==len(seqs), seqs
print(" ".join(r["key"] for r in recs))' "$WORK/watch")"
"$M" watch "$T" --count 5 --timeout 300 >/dev/null 2>&1; check "watch timing out before --count" 1 $?
# no feed to be had (nothing listens there): the catch-up reads alone carry it
"$M" watch "$T" --feed tcp://127.0.0.1:1 --count 2 --timeout 20000 >"$WORK/watchpoll" 2>&1 &
WPID=$!
sleep 0.5
for i in 1 2; do "$M" put "$T" com.example.todo p$i "{\"n\":$i}" >/dev/null; done
wait $WPID; check "watch without a reachable feed exits 0" 0 $?
check "watch without a reachable feed got both" "p1 p2" "$(python3 -c '
import json,sys
print(" ".join(json.loads(l)["key"] for l in open(sys.argv[1])))' "$WORK/watchpoll")"
"$M" watch "$T" --since 0 --count 4 --timeout 20000 >"$WORK/watch0"; check "watch --since 0" 0 $?
check "watch --since 0 starts at the table's first change" 1 "$(head -1 "$WORK/watch0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["room_seq"])')"

"$M" frobnicate 2>/dev/null; check "unknown command" 2 $?
MXDB_SERVER=http://127.0.0.1:1 "$M" get "$T" com.example.todo t1 2>/dev/null; check "server unreachable" 3 $?

kill -TERM "$MXDBD_PID"; wait "$MXDBD_PID"; check "mxdbd exits 0" 0 $?
MXDBD_PID=
echo "test_cli_tables: $checks checks, $fails failed"
[ $fails -eq 0 ]
