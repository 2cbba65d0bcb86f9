/*
 * fed_routes.c: the server-server API's inbound side: keys, version, the
 * X-Matrix gate, and the federation endpoints but the membership ones
 * (transactions, events, state, backfill, missing events, queries; joins,
 * leaves, knocks and invites are in fed_member.c), and the route tables.
 * Turns HTTP into calls on db/ (fed_room.h, fed_pdu.h,
 * fed_inbound.h) and on fed_fetch.c (what a received PDU lacks); keeps no
 * state of its own.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct.h"
#include "cjson.h"
#include "fed_fetch.h"
#include "fed_inbound.h"
#include "fed_keys.h"
#include "fed_pdu.h"
#include "fed_room.h"
#include "fed_routes.h"
#include "fed_service.h"
#include "fed_store.h"
#include "log.h"
#include "url.h"

#define KEY_VALIDITY_MS (24LL * 3600 * 1000)
#define NOTARY_MAX_SERVERS 32 /* servers one key query may name */
#define NOTARY_FETCH_BUDGET_MS 10000
#define MAX_WALK 1000 /* events one backfill / get_missing_events answer may hold */

static const char *method_name(int m)
{
	return m == HTTP_PUT ? "PUT" : m == HTTP_POST ? "POST" : m == HTTP_DELETE ? "DELETE" : "GET";
}

bool fed_route_authed(http_req *r, char origin[256])
{
	fed_service *f = fed_route_service(r);
	char *target = http_target(r);
	mxdb_error e;
	mxdb_status s = target ? fed_keyring_check_request(f->keyring, f->server_name,
	                                                   http_header(r, "Authorization"),
	                                                   method_name(r->method), target, r->body,
	                                                   origin, &e)
	                       : mx_fail(&e, MXDB_ENOMEM, "target");
	free(target);
	if (s != MXDB_OK) {
		http_reply_error(r, 401, "M_UNAUTHORIZED", "%s", e.message);
		return false;
	}
	fed_sender_peer_alive(f->sender, origin);
	return true;
}

/* History goes only to servers in the room (one joined member at least);
 * else 403 and false. */
static bool origin_in_room(http_req *r, const char *origin, const char *room_id)
{
	char **servers = NULL;
	size_t n = 0;
	bool in = false;
	if (room_id != NULL && fed_room_servers(fed_route_service(r)->db, room_id, &servers, &n, NULL) == MXDB_OK)
		for (size_t i = 0; i < n; i++)
			in = in || strcmp(servers[i], origin) == 0;
	for (size_t i = 0; i < n; i++)
		free(servers[i]);
	free(servers);
	if (!in)
		http_reply_error(r, 403, "M_FORBIDDEN", "%s is not in the room", origin);
	return in;
}

/* The gate of the routes that read a room's history (/{room} in param[0]):
 * a signed request from a server in the room. Replies the error itself. */
static bool history_allowed(http_req *r)
{
	char origin[256];
	return fed_route_authed(r, origin) && origin_in_room(r, origin, r->param[0]);
}

static void reply_pdu_list(http_req *r, const char *key, json_t *pdus)
{
	http_reply_json(r, 200, json_pack("{s:s, s:I, s:o}", "origin", fed_route_service(r)->server_name,
	                                  "origin_server_ts", (json_int_t)fed_now_ms(), key, pdus));
}

json_t *fed_route_load_pdu(fed_service *f, const char *id)
{
	char *text = NULL;
	json_t *pdu = NULL;
	if (mxdb_event_pdu(f->db, id, &text, NULL) == MXDB_OK)
		pdu = json_loads(text, 0, NULL);
	mxdb_free(text);
	return pdu;
}

/* ---- keys and version (no authentication) ---- */

static void key_server(http_req *r)
{
	fed_service *f = fed_route_service(r);
	json_t *resp;
	mxdb_error e;
	if (fed_keys_own_response(&f->key, f->old_keys, f->n_old_keys, f->server_name, fed_now_ms(),
	                          KEY_VALIDITY_MS, &resp, &e) != MXDB_OK)
		http_reply_status(r, e.code, e.message);
	else
		http_reply_json(r, 200, resp);
}

/* As a notary (spec "Querying keys through another server"): wanted maps
 * server names to the least valid_until_ts the asker accepts. Our own keys
 * come fresh; another server's from our cache or fetched from it now; every
 * answer countersigned by us. A server we cannot get keys for is left out.
 * Fetches hold this worker thread, so they stop after a time budget (the
 * rest is answered from the cache) and one query names 32 servers at most. */
