#!/bin/bash
# test_fed_listen.sh: --federation-listen moves the server-server API to a
# listener of its own; --federation=false turns it off.
. "$(dirname "$0")/mxdbd_lib.sh"
FPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_mxdbd --federation-listen "127.0.0.1:$FPORT"
code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
[ "$(code "http://127.0.0.1:$FPORT/_matrix/federation/v1/version")" = 200 ] || fail "federation listener"
[ "$(code "http://127.0.0.1:$FPORT/_matrix/key/v2/server")" = 200 ] || fail "keys on the federation listener"
[ "$(code "$HS/_matrix/federation/v1/version")" = 404 ] || fail "federation still on the main listener"
[ "$(code "http://127.0.0.1:$FPORT/_matrix/client/versions")" = 404 ] || fail "client API on the federation listener"
curl -s "http://127.0.0.1:$FPORT/_matrix/key/v2/server" | jq -e '.server_name == "test.local"' >/dev/null ||
	fail "key response"
stop_mxdbd
start_mxdbd --federation=false
[ "$(code "$HS/_matrix/federation/v1/version")" = 404 ] || fail "--federation=false still serves it"
[ "$(code "$HS/_matrix/client/versions")" = 200 ] || fail "client API gone"
echo "test_fed_listen: ok"
