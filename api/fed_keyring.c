/*
 * fed_keyring.c: the key cache plus fetching: directly from the server,
 * else through the trusted notaries (--trusted-key-server), whose answers
 * must carry both the origin's self-signature and the notary's. One SQLite
 * connection under a mutex (lookups are one indexed row); fetches run
 * outside the lock.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed_auth.h"
#include "fed_keyring.h"
#include "fed_store.h"
#include "log.h"

/* The least time between two fetches of one server's keys: long after a
 * failure, short after a success (a rotated key is unknown right after we
 * fetched the old one; a flood naming unknown keys still costs the server
 * one fetch a second at most). */
#define REFETCH_PAUSE_MS 10000
#define REFETCH_PAUSE_OK_MS 1000
#define MAX_OWN_OLD 8
#define MAX_NOTARIES 8

typedef struct fetched {
	char *server;
	long long at_ms;
	bool ok; /* the last fetch gave keys */
	struct fetched *next;
} fetched;

struct fed_keyring {
	fed_client *client;
	sqlite3 *db;
	pthread_mutex_t lock;
	fetched *recent; /* servers fetched lately, for the pause */
	char own_name[256];
	char own_key_id[64];
	unsigned char own_pk[32];
	fed_vkey own_old[MAX_OWN_OLD]; /* our retired keys, for our own old events */
	size_t n_own_old;
	char *notaries[MAX_NOTARIES];
	size_t n_notaries;
	/* The last key found for events: a transaction's events are mostly
	 * signed by one key, so this saves a query per event. */
	char last_server[256], last_key_id[64];
	unsigned char last_pk[32];
	long long last_until; /* valid for event timestamps up to this */
};

mxdb_status fed_keyring_new(const char *db_path, fed_client *client, fed_keyring **out,
                            mxdb_error *err)
{
	*out = NULL;
	fed_keyring *kr = calloc(1, sizeof(*kr));
	if (kr == NULL)
		return mx_fail(err, MXDB_ENOMEM, "keyring");
	mxdb_status st = fed_store_open(db_path, &kr->db, err);
	if (st != MXDB_OK) {
		free(kr);
		return st;
	}
	st = fed_keys_init(kr->db, err);
	if (st != MXDB_OK) {
		sqlite3_close(kr->db);
		free(kr);
		return st;
	}
	kr->client = client;
	pthread_mutex_init(&kr->lock, NULL);
	*out = kr;
	return MXDB_OK;
}

void fed_keyring_free(fed_keyring *kr)
{
	if (kr == NULL)
		return;
	for (fetched *f = kr->recent, *next; f; f = next) {
		next = f->next;
		free(f->server);
		free(f);
	}
	for (size_t i = 0; i < kr->n_notaries; i++)
		free(kr->notaries[i]);
	sqlite3_close(kr->db);
	pthread_mutex_destroy(&kr->lock);
	free(kr);
}

static mxdb_status lookup(fed_keyring *kr, const char *server, const char *key_id, fed_key_use use,
                          long long ts, unsigned char pk[32], mxdb_error *err)
{
	long long until = 0;
	pthread_mutex_lock(&kr->lock);
	mxdb_status st = fed_keys_lookup(kr->db, server, key_id, use, ts, pk, &until, err);
	if (st == MXDB_OK && use == FED_KEY_FOR_EVENT && strlen(server) < sizeof(kr->last_server) &&
	    strlen(key_id) < sizeof(kr->last_key_id)) {
		strcpy(kr->last_server, server);
		strcpy(kr->last_key_id, key_id);
		memcpy(kr->last_pk, pk, 32);
		kr->last_until = until;
	}
	pthread_mutex_unlock(&kr->lock);
	return st;
}

/* 1 when server may be fetched now (and records the attempt). */
static int may_fetch(fed_keyring *kr, const char *server)
{
	long long now = fed_now_ms();
	int ok = 1;
	pthread_mutex_lock(&kr->lock);
	fetched *f = kr->recent;
	while (f && strcmp(f->server, server) != 0)
		f = f->next;
	if (f && now - f->at_ms < (f->ok ? REFETCH_PAUSE_OK_MS : REFETCH_PAUSE_MS))
		ok = 0;
	else if (f)
		f->at_ms = now;
	else if ((f = calloc(1, sizeof(*f))) != NULL && (f->server = strdup(server)) != NULL) {
		f->at_ms = now;
		f->ok = false;
		f->next = kr->recent;
		kr->recent = f;
	} else {
		free(f);
	}
	pthread_mutex_unlock(&kr->lock);
	return ok;
}