static void key_query(http_req *r, json_t *wanted)
{
	fed_service *f = fed_route_service(r);
	json_t *list = json_array();
	long long until = fed_now_ms() + NOTARY_FETCH_BUDGET_MS;
	const char *name;
	json_t *min;
	size_t asked = 0;
	json_object_foreach(wanted, name, min) {
		json_t *one = NULL;
		if (++asked > NOTARY_MAX_SERVERS)
			break;
		if (strcmp(name, f->server_name) == 0)
			fed_keys_own_response(&f->key, f->old_keys, f->n_old_keys, f->server_name,
			                      fed_now_ms(), KEY_VALIDITY_MS, &one, NULL);
		else if (fed_keyring_response(f->keyring, name, json_integer_value(min), fed_now_ms() < until,
		                              &one, NULL) == MXDB_OK &&
		         key_sign_json(&f->key, f->server_name, one, NULL) != MXDB_OK) {
			json_decref(one);
			one = NULL;
		}
		if (one)
			json_array_append_new(list, one);
	}
	http_reply_json(r, 200, json_pack("{s:o}", "server_keys", list));
}

static void key_query_get(http_req *r)
{
	const char *min = http_query(r, "minimum_valid_until_ts");
	long long ts = min ? strtoll(min, NULL, 10) : 0;
	json_t *wanted = json_pack("{s:I}", r->param[0], (json_int_t)(ts > 0 ? ts : fed_now_ms()));
	key_query(r, wanted);
	json_decref(wanted);
}

static void key_query_post(http_req *r)
{
	json_t *sk = json_object_get(r->body, "server_keys");
	if (!json_is_object(sk)) {
		http_reply_error(r, 400, "M_BAD_JSON", "server_keys must be an object");
		return;
	}
	/* Per server, the largest minimum_valid_until_ts of its key criteria
	 * (the spec's default: now). */
	json_t *wanted = json_object();
	const char *name, *kid;
	json_t *keys, *crit;
	json_object_foreach(sk, name, keys) {
		long long ts = 0;
		json_object_foreach(json_is_object(keys) ? keys : NULL, kid, crit) {
			json_t *m = json_object_get(crit, "minimum_valid_until_ts");
			if (json_is_integer(m) && json_integer_value(m) > ts)
				ts = json_integer_value(m);
		}
		json_object_set_new(wanted, name, json_integer(ts > 0 ? ts : fed_now_ms()));
	}
	key_query(r, wanted);
	json_decref(wanted);
}

static void version(http_req *r)
{
	/* A signed request here is a peer saying it is back (fed_sender
	 * announces itself on start): its queue is retried at once. */
	char origin[256];
	if (http_header(r, "Authorization") != NULL) {
		fed_service *f = fed_route_service(r);
		char *target = http_target(r);
		if (target && fed_keyring_check_request(f->keyring, f->server_name, http_header(r, "Authorization"),
		                                        "GET", target, NULL, origin, NULL) == MXDB_OK)
			fed_sender_peer_alive(f->sender, origin);
		free(target);
	}
	http_reply_json(r, 200, json_pack("{s:{s:s, s:s}}", "server", "name", "mxdb", "version", MXDB_VERSION));
}

/* ---- transactions ---- */

/* A user of the sending server who is joined to the room? */
static bool edu_user_ok(fed_service *f, const char *origin, const char *room_id, const char *user)
{
	char ms[16];
	const char *server = user ? fed_server_of(user) : NULL;
	return server && room_id && strcmp(server, origin) == 0 &&
	       mxdb_member_of(f->db, room_id, user, ms, NULL) == MXDB_OK && strcmp(ms, "join") == 0;
}

/* Typing and read receipts go to the client API; presence and the rest
 * are dropped. */
static void take_edu(fed_service *f, const char *origin, json_t *edu)
{
	const char *type = json_string_value(json_object_get(edu, "edu_type"));
	json_t *c = json_object_get(edu, "content");
	if (type == NULL || !json_is_object(c))
		return;
	if (strcmp(type, "m.typing") == 0 && f->on_typing) {
		const char *room = json_string_value(json_object_get(c, "room_id"));
		const char *user = json_string_value(json_object_get(c, "user_id"));
		if (edu_user_ok(f, origin, room, user))
			f->on_typing(f->edu_ctx, room, user, json_is_true(json_object_get(c, "typing")));
	} else if (strcmp(type, "m.receipt") == 0 && f->on_receipt) {
		const char *room, *user;
		json_t *by_user, *r;
		json_object_foreach(c, room, by_user) {
			json_object_foreach(json_object_get(by_user, "m.read"), user, r) {
				const char *ev = json_string_value(json_array_get(json_object_get(r, "event_ids"), 0));
				const char *thread = json_string_value(json_object_get(json_object_get(r, "data"), "thread_id"));
				if (ev && edu_user_ok(f, origin, room, user))
					f->on_receipt(f->edu_ctx, room, user, ev, thread);
			}
		}
	}
}

