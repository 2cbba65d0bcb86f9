/*
 * fed_join.c: joining and being joined, and what the federation endpoints
 * read: membership templates (make_join/make_leave), accepting a remote
 * membership (send_join/send_leave) with the state before it, building a
 * room here from a send_join answer, the room's servers (and queueing local
 * events for them), state and auth chains. Writes run on the engine's
 * writer thread; reads use reader connections. Never talks HTTP.
 */
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "engine.h"
#include "fed_pdu.h"
#include "fed_queue.h"
#include "fed_room.h"
#include "fed_state.h"

/* ---- queueing local events ---- */

static const char SQL_SERVERS[] =
	"SELECT DISTINCT substr(user_id, instr(user_id, ':') + 1) FROM memberships"
	" WHERE room_nid = ? AND membership = 'join'";

mxdb_status fed_room_queue_local(mxdb *db, eng_room *room, const ev_t *ev, mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_SERVERS, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, room->nid);
	/* A member event also goes to its target's server (a kick or ban of a
	 * remote user, a remote user leaving). */
	const char *target = ev->state_key && strcmp(ev->type, "m.room.member") == 0
	                         ? fed_server_of(ev->state_key) : NULL;
	char *text = NULL;
	size_t len;
	mxdb_status s = MXDB_OK;
	int rc;
	while (s == MXDB_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *server = (const char *)sqlite3_column_text(st, 0);
		if (strcmp(server, db->server_name) == 0)
			continue;
		if (target && strcmp(target, server) == 0)
			target = NULL;
		if (text == NULL)
			s = cj_dump(ev->json, &text, &len, err);
		if (s == MXDB_OK)
			s = fed_queue_push(w->db, server, FED_ITEM_PDU, text, err);
	}
	sqlite3_reset(st);
	if (s == MXDB_OK && target && strcmp(target, db->server_name) != 0) {
		if (text == NULL)
			s = cj_dump(ev->json, &text, &len, err);
		if (s == MXDB_OK)
			s = fed_queue_push(w->db, target, FED_ITEM_PDU, text, err);
	}
	free(text);
	return s;
}

/* ---- joining a room that lives elsewhere ---- */

static const char SQL_NEW_ROOM[] =
	"INSERT INTO rooms(room_id, version, creator, create_pos, public) VALUES (?,?,?,?,0)";

typedef struct join_arg {
	const mx_room_version *rv;
	ev_t **chain, **state, *join;
	size_t n_chain, n_state;
} join_arg;

static int by_depth(const void *a, const void *b)
{
	const ev_t *x = *(ev_t *const *)a, *y = *(ev_t *const *)b;
	return x->depth < y->depth ? -1 : x->depth > y->depth;
}

/* The events given by the send_join answer, by ID, for the auth checks. */
static const ev_t *given_get(void *ctx, const char *id)
{
	return map_get(ctx, id, strlen(id));
}

