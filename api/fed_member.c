/*
 * fed_member.c: the federation routes that change a membership on behalf
 * of another server: make_join / send_join (restricted joins co-signed
 * here), make_leave / send_leave, make_knock / send_knock (with the
 * knock_room_state answer) and the v2 invite. Turns HTTP into calls on db/
 * (fed_room.h); keeps no state of its own.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct.h"
#include "cjson.h"
#include "fed_fetch.h"
#include "fed_pdu.h"
#include "fed_room.h"
#include "fed_routes.h"
#include "log.h"
#include "url.h"

#define FED_MAX_VER 32 /* `ver` values of a make_join / make_knock read at most */

/* ---- joins and leaves ---- */

/* Is the room's version among the joining server's `ver` parameters (all
 * of them; none means ["1"], as the spec says)? */
static bool version_offered(http_req *r, const char *rv_id)
{
	const char *v = http_query_nth(r, "ver", 0);
	if (v == NULL)
		return strcmp(rv_id, "1") == 0;
	for (unsigned n = 1; v != NULL && n <= FED_MAX_VER; n++) {
		if (strcmp(v, rv_id) == 0)
			return true;
		v = http_query_nth(r, "ver", n);
	}
	return false;
}

/* Does the room's join rule take knocks (knock, knock_restricted)? The
 * spec wants make_knock refused before a template is made; send_knock is
 * checked by the auth rules anyway. */
static bool knocks_taken(mxdb *db, const char *room_id)
{
	char *text = NULL;
	json_t *c = mxdb_get(db, room_id, "m.room.join_rules", "", &text, NULL, NULL) == MXDB_OK
	                    ? json_loads(text, 0, NULL)
	                    : NULL;
	const char *rule = json_string_value(json_object_get(c, "join_rule"));
	bool ok = rule && (strcmp(rule, "knock") == 0 || strcmp(rule, "knock_restricted") == 0);
	json_decref(c);
	mxdb_free(text);
	return ok;
}

static void make_membership(http_req *r, const char *membership)
{
	char origin[256];
	if (!fed_route_authed(r, origin))
		return;
	const char *room = r->param[0], *user = r->param[1];
	const char *server = fed_server_of(user);
	if (server == NULL || strcmp(server, origin) != 0) {
		http_reply_error(r, 403, "M_FORBIDDEN", "%s is not a user of %s", user, origin);
		return;
	}
	json_t *tmpl;
	const char *rv_id;
	mxdb_error e;
	fed_service *f = fed_route_service(r);
	mxdb_status s = fed_room_make_membership(f->db, room, user, membership, &tmpl, &rv_id, &e);
	if (s != MXDB_OK) {
		http_reply_status(r, s, e.message);
	} else if (strcmp(membership, "knock") == 0 && !knocks_taken(f->db, room)) {
		json_decref(tmpl);
		http_reply_error(r, 403, "M_FORBIDDEN", "%s takes no knocks", room);
	} else if (strcmp(membership, "leave") != 0 && !version_offered(r, rv_id)) {
		json_decref(tmpl);
		http_reply_json(r, 400, json_pack("{s:s, s:s, s:s}", "errcode", "M_INCOMPATIBLE_ROOM_VERSION",
		                                  "error", "your server does not support this room's version",
		                                  "room_version", rv_id));
	} else {
		http_reply_json(r, 200, json_pack("{s:s, s:o}", "room_version", rv_id, "event", tmpl));
	}
}

void fed_route_make_join(http_req *r)
{
	make_membership(r, "join");
}

void fed_route_make_leave(http_req *r)
{
	make_membership(r, "leave");
}

void fed_route_make_knock(http_req *r)
{
	make_membership(r, "knock");
}

/* A join naming one of our users in join_authorised_via_users_server (a
 * restricted room): when the joining user meets an allow condition, our
 * signature goes on it (*out: the signed copy) before it is checked and
 * stored, as the auth rules want the authorising server's signature. */
static mxdb_status cosign_join(fed_service *f, json_t *body, const char *room_id,
                               const char *sender, const mx_room_version *rv, json_t **out,
                               mxdb_error *err)
{
	const char *via = json_string_value(
		json_object_get(json_object_get(body, "content"), "join_authorised_via_users_server"));
	const char *server = via ? fed_server_of(via) : NULL;
	*out = NULL;
	if (server == NULL || strcmp(server, f->server_name) != 0 || rv == NULL)
		return MXDB_OK;
	mxdb_status s = fed_room_join_check(f->db, room_id, sender, err);
	if (s == MXDB_OK && (*out = json_deep_copy(body)) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "join");
	if (s == MXDB_OK)
		s = ev_hash_and_sign(*out, rv, &f->key, f->server_name, err);
	return s;
}

