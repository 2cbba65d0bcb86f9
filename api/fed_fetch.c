/*
 * fed_fetch.c: fetching what a received PDU lacks, and placing it
 * (docs/replication.md "Gaps"). A PDU whose prev events we do not have
 * starts get_missing_events rounds (earliest: our forward extremities;
 * latest: the events still lacking a parent), asked of the origin first and
 * then of the room's other servers, bounded in events
 * (federation_max_gap_events) and time. A gap still open gets the state at
 * its missing prev events (/state_ids, then /state or /event), whose events
 * become outliers. Everything is ingested oldest first in one batch like
 * the transaction's own PDUs; what still cannot be placed is kept pending
 * (db/fed_gap.c) and retried whenever an ingest may have stored its
 * ancestors. Runs on the HTTP thread; the writer only sees whole batches.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed_fetch.h"
#include "fed_gap.h"
#include "fed_pdu.h"
#include "fed_room.h"
#include "fed_store.h"
#include "log.h"
#include "url.h"

#define GAP_ROUND 100         /* events asked for per get_missing_events round */
#define GAP_LATEST 20         /* latest_events named per round, at most */
#define GAP_DEADLINE_MS 20000 /* a transaction's fetching stops here: its sender waits */
#define GAP_STATE_PREVS 8     /* missing prev events given the state_ids fallback per transaction */
#define GAP_ONE_BY_ONE 20     /* more state events missing than this: one /state, not /event each */
#define GAP_EVENT_GETS 100    /* /event requests per missing prev event, at most */

const mx_room_version *fed_room_version(fed_service *f, const char *room_id, fed_room_memo *m)
{
	mxdb_room_info info;
	if (m != NULL && m->rv != NULL && strcmp(m->room_id, room_id) == 0)
		return m->rv;
	if (mxdb_room_info_get(f->db, room_id, &info, NULL) != MXDB_OK)
		return NULL;
	const mx_room_version *rv = rv_get(info.version);
	if (m != NULL && strlen(room_id) < sizeof(m->room_id)) {
		strcpy(m->room_id, room_id);
		m->rv = rv;
	}
	return rv;
}

ev_t *fed_check_pdu(fed_service *f, json_t *pdu, fed_room_memo *memo, char *why, size_t cap)
{
	/* A v12 create event names no room: it is of the room memo holds. */
	const char *room_id = json_string_value(json_object_get(pdu, "room_id"));
	if (room_id == NULL && memo != NULL && memo->rv != NULL)
		room_id = memo->room_id;
	const mx_room_version *rv = room_id ? fed_room_version(f, room_id, memo) : NULL;
	mxdb_error e;
	ev_t *ev = NULL;
	int red = 0;
	if (rv == NULL)
		snprintf(why, cap, "unknown room %s", room_id ? room_id : "(none)");
	else if (fed_pdu_check(pdu, rv, fed_keyring_event_key, f->keyring, &ev, &red, &e) != MXDB_OK)
		snprintf(why, cap, "%s", e.message);
	else if (red)
		log_warn("federation: %s had a wrong content hash; kept redacted", ev->event_id);
	return ev;
}

/* ---- the batch: a transaction's events and their fetched ancestors ---- */

static int by_depth(const void *a, const void *b)
{
	const ev_t *x = *(ev_t *const *)a, *y = *(ev_t *const *)b;
	return x->depth < y->depth ? -1 : x->depth > y->depth;
}

typedef struct batch {
	fed_service *f;
	ev_t **evs;
	size_t n, cap;
	json_t *known; /* event ID -> true: in evs, or found stored with its state */
	fed_gap_fill fill; /* the state_ids fallback's outliers and states */
	size_t cap_out;
	json_t *have;  /* event ID -> true: stored (outliers too) or among fill's outliers */
	long long deadline; /* fed_now_ms() past which no more requests are made */
} batch;

static bool batch_add(batch *b, ev_t *ev)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		ev_t **grown = realloc(b->evs, cap * sizeof(*grown));
		if (grown == NULL)
			return false;
		b->evs = grown;
		b->cap = cap;
	}
	b->evs[b->n++] = ev;
	json_object_set_new(b->known, ev->event_id, json_true());
	return true;
}

