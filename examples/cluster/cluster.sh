#!/bin/bash
# cluster.sh: three mxdbd replicas of one table on this machine.
#
#   examples/cluster/cluster.sh [BUILD_DIR]     (default: build/release)
#
# Starts a.local, b.local and c.local on 127.0.0.1:8481-8483 (federation
# over plain HTTP, each told where the others are with --peer), creates the
# table #todo:a.local on A, joins it from B and C, writes one row on each
# node and reads every row back from every node. Then it leaves the cluster
# running until Ctrl-C, printing how to talk to it. Data lives in a
# temporary directory that is removed on exit.
set -eu
BIN=${1:-build/release}
[ -x "$BIN/mxdbd" ] || { echo "no $BIN/mxdbd: run 'make build' first" >&2; exit 1; }
command -v jq >/dev/null || { echo "this script needs jq" >&2; exit 1; }
DIR=$(mktemp -d /tmp/mxdb-cluster-XXXXXX)
NAMES=(a.local b.local c.local)
PORTS=(8481 8482 8483)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT

for i in 0 1 2; do
	peers=()
	for j in 0 1 2; do
		[ "$i" = "$j" ] || peers+=(--peer "${NAMES[$j]}=127.0.0.1:${PORTS[$j]}")
	done
	"$BIN/mxdbd" --listen "127.0.0.1:${PORTS[$i]}" --server-name "${NAMES[$i]}" \
		--data "$DIR/${NAMES[$i]}" --feed "ipc://$DIR/${NAMES[$i]}.feed" \
		--federation-plain-http "${peers[@]}" >"$DIR/${NAMES[$i]}.log" 2>&1 &
	PIDS+=($!)
done
url() { echo "http://127.0.0.1:${PORTS[$1]}"; }
for i in 0 1 2; do
	for _ in $(seq 1 100); do curl -sf "$(url $i)/_matrix/federation/v1/version" >/dev/null && break; sleep 0.1; done
done

# One user per node.
TOKENS=()
for i in 0 1 2; do
	TOKENS+=("$(curl -s -X POST "$(url $i)/_matrix/client/v3/register" \
		-d "{\"username\":\"user$i\",\"password\":\"secret-$i\",\"auth\":{\"type\":\"m.login.dummy\"}}" |
		jq -r .access_token)")
done
call() { # node method path [body]
	curl -s -X "$2" -H "Authorization: Bearer ${TOKENS[$1]}" -H 'Content-Type: application/json' \
		${4:+--data-binary "$4"} "$(url $1)$3"
}

ROOM=$(call 0 POST /_mxdb/v1/tables '{"name":"todo","visibility":"public"}' | jq -r .room_id)
echo "table #todo:a.local is $ROOM"
ENC=$(jq -rn --arg r "$ROOM" '$r|@uri')
for i in 1 2; do
	call $i POST "/_matrix/client/v3/join/%23todo%3Aa.local" '{}' >/dev/null
	echo "${NAMES[$i]} joined"
done

for i in 0 1 2; do
	call $i PUT "/_mxdb/v1/tables/$ENC/rows/com.example.todo/from-${NAMES[$i]}" "{\"title\":\"written on ${NAMES[$i]}\"}" >/dev/null
done
sleep 0.5
for i in 0 1 2; do
	for k in 0 1 2; do
		printf '%s reads from-%s: %s\n' "${NAMES[$i]}" "${NAMES[$k]}" \
			"$(call $i GET "/_mxdb/v1/tables/$ENC/rows/com.example.todo/from-${NAMES[$k]}")"
	done
done

cat <<MSG

The cluster is running (Ctrl-C stops it and deletes $DIR).
  write on B:  curl -X PUT -H 'Authorization: Bearer ${TOKENS[1]}' \\
                 -d '{"title":"hi"}' $(url 1)/_mxdb/v1/tables/$ENC/rows/com.example.todo/hi
  read on C:   curl -H 'Authorization: Bearer ${TOKENS[2]}' $(url 2)/_mxdb/v1/tables/$ENC/rows/com.example.todo/hi
  changes on A: curl -H 'Authorization: Bearer ${TOKENS[0]}' '$(url 0)/_mxdb/v1/changes?since=0'
MSG
wait
