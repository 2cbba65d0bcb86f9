/*
 * cs_account.c: accounts over the client API: registration (the
 * m.login.dummy interactive-auth flow), login, logout, whoami, password
 * change, devices and profiles (whose changes also go into the member
 * events of the user's joined rooms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "cs.h"
#include "cs_handlers.h"

/* Replies 401 with the interactive-auth flows, or returns true when the
 * body's auth dict completes one of them. Stages: "m.login.dummy" and/or
 * "m.login.password" (the password of user, who must be known). */
static bool uia(http_req *r, const char *stage, const char *user)
{
	json_t *auth = json_object_get(r->body, "auth");
	const char *type = json_string_value(json_object_get(auth, "type"));
	if (type != NULL && strcmp(type, stage) == 0) {
		if (strcmp(stage, "m.login.dummy") == 0)
			return true;
		const char *pw = json_string_value(json_object_get(auth, "password"));
		if (pw != NULL && acct_password_check(CS(r)->acct, user, pw, NULL) == MXDB_OK)
			return true;
		http_reply_json(r, 401,
		                json_pack("{s:s, s:s, s:[{s:[s]}], s:{}, s:[]}", "errcode", "M_FORBIDDEN",
		                          "error", "invalid password", "flows", "stages", stage, "params",
		                          "completed"));
		return false;
	}
	unsigned char raw[18];
	char session[32];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(session, sizeof(session), raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	http_reply_json(r, 401, json_pack("{s:[{s:[s]}], s:{}, s:s}", "flows", "stages", stage,
	                                  "params", "session", session));
	return false;
}

/* Turns "alice" or "@alice:server" into a local user ID in buf. */
static bool local_user_id(cs_ctx *c, const char *name, char *buf, size_t cap)
{
	if (name[0] == '@') {
		if (!cs_is_local_user(c, name))
			return false;
		snprintf(buf, cap, "%s", name);
	} else {
		snprintf(buf, cap, "@%s:%s", name, c->server_name);
	}
	return true;
}

/* Opens a session (device and access token) for user and replies with it:
 * the end of both register and login. */
static void login_reply(http_req *r, const char *user, const char *dev, const char *dname)
{
	char *device = NULL, *token = NULL;
	mxdb_error e;
	mxdb_status st = acct_login(CS(r)->acct, user, dev, dname, &device, &token, &e);
	if (st == MXDB_OK)
		http_reply_json(r, 200,
		                json_pack("{s:s, s:s, s:s, s:s}", "user_id", user, "access_token", token,
		                          "device_id", device, "home_server", CS(r)->server_name));
	else
		cs_fail(r, st, &e);
	free(device);
	free(token);
}

void cs_register(http_req *r)
{
	cs_ctx *c = CS(r);
	const char *kind = http_query(r, "kind");
	if (kind != NULL && strcmp(kind, "user") != 0) {
		http_reply_error(r, 403, "M_GUEST_ACCESS_FORBIDDEN", "guest access is disabled");
		return;
	}
	if (!c->registration_open) {
		http_reply_error(r, 403, "M_FORBIDDEN", "registration is closed");
		return;
	}
	const char *user, *pw, *dev, *dname;
	if (!cs_body_str(r, "username", false, &user) || !cs_body_str(r, "password", false, &pw) ||
	    !cs_body_str(r, "device_id", false, &dev) ||
	    !cs_body_str(r, "initial_device_display_name", false, &dname))
		return;
	json_t *inhibit = json_object_get(r->body, "inhibit_login");
	if (inhibit != NULL && !json_is_boolean(inhibit)) {
		http_reply_error(r, 400, "M_BAD_JSON", "'inhibit_login' must be a boolean");
		return;
	}
	char lp[64], uid[512];
	if (user == NULL) {
		unsigned char raw[8];
		randombytes_buf(raw, sizeof(raw));
		snprintf(lp, sizeof(lp), "u");
		sodium_bin2hex(lp + 1, sizeof(lp) - 1, raw, sizeof(raw));
		user = lp;
	}
	mxdb_error e;
	if (acct_check_localpart(user, &e) != MXDB_OK) {
		http_reply_error(r, 400, "M_INVALID_USERNAME", "%s", e.message);
		return;
	}
	snprintf(uid, sizeof(uid), "@%s:%s", user, c->server_name);
	if (acct_user_exists(c->acct, uid)) {
		http_reply_error(r, 400, "M_USER_IN_USE", "the user ID is already taken");
		return;
	}
	if (!uia(r, "m.login.dummy", NULL))
		return;
	char *created = NULL;
	mxdb_status st = acct_user_create(c->acct, user, pw, &created, &e);
	if (st == MXDB_EEXISTS) {
		http_reply_error(r, 400, "M_USER_IN_USE", "%s", e.message);
		return;
	}
	if (st != MXDB_OK) {
		cs_fail(r, st, &e);
		return;
	}
	acct_profile_set(c->acct, created, "displayname", user, NULL);
	if (json_is_true(inhibit)) {
		http_reply_json(r, 200, json_pack("{s:s, s:s}", "user_id", created, "home_server",
		                                  c->server_name));
		free(created);
		return;
	}
	login_reply(r, created, dev, dname);
	free(created);
}

void cs_register_available(http_req *r)
{
	const char *user = http_query(r, "username");
	mxdb_error e;
	if (user == NULL) {
		http_reply_error(r, 400, "M_MISSING_PARAM", "missing 'username'");
		return;
	}
	if (acct_check_localpart(user, &e) != MXDB_OK) {
		http_reply_error(r, 400, "M_INVALID_USERNAME", "%s", e.message);
		return;
	}
	char uid[512];
	snprintf(uid, sizeof(uid), "@%s:%s", user, CS(r)->server_name);
	if (acct_user_exists(CS(r)->acct, uid)) {
		http_reply_error(r, 400, "M_USER_IN_USE", "the user ID is already taken");
		return;
	}
	http_reply_json(r, 200, json_pack("{s:b}", "available", 1));
}

void cs_login_flows(http_req *r)
{
	http_reply_json(r, 200, json_pack("{s:[{s:s}]}", "flows", "type", "m.login.password"));
}

void cs_login(http_req *r)
{
	cs_ctx *c = CS(r);
	const char *type, *pw, *dev, *dname, *user = NULL;
	if (!cs_body_str(r, "type", true, &type) || !cs_body_str(r, "device_id", false, &dev) ||
	    !cs_body_str(r, "initial_device_display_name", false, &dname))
		return;
	if (strcmp(type, "m.login.password") != 0) {
		http_reply_error(r, 400, "M_UNKNOWN", "unsupported login type %s", type);
		return;
	}
	json_t *id = json_object_get(r->body, "identifier");
	if (id != NULL) {
		const char *idtype = json_string_value(json_object_get(id, "type"));
		if (!json_is_object(id) || idtype == NULL || strcmp(idtype, "m.id.user") != 0) {
			http_reply_error(r, 400, "M_UNKNOWN", "only m.id.user identifiers are supported");
			return;
		}
		user = json_string_value(json_object_get(id, "user"));
		if (user == NULL) {
			http_reply_error(r, 400, "M_BAD_JSON", "identifier.user must be a string");
			return;
		}
	} else if (!cs_body_str(r, "user", true, &user)) {
		return;
	}
	if (!cs_body_str(r, "password", true, &pw))
		return;
	char uid[512];
	mxdb_error e;
	if (!local_user_id(c, user, uid, sizeof(uid)) ||
	    acct_password_check(c->acct, uid, pw, &e) != MXDB_OK) {
		http_reply_error(r, 403, "M_FORBIDDEN", "invalid username or password");
		return;
	}
	login_reply(r, uid, dev, dname);
}

void cs_logout(http_req *r)
{
	mxdb_error e;
	mxdb_status st = acct_logout(CS(r)->acct, r->token, &e);
	cs_done(r, st, &e);
}

void cs_logout_all(http_req *r)
{
	mxdb_error e;
	mxdb_status st = acct_logout_all(CS(r)->acct, r->user_id, &e);
	cs_done(r, st, &e);
}

void cs_whoami(http_req *r)
{
	http_reply_json(r, 200, json_pack("{s:s, s:s, s:b}", "user_id", r->user_id, "device_id",
	                                  r->device_id, "is_guest", 0));
}

void cs_password(http_req *r)
{
	const char *pw;
	if (!cs_body_str(r, "new_password", true, &pw) || !uia(r, "m.login.password", r->user_id))
		return;
	json_t *lo = json_object_get(r->body, "logout_devices");
	if (lo != NULL && !json_is_boolean(lo)) {
		http_reply_error(r, 400, "M_BAD_JSON", "'logout_devices' must be a boolean");
		return;
	}
	mxdb_error e;
	mxdb_status st = acct_password_set(CS(r)->acct, r->user_id, pw, &e);
	if (st == MXDB_OK && !json_is_false(lo))
		st = acct_logout_others(CS(r)->acct, r->user_id, r->token, &e);
	cs_done(r, st, &e);
}

/* ---- devices ---- */

void cs_devices(http_req *r)
{
	json_t *list;
	mxdb_error e;
	mxdb_status st = acct_devices(CS(r)->acct, r->user_id, NULL, &list, &e);
	if (st != MXDB_OK)
		cs_fail(r, st, &e);
	else
		http_reply_json(r, 200, json_pack("{s:o}", "devices", list));
}

/* The user's device of the path (one-element list), or NULL after replying
 * (404 when the user has no such device). */
static json_t *path_device(http_req *r)
{
	json_t *list;
	mxdb_error e;
	mxdb_status st = acct_devices(CS(r)->acct, r->user_id, r->param[0], &list, &e);
	if (st != MXDB_OK) {
		cs_fail(r, st, &e);
		return NULL;
	}
	return list;
}

void cs_device_get(http_req *r)
{
	json_t *list = path_device(r);
	if (list == NULL)
		return;
	http_reply_json(r, 200, json_incref(json_array_get(list, 0)));
	json_decref(list);
}

void cs_device_put(http_req *r)
{
	const char *name;
	if (!cs_body_str(r, "display_name", false, &name))
		return;
	mxdb_error e;
	mxdb_status st = acct_device_rename(CS(r)->acct, r->user_id, r->param[0], name, &e);
	cs_done(r, st, &e);
}

void cs_device_delete(http_req *r)
{
	json_t *list = path_device(r);
	if (list == NULL)
		return;
	json_decref(list);
	if (!uia(r, "m.login.password", r->user_id))
		return;
	mxdb_error e;
	mxdb_status st = acct_device_delete(CS(r)->acct, r->user_id, r->param[0], &e);
	cs_done(r, st, &e);
}

/* ---- profiles ---- */

static bool profile_field(http_req *r)
{
	if (r->nparam < 2 || strcmp(r->param[1], "displayname") == 0 ||
	    strcmp(r->param[1], "avatar_url") == 0)
		return true;
	http_reply_error(r, 404, "M_UNRECOGNIZED", "unknown profile field");
	return false;
}

void cs_profile_get(http_req *r)
{
	json_t *p;
	if (!profile_field(r))
		return;
	mxdb_error e;
	mxdb_status st = acct_profile_get(CS(r)->acct, r->param[0], &p, &e);
	if (st != MXDB_OK) {
		http_reply_error(r, 404, "M_NOT_FOUND", "no such profile");
		return;
	}
	if (r->nparam > 1) {
		json_t *v = json_object_get(p, r->param[1]);
		json_t *one = json_object();
		if (v != NULL)
			json_object_set(one, r->param[1], v);
		json_decref(p);
		p = one;
	}
	http_reply_json(r, 200, p);
}

/* Puts the new profile into the user's member event in every joined room. */
static void profile_to_rooms(cs_ctx *c, const char *user)
{
	json_t *p;
	if (acct_profile_get(c->acct, user, &p, NULL) != MXDB_OK)
		return;
	char *content = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	mxdb_user_room *rooms = NULL;
	size_t n = 0;
	if (content != NULL && mxdb_user_rooms(c->db, user, "join", &rooms, &n, NULL) == MXDB_OK) {
		for (size_t i = 0; i < n; i++)
			mxdb_membership(c->db, rooms[i].room_id, user, NULL, MXDB_JOIN, NULL, content,
			                NULL, NULL);
		mxdb_user_rooms_free(rooms, n);
	}
	free(content);
}

void cs_profile_put(http_req *r)
{
	const char *field = r->param[1], *value;
	if (!profile_field(r))
		return;
	if (strcmp(r->param[0], r->user_id) != 0) {
		http_reply_error(r, 403, "M_FORBIDDEN", "cannot change another user's profile");
		return;
	}
	if (!cs_body_str(r, field, true, &value))
		return;
	mxdb_error e;
	mxdb_status st = acct_profile_set(CS(r)->acct, r->user_id, field, value, &e);
	if (st != MXDB_OK) {
		cs_fail(r, st, &e);
		return;
	}
	profile_to_rooms(CS(r), r->user_id);
	http_reply_empty(r);
}

void cs_threepids(http_req *r)
{
	http_reply_json(r, 200, json_pack("{s:[]}", "threepids"));
}

void cs_user_search(http_req *r)
{
	const char *term;
	if (!cs_body_str(r, "search_term", true, &term))
		return;
	json_t *lim = json_object_get(r->body, "limit");
	if (lim != NULL && !json_is_integer(lim)) {
		http_reply_error(r, 400, "M_BAD_JSON", "'limit' must be an integer");
		return;
	}
	int64_t limit = lim ? json_integer_value(lim) : 10;
	if (limit <= 0 || limit > 100)
		limit = 10;
	json_t *list;
	mxdb_error e;
	mxdb_status st = acct_user_search(CS(r)->acct, term, limit, &list, &e);
	if (st != MXDB_OK) {
		cs_fail(r, st, &e);
		return;
	}
	bool limited = (int64_t)json_array_size(list) > limit;
	if (limited)
		json_array_remove(list, json_array_size(list) - 1);
	http_reply_json(r, 200, json_pack("{s:o, s:b}", "results", list, "limited", limited));
}

/* Presence is not tracked: everyone is "offline" and setting it is accepted. */
void cs_presence_get(http_req *r)
{
	if (!acct_user_exists(CS(r)->acct, r->param[0])) {
		http_reply_error(r, 404, "M_NOT_FOUND", "unknown user");
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s}", "presence", "offline"));
}

void cs_presence_put(http_req *r)
{
	const char *p;
	if (!cs_body_str(r, "presence", true, &p))
		return;
	if (strcmp(r->param[0], r->user_id) != 0) {
		http_reply_error(r, 403, "M_FORBIDDEN", "cannot set another user's presence");
		return;
	}
	http_reply_empty(r);
}