/* Can an event build on id: in the batch, or stored and no outlier? */
static bool known(batch *b, const char *id)
{
	bool has = json_object_get(b->known, id) != NULL;
	if (!has && fed_room_event_placed(b->f->db, id, &has, NULL) == MXDB_OK && has)
		json_object_set_new(b->known, id, json_true());
	return has;
}

/* Do we hold id in any form (batch, stored, outlier to be)? */
static bool held(batch *b, const char *id)
{
	bool has = json_object_get(b->known, id) || json_object_get(b->have, id);
	if (!has && fed_room_has_event(b->f->db, id, &has, NULL) == MXDB_OK && has)
		json_object_set_new(b->have, id, json_true());
	return has;
}

/* The events of room_id in the batch with a prev event neither stored nor
 * in the batch: a new array of at most GAP_LATEST IDs. */
static json_t *lacking(batch *b, const char *room_id)
{
	json_t *out = json_array();
	for (size_t i = 0; out && i < b->n && json_array_size(out) < GAP_LATEST; i++) {
		const ev_t *ev = b->evs[i];
		if (ev->room_id == NULL || strcmp(ev->room_id, room_id) != 0)
			continue;
		for (size_t j = 0; j < ev->n_prev; j++)
			if (!known(b, ev->prev_events[j])) {
				json_array_append_new(out, json_string(ev->event_id));
				break;
			}
	}
	return out;
}

/* One get_missing_events round at server; adds the events that pass the
 * checks and are new. Returns how many were added. An outlier we hold
 * comes in too: with its prev events placed it joins the timeline. */
static size_t round_at(batch *b, const char *server, const char *room_id, fed_room_memo *memo,
                       json_t *earliest, json_t *latest, size_t limit, int64_t min_depth)
{
	char *room = url_escape(room_id), *uri = NULL;
	json_t *body = json_pack("{s:O, s:O, s:I, s:I}", "earliest_events", earliest, "latest_events",
	                         latest, "limit", (json_int_t)limit, "min_depth", (json_int_t)min_depth);
	long status = 0;
	json_t *resp = NULL;
	size_t added = 0;
	mxdb_error e = {0};
	if (room && body && asprintf(&uri, "/_matrix/federation/v1/get_missing_events/%s", room) >= 0 &&
	    fed_request(b->f->client, server, "POST", uri, body, &status, &resp, &e) == MXDB_OK &&
	    status == 200) {
		json_t *pdu;
		size_t i;
		json_array_foreach(json_object_get(resp, "events"), i, pdu) {
			char why[320];
			ev_t *got = fed_check_pdu(b->f, pdu, memo, why, sizeof(why));
			if (got == NULL)
				log_warn("federation: an event from %s for a gap in %s: %s", server, room_id, why);
			if (got == NULL || got->room_id == NULL || strcmp(got->room_id, room_id) != 0 ||
			    known(b, got->event_id) || !batch_add(b, got))
				ev_free(got);
			else
				added++;
		}
	} else {
		log_warn("federation: get_missing_events in %s at %s: %s", room_id, server,
		         status ? "refused" : e.message);
	}
	json_decref(resp);
	json_decref(body);
	free(uri);
	free(room);
	return added;
}

/* ---- the fallback: the state after a missing prev event ---- */

/* GET fmt at server, its two %s filled with a and b escaped (a room and
 * an event ID; /event passes the ID and ""): the JSON answer when it is
 * 200, else NULL. */
static json_t *get_json(fed_service *f, const char *server, const char *fmt, const char *a,
                        const char *b)
{
	char *room = url_escape(a), *ev = url_escape(b), *uri = NULL;
	long status = 0;
	json_t *resp = NULL;
	if (room && ev && asprintf(&uri, fmt, room, ev) >= 0 &&
	    (fed_request(f->client, server, "GET", uri, NULL, &status, &resp, NULL) != MXDB_OK ||
	     status != 200)) {
		json_decref(resp);
		resp = NULL;
	}
	free(uri);
	free(ev);
	free(room);
	return resp;
}