/* Validates resp as server's self-signed key response and caches its keys
 * and (for answering as a notary) the response itself. */
static mxdb_status accept(fed_keyring *kr, const char *server, const json_t *resp, mxdb_error *err)
{
	fed_vkey *keys = NULL;
	size_t n = 0;
	long long now = fed_now_ms();
	mxdb_status st = fed_keys_validate(resp, server, now, &keys, &n, err);
	if (st == MXDB_OK) {
		pthread_mutex_lock(&kr->lock);
		st = fed_keys_store(kr->db, server, keys, n, now, err);
		if (st == MXDB_OK)
			st = fed_keys_store_response(kr->db, resp, err);
		/* The answer may retire the remembered key: look it up again. */
		if (strcmp(kr->last_server, server) == 0)
			kr->last_server[0] = '\0';
		pthread_mutex_unlock(&kr->lock);
	}
	free(keys);
	return st;
}

/* Records how the fetch may_fetch allowed went. */
static void fetch_done(fed_keyring *kr, const char *server, bool ok)
{
	pthread_mutex_lock(&kr->lock);
	for (fetched *f = kr->recent; f; f = f->next)
		if (strcmp(f->server, server) == 0)
			f->ok = ok;
	pthread_mutex_unlock(&kr->lock);
}

static mxdb_status fetch(fed_keyring *kr, const char *server, mxdb_error *err)
{
	long status = 0;
	json_t *resp = NULL;
	mxdb_status st = fed_request_unsigned(kr->client, server, "GET", "/_matrix/key/v2/server",
	                                      &status, &resp, err);
	if (st == MXDB_OK && status != 200)
		st = mx_fail(err, MXDB_ENOTFOUND, "%s answered %ld for its keys", server, status);
	if (st == MXDB_OK)
		st = accept(kr, server, resp, err);
	json_decref(resp);
	return st;
}

static mxdb_status get(fed_keyring *kr, const char *server, const char *key_id, fed_key_use use,
                       long long ts, bool via_notaries, unsigned char pk[32], mxdb_error *err);

/* The notary's signature on one answer: every signature it put there by a
 * key we can get (directly, never through another notary) must verify, and
 * one at least must be there. */
static mxdb_status notary_signed(fed_keyring *kr, const char *notary, const json_t *resp,
                                 mxdb_error *err)
{
	json_t *sigs = json_object_get(json_object_get(resp, "signatures"), notary);
	const char *kid;
	json_t *v;
	size_t good = 0;
	json_object_foreach(sigs, kid, v) {
		unsigned char pk[32];
		if (get(kr, notary, kid, FED_KEY_FOR_REQUEST, fed_now_ms(), false, pk, NULL) != MXDB_OK)
			continue;
		mxdb_status st = key_verify_json(resp, notary, kid, pk, err);
		if (st != MXDB_OK)
			return st;
		good++;
	}
	return good ? MXDB_OK
	            : mx_fail(err, MXDB_ESIGNATURE, "answer for %s carries no signature of notary %s",
	                      json_string_value(json_object_get(resp, "server_name")), notary);
}

/* POST /_matrix/key/v2/query to notary for server's key_id, valid until
 * min_valid (spec: set so the notary refreshes a stale copy). */
