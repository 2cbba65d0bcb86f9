/* test_keys.c: ed25519 keys, the key file, and signing JSON against the
 * spec's test vectors (appendices, "Cryptographic Test Vectors"). */
#include "engine_util.h" /* first: it sets _XOPEN_SOURCE */

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "cjson.h"
#include "keys.h"
#include "testutil.h"

#define SPEC_SEED "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
#define SIG_EMPTY "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
#define SIG_DATA "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"

static mx_key spec_key(void)
{
	mx_key k;
	unsigned char seed[32];
	CHECK(b64_decode(SPEC_SEED, strlen(SPEC_SEED), seed, sizeof(seed)) == 32);
	CHECK(key_from_seed(&k, seed, "1", NULL) == MXDB_OK);
	CHECK(strcmp(k.key_id, "ed25519:1") == 0);
	return k;
}

static json_t *parse(const char *s)
{
	json_t *v = NULL;
	mxdb_error err;
	CHECK_MSG(cj_parse(s, strlen(s), &v, &err) == MXDB_OK, "%s: %s", s, err.message);
	return v;
}

static char *canon(const json_t *v)
{
	char *out = NULL;
	CHECK(cj_dump(v, &out, NULL, NULL) == MXDB_OK);
	return out;
}

/* Signs input with the spec key and checks the whole signed object. */
static void expect_signed(const char *input, const char *want_canonical)
{
	mx_key k = spec_key();
	json_t *v = parse(input);
	mxdb_error err;
	CHECK_MSG(key_sign_json(&k, "domain", v, &err) == MXDB_OK, "%s", err.message);
	char *got = canon(v);
	CHECK_MSG(got != NULL && strcmp(got, want_canonical) == 0, "got %s\nwant %s", got,
	          want_canonical);
	CHECK_MSG(key_verify_json(v, "domain", "ed25519:1", k.pk, &err) == MXDB_OK, "%s",
	          err.message);
	free(got);
	json_decref(v);
}

static void test_spec_vectors(void)
{
	expect_signed("{}", "{\"signatures\":{\"domain\":{\"ed25519:1\":\"" SIG_EMPTY "\"}}}");
	expect_signed("{\"one\": 1, \"two\": \"Two\"}",
	              "{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":\"" SIG_DATA
	              "\"}},\"two\":\"Two\"}");
	/* unsigned and existing signatures are not covered: same signature */
	expect_signed("{\"two\":\"Two\",\"unsigned\":{\"age\":5},\"one\":1,"
	              "\"signatures\":{\"other\":{\"ed25519:x\":\"abc\"}}}",
	              "{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":\"" SIG_DATA
	              "\"},\"other\":{\"ed25519:x\":\"abc\"}},\"two\":\"Two\",\"unsigned\":{\"age\":5}}");
	/* a second key of the same server joins the first */
	expect_signed("{\"signatures\":{\"domain\":{\"ed25519:0\":\"abc\"}}}",
	              "{\"signatures\":{\"domain\":{\"ed25519:0\":\"abc\",\"ed25519:1\":\"" SIG_EMPTY
	              "\"}}}");
	/* re-signing replaces our own old signature */
	expect_signed("{\"signatures\":{\"domain\":{\"ed25519:1\":\"stale\"}}}",
	              "{\"signatures\":{\"domain\":{\"ed25519:1\":\"" SIG_EMPTY "\"}}}");
}

/* Verification of a fixed signed text with the spec's public key. */
static mxdb_status verify_text(const char *text, const char *server, const char *key_id,
                               mxdb_error *err)
{
	mx_key k = spec_key();
	json_t *v = parse(text);
	mxdb_status st = key_verify_json(v, server, key_id, k.pk, err);
	json_decref(v);
	return st;
}

static void test_verify(void)
{
	mxdb_error err;
	const char *good = "{\"one\":1,\"two\":\"Two\",\"unsigned\":{\"x\":1},"
	                   "\"signatures\":{\"domain\":{\"ed25519:1\":\"" SIG_DATA "\"}}}";
	CHECK(verify_text(good, "domain", "ed25519:1", &err) == MXDB_OK);
	/* padded base64 is accepted too */
	CHECK(verify_text("{\"signatures\":{\"domain\":{\"ed25519:1\":\"" SIG_EMPTY "==\"}}}",
	                  "domain", "ed25519:1", &err) == MXDB_OK);

	/* tampered data, tampered signature, wrong key, missing pieces */
	CHECK(verify_text("{\"one\":2,\"two\":\"Two\",\"signatures\":{\"domain\":{\"ed25519:1\":\"" SIG_DATA
	                  "\"}}}", "domain", "ed25519:1", &err) == MXDB_ESIGNATURE);
	CHECK(strstr(err.message, "does not verify") != NULL);
	CHECK(verify_text("{\"one\":1,\"two\":\"Two\",\"three\":3,\"signatures\":{\"domain\":"
	                  "{\"ed25519:1\":\"" SIG_DATA "\"}}}", "domain", "ed25519:1", &err) ==
	      MXDB_ESIGNATURE);
	char bad[] = "{\"one\":1,\"two\":\"Two\",\"signatures\":{\"domain\":{\"ed25519:1\":\"" SIG_DATA "\"}}}";
	char *s = strstr(bad, "KqmL");
	s[0] = 'L'; /* one flipped character of the signature */
	CHECK(verify_text(bad, "domain", "ed25519:1", &err) == MXDB_ESIGNATURE);
	CHECK(verify_text(good, "other", "ed25519:1", &err) == MXDB_ESIGNATURE);
	CHECK(strstr(err.message, "no signature by other") != NULL);
	CHECK(verify_text(good, "domain", "ed25519:2", &err) == MXDB_ESIGNATURE);
	CHECK(verify_text("{\"one\":1}", "domain", "ed25519:1", &err) == MXDB_ESIGNATURE);
	CHECK(verify_text("{\"signatures\":{\"domain\":{\"ed25519:1\":\"bm90IGEgc2ln\"}}}", "domain",
	                  "ed25519:1", &err) == MXDB_ESIGNATURE);
	CHECK(strstr(err.message, "64 bytes") != NULL);
	CHECK(verify_text("{\"signatures\":{\"domain\":{\"ed25519:1\":5}}}", "domain", "ed25519:1",
	                  &err) == MXDB_ESIGNATURE);
	CHECK(verify_text("{\"signatures\":[]}", "domain", "ed25519:1", &err) == MXDB_ESIGNATURE);

	/* a valid signature checked against another public key */
	mx_key other;
	CHECK(key_generate(&other, NULL) == MXDB_OK);
	json_t *v = parse(good);
	CHECK(key_verify_json(v, "domain", "ed25519:1", other.pk, &err) == MXDB_ESIGNATURE);
	json_decref(v);

	/* what cannot be signed */
	mx_key k = spec_key();
	v = json_array();
	CHECK(key_sign_json(&k, "domain", v, &err) == MXDB_EBADJSON);
	json_decref(v);
	v = json_pack("{s:f}", "x", 1.5);
	CHECK(key_sign_json(&k, "domain", v, &err) == MXDB_EBADJSON);
	CHECK(json_object_get(v, "signatures") == NULL);
	json_decref(v);
	v = parse("{\"signatures\":\"nope\"}");
	CHECK(key_sign_json(&k, "domain", v, &err) == MXDB_EBADJSON);
	json_decref(v);
}