/* Takes pdu (from server) into fill's outliers when need names it and it
 * passes the checks. */
static void add_outlier(batch *b, json_t *pdu, json_t *need, fed_room_memo *memo, const char *server)
{
	char why[320];
	ev_t *ev = fed_check_pdu(b->f, pdu, memo, why, sizeof(why));
	if (ev == NULL) {
		log_warn("federation: a state event from %s: %s", server, why);
		return;
	}
	if (json_object_get(need, ev->event_id) == NULL || held(b, ev->event_id)) {
		ev_free(ev);
		return;
	}
	if (b->fill.n_outliers == b->cap_out) {
		size_t cap = b->cap_out ? 2 * b->cap_out : 64;
		ev_t **grown = realloc(b->fill.outliers, cap * sizeof(*grown));
		if (grown == NULL) {
			ev_free(ev);
			return;
		}
		b->fill.outliers = grown;
		b->cap_out = cap;
	}
	b->fill.outliers[b->fill.n_outliers++] = ev;
	json_object_set_new(b->have, ev->event_id, json_true());
}

/* The IDs of list (JSON array) not held, plus extra (NULL: none), into need. */
static void add_needed(batch *b, json_t *need, const json_t *list, const char *extra)
{
	json_t *v;
	size_t i;
	json_array_foreach(list, i, v)
		if (json_is_string(v) && !held(b, json_string_value(v)))
			json_object_set_new(need, json_string_value(v), json_true());
	if (extra != NULL && !held(b, extra))
		json_object_set_new(need, extra, json_true());
}

/* Asks server for the state after the missing prev event prev (spec:
 * GET /state_ids, then /state or /event for what we lack, the prev event
 * included); its events become outliers. True when fill has that state. */
static bool state_at(batch *b, const char *server, const char *room_id, const char *prev,
                     fed_room_memo *memo)
{
	fed_service *f = b->f;
	json_t *ids = get_json(f, server, "/_matrix/federation/v1/state_ids/%s?event_id=%s", room_id, prev);
	json_t *pdu_ids = json_object_get(ids, "pdu_ids"), *need = json_object();
	if (!json_is_array(pdu_ids) || need == NULL) {
		json_decref(ids);
		json_decref(need);
		return false;
	}
	add_needed(b, need, pdu_ids, prev);
	add_needed(b, need, json_object_get(ids, "auth_chain_ids"), NULL);
	size_t wanted = json_object_size(need);
	if (wanted > GAP_ONE_BY_ONE) {
		json_t *st = get_json(f, server, "/_matrix/federation/v1/state/%s?event_id=%s", room_id, prev);
		const char *fields[] = {"pdus", "auth_chain"};
		for (size_t k = 0; k < 2; k++) {
			json_t *pdu;
			size_t i;
			json_array_foreach(json_object_get(st, fields[k]), i, pdu)
				add_outlier(b, pdu, need, memo, server);
		}
		json_decref(st);
	}
	const char *id;
	json_t *v;
	size_t gets = 0;
	json_object_foreach(need, id, v) {
		if (held(b, id) || gets++ >= GAP_EVENT_GETS || fed_now_ms() > b->deadline)
			continue;
		json_t *one = get_json(f, server, "/_matrix/federation/v1/event/%s%s", id, "");
		json_t *pdu = json_array_get(json_object_get(one, "pdus"), 0);
		if (pdu != NULL)
			add_outlier(b, pdu, need, memo, server);
		json_decref(one);
	}
	bool complete = held(b, prev); /* its own key, when it is a state event */
	size_t i;
	json_array_foreach(pdu_ids, i, v)
		complete = complete && json_is_string(v) && held(b, json_string_value(v));
	if (complete)
		json_object_set(b->fill.states, prev, pdu_ids);
	log_info("federation: the state after missing %s from %s: %zu events, %zu fetched%s", prev, server,
	         json_array_size(pdu_ids), wanted, complete ? "" : "; incomplete");
	json_decref(ids);
	json_decref(need);
	return complete;
}

