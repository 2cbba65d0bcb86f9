/*
 * fed_join.c: joining and being joined: membership templates
 * (make_join/make_leave/make_knock), accepting a remote membership
 * (send_join/send_leave/send_knock) with the state before it, building a
 * room here from a send_join answer (its events stored as outliers),
 * invites of our users to rooms not here and their knocks on them, and
 * queueing local events for the room's servers (a
 * cached list). Writes run on the engine's writer thread; the endpoints'
 * reads are fed_read.c's. Never talks HTTP.
 */
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "engine.h"
#include "fed_outlier.h"
#include "fed_pdu.h"
#include "fed_queue.h"
#include "fed_room.h"
#include "fed_state.h"

/* ---- queueing local events ---- */

void fed_room_servers_changed(eng_room *room)
{
	fed_servers_free(room->servers, room->n_servers);
	room->servers = NULL;
	room->n_servers = 0;
	room->servers_known = false;
}

/* The room's servers, from the cache: a row write must not scan the
 * memberships (only a member event changes them). */
static mxdb_status room_servers(mxdb *db, eng_room *room, mxdb_error *err)
{
	if (room->servers_known)
		return MXDB_OK;
	mxdb_status s = fed_servers_query(&db->st->writer, room->nid, &room->servers, &room->n_servers, err);
	room->servers_known = s == MXDB_OK;
	return s;
}

mxdb_status fed_room_queue_local(mxdb *db, eng_room *room, const ev_t *ev, mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	mxdb_status s = room_servers(db, room, err);
	/* A member event also goes to its target's server (a kick or ban of a
	 * remote user, a remote user leaving). */
	const char *target = ev->state_key && strcmp(ev->type, "m.room.member") == 0
	                         ? fed_server_of(ev->state_key) : NULL;
	char *text = NULL;
	size_t len;
	for (size_t i = 0; s == MXDB_OK && i < room->n_servers; i++) {
		const char *server = room->servers[i];
		if (strcmp(server, db->server_name) == 0)
			continue;
		if (target && strcmp(target, server) == 0)
			target = NULL;
		if (text == NULL)
			s = cj_dump(ev->json, &text, &len, err);
		if (s == MXDB_OK)
			s = fed_queue_push(w->db, server, FED_ITEM_PDU, text, err);
	}
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
static const char SQL_CUR_ROW[] =
	"INSERT INTO cur_state(room_nid, type, state_key, pos) VALUES (?, ?, ?, ?)";
/* The join's only prev event: the state after it is the state before the join. */
static const char SQL_PREV_STATE[] =
	"UPDATE events SET sg = ? WHERE event_id = ? AND room_nid = ? AND outlier";

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

static mxdb_status step(store_conn *w, sqlite3_stmt *st, const char *what, mxdb_error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, what);
}

/* Stores ev as an outlier: found by ID, in no timeline, no state known at
 * it. Its position goes into pos_of (event ID -> pos). */
static mxdb_status put_outlier(mxdb *db, eng_room *room, const ev_t *ev, mx_map *pos_of,
                               mxdb_error *err)
{
	int64_t pos = (int64_t)db->next_pos;
	mxdb_status s = fed_outlier_insert(db, room, ev, err);
	if (s == MXDB_OK && map_put(pos_of, ev->event_id, strlen(ev->event_id), (void *)(intptr_t)pos, NULL) != 0)
		s = mx_fail(err, MXDB_ENOMEM, "outliers");
	return s;
}

/* One row of the answer's state into the room's current state: its
 * cur_state row (*key_nid), membership and change record (cause remote). */
static mxdb_status put_row(mxdb *db, eng_req *req, eng_room *room, const ev_t *ev, int64_t pos,
                           int64_t *key_nid, mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_CUR_ROW, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, room->nid);
	sqlite3_bind_text(st, 2, ev->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->state_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, pos);
	mxdb_status s = step(w, st, "current state", err);
	*key_nid = sqlite3_last_insert_rowid(w->db);
	return s == MXDB_OK ? fed_row_changed(db, req, room, ev, pos, 0, NULL, err) : s;
}

/* Stores the answer's events as outliers (the create event first: it is
 * the room's create_pos), makes its state the room's current state, and
 * gives the room a state group *sg holding it: the state before our join. */