static void test_key_files(void)
{
	char dir[] = "/tmp/mxdb-test-keys.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[128], path2[128];
	snprintf(path, sizeof(path), "%s/signing.key", dir);
	snprintf(path2, sizeof(path2), "%s/other.key", dir);
	mxdb_error err;

	mx_key a, b;
	CHECK(key_generate(&a, NULL) == MXDB_OK);
	CHECK(strncmp(a.key_id, "ed25519:a_", 10) == 0 && strlen(a.key_id) == 14);
	CHECK(key_save(&a, path, &err) == MXDB_OK);
	struct stat sb;
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK(key_load(&b, path, &err) == MXDB_OK);
	CHECK(strcmp(a.key_id, b.key_id) == 0);
	CHECK(memcmp(a.pk, b.pk, 32) == 0 && memcmp(a.sk, b.sk, 64) == 0);

	/* the file is Synapse's format, byte for byte */
	char seed_b64[64], want[128], got[128] = {0};
	b64_encode(a.sk, 32, seed_b64);
	snprintf(want, sizeof(want), "ed25519 %s %s\n", a.key_id + 8, seed_b64);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL && fread(got, 1, sizeof(got) - 1, f) > 0);
	if (f)
		fclose(f);
	CHECK_MSG(strcmp(got, want) == 0, "file '%s'", got);

	/* no clobbering, no leftover temporary files */
	CHECK(key_generate(&b, NULL) == MXDB_OK);
	CHECK(key_save(&b, path, &err) == MXDB_EEXISTS);
	CHECK(key_load(&b, path, &err) == MXDB_OK && memcmp(a.sk, b.sk, 64) == 0);

	/* load_or_create: creates once, then keeps loading the same key */
	CHECK(key_load_or_create(&b, path2, &err) == MXDB_OK);
	CHECK(stat(path2, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	mx_key c;
	CHECK(key_load_or_create(&c, path2, &err) == MXDB_OK && memcmp(b.sk, c.sk, 64) == 0);
	CHECK(memcmp(a.pk, c.pk, 32) != 0);

	/* a Synapse key file with the spec seed loads to the spec key */
	f = fopen(path2, "w");
	fprintf(f, "ed25519 1 " SPEC_SEED "\n");
	fclose(f);
	mx_key s = spec_key();
	CHECK(key_load(&c, path2, &err) == MXDB_OK && memcmp(c.sk, s.sk, 64) == 0);
	CHECK(strcmp(c.key_id, "ed25519:1") == 0);

	/* broken files */
	const char *broken[] = {"", "ed25519 1\n", "ed448 1 " SPEC_SEED "\n", "ed25519 1 AAAA\n",
	                        "ed25519 b@d " SPEC_SEED "\n", "ed25519 1 !!!!\n"};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		f = fopen(path2, "w");
		fputs(broken[i], f);
		fclose(f);
		CHECK_MSG(key_load(&c, path2, &err) == MXDB_EINVAL, "'%s' loaded", broken[i]);
	}
	snprintf(path2, sizeof(path2), "%s/missing.key", dir);
	CHECK(key_load(&c, path2, &err) == MXDB_ENOTFOUND);
	snprintf(path2, sizeof(path2), "%s/no/such/dir.key", dir);
	CHECK(key_save(&a, path2, &err) == MXDB_EIO);

	/* the temporaries are gone: only the two key files remain */
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 2", dir);
	CHECK(system(cmd) == 0);
	CHECK(tmpdir_remove(dir) == 0);

	char pub[64];
	key_public_b64(&s, pub);
	/* the spec seed's public key, as Python's signedjson derives it */
	CHECK(strcmp(pub, "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI") == 0);
	CHECK(key_from_seed(&c, s.sk, "", &err) == MXDB_EINVAL);
	CHECK(key_from_seed(&c, s.sk, "a:b", &err) == MXDB_EINVAL);
}

int main(void)
{
	test_spec_vectors();
	test_verify();
	test_key_files();
	return test_summary("test_keys");
}