/* For each prev event still missing (a few per transaction), the state
 * after it from the first server that has it. */
static void fill_states(batch *b, char **order, size_t n_order, const char *room_id)
{
	fed_room_memo memo = {"", NULL};
	fed_room_version(b->f, room_id, &memo);
	size_t tried = 0;
	for (size_t i = 0; i < b->n && tried < GAP_STATE_PREVS; i++) {
		const ev_t *ev = b->evs[i];
		if (ev->room_id == NULL || strcmp(ev->room_id, room_id) != 0)
			continue;
		for (size_t j = 0; j < ev->n_prev && tried < GAP_STATE_PREVS; j++) {
			const char *p = ev->prev_events[j];
			if (known(b, p) || json_object_get(b->fill.states, p))
				continue;
			tried++;
			for (size_t si = 0; si < n_order && fed_now_ms() < b->deadline &&
			                    !state_at(b, order[si], room_id, p, &memo);
			     si++)
				;
		}
	}
}

/* The servers to ask about room_id, the origin first (it had the events'
 * parents when it sent them): order[0..n_order) borrows from servers
 * (free both with servers_free). */
typedef struct servers {
	char **all, **order;
	size_t n_all, n_order;
} servers;

static void servers_get(fed_service *f, const char *origin, const char *room_id, servers *sv)
{
	*sv = (servers){0};
	fed_room_servers(f->db, room_id, &sv->all, &sv->n_all, NULL);
	if ((sv->order = calloc(sv->n_all + 1, sizeof(*sv->order))) == NULL)
		return;
	sv->order[sv->n_order++] = (char *)origin;
	for (size_t i = 0; i < sv->n_all; i++)
		if (strcmp(sv->all[i], origin) != 0 && strcmp(sv->all[i], f->server_name) != 0)
			sv->order[sv->n_order++] = sv->all[i];
}

static void servers_free(servers *sv)
{
	for (size_t i = 0; i < sv->n_all; i++)
		free(sv->all[i]);
	free(sv->all);
	free(sv->order);
}

/* The auth events of the outlier just added (fill's last) not held, into need. */
static void need_auth_of_last(batch *b, json_t *need, size_t n_before)
{
	if (b->fill.n_outliers == n_before)
		return;
	const ev_t *ev = b->fill.outliers[b->fill.n_outliers - 1];
	for (size_t i = 0; i < ev->n_auth; i++)
		if (!held(b, ev->auth_events[i]))
			json_object_set_new(need, ev->auth_events[i], json_true());
}

/* Auth events that room_id's events in the batch cite and we hold in no
 * form are fetched (GET /event, from the origin first, with their own
 * missing auth events) and become outliers; without them the events could
 * only wait in pending, for events nobody may ever send us again. Costs
 * one lookup per distinct auth event and no request in the common case. */
static void fill_auth(batch *b, const char *origin, const char *room_id)
{
	json_t *need = json_object();
	for (size_t i = 0; need && i < b->n; i++) {
		const ev_t *ev = b->evs[i];
		if (ev->room_id == NULL || strcmp(ev->room_id, room_id) != 0)
			continue;
		for (size_t j = 0; j < ev->n_auth; j++)
			if (!held(b, ev->auth_events[j]))
				json_object_set_new(need, ev->auth_events[j], json_true());
	}
	if (json_object_size(need) == 0) {
		json_decref(need);
		return;
	}
	servers sv;
	servers_get(b->f, origin, room_id, &sv);
	fed_room_memo memo = {"", NULL};
	fed_room_version(b->f, room_id, &memo);
	size_t gets = 0, fetched = 0;
	/* need grows as fetched events name auth events of their own. */
	for (bool more = true; more && gets < GAP_EVENT_GETS && fed_now_ms() < b->deadline;) {
		more = false;
		const char *id;
		json_t *v;
		json_object_foreach(need, id, v) {
			if (held(b, id) || json_is_false(v))
				continue;
			json_object_set_new(need, id, json_false()); /* asked once */
			more = true;
			for (size_t si = 0; si < sv.n_order && !held(b, id) && gets < GAP_EVENT_GETS; si++, gets++) {
				json_t *one = get_json(b->f, sv.order[si], "/_matrix/federation/v1/event/%s%s", id, "");
				json_t *pdu = json_array_get(json_object_get(one, "pdus"), 0);
				size_t n_before = b->fill.n_outliers;
				if (pdu != NULL)
					add_outlier(b, pdu, need, &memo, sv.order[si]);
				fetched += b->fill.n_outliers != n_before;
				need_auth_of_last(b, need, n_before);
				json_decref(one);
			}
			break; /* need changed: iterate afresh */
		}
	}
	if (fetched)
		log_info("federation: %zu missing auth events of %s fetched", fetched, room_id);
	servers_free(&sv);
	json_decref(need);
}

