/*
 * fed_room.c: remote events into the room engine (DESIGN.md "Remote
 * events"): ingest on the writer thread, forks merged by state resolution
 * with `merge` change records, merge events when forward extremities pile
 * up. Uses the engine's internals (engine.h) and its write path
 * (eng_persist); never talks HTTP. Graph arithmetic is fed_state.c's;
 * joins and reads are fed_join.c's.
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

/* ---- the writer-side context: event cache and state maps ---- */

typedef struct wctx {
	mxdb *db;
	store_conn *w;
	const mx_room_version *rv;
	mx_map *cache; /* event ID -> ev_t* (owned): stored or given events */
	sr_lookup lookup;
	mx_map *given; /* missing prev event ID -> the state after it (fed_room_ingest_gap) */
} wctx;

static const char SQL_EV_POS[] = "SELECT pos, sg FROM events WHERE event_id = ?";
static const char SQL_IS_REJECTED[] = "SELECT 1 FROM fed_rejected WHERE event_id = ?";
static const char SQL_ADD_REJECTED[] = "INSERT OR IGNORE INTO fed_rejected(event_id) VALUES (?)";
static const char SQL_KEY_EV[] =
	"SELECT c.type, c.state_key, e.event_id FROM cur_state c, events e WHERE c.nid = ? AND e.pos = ?";

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
	return c->cache && c->given ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "event cache");
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
}

/* The state in group sg as a state map (key -> event ID). */
static mxdb_status load_state(wctx *c, int64_t sg, mx_map **out, mxdb_error *err)
{
	mx_map *groups = NULL, *m = map_new(64);
	mxdb_status s = m ? sg_load(c->w, sg, &groups, err) : mx_fail(err, MXDB_ENOMEM, "state");
	size_t it = 0, kl;
	const char *k;
	void *v;
	while (s == MXDB_OK && map_next(groups, &it, &k, &kl, &v)) {
		int64_t key_nid;
		memcpy(&key_nid, k, sizeof(key_nid));
		sqlite3_stmt *st = store_stmt(c->w, SQL_KEY_EV, err);
		if (st == NULL) {
			s = MXDB_EIO;
			break;
		}
		sqlite3_bind_int64(st, 1, key_nid);
		sqlite3_bind_int64(st, 2, (int64_t)(intptr_t)v);
		if (sqlite3_step(st) == SQLITE_ROW) {
			char key[2 * EV_MAX_ID + 8];
			size_t n = map_state_key(key, sizeof(key), (const char *)sqlite3_column_text(st, 0),
			                         (const char *)sqlite3_column_text(st, 1));
			char *id = store_col_str(st, 2);
			if (n == 0 || id == NULL || map_put(m, key, n, id, NULL) != 0) {
				free(id);
				s = mx_fail(err, MXDB_ENOMEM, "state");
			}
		} else {
			s = mx_fail(err, MXDB_EINTERNAL, "state group %lld names an unknown row", (long long)sg);
		}
		sqlite3_reset(st);
	}
	if (groups)
		map_free(groups, NULL);
	if (s != MXDB_OK) {
		map_free(m, free);
		return s;
	}
	*out = m;
	return MXDB_OK;
}

/* The state after a stored event. */
static mxdb_status state_after(wctx *c, const char *event_id, mx_map **out, mxdb_error *err)
{
	const mx_map *given = map_get(c->given, event_id, strlen(event_id));
	if (given != NULL)
		return (*out = fed_state_copy(given)) ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "state");
	int64_t pos, sg;
	mxdb_status s = fed_event_pos(c->w, event_id, &pos, &sg, err);
	if (s == MXDB_OK && pos == 0)
		s = mx_fail(err, MXDB_ENOTFOUND, "event %s is not stored", event_id);
	else if (s == MXDB_OK && sg == 0) /* an outlier */
		s = mx_fail(err, MXDB_ENOTFOUND, "the state after %s is not known", event_id);
	return s == MXDB_OK ? load_state(c, sg, out, err) : s;
}

/* Resolves the states after each of ids[0..n) (stored events, or the one
 * named extra_id whose state is extra). */
