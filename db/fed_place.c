/*
 * fed_place.c: where a remote event goes in the graph and what it changes,
 * on the writer thread: a fork event stored over the state before it
 * (merged later, fed_merge.c), an event stored aside (rejected, or late:
 * its descendants are here already), an outlier arriving with its prev
 * events; the extremities and current group they leave, and a row's new
 * winner recorded (fed_row_changed). Also the state maps of the gap paths
 * (a prev event's state given as a map), which cost the size of the state.
 * Never decides which path an event takes (fed_room.c).
 */
#include <stdlib.h>
#include <string.h>

#include "fed_merge.h"
#include "fed_outlier.h"
#include "fed_room_int.h"
#include "fed_state.h"

static const char SQL_ADD_REJECTED[] = "INSERT OR IGNORE INTO fed_rejected(event_id) VALUES (?)";
static const char SQL_KEY_EV[] =
	"SELECT c.type, c.state_key, e.event_id FROM cur_state c, events e WHERE c.nid = ? AND e.pos = ?";

/* ---- states as maps, for the gap paths ---- */

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

/* ---- storing events and what they change ---- */

static const char SQL_DEL_EXTREMS[] = "DELETE FROM extremities WHERE room_nid = ?";
static const char SQL_ADD_EXTREM[] = "INSERT OR IGNORE INTO extremities(room_nid, event_id) VALUES (?, ?)";
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
		if (s == MXDB_OK && (s = fed_key_row(c->db, room, type, sk, pos, &row, err)) == MXDB_OK)
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

/* The room's current group, valid while pos is its newest event. */
static mxdb_status set_room_sg(store_conn *w, eng_room *room, int64_t pos, int64_t sg,
                               mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(w, SQL_ROOM_SG, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, room->nid);
	sqlite3_bind_int64(st, 2, pos);
	sqlite3_bind_int64(st, 3, sg);
	return step(w, st, "room state group", err);
}

/* Drops the writer's cached room: the next use reloads it from the tables
 * (extremities, current group, room_seq) that a merge rewrote. */
void fed_forget_room(mxdb *db, eng_room *room)
{
	eng_room_free(map_del(db->rooms, room->room_id, strlen(room->room_id)));
}

/* eng_persist of ev over group before_sg (rejected: as a rejected event,
 * else detached), then the room keeps extremities ext[0..n) and its
 * current group, which eng_persist had moved to ev. Takes ev. */
static mxdb_status persist_off(wctx *c, eng_req *req, eng_room *room, ev_t *ev, int64_t before_sg,
                               bool rejected, mxdb_cause cause, char *const *ext, size_t n_ext,
                               mxdb_error *err)
{
	int64_t cur_sg = room->sg;
	room->sg = before_sg;
	room->sg_depth = -1;
	req->rejected = rejected;
	req->detached = !rejected;
	req->cause = cause;
	mxdb_status s = eng_persist(c->db, req, room, ev, NULL, NULL, NULL, err);
	req->rejected = req->detached = false;
	if (s == MXDB_OK)
		s = set_extremities(c->w, room, ext, n_ext, err);
	if (s == MXDB_OK)
		s = set_room_sg(c->w, room, (int64_t)c->db->next_pos - 1, cur_sg, err);
	return s;
}

/* Stores ev aside, so that events citing it still fit in the graph: its
 * state is the state before it (group before_sg),
 * it is no forward extremity and changes no row. rejected: it failed the
 * auth rules, and fed_rejected marks it for every later auth check; else it
 * is a late event (its descendants are here already: place_late). Takes ev. */
mxdb_status fed_persist_aside(wctx *c, eng_req *req, eng_room *room, ev_t *ev,
                                 int64_t before_sg, bool rejected, mxdb_error *err)
{
	mxdb *db = c->db;
	char id[EV_ID_SIZE];
	snprintf(id, sizeof(id), "%s", ev->event_id);
	size_t n_ext = room->n_extrem;
	char **ext = calloc(n_ext + 1, sizeof(*ext));
	mxdb_status s = ext ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "extremities");
	for (size_t i = 0; s == MXDB_OK && i < n_ext; i++)
		if ((ext[i] = strdup(room->extrem[i])) == NULL)
			s = mx_fail(err, MXDB_ENOMEM, "extremities");
	if (s == MXDB_OK)
		s = persist_off(c, req, room, ev, before_sg, rejected, MXDB_CAUSE_REMOTE, ext, n_ext, err);
	else
		ev_free(ev);
	sqlite3_stmt *st;
	if (s == MXDB_OK && rejected && (st = store_stmt(c->w, SQL_ADD_REJECTED, err)) != NULL) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		s = step(c->w, st, "rejected", err);
	}
	if (s == MXDB_OK && !rejected)
		s = fed_outlier_arrived(c->w, id, err);
	fed_forget_room(db, room);
	for (size_t i = 0; ext && i < n_ext; i++)
		free(ext[i]);
	free(ext);
	return s;
}

/* An event whose descendants are here already (fed_outlier.h): an outlier
 * now arriving with its prev events gets its state group, a missing prev
 * event of them is stored aside. Neither is a forward extremity nor
 * changes a row itself: the state of the descendants has them already;
 * the extremities they cite stop being ones, and the room then owes a
 * merge over those left. Takes ev. */