/* The state events that identify a room to someone outside it (spec:
 * "Stripped state"); m.room.create is required. */
static const char *const stripped_types[] = {
	"m.room.create", "m.room.name", "m.room.avatar", "m.room.topic",
	"m.room.join_rules", "m.room.canonical_alias", "m.room.encryption",
};

/* knock_room_state: those of the room's current state events it has, as
 * PDUs (spec v1.16: formatted as the room version says; the knocking
 * server strips them for its client). New array. */
static json_t *knock_room_state(fed_service *f, const char *room_id)
{
	json_t *out = json_array();
	for (size_t i = 0; out && i < sizeof(stripped_types) / sizeof(stripped_types[0]); i++) {
		char *id = NULL;
		json_t *pdu = NULL;
		if (mxdb_get(f->db, room_id, stripped_types[i], "", NULL, &id, NULL) == MXDB_OK)
			pdu = fed_route_load_pdu(f, id);
		if (pdu != NULL)
			json_array_append_new(out, pdu);
		mxdb_free(id);
	}
	return out;
}

static void send_membership(http_req *r, const char *membership)
{
	fed_service *f = fed_route_service(r);
	char origin[256];
	if (!fed_route_authed(r, origin))
		return;
	mxdb_room_info info;
	mxdb_error e;
	const char *sender = json_string_value(json_object_get(r->body, "sender"));
	const char *got = json_string_value(json_object_get(json_object_get(r->body, "content"), "membership"));
	if (mxdb_room_info_get(f->db, r->param[0], &info, &e) != MXDB_OK) {
		http_reply_error(r, 404, "M_NOT_FOUND", "no room %s", r->param[0]);
		return;
	}
	if (sender == NULL || fed_server_of(sender) == NULL || strcmp(fed_server_of(sender), origin) != 0 ||
	    got == NULL || strcmp(got, membership) != 0) {
		http_reply_error(r, 400, "M_BAD_JSON", "a %s of a user of %s is expected", membership, origin);
		return;
	}
	bool join = strcmp(membership, "join") == 0;
	json_t *pdu = r->body, *cosigned = NULL;
	mxdb_status s = join ? cosign_join(f, r->body, info.room_id, sender, rv_get(info.version),
	                                   &cosigned, &e)
	                     : MXDB_OK;
	if (cosigned != NULL)
		pdu = cosigned;
	ev_t *ev = NULL;
	int red;
	if (s == MXDB_OK)
		s = fed_pdu_check(pdu, rv_get(info.version), fed_keyring_event_key, f->keyring, &ev, &red,
		                  &e);
	if (s == MXDB_OK && (strcmp(ev->event_id, r->param[1]) != 0 || red || strcmp(ev->room_id, info.room_id) != 0)) {
		ev_free(ev);
		s = mx_fail(&e, MXDB_EBADJSON, "the event does not match its ID or room");
	}
	json_t *state = NULL, *chain = NULL;
	if (s == MXDB_OK)
		s = fed_room_accept_membership(f->db, ev, join ? &state : NULL, join ? &chain : NULL, &e);
	bool knock = strcmp(membership, "knock") == 0;
	if (s == MXDB_OK && knock)
		state = knock_room_state(f, info.room_id);
	if (s != MXDB_OK) {
		json_decref(cosigned);
		http_reply_status(r, s, e.message);
		return;
	}
	/* The resident server hands the event to the room's other servers. */
	if (fed_forward(f, info.room_id, pdu, origin, &e) != MXDB_OK)
		log_error("federation: forwarding a %s: %s", membership, e.message);
	if (join)
		http_reply_json(r, 200, json_pack("{s:s, s:o, s:o, s:O}", "origin", f->server_name, "state",
		                                  state, "auth_chain", chain, "event", pdu));
	else if (knock)
		http_reply_json(r, 200, json_pack("{s:o}", "knock_room_state", state));
	else
		http_reply_json(r, 200, json_object());
	json_decref(cosigned);
}

