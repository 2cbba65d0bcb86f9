/*
 * room_stream.c: the event stream for /sync and /messages (events since a
 * stream position, a room's timeline either way), and memberships (a
 * user's rooms with invite state, a room's members). Reader connections
 * only; never writes.
 */
#include <stdlib.h>
#include <string.h>

#include "room_read.h"

mxdb_status rd_event_row(sqlite3_stmt *st, int col, mxdb_event *ev, mxdb_error *err)
{
	memset(ev, 0, sizeof(*ev));
	json_t *j = rd_client_event(st, col);
	ev->pos = (uint64_t)sqlite3_column_int64(st, col);
	ev->room_id = store_col_str(st, col + 1);
	ev->event_id = store_col_str(st, col + 2);
	ev->type = store_col_str(st, col + 3);
	ev->state_key = store_col_str(st, col + 4);
	ev->sender = store_col_str(st, col + 5);
	ev->ts = sqlite3_column_int64(st, col + 6);
	ev->txn_id = store_col_str(st, col + 10);
	ev->json = eng_dumps(j);
	json_decref(j);
	return ev->json && ev->room_id && ev->event_id ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "event");
}

void rd_event_free(mxdb_event *e)
{
	free(e->room_id);
	free(e->event_id);
	free(e->type);
	free(e->state_key);
	free(e->sender);
	free(e->txn_id);
	free(e->json);
}

void mxdb_events_free(mxdb_events *evs)
{
	if (evs == NULL)
		return;
	for (size_t i = 0; i < evs->n; i++)
		rd_event_free(&evs->ev[i]);
	free(evs->ev);
	evs->ev = NULL;
	evs->n = 0;
}

static mxdb_status collect(store_conn *c, sqlite3_stmt *st, size_t limit, mxdb_events *out,
                           mxdb_error *err)
{
	mxdb_status s = MXDB_OK;
	int rc;
	if ((out->ev = calloc(limit ? limit : 1, sizeof(mxdb_event))) == NULL) {
		sqlite3_reset(st);
		return mx_fail(err, MXDB_ENOMEM, "events");
	}
	while (out->n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((s = rd_event_row(st, 0, &out->ev[out->n], err)) != MXDB_OK) {
			rd_event_free(&out->ev[out->n]);
			break;
		}
		out->n++;
	}
	if (s == MXDB_OK && out->n < limit && rc != SQLITE_DONE)
		s = store_fail(c, err, "events");
	sqlite3_reset(st);
	if (s != MXDB_OK)
		mxdb_events_free(out);
	return s;
}

/* ?2: JSON array of room IDs or NULL; ?3: user ID or NULL. */
static const char SQL_SINCE[] =
	"SELECT " RD_EVENT_COLS " FROM events e JOIN rooms r ON r.nid = e.room_nid WHERE e.pos > ?1"
	" AND (?2 IS NULL OR r.room_id IN (SELECT value FROM json_each(?2)))"
	" AND (?3 IS NULL OR e.room_nid IN (SELECT room_nid FROM memberships"
	"      WHERE user_id = ?3 AND membership = 'join')"
	"      OR (e.type = 'm.room.member' AND e.state_key = ?3))" RD_IN_TIMELINE
	" ORDER BY e.pos LIMIT ?4";

mxdb_status mxdb_events_since(mxdb *db, uint64_t since, const char *const *rooms, size_t n_rooms,
                              const char *user_id, size_t limit, mxdb_events *out,
                              mxdb_error *err)
{
	memset(out, 0, sizeof(*out));
	if (limit == 0)
		limit = 100;
	char *list = NULL;
	if (rooms != NULL) {
		json_t *a = json_array();
		for (size_t i = 0; i < n_rooms; i++)
			json_array_append_new(a, json_string(rooms[i] ? rooms[i] : ""));
		list = eng_dumps(a);
		json_decref(a);
		if (list == NULL)
			return mx_fail(err, MXDB_EINVAL, "bad room list");
	}
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_SINCE, err);
	mxdb_status s = MXDB_EIO;
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, (int64_t)since);
		if (list != NULL)
			sqlite3_bind_text(st, 2, list, -1, SQLITE_STATIC);
		else if (user_id != NULL)
			sqlite3_bind_text(st, 3, user_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (int64_t)limit);
		s = collect(c, st, limit, out, err);
	}
	store_release(c);
	free(list);
	return s;
}

