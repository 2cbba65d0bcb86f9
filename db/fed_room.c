/*
 * fed_room.c: remote events into the room engine (DESIGN.md "Remote
 * events"): ingest on the writer thread, fork events stored over the state
 * before them and the room merged once per batch (the merge itself is
 * fed_merge.c's), events stored aside (rejected, late, outliers arriving),
 * merge events when forward extremities pile up. Uses the engine's
 * internals (engine.h) and its write path (eng_persist); never talks HTTP.
 * Graph arithmetic is fed_state.c's; joins and reads are fed_join.c's and
 * fed_read.c's; gaps are fed_outlier.c's and fed_gap.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "engine.h"
#include "fed_merge.h"
#include "fed_room_int.h"
#include "fed_outlier.h"
#include "fed_pdu.h"
#include "fed_queue.h"
#include "fed_room.h"
#include "fed_state.h"

/* ---- the writer-side context (fed_room_int.h) ---- */

static const char SQL_EV_POS[] = "SELECT pos, sg FROM events WHERE event_id = ?";
static const char SQL_IS_REJECTED[] = "SELECT 1 FROM fed_rejected WHERE event_id = ?";
static const char SQL_EV_ROOM[] = "SELECT room_nid FROM events WHERE event_id = ?";
static void ev_free_v(void *v)
{
	ev_free(v);
}

mxdb_status fed_event_pos(store_conn *w, const char *event_id, int64_t *pos, int64_t *sg,
                          mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(w, SQL_EV_POS, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*pos = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (sg)
		*sg = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "event lookup");
}

static const ev_t *w_get(void *ctx, const char *id)
{
	wctx *c = ctx;
	ev_t *ev = map_get(c->cache, id, strlen(id));
	if (ev != NULL)
		return ev;
	int64_t pos;
	json_t *pdu = NULL;
	if (fed_event_pos(c->w, id, &pos, NULL, NULL) != MXDB_OK || pos == 0 ||
	    rd_pdu(c->w, pos, &pdu, NULL, NULL) != MXDB_OK)
		return NULL;
	if (ev_from_json(pdu, id, c->rv, &ev, NULL) != MXDB_OK)
		ev = NULL;
	json_decref(pdu);
	sqlite3_stmt *st = ev ? store_stmt(c->w, SQL_IS_REJECTED, NULL) : NULL;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		ev->rejected = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_reset(st);
	}
	if (ev != NULL && map_put(c->cache, id, strlen(id), ev, NULL) != 0) {
		ev_free(ev);
		ev = NULL;
	}
	return ev;
}

static mxdb_status wctx_init(wctx *c, mxdb *db, const mx_room_version *rv, mxdb_error *err)
{
	c->db = db;
	c->w = &db->st->writer;
	c->rv = rv;
	c->cache = map_new(64);
	c->lookup = (sr_lookup){w_get, c};
	c->given = map_new(4);
	c->pending = map_new(8);
	return c->cache && c->given && c->pending ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "event cache");
}

static void state_free_v(void *v)
{
	map_free(v, free);
}

static void wctx_free(wctx *c)
{
	if (c->cache)
		map_free(c->cache, ev_free_v);
	if (c->given)
		map_free(c->given, state_free_v);
	map_free(c->pending, NULL);
}

/* ---- auth state over the engine's current state, with events by ID ---- */

typedef struct cur_ctx {
	eng_room *room;
	wctx *c;
} cur_ctx;

static const ev_t *cur_get(void *ctx, const char *type, const char *state_key)
{
	cur_ctx *cc = ctx;
	auth_state es;
	eng_auth_state(cc->room, &es);
	return es.get(es.ctx, type, state_key);
}

static const ev_t *cur_event(void *ctx, const char *event_id)
{
	cur_ctx *cc = ctx;
	return w_get(cc->c, event_id);
}

/* ---- ingesting remote events ---- */