static mxdb_status resolve_at(wctx *c, char *const *ids, size_t n, const char *extra_id,
                              mx_map *extra, mx_map **out, mxdb_error *err)
{
	mx_map **sets = calloc(n ? n : 1, sizeof(*sets));
	mxdb_status s = sets ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "state sets");
	for (size_t i = 0; s == MXDB_OK && i < n; i++)
		s = extra_id && strcmp(ids[i], extra_id) == 0
		        ? ((sets[i] = fed_state_copy(extra)) ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "state"))
		        : state_after(c, ids[i], &sets[i], err);
	if (s == MXDB_OK)
		s = fed_state_before(c->rv, sets, n, &c->lookup, out, err);
	for (size_t i = 0; sets && i < n; i++)
		if (sets[i])
			map_free(sets[i], free);
	free(sets);
	return s;
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

static const char SQL_DEL_EXTREMS[] = "DELETE FROM extremities WHERE room_nid = ?";
static const char SQL_ADD_EXTREM[] = "INSERT OR IGNORE INTO extremities(room_nid, event_id) VALUES (?, ?)";
static const char SQL_SET_CUR[] = "UPDATE cur_state SET pos = ? WHERE nid = ?";
static const char SQL_NEW_CUR[] =
	"INSERT INTO cur_state(room_nid, type, state_key, pos) VALUES (?, ?, ?, ?)";
static const char SQL_ROW_CHANGE[] =
	"INSERT INTO changes(seq, room_nid, room_seq, pos, prev_pos, cause) VALUES (?,?,?,?,?,?)";
static const char SQL_MEMBER[] =
	"INSERT OR REPLACE INTO memberships(user_id, room_nid, membership, pos) VALUES (?,?,?,?)";
static const char SQL_ROOM_SG[] =
	"INSERT OR REPLACE INTO fed_room_sg(room_nid, pos, sg) VALUES (?, ?, ?)";

static mxdb_status step(store_conn *w, sqlite3_stmt *st, const char *what, mxdb_error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, what);
}

/* The cur_state row of a key, made when missing (its pos is then set by
 * the caller's next update). */
static mxdb_status key_row(mxdb *db, eng_room *room, const char *type, const char *sk,
                           int64_t pos, eng_row *row, mxdb_error *err)
{
	mxdb_status s = eng_row_get(db, room, type, sk, row, err);
	if (s != MXDB_OK || row->key_nid != 0)
		return s;
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_NEW_CUR, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, room->nid);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sk, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, pos);
	if ((s = step(w, st, "current state", err)) == MXDB_OK)
		row->key_nid = sqlite3_last_insert_rowid(w->db);
	return s;
}

/* Stores a state group holding `to`, as a delta from group parent holding
 * `from`. Returns its number in *sg. */
static mxdb_status add_group(wctx *c, eng_room *room, int64_t parent, const mx_map *from,
                             const mx_map *to, int64_t *sg, mxdb_error *err)
{
	size_t it = 0, kl, n = 0;
	const char *k;
	void *v;
	sg_entry *e = calloc(map_count(to) + 1, sizeof(*e));
	mxdb_status s = e ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "state group");
	while (s == MXDB_OK && map_next(to, &it, &k, &kl, &v)) {
		const char *was = map_get(from, k, kl);
		if (was != NULL && strcmp(was, v) == 0)
			continue;
		const char *type, *sk;
		map_state_key_split(k, kl, &type, &sk);
		int64_t pos;
		eng_row row;
		s = fed_event_pos(c->w, v, &pos, NULL, err);
		if (s == MXDB_OK && pos == 0)
			s = mx_fail(err, MXDB_EINTERNAL, "state names unstored %s", (const char *)v);
		if (s == MXDB_OK && (s = key_row(c->db, room, type, sk, pos, &row, err)) == MXDB_OK)
			e[n++] = (sg_entry){row.key_nid, pos};
		if (s == MXDB_OK)
			free(row.event_id);
	}
	if (s == MXDB_OK) {
		int64_t depth = -1; /* sg_add looks the parent's depth up */
		*sg = c->db->next_sg++;
		s = sg_add(c->w, *sg, room->nid, parent, e, n, &depth, err);
	}
	free(e);
	return s;
}