static mxdb_status join_fn(mxdb *db, eng_req *req, void *arg, mxdb_error *err)
{
	join_arg *a = arg;
	store_conn *w = &db->st->writer;
	const char *room_id = a->join->room_id;
	eng_room *room = NULL;
	if (map_get(db->rooms, room_id, strlen(room_id)) != NULL)
		return mx_fail(err, MXDB_EEXISTS, "room %s is already here", room_id);
	mx_map *given = map_new(a->n_chain + a->n_state + 1), *state = map_new(a->n_state + 1);
	mxdb_status s = given && state ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "join");
	ev_t *create = NULL;
	for (size_t i = 0; s == MXDB_OK && i < a->n_chain + a->n_state; i++) {
		ev_t *ev = i < a->n_chain ? a->chain[i] : a->state[i - a->n_chain];
		map_put(given, ev->event_id, strlen(ev->event_id), ev, NULL);
		if (strcmp(ev->type, "m.room.create") == 0 && ev->state_key && !ev->state_key[0])
			create = ev;
	}
	for (size_t i = 0; s == MXDB_OK && i < a->n_state; i++)
		s = fed_state_apply(state, a->state[i], err);
	if (s == MXDB_OK && create == NULL)
		s = mx_fail(err, MXDB_EBADJSON, "the room's state has no m.room.create event");
	/* Every event against its own auth events, the join against the state. */
	sr_lookup lk = {given_get, given};
	for (size_t i = 0; s == MXDB_OK && i < a->n_chain + a->n_state; i++) {
		ev_t *ev = i < a->n_chain ? a->chain[i] : a->state[i - a->n_chain];
		mxdb_error why;
		if (fed_authorize(ev, NULL, &lk, &why) != MXDB_OK)
			ev->rejected = true;
	}
	fed_map_ctx mc;
	auth_state as;
	fed_map_auth_state(&mc, state, &lk, &as);
	if (s == MXDB_OK && create->rejected)
		s = mx_fail(err, MXDB_EFORBIDDEN, "the room's create event fails the auth rules");
	if (s == MXDB_OK)
		s = fed_authorize(a->join, &as, &lk, err);
	if (s == MXDB_OK && (room = calloc(1, sizeof(*room))) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "room");
	sqlite3_stmt *st;
	if (s == MXDB_OK && (st = store_stmt(w, SQL_NEW_ROOM, err)) != NULL) {
		sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, a->rv->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, create->sender, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (int64_t)db->next_pos);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		s = rc == SQLITE_DONE ? MXDB_OK
		    : rc == SQLITE_CONSTRAINT ? mx_fail(err, MXDB_EEXISTS, "room %s is already here", room_id)
		                              : store_fail(w, err, "room");
	} else if (s == MXDB_OK) {
		s = MXDB_EIO;
	}
	if (s == MXDB_OK) {
		room->db = db;
		room->nid = sqlite3_last_insert_rowid(w->db);
		room->rv = a->rv;
		room->room_id = strdup(room_id);
		room->auth = map_new(16);
		room->auth_ids = map_new(16);
		if (!room->room_id || !room->auth || !room->auth_ids)
			s = mx_fail(err, MXDB_ENOMEM, "room");
	}
	/* The create event first, then what only the auth chain holds, then
	 * the state, each in depth order, then our join: cur_state ends up as
	 * the room's state plus the join. eng_persist owns what it is given,
	 * so the given events stay in the lookup and copies go in. */
	qsort(a->chain, a->n_chain, sizeof(*a->chain), by_depth);
	qsort(a->state, a->n_state, sizeof(*a->state), by_depth);
	req->cause = MXDB_CAUSE_REMOTE;
	for (size_t i = 0; s == MXDB_OK && i < 1 + a->n_chain + a->n_state; i++) {
		ev_t *src = i == 0 ? create : i <= a->n_chain ? a->chain[i - 1] : a->state[i - 1 - a->n_chain];
		int64_t have;
		if (src->rejected || (i > 0 && src == create))
			continue;
		if ((s = fed_event_pos(w, src->event_id, &have, NULL, err)) != MXDB_OK || have)
			continue;
		if (i > 0 && i <= a->n_chain) {
			/* Auth-chain events also in the state go with the state. */
			char key[2 * EV_MAX_ID + 8];
			size_t kl = map_state_key(key, sizeof(key), src->type, src->state_key ? src->state_key : "");
			const char *in_state = kl ? map_get(state, key, kl) : NULL;
			if (in_state && strcmp(in_state, src->event_id) == 0)
				continue;
		}
		ev_t *copy = NULL;
		if ((s = ev_from_json(src->json, src->event_id, a->rv, &copy, err)) != MXDB_OK)
			break;
		if (i == 0)
			room->create = copy;
		s = eng_persist(db, req, room, copy, NULL, NULL, NULL, err);
	}
	if (s == MXDB_OK) {
		ev_t *copy = NULL;
		s = ev_from_json(a->join->json, a->join->event_id, a->rv, &copy, err);
		if (s == MXDB_OK)
			s = eng_persist(db, req, room, copy, NULL, NULL, NULL, err);
	}
	req->cause = MXDB_CAUSE_LOCAL;
	if (s == MXDB_OK && map_put(db->rooms, room->room_id, strlen(room->room_id), room, NULL) != 0)
		s = mx_fail(err, MXDB_ENOMEM, "room cache");
	if (s != MXDB_OK)
		eng_room_free(room);
	if (given)
		map_free(given, NULL);
	if (state)
		map_free(state, free);
	return s;
}