static const char SQL_BACK[] = "SELECT " RD_EVENT_COLS
                               " FROM events e JOIN rooms r ON r.nid = e.room_nid"
                               " WHERE e.room_nid = ? AND e.pos < ?" RD_IN_TIMELINE
                               " ORDER BY e.pos DESC LIMIT ?";
static const char SQL_FWD[] = "SELECT " RD_EVENT_COLS
                              " FROM events e JOIN rooms r ON r.nid = e.room_nid"
                              " WHERE e.room_nid = ? AND e.pos > ?" RD_IN_TIMELINE
                              " ORDER BY e.pos LIMIT ?";

mxdb_status mxdb_room_events(mxdb *db, const char *room, uint64_t from, int backwards,
                             size_t limit, mxdb_events *out, mxdb_error *err)
{
	memset(out, 0, sizeof(*out));
	if (limit == 0)
		limit = 10;
	if (backwards && from == 0)
		from = INT64_MAX;
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = NULL;
	mxdb_status s = rd_room_stmt(c, room, backwards ? SQL_BACK : SQL_FWD, &st, err);
	if (s == MXDB_OK) {
		sqlite3_bind_int64(st, 2, (int64_t)(from > INT64_MAX ? INT64_MAX : from));
		sqlite3_bind_int64(st, 3, (int64_t)limit);
		s = collect(c, st, limit, out, err);
	}
	store_release(c);
	return s;
}

/* ---- memberships ---- */

static const char SQL_MEMBER_OF[] = "SELECT membership FROM memberships WHERE room_nid = ?1 AND user_id = ?2";

mxdb_status mxdb_member_of(mxdb *db, const char *room, const char *user_id, char out[16],
                           mxdb_error *err)
{
	if (user_id == NULL)
		return mx_fail(err, MXDB_EINVAL, "no user");
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = NULL;
	mxdb_status s = rd_room_stmt(c, room, SQL_MEMBER_OF, &st, err);
	if (s == MXDB_OK) {
		sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			snprintf(out, 16, "%s", sqlite3_column_text(st, 0));
		else
			s = rc == SQLITE_DONE ? mx_fail(err, MXDB_ENOTFOUND, "%s was never in %s", user_id, room)
			                      : store_fail(c, err, "membership");
		sqlite3_reset(st);
	}
	store_release(c);
	return s;
}

static const char SQL_MEMBERS[] =
	"SELECT " RD_EVENT_COLS " FROM memberships m JOIN events e ON e.pos = m.pos"
	" JOIN rooms r ON r.nid = m.room_nid WHERE m.room_nid = ?1"
	" AND (?2 IS NULL OR m.membership = ?2) ORDER BY m.user_id";

mxdb_status mxdb_members(mxdb *db, const char *room, const char *membership, char **json,
                         mxdb_error *err)
{
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = NULL;
	mxdb_status s = rd_room_stmt(c, room, SQL_MEMBERS, &st, err);
	if (s == MXDB_OK) {
		if (membership != NULL)
			sqlite3_bind_text(st, 2, membership, -1, SQLITE_STATIC);
		s = rd_event_array(c, st, json, err);
	}
	store_release(c);
	return s;
}

/* Stripped state (spec: "stripped state") shown with invites and knocks. */
static const char SQL_STRIPPED[] =
	"SELECT e.type, e.state_key, e.sender, e.content FROM cur_state c JOIN events e ON e.pos = c.pos"
	" WHERE c.room_nid = ?1 AND ((c.state_key = '' AND c.type IN ('m.room.create',"
	" 'm.room.join_rules', 'm.room.name', 'm.room.avatar', 'm.room.canonical_alias',"
	" 'm.room.encryption', 'm.room.topic')) OR (c.type = 'm.room.member' AND c.state_key = ?2))";