/* Closes the gaps of room_id's events in the batch, as far as the bounds
 * and the servers allow; then learns the state after the prev events
 * still missing. The common case (every prev event known) costs the
 * lookups of lacking() and no request. */
static void fill_room(batch *b, const char *origin, const char *room_id)
{
	json_t *latest = lacking(b, room_id), *earliest = NULL;
	if (json_array_size(latest) == 0) {
		json_decref(latest);
		return;
	}
	fed_service *f = b->f;
	servers sv;
	servers_get(f, origin, room_id, &sv);
	char **order = sv.order;
	size_t n_order = sv.n_order;
	if (fed_room_extremities(f->db, room_id, &earliest, NULL) != MXDB_OK)
		earliest = json_array();
	/* Nothing older than our oldest placed event (a joined room's join)
	 * connects to what we have: older gaps go to the state fallback. */
	int64_t min_depth = 0;
	fed_room_min_depth(f->db, room_id, &min_depth, NULL);
	fed_room_memo memo = {"", NULL};
	fed_room_version(f, room_id, &memo);
	size_t fetched = 0, max = f->max_gap_events;
	for (size_t si = 0; si < n_order && json_array_size(latest) > 0 && fetched < max &&
	                    fed_now_ms() < b->deadline;) {
		size_t want = max - fetched < GAP_ROUND ? max - fetched : GAP_ROUND;
		size_t got = round_at(b, order[si], room_id, &memo, earliest, latest, want, min_depth);
		if (got == 0)
			si++; /* this server cannot help further: the next one */
		fetched += got;
		json_decref(latest);
		latest = lacking(b, room_id);
	}
	if (json_array_size(latest) > 0) {
		log_warn("federation: a gap in %s is still open after %zu fetched events (bound %zu):"
		         " %zu+ events lack ancestors; asking for the state at their prev events",
		         room_id, fetched, max, json_array_size(latest));
		fill_states(b, order, n_order, room_id);
	} else if (fetched > 0)
		log_info("federation: closed a gap in %s with %zu events", room_id, fetched);
	json_decref(latest);
	json_decref(earliest);
	servers_free(&sv);
}

/* ---- ingesting, pending ---- */

/* Keeps an event that could not be placed until its prev and auth events
 * are stored. */
static void pend(fed_service *f, const char *room_id, const char *event_id, json_t *pdu)
{
	const char *refs[2 * 32 + 2];
	size_t n = 0, n_prev = 0;
	const char *fields[] = {"prev_events", "auth_events"};
	for (size_t k = 0; k < 2; k++) {
		json_t *v;
		size_t i;
		json_array_foreach(json_object_get(pdu, fields[k]), i, v)
			if (json_is_string(v) && n < sizeof(refs) / sizeof(refs[0]))
				refs[n++] = json_string_value(v);
		if (k == 0)
			n_prev = n;
	}
	char *text = json_dumps(pdu, JSON_COMPACT);
	mxdb_error e;
	pthread_mutex_lock(&f->lock);
	mxdb_status s = text ? fed_pending_add(f->conn, room_id, event_id, text, refs, n, n_prev,
	                                       fed_now_ms(), &e)
	                     : mx_fail(&e, MXDB_ENOMEM, "pdu");
	pthread_mutex_unlock(&f->lock);
	free(text);
	if (s != MXDB_OK)
		log_error("federation: %s cannot be placed and is dropped: %s", event_id, e.message);
}