static mxdb_status put_answer(mxdb *db, eng_req *req, eng_room *room, join_arg *a, ev_t *create,
                              mx_map *state, int64_t *sg, int64_t *sg_depth, mxdb_error *err)
{
	size_t n_all = a->n_chain + a->n_state;
	mx_map *pos_of = map_new(n_all + 1), *done = map_new(a->n_state + 1);
	sg_entry *rows = calloc(a->n_state + 1, sizeof(*rows));
	size_t n_rows = 0;
	mxdb_status s = pos_of && done && rows ? put_outlier(db, room, create, pos_of, err)
	                                       : mx_fail(err, MXDB_ENOMEM, "join");
	for (size_t i = 0; s == MXDB_OK && i < n_all; i++) {
		ev_t *ev = i < a->n_chain ? a->chain[i] : a->state[i - a->n_chain];
		if (!ev->rejected && !map_has(pos_of, ev->event_id, strlen(ev->event_id)))
			s = put_outlier(db, room, ev, pos_of, err);
	}
	/* The state in depth order, so the change records come create first. */
	for (size_t i = 0; s == MXDB_OK && i < a->n_state; i++) {
		ev_t *ev = a->state[i];
		char key[2 * EV_MAX_ID + 8];
		size_t kl = map_state_key(key, sizeof(key), ev->type, ev->state_key ? ev->state_key : "");
		const char *id = kl ? map_get(state, key, kl) : NULL;
		if (ev->rejected || id == NULL || strcmp(id, ev->event_id) != 0 || map_has(done, key, kl))
			continue;
		int64_t pos = (int64_t)(intptr_t)map_get(pos_of, id, strlen(id));
		if (map_put(done, key, kl, NULL, NULL) != 0)
			s = mx_fail(err, MXDB_ENOMEM, "join");
		else if ((s = put_row(db, req, room, ev, pos, &rows[n_rows].key_nid, err)) == MXDB_OK)
			rows[n_rows++].event_nid = pos;
	}
	if (s == MXDB_OK) {
		*sg = db->next_sg++;
		*sg_depth = -1;
		s = sg_add(&db->st->writer, *sg, room->nid, 0, rows, n_rows, sg_depth, err);
	}
	if (pos_of)
		map_free(pos_of, NULL);
	if (done)
		map_free(done, NULL);
	free(rows);
	return s;
}

/* Creates the room row and its writer cache entry. */
static mxdb_status new_room(mxdb *db, join_arg *a, const ev_t *create, eng_room **out,
                            mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	const char *room_id = a->join->room_id;
	sqlite3_stmt *st = store_stmt(w, SQL_NEW_ROOM, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->rv->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, create->sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)db->next_pos);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_CONSTRAINT ? mx_fail(err, MXDB_EEXISTS, "room %s is already here", room_id)
		                               : store_fail(w, err, "room");
	eng_room *room = calloc(1, sizeof(*room));
	if (room == NULL)
		return mx_fail(err, MXDB_ENOMEM, "room");
	*out = room;
	room->db = db;
	room->nid = sqlite3_last_insert_rowid(w->db);
	room->rv = a->rv;
	room->room_id = strdup(room_id);
	room->auth = map_new(16);
	room->auth_ids = map_new(16);
	mxdb_status s = room->room_id && room->auth && room->auth_ids ? MXDB_OK
	                                                               : mx_fail(err, MXDB_ENOMEM, "room");
	if (s == MXDB_OK)
		s = ev_from_json(create->json, create->event_id, a->rv, &room->create, err);
	return s;
}

static mxdb_status join_fn(mxdb *db, eng_req *req, void *arg, mxdb_error *err)
{
	join_arg *a = arg;
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
	if (s == MXDB_OK)
		s = new_room(db, a, create, &room, err);
	/* The answer's events are outliers: the state before them is not
	 * known here (the answer is no history), only the state before our
	 * join, which the answer gives; our join is the room's first event
	 * with a known state. */
	qsort(a->state, a->n_state, sizeof(*a->state), by_depth);
	req->cause = MXDB_CAUSE_REMOTE;
	int64_t before_sg = 0, before_depth = -1;
	if (s == MXDB_OK)
		s = put_answer(db, req, room, a, create, state, &before_sg, &before_depth, err);
	ev_t *copy = NULL;
	if (s == MXDB_OK)
		s = ev_from_json(a->join->json, a->join->event_id, a->rv, &copy, err);
	if (s == MXDB_OK) {
		room->sg = before_sg;
		room->sg_depth = before_depth;
		s = eng_persist(db, req, room, copy, NULL, NULL, NULL, err);
	}
	req->cause = MXDB_CAUSE_LOCAL;
	sqlite3_stmt *st;
	if (s == MXDB_OK && a->join->n_prev == 1 &&
	    (st = store_stmt(&db->st->writer, SQL_PREV_STATE, err)) != NULL) {
		sqlite3_bind_int64(st, 1, before_sg);
		sqlite3_bind_text(st, 2, a->join->prev_events[0], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, room->nid);
		s = step(&db->st->writer, st, "outlier state", err);
	} else if (s == MXDB_OK && a->join->n_prev == 1) {
		s = MXDB_EIO;
	}
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
	/* make_join of a restricted room: one of our users authorises it. */
	if (content != NULL && strcmp(a->sender, a->user_id) == 0 &&
	    (s = eng_join_authorise(db, room, a->user_id, content, err)) != MXDB_OK) {
		json_decref(content);
		return s;
	}
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
	char room_id[EV_MAX_ID + 1], id[EV_ID_SIZE];
	snprintf(room_id, sizeof(room_id), "%s", ev->room_id ? ev->room_id : "");
	snprintf(id, sizeof(id), "%s", ev->event_id);
	/* The answer's auth chain holds the event's own too (ev goes away). */
	json_t *auth = json_incref(json_object_get(ev->json, "auth_events"));
	fed_result r;
	mxdb_status s = fed_room_ingest(db, &ev, 1, &r, err);
	if (s == MXDB_OK && r.status != MXDB_OK)
		s = mx_fail(err, r.status, "%s", r.why);
	/* The state before it: what the engine resolved from all its prev
	 * events when it authorized it. */
	if (s == MXDB_OK && state != NULL)
		s = fed_room_state_before(db, room_id, id, false, auth, state, auth_chain, err);
	json_decref(auth);
	return s;
}