mxdb_status fed_row_changed(mxdb *db, eng_req *req, eng_room *room, const ev_t *win, int64_t pos,
                            int64_t prev_pos, const char *prev_id, mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	uint64_t seq = db->next_seq;
	sqlite3_stmt *st = store_stmt(w, SQL_ROW_CHANGE, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, (int64_t)seq);
	sqlite3_bind_int64(st, 2, room->nid);
	sqlite3_bind_int64(st, 3, (int64_t)room->room_seq + 1);
	sqlite3_bind_int64(st, 4, pos);
	if (prev_pos != 0)
		sqlite3_bind_int64(st, 5, prev_pos);
	sqlite3_bind_int(st, 6, req->cause);
	mxdb_status s = step(w, st, "change", err);
	if (s == MXDB_OK && strcmp(win->type, "m.room.member") == 0) {
		const char *m = json_string_value(json_object_get(win->content, "membership"));
		if ((st = store_stmt(w, SQL_MEMBER, err)) == NULL)
			return MXDB_EIO;
		sqlite3_bind_text(st, 1, win->state_key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, room->nid);
		sqlite3_bind_text(st, 3, m ? m : "leave", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, pos);
		s = step(w, st, "membership", err);
		fed_room_servers_changed(room);
	}
	char *content = s == MXDB_OK ? eng_dumps(win->content) : NULL;
	if (s == MXDB_OK && (content == NULL ||
	                     eng_change_add(req, room, win, prev_id, content, seq, (uint64_t)pos) != MXDB_OK))
		s = mx_fail(err, MXDB_ENOMEM, "change");
	free(content);
	if (s == MXDB_OK) {
		db->next_seq++;
		room->room_seq++;
	}
	return s;
}

/* Makes `to` the room's current state, coming from `from` (what cur_state
 * holds now): cur_state rows, memberships, change records (cause merge: the
 * winners changed by state resolution), and a state group for it as a
 * delta from group parent_sg (holding parent). */
static mxdb_status apply_current(wctx *c, eng_req *req, eng_room *room, const mx_map *from,
                                 const mx_map *to, int64_t parent_sg, const mx_map *parent,
                                 mxdb_error *err)
{
	store_conn *w = c->w;
	size_t it = 0, kl;
	const char *k;
	void *v;
	mxdb_status s = MXDB_OK;
	mxdb_cause saved = req->cause;
	while (s == MXDB_OK && map_next(to, &it, &k, &kl, &v)) {
		const char *was = map_get(from, k, kl);
		if (was != NULL && strcmp(was, v) == 0)
			continue;
		const ev_t *win = w_get(c, v);
		int64_t pos;
		eng_row row;
		if (win == NULL)
			return mx_fail(err, MXDB_EINTERNAL, "winner %s not found", (const char *)v);
		if ((s = fed_event_pos(w, v, &pos, NULL, err)) != MXDB_OK ||
		    (s = key_row(c->db, room, win->type, win->state_key, pos, &row, err)) != MXDB_OK)
			return s;
		sqlite3_stmt *st = store_stmt(w, SQL_SET_CUR, err);
		if (st == NULL) {
			free(row.event_id);
			return MXDB_EIO;
		}
		sqlite3_bind_int64(st, 1, pos);
		sqlite3_bind_int64(st, 2, row.key_nid);
		s = step(w, st, "current state", err);
		req->cause = MXDB_CAUSE_MERGE;
		if (s == MXDB_OK)
			s = fed_row_changed(c->db, req, room, win, pos, row.pos, row.event_id, err);
		free(row.event_id);
	}
	req->cause = saved;
	int64_t sg;
	if (s == MXDB_OK)
		s = add_group(c, room, parent_sg, parent, to, &sg, err);
	sqlite3_stmt *st;
	if (s == MXDB_OK && (st = store_stmt(w, SQL_ROOM_SG, err)) != NULL) {
		sqlite3_bind_int64(st, 1, room->nid);
		sqlite3_bind_int64(st, 2, (int64_t)c->db->next_pos - 1);
		sqlite3_bind_int64(st, 3, sg);
		s = step(w, st, "room state group", err);
	} else if (s == MXDB_OK) {
		s = MXDB_EIO;
	}
	return s;
}

/* Rewrites the room's extremities to ids[0..n). */
static mxdb_status set_extremities(store_conn *w, eng_room *room, char *const *ids, size_t n,
                                   mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(w, SQL_DEL_EXTREMS, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, room->nid);
	mxdb_status s = step(w, st, "extremities", err);
	for (size_t i = 0; s == MXDB_OK && i < n; i++) {
		if ((st = store_stmt(w, SQL_ADD_EXTREM, err)) == NULL)
			return MXDB_EIO;
		sqlite3_bind_int64(st, 1, room->nid);
		sqlite3_bind_text(st, 2, ids[i], -1, SQLITE_STATIC);
		s = step(w, st, "extremities", err);
	}
	return s;
}

/* Drops the writer's cached room: the next use reloads it from the tables
 * (extremities, current group, room_seq) that a merge rewrote. */