/* Stores evs[0..n) (takes them), oldest first. ids, pdus and res (arrays
 * of n) get each event's ID, PDU and result in that order; *stored counts
 * the stored ones. */
static mxdb_status ingest(fed_service *f, ev_t **evs, size_t n, fed_gap_fill *fill, char **ids,
                          json_t **pdus, fed_result *res, size_t *stored, mxdb_error *err)
{
	if (n > 1)
		qsort(evs, n, sizeof(*evs), by_depth);
	for (size_t k = 0; k < n; k++) {
		ids[k] = strdup(evs[k]->event_id);
		pdus[k] = json_incref(evs[k]->json);
	}
	if (fill != NULL && fill->n_outliers > 1)
		qsort(fill->outliers, fill->n_outliers, sizeof(*fill->outliers), by_depth);
	mxdb_status s = fed_room_ingest_gap(f->db, evs, n, fill, res, err);
	if (fill != NULL && fill->n_dropped)
		log_warn("federation: %zu outliers could not be stored (auth events missing)", fill->n_dropped);
	*stored = 0;
	for (size_t k = 0; k < n; k++)
		*stored += res[k].status == MXDB_OK;
	return s;
}

/* Is anything the PDU cites missing: a prev event not placed (outliers
 * count as missing there), an auth event not stored? */
static bool misses_refs(fed_service *f, json_t *pdu)
{
	const char *fields[] = {"prev_events", "auth_events"};
	mxdb_status (*const has_fn[])(mxdb *, const char *, bool *, mxdb_error *) = {
		fed_room_event_placed, fed_room_has_event};
	for (size_t k = 0; k < 2; k++) {
		json_t *v;
		size_t i;
		json_array_foreach(json_object_get(pdu, fields[k]), i, v) {
			bool has = true;
			if (json_is_string(v) && has_fn[k](f->db, json_string_value(v), &has, NULL) == MXDB_OK && !has)
				return true;
		}
	}
	return false;
}

/* Retries room_id's pending events once some of them can be placed: all of
 * them, oldest first, so chains of pending events go in one batch. */
static void retry_pending(fed_service *f, const char *room_id)
{
	json_t *ready = NULL, *all = NULL;
	mxdb_error e;
	pthread_mutex_lock(&f->lock);
	mxdb_status s = fed_pending_load(f->conn, room_id, true, &ready, &e);
	if (s == MXDB_OK && json_object_size(ready) > 0)
		s = fed_pending_load(f->conn, room_id, false, &all, &e);
	pthread_mutex_unlock(&f->lock);
	const mx_room_version *rv = fed_room_version(f, room_id, NULL);
	size_t n = json_object_size(all), k = 0;
	ev_t **evs = n && rv ? calloc(n, sizeof(*evs)) : NULL;
	const char *id;
	json_t *pdu;
	json_object_foreach(all, id, pdu) {
		if (evs != NULL && ev_from_json(pdu, id, rv, &evs[k], NULL) == MXDB_OK)
			k++;
	}
	char **ids = k ? calloc(k, sizeof(*ids)) : NULL;
	json_t **pdus = k ? calloc(k, sizeof(*pdus)) : NULL;
	fed_result *res = k ? calloc(k, sizeof(*res)) : NULL;
	size_t stored = 0;
	bool ran = ids && pdus && res;
	if (ran && ingest(f, evs, k, NULL, ids, pdus, res, &stored, &e) == MXDB_OK) {
		pthread_mutex_lock(&f->lock);
		for (size_t i = 0; i < k; i++)
			if (ids[i] && (res[i].status != MXDB_ENOTFOUND || !misses_refs(f, pdus[i])))
				fed_pending_drop(f->conn, ids[i], NULL);
		pthread_mutex_unlock(&f->lock);
		if (stored)
			log_info("federation: %zu pending events of %s placed", stored, room_id);
	} else if (ran) {
		log_error("federation: retrying the pending events of %s: %s", room_id, e.message);
	} else {
		for (size_t i = 0; evs && i < k; i++)
			ev_free(evs[i]); /* ingest was not reached */
	}
	for (size_t i = 0; i < k; i++) {
		free(ids ? ids[i] : NULL);
		json_decref(pdus ? pdus[i] : NULL);
	}
	free(ids);
	free(pdus);
	free(res);
	free(evs);
	json_decref(ready);
	json_decref(all);
}

