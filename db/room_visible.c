/*
 * room_visible.c: history visibility (spec client-server "History
 * visibility"): whether a user may see an event, judged by the room's
 * m.room.history_visibility and the user's membership in the state before
 * the event. Reader connections only; never writes.
 */
#include <stdlib.h>
#include <string.h>

#include "room_read.h"

static const char SQL_EV[] =
	"SELECT e.room_nid, e.sg, e.state_key IS NOT NULL, g.parent,"
	" e.type = 'm.room.member' AND e.state_key = ?2 FROM events e"
	" LEFT JOIN state_groups g ON g.sg = e.sg WHERE e.pos = ?1";
static const char SQL_KEY[] =
	"SELECT nid FROM cur_state WHERE room_nid = ? AND type = ? AND state_key = ?";
static const char SQL_FIELD[] = "SELECT json_extract(content, ?2) FROM events WHERE pos = ?1";
/* Rule 3 of the spec ("joined at any point after the event"): the user's
 * last join in the room. */
static const char SQL_LAST_JOIN[] =
	"SELECT max(pos) FROM events WHERE room_nid = ? AND type = 'm.room.member'"
	" AND state_key = ? AND json_extract(content, '$.membership') = 'join'";
static const char SQL_POS[] = "SELECT pos FROM events WHERE event_id = ?";

typedef struct vis_room {
	int64_t nid;       /* 0: nothing cached */
	int64_t hv_key;    /* key_nid of m.room.history_visibility, 0 if never set */
	int64_t member_key;
	int64_t last_join; /* 0: never joined */
	int last_join_known; /* looked up only when a rule needs it: it scans the room's member events */
} vis_room;

static mxdb_status one_int(store_conn *c, const char *sql, int64_t a, const char *b, const char *d,
                           int64_t *out, mxdb_error *err)
{
	*out = 0;
	sqlite3_stmt *st = store_stmt(c, sql, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, a);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if (d != NULL)
		sqlite3_bind_text(st, 3, d, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? MXDB_OK : store_fail(c, err, "visibility");
}

/* The string at path in the content of the event at pos into buf ("" if none). */
static mxdb_status field(store_conn *c, int64_t pos, const char *path, char *buf, size_t cap,
                         mxdb_error *err)
{
	buf[0] = '\0';
	if (pos == 0)
		return MXDB_OK;
	sqlite3_stmt *st = store_stmt(c, SQL_FIELD, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, pos);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (v != NULL && strlen(v) < cap)
		strcpy(buf, v);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? MXDB_OK : store_fail(c, err, "visibility");
}

static mxdb_status room_cache(store_conn *c, int64_t nid, const char *user, vis_room *r,
                              mxdb_error *err)
{
	if (r->nid == nid)
		return MXDB_OK;
	r->nid = 0;
	mxdb_status s = one_int(c, SQL_KEY, nid, "m.room.history_visibility", "", &r->hv_key, err);
	if (s == MXDB_OK)
		s = one_int(c, SQL_KEY, nid, "m.room.member", user, &r->member_key, err);
	r->last_join_known = 0;
	if (s == MXDB_OK)
		r->nid = nid;
	return s;
}

static mxdb_status visible(store_conn *c, const char *user, int64_t pos, vis_room *r, int *out,
                           mxdb_error *err)
{
	*out = 0;
	sqlite3_stmt *st = store_stmt(c, SQL_EV, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, pos);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int64_t nid = 0, before = 0;
	int own = 0;
	if (rc == SQLITE_ROW) {
		nid = sqlite3_column_int64(st, 0);
		/* A state event's group is the state after it; before it is the parent. */
		before = sqlite3_column_int(st, 2) ? sqlite3_column_int64(st, 3) : sqlite3_column_int64(st, 1);
		own = sqlite3_column_int(st, 4);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? MXDB_OK : store_fail(c, err, "visibility");
	if (own) { /* a user always sees their own membership changes */
		*out = 1;
		return MXDB_OK;
	}
	mxdb_status s = room_cache(c, nid, user, r, err);
	int64_t hv_pos = 0, member_pos = 0;
	char hv[32], member[16];
	if (s == MXDB_OK)
		s = sg_lookup(c, before, r->hv_key, &hv_pos, err);
	if (s == MXDB_OK)
		s = sg_lookup(c, before, r->member_key, &member_pos, err);
	if (s == MXDB_OK)
		s = field(c, hv_pos, "$.history_visibility", hv, sizeof(hv), err);
	if (s == MXDB_OK)
		s = field(c, member_pos, "$.membership", member, sizeof(member), err);
	if (s != MXDB_OK)
		return s;
	if (hv[0] == '\0')
		strcpy(hv, "shared"); /* the spec's default */
	if (strcmp(hv, "world_readable") == 0 || strcmp(member, "join") == 0 ||
	    (strcmp(hv, "invited") == 0 && strcmp(member, "invite") == 0)) {
		*out = 1;
		return MXDB_OK;
	}
	if (strcmp(hv, "shared") != 0)
		return MXDB_OK;
	if (!r->last_join_known) {
		if ((s = one_int(c, SQL_LAST_JOIN, nid, user, NULL, &r->last_join, err)) != MXDB_OK)
			return s;
		r->last_join_known = 1;
	}
	*out = r->last_join > pos;
	return MXDB_OK;
}

mxdb_status mxdb_events_visible(mxdb *db, const char *user_id, mxdb_events *evs, mxdb_error *err)
{
	if (user_id == NULL || evs == NULL)
		return mx_fail(err, MXDB_EINVAL, "no user or events");
	store_conn *c = store_reader(db->st);
	vis_room r = {0};
	mxdb_status s = MXDB_OK;
	size_t kept = 0;
	for (size_t i = 0; i < evs->n; i++) {
		int ok = 0;
		if (s == MXDB_OK)
			s = visible(c, user_id, (int64_t)evs->ev[i].pos, &r, &ok, err);
		if (ok) {
			evs->ev[kept++] = evs->ev[i];
			continue;
		}
		rd_event_free(&evs->ev[i]);
	}
	evs->n = kept;
	store_release(c);
	return s;
}

mxdb_status mxdb_event_visible(mxdb *db, const char *user_id, const char *event_id, int *visible_out,
                               mxdb_error *err)
{
	*visible_out = 0;
	if (user_id == NULL || event_id == NULL)
		return mx_fail(err, MXDB_EINVAL, "no user or event");
	store_conn *c = store_reader(db->st);
	vis_room r = {0};
	int64_t pos = 0;
	mxdb_status s = MXDB_OK;
	sqlite3_stmt *st = store_stmt(c, SQL_POS, err);
	if (st == NULL)
		s = MXDB_EIO;
	else {
		sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			pos = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	if (s == MXDB_OK && pos == 0)
		s = mx_fail(err, MXDB_ENOTFOUND, "no event %s", event_id);
	if (s == MXDB_OK)
		s = visible(c, user_id, pos, &r, visible_out, err);
	store_release(c);
	return s;
}
