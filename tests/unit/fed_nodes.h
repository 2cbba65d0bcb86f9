/* fed_nodes.h: real databases (SQLite files in a temporary directory)
 * replicating through the federation logic without HTTP, for the C tests:
 * open a node, receive a PDU as a server does (signature and hash checks
 * against the other nodes' keys), deliver a node's outbound queue to
 * another, and join a user of one node to a table of another
 * (make_join / send_join / state + auth chain). */
#ifndef MX_FED_NODES_H
#define MX_FED_NODES_H

#include <stdlib.h>
#include <string.h>

#include "fed_pdu.h"
#include "fed_queue.h"
#include "fed_room.h"
#include "fed_store.h"
#include "testutil.h"

typedef struct fed_node {
	const char *name;
	char dir[256];
	mxdb *db;
	mx_key key;
	sqlite3 *q; /* its fed tables, as the sender sees them */
} fed_node;

/* The nodes whose keys receivers trust. */
static fed_node *fed_nodes[4];

static inline mxdb_status fed_nodes_key(void *ctx, const char *server, const char *key_id, long long ts,
                                 unsigned char pk[32], mxdb_error *err)
{
	(void)ctx;
	(void)ts;
	for (size_t i = 0; i < sizeof(fed_nodes) / sizeof(fed_nodes[0]); i++) {
		fed_node *n = fed_nodes[i];
		if (n && strcmp(server, n->name) == 0 && strcmp(key_id, n->key.key_id) == 0) {
			memcpy(pk, n->key.pk, 32);
			return MXDB_OK;
		}
	}
	return mx_fail(err, MXDB_ENOTFOUND, "unknown key");
}

static inline void fed_node_open(fed_node *n, const char *base, size_t slot)
{
	mxdb_error err;
	char path[300];
	snprintf(n->dir, sizeof(n->dir), "%s/%s", base, n->name);
	mxdb_options o = {.server_name = n->name, .synchronous = MXDB_SYNC_NORMAL};
	CHECK_MSG(mxdb_open(n->dir, &o, &n->db, &err) == MXDB_OK, "%s", err.message);
	snprintf(path, sizeof(path), "%s/signing.key", n->dir);
	CHECK(key_load(&n->key, path, &err) == MXDB_OK);
	CHECK(fed_store_open(mxdb_sqlite_path(n->db), &n->q, &err) == MXDB_OK);
	fed_nodes[slot] = n;
}

static inline void fed_node_close(fed_node *n)
{
	sqlite3_close(n->q);
	mxdb_close(n->db);
	n->q = NULL;
	n->db = NULL;
}

/* Checks and parses a PDU as a receiving server does (NULL: refused). */
static inline ev_t *fed_receive(const mx_room_version *rv, json_t *pdu)
{
	ev_t *ev = NULL;
	int red = 0;
	mxdb_error err;
	if (fed_pdu_check(pdu, rv, fed_nodes_key, NULL, &ev, &red, &err) != MXDB_OK)
		return NULL;
	return ev;
}

/* Delivers everything queued on `from` for `to`; returns how many PDUs
 * were refused. */
static inline int fed_deliver(const mx_room_version *rv, fed_node *from, fed_node *to)
{
	int refused = 0;
	fed_txn t;
	mxdb_error err;
	for (int guard = 0; guard < 1000 && fed_queue_take(from->q, to->name, &t, &err) == MXDB_OK; guard++) {
		size_t n = json_array_size(t.pdus);
		ev_t **evs = calloc(n + 1, sizeof(*evs));
		fed_result *res = calloc(n + 1, sizeof(*res));
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if ((evs[k] = fed_receive(rv, json_array_get(t.pdus, i))) != NULL)
				k++;
		CHECK(fed_room_ingest(to->db, evs, k, res, &err) == MXDB_OK);
		for (size_t i = 0; i < k; i++)
			if (res[i].status != MXDB_OK) {
				fprintf(stderr, "refused: %s\n", res[i].why);
				refused++;
			}
		refused += (int)(n - k);
		CHECK(fed_queue_ack(from->q, &t, &err) == MXDB_OK);
		fed_txn_free(&t);
		free(evs);
		free(res);
	}
	return refused;
}

/* user (of node `to`) joins table room of node `from`, which `to` does not
 * have yet. Returns the room version (NULL on failure). */
static inline const mx_room_version *fed_join(fed_node *from, fed_node *to, const char *room,
                                       const char *user)
{
	mxdb_error err;
	json_t *tmpl = NULL;
	const char *rv_id = NULL;
	CHECK(fed_room_make_membership(from->db, room, user, "join", &tmpl, &rv_id, &err) == MXDB_OK);
	const mx_room_version *rv = rv_get(rv_id ? rv_id : "");
	if (rv == NULL || tmpl == NULL) {
		json_decref(tmpl);
		return NULL;
	}
	json_object_del(tmpl, "origin");
	CHECK(ev_hash_and_sign(tmpl, rv, &to->key, to->name, &err) == MXDB_OK);
	ev_t *join = fed_receive(rv, tmpl), *join_to = fed_receive(rv, tmpl);
	json_t *state = NULL, *chain = NULL;
	CHECK_MSG(join && join_to &&
	              fed_room_accept_membership(from->db, join, &state, &chain, &err) == MXDB_OK,
	          "%s", err.message);
	size_t ns = json_array_size(state), nc = json_array_size(chain);
	ev_t **s_ev = calloc(ns + 1, sizeof(*s_ev)), **c_ev = calloc(nc + 1, sizeof(*c_ev));
	for (size_t i = 0; i < ns; i++)
		CHECK((s_ev[i] = fed_receive(rv, json_array_get(state, i))) != NULL);
	for (size_t i = 0; i < nc; i++)
		CHECK((c_ev[i] = fed_receive(rv, json_array_get(chain, i))) != NULL);
	CHECK_MSG(fed_room_join_remote(to->db, rv, c_ev, nc, s_ev, ns, join_to, &err) == MXDB_OK, "%s",
	          err.message);
	free(s_ev);
	free(c_ev);
	json_decref(state);
	json_decref(chain);
	json_decref(tmpl);
	return rv;
}

#endif
