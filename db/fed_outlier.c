/*
 * fed_outlier.c: the outliers of a gap (fed_outlier.h): storing them,
 * turning the state a remote server gave for a missing prev event into a
 * state map, the backward extremities, and an outlier's promotion. Writes
 * the events row, its edges and groups once promoted, the rejected mark,
 * fed_backward and the room's current group (kept in force); never current
 * state, extremities or change records.
 */
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "fed_outlier.h"
#include "fed_state.h"

static const char SQL_REJECTED[] = "INSERT OR IGNORE INTO fed_rejected(event_id) VALUES (?)";
static const char SQL_IS_BACKWARD[] = "SELECT 1 FROM fed_backward WHERE event_id = ?";
static const char SQL_ADD_BACKWARD[] = "INSERT OR IGNORE INTO fed_backward(event_id) VALUES (?)";
static const char SQL_DEL_BACKWARD[] = "DELETE FROM fed_backward WHERE event_id = ?";
static const char SQL_SET_SG[] = "UPDATE events SET sg = ?, outlier = 0 WHERE event_id = ?";
static const char SQL_EDGE[] = "INSERT OR IGNORE INTO event_edges(prev_id, pos) VALUES (?, ?)";
static const char SQL_POS[] = "SELECT pos FROM events WHERE event_id = ?";
/* The room's current group, valid at its newest placed event (room_write.c
 * SQL_LAST_SG): a promoted outlier may be that newest one. */
static const char SQL_PIN[] =
	"INSERT OR REPLACE INTO fed_room_sg(room_nid, pos, sg) SELECT ?1, max(pos), ?2 FROM events"
	" WHERE room_nid = ?1 AND NOT outlier";

static mxdb_status step(store_conn *w, sqlite3_stmt *st, const char *what, mxdb_error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, what);
}

