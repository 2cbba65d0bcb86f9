/* test_fed_keys.c: our key response, validation of remote responses, and the
 * remote key cache in a real SQLite file (validity, old keys, restarts). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fed_keys.h"
#include "fed_store.h"
#include "testutil.h"

#define DAY (24LL * 3600 * 1000)

static void test_own_response(void)
{
	mx_key k;
	mxdb_error err;
	json_t *r = NULL;
	long long now = fed_now_ms();
	CHECK(key_generate(&k, &err) == MXDB_OK);
	CHECK(fed_keys_own_response(&k, NULL, 0, "a.example:8448", now, DAY, &r, &err) == MXDB_OK);
	CHECK(strcmp(json_string_value(json_object_get(r, "server_name")), "a.example:8448") == 0);
	CHECK(json_integer_value(json_object_get(r, "valid_until_ts")) == now + DAY);
	CHECK(json_is_object(json_object_get(r, "old_verify_keys")));
	char pub[64];
	key_public_b64(&k, pub);
	json_t *vk = json_object_get(json_object_get(r, "verify_keys"), k.key_id);
	CHECK(vk && strcmp(json_string_value(json_object_get(vk, "key")), pub) == 0);

	fed_vkey *keys = NULL;
	size_t n = 0;
	CHECK(fed_keys_validate(r, "a.example:8448", now, &keys, &n, &err) == MXDB_OK);
	CHECK(n == 1 && keys && memcmp(keys[0].pk, k.pk, 32) == 0 && keys[0].expired_ts == 0);
	CHECK(n == 1 && keys[0].valid_until_ts == now + DAY);
	free(keys);

	/* Claimed by someone else. */
	CHECK(fed_keys_validate(r, "b.example", now, &keys, &n, &err) == MXDB_ESIGNATURE);
	/* Tampered after signing: the validity stretched. */
	json_object_set_new(r, "valid_until_ts", json_integer(now + 6 * DAY));
	CHECK(fed_keys_validate(r, "a.example:8448", now, &keys, &n, &err) == MXDB_ESIGNATURE);
	json_decref(r);

	/* Validity capped at 7 days from now. */
	CHECK(fed_keys_own_response(&k, NULL, 0, "a.example", now, 30 * DAY, &r, &err) == MXDB_OK);
	CHECK(fed_keys_validate(r, "a.example", now, &keys, &n, &err) == MXDB_OK);
	CHECK(n == 1 && keys[0].valid_until_ts == now + FED_KEY_MAX_VALIDITY_MS);
	free(keys);

	/* Signed by a key it does not list: not self-signed. */
	mx_key other;
	CHECK(key_generate(&other, &err) == MXDB_OK);
	json_object_del(r, "signatures");
	CHECK(fed_keys_validate(r, "a.example", now, &keys, &n, &err) == MXDB_ESIGNATURE);
	CHECK(key_sign_json(&other, "a.example", r, &err) == MXDB_OK);
	CHECK(fed_keys_validate(r, "a.example", now, &keys, &n, &err) == MXDB_ESIGNATURE);
	/* A listed key whose signature is bad spoils the response even when
	 * another listed key signed correctly. */
	char opub[64];
	key_public_b64(&other, opub);
	json_object_del(r, "signatures");
	json_object_set_new(json_object_get(r, "verify_keys"), other.key_id, json_pack("{s:s}", "key", opub));
	CHECK(key_sign_json(&k, "a.example", r, &err) == MXDB_OK);
	json_object_set_new(json_object_get(json_object_get(r, "signatures"), "a.example"), other.key_id,
	                    json_string("AAAA"));
	CHECK(fed_keys_validate(r, "a.example", now, &keys, &n, &err) == MXDB_ESIGNATURE);
	json_decref(r);

	/* Shape errors. */
	json_t *bad = json_pack("{s:s, s:{s:{s:s}}, s:I}", "server_name", "a.example", "verify_keys",
	                        "ed25519:x", "key", "c2hvcnQ", "valid_until_ts", (json_int_t)now);
	CHECK(fed_keys_validate(bad, "a.example", now, &keys, &n, &err) == MXDB_EBADJSON);
	json_decref(bad);
	bad = json_pack("{s:s, s:{}}", "server_name", "a.example", "verify_keys");
	CHECK(fed_keys_validate(bad, "a.example", now, &keys, &n, &err) == MXDB_EBADJSON);
	json_decref(bad);
}

