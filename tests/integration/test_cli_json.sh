# test_cli_json.sh: exit codes, output bytes and messages of `mxdb canonical`,
# `sign`, `verify` and `keygen` for good and bad input (docs/cli.md).
set -u
MXDB="${MXDB_BIN:-build/test}/mxdb"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0 checks=0

# expect NAME WANT_RC WANT_STDOUT STDERR_SUBSTRING -- ARGS... (stdin from $IN);
# WANT_STDOUT "*" takes any output, an empty STDERR_SUBSTRING wants no stderr
expect() {
	local name=$1 want_rc=$2 want_out=$3 want_err=$4
	shift 5
	local out rc
	out=$(printf '%s' "$IN" | "$MXDB" "$@" 2>"$TMP/err"; echo "rc=$?")
	rc=${out##*rc=}
	out=${out%rc=*}
	checks=$((checks + 1))
	if [ "$rc" != "$want_rc" ] || { [ "$want_out" != "*" ] && [ "$out" != "$want_out" ]; } ||
		{ [ -z "$want_err" ] && [ -s "$TMP/err" ]; } ||
		{ [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$TMP/err"; }; then
		fails=$((fails + 1))
		echo "FAIL $name: rc=$rc (want $want_rc) out=[$out] (want [$want_out])"
		echo "     stderr: $(cat "$TMP/err") (want '$want_err')"
	fi
}

SEED=YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1
SIG_DATA=KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw
printf 'ed25519 1 %s\n' "$SEED" >"$TMP/spec.key"
chmod 600 "$TMP/spec.key"

# ---- canonical
IN='{ "two": "Two", "one": 1 }'
expect canonical 0 '{"one":1,"two":"Two"}' '' -- canonical
# no trailing newline: the output is exactly the canonical bytes
n=$(printf '%s' "$IN" | "$MXDB" canonical | wc -c)
checks=$((checks + 1))
[ "$n" = 21 ] || { fails=$((fails + 1)); echo "FAIL canonical length $n, want 21"; }
IN='{"a":1.5}'
expect canonical-float 2 '' 'mxdb canonical: floating-point number' -- canonical
IN='[1e3]'
expect canonical-exponent 2 '' 'exponent' -- canonical
IN='[-0]'
expect canonical-minus-zero 2 '' '-0' -- canonical
IN='[9007199254740992]'
expect canonical-too-big 2 '' '2^53' -- canonical
IN='{"a":1,"a":2}'
expect canonical-duplicate 2 '' 'duplicate object key' -- canonical
IN='["\ud800"]'
expect canonical-surrogate 2 '' 'lone surrogate' -- canonical
IN=$(printf '["\377"]')
expect canonical-utf8 2 '' 'unable to decode byte 0xff' -- canonical
IN='{"a":'
expect canonical-truncated 2 '' 'not JSON' -- canonical
IN='{} x'
expect canonical-garbage 2 '' 'not JSON' -- canonical
IN=''
expect canonical-empty 2 '' 'not JSON' -- canonical
IN='{}'
expect canonical-extra-arg 2 '' 'unexpected argument' -- canonical foo
expect canonical-bad-option 2 '' 'usage' -- canonical --nope
IN=$(printf '{"b":1,"a":2}\n[1.5]\n"x"')
expect canonical-lines 2 $'{"a":2,"b":1}\nerror: floating-point number at byte 1 (only integers are allowed)\n"x"\n' \
	'line 2: floating-point' -- canonical --lines
IN=$(printf '{"b":1,"a":2}\n[1]\n')
expect canonical-lines-ok 0 $'{"a":2,"b":1}\n[1]\n' '' -- canonical --lines

# ---- sign (spec vector), verify
IN='{"one":1,"two":"Two"}'
SIGNED='{"one":1,"signatures":{"domain":{"ed25519:1":"'$SIG_DATA'"}},"two":"Two"}'
expect sign 0 "$SIGNED" '' -- sign --key "$TMP/spec.key" --server domain
expect sign-default-server 0 '*' '' -- sign --key "$TMP/spec.key"
out=$(printf '%s' "$IN" | "$MXDB" sign --key "$TMP/spec.key")
checks=$((checks + 1))
case "$out" in *'"localhost:8008":{"ed25519:1":"'$SIG_DATA'"}'*) ;;
*) fails=$((fails + 1)); echo "FAIL sign default server: $out" ;; esac
IN='[1]'
expect sign-array 2 '' 'only a JSON object can be signed' -- sign --key "$TMP/spec.key"
IN='{"a":1.5}'
expect sign-float 2 '' 'floating-point' -- sign --key "$TMP/spec.key"
IN='{}'
expect sign-no-key 2 '' 'usage' -- sign
expect sign-missing-keyfile 2 '' 'No such file' -- sign --key "$TMP/nope.key"
printf 'garbage\n' >"$TMP/bad.key"
expect sign-bad-keyfile 2 '' "expected 'ed25519" -- sign --key "$TMP/bad.key"

PK=XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI # the spec seed's public key (signedjson derives the same)
V="verify --server domain --key-id ed25519:1 --public-key $PK"
IN=$SIGNED
expect verify-ok 0 '' 'valid signature by domain with key ed25519:1' -- $V
IN='{"one":2,"signatures":{"domain":{"ed25519:1":"'$SIG_DATA'"}},"two":"Two"}'
expect verify-tampered 1 '' 'does not verify' -- $V
IN='{"one":1,"two":"Two"}'
expect verify-unsigned 1 '' 'no signature by domain with key ed25519:1' -- $V
IN=$SIGNED
expect verify-other-server 1 '' 'no signature by other' -- verify --server other --key-id ed25519:1 --public-key "$PK"
expect verify-bad-pk 2 '' 'public key is not 32 bytes' -- verify --server domain --key-id ed25519:1 --public-key abcd
expect verify-missing-arg 2 '' 'usage' -- verify --server domain --public-key "$PK"
IN='{"a":'
expect verify-not-json 2 '' 'not JSON' -- $V

# ---- keygen, then sign with the new key and verify with its public key
IN=''
expect keygen 0 '*' '' -- keygen "$TMP/new.key"
checks=$((checks + 1))
mode=$(stat -c %a "$TMP/new.key")
[ "$mode" = 600 ] || { fails=$((fails + 1)); echo "FAIL keygen mode $mode"; }
before=$(cat "$TMP/new.key")
expect keygen-exists 2 '' 'already exists' -- keygen "$TMP/new.key"
checks=$((checks + 1))
[ "$(cat "$TMP/new.key")" = "$before" ] || { fails=$((fails + 1)); echo "FAIL keygen overwrote"; }
expect keygen-usage 2 '' 'usage' -- keygen
read -r KID KPK < <("$MXDB" keygen "$TMP/new2.key")
checks=$((checks + 1))
case "$KID" in ed25519:a_????) ;; *) fails=$((fails + 1)); echo "FAIL keygen id '$KID'" ;; esac
IN='{"x":"y"}'
signed=$(printf '%s' "$IN" | "$MXDB" sign --key "$TMP/new2.key" --server s.example)
IN=$signed
expect verify-new-key 0 '' 'valid signature' -- verify --server s.example --key-id "$KID" --public-key "$KPK"
expect verify-wrong-key 1 '' 'does not verify' -- verify --server s.example --key-id "$KID" --public-key "$PK"

IN=''
expect unknown-command 2 '' "unknown command 'nope'" -- nope

echo "test_cli_json: $checks checks, $fails failed"
[ "$fails" = 0 ]
