# test_example_tables.sh: examples/shared-config and examples/live-doc
# against a real mxdbd: the compare-and-set loop loses no update under
# contention, and two live-doc editors each end with the other's paragraphs.
. "$(dirname "$0")/mxdbd_lib.sh"
start_mxdbd --log-level warn
export XDG_CONFIG_HOME="$DATA/config" MXDB_SERVER="$HS"
"$MXDB_BIN/mxdb" register alice --password alice-pw >/dev/null || fail "register"
TOKEN=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["servers"][d["default"]]["access_token"])' \
	"$XDG_CONFIG_HOME/mxdb/credentials.json")
"$MXDB_BIN/mxdb" table create config >/dev/null || fail "table create config"
"$MXDB_BIN/mxdb" table create doc >/dev/null || fail "table create doc"

out=$("$MXDB_BIN/examples/shared-config/example_shared_config" --server "$HS" --token "$TOKEN" \
	--table "#config:test.local" --workers 6 --increments 20) || fail "shared-config: $out"
echo "$out" | grep -q '^{"counter":120} retries=' || fail "shared-config lost updates: $out"

E="$MXDB_BIN/examples/live-doc/example_live_doc"
"$E" --server "$HS" --token "$TOKEN" --doc "#doc:test.local" --name ann --edits 15 --peer-edits 15 \
	--timeout 60 >"$DATA/ann" 2>&1 &
ANN=$!
"$E" --server "$HS" --token "$TOKEN" --doc "#doc:test.local" --name ben --edits 15 --peer-edits 15 \
	--timeout 60 >"$DATA/ben" 2>&1 || fail "ben: $(cat "$DATA/ben")"
wait $ANN || fail "ann: $(cat "$DATA/ann")"
grep -q "has 15 paragraphs by others; the document has 30 paragraphs" "$DATA/ann" || fail "ann: $(cat "$DATA/ann")"
grep -q "has 15 paragraphs by others; the document has 30 paragraphs" "$DATA/ben" || fail "ben: $(cat "$DATA/ben")"
echo "test_example_tables: ok ($(echo "$out" | cut -d' ' -f2))"