mxdb_status fed_place_late(wctx *c, eng_req *req, eng_room *room, ev_t *ev, int64_t before_sg,
                              bool rejected, bool outlier, mxdb_error *err)
{
	/* The extremities it cites are none any more (it is their child); it
	 * is none itself unless it cites them all. */
	char room_id[EV_MAX_ID + 1];
	snprintf(room_id, sizeof(room_id), "%s", room->room_id);
	int64_t cur_sg = room->sg;
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
	mx_map *before = NULL, *after = NULL;
	int64_t sg = before_sg;
	if (s != MXDB_OK) {
		ev_free(ev);
		ev = NULL;
	} else if (!outlier) {
		s = fed_persist_aside(c, req, room, ev, before_sg, rejected, err);
	}
	/* As eng_persist groups them: the state before it, and for an accepted
	 * state event a group on top holding it. */
	bool on_top = s == MXDB_OK && outlier && !rejected && ev_is_state(ev);
	if (on_top && (s = load_state(c, before_sg, &before, err)) == MXDB_OK &&
	    (after = fed_state_copy(before)) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "state");
	if (on_top && s == MXDB_OK && (s = fed_state_apply(after, ev, err)) == MXDB_OK)
		s = add_group(c, room, before_sg, before, after, &sg, err);
	if (s == MXDB_OK && outlier)
		s = fed_outlier_promote(c->w, room, ev, sg, rejected, err);
	if (outlier)
		ev_free(ev);
	/* persist_aside dropped the cached room: look it up again. */
	if (s == MXDB_OK && changed && (s = eng_room_get(c->db, room_id, &room, err)) == MXDB_OK) {
		s = set_extremities(c->w, room, keep, n_keep, err);
		fed_forget_room(c->db, room);
	}
	/* The current state resolved the dropped extremities too (one kept
	 * beside an event placed over a gap): it becomes the resolution of
	 * those left, at the batch's merge, or our next events would build on
	 * a state no other server has. */
	size_t rl = strlen(room_id);
	if (s == MXDB_OK && changed && !map_has(c->pending, room_id, rl) &&
	    map_put(c->pending, room_id, rl, (void *)(intptr_t)cur_sg, NULL) != 0)
		s = mx_fail(err, MXDB_ENOMEM, "pending merge");
	for (size_t i = 0; keep && i < n_keep; i++)
		free(keep[i]);
	free(keep);
	mx_map *maps[] = {before, after};
	for (size_t i = 0; i < 2; i++)
		if (maps[i])
			map_free(maps[i], free);
	return s;
}

/* An event that does not extend exactly the current extremities, stored
 * over the state before it (group before_sg); the room's current state
 * stays until the batch's merge (flush_merge): one merge for a batch of
 * fork events, whose states in between no reader could see. Takes ev. */
mxdb_status fed_ingest_fork(wctx *c, eng_req *req, eng_room *room, ev_t *ev, int64_t before_sg,
                               fed_result *out, mxdb_error *err)
{
	mxdb *db = c->db;
	char **ext = NULL;
	size_t n_ext = 0;
	int64_t cur_sg = room->sg;
	char *id = strdup(ev->event_id);
	mxdb_status s = id ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "id");
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
	if (s == MXDB_OK)
		ext[n_ext++] = id;
	/* ev gets the group before + ev; its row moves (cause merge) only if
	 * the room's merge makes it the winner: the room owes one. */
	if (s == MXDB_OK)
		s = persist_off(c, req, room, ev, before_sg, false, MXDB_CAUSE_MERGE, ext, n_ext, err);
	else
		ev_free(ev);
	size_t rl = strlen(room->room_id);
	if (s == MXDB_OK && !map_has(c->pending, room->room_id, rl) &&
	    map_put(c->pending, room->room_id, rl, (void *)(intptr_t)cur_sg, NULL) != 0)
		s = mx_fail(err, MXDB_ENOMEM, "pending merge");
	if (s == MXDB_OK)
		snprintf(out->why, sizeof(out->why), "merged (%zu extremities)", n_ext);
	fed_forget_room(db, room);
	for (size_t i = 0; ext && i < n_ext; i++)
		if (ext[i] != id) /* id is freed below */
			free(ext[i]);
	free(ext);
	free(id);
	return s;
}

/* The state before ev as a group when a prev event's state is only given
 * as a map: the prev events' states resolved whole, stored as a delta from
 * the first prev event's group (none when it is not stored). A gap's rare
 * path, costing the size of the state. */
mxdb_status fed_before_from_maps(wctx *c, eng_room *room, const ev_t *ev, int64_t *sg,
                                    mxdb_error *err)
{
	mx_map *before = NULL, *prev0 = NULL;
	int64_t pos, prev_sg = 0;
	mxdb_status s = resolve_at(c, (char *const *)ev->prev_events, ev->n_prev, NULL, NULL, &before, err);
	if (s == MXDB_OK && (s = fed_event_pos(c->w, ev->prev_events[0], &pos, &prev_sg, err)) == MXDB_OK &&
	    (s = load_state(c, prev_sg, &prev0, err)) == MXDB_OK)
		s = add_group(c, room, prev_sg, prev0, before, sg, err);
	if (before)
		map_free(before, free);
	if (prev0)
		map_free(prev0, free);
	return s;
}