static void send_txn(http_req *r)
{
	fed_service *f = fed_route_service(r);
	char origin[256];
	if (!fed_route_authed(r, origin))
		return;
	const char *txn = r->param[0];
	json_t *pdus = json_object_get(r->body, "pdus"), *edus = json_object_get(r->body, "edus");
	const char *claimed = json_string_value(json_object_get(r->body, "origin"));
	if (!json_is_array(pdus) || (edus && !json_is_array(edus)) || (claimed && strcmp(claimed, origin) != 0)) {
		http_reply_error(r, 400, "M_BAD_JSON", "a transaction has pdus, edus and our origin");
		return;
	}
	if (json_array_size(pdus) > FED_TXN_MAX_PDUS || json_array_size(edus) > FED_TXN_MAX_EDUS) {
		http_reply_error(r, 400, "M_TOO_LARGE", "at most 50 PDUs and 100 EDUs");
		return;
	}
	mxdb_error e;
	char *seen = NULL;
	pthread_mutex_lock(&f->lock);
	mxdb_status s = fed_inbound_seen(f->conn, origin, txn, &seen, &e);
	pthread_mutex_unlock(&f->lock);
	if (s == MXDB_OK) { /* a replay: the first answer, nothing done */
		http_reply_raw(r, 200, "application/json", seen, strlen(seen));
		free(seen);
		return;
	}
	json_t *results = json_object();
	size_t n = 0;
	ev_t **evs = calloc(json_array_size(pdus) + 1, sizeof(*evs));
	json_t *pdu;
	size_t i;
	fed_room_memo memo = {"", NULL};
	json_array_foreach(pdus, i, pdu) {
		char why[320];
		ev_t *ev = evs ? fed_check_pdu(f, pdu, &memo, why, sizeof(why)) : NULL;
		if (ev == NULL) {
			char id[EV_ID_SIZE] = "";
			const char *room_id = json_string_value(json_object_get(pdu, "room_id"));
			const mx_room_version *rv = room_id ? fed_room_version(f, room_id, &memo) : NULL;
			if (rv != NULL)
				ev_compute_id(pdu, rv, id, NULL);
			if (id[0])
				json_object_set_new(results, id, json_pack("{s:s}", "error", why));
			continue;
		}
		evs[n++] = ev;
	}
	s = evs ? fed_take_pdus(f, origin, evs, n, results, &e) : mx_fail(&e, MXDB_ENOMEM, "txn");
	if (s != MXDB_OK) { /* storage failed: the sender retries the same transaction */
		json_decref(results);
		http_reply_status(r, s, e.message);
		return;
	}
	json_t *edu;
	json_array_foreach(edus, i, edu)
		take_edu(f, origin, edu);
	json_t *answer = json_pack("{s:o}", "pdus", results);
	char *text = json_dumps(answer, JSON_COMPACT);
	pthread_mutex_lock(&f->lock);
	if (text && fed_inbound_record(f->conn, origin, txn, text, fed_now_ms(), &e) != MXDB_OK)
		log_error("federation: recording txn %s of %s: %s", txn, origin, e.message);
	pthread_mutex_unlock(&f->lock);
	free(text);
	http_reply_json(r, 200, answer);
}

/* ---- reading events and state ---- */

static void get_event(http_req *r)
{
	char origin[256];
	if (!fed_route_authed(r, origin))
		return;
	json_t *pdu = fed_route_load_pdu(fed_route_service(r), r->param[0]);
	if (pdu == NULL)
		http_reply_error(r, 404, "M_NOT_FOUND", "no event %s", r->param[0]);
	else {
		/* A v12 create event names its room only through its own ID. */
		const char *room_id = json_string_value(json_object_get(pdu, "room_id"));
		char derived[EV_ID_SIZE];
		if (room_id == NULL && ev_room_id_from_create(pdu, rv_get("12"), derived, NULL) == MXDB_OK)
			room_id = derived;
		if (origin_in_room(r, origin, room_id))
			reply_pdu_list(r, "pdus", json_pack("[O]", pdu));
		json_decref(pdu);
	}
}