static void forget_room(mxdb *db, eng_room *room)
{
	eng_room_free(map_del(db->rooms, room->room_id, strlen(room->room_id)));
}

static bool is_extremity(const eng_room *room, const char *id)
{
	for (size_t i = 0; i < room->n_extrem; i++)
		if (strcmp(room->extrem[i], id) == 0)
			return true;
	return false;
}

/* Stores ev aside, so that events citing it still fit in the graph: its
 * state is the state before it (room->sg on the fast path, else `before`),
 * it is no forward extremity and changes no row. rejected: it failed the
 * auth rules, and fed_rejected marks it for every later auth check; else it
 * is a late event (its descendants are here already: place_late). Takes ev. */
static mxdb_status persist_aside(wctx *c, eng_req *req, eng_room *room, ev_t *ev,
                                 const mx_map *before, bool rejected, mxdb_error *err)
{
	mxdb *db = c->db;
	char id[EV_ID_SIZE];
	snprintf(id, sizeof(id), "%s", ev->event_id);
	int64_t cur_sg = room->sg, prev_sg = 0, pos, bsg;
	size_t n_ext = room->n_extrem;
	char **ext = calloc(n_ext + 1, sizeof(*ext));
	mxdb_status s = ext ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "extremities");
	for (size_t i = 0; s == MXDB_OK && i < n_ext; i++)
		if ((ext[i] = strdup(room->extrem[i])) == NULL)
			s = mx_fail(err, MXDB_ENOMEM, "extremities");
	mx_map *prev0 = NULL;
	if (s == MXDB_OK && before != NULL) {
		if ((s = fed_event_pos(c->w, ev->prev_events[0], &pos, &prev_sg, err)) == MXDB_OK &&
		    (s = load_state(c, prev_sg, &prev0, err)) == MXDB_OK &&
		    (s = add_group(c, room, prev_sg, prev0, before, &bsg, err)) == MXDB_OK) {
			room->sg = bsg;
			room->sg_depth = -1;
		}
	}
	if (s == MXDB_OK) {
		req->rejected = rejected;
		req->detached = !rejected;
		req->cause = MXDB_CAUSE_REMOTE;
		s = eng_persist(db, req, room, ev, NULL, NULL, NULL, err);
		req->rejected = req->detached = false;
	} else {
		ev_free(ev);
	}
	/* eng_persist made it the only extremity at its group: undo both. */
	if (s == MXDB_OK)
		s = set_extremities(c->w, room, ext, n_ext, err);
	sqlite3_stmt *st;
	if (s == MXDB_OK && (st = store_stmt(c->w, SQL_ROOM_SG, err)) != NULL) {
		sqlite3_bind_int64(st, 1, room->nid);
		sqlite3_bind_int64(st, 2, (int64_t)db->next_pos - 1);
		sqlite3_bind_int64(st, 3, cur_sg);
		s = step(c->w, st, "room state group", err);
	}
	if (s == MXDB_OK && rejected && (st = store_stmt(c->w, SQL_ADD_REJECTED, err)) != NULL) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		s = step(c->w, st, "rejected", err);
	}
	if (s == MXDB_OK && !rejected)
		s = fed_outlier_arrived(c->w, id, err);
	forget_room(db, room);
	for (size_t i = 0; ext && i < n_ext; i++)
		free(ext[i]);
	free(ext);
	if (prev0)
		map_free(prev0, free);
	return s;
}

/* An event whose descendants are here already (fed_outlier.h): an outlier
 * now arriving with its prev events gets its state group, a missing prev
 * event of them is stored aside. Neither changes the forward extremities
 * or current state: the state of the descendants has them already. Takes ev. */