static bool is_extremity(const eng_room *room, const char *id)
{
	for (size_t i = 0; i < room->n_extrem; i++)
		if (strcmp(room->extrem[i], id) == 0)
			return true;
	return false;
}

/* The merge a room owes (if any): its current state becomes the
 * resolution of its extremities' states. Drops the cached room. */
static mxdb_status flush_merge(wctx *c, eng_req *req, const char *room_id, mxdb_error *err)
{
	size_t rl = strlen(room_id);
	if (!map_has(c->pending, room_id, rl))
		return MXDB_OK;
	int64_t cur_sg = (int64_t)(intptr_t)map_del(c->pending, room_id, rl);
	eng_room *room;
	mxdb_status s = eng_room_get(c->db, room_id, &room, err);
	if (s != MXDB_OK)
		return s;
	wctx rc = *c;
	rc.rv = room->rv;
	rc.lookup.ctx = &rc;
	s = fed_merge_current(c->db, req, room, room->extrem, room->n_extrem, cur_sg, &rc.lookup, err);
	fed_forget_room(c->db, room);
	return s;
}

static mxdb_status flush_all(wctx *c, eng_req *req, mxdb_error *err)
{
	size_t it = 0, kl;
	const char *k;
	mxdb_status s = MXDB_OK;
	while (s == MXDB_OK && map_next(c->pending, &it, &k, &kl, NULL)) {
		char room_id[EV_MAX_ID + 1];
		snprintf(room_id, sizeof(room_id), "%.*s", (int)kl, k);
		s = flush_merge(c, req, room_id, err);
		it = 0; /* the map changed */
	}
	return s;
}

/* Forward extremities kept at most: past this, a merge event ends them. */
#define FED_MAX_EXTREMITIES 8

static const char SQL_LOCAL_MEMBER[] =
	"SELECT user_id FROM memberships WHERE room_nid = ? AND membership = 'join'"
	" AND substr(user_id, instr(user_id, ':') + 1) = ? LIMIT 1";

/* A room whose forward extremities piled up (concurrent branches from
 * several servers) gets a merge event: an org.matrix.dummy_event from one
 * of our joined users, citing them all. It is a local event, so the other
 * servers receive it and their extremities collapse too. */
static mxdb_status bound_extremities(wctx *c, eng_req *req, const char *room_id, mxdb_error *err)
{
	mxdb *db = c->db;
	eng_room *room;
	if (eng_room_get(db, room_id, &room, NULL) != MXDB_OK || room->n_extrem <= FED_MAX_EXTREMITIES)
		return MXDB_OK;
	/* The merge event is built on the current state: merge first. */
	mxdb_status s = flush_merge(c, req, room_id, err);
	if (s != MXDB_OK || (s = eng_room_get(db, room_id, &room, err)) != MXDB_OK)
		return s;
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_LOCAL_MEMBER, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, room->nid);
	sqlite3_bind_text(st, 2, db->server_name, -1, SQLITE_STATIC);
	char *user = sqlite3_step(st) == SQLITE_ROW ? store_col_str(st, 0) : NULL;
	sqlite3_reset(st);
	if (user == NULL)
		return MXDB_OK; /* none of ours is in the room: the others will merge */
	json_t *content = json_object();
	eng_spec spec = {.sender = user, .type = "org.matrix.dummy_event", .content = content};
	mxdb_cause saved = req->cause;
	req->cause = MXDB_CAUSE_LOCAL;
	s = content ? eng_emit(db, req, room, &spec, NULL, NULL, err)
	            : mx_fail(err, MXDB_ENOMEM, "merge event");
	req->cause = saved;
	json_decref(content);
	free(user);
	return s;
}

/* Does ev cite a prev event whose state came with a gap fill (not stored)? */
static bool cites_given(const wctx *c, const ev_t *ev)
{
	for (size_t i = 0; i < ev->n_prev; i++)
		if (map_has(c->given, ev->prev_events[i], strlen(ev->prev_events[i])))
			return true;
	return false;
}

/* Is the event stored; as a prev event (state), is the state after it
 * known too (not so for an outlier, sg 0)? */