mxdb_status fed_room_join_remote(mxdb *db, const mx_room_version *rv, ev_t **chain, size_t n_chain,
                                 ev_t **state, size_t n_state, ev_t *join, mxdb_error *err)
{
	join_arg a = {rv, chain, state, join, n_chain, n_state};
	mxdb_status s = join->room_id ? eng_submit_atomic(db, join_fn, &a, NULL, err)
	                              : mx_fail(err, MXDB_EBADJSON, "join without room_id");
	for (size_t i = 0; i < n_chain; i++)
		ev_free(chain[i]);
	for (size_t i = 0; i < n_state; i++)
		ev_free(state[i]);
	ev_free(join);
	return s;
}

/* ---- membership templates and answers ---- */

typedef struct tmpl_arg {
	const char *room_id, *sender, *user_id, *membership;
	json_t *tmpl;
	const char *rv_id;
} tmpl_arg;

static mxdb_status tmpl_fn(mxdb *db, eng_req *req, void *arg, mxdb_error *err)
{
	tmpl_arg *a = arg;
	eng_room *room;
	mxdb_status s = eng_room_get(db, a->room_id, &room, err);
	if (s != MXDB_OK)
		return s;
	json_t *content = json_pack("{s:s}", "membership", a->membership);
	eng_spec spec = {.sender = a->sender, .type = "m.room.member", .state_key = a->user_id,
	                 .content = content};
	json_t *prev = json_array();
	for (size_t i = 0; prev && i < room->n_extrem; i++)
		json_array_append_new(prev, json_string(room->extrem[i]));
	json_t *auth = content ? eng_auth_events_for(room, &spec) : NULL;
	a->tmpl = json_pack("{s:o, s:o, s:o, s:I, s:s, s:I, s:s, s:s, s:s, s:s}", "auth_events", auth,
	                    "prev_events", prev, "content", content, "depth", (json_int_t)room->depth + 1,
	                    "origin", db->server_name, "origin_server_ts", (json_int_t)eng_now_ms(),
	                    "room_id", room->room_id, "sender", a->sender, "state_key", a->user_id,
	                    "type", "m.room.member");
	a->rv_id = room->rv->id;
	return a->tmpl ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "template");
}

mxdb_status fed_room_make_member_event(mxdb *db, const char *room_id, const char *sender,
                                       const char *user_id, const char *membership, json_t **tmpl,
                                       const char **rv_id, mxdb_error *err)
{
	tmpl_arg a = {room_id, sender, user_id, membership, NULL, NULL};
	*tmpl = NULL;
	if (room_id == NULL || room_id[0] != '!' || fed_server_of(user_id) == NULL ||
	    fed_server_of(sender) == NULL)
		return mx_fail(err, MXDB_EINVAL, "bad room or user ID");
	mxdb_status s = eng_submit(db, tmpl_fn, &a, NULL, err);
	if (s == MXDB_OK) {
		*tmpl = a.tmpl;
		*rv_id = a.rv_id;
	}
	return s;
}

mxdb_status fed_room_make_membership(mxdb *db, const char *room_id, const char *user_id,
                                     const char *membership, json_t **tmpl, const char **rv_id,
                                     mxdb_error *err)
{
	return fed_room_make_member_event(db, room_id, user_id, user_id, membership, tmpl, rv_id, err);
}

mxdb_status fed_room_accept_membership(mxdb *db, ev_t *ev, json_t **state, json_t **auth_chain,
                                       mxdb_error *err)
{
	char room_id[EV_MAX_ID + 1], at[EV_MAX_ID + 1];
	snprintf(room_id, sizeof(room_id), "%s", ev->room_id ? ev->room_id : "");
	/* The state before the event: after its prev event (the usual single
	 * one; with several, the first's). */
	snprintf(at, sizeof(at), "%s", ev->n_prev ? ev->prev_events[0] : "");
	fed_result r;
	mxdb_status s = fed_room_ingest(db, &ev, 1, &r, err);
	if (s == MXDB_OK && r.status != MXDB_OK)
		s = mx_fail(err, r.status, "%s", r.why);
	if (s == MXDB_OK && state != NULL)
		s = fed_room_state(db, room_id, at[0] ? at : NULL, false, state, auth_chain, err);
	return s;
}