/* Runs sql (one text parameter) on the writer. */
static mxdb_status run1(store_conn *w, const char *sql, const char *arg, const char *what,
                        mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(w, sql, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	return step(w, st, what, err);
}

mxdb_status fed_outlier_is_backward(store_conn *w, const char *event_id, bool *yes, mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(w, SQL_IS_BACKWARD, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	*yes = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "backward extremity");
}

mxdb_status fed_outlier_arrived(store_conn *w, const char *event_id, mxdb_error *err)
{
	return run1(w, SQL_DEL_BACKWARD, event_id, "backward extremity", err);
}

/* Each of ids[0..n) not placed becomes a backward extremity. */
static mxdb_status mark_backward(store_conn *w, const char *const *ids, size_t n, mxdb_error *err)
{
	mxdb_status s = MXDB_OK;
	for (size_t i = 0; s == MXDB_OK && i < n; i++) {
		int64_t pos = 0, sg = 0;
		if ((s = fed_event_pos(w, ids[i], &pos, &sg, err)) == MXDB_OK && sg == 0)
			s = run1(w, SQL_ADD_BACKWARD, ids[i], "backward extremity", err);
	}
	return s;
}

mxdb_status fed_outlier_promote(store_conn *w, const eng_room *room, const ev_t *ev, int64_t sg,
                                bool rejected, mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(w, SQL_SET_SG, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, sg);
	sqlite3_bind_text(st, 2, ev->event_id, -1, SQLITE_STATIC);
	mxdb_status s = step(w, st, "outlier", err);
	int64_t pos = 0;
	if (s == MXDB_OK && (st = store_stmt(w, SQL_POS, err)) != NULL) {
		sqlite3_bind_text(st, 1, ev->event_id, -1, SQLITE_STATIC);
		pos = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
	}
	for (size_t i = 0; s == MXDB_OK && pos != 0 && i < ev->n_prev; i++) {
		if ((st = store_stmt(w, SQL_EDGE, err)) == NULL)
			return MXDB_EIO;
		sqlite3_bind_text(st, 1, ev->prev_events[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, pos);
		s = step(w, st, "edge", err);
	}
	if (s == MXDB_OK && rejected)
		s = run1(w, SQL_REJECTED, ev->event_id, "rejected", err);
	if (s == MXDB_OK && (st = store_stmt(w, SQL_PIN, err)) != NULL) {
		sqlite3_bind_int64(st, 1, room->nid);
		sqlite3_bind_int64(st, 2, room->sg);
		s = step(w, st, "room state group", err);
	} else if (s == MXDB_OK) {
		s = MXDB_EIO;
	}
	return s == MXDB_OK ? fed_outlier_arrived(w, ev->event_id, err) : s;
}

mxdb_status fed_outlier_insert(mxdb *db, eng_room *room, const ev_t *ev, mxdb_error *err)
{
	static const char *const no_content[] = {"content", NULL};
	cj_buf skel = {0};
	char *content = eng_dumps(ev->content);
	mxdb_status s = content ? cj_dump_buf_without(ev->json, no_content, &skel, err)
	                        : mx_fail(err, MXDB_ENOMEM, "content");
	if (s == MXDB_OK &&
	    (s = eng_insert_event(&db->st->writer, (int64_t)db->next_pos, room->nid, ev, 0, NULL, content,
	                          &skel, err)) == MXDB_OK)
		db->next_pos++;
	free(content);
	cj_buf_free(&skel);
	return s;
}

mxdb_status fed_outlier_store(mxdb *db, eng_room *room, const sr_lookup *lookup, ev_t *ev,
                              char *why, size_t cap, mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	int64_t pos = 0;
	mxdb_status s = fed_event_pos(w, ev->event_id, &pos, NULL, err);
	for (size_t i = 0; s == MXDB_OK && pos == 0 && i < ev->n_auth; i++)
		if (lookup->get(lookup->ctx, ev->auth_events[i]) == NULL) {
			snprintf(why, cap, "auth event %s of outlier %s is missing", ev->auth_events[i],
			         ev->event_id);
			pos = -1;
		}
	if (s != MXDB_OK || pos != 0) {
		ev_free(ev);
		return s;
	}
	/* One failing the rules is kept, rejected: the graph stays whole. */
	bool rejected = fed_authorize(ev, NULL, lookup, NULL) != MXDB_OK;
	s = fed_outlier_insert(db, room, ev, err);
	if (s == MXDB_OK && rejected)
		s = run1(w, SQL_REJECTED, ev->event_id, "rejected", err);
	if (s == MXDB_OK)
		s = mark_backward(w, ev->prev_events, ev->n_prev, err);
	ev_free(ev);
	return s;
}

mxdb_status fed_outlier_state(const sr_lookup *lookup, const json_t *ids, const char *prev_id,
                              mx_map **out, mxdb_error *err)
{
	mx_map *m = map_new(64);
	mxdb_status s = m ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "state");
	size_t n = json_array_size(ids);
	/* prev_id last: the state after it has it in its own key. */
	for (size_t i = 0; s == MXDB_OK && i <= n; i++) {
		const char *id = i < n ? json_string_value(json_array_get(ids, i)) : prev_id;
		const ev_t *ev = id ? lookup->get(lookup->ctx, id) : NULL;
		if (ev == NULL) {
			if (i < n)
				s = mx_fail(err, MXDB_ENOTFOUND, "state event %s is not here", id ? id : "?");
			continue;
		}
		if (ev->state_key == NULL || ev->rejected)
			continue;
		char key[2 * EV_MAX_ID + 8];
		size_t kl = map_state_key(key, sizeof(key), ev->type, ev->state_key);
		char *v = strdup(id);
		void *old = NULL;
		if (kl == 0 || v == NULL || map_put(m, key, kl, v, &old) != 0) {
			free(v);
			s = mx_fail(err, MXDB_ENOMEM, "state");
		}
		free(old);
	}
	if (s != MXDB_OK) {
		if (m)
			map_free(m, free);
		return s;
	}
	*out = m;
	return MXDB_OK;
}

mxdb_status fed_outlier_take(mxdb *db, const sr_lookup *lookup, const mx_room_version **rv,
                             fed_gap_fill *fill, mx_map *given, mxdb_error *err)
{
	mxdb_status s = MXDB_OK;
	eng_room *room = NULL;
	for (size_t i = 0; i < fill->n_outliers; i++) {
		ev_t *ev = fill->outliers[i];
		fill->outliers[i] = NULL;
		char why[320] = "";
		if (s == MXDB_OK && ev->room_id != NULL && eng_room_get(db, ev->room_id, &room, NULL) == MXDB_OK) {
			*rv = room->rv;
			s = fed_outlier_store(db, room, lookup, ev, why, sizeof(why), err);
			fill->n_dropped += why[0] != '\0';
		} else {
			fill->n_dropped++;
			ev_free(ev);
		}
	}
	const char *prev_id;
	json_t *ids;
	json_object_foreach(fill->states, prev_id, ids) {
		mx_map *state = NULL;
		if (s == MXDB_OK)
			s = mark_backward(&db->st->writer, &prev_id, 1, err);
		if (s == MXDB_OK && fed_outlier_state(lookup, ids, prev_id, &state, NULL) == MXDB_OK &&
		    map_put(given, prev_id, strlen(prev_id), state, NULL) != 0) {
			map_free(state, free);
			s = mx_fail(err, MXDB_ENOMEM, "state");
		}
	}
	return s;
}
