#!/bin/bash
# test_mxdbd.sh: the daemon itself: starts with only a listen address (the
# default data directory ./mxdb-data is created with its SQLite file and
# signing key), prints one line, reads a config file (flags win over it),
# refuses bad settings, and exits 0 on SIGTERM with a long-poll in flight
# answered first.
set -u
MXDB_BIN=${MXDB_BIN:-$(cd "$(dirname "$0")/../../build/test" && pwd)}
WORK=$(mktemp -d /tmp/mxdbd-test-XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$WORK"

# bad settings: exit status 2 and a message
"$MXDB_BIN/mxdbd" --no-such-flag 1 2>err && fail "an unknown flag was accepted"
grep -q "unknown flag" err || fail "no message for an unknown flag: $(cat err)"
"$MXDB_BIN/mxdbd" --listen nocolon 2>err; [ $? = 2 ] || fail "bad listen address"
"$MXDB_BIN/mxdbd" --log-level loud 2>err; [ $? = 2 ] || fail "bad log level"
"$MXDB_BIN/mxdbd" --help | grep -q -- "--server-name" || fail "--help"
printf 'listen = 127.0.0.1:0\nno_such_key = 1\n' >bad.conf
"$MXDB_BIN/mxdbd" --config bad.conf 2>err && fail "a bad config file was accepted"
grep -q "bad.conf:2" err || fail "the config error names no line: $(cat err)"

# first start with defaults (only a free port): creates ./mxdb-data
"$MXDB_BIN/mxdbd" --listen 127.0.0.1:0 >out 2>err &
PID=$!
for _ in $(seq 1 100); do grep -q listening out && break; sleep 0.1; done
[ "$(wc -l <out)" = 1 ] || fail "expected one line on stdout: $(cat out)"
grep -q "listening on http://127.0.0.1:[0-9]* (server name localhost:8008, data ./mxdb-data)" out ||
	fail "start-up line: $(cat out)"
[ -f mxdb-data/mxdb.sqlite3 ] && [ -f mxdb-data/signing.key ] || fail "data directory: $(ls -la mxdb-data)"
PORT=$(sed -n 's|.*127.0.0.1:\([0-9]*\).*|\1|p' out)
curl -sf "http://127.0.0.1:$PORT/_matrix/client/versions" >/dev/null || fail "not serving"
# SIGTERM with a parked long-poll: it is answered at once, then the daemon exits 0
TOKEN=$(curl -s -X POST "http://127.0.0.1:$PORT/_matrix/client/v3/register" \
	-d '{"username":"u","password":"p","auth":{"type":"m.login.dummy"}}' | jq -r .access_token)
SINCE=$(curl -s "http://127.0.0.1:$PORT/_matrix/client/v3/sync?access_token=$TOKEN" | jq -r .next_batch)
curl -s -o lp -w '%{http_code} %{time_total}' \
	"http://127.0.0.1:$PORT/_matrix/client/v3/sync?access_token=$TOKEN&since=$SINCE&timeout=30000" >lp_status &
LP=$!
sleep 0.5
kill -TERM $PID; wait $PID; RC=$?; PID=
wait $LP
[ $RC = 0 ] || fail "exit status $RC after SIGTERM: $(cat err)"
read -r CODE T <lp_status
[ "$CODE" = 200 ] && awk -v t="$T" 'BEGIN { exit !(t < 10) }' ||
	fail "the parked long-poll got $CODE after $T s: $(cat lp)"

# a config file, with a flag overriding one of its keys
cat >mxdbd.conf <<CONF
# test configuration
listen = 127.0.0.1:0
server_name = "conf.example"
data = $WORK/d2
password_hash = fast
registration = closed
CONF
"$MXDB_BIN/mxdbd" --server-name flag.example --config mxdbd.conf >out 2>err &
PID=$!
for _ in $(seq 1 100); do grep -q listening out && break; sleep 0.1; done
grep -q "server name flag.example, data $WORK/d2" out || fail "config file + flag: $(cat out)"
PORT=$(sed -n 's|.*127.0.0.1:\([0-9]*\).*|\1|p' out)
CODE=$(curl -s -o reg -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/_matrix/client/v3/register" \
	-d '{"username":"x","password":"y","auth":{"type":"m.login.dummy"}}')
[ "$CODE" = 403 ] || fail "registration = closed did not close it: $CODE $(cat reg)"

sqlite3 "$WORK/d2/mxdb.sqlite3" "SELECT version FROM schema_versions WHERE module='acct'" | grep -q 1 ||
	fail "schema_versions has no acct row"
kill -TERM $PID; wait $PID; RC=$?; PID=
[ $RC = 0 ] || fail "exit status $RC: $(cat err)"
echo "test_mxdbd: ok"