/* ---- invites of our users to rooms not here ---- */

static const char SQL_INVITE[] =
	"INSERT OR REPLACE INTO fed_invites(user_id, room_id, event_id, sender, pos, invite_state)"
	" VALUES (?,?,?,?,?,?)";

static const char SQL_INVITE_FORGET[] = "DELETE FROM fed_invites WHERE user_id = ? AND room_id = ?";

/* An invite kept (event_id set) or forgotten (event_id NULL). */
typedef struct invite_arg {
	const char *user_id, *room_id, *event_id, *sender, *invite_state;
} invite_arg;

static mxdb_status invite_fn(mxdb *db, eng_req *req, void *arg, mxdb_error *err)
{
	invite_arg *a = arg;
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, a->event_id ? SQL_INVITE : SQL_INVITE_FORGET, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, a->user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->room_id, -1, SQLITE_STATIC);
	if (a->event_id != NULL) {
		sqlite3_bind_text(st, 3, a->event_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, a->sender, -1, SQLITE_STATIC);
		/* A stream position of its own (no event takes it), so an
		 * incremental /sync shows it once, like any new membership. */
		sqlite3_bind_int64(st, 5, (sqlite3_int64)db->next_pos++);
		sqlite3_bind_text(st, 6, a->invite_state, -1, SQLITE_STATIC);
	}
	mxdb_status s = sqlite3_step(st) == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "invite");
	sqlite3_reset(st);
	return s;
}

mxdb_status fed_invite_store(mxdb *db, const char *user_id, const char *room_id,
                             const char *event_id, const char *sender, const char *invite_state,
                             mxdb_error *err)
{
	if (!user_id || !room_id || !event_id || !sender || !invite_state)
		return mx_fail(err, MXDB_EINVAL, "incomplete invite");
	invite_arg a = {user_id, room_id, event_id, sender, invite_state};
	return eng_submit(db, invite_fn, &a, NULL, err);
}

mxdb_status fed_invite_forget(mxdb *db, const char *user_id, const char *room_id, mxdb_error *err)
{
	if (!user_id || !room_id)
		return mx_fail(err, MXDB_EINVAL, "no user or room");
	invite_arg a = {.user_id = user_id, .room_id = room_id};
	return eng_submit(db, invite_fn, &a, NULL, err);
}

/* ---- reads for the federation endpoints (reader connections) ---- */

mxdb_status fed_room_has_event(mxdb *db, const char *event_id, bool *has, mxdb_error *err)
{
	store_conn *c = store_reader(db->st);
	int64_t pos = 0;
	mxdb_status s = fed_event_pos(c, event_id, &pos, NULL, err);
	store_release(c);
	*has = pos != 0;
	return s;
}

mxdb_status fed_room_servers(mxdb *db, const char *room_id, char ***servers, size_t *n,
                             mxdb_error *err)
{
	*servers = NULL;
	*n = 0;
	store_conn *c = store_reader(db->st);
	int64_t nid;
	mxdb_status s = rd_room_nid(c, room_id, &nid, NULL, err);
	sqlite3_stmt *st = s == MXDB_OK ? store_stmt(c, SQL_SERVERS, err) : NULL;
	if (s == MXDB_OK && st == NULL)
		s = MXDB_EIO;
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, nid);
		while (s == MXDB_OK && sqlite3_step(st) == SQLITE_ROW) {
			char **grown = realloc(*servers, (*n + 1) * sizeof(char *));
			char *name = store_col_str(st, 0);
			if (grown == NULL || name == NULL) {
				free(name);
				if (grown)
					*servers = grown;
				s = mx_fail(err, MXDB_ENOMEM, "servers");
				break;
			}
			*servers = grown;
			(*servers)[(*n)++] = name;
		}
		sqlite3_reset(st);
	}
	store_release(c);
	return s;
}