static mxdb_status known(store_conn *w, const char *id, bool as_prev, bool *yes, mxdb_error *err)
{
	int64_t pos = 0, sg = 0;
	mxdb_status s = fed_event_pos(w, id, &pos, &sg, err);
	*yes = pos != 0 && (!as_prev || sg != 0);
	return s;
}

/* Is the stored event id one of room_nid's? An event citing another
 * room's events would have that room's state merged into its own. */
static mxdb_status in_room(store_conn *w, const char *id, int64_t room_nid, bool *yes, mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(w, SQL_EV_ROOM, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*yes = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) == room_nid;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "event room");
}

/* One remote event (takes it). Rejections land in out; the return value is
 * for failures that must undo the whole request (storage). */
static mxdb_status ingest_one(mxdb *db, eng_req *req, wctx *cp, ev_t *ev, fed_result *out,
                              mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	bool have, late = false;
	int64_t pos = 0, sg = 0;
	mxdb_status s = fed_event_pos(w, ev->event_id, &pos, &sg, err);
	if (s != MXDB_OK || sg != 0) { /* stored with its state already */
		ev_free(ev);
		return s;
	}
	bool outlier = pos != 0; /* stored, the state after it unknown */
	if (!outlier && (s = fed_outlier_is_backward(w, ev->event_id, &late, err)) != MXDB_OK) {
		ev_free(ev);
		return s;
	}
	eng_room *room;
	mxdb_error why;
	if (ev->room_id == NULL || eng_room_get(db, ev->room_id, &room, &why) != MXDB_OK) {
		out->status = MXDB_ENOTFOUND;
		snprintf(out->why, sizeof(out->why), "unknown room %s", ev->room_id ? ev->room_id : "");
		ev_free(ev);
		return MXDB_OK;
	}
	for (size_t i = 0; s == MXDB_OK && i < ev->n_prev + ev->n_auth; i++) {
		const char *ref = i < ev->n_prev ? ev->prev_events[i] : ev->auth_events[i - ev->n_prev];
		if (i < ev->n_prev && map_has(cp->given, ref, strlen(ref)))
			continue;
		if ((s = known(w, ref, i < ev->n_prev, &have, err)) == MXDB_OK && !have) {
			out->status = MXDB_ENOTFOUND;
			snprintf(out->why, sizeof(out->why), "missing %s event %s (or the state after it)",
			         i < ev->n_prev ? "prev" : "auth", ref);
			ev_free(ev);
			return MXDB_OK;
		}
		if (s == MXDB_OK && (s = in_room(w, ref, room->nid, &have, err)) == MXDB_OK && !have) {
			out->status = MXDB_EFORBIDDEN;
			snprintf(out->why, sizeof(out->why), "%s event %s is of another room",
			         i < ev->n_prev ? "prev" : "auth", ref);
			ev_free(ev);
			return MXDB_OK;
		}
	}
	if (s != MXDB_OK) {
		ev_free(ev);
		return s;
	}
	/* The batch shares one event cache: its events cite the same few auth
	 * events (power levels, members) again and again. */
	wctx c = *cp;
	c.rv = room->rv;
	c.lookup.ctx = &c;
	bool fast = ev->n_prev == room->n_extrem && !outlier && !late;
	for (size_t i = 0; fast && i < ev->n_prev; i++)
		fast = is_extremity(room, ev->prev_events[i]);
	/* The fast path checks against the current state: settle it first. */
	if (fast && map_has(c.pending, room->room_id, strlen(room->room_id))) {
		char room_id[EV_MAX_ID + 1];
		snprintf(room_id, sizeof(room_id), "%s", room->room_id);
		if ((s = flush_merge(&c, req, room_id, err)) != MXDB_OK ||
		    (s = eng_room_get(db, room_id, &room, err)) != MXDB_OK) {
			ev_free(ev);
			return s;
		}
	}
	/* The state before ev: the current state, or its prev events' group
	 * (their resolution when several), asked key by key. */
	int64_t before_sg = room->sg;
	auth_state as;
	cur_ctx cc = {room, &c};
	fed_group_ctx gc;
	if (fast) {
		as = (auth_state){.get = cur_get, .event = cur_event, .ctx = &cc};
	} else {
		s = cites_given(&c, ev) ? fed_before_from_maps(&c, room, ev, &before_sg, err)
		                        : fed_merge_before(db, room, (char *const *)ev->prev_events,
		                                           ev->n_prev, &c.lookup, &before_sg, err);
		if (s == MXDB_OK)
			fed_group_auth_state(&gc, db, room, before_sg, &c.lookup, &as);
	}
	if (s == MXDB_OK && (out->status = fed_authorize(ev, &as, &c.lookup, &why)) != MXDB_OK) {
		snprintf(out->why, sizeof(out->why), "%s", why.message);
		s = outlier ? fed_place_late(&c, req, room, ev, before_sg, true, true, err)
		            : fed_persist_aside(&c, req, room, ev, before_sg, true, err);
	} else if (s == MXDB_OK && (outlier || late)) {
		s = fed_place_late(&c, req, room, ev, before_sg, false, outlier, err);
	} else if (s == MXDB_OK && fast) {
		req->cause = MXDB_CAUSE_REMOTE;
		s = eng_persist(db, req, room, ev, NULL, NULL, NULL, err);
	} else if (s == MXDB_OK) {
		char room_id[EV_MAX_ID + 1];
		snprintf(room_id, sizeof(room_id), "%s", room->room_id);
		s = fed_ingest_fork(&c, req, room, ev, before_sg, out, err);
		if (s == MXDB_OK)
			s = bound_extremities(&c, req, room_id, err);
	} else {
		ev_free(ev);
	}
	req->cause = MXDB_CAUSE_LOCAL;
	return s;
}