static mxdb_status fetch_via(fed_keyring *kr, const char *notary, const char *server,
                             const char *key_id, long long min_valid, mxdb_error *err)
{
	json_t *body = json_pack("{s:{s:{s:{s:I}}}}", "server_keys", server, key_id,
	                         "minimum_valid_until_ts", (json_int_t)min_valid);
	long status = 0;
	json_t *resp = NULL;
	mxdb_status st = body ? fed_request(kr->client, notary, "POST", "/_matrix/key/v2/query", body,
	                                    &status, &resp, err)
	                      : mx_fail(err, MXDB_ENOMEM, "notary query");
	json_decref(body);
	if (st == MXDB_OK && status != 200)
		st = mx_fail(err, MXDB_ENOTFOUND, "notary %s answered %ld", notary, status);
	json_t *list = json_object_get(resp, "server_keys");
	if (st == MXDB_OK && !json_is_array(list))
		st = mx_fail(err, MXDB_EBADJSON, "notary %s: server_keys is no list", notary);
	size_t taken = 0, i;
	json_t *one;
	mxdb_error last = {0};
	json_array_foreach(st == MXDB_OK ? list : NULL, i, one) {
		const char *name = json_string_value(json_object_get(one, "server_name"));
		if (name == NULL || strcmp(name, server) != 0)
			continue; /* keys we did not ask for are not taken on trust */
		mxdb_status s1 = notary_signed(kr, notary, one, &last);
		if (s1 == MXDB_OK)
			s1 = accept(kr, server, one, &last);
		if (s1 == MXDB_OK)
			taken++;
		else
			log_warn("federation: notary %s's answer for %s refused: %s", notary, server,
			         last.message);
	}
	if (st == MXDB_OK && taken == 0)
		st = last.message[0] ? mx_fail(err, MXDB_ESIGNATURE, "notary %s: %s", notary, last.message)
		                     : mx_fail(err, MXDB_ENOTFOUND, "notary %s has no keys of %s", notary,
		                               server);
	json_decref(resp);
	return st;
}

mxdb_status fed_keyring_add_notary(fed_keyring *kr, const char *name, mxdb_error *err)
{
	if (kr->n_notaries == MAX_NOTARIES)
		return mx_fail(err, MXDB_ETOOLARGE, "at most %d trusted key servers", MAX_NOTARIES);
	if ((kr->notaries[kr->n_notaries] = strdup(name)) == NULL)
		return mx_fail(err, MXDB_ENOMEM, "notary");
	kr->n_notaries++;
	return MXDB_OK;
}

mxdb_status fed_keyring_add_own_old(fed_keyring *kr, const fed_vkey *old, mxdb_error *err)
{
	if (kr->n_own_old == MAX_OWN_OLD)
		return mx_fail(err, MXDB_ETOOLARGE, "at most %d old signing keys", MAX_OWN_OLD);
	kr->own_old[kr->n_own_old++] = *old;
	return MXDB_OK;
}

void fed_keyring_set_own(fed_keyring *kr, const char *server_name, const mx_key *key)
{
	snprintf(kr->own_name, sizeof(kr->own_name), "%s", server_name);
	snprintf(kr->own_key_id, sizeof(kr->own_key_id), "%s", key->key_id);
	memcpy(kr->own_pk, key->pk, 32);
}

/* Our own keys: the current one for anything, a retired one for events
 * from before it retired (never for requests). */
static mxdb_status own_key(fed_keyring *kr, const char *key_id, fed_key_use use, long long ts,
                           unsigned char pk[32], mxdb_error *err)
{
	if (strcmp(key_id, kr->own_key_id) == 0) {
		memcpy(pk, kr->own_pk, 32);
		return MXDB_OK;
	}
	for (size_t i = 0; i < kr->n_own_old; i++) {
		const fed_vkey *o = &kr->own_old[i];
		if (strcmp(key_id, o->key_id) == 0 && use == FED_KEY_FOR_EVENT && ts < o->expired_ts) {
			memcpy(pk, o->pk, 32);
			return MXDB_OK;
		}
	}
	return mx_fail(err, MXDB_ENOTFOUND, "we have no key %s for that", key_id);
}

