/*
 * fed_keys.h: server signing keys as federation publishes them
 * (GET /_matrix/key/v2/server): our own self-signed response (with our
 * retired keys), validating a remote server's response, the remote key
 * cache in SQLite, and the whole responses a notary hands on.
 */
#ifndef MX_FED_KEYS_H
#define MX_FED_KEYS_H

#include <sqlite3.h>
#include <jansson.h>

#include "keys.h"

/* Spec: "Servers MUST use the lesser of this field and 7 days into the future". */
#define FED_KEY_MAX_VALIDITY_MS (7LL * 24 * 3600 * 1000)

/* One public key of a remote server. expired_ts is 0 for a current key (from
 * verify_keys), else the time it stopped being used (old_verify_keys). */
typedef struct fed_vkey {
	char key_id[64];
	unsigned char pk[32];
	long long valid_until_ts; /* already capped at fetch time + 7 days */
	long long expired_ts;
} fed_vkey;

/* What a key is wanted for: a request signature needs a current key valid
 * now; an event signature needs a key valid at the event's timestamp. */
typedef enum fed_key_use { FED_KEY_FOR_REQUEST, FED_KEY_FOR_EVENT } fed_key_use;

/* Builds our response {server_name, verify_keys, old_verify_keys (old[]:
 * key_id, pk and expired_ts of our retired keys), valid_until_ts = now +
 * valid_for_ms, signatures} signed by key. */
mxdb_status fed_keys_own_response(const mx_key *key, const fed_vkey *old, size_t n_old,
                                  const char *server_name, long long now_ms,
                                  long long valid_for_ms, json_t **out, mxdb_error *err);

/* Checks a response claimed to come from server_name: shape, server_name,
 * every key decodes to 32 bytes, signed by its own verify keys (every
 * signature of a listed verify key must verify, and at least one must be
 * there). On success *keys (malloc'd, *n entries) holds the keys with their
 * capped validity. Fails with MXDB_ESIGNATURE / MXDB_EBADJSON. */
mxdb_status fed_keys_validate(const json_t *resp, const char *server_name, long long now_ms,
                              fed_vkey **keys, size_t *n, mxdb_error *err);

/* Stores validated keys (replacing older entries for the same key IDs, but
 * never shortening a known validity). */
mxdb_status fed_keys_store(sqlite3 *db, const char *server_name, const fed_vkey *keys, size_t n,
                           long long now_ms, mxdb_error *err);

/* Looks a key up in the cache: MXDB_ENOTFOUND when it is unknown or not valid
 * for that use at ts (now for requests, origin_server_ts for events).
 * *valid_until (may be NULL): the last timestamp it is good for. */
mxdb_status fed_keys_lookup(sqlite3 *db, const char *server_name, const char *key_id,
                            fed_key_use use, long long ts, unsigned char pk[32],
                            long long *valid_until, mxdb_error *err);

/* The notary cache: whole validated responses as their origin signed them
 * (fed_keys_init creates its table). store_response keeps the one with the
 * later valid_until_ts; cached_response answers the latest one whose
 * valid_until_ts is at least min_valid_until (MXDB_ENOTFOUND otherwise). */
mxdb_status fed_keys_init(sqlite3 *db, mxdb_error *err);
mxdb_status fed_keys_store_response(sqlite3 *db, const json_t *resp, mxdb_error *err);
mxdb_status fed_keys_cached_response(sqlite3 *db, const char *server_name,
                                     long long min_valid_until, json_t **out, mxdb_error *err);

#endif
