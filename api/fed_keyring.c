/*
 * fed_keyring.c: the key cache plus fetching. One SQLite connection under a
 * mutex (lookups are one indexed row); fetches run outside the lock.
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

#define REFETCH_PAUSE_MS 10000

typedef struct fetched {
	char *server;
	long long at_ms;
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
	if (f && now - f->at_ms < REFETCH_PAUSE_MS)
		ok = 0;
	else if (f)
		f->at_ms = now;
	else if ((f = calloc(1, sizeof(*f))) != NULL && (f->server = strdup(server)) != NULL) {
		f->at_ms = now;
		f->next = kr->recent;
		kr->recent = f;
	} else {
		free(f);
	}
	pthread_mutex_unlock(&kr->lock);
	return ok;
}

static mxdb_status fetch(fed_keyring *kr, const char *server, mxdb_error *err)
{
	long status = 0;
	json_t *resp = NULL;
	mxdb_status st = fed_request_unsigned(kr->client, server, "GET", "/_matrix/key/v2/server",
	                                      &status, &resp, err);
	if (st == MXDB_OK && status != 200)
		st = mx_fail(err, MXDB_ENOTFOUND, "%s answered %ld for its keys", server, status);
	fed_vkey *keys = NULL;
	size_t n = 0;
	long long now = fed_now_ms();
	if (st == MXDB_OK)
		st = fed_keys_validate(resp, server, now, &keys, &n, err);
	if (st == MXDB_OK) {
		pthread_mutex_lock(&kr->lock);
		st = fed_keys_store(kr->db, server, keys, n, now, err);
		pthread_mutex_unlock(&kr->lock);
	}
	free(keys);
	json_decref(resp);
	return st;
}

void fed_keyring_set_own(fed_keyring *kr, const char *server_name, const mx_key *key)
{
	snprintf(kr->own_name, sizeof(kr->own_name), "%s", server_name);
	snprintf(kr->own_key_id, sizeof(kr->own_key_id), "%s", key->key_id);
	memcpy(kr->own_pk, key->pk, 32);
}

mxdb_status fed_keyring_get(fed_keyring *kr, const char *server, const char *key_id,
                            fed_key_use use, long long ts, unsigned char pk[32], mxdb_error *err)
{
	if (kr->own_name[0] && strcmp(server, kr->own_name) == 0) {
		if (strcmp(key_id, kr->own_key_id) != 0)
			return mx_fail(err, MXDB_ENOTFOUND, "we have no key %s", key_id);
		memcpy(pk, kr->own_pk, 32);
		return MXDB_OK;
	}
	mxdb_status st = lookup(kr, server, key_id, use, ts, pk, err);
	if (st != MXDB_ENOTFOUND || !may_fetch(kr, server))
		return st;
	mxdb_error ferr;
	if (fetch(kr, server, &ferr) != MXDB_OK) {
		log_warn("federation: keys of %s: %s", server, ferr.message);
		return mx_fail(err, MXDB_ENOTFOUND, "no key %s for %s (%s)", key_id, server, ferr.message);
	}
	return lookup(kr, server, key_id, use, ts, pk, err);
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