static char *stripped_state(store_conn *c, int64_t nid, const char *user_id)
{
	sqlite3_stmt *st = store_stmt(c, SQL_STRIPPED, NULL);
	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, nid);
	sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
	json_t *arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *content = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o}", "type",
		                                     (const char *)sqlite3_column_text(st, 0), "state_key",
		                                     (const char *)sqlite3_column_text(st, 1), "sender",
		                                     (const char *)sqlite3_column_text(st, 2), "content",
		                                     content ? content : json_object()));
	}
	sqlite3_reset(st);
	char *out = eng_dumps(arr);
	json_decref(arr);
	return out;
}

/* With the invites received over federation to rooms not here yet and
 * our users' knocks on them (fed_invites, their stripped state given by
 * the inviting server or the one that took the knock). */
static const char SQL_USER_ROOMS[] =
	"SELECT r.room_id, m.membership, e.event_id, e.sender, m.pos, m.room_nid, NULL FROM memberships m"
	" JOIN rooms r ON r.nid = m.room_nid JOIN events e ON e.pos = m.pos"
	" WHERE m.user_id = ?1 AND (?2 IS NULL OR m.membership = ?2)"
	" UNION ALL SELECT i.room_id, i.membership, i.event_id, i.sender, i.pos, 0, i.invite_state"
	" FROM fed_invites i WHERE i.user_id = ?1 AND (?2 IS NULL OR ?2 = i.membership)"
	" AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.room_id = i.room_id) ORDER BY 5";

void mxdb_user_rooms_free(mxdb_user_room *rooms, size_t n)
{
	for (size_t i = 0; rooms != NULL && i < n; i++) {
		free(rooms[i].room_id);
		free(rooms[i].membership);
		free(rooms[i].event_id);
		free(rooms[i].sender);
		free(rooms[i].invite_state);
	}
	free(rooms);
}

mxdb_status mxdb_user_rooms(mxdb *db, const char *user_id, const char *membership,
                            mxdb_user_room **out, size_t *n, mxdb_error *err)
{
	*out = NULL;
	*n = 0;
	if (user_id == NULL)
		return mx_fail(err, MXDB_EINVAL, "no user");
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_USER_ROOMS, err);
	mxdb_status s = st ? MXDB_OK : MXDB_EIO;
	mxdb_user_room *v = NULL;
	size_t cnt = 0, cap = 0;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
		if (membership != NULL)
			sqlite3_bind_text(st, 2, membership, -1, SQLITE_STATIC);
		int rc;
		int64_t *nids = NULL;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (cnt == cap) {
				cap = cap ? cap * 2 : 8;
				mxdb_user_room *nv = realloc(v, cap * sizeof(*v));
				int64_t *nn = realloc(nids, cap * sizeof(*nn));
				if (nv != NULL)
					v = nv;
				if (nn != NULL)
					nids = nn;
				if (nv == NULL || nn == NULL) {
					s = mx_fail(err, MXDB_ENOMEM, "rooms");
					break;
				}
			}
			mxdb_user_room *r = &v[cnt];
			r->room_id = store_col_str(st, 0);
			r->membership = store_col_str(st, 1);
			r->event_id = store_col_str(st, 2);
			r->sender = store_col_str(st, 3);
			r->pos = (uint64_t)sqlite3_column_int64(st, 4);
			r->invite_state = store_col_str(st, 6);
			nids[cnt++] = sqlite3_column_int64(st, 5);
		}
		if (s == MXDB_OK && rc != SQLITE_DONE)
			s = store_fail(c, err, "rooms");
		sqlite3_reset(st);
		/* After the loop: stripped_state uses another statement. */
		for (size_t i = 0; s == MXDB_OK && i < cnt; i++)
			if (v[i].invite_state == NULL &&
			    (strcmp(v[i].membership, "invite") == 0 || strcmp(v[i].membership, "knock") == 0))
				v[i].invite_state = stripped_state(c, nids[i], user_id);
		free(nids);
	}
	store_release(c);
	if (s != MXDB_OK) {
		mxdb_user_rooms_free(v, cnt);
		return s;
	}
	*out = v;
	*n = cnt;
	return MXDB_OK;
}