static mxdb_status get(fed_keyring *kr, const char *server, const char *key_id, fed_key_use use,
                       long long ts, bool via_notaries, unsigned char pk[32], mxdb_error *err)
{
	if (kr->own_name[0] && strcmp(server, kr->own_name) == 0)
		return own_key(kr, key_id, use, ts, pk, err);
	mxdb_status st = lookup(kr, server, key_id, use, ts, pk, err);
	if (st != MXDB_ENOTFOUND || !may_fetch(kr, server))
		return st;
	mxdb_error ferr;
	st = fetch(kr, server, &ferr);
	if (st != MXDB_OK)
		log_warn("federation: keys of %s: %s", server, ferr.message);
	/* Spec: a key for an event must be valid at its origin_server_ts, so
	 * the notary is asked for one valid until then at least. */
	long long min_valid = use == FED_KEY_FOR_EVENT ? ts : fed_now_ms();
	for (size_t i = 0; st != MXDB_OK && via_notaries && i < kr->n_notaries; i++) {
		if (strcmp(kr->notaries[i], server) == 0)
			continue;
		st = fetch_via(kr, kr->notaries[i], server, key_id, min_valid, &ferr);
		if (st != MXDB_OK)
			log_warn("federation: keys of %s through %s: %s", server, kr->notaries[i], ferr.message);
	}
	fetch_done(kr, server, st == MXDB_OK);
	if (st != MXDB_OK)
		return mx_fail(err, MXDB_ENOTFOUND, "no key %s for %s (%s)", key_id, server, ferr.message);
	return lookup(kr, server, key_id, use, ts, pk, err);
}

mxdb_status fed_keyring_get(fed_keyring *kr, const char *server, const char *key_id,
                            fed_key_use use, long long ts, unsigned char pk[32], mxdb_error *err)
{
	return get(kr, server, key_id, use, ts, true, pk, err);
}

mxdb_status fed_keyring_response(fed_keyring *kr, const char *server, long long min_valid,
                                 bool may_ask, json_t **out, mxdb_error *err)
{
	*out = NULL;
	pthread_mutex_lock(&kr->lock);
	mxdb_status st = fed_keys_cached_response(kr->db, server, min_valid, out, err);
	pthread_mutex_unlock(&kr->lock);
	if (st != MXDB_ENOTFOUND)
		return st;
	if (may_ask && may_fetch(kr, server)) {
		mxdb_error ferr;
		bool ok = fetch(kr, server, &ferr) == MXDB_OK;
		fetch_done(kr, server, ok);
		if (!ok)
			log_warn("federation: keys of %s for a notary query: %s", server, ferr.message);
	}
	/* Spec: a notary answers for servers that are offline from its cache;
	 * the asker judges a validity shorter than it wanted. */
	pthread_mutex_lock(&kr->lock);
	st = fed_keys_cached_response(kr->db, server, 0, out, err);
	pthread_mutex_unlock(&kr->lock);
	return st;
}

mxdb_status fed_keyring_event_key(void *ctx, const char *server, const char *key_id, long long ts,
                                  unsigned char pk[32], mxdb_error *err)
{
	fed_keyring *kr = ctx;
	pthread_mutex_lock(&kr->lock);
	bool hit = ts <= kr->last_until && strcmp(server, kr->last_server) == 0 &&
	           strcmp(key_id, kr->last_key_id) == 0;
	if (hit)
		memcpy(pk, kr->last_pk, 32);
	pthread_mutex_unlock(&kr->lock);
	if (hit)
		return MXDB_OK;
	return fed_keyring_get(kr, server, key_id, FED_KEY_FOR_EVENT, ts, pk, err);
}

mxdb_status fed_keyring_check_request(fed_keyring *kr, const char *our_name, const char *header,
                                      const char *method, const char *uri, const json_t *body,
                                      char origin[256], mxdb_error *err)
{
	fed_auth_params p;
	unsigned char pk[32];
	origin[0] = '\0';
	mxdb_status st = fed_auth_parse(header, &p, err);
	if (st != MXDB_OK)
		return st;
	if (p.destination[0] && strcmp(p.destination, our_name) != 0)
		return mx_fail(err, MXDB_ESIGNATURE, "request is for %s, not for us", p.destination);
	st = fed_keyring_get(kr, p.origin, p.key, FED_KEY_FOR_REQUEST, fed_now_ms(), pk, err);
	if (st == MXDB_ENOTFOUND)
		return mx_fail(err, MXDB_ESIGNATURE, "unknown key %s of %s", p.key, p.origin);
	if (st == MXDB_OK)
		st = fed_auth_verify(&p, our_name, method, uri, body, pk, err);
	if (st == MXDB_OK)
		strcpy(origin, p.origin);
	return st;
}