static mxdb_status place_late(wctx *c, eng_req *req, eng_room *room, ev_t *ev,
                              const mx_map *before, bool rejected, bool outlier, mxdb_error *err)
{
	/* The extremities it cites are none any more (it is their child); it
	 * is none itself unless it cites them all. */
	char room_id[EV_MAX_ID + 1];
	snprintf(room_id, sizeof(room_id), "%s", room->room_id);
	char **keep = calloc(room->n_extrem + 1, sizeof(*keep));
	size_t n_keep = 0;
	mxdb_status s = keep ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "extremities");
	for (size_t i = 0; s == MXDB_OK && i < room->n_extrem; i++) {
		bool cited = false;
		for (size_t j = 0; j < ev->n_prev && !cited; j++)
			cited = strcmp(ev->prev_events[j], room->extrem[i]) == 0;
		if (!cited && (keep[n_keep++] = strdup(room->extrem[i])) == NULL)
			s = mx_fail(err, MXDB_ENOMEM, "extremities");
	}
	bool changed = n_keep != room->n_extrem;
	if (s == MXDB_OK && n_keep == 0 && (keep[n_keep++] = strdup(ev->event_id)) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "extremities");
	mx_map *prev0 = NULL, *after = NULL;
	int64_t pos, prev_sg = 0, sg;
	if (s != MXDB_OK) {
		ev_free(ev);
		ev = NULL;
	} else if (!outlier) {
		s = persist_aside(c, req, room, ev, before, rejected, err);
	} else if ((after = fed_state_copy(before)) == NULL) {
		s = mx_fail(err, MXDB_ENOMEM, "state");
	}
	/* As eng_persist groups them: the state before it, and for an accepted
	 * state event a group on top holding it. */
	bool on_top = outlier && !rejected && ev_is_state(ev);
	if (s == MXDB_OK && outlier &&
	    (s = fed_event_pos(c->w, ev->prev_events[0], &pos, &prev_sg, err)) == MXDB_OK &&
	    (s = load_state(c, prev_sg, &prev0, err)) == MXDB_OK)
		s = add_group(c, room, prev_sg, prev0, before, &sg, err);
	if (s == MXDB_OK && on_top && (s = fed_state_apply(after, ev, err)) == MXDB_OK)
		s = add_group(c, room, sg, before, after, &sg, err);
	if (s == MXDB_OK && outlier)
		s = fed_outlier_promote(c->w, room, ev, sg, rejected, err);
	if (outlier)
		ev_free(ev);
	/* persist_aside dropped the cached room: look it up again. */
	if (s == MXDB_OK && changed && (s = eng_room_get(c->db, room_id, &room, err)) == MXDB_OK) {
		s = set_extremities(c->w, room, keep, n_keep, err);
		forget_room(c->db, room);
	}
	for (size_t i = 0; keep && i < n_keep; i++)
		free(keep[i]);
	free(keep);
	mx_map *maps[] = {prev0, after};
	for (size_t i = 0; i < 2; i++)
		if (maps[i])
			map_free(maps[i], free);
	return s;
}

/* An event that does not extend exactly the current extremities: state
 * before it from its prev events, then the room's new current state from
 * all extremities, and every changed row recorded. Takes ev. */