/* A response with a current key and an old one, as a remote would send. */
static json_t *remote_response(const mx_key *cur, const mx_key *old, long long until,
                               long long expired)
{
	char p1[64], p2[64];
	key_public_b64(cur, p1);
	key_public_b64(old, p2);
	json_t *r = json_pack("{s:s, s:{s:{s:s}}, s:{s:{s:s, s:I}}, s:I}", "server_name", "r.example",
	                      "verify_keys", cur->key_id, "key", p1, "old_verify_keys", old->key_id,
	                      "key", p2, "expired_ts", (json_int_t)expired, "valid_until_ts",
	                      (json_int_t)until);
	if (key_sign_json(cur, "r.example", r, NULL) != MXDB_OK)
		abort();
	return r;
}

static void test_cache(void)
{
	char dir[] = "/tmp/test_fed_keys_XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/mxdb.sqlite3", dir);

	mx_key cur, old;
	mxdb_error err;
	CHECK(key_generate(&cur, &err) == MXDB_OK);
	CHECK(key_generate(&old, &err) == MXDB_OK);
	long long now = fed_now_ms();
	json_t *r = remote_response(&cur, &old, now + DAY, now - DAY);
	fed_vkey *keys = NULL;
	size_t n = 0;
	CHECK(fed_keys_validate(r, "r.example", now, &keys, &n, &err) == MXDB_OK);
	CHECK(n == 2);

	sqlite3 *db = NULL;
	CHECK(fed_store_open(path, &db, &err) == MXDB_OK);
	CHECK(fed_keys_store(db, "r.example", keys, n, now, &err) == MXDB_OK);
	free(keys);
	sqlite3_close(db);

	/* Reopened: the cache outlives the connection, the schema row is there. */
	CHECK(fed_store_open(path, &db, &err) == MXDB_OK);
	sqlite3_stmt *q;
	CHECK(sqlite3_prepare_v2(db, "SELECT version FROM schema_versions WHERE module='fed'", -1, &q,
	                         NULL) == SQLITE_OK);
	CHECK(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == FED_SCHEMA_VERSION);
	sqlite3_finalize(q);

	unsigned char pk[32];
	long long until = 0;
	CHECK(fed_keys_lookup(db, "r.example", cur.key_id, FED_KEY_FOR_REQUEST, now, pk, &until, &err) == MXDB_OK);
	CHECK(until == now + DAY);
	CHECK(memcmp(pk, cur.pk, 32) == 0);
	/* Past valid_until_ts: refetch needed. */
	CHECK(fed_keys_lookup(db, "r.example", cur.key_id, FED_KEY_FOR_REQUEST, now + 2 * DAY, pk, NULL, &err) ==
	      MXDB_ENOTFOUND);
	/* An old key signs no requests, only events from before it expired. */
	CHECK(fed_keys_lookup(db, "r.example", old.key_id, FED_KEY_FOR_REQUEST, now, pk, NULL, &err) ==
	      MXDB_ENOTFOUND);
	CHECK(fed_keys_lookup(db, "r.example", old.key_id, FED_KEY_FOR_EVENT, now - 2 * DAY, pk, NULL, &err) ==
	      MXDB_OK);
	CHECK(memcmp(pk, old.pk, 32) == 0);
	CHECK(fed_keys_lookup(db, "r.example", old.key_id, FED_KEY_FOR_EVENT, now, pk, NULL, &err) ==
	      MXDB_ENOTFOUND);
	CHECK(fed_keys_lookup(db, "x.example", cur.key_id, FED_KEY_FOR_EVENT, now, pk, NULL, &err) ==
	      MXDB_ENOTFOUND);

	/* A later response with a shorter validity does not shorten what we know. */
	json_decref(r);
	r = remote_response(&cur, &old, now + 3600 * 1000, now - DAY);
	CHECK(fed_keys_validate(r, "r.example", now, &keys, &n, &err) == MXDB_OK);
	CHECK(fed_keys_store(db, "r.example", keys, n, now, &err) == MXDB_OK);
	free(keys);
	CHECK(fed_keys_lookup(db, "r.example", cur.key_id, FED_KEY_FOR_EVENT, now + DAY - 1, pk, NULL, &err) ==
	      MXDB_OK);
	json_decref(r);

	/* The server retires cur: from its word on, cur is good for events
	 * before expired_ts only, however long it was valid as a current key. */
	mx_key next;
	CHECK(key_generate(&next, &err) == MXDB_OK);
	long long retired = now - 1000;
	r = remote_response(&next, &cur, now + DAY, retired);
	CHECK(fed_keys_validate(r, "r.example", now, &keys, &n, &err) == MXDB_OK);
	CHECK(fed_keys_store(db, "r.example", keys, n, now, &err) == MXDB_OK);
	free(keys);
	CHECK(fed_keys_lookup(db, "r.example", cur.key_id, FED_KEY_FOR_EVENT, retired - 1, pk, NULL, &err) ==
	      MXDB_OK);
	CHECK(fed_keys_lookup(db, "r.example", cur.key_id, FED_KEY_FOR_EVENT, retired + 1, pk, NULL, &err) ==
	      MXDB_ENOTFOUND);
	CHECK(fed_keys_lookup(db, "r.example", cur.key_id, FED_KEY_FOR_REQUEST, now, pk, NULL, &err) ==
	      MXDB_ENOTFOUND);

	/* The notary cache keeps the whole response, the later one winning. */
	CHECK(fed_keys_init(db, &err) == MXDB_OK);
	CHECK(fed_keys_store_response(db, r, &err) == MXDB_OK);
	json_t *back = NULL;
	CHECK(fed_keys_cached_response(db, "r.example", now, &back, &err) == MXDB_OK);
	CHECK(back != NULL && json_equal(back, r));
	json_decref(back);
	CHECK(fed_keys_cached_response(db, "r.example", now + 2 * DAY, &back, &err) == MXDB_ENOTFOUND);
	json_t *older = remote_response(&next, &cur, now + 60000, retired);
	CHECK(fed_keys_store_response(db, older, &err) == MXDB_OK);
	CHECK(fed_keys_cached_response(db, "r.example", now + DAY, &back, &err) == MXDB_OK);
	json_decref(back);
	json_decref(older);
	json_decref(r);
	sqlite3_close(db);

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/* Our retired keys are published in old_verify_keys with expired_ts, and
 * the response still validates (signed by the current key only). */
