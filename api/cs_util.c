/*
 * cs_util.c: small helpers every client-API handler uses: body members,
 * error replies from mxdb statuses, engine JSON texts, membership checks.
 * Owns no state.
 */
#include <stdlib.h>
#include <string.h>

#include "cs.h"

bool cs_body_str(http_req *r, const char *key, bool required, const char **out)
{
	json_t *v = r->body ? json_object_get(r->body, key) : NULL;
	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required) {
			http_reply_error(r, 400, "M_MISSING_PARAM", "missing '%s'", key);
			return false;
		}
		return true;
	}
	if (!json_is_string(v)) {
		http_reply_error(r, 400, "M_BAD_JSON", "'%s' must be a string", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

void cs_fail(http_req *r, mxdb_status st, const mxdb_error *e)
{
	http_reply_status(r, st, e != NULL ? e->message : NULL);
}

void cs_done(http_req *r, mxdb_status st, const mxdb_error *e)
{
	if (st != MXDB_OK)
		cs_fail(r, st, e);
	else
		http_reply_empty(r);
}

json_t *cs_json(http_req *r, char *text)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	if (v == NULL)
		http_reply_error(r, 500, "M_UNKNOWN", "the engine returned bad JSON");
	return v;
}

void cs_reply_text(http_req *r, int status, char *text)
{
	http_reply_raw(r, status, "application/json", text, strlen(text));
	free(text);
}

bool cs_is_local_user(cs_ctx *c, const char *user_id)
{
	const char *colon = user_id[0] == '@' ? strchr(user_id, ':') : NULL;
	return colon != NULL && strcmp(colon + 1, c->server_name) == 0;
}

/* The stream position of user's membership event in room, 0 if none. */
static uint64_t membership_pos(cs_ctx *c, const char *room, const char *user)
{
	mxdb_user_room *rooms = NULL;
	size_t n = 0;
	uint64_t pos = 0;
	if (mxdb_user_rooms(c->db, user, NULL, &rooms, &n, NULL) != MXDB_OK)
		return 0;
	for (size_t i = 0; i < n && pos == 0; i++)
		if (strcmp(rooms[i].room_id, room) == 0)
			pos = rooms[i].pos;
	mxdb_user_rooms_free(rooms, n);
	return pos;
}

bool cs_require_member(http_req *r, const char *room, const char *user, uint64_t *left_at)
{
	char ms[16];
	mxdb_error e;
	mxdb_status st = mxdb_member_of(CS(r)->db, room, user, ms, &e);
	if (st != MXDB_OK && st != MXDB_ENOTFOUND) {
		cs_fail(r, st, &e);
		return false;
	}
	if (left_at != NULL)
		*left_at = 0;
	if (st == MXDB_OK && strcmp(ms, "join") == 0)
		return true;
	if (st == MXDB_OK && left_at != NULL && strcmp(ms, "leave") == 0 &&
	    (*left_at = membership_pos(CS(r), room, user)) > 0)
		return true;
	http_reply_error(r, 403, "M_FORBIDDEN", "%s is not joined to room %s", user, room);
	return false;
}

bool cs_room_resolve(http_req *r, const char *room, mxdb_room_info *info)
{
	mxdb_error e;
	mxdb_status st = mxdb_room_info_get(CS(r)->db, room, info, &e);
	if (st == MXDB_ENOTFOUND || st == MXDB_EINVAL) {
		http_reply_error(r, 404, "M_NOT_FOUND", "unknown room %s", room);
		return false;
	}
	if (st != MXDB_OK) {
		cs_fail(r, st, &e);
		return false;
	}
	return true;
}

bool cs_room_member(http_req *r, const char *room, uint64_t *left_at, mxdb_room_info *info)
{
	return cs_room_resolve(r, room, info) &&
	       cs_require_member(r, info->room_id, r->user_id, left_at);
}
