/*
 * table.c: the native table API's route table, table creation and lookup,
 * and the helpers every table handler shares (room resolution, read access,
 * JSON/CBOR bodies and replies). Rows are table_rows.c, the change feed
 * over HTTP is table_changes.c. Never writes SQL; everything goes through
 * include/mxdb.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cborjson.h"
#include "cjson.h"
#include "table.h"

static const char *feed_url = "";

void tbl_set_feed_url(const char *url)
{
	feed_url = url != NULL ? url : "";
}

const char *tbl_feed_url(void)
{
	return feed_url;
}

/* ---- helpers ---- */

void tbl_fail(http_req *r, mxdb_status st, const mxdb_error *e)
{
	http_reply_status(r, st, e != NULL ? e->message : NULL);
}

bool tbl_room(http_req *r, const char *room, char room_id[256])
{
	mxdb_room_info info;
	mxdb_error e;
	mxdb_status st = mxdb_room_info_get(CS(r)->db, room, &info, &e);
	if (st != MXDB_OK) {
		if (st == MXDB_ENOTFOUND)
			http_reply_error(r, 404, "M_NOT_FOUND", "no table %s", room);
		else
			tbl_fail(r, st, &e);
		return false;
	}
	snprintf(room_id, 256, "%s", info.room_id);
	return true;
}

/* A state event's content member, from the engine's client-format JSON. */
static char *state_string(mxdb *db, const char *room_id, const char *type, const char *member)
{
	char *json = NULL;
	if (mxdb_state_event(db, room_id, type, "", &json, NULL) != MXDB_OK)
		return NULL;
	json_t *ev = json_loads(json, 0, NULL);
	mxdb_free(json);
	const char *v = json_string_value(json_object_get(json_object_get(ev, "content"), member));
	char *out = v ? strdup(v) : NULL;
	json_decref(ev);
	return out;
}

bool tbl_readable(mxdb *db, const char *room_id, const char *user)
{
	char ms[16];
	if (user != NULL && mxdb_member_of(db, room_id, user, ms, NULL) == MXDB_OK &&
	    strcmp(ms, "join") == 0)
		return true;
	char *hv = state_string(db, room_id, "m.room.history_visibility", "history_visibility");
	bool open = hv != NULL && strcmp(hv, "world_readable") == 0;
	free(hv);
	return open;
}

bool tbl_readable_cached(mxdb *db, json_t *cache, const char *room_id, const char *user)
{
	json_t *v = json_object_get(cache, room_id);
	if (v == NULL) {
		v = json_boolean(tbl_readable(db, room_id, user));
		json_object_set_new(cache, room_id, v);
	}
	return json_is_true(v);
}

bool tbl_require_read(http_req *r, const char *room_id)
{
	if (tbl_readable(CS(r)->db, room_id, r->user_id))
		return true;
	if (r->user_id == NULL)
		http_reply_error(r, 401, "M_MISSING_TOKEN", "table %s is private: an access token is needed",
		                 room_id);
	else
		http_reply_error(r, 403, "M_FORBIDDEN", "%s is not a member of table %s", r->user_id, room_id);
	return false;
}

static bool is_cbor_type(const char *ct)
{
	return ct != NULL && strncasecmp(ct, "application/cbor", 16) == 0;
}

json_t *tbl_body(http_req *r)
{
	json_t *v = NULL;
	mxdb_error e;
	mxdb_status st;
	if (is_cbor_type(http_header(r, "Content-Type")))
		st = cbj_decode((const unsigned char *)r->body_raw, r->body_len, &v, &e);
	else if (r->body_len == 0)
		return json_object();
	else
		st = cj_parse(r->body_raw, r->body_len, &v, &e);
	if (st != MXDB_OK) {
		tbl_fail(r, st, &e);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		http_reply_error(r, 400, "M_BAD_JSON", "the body must be an object (a JSON object or CBOR map)");
		return NULL;
	}
	return v;
}

bool tbl_wants_cbor(http_req *r)
{
	const char *accept = http_header(r, "Accept");
	return accept != NULL && strstr(accept, "application/cbor") != NULL;
}

void tbl_reply(http_req *r, int status, json_t *v)
{
	if (!tbl_wants_cbor(r)) {
		http_reply_json(r, status, v);
		return;
	}
	unsigned char *buf;
	size_t len;
	mxdb_error e;
	mxdb_status st = cbj_encode(v, &buf, &len, &e);
	json_decref(v);
	if (st != MXDB_OK) {
		tbl_fail(r, st, &e);
		return;
	}
	http_reply_raw(r, status, "application/cbor", buf, len);
	free(buf);
}

/* ---- tables ---- */

/* Members may write rows but not the room's own configuration. */
static const char power_override[] =
	"{\"events\":{\"m.room.power_levels\":100,\"m.room.join_rules\":100,"
	"\"m.room.history_visibility\":100,\"m.room.guest_access\":100,\"m.room.server_acl\":100,"
	"\"m.room.tombstone\":100,\"m.room.encryption\":100,\"m.room.canonical_alias\":50,"
	"\"m.room.name\":50,\"m.room.topic\":50,\"m.room.avatar\":50}}";

static const char world_readable[] =
	"[{\"type\":\"m.room.history_visibility\",\"state_key\":\"\","
	"\"content\":{\"history_visibility\":\"world_readable\"}}]";