typedef struct ingest_arg {
	ev_t **evs;
	size_t n;
	fed_result *out;
	fed_gap_fill *fill;
} ingest_arg;

static mxdb_status ingest_fn(mxdb *db, eng_req *req, void *arg, mxdb_error *err)
{
	ingest_arg *a = arg;
	wctx c;
	mxdb_status s = wctx_init(&c, db, NULL, err);
	if (s == MXDB_OK && a->fill != NULL)
		s = fed_outlier_take(db, &c.lookup, &c.rv, a->fill, c.given, err);
	for (size_t i = 0; i < a->n; i++) {
		ev_t *ev = a->evs[i];
		a->evs[i] = NULL;
		if (s == MXDB_OK)
			s = ingest_one(db, req, &c, ev, &a->out[i], err);
		else
			ev_free(ev);
	}
	if (s == MXDB_OK)
		s = flush_all(&c, req, err);
	wctx_free(&c);
	return s;
}

mxdb_status fed_room_ingest(mxdb *db, ev_t **evs, size_t n, fed_result *out, mxdb_error *err)
{
	return fed_room_ingest_gap(db, evs, n, NULL, out, err);
}

mxdb_status fed_room_ingest_gap(mxdb *db, ev_t **evs, size_t n, fed_gap_fill *fill,
                                fed_result *out, mxdb_error *err)
{
	memset(out, 0, n * sizeof(*out));
	ingest_arg a = {evs, n, out, fill};
	mxdb_status s = eng_submit_atomic(db, ingest_fn, &a, NULL, err);
	for (size_t i = 0; i < n; i++) {
		ev_free(evs[i]); /* those the writer never reached */
		evs[i] = NULL;
		if (s != MXDB_OK && out[i].status == MXDB_OK) {
			out[i].status = s;
			snprintf(out[i].why, sizeof(out[i].why), "%s", err ? err->message : "failed");
		}
	}
	for (size_t i = 0; fill != NULL && i < fill->n_outliers; i++) {
		ev_free(fill->outliers[i]);
		fill->outliers[i] = NULL;
	}
	return s;
}