/* pos 0: a row state resolution left without a version. */
static const char SQL_CUR_POS[] = "SELECT pos FROM cur_state WHERE room_nid = ? AND pos <> 0";
static const char SQL_SG_OF[] = "SELECT sg, room_nid FROM events WHERE event_id = ?";

/* Adds the PDU at pos (or its ID) to arr, and its auth events to the work
 * list of the chain walk. */
static mxdb_status add_pdu(store_conn *c, int64_t pos, bool ids_only, json_t *arr, json_t *todo,
                           mxdb_error *err)
{
	json_t *pdu;
	char *id;
	mxdb_status s = rd_pdu(c, pos, &pdu, &id, err);
	if (s != MXDB_OK)
		return s;
	if (todo)
		json_array_extend(todo, json_object_get(pdu, "auth_events"));
	json_array_append_new(arr, ids_only ? json_string(id) : json_incref(pdu));
	json_decref(pdu);
	free(id);
	return MXDB_OK;
}

mxdb_status fed_room_state(mxdb *db, const char *room_id, const char *event_id, bool ids_only,
                           json_t **state, json_t **auth_chain, mxdb_error *err)
{
	*state = json_array();
	if (auth_chain)
		*auth_chain = json_array();
	json_t *todo = auth_chain ? json_array() : NULL;
	mx_map *seen = map_new(256), *sg_map = NULL;
	store_conn *c = store_reader(db->st);
	int64_t nid, ev_room = 0, sg = 0;
	mxdb_status s = *state && seen && (!auth_chain || (*auth_chain && todo))
	                    ? rd_room_nid(c, room_id, &nid, NULL, err) : mx_fail(err, MXDB_ENOMEM, "state");
	sqlite3_stmt *st;
	if (s == MXDB_OK && event_id != NULL) {
		if ((st = store_stmt(c, SQL_SG_OF, err)) == NULL)
			s = MXDB_EIO;
		else {
			sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW) {
				sg = sqlite3_column_int64(st, 0);
				ev_room = sqlite3_column_int64(st, 1);
			}
			sqlite3_reset(st);
			if (ev_room != nid)
				s = mx_fail(err, MXDB_ENOTFOUND, "no event %s in %s", event_id, room_id);
		}
		if (s == MXDB_OK)
			s = sg_load(c, sg, &sg_map, err);
		size_t it = 0, kl;
		const char *k;
		void *v;
		while (s == MXDB_OK && map_next(sg_map, &it, &k, &kl, &v))
			s = add_pdu(c, (int64_t)(intptr_t)v, ids_only, *state, todo, err);
	} else if (s == MXDB_OK) {
		if ((st = store_stmt(c, SQL_CUR_POS, err)) == NULL)
			s = MXDB_EIO;
		else {
			sqlite3_bind_int64(st, 1, nid);
			json_t *list = json_array();
			while (sqlite3_step(st) == SQLITE_ROW)
				json_array_append_new(list, json_integer(sqlite3_column_int64(st, 0)));
			sqlite3_reset(st);
			size_t i;
			json_t *p;
			json_array_foreach(list, i, p) {
				if (s == MXDB_OK)
					s = add_pdu(c, json_integer_value(p), ids_only, *state, todo, err);
			}
			json_decref(list);
		}
	}
	/* The auth chain: every event reachable through auth_events. */
	for (size_t i = 0; s == MXDB_OK && todo && i < json_array_size(todo); i++) {
		const char *id = json_string_value(json_array_get(todo, i));
		int64_t pos;
		if (id == NULL || map_has(seen, id, strlen(id)))
			continue;
		map_put(seen, id, strlen(id), NULL, NULL);
		if ((s = fed_event_pos(c, id, &pos, NULL, err)) == MXDB_OK && pos != 0)
			s = add_pdu(c, pos, ids_only, *auth_chain, todo, err);
	}
	store_release(c);
	if (sg_map)
		map_free(sg_map, NULL);
	if (seen)
		map_free(seen, NULL);
	json_decref(todo);
	if (s != MXDB_OK) {
		json_decref(*state);
		*state = NULL;
		if (auth_chain) {
			json_decref(*auth_chain);
			*auth_chain = NULL;
		}
	}
	return s;
}