/* The writers member: "members" (the default), or {"@user:server": level}. */
static bool parse_writers(http_req *r, json_t *w, mxdb_table_options *o, mxdb_writer **list,
                          const char ***invite)
{
	if (w == NULL || (json_is_string(w) && strcmp(json_string_value(w), "members") == 0)) {
		o->has_state_default = 1;
		o->state_default = 0;
		o->power_level_content_override = power_override;
		return true;
	}
	if (!json_is_object(w)) {
		http_reply_error(r, 400, "M_BAD_JSON", "writers: \"members\" or an object of user IDs to levels");
		return false;
	}
	size_t n = json_object_size(w), i = 0, ninv = 0;
	*list = calloc(n ? n : 1, sizeof(**list));
	*invite = calloc(n ? n : 1, sizeof(**invite));
	const char *user;
	json_t *level;
	json_object_foreach(w, user, level) {
		if (!json_is_integer(level) || user[0] != '@' || strchr(user, ':') == NULL) {
			http_reply_error(r, 400, "M_BAD_JSON", "writers: %s must map a user ID to an integer level",
			                 user);
			return false;
		}
		(*list)[i].user_id = user;
		(*list)[i++].level = json_integer_value(level);
		if (strcmp(user, r->user_id) != 0)
			(*invite)[ninv++] = user; /* a writer must be able to join */
	}
	o->writers = *list;
	o->n_writers = n;
	o->invite = *invite;
	o->n_invite = ninv;
	return true;
}

/* The creation's answer, once the remote writers' invites are done. */
static void tbl_create_reply(http_req *r, const char *name, const char *room_id,
                             const char *const *remote, size_t n)
{
	char *id = NULL;
	mxdb_status st;
	mxdb_error e;
	if (!cs_invite_remote(r, room_id, remote, n, false, &id, &st, &e))
		return; /* parked */
	if (st != MXDB_OK) {
		tbl_fail(r, st, &e);
		return;
	}
	char alias[512];
	snprintf(alias, sizeof(alias), "#%s:%s", name, mxdb_server_name(CS(r)->db));
	tbl_reply(r, 200, json_pack("{ss ss}", "room_id", id, "alias", alias));
	free(id);
}

static void tbl_create(http_req *r)
{
	json_t *b = tbl_body(r);
	if (b == NULL)
		return;
	const char *name = json_string_value(json_object_get(b, "name"));
	if (r->park != NULL) { /* the table exists; its remote writers' invites were under way */
		tbl_create_reply(r, name, NULL, NULL, 0);
		json_decref(b);
		return;
	}
	const char *vis = json_string_value(json_object_get(b, "visibility"));
	const char *topic = json_string_value(json_object_get(b, "topic"));
	mxdb_writer *writers = NULL;
	const char **invite = NULL;
	if (name == NULL || *name == '\0' || strpbrk(name, ":# /") != NULL) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "name: a non-empty string without ':', '#', ' ' or '/'");
	} else if (vis != NULL && strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "visibility: \"public\" or \"private\"");
	} else {
		bool pub = vis != NULL && strcmp(vis, "public") == 0;
		mxdb_table_options o = {
			.creator = r->user_id,
			.preset = pub ? MXDB_PRESET_PUBLIC_CHAT : MXDB_PRESET_PRIVATE_CHAT,
			.visibility_public = pub,
			.name = name,
			.topic = topic,
			.alias = name,
			.room_version = json_string_value(json_object_get(b, "room_version")),
			.initial_state = pub ? world_readable : NULL,
		};
		char *room_id = NULL;
		mxdb_error e;
		mxdb_status st;
		if (parse_writers(r, json_object_get(b, "writers"), &o, &writers, &invite)) {
			const char *const *remote;
			size_t nremote;
			cs_split_invites(r, &o, &remote, &nremote);
			if ((st = mxdb_create_table(CS(r)->db, &o, &room_id, &e)) != MXDB_OK)
				tbl_fail(r, st, &e);
			else
				tbl_create_reply(r, name, room_id, remote, nremote);
			mxdb_free(room_id);
		}
	}
	free(writers);
	free(invite);
	json_decref(b);
}

static void tbl_info(http_req *r)
{
	char room_id[256];
	if (!tbl_room(r, r->param[0], room_id) || !tbl_require_read(r, room_id))
		return;
	mxdb_room_info info;
	mxdb_error e;
	mxdb_status st = mxdb_room_info_get(CS(r)->db, room_id, &info, &e);
	if (st != MXDB_OK) {
		tbl_fail(r, st, &e);
		return;
	}
	char *alias = state_string(CS(r)->db, room_id, "m.room.canonical_alias", "alias");
	tbl_reply(r, 200,
	          json_pack("{ss ss* ss ss ss ss}", "room_id", info.room_id, "alias", alias,
	                    "version", info.version, "creator", info.creator, "visibility",
	                    info.visibility_public ? "public" : "private", "feed", feed_url));
	free(alias);
}

static void tbl_feed(http_req *r)
{
	tbl_reply(r, 200, json_pack("{ss sI}", "url", feed_url, "seq", (json_int_t)mxdb_last_seq(CS(r)->db)));
}

static const char *const prefixes[] = {"/_mxdb/v1", NULL};

static const http_route routes[] = {
	{HTTP_POST, "tables", tbl_create, HTTP_AUTH | HTTP_NOBODY},
	{HTTP_GET, "tables/*", tbl_info, HTTP_AUTH_OPT},
	{HTTP_GET, "tables/*/rows", tbl_rows_scan, HTTP_AUTH_OPT},
	{HTTP_GET, "tables/*/rows/*/*", tbl_rows_get, HTTP_AUTH_OPT},
	{HTTP_PUT | HTTP_DELETE, "tables/*/rows/*/*", tbl_rows_write, HTTP_AUTH | HTTP_NOBODY},
	{HTTP_GET, "changes", tbl_changes, HTTP_AUTH_OPT},
	{HTTP_GET, "feed", tbl_feed, 0},
	{0, NULL, NULL, 0},
};

const http_routes tbl_routes = {prefixes, routes, 0};