void fed_route_send_join(http_req *r)
{
	send_membership(r, "join");
}

void fed_route_send_leave(http_req *r)
{
	send_membership(r, "leave");
}

void fed_route_send_knock(http_req *r)
{
	send_membership(r, "knock");
}

json_t *fed_stripped_state(const json_t *given, const json_t *event)
{
	json_t *out = json_array(), *e;
	size_t i;
	json_array_foreach(given, i, e) {
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *sk = json_string_value(json_object_get(e, "state_key"));
		const char *sender = json_string_value(json_object_get(e, "sender"));
		json_t *content = json_object_get(e, "content");
		/* the member event itself comes last, from event (a resident may
		 * list it too: knock_room_state) */
		bool own = json_equal(json_object_get(e, "type"), json_object_get(event, "type")) &&
		           json_equal(json_object_get(e, "state_key"), json_object_get(event, "state_key"));
		if (type && sk && sender && json_is_object(content) && !own)
			json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:O}", "type", type, "state_key",
			                                     sk, "sender", sender, "content", content));
	}
	json_array_append_new(out, json_pack("{s:O, s:O, s:O, s:O}", "type",
	                                     json_object_get(event, "type"), "state_key",
	                                     json_object_get(event, "state_key"), "sender",
	                                     json_object_get(event, "sender"), "content",
	                                     json_object_get(event, "content")));
	return out;
}

/* We sign an invite for one of our users, and keep it for them (their
 * /sync shows it; joining asks the inviting server); the inviting server
 * sends it to the room. */
void fed_route_invite(http_req *r)
{
	fed_service *f = fed_route_service(r);
	char origin[256];
	if (!fed_route_authed(r, origin))
		return;
	json_t *event = json_object_get(r->body, "event");
	const mx_room_version *rv = rv_get(json_string_value(json_object_get(r->body, "room_version")) ?: "");
	const char *target = json_string_value(json_object_get(event, "state_key"));
	if (!json_is_object(event) || rv == NULL) {
		http_reply_error(r, 400, rv ? "M_BAD_JSON" : "M_INCOMPATIBLE_ROOM_VERSION", "bad invite");
		return;
	}
	const char *ts = target ? fed_server_of(target) : NULL;
	if (ts == NULL || strcmp(ts, f->server_name) != 0) {
		http_reply_error(r, 403, "M_FORBIDDEN", "the invitee is not ours");
		return;
	}
	ev_t *ev = NULL;
	int red;
	mxdb_error e;
	if (fed_pdu_check(event, rv, fed_keyring_event_key, f->keyring, &ev, &red, &e) != MXDB_OK || red) {
		http_reply_error(r, 403, "M_FORBIDDEN", "%s", red ? "wrong content hash" : e.message);
		ev_free(ev);
		return;
	}
	const char *membership = json_string_value(json_object_get(ev->content, "membership"));
	if (strcmp(ev->type, "m.room.member") != 0 || membership == NULL ||
	    strcmp(membership, "invite") != 0 || ev->room_id == NULL ||
	    strcmp(ev->room_id, r->param[0]) != 0 || strcmp(ev->event_id, r->param[1]) != 0 ||
	    fed_server_of(ev->sender) == NULL || strcmp(fed_server_of(ev->sender), origin) != 0) {
		http_reply_error(r, 400, "M_BAD_JSON", "not an invite of this room and ID");
		ev_free(ev);
		return;
	}
	json_t *signed_ev = json_deep_copy(event);
	mxdb_status s = ev_hash_and_sign(signed_ev, rv, &f->key, f->server_name, &e);
	json_t *given = json_object_get(r->body, "invite_room_state");
	json_t *st = s == MXDB_OK ? fed_stripped_state(given, event) : NULL;
	char *text = st ? json_dumps(st, JSON_COMPACT) : NULL;
	if (s == MXDB_OK)
		s = text ? fed_invite_store(f->db, target, ev->room_id, ev->event_id, ev->sender, text, &e)
		         : mx_fail(&e, MXDB_ENOMEM, "invite state");
	free(text);
	json_decref(st);
	ev_free(ev);
	if (s != MXDB_OK) {
		json_decref(signed_ev);
		http_reply_status(r, s, e.message);
		return;
	}
	http_reply_json(r, 200, json_pack("{s:o}", "event", signed_ev));
}

