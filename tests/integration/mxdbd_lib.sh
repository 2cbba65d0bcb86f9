# mxdbd_lib.sh: sourced by the shell integration tests. Starts a real mxdbd
# from $MXDB_BIN on a free loopback port with a temporary data directory,
# and stops it (and removes the directory) when the test exits, pass or fail.
#   start_mxdbd [extra flags...]  -> sets MXDBD_PID, PORT, HS (base URL), API, DATA
set -u
MXDB_BIN=${MXDB_BIN:-$(cd "$(dirname "$0")/../../build/test" && pwd)}
DATA=$(mktemp -d /tmp/mxdb-it-XXXXXX)
MXDBD_PID=

stop_mxdbd() {
	if [ -n "$MXDBD_PID" ] && kill -0 "$MXDBD_PID" 2>/dev/null; then
		kill -TERM "$MXDBD_PID"
		for _ in $(seq 1 100); do kill -0 "$MXDBD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$MXDBD_PID" 2>/dev/null || true
	fi
	MXDBD_PID=
}
trap 'stop_mxdbd; rm -rf "$DATA"' EXIT

start_mxdbd() {
	"$MXDB_BIN/mxdbd" --listen 127.0.0.1:0 --server-name test.local --data "$DATA/data" \
		--feed "ipc://$DATA/feed" --password-hash fast "$@" >"$DATA/out.log" 2>"$DATA/err.log" &
	MXDBD_PID=$!
	for _ in $(seq 1 100); do
		PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$DATA/out.log")
		[ -n "$PORT" ] && break
		kill -0 "$MXDBD_PID" 2>/dev/null || { cat "$DATA/err.log" >&2; echo "mxdbd died" >&2; exit 1; }
		sleep 0.1
	done
	[ -n "$PORT" ] || { echo "mxdbd did not start" >&2; exit 1; }
	HS="http://127.0.0.1:$PORT"
	API="$HS/_matrix/client/v3"
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_status CODE METHOD PATH [BODY [TOKEN]] -> body in $OUT
expect_status() {
	local code=$1 method=$2 path=$3 body=${4-} tok=${5-}
	local args=(-s -o "$DATA/resp" -w '%{http_code}' -X "$method")
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	local got
	got=$(curl "${args[@]}" "$API$path")
	OUT=$(cat "$DATA/resp")
	[ "$got" = "$code" ] || fail "$method $path: expected $code, got $got: $OUT"
}