static void test_own_old_keys(void)
{
	mx_key cur, old;
	mxdb_error err;
	CHECK(key_generate(&cur, &err) == MXDB_OK && key_generate(&old, &err) == MXDB_OK);
	fed_vkey o = {.expired_ts = 1700000000000LL};
	strcpy(o.key_id, old.key_id);
	memcpy(o.pk, old.pk, 32);
	long long now = fed_now_ms();
	json_t *r = NULL;
	CHECK(fed_keys_own_response(&cur, &o, 1, "a.example", now, DAY, &r, &err) == MXDB_OK);
	json_t *e = json_object_get(json_object_get(r, "old_verify_keys"), old.key_id);
	CHECK(json_integer_value(json_object_get(e, "expired_ts")) == 1700000000000LL);
	char pub[64];
	key_public_b64(&old, pub);
	CHECK(json_is_string(json_object_get(e, "key")) &&
	      strcmp(json_string_value(json_object_get(e, "key")), pub) == 0);
	fed_vkey *keys = NULL;
	size_t n = 0;
	CHECK(fed_keys_validate(r, "a.example", now, &keys, &n, &err) == MXDB_OK && n == 2);
	free(keys);
	json_decref(r);
}

int main(void)
{
	test_own_response();
	test_own_old_keys();
	test_cache();
	return test_summary("test_fed_keys");
}
