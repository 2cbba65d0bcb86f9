/*
 * fed_keys.c: our key response, validation of remote key responses, and the
 * fed_server_keys cache. Never fetches anything: the api/ layer does the
 * HTTP and hands the parsed response here.
 */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "fed_keys.h"

/* "ed25519:" followed by [a-zA-Z0-9_]+ (the spec's key version alphabet). */
static int ed25519_key_id(const char *id)
{
	if (strncmp(id, "ed25519:", 8) != 0 || id[8] == '\0' || strlen(id) >= sizeof(((fed_vkey *)0)->key_id))
		return 0;
	for (const char *p = id + 8; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_'))
			return 0;
	return 1;
}

mxdb_status fed_keys_own_response(const mx_key *key, const fed_vkey *old, size_t n_old,
                                  const char *server_name, long long now_ms,
                                  long long valid_for_ms, json_t **out, mxdb_error *err)
{
	char pub[64];
	*out = NULL;
	if (server_name == NULL || *server_name == '\0' || valid_for_ms <= 0)
		return mx_fail(err, MXDB_EINVAL, "server name and validity are required");
	key_public_b64(key, pub);
	json_t *olds = json_object();
	for (size_t i = 0; olds && i < n_old; i++) {
		char opub[64];
		b64_encode(old[i].pk, 32, opub);
		json_object_set_new(olds, old[i].key_id,
		                    json_pack("{s:s, s:I}", "key", opub, "expired_ts",
		                              (json_int_t)old[i].expired_ts));
	}
	json_t *resp = json_pack("{s:s, s:{s:{s:s}}, s:o, s:I}", "server_name", server_name,
	                         "verify_keys", key->key_id, "key", pub, "old_verify_keys", olds,
	                         "valid_until_ts", (json_int_t)(now_ms + valid_for_ms));
	if (resp == NULL)
		return mx_fail(err, MXDB_ENOMEM, "building the key response");
	mxdb_status st = key_sign_json(key, server_name, resp, err);
	if (st != MXDB_OK) {
		json_decref(resp);
		return st;
	}
	*out = resp;
	return MXDB_OK;
}

/* Collects the ed25519 keys of one of verify_keys / old_verify_keys. Keys of
 * other algorithms are skipped: we could not check them anyway. */
static mxdb_status collect(const json_t *obj, int old, long long valid_until, fed_vkey *keys,
                           size_t *n, size_t cap, mxdb_error *err)
{
	const char *id;
	json_t *v;
	json_object_foreach((json_t *)obj, id, v) {
		if (strncmp(id, "ed25519:", 8) != 0)
			continue;
		json_t *k = json_object_get(v, "key");
		if (!ed25519_key_id(id) || !json_is_string(k))
			return mx_fail(err, MXDB_EBADJSON, "bad key entry %s", id);
		if (*n == cap)
			return mx_fail(err, MXDB_ETOOLARGE, "too many keys");
		fed_vkey *fk = &keys[*n];
		memset(fk, 0, sizeof(*fk));
		strcpy(fk->key_id, id);
		if (b64_decode(json_string_value(k), json_string_length(k), fk->pk, sizeof(fk->pk)) != 32)
			return mx_fail(err, MXDB_EBADJSON, "key %s is not 32 bytes of base64", id);
		fk->valid_until_ts = valid_until;
		if (old) {
			json_t *exp = json_object_get(v, "expired_ts");
			if (!json_is_integer(exp))
				return mx_fail(err, MXDB_EBADJSON, "old key %s has no expired_ts", id);
			fk->expired_ts = json_integer_value(exp);
			/* An old key is good for events from before it expired. */
			fk->valid_until_ts = fk->expired_ts;
		}
		(*n)++;
	}
	return MXDB_OK;
}

mxdb_status fed_keys_validate(const json_t *resp, const char *server_name, long long now_ms,
                              fed_vkey **keys_out, size_t *n_out, mxdb_error *err)
{
	*keys_out = NULL;
	*n_out = 0;
	if (!json_is_object(resp))
		return mx_fail(err, MXDB_EBADJSON, "key response is not an object");
	json_t *name = json_object_get(resp, "server_name");
	json_t *vk = json_object_get(resp, "verify_keys");
	json_t *ovk = json_object_get(resp, "old_verify_keys");
	json_t *until = json_object_get(resp, "valid_until_ts");
	if (!json_is_string(name) || !json_is_object(vk) || !json_is_integer(until) ||
	    (ovk != NULL && !json_is_object(ovk)))
		return mx_fail(err, MXDB_EBADJSON, "key response lacks server_name, verify_keys or valid_until_ts");
	if (strcmp(json_string_value(name), server_name) != 0)
		return mx_fail(err, MXDB_ESIGNATURE, "key response is for %s, not %s",
		               json_string_value(name), server_name);
	long long valid_until = json_integer_value(until);
	if (valid_until > now_ms + FED_KEY_MAX_VALIDITY_MS)
		valid_until = now_ms + FED_KEY_MAX_VALIDITY_MS;

	size_t cap = json_object_size(vk) + (ovk ? json_object_size(ovk) : 0);
	if (cap == 0)
		return mx_fail(err, MXDB_EBADJSON, "key response has no keys");
	fed_vkey *keys = calloc(cap, sizeof(*keys));
	if (keys == NULL)
		return mx_fail(err, MXDB_ENOMEM, "key list");
	size_t n = 0;
	mxdb_status st = collect(vk, 0, valid_until, keys, &n, cap, err);
	size_t n_current = n;
	if (st == MXDB_OK && ovk != NULL)
		st = collect(ovk, 1, 0, keys, &n, cap, err);

	/* Self-signature: every current key that signed must verify, one must have. */
	size_t signed_by = 0;
	json_t *sigs = json_object_get(json_object_get(resp, "signatures"), server_name);
	for (size_t i = 0; st == MXDB_OK && i < n_current; i++) {
		if (json_object_get(sigs, keys[i].key_id) == NULL)
			continue;
		st = key_verify_json(resp, server_name, keys[i].key_id, keys[i].pk, err);
		signed_by++;
	}
	if (st == MXDB_OK && signed_by == 0)
		st = mx_fail(err, MXDB_ESIGNATURE, "key response of %s is not signed by its own keys",
		             server_name);
	if (st != MXDB_OK) {
		free(keys);
		return st;
	}
	*keys_out = keys;
	*n_out = n;
	return MXDB_OK;
}

mxdb_status fed_keys_store(sqlite3 *db, const char *server_name, const fed_vkey *keys, size_t n,
                           long long now_ms, mxdb_error *err)
{
	/* A refetch may only extend what we know: MAX() keeps a longer validity
	 * that was learnt earlier, and expired_ts, once set, stays set. The one
	 * exception is the server's own word that a key retired: from then on
	 * it is good for events before expired_ts only. */
	static const char sql[] =
		"INSERT INTO fed_server_keys(server_name, key_id, public_key, valid_until_ts,"
		" expired_ts, fetched_ts) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
		" ON CONFLICT(server_name, key_id) DO UPDATE SET"
		"  public_key = excluded.public_key,"
		"  valid_until_ts = CASE WHEN excluded.expired_ts IS NOT NULL"
		"   THEN excluded.valid_until_ts"
		"   ELSE MAX(valid_until_ts, excluded.valid_until_ts) END,"
		"  expired_ts = COALESCE(excluded.expired_ts, expired_ts),"
		"  fetched_ts = excluded.fetched_ts";
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	mxdb_status st = MXDB_OK;
	for (size_t i = 0; i < n && st == MXDB_OK; i++) {
		sqlite3_bind_text(q, 1, server_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, keys[i].key_id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 3, keys[i].pk, 32, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, keys[i].valid_until_ts);
		if (keys[i].expired_ts)
			sqlite3_bind_int64(q, 5, keys[i].expired_ts);
		else
			sqlite3_bind_null(q, 5);
		sqlite3_bind_int64(q, 6, now_ms);
		if (sqlite3_step(q) != SQLITE_DONE)
			st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	return st;
}

mxdb_status fed_keys_lookup(sqlite3 *db, const char *server_name, const char *key_id,
                            fed_key_use use, long long ts, unsigned char pk[32],
                            long long *valid_until, mxdb_error *err)
{
	static const char sql[] =
		"SELECT public_key, valid_until_ts, expired_ts FROM fed_server_keys"
		" WHERE server_name = ?1 AND key_id = ?2";
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(q, 1, server_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, key_id, -1, SQLITE_STATIC);
	mxdb_status st;
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		long long until = sqlite3_column_int64(q, 1);
		int old = sqlite3_column_type(q, 2) != SQLITE_NULL;
		if (sqlite3_column_bytes(q, 0) != 32)
			st = mx_fail(err, MXDB_EIO, "cached key %s of %s is damaged", key_id, server_name);
		else if (use == FED_KEY_FOR_REQUEST && old)
			st = mx_fail(err, MXDB_ENOTFOUND, "key %s of %s is an old key", key_id, server_name);
		else if (until < ts)
			st = mx_fail(err, MXDB_ENOTFOUND, "key %s of %s is not valid at %lld", key_id,
			             server_name, ts);
		else {
			memcpy(pk, sqlite3_column_blob(q, 0), 32);
			if (valid_until)
				*valid_until = until;
			st = MXDB_OK;
		}
	} else if (rc == SQLITE_DONE) {
		st = mx_fail(err, MXDB_ENOTFOUND, "no key %s for %s", key_id, server_name);
	} else {
		st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(q);
	return st;
}

/* Whole responses, kept for answering as a notary: the origin's signature
 * must reach the asker untouched, so the parsed keys are not enough. One
 * row per server, the latest answer. Created here rather than with the
 * schema so the notary cache can be dropped without a migration. */
mxdb_status fed_keys_init(sqlite3 *db, mxdb_error *err)
{
	static const char sql[] =
		"CREATE TABLE IF NOT EXISTS fed_server_key_json("
		"  server_name TEXT PRIMARY KEY, valid_until_ts INTEGER NOT NULL,"
		"  response TEXT NOT NULL)";
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	return MXDB_OK;
}

mxdb_status fed_keys_store_response(sqlite3 *db, const json_t *resp, mxdb_error *err)
{
	static const char sql[] =
		"INSERT INTO fed_server_key_json(server_name, valid_until_ts, response)"
		" VALUES(?1, ?2, ?3) ON CONFLICT(server_name) DO UPDATE SET"
		"  valid_until_ts = excluded.valid_until_ts, response = excluded.response"
		" WHERE excluded.valid_until_ts >= valid_until_ts";
	const char *name = json_string_value(json_object_get(resp, "server_name"));
	json_t *until = json_object_get(resp, "valid_until_ts");
	if (name == NULL || !json_is_integer(until))
		return mx_fail(err, MXDB_EBADJSON, "not a key response");
	char *text = json_dumps(resp, JSON_COMPACT);
	if (text == NULL)
		return mx_fail(err, MXDB_ENOMEM, "key response");
	sqlite3_stmt *q = NULL;
	mxdb_status st = MXDB_OK;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	if (st == MXDB_OK) {
		sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, json_integer_value(until));
		sqlite3_bind_text(q, 3, text, -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE)
			st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(q);
	free(text);
	return st;
}

mxdb_status fed_keys_cached_response(sqlite3 *db, const char *server_name,
                                     long long min_valid_until, json_t **out, mxdb_error *err)
{
	static const char sql[] =
		"SELECT response FROM fed_server_key_json WHERE server_name = ?1 AND valid_until_ts >= ?2";
	*out = NULL;
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(q, 1, server_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, min_valid_until);
	mxdb_status st;
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*out = json_loads((const char *)sqlite3_column_text(q, 0), JSON_REJECT_DUPLICATES, NULL);
		st = *out ? MXDB_OK : mx_fail(err, MXDB_EIO, "cached key response of %s is damaged", server_name);
	} else if (rc == SQLITE_DONE) {
		st = mx_fail(err, MXDB_ENOTFOUND, "no key response of %s valid until %lld", server_name,
		             min_valid_until);
	} else {
		st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(q);
	return st;
}