static mxdb_status ingest_fork(wctx *c, eng_req *req, eng_room *room, ev_t *ev,
                               mx_map *before, fed_result *out, mxdb_error *err)
{
	mxdb *db = c->db;
	mx_map *cur = NULL, *after = NULL, *merged = NULL, *prev0 = NULL;
	char **ext = NULL;
	size_t n_ext = 0;
	char *id = strdup(ev->event_id);
	mxdb_status s = id ? load_state(c, room->sg, &cur, err) : mx_fail(err, MXDB_ENOMEM, "id");
	/* The group of the state before ev, so eng_persist adds ev on top. */
	int64_t prev_sg = 0, pos, before_sg;
	if (s == MXDB_OK)
		s = fed_event_pos(c->w, ev->prev_events[0], &pos, &prev_sg, err);
	if (s == MXDB_OK)
		s = load_state(c, prev_sg, &prev0, err);
	if (s == MXDB_OK)
		s = add_group(c, room, prev_sg, prev0, before, &before_sg, err);
	if (s == MXDB_OK && (after = fed_state_copy(before)) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "state");
	if (s == MXDB_OK)
		s = fed_state_apply(after, ev, err);
	/* New extremities: the old ones ev does not cite, and ev. */
	if (s == MXDB_OK && (ext = calloc(room->n_extrem + 1, sizeof(*ext))) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "extremities");
	for (size_t i = 0; s == MXDB_OK && i < room->n_extrem; i++) {
		bool cited = false;
		for (size_t j = 0; j < ev->n_prev; j++)
			cited = cited || strcmp(ev->prev_events[j], room->extrem[i]) == 0;
		/* Copies: eng_persist below replaces room->extrem. */
		if (!cited && (ext[n_ext++] = strdup(room->extrem[i])) == NULL)
			s = mx_fail(err, MXDB_ENOMEM, "extremities");
	}
	/* State resolution looks ev up too: a copy joins the cache. */
	ev_t *copy = NULL;
	if (s == MXDB_OK && (s = ev_from_json(ev->json, ev->event_id, c->rv, &copy, err)) == MXDB_OK &&
	    map_put(c->cache, id, strlen(id), copy, NULL) != 0) {
		ev_free(copy);
		s = mx_fail(err, MXDB_ENOMEM, "event cache");
	}
	if (s == MXDB_OK) {
		ext[n_ext++] = id;
		s = resolve_at(c, ext, n_ext, id, after, &merged, err);
	}
	if (s == MXDB_OK) {
		room->sg = before_sg;
		room->sg_depth = -1;
		/* eng_persist gives ev the group before + ev. When ev wins its row
		 * in the merged state it also moves the row (a winner changed by a
		 * merge: cause merge); when it loses, the row stays (detached). */
		bool wins = false;
		if (ev_is_state(ev)) {
			char key[2 * EV_MAX_ID + 8];
			size_t kl = map_state_key(key, sizeof(key), ev->type, ev->state_key);
			const char *w = kl ? map_get(merged, key, kl) : NULL;
			wins = w != NULL && strcmp(w, id) == 0;
		}
		if (wins)
			s = fed_state_apply(cur, ev, err);
		req->cause = MXDB_CAUSE_MERGE;
		req->detached = !wins;
		if (s == MXDB_OK)
			s = eng_persist(db, req, room, ev, NULL, NULL, NULL, err);
		else
			ev_free(ev);
		req->detached = false;
		ev = NULL;
	}
	/* eng_persist left the room at ev's group with ev as only extremity;
	 * put back the real extremities and current state. */
	if (s == MXDB_OK)
		s = set_extremities(c->w, room, ext, n_ext, err);
	if (s == MXDB_OK)
		s = apply_current(c, req, room, cur, merged, room->sg, after, err);
	if (s == MXDB_OK)
		snprintf(out->why, sizeof(out->why), "merged (%zu extremities)", n_ext);
	forget_room(db, room);
	ev_free(ev);
	for (size_t i = 0; ext && i < n_ext; i++)
		if (ext[i] != id) /* id is freed below */
			free(ext[i]);
	free(ext);
	free(id);
	mx_map *maps[] = {cur, after, merged, prev0};
	for (size_t i = 0; i < 4; i++)
		if (maps[i])
			map_free(maps[i], free);
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
static mxdb_status bound_extremities(mxdb *db, eng_req *req, const char *room_id, mxdb_error *err)
{
	eng_room *room;
	if (eng_room_get(db, room_id, &room, NULL) != MXDB_OK || room->n_extrem <= FED_MAX_EXTREMITIES)
		return MXDB_OK;
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
	mxdb_status s = content ? eng_emit(db, req, room, &spec, NULL, NULL, err)
	                        : mx_fail(err, MXDB_ENOMEM, "merge event");
	req->cause = saved;
	json_decref(content);
	free(user);
	return s;
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
	mx_map *before = NULL;
	auth_state as;
	cur_ctx cc = {room, &c};
	fed_map_ctx mc;
	if (fast) {
		as = (auth_state){.get = cur_get, .event = cur_event, .ctx = &cc};
	} else {
		s = resolve_at(&c, (char *const *)ev->prev_events, ev->n_prev, NULL, NULL, &before, err);
		if (s == MXDB_OK)
			fed_map_auth_state(&mc, before, &c.lookup, &as);
	}
	if (s == MXDB_OK && (out->status = fed_authorize(ev, &as, &c.lookup, &why)) != MXDB_OK) {
		snprintf(out->why, sizeof(out->why), "%s", why.message);
		s = outlier ? place_late(&c, req, room, ev, before, true, true, err)
		            : persist_aside(&c, req, room, ev, fast ? NULL : before, true, err);
	} else if (s == MXDB_OK && (outlier || late)) {
		s = place_late(&c, req, room, ev, before, false, outlier, err);
	} else if (s == MXDB_OK && fast) {
		req->cause = MXDB_CAUSE_REMOTE;
		s = eng_persist(db, req, room, ev, NULL, NULL, NULL, err);
	} else if (s == MXDB_OK) {
		char room_id[EV_MAX_ID + 1];
		snprintf(room_id, sizeof(room_id), "%s", room->room_id);
		s = ingest_fork(&c, req, room, ev, before, out, err);
		if (s == MXDB_OK)
			s = bound_extremities(db, req, room_id, err);
	} else {
		ev_free(ev);
	}
	req->cause = MXDB_CAUSE_LOCAL;
	if (before)
		map_free(before, free);
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

