/*
 * room_restricted.c: joins to restricted rooms (join rule "restricted", or
 * "knock_restricted" where the room version has it). Owns two decisions:
 * whether the joining user meets one of the rule's allow conditions, judged
 * by the memberships this server knows, and which of our users authorises
 * the join (content.join_authorised_via_users_server). Runs on the writer
 * thread; never signs, sends or stores anything (the write path and the
 * federation endpoints do).
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "fed_pdu.h"

/* Our users joined to a room, by user ID (the tie-break of the choice);
 * ?3: at most that many (-1: all). */
static const char SQL_JOINED_HERE[] =
	"SELECT user_id FROM memberships WHERE room_nid = ?1 AND membership = 'join'"
	" AND substr(user_id, -length(?2)) = ?2 ORDER BY user_id LIMIT ?3";
static const char SQL_MEMBERSHIP[] =
	"SELECT membership FROM memberships WHERE room_nid = ?1 AND user_id = ?2";

/* Our users joined to room nid, at most limit (-1: all) (*n of them in
 * *users, new strings). */
static mxdb_status joined_here(mxdb *db, int64_t nid, int limit, char ***users, size_t *n,
                               mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	char suffix[260];
	snprintf(suffix, sizeof(suffix), ":%s", db->server_name);
	*users = NULL;
	*n = 0;
	sqlite3_stmt *st = store_stmt(w, SQL_JOINED_HERE, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, nid);
	sqlite3_bind_text(st, 2, suffix, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, limit);
	mxdb_status s = MXDB_OK;
	size_t cap = 0;
	int rc;
	while (s == MXDB_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			char **grown = realloc(*users, cap * sizeof(**users));
			if (grown == NULL) {
				s = mx_fail(err, MXDB_ENOMEM, "members");
				break;
			}
			*users = grown;
		}
		if (((*users)[*n] = store_col_str(st, 0)) == NULL)
			s = mx_fail(err, MXDB_ENOMEM, "members");
		else
			(*n)++;
	}
	if (s == MXDB_OK && rc != SQLITE_DONE)
		s = store_fail(w, err, "members");
	sqlite3_reset(st);
	return s;
}

static void users_free(char **users, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(users[i]);
	free(users);
}

/* Is user_id joined to room nid, by our copy of its state? */
static mxdb_status joined_to(mxdb *db, int64_t nid, const char *user_id, bool *joined,
                             mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_MEMBERSHIP, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, nid);
	sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*joined = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "join") == 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "membership");
}

/* Walks the allow list: *met when user_id is joined to one of its rooms;
 * *any when it holds a condition of the known schema; *known when we can
 * judge at least one of those. A room counts as known only while one of
 * our users is joined to it: a room we left keeps the memberships of the
 * day we left. */
static mxdb_status allow_met(mxdb *db, const json_t *allow, const char *user_id, bool *met,
                             bool *any, bool *known, mxdb_error *err)
{
	*met = *any = *known = false;
	size_t i;
	json_t *cond;
	json_array_foreach(allow, i, cond) {
		const char *type = json_string_value(json_object_get(cond, "type"));
		const char *rid = json_string_value(json_object_get(cond, "room_id"));
		if (type == NULL || strcmp(type, "m.room_membership") != 0 || rid == NULL || rid[0] != '!')
			continue;
		*any = true;
		int64_t nid;
		mxdb_error miss;
		mxdb_status s = rd_room_nid(&db->st->writer, rid, &nid, NULL, &miss);
		if (s == MXDB_ENOTFOUND)
			continue;
		if (s != MXDB_OK)
			return mx_fail(err, s, "%s", miss.message);
		char **ours;
		size_t n;
		if ((s = joined_here(db, nid, 1, &ours, &n, err)) != MXDB_OK)
			return s;
		users_free(ours, n);
		if (n == 0)
			continue;
		*known = true;
		if ((s = joined_to(db, nid, user_id, met, err)) != MXDB_OK || *met)
			return s;
	}
	return MXDB_OK;
}

/* The membership of user_id in the state as, or "". */
static const char *membership_in(const auth_state *as, const char *user_id)
{
	const ev_t *m = as->get(as->ctx, "m.room.member", user_id);
	const char *v = m ? json_string_value(json_object_get(m->content, "membership")) : NULL;
	return v ? v : "";
}

/* Of our users joined to room, the one with the most power, at least the
 * invite level (ties: the smallest user ID); *via NULL when none. The
 * memberships table mirrors the current state, so no member event is
 * loaded per user (a big room would fill the writer's cache). */
static mxdb_status pick(mxdb *db, eng_room *room, char **via, mxdb_error *err)
{
	char **ours;
	size_t n;
	*via = NULL;
	mxdb_status s = joined_here(db, room->nid, -1, &ours, &n, err);
	if (s != MXDB_OK)
		return s;
	auth_state as;
	eng_auth_state(room, &as);
	int64_t need = auth_state_level(&as, room->rv, "invite", AUTH_INVITE_LEVEL_DEFAULT);
	size_t best = n;
	int64_t best_power = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t p = auth_user_power(&as, room->rv, ours[i]);
		if (p >= need && (best == n || p > best_power)) {
			best = i;
			best_power = p;
		}
	}
	if (best < n) {
		*via = ours[best];
		ours[best] = NULL;
	}
	users_free(ours, n);
	return MXDB_OK;
}

mxdb_status eng_join_authoriser(mxdb *db, eng_room *room, const char *user_id, char **via,
                                mxdb_error *err)
{
	*via = NULL;
	auth_state as;
	eng_auth_state(room, &as);
	const json_t *allow;
	if (!auth_join_restricted(&as, room->rv, &allow))
		return MXDB_OK;
	const char *now = membership_in(&as, user_id);
	if (strcmp(now, "invite") == 0 || strcmp(now, "join") == 0)
		return MXDB_OK;
	bool met = false, any = false, known = false;
	mxdb_status s = allow ? allow_met(db, allow, user_id, &met, &any, &known, err) : MXDB_OK;
	if (s != MXDB_OK)
		return s;
	const char *server = fed_server_of(user_id);
	bool ours = server && strcmp(server, db->server_name) == 0;
	/* No condition of a known schema fails everyone (spec); our own users
	 * are in no room we lack: not knowing the rooms is a no for them. */
	if (!met && any && !known && !ours)
		return mx_fail(err, MXDB_EUNVERIFIABLE,
		               "%s is restricted to members of rooms this server is not in", room->room_id);
	if (!met)
		return mx_fail(err, MXDB_EFORBIDDEN,
		               "%s is restricted: %s is not joined to any room its join rule allows",
		               room->room_id, user_id);
	if ((s = pick(db, room, via, err)) != MXDB_OK)
		return s;
	return *via ? MXDB_OK
	            : mx_fail(err, MXDB_ENOGRANT, "no user of %s may invite to %s: ask another server",
	                      db->server_name, room->room_id);
}

mxdb_status eng_join_authorise(mxdb *db, eng_room *room, const char *user_id, json_t *content,
                               mxdb_error *err)
{
	const char *m = json_string_value(json_object_get(content, "membership"));
	if (m == NULL || strcmp(m, "join") != 0 || !room->rv->restricted_join ||
	    json_object_get(content, "join_authorised_via_users_server") != NULL)
		return MXDB_OK;
	char *via;
	mxdb_status s = eng_join_authoriser(db, room, user_id, &via, err);
	if (s == MXDB_OK && via != NULL &&
	    json_object_set_new(content, "join_authorised_via_users_server", json_string(via)) != 0)
		s = mx_fail(err, MXDB_ENOMEM, "join content");
	free(via);
	return s;
}