static void get_state(http_req *r, bool ids)
{
	if (!history_allowed(r))
		return;
	json_t *state, *chain;
	mxdb_error e;
	mxdb_status s = fed_room_state(fed_route_service(r)->db, r->param[0], http_query(r, "event_id"),
	                               ids, &state, &chain, &e);
	if (s != MXDB_OK)
		http_reply_status(r, s, e.message);
	else
		http_reply_json(r, 200, json_pack("{s:o, s:o}", ids ? "pdu_ids" : "pdus", state,
		                                  ids ? "auth_chain_ids" : "auth_chain", chain));
}

static void state_full(http_req *r)
{
	get_state(r, false);
}

static void state_ids(http_req *r)
{
	get_state(r, true);
}

/* Walks prev_events back from the events in `from`, breadth first, up to
 * limit events, never past those in `stop`. */
static json_t *walk_back(fed_service *f, const char *room_id, json_t *from, json_t *stop, size_t limit,
                         json_int_t min_depth, bool include_from)
{
	json_t *out = json_array(), *queue = json_copy(from), *seen = json_object();
	size_t i;
	json_t *v;
	json_array_foreach(stop, i, v) json_object_set(seen, json_string_value(v) ?: "", json_true());
	for (size_t k = 0; k < json_array_size(queue) && json_array_size(out) < limit; k++) {
		const char *id = json_string_value(json_array_get(queue, k));
		if (id == NULL || json_object_get(seen, id))
			continue;
		json_object_set_new(seen, id, json_true());
		/* An outlier has no place in the history here: the walk ends there. */
		bool outlier = false;
		fed_room_is_outlier(f->db, id, &outlier, NULL);
		json_t *pdu = outlier ? NULL : fed_route_load_pdu(f, id);
		const char *rid = json_string_value(json_object_get(pdu, "room_id"));
		char derived[EV_ID_SIZE]; /* a v12 create event: its ID names the room */
		if (pdu != NULL && rid == NULL && ev_room_id_from_create(pdu, rv_get("12"), derived, NULL) == MXDB_OK)
			rid = derived;
		/* Below min_depth the asking server had nothing: no use walking there. */
		if (pdu == NULL || rid == NULL || strcmp(rid, room_id) != 0 ||
		    json_integer_value(json_object_get(pdu, "depth")) < min_depth) {
			json_decref(pdu);
			continue;
		}
		json_array_extend(queue, json_object_get(pdu, "prev_events"));
		if (include_from || k >= json_array_size(from))
			json_array_append(out, pdu);
		json_decref(pdu);
	}
	json_decref(queue);
	json_decref(seen);
	return out;
}

static void backfill(http_req *r)
{
	if (!history_allowed(r))
		return;
	const char *v = http_query(r, "v"), *lim = http_query(r, "limit");
	size_t limit = lim ? strtoul(lim, NULL, 10) : 10;
	if (v == NULL) {
		http_reply_error(r, 400, "M_MISSING_PARAM", "v is required");
		return;
	}
	json_t *from = json_pack("[s]", v);
	reply_pdu_list(r, "pdus", walk_back(fed_route_service(r), r->param[0], from, NULL,
	                                    limit < MAX_WALK ? limit : MAX_WALK, 0, true));
	json_decref(from);
}

static void missing_events(http_req *r)
{
	if (!history_allowed(r))
		return;
	json_t *latest = json_object_get(r->body, "latest_events");
	json_t *earliest = json_object_get(r->body, "earliest_events");
	json_int_t limit = json_integer_value(json_object_get(r->body, "limit"));
	json_int_t min_depth = json_integer_value(json_object_get(r->body, "min_depth"));
	if (!json_is_array(latest)) {
		http_reply_error(r, 400, "M_BAD_JSON", "latest_events is required");
		return;
	}
	/* The spec's default is 10; a larger ask gets MAX_WALK at most. */
	json_t *evs = walk_back(fed_route_service(r), r->param[0], latest, earliest,
	                        limit <= 0 ? 10 : limit < MAX_WALK ? (size_t)limit : MAX_WALK, min_depth,
	                        false);
	/* Oldest first, as the receiver applies them. */
	json_t *sorted = json_array();
	for (size_t k = json_array_size(evs); k-- > 0;)
		json_array_append(sorted, json_array_get(evs, k));
	json_decref(evs);
	http_reply_json(r, 200, json_pack("{s:o}", "events", sorted));
}