typedef struct check_arg {
	const char *room_id, *user_id;
} check_arg;

static mxdb_status check_fn(mxdb *db, eng_req *req, void *arg, mxdb_error *err)
{
	check_arg *a = arg;
	eng_room *room;
	char *via = NULL;
	mxdb_status s = eng_room_get(db, a->room_id, &room, err);
	if (s == MXDB_OK)
		s = eng_join_authoriser(db, room, a->user_id, &via, err);
	free(via);
	return s;
}

mxdb_status fed_room_join_check(mxdb *db, const char *room_id, const char *user_id,
                                mxdb_error *err)
{
	check_arg a = {room_id, user_id};
	if (room_id == NULL || fed_server_of(user_id) == NULL)
		return mx_fail(err, MXDB_EINVAL, "bad room or user ID");
	return eng_submit(db, check_fn, &a, NULL, err);
}

/* ---- invites of our users to rooms not here, and their knocks ---- */

static const char SQL_INVITE[] =
	"INSERT OR REPLACE INTO fed_invites(user_id, room_id, event_id, sender, pos, invite_state,"
	" membership, via) VALUES (?,?,?,?,?,?,?,?)";

static const char SQL_INVITE_FORGET[] = "DELETE FROM fed_invites WHERE user_id = ? AND room_id = ?";

static const char SQL_KNOCK_VIA[] =
	"SELECT via FROM fed_invites WHERE user_id = ? AND room_id = ? AND membership = 'knock'";

/* An invite or knock kept (event_id set) or forgotten (event_id NULL). A
 * new one replaces the old: an invite after a knock ends the knock. */
typedef struct invite_arg {
	const char *user_id, *room_id, *event_id, *sender, *invite_state, *membership, *via;
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
		sqlite3_bind_text(st, 7, a->membership, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, a->via, -1, SQLITE_STATIC);
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
	invite_arg a = {user_id, room_id, event_id, sender, invite_state, "invite", NULL};
	return eng_submit(db, invite_fn, &a, NULL, err);
}

mxdb_status fed_knock_store(mxdb *db, const char *user_id, const char *room_id,
                            const char *event_id, const char *via, const char *knock_state,
                            mxdb_error *err)
{
	if (!user_id || !room_id || !event_id || !via || !knock_state)
		return mx_fail(err, MXDB_EINVAL, "incomplete knock");
	invite_arg a = {user_id, room_id, event_id, user_id, knock_state, "knock", via};
	return eng_submit(db, invite_fn, &a, NULL, err);
}

mxdb_status fed_knock_via(mxdb *db, const char *user_id, const char *room_id, char **via,
                          mxdb_error *err)
{
	*via = NULL;
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_KNOCK_VIA, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, room_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	mxdb_status s = rc == SQLITE_ROW   ? MXDB_OK
	                : rc == SQLITE_DONE ? mx_fail(err, MXDB_ENOTFOUND, "no knock on %s", room_id)
	                                    : store_fail(c, err, "knock");
	if (s == MXDB_OK && (*via = store_col_str(st, 0)) == NULL)
		s = mx_fail(err, MXDB_ENOTFOUND, "no server for the knock on %s", room_id);
	sqlite3_reset(st);
	return s;
}

mxdb_status fed_invite_forget(mxdb *db, const char *user_id, const char *room_id, mxdb_error *err)
{
	if (!user_id || !room_id)
		return mx_fail(err, MXDB_EINVAL, "no user or room");
	invite_arg a = {.user_id = user_id, .room_id = room_id};
	return eng_submit(db, invite_fn, &a, NULL, err);
}