mxdb_status fed_take_pdus(fed_service *f, const char *origin, ev_t **evs, size_t n, json_t *results,
                          mxdb_error *err)
{
	batch b = {.f = f, .known = json_object(), .have = json_object(),
	           .deadline = fed_now_ms() + GAP_DEADLINE_MS};
	b.fill.states = json_object();
	mxdb_status s = b.known && b.have && b.fill.states ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "batch");
	for (size_t k = 0; k < n; k++)
		if (s != MXDB_OK || !batch_add(&b, evs[k])) {
			ev_free(evs[k]);
			s = s != MXDB_OK ? s : mx_fail(err, MXDB_ENOMEM, "batch");
		}
	free(evs);
	size_t given = b.n;
	/* Ancestors we lack first, room by room (the given events only: the
	 * fetched ones join the list as it grows). */
	json_t *rooms = json_object();
	for (size_t k = 0; s == MXDB_OK && k < given; k++) {
		const char *room_id = b.evs[k]->room_id;
		if (room_id != NULL && json_object_get(rooms, room_id) == NULL) {
			json_object_set_new(rooms, room_id, json_true());
			fill_room(&b, origin, room_id);
			fill_auth(&b, origin, room_id);
		}
	}
	size_t total = b.n, stored = 0;
	char **ids = calloc(total + 1, sizeof(*ids));
	json_t **pdus = calloc(total + 1, sizeof(*pdus));
	fed_result *res = calloc(total + 1, sizeof(*res));
	if (s == MXDB_OK && (ids == NULL || pdus == NULL || res == NULL))
		s = mx_fail(err, MXDB_ENOMEM, "batch");
	if (s == MXDB_OK) {
		s = ingest(f, b.evs, total, b.fill.n_outliers ? &b.fill : NULL, ids, pdus, res, &stored, err);
		b.n = 0; /* taken */
	}
	for (size_t k = 0; s == MXDB_OK && k < total; k++) {
		const char *why = res[k].why;
		const char *room_id = json_string_value(json_object_get(pdus[k], "room_id"));
		if (res[k].status == MXDB_ENOTFOUND && room_id && fed_room_version(f, room_id, NULL) &&
		    misses_refs(f, pdus[k])) {
			pend(f, room_id, ids[k], pdus[k]);
			log_warn("federation: %s in %s: %s; pending until its ancestors arrive", ids[k], room_id, why);
		}
		json_object_set_new(results, ids[k] ? ids[k] : "",
		                    res[k].status == MXDB_OK ? json_object() : json_pack("{s:s}", "error", why));
	}
	/* What was stored may complete pending events. */
	const char *room_id;
	json_t *v;
	json_object_foreach(rooms, room_id, v)
		if (s == MXDB_OK && stored > 0)
			retry_pending(f, room_id);
	for (size_t k = 0; k < total; k++) {
		free(ids ? ids[k] : NULL);
		json_decref(pdus ? pdus[k] : NULL);
	}
	for (size_t k = 0; k < b.n; k++)
		ev_free(b.evs[k]);
	free(b.evs);
	free(ids);
	free(pdus);
	free(res);
	json_decref(rooms);
	json_decref(b.known);
	json_decref(b.have);
	json_decref(b.fill.states);
	for (size_t k = 0; k < b.fill.n_outliers; k++)
		ev_free(b.fill.outliers[k]); /* NULL once the writer took them */
	free(b.fill.outliers);
	return s;
}