/* ---- queries ---- */

static void query_directory(http_req *r)
{
	char origin[256];
	if (!fed_route_authed(r, origin))
		return;
	const char *alias = http_query(r, "room_alias");
	char *room_id = NULL, **servers = NULL;
	size_t n = 0;
	mxdb_error e;
	if (alias == NULL || mxdb_alias_resolve(fed_route_service(r)->db, alias, &room_id, &e) != MXDB_OK) {
		http_reply_error(r, 404, "M_NOT_FOUND", "no room alias %s", alias ? alias : "");
		return;
	}
	json_t *list = json_array();
	if (fed_room_servers(fed_route_service(r)->db, room_id, &servers, &n, &e) == MXDB_OK)
		for (size_t i = 0; i < n; i++)
			json_array_append_new(list, json_string(servers[i]));
	if (json_array_size(list) == 0)
		json_array_append_new(list, json_string(fed_route_service(r)->server_name));
	for (size_t i = 0; i < n; i++)
		free(servers[i]);
	free(servers);
	http_reply_json(r, 200, json_pack("{s:s, s:o}", "room_id", room_id, "servers", list));
	mxdb_free(room_id);
}

static void query_profile(http_req *r)
{
	char origin[256];
	if (!fed_route_authed(r, origin))
		return;
	fed_service *f = fed_route_service(r);
	const char *user = http_query(r, "user_id"), *field = http_query(r, "field");
	json_t *p = NULL;
	const char *server = user ? fed_server_of(user) : NULL;
	if (server == NULL || strcmp(server, f->server_name) != 0 || f->acct == NULL ||
	    acct_profile_get(f->acct, user, &p, NULL) != MXDB_OK) {
		http_reply_error(r, 404, "M_NOT_FOUND", "no such user");
		return;
	}
	if (field != NULL) { /* only the field asked for */
		json_t *v = json_object_get(p, field);
		json_t *one = json_object();
		if (v)
			json_object_set(one, field, v);
		json_decref(p);
		p = one;
	}
	http_reply_json(r, 200, p);
}

static const http_route key_table[] = {
	{HTTP_GET, "v2/server", key_server, HTTP_NOBODY},
	{HTTP_GET, "v2/server/*", key_server, HTTP_NOBODY},
	{HTTP_GET, "v2/query/*", key_query_get, HTTP_NOBODY},
	{HTTP_POST, "v2/query", key_query_post, 0},
	{0, NULL, NULL, 0},
};

static const char *const key_prefixes[] = {"/_matrix/key", NULL};
const http_routes fed_key_routes = {key_prefixes, key_table, 0};

static const http_route fed_table[] = {
	{HTTP_GET, "v1/version", version, HTTP_NOBODY},
	{HTTP_PUT, "v1/send/*", send_txn, 0},
	{HTTP_GET, "v1/event/*", get_event, 0},
	{HTTP_GET, "v1/state/*", state_full, 0},
	{HTTP_GET, "v1/state_ids/*", state_ids, 0},
	{HTTP_GET, "v1/backfill/*", backfill, 0},
	{HTTP_POST, "v1/get_missing_events/*", missing_events, 0},
	{HTTP_GET, "v1/make_join/*/*", fed_route_make_join, 0},
	{HTTP_PUT, "v2/send_join/*/*", fed_route_send_join, 0},
	{HTTP_GET, "v1/make_leave/*/*", fed_route_make_leave, 0},
	{HTTP_PUT, "v2/send_leave/*/*", fed_route_send_leave, 0},
	{HTTP_GET, "v1/make_knock/*/*", fed_route_make_knock, 0},
	{HTTP_PUT, "v1/send_knock/*/*", fed_route_send_knock, 0},
	{HTTP_PUT, "v2/invite/*/*", fed_route_invite, 0},
	{HTTP_GET, "v1/query/directory", query_directory, 0},
	{HTTP_GET, "v1/query/profile", query_profile, 0},
	{0, NULL, NULL, 0},
};

/* A transaction may carry 50 PDUs of up to 65,536 bytes each (spec: "Size
 * limits") and 100 EDUs: more than the client API's 1 MiB. */
#define FED_BODY_LIMIT (4u << 20)

static const char *const fed_prefixes[] = {"/_matrix/federation", NULL};
const http_routes fed_routes = {fed_prefixes, fed_table, FED_BODY_LIMIT};
