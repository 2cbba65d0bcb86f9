/*
 * fed_service.c: federation's runtime in the daemon (client, keyring,
 * sender, the commit hook that wakes the sender) and the outbound side of
 * joining, knocking on and leaving a room that lives on other servers
 * (through each server the client named, in turn).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cjson.h"
#include "fed_fetch.h"
#include "fed_pdu.h"
#include "fed_queue.h"
#include "fed_room.h"
#include "fed_service.h"
#include "fed_store.h"
#include "log.h"
#include "url.h"

fed_service *(*fed_of)(void *app);

static void on_commit(void *ctx, uint64_t pos)
{
	fed_sender_kick(ctx);
}

static mxdb_status add_peer(fed_service *f, const char *spec, mxdb_error *err)
{
	return fed_client_add_peer(f->client, spec, err);
}

static mxdb_status add_notary(fed_service *f, const char *name, mxdb_error *err)
{
	return fed_keyring_add_notary(f->keyring, name, err);
}

/* FILE:EXPIRED_TS (milliseconds): a retired signing key, published in
 * old_verify_keys and still good for our events from before EXPIRED_TS. */
static mxdb_status add_old_key(fed_service *f, const char *spec, mxdb_error *err)
{
	const char *colon = strrchr(spec, ':');
	char *end = NULL;
	long long ts = colon ? strtoll(colon + 1, &end, 10) : 0;
	if (colon == NULL || colon == spec || end == colon + 1 || *end != '\0' || ts <= 0)
		return mx_fail(err, MXDB_EINVAL, "--old-signing-key wants FILE:EXPIRED_TS, not %s", spec);
	if (f->n_old_keys == sizeof(f->old_keys) / sizeof(f->old_keys[0]))
		return mx_fail(err, MXDB_ETOOLARGE, "too many old signing keys");
	char path[1100];
	snprintf(path, sizeof(path), "%.*s", (int)(colon - spec), spec);
	mx_key k;
	mxdb_status s = key_load(&k, path, err);
	if (s == MXDB_OK && strcmp(k.key_id, f->key.key_id) == 0)
		s = mx_fail(err, MXDB_EINVAL, "old signing key %s is the current key", path);
	if (s != MXDB_OK)
		return s;
	fed_vkey *o = &f->old_keys[f->n_old_keys];
	memset(o, 0, sizeof(*o));
	snprintf(o->key_id, sizeof(o->key_id), "%s", k.key_id);
	memcpy(o->pk, k.pk, 32);
	o->expired_ts = o->valid_until_ts = ts;
	sodium_memzero(&k, sizeof(k));
	s = fed_keyring_add_own_old(f->keyring, o, err);
	if (s == MXDB_OK)
		f->n_old_keys++;
	return s;
}

/* Takes the next ','-separated item of *p, hands it to fn, advances *p. */
static mxdb_status each_item(const char **p, fed_service *f,
                             mxdb_status (*fn)(fed_service *, const char *, mxdb_error *),
                             mxdb_error *err)
{
	const char *comma = strchr(*p, ',');
	size_t n = comma ? (size_t)(comma - *p) : strlen(*p);
	char item[1200];
	const char *start = *p;
	*p = comma ? comma + 1 : *p + n;
	if (n >= sizeof(item))
		return mx_fail(err, MXDB_EINVAL, "option value too long");
	memcpy(item, start, n);
	item[n] = '\0';
	return fn(f, item, err);
}

mxdb_status fed_start(mxdb *db, const char *data_dir, const fed_options *opt, fed_service **out,
                      mxdb_error *err)
{
	*out = NULL;
	fed_service *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return mx_fail(err, MXDB_ENOMEM, "federation");
	f->db = db;
	f->server_name = mxdb_server_name(db);
	f->max_gap_events = opt->max_gap_events ? opt->max_gap_events : 2000;
	pthread_mutex_init(&f->lock, NULL);
	char path[1100];
	snprintf(path, sizeof(path), "%s/signing.key", data_dir);
	mxdb_status s = key_load(&f->key, path, err);
	fed_client_config cc = {.server_name = f->server_name, .key = &f->key,
	                        .plain_http = opt->plain_http, .ca_file = opt->ca_file};
	if (s == MXDB_OK)
		s = fed_client_new(&cc, &f->client, err);
	/* --peer NAME=HOST:PORT, repeated: a comma-separated list here. */
	for (const char *p = opt->peers; s == MXDB_OK && p && *p;)
		s = each_item(&p, f, add_peer, err);
	if (s == MXDB_OK)
		s = fed_store_open(mxdb_sqlite_path(db), &f->conn, err);
	if (s == MXDB_OK)
		s = fed_keyring_new(mxdb_sqlite_path(db), f->client, &f->keyring, err);
	if (s == MXDB_OK)
		fed_keyring_set_own(f->keyring, f->server_name, &f->key);
	for (const char *p = opt->notaries; s == MXDB_OK && p && *p;)
		s = each_item(&p, f, add_notary, err);
	for (const char *p = opt->old_keys; s == MXDB_OK && p && *p;)
		s = each_item(&p, f, add_old_key, err);
	fed_sender_config sc = {.db_path = mxdb_sqlite_path(db), .client = f->client,
	                        .origin = f->server_name};
	if (s == MXDB_OK)
		s = fed_sender_start(&sc, &f->sender, err);
	if (s == MXDB_OK && (f->commit_sub = mxdb_on_commit(db, on_commit, f->sender)) == 0)
		s = mx_fail(err, MXDB_EINTERNAL, "no room for a commit callback");
	if (s != MXDB_OK) {
		fed_stop(f);
		return s;
	}
	fed_sender_kick(f->sender); /* whatever was queued before a restart */
	*out = f;
	return MXDB_OK;
}

void fed_stop(fed_service *f)
{
	if (f == NULL)
		return;
	if (f->commit_sub)
		mxdb_unsubscribe(f->db, f->commit_sub);
	fed_sender_stop(f->sender);
	fed_keyring_free(f->keyring);
	fed_client_free(f->client);
	sqlite3_close(f->conn);
	pthread_mutex_destroy(&f->lock);
	sodium_memzero(&f->key, sizeof(f->key));
	free(f);
}

/* Queues item (a PDU or an EDU) for the room's servers but us and except. */
static mxdb_status queue_for_room(fed_service *f, const char *room_id, fed_item_kind kind,
                                  const json_t *item, const char *except, mxdb_error *err)
{
	char **servers = NULL, *text = NULL;
	size_t n = 0, len;
	mxdb_status s = fed_room_servers(f->db, room_id, &servers, &n, err);
	if (s == MXDB_OK)
		s = cj_dump(item, &text, &len, err);
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; s == MXDB_OK && i < n; i++)
		if (strcmp(servers[i], f->server_name) != 0 && (!except || strcmp(servers[i], except) != 0))
			s = fed_queue_push(f->conn, servers[i], kind, text, err);
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; i < n; i++)
		free(servers[i]);
	free(servers);
	free(text);
	if (s == MXDB_OK)
		fed_sender_kick(f->sender);
	return s;
}

mxdb_status fed_forward(fed_service *f, const char *room_id, const json_t *pdu, const char *except,
                        mxdb_error *err)
{
	return queue_for_room(f, room_id, FED_ITEM_PDU, pdu, except, err);
}

mxdb_status fed_send_edu(fed_service *f, const char *room_id, const char *edu_type,
                         json_t *content, mxdb_error *err)
{
	json_t *edu = json_pack("{s:s, s:O}", "edu_type", edu_type, "content", content);
	mxdb_status s = edu ? queue_for_room(f, room_id, FED_ITEM_EDU, edu, NULL, err)
	                    : mx_fail(err, MXDB_ENOMEM, "edu");
	json_decref(edu);
	return s;
}

/* GET /query/directory on the alias's server. */
static mxdb_status resolve_alias(fed_service *f, const char *alias, char **room_id, mxdb_error *err)
{
	const char *server = fed_server_of(alias);
	char *a = url_escape(alias), *uri = NULL;
	long status = 0;
	json_t *resp = NULL;
	mxdb_status s = server && a ? MXDB_OK : mx_fail(err, MXDB_EINVAL, "bad alias %s", alias);
	if (s == MXDB_OK && asprintf(&uri, "/_matrix/federation/v1/query/directory?room_alias=%s", a) < 0)
		uri = NULL, s = mx_fail(err, MXDB_ENOMEM, "uri");
	if (s == MXDB_OK)
		s = fed_request(f->client, server, "GET", uri, NULL, &status, &resp, err);
	const char *id = json_string_value(json_object_get(resp, "room_id"));
	if (s == MXDB_OK && (status != 200 || id == NULL))
		s = mx_fail(err, MXDB_ENOTFOUND, "%s does not know %s", server, alias);
	if (s == MXDB_OK && (*room_id = strdup(id)) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "room id");
	json_decref(resp);
	free(uri);
	free(a);
	return s;
}

/* Checks the PDUs of a send_join answer; NULL entries dropped. */
static ev_t **check_all(fed_service *f, json_t *arr, const mx_room_version *rv, size_t *n)
{
	size_t cap = json_array_size(arr), k = 0;
	ev_t **out = calloc(cap + 1, sizeof(*out));
	json_t *pdu;
	size_t i;
	json_array_foreach(arr, i, pdu) {
		int red;
		mxdb_error e;
		if (out && fed_pdu_check(pdu, rv, fed_keyring_event_key, f->keyring, &out[k], &red, &e) == MXDB_OK)
			k++;
		else if (out)
			log_warn("federation: join: dropped a state event: %s", e.message);
	}
	*n = k;
	return out;
}

/* The server of whoever invited user_id to room over federation (new
 * string), or NULL: it has the room. */
static char *inviter_server(fed_service *f, const char *room, const char *user_id)
{
	mxdb_user_room *inv = NULL;
	size_t n = 0;
	char *server = NULL;
	if (mxdb_user_rooms(f->db, user_id, "invite", &inv, &n, NULL) == MXDB_OK)
		for (size_t i = 0; i < n && server == NULL; i++)
			if (strcmp(inv[i].room_id, room) == 0 && fed_server_of(inv[i].sender) != NULL)
				server = strdup(fed_server_of(inv[i].sender));
	mxdb_user_rooms_free(inv, n);
	return server;
}

/* The join to store: the send_join answer's `event` (a restricted join,
 * now signed by the resident server too) when it is the same event as
 * ours (id), else ours. *out: new. */
static mxdb_status joined_event(fed_service *f, const mx_room_version *rv, json_t *ours,
                                json_t *answer, const char *id, ev_t **out, mxdb_error *err)
{
	json_t *theirs = json_object_get(answer, "event");
	*out = NULL;
	if (!json_is_object(theirs))
		return ev_from_json(ours, id, rv, out, err);
	int red = 0;
	mxdb_status s = fed_pdu_check(theirs, rv, fed_keyring_event_key, f->keyring, out, &red, err);
	if (s == MXDB_OK && (red || strcmp((*out)->event_id, id) != 0)) {
		ev_free(*out);
		*out = NULL;
		s = mx_fail(err, MXDB_EBADJSON, "send_join answered another event than %s", id);
	}
	return s;
}

/* Our join to a room here, answered by the resident server via: stored
 * like a received event, with the ancestors we lack fetched from via.
 * Takes join. */
static mxdb_status store_join(fed_service *f, const char *via, ev_t *join, const char *id,
                              mxdb_error *err)
{
	ev_t **evs = malloc(sizeof(*evs));
	json_t *results = json_object();
	mxdb_status s = evs && results ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "join");
	if (s == MXDB_OK) {
		evs[0] = join;
		s = fed_take_pdus(f, via, evs, 1, results, err);
	} else {
		ev_free(join);
		free(evs);
	}
	const char *why = json_string_value(json_object_get(json_object_get(results, id), "error"));
	if (s == MXDB_OK && (json_object_get(results, id) == NULL || why != NULL))
		s = mx_fail(err, MXDB_EFORBIDDEN, "our join %s: %s", id, why ? why : "not stored");
	json_decref(results);
	return s;
}

/* The entries of a knock_room_state worth showing: a PDU (spec v1.16)
 * only when its hashes and signatures hold; a plain stripped state event
 * (an older server's answer) as it is. New array. */
static json_t *checked_room_state(fed_service *f, json_t *given, const mx_room_version *rv)
{
	json_t *out = json_array(), *pdu;
	size_t i;
	json_array_foreach(given, i, pdu) {
		ev_t *ev = NULL;
		int red = 0;
		mxdb_error e;
		bool ok = json_object_get(pdu, "signatures") == NULL ||
		          (fed_pdu_check(pdu, rv, fed_keyring_event_key, f->keyring, &ev, &red, &e) ==
		                   MXDB_OK &&
		           !red);
		if (ok)
			json_array_append(out, pdu);
		else
			log_warn("federation: knock: dropped a state event: %s",
			         red ? "wrong content hash" : e.message);
		ev_free(ev);
	}
	return out;
}

/* A knock answered: kept for the user with the stripped state the
 * resident server gave (knock_room_state), until an invite or the room
 * replaces it. */
static mxdb_status knock_done(fed_service *f, const char *via, const mx_room_version *rv,
                              json_t *event, const char *id, json_t *answer, const char *room_id,
                              const char *user_id, mxdb_error *err)
{
	json_t *given = checked_room_state(f, json_object_get(answer, "knock_room_state"), rv);
	json_t *st = given ? fed_stripped_state(given, event) : NULL;
	json_decref(given);
	char *text = st ? json_dumps(st, JSON_COMPACT) : NULL;
	mxdb_status s = text ? fed_knock_store(f->db, user_id, room_id, id, via, text, err)
	                     : mx_fail(err, MXDB_ENOMEM, "knock state");
	free(text);
	json_decref(st);
	return s;
}

/* What the send_join / send_leave / send_knock answer does here: a join
 * builds the room from it (or, when the room is here already, is stored
 * like any remote event: the resident server sends it to everyone but
 * us); a leave (an invite declined, a knock rescinded) only forgets the
 * invite or knock; a knock is kept (knock_done). */
static mxdb_status membership_done(fed_service *f, const char *via, const mx_room_version *rv,
                                   json_t *event, const char *id, json_t *answer,
                                   const char *membership, const char *room_id,
                                   const char *user_id, bool here, mxdb_error *err)
{
	if (strcmp(membership, "leave") == 0)
		return fed_invite_forget(f->db, user_id, room_id, err);
	if (strcmp(membership, "knock") == 0)
		return knock_done(f, via, rv, event, id, answer, room_id, user_id, err);
	ev_t *join = NULL;
	mxdb_status s = joined_event(f, rv, event, answer, id, &join, err);
	if (s == MXDB_OK && here)
		return store_join(f, via, join, id, err);
	if (s != MXDB_OK)
		return s;
	size_t ns, nc;
	ev_t **st = check_all(f, json_object_get(answer, "state"), rv, &ns);
	ev_t **ch = check_all(f, json_object_get(answer, "auth_chain"), rv, &nc);
	if (st && ch)
		s = fed_room_join_remote(f->db, rv, ch, nc, st, ns, join, err);
	else {
		s = mx_fail(err, MXDB_ENOMEM, "join");
		ev_free(join);
		for (size_t i = 0; st && ch && i < ns + nc; i++)
			ev_free(i < ns ? st[i] : ch[i - ns]);
	}
	free(st);
	free(ch);
	return s;
}

/* The errcodes of a refused make_join / send_join that say more than the
 * HTTP status. */
static const struct {
	const char *errcode;
	mxdb_status status;
} refusals[] = {
	{"M_INCOMPATIBLE_ROOM_VERSION", MXDB_EVERSION},
	{"M_UNABLE_TO_GRANT_JOIN", MXDB_ENOGRANT},
	{"M_UNABLE_TO_AUTHORISE_JOIN", MXDB_EUNVERIFIABLE},
};

static mxdb_status refusal(long status, const json_t *answer, mxdb_status otherwise)
{
	const char *code = json_string_value(json_object_get(answer, "errcode"));
	for (size_t i = 0; code && i < sizeof(refusals) / sizeof(refusals[0]); i++)
		if (strcmp(code, refusals[i].errcode) == 0)
			return refusals[i].status;
	return status == 403 ? MXDB_EFORBIDDEN : otherwise;
}

/* Is the make_<membership> template what we asked for: the membership of
 * user_id, sent by them, in room_id? We sign it: a resident server must not
 * get our signature on anything else (another user's membership, a ban, a
 * power levels event). */
static bool template_ok(const json_t *t, const char *room_id, const char *user_id,
                        const char *membership)
{
	const char *type = json_string_value(json_object_get(t, "type"));
	const char *sk = json_string_value(json_object_get(t, "state_key"));
	const char *sender = json_string_value(json_object_get(t, "sender"));
	const char *rid = json_string_value(json_object_get(t, "room_id"));
	const char *m = json_string_value(json_object_get(json_object_get(t, "content"), "membership"));
	return type && sk && sender && rid && m && strcmp(type, "m.room.member") == 0 &&
	       strcmp(sk, user_id) == 0 && strcmp(sender, user_id) == 0 && strcmp(rid, room_id) == 0 &&
	       strcmp(m, membership) == 0;
}

/* How each membership goes over federation: whether make_<m> lists our
 * room versions (`ver`), and the version of the send_<m> path. */
static const struct {
	const char *membership;
	bool ver;
	const char *send;
} member_paths[] = {
	{"join", true, "v2"},
	{"leave", false, "v2"},
	{"knock", true, "v1"},
};

/* "?ver=10&ver=11..." : every room version we support, for make_join and
 * make_knock. */
static void versions_query(char *buf, size_t cap)
{
	size_t len = 0;
	const char *const *v = rv_supported();
	for (size_t i = 0; v[i] != NULL && len < cap; i++) {
		int n = snprintf(buf + len, cap - len, "%cver=%s", i ? '&' : '?', v[i]);
		len += n > 0 ? (size_t)n : 0;
	}
}

/* make_<membership>, sign, send_<membership> at via (NULL: the inviting
 * server, else the alias's or room ID's server). reason: put in the
 * event's content, or NULL. */
static mxdb_status remote_membership(fed_service *f, const char *room, const char *user_id,
                                     const char *via, const char *membership, const char *reason,
                                     char **room_id_out, mxdb_error *err)
{
	size_t k = 0;
	while (k < sizeof(member_paths) / sizeof(member_paths[0]) &&
	       strcmp(member_paths[k].membership, membership) != 0)
		k++;
	if (k == sizeof(member_paths) / sizeof(member_paths[0]))
		return mx_fail(err, MXDB_EINVAL, "no %s over federation", membership);
	char *room_id = NULL, *uri = NULL, *r = NULL, *u = NULL;
	json_t *made = NULL, *answer = NULL, *event = NULL; /* event: ours, signed */
	long status = 0;
	*room_id_out = NULL;
	char *inviter = via ? NULL : inviter_server(f, room, user_id);
	if (inviter != NULL)
		via = inviter;
	/* Our own rooms and aliases are ours to know: nothing to ask anyone. */
	const char *owner = via ? via : fed_server_of(room);
	if (owner != NULL && strcmp(owner, f->server_name) == 0) {
		free(inviter);
		return mx_fail(err, MXDB_ENOTFOUND, "unknown room %s", room);
	}
	mxdb_status s = room[0] == '#' ? resolve_alias(f, room, &room_id, err)
	                : (room_id = strdup(room)) ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "room");
	if (s == MXDB_OK && via == NULL)
		via = fed_server_of(room[0] == '#' ? room : room_id);
	if (s == MXDB_OK && via == NULL)
		s = mx_fail(err, MXDB_EINVAL, "which server has %s? give server_name", room);
	if (s == MXDB_OK && ((r = url_escape(room_id)) == NULL || (u = url_escape(user_id)) == NULL))
		s = mx_fail(err, MXDB_ENOMEM, "uri");
	mxdb_room_info info;
	bool here = s == MXDB_OK && mxdb_room_info_get(f->db, room_id, &info, NULL) == MXDB_OK;
	char vers[256] = "";
	if (member_paths[k].ver)
		versions_query(vers, sizeof(vers));
	if (s == MXDB_OK && asprintf(&uri, "/_matrix/federation/v1/make_%s/%s/%s%s", membership, r, u,
	                             vers) < 0)
		uri = NULL, s = mx_fail(err, MXDB_ENOMEM, "uri");
	if (s == MXDB_OK)
		s = fed_request(f->client, via, "GET", uri, NULL, &status, &made, err);
	const mx_room_version *rv = rv_get(json_string_value(json_object_get(made, "room_version")) ?: "");
	json_t *tmpl = json_object_get(made, "event");
	if (s == MXDB_OK && refusal(status, made, MXDB_OK) == MXDB_EVERSION)
		s = mx_fail(err, MXDB_EVERSION, "%s is a room of version %s, which we do not support", room,
		            json_string_value(json_object_get(made, "room_version")) ?: "?");
	else if (s == MXDB_OK && (status != 200 || rv == NULL || !json_is_object(tmpl)))
		s = mx_fail(err, refusal(status, made, MXDB_ENOTFOUND), "make_%s at %s: %ld %s",
		            membership, via, status, json_string_value(json_object_get(made, "error")) ?: "");
	else if (s == MXDB_OK && !template_ok(tmpl, room_id, user_id, membership))
		s = mx_fail(err, MXDB_EFORBIDDEN, "make_%s at %s: the template is not a %s of %s in %s",
		            membership, via, membership, user_id, room_id);
	char id[EV_ID_SIZE];
	if (s == MXDB_OK) {
		event = json_deep_copy(tmpl);
		json_object_del(event, "origin");
		json_object_set_new(event, "origin_server_ts", json_integer(fed_now_ms()));
		if (reason != NULL && json_is_object(json_object_get(event, "content")))
			json_object_set_new(json_object_get(event, "content"), "reason", json_string(reason));
		s = ev_hash_and_sign(event, rv, &f->key, f->server_name, err);
	}
	if (s == MXDB_OK)
		s = ev_compute_id(event, rv, id, err);
	char *e = s == MXDB_OK ? url_escape(id) : NULL;
	free(uri);
	uri = NULL;
	if (s == MXDB_OK &&
	    (e == NULL || asprintf(&uri, "/_matrix/federation/%s/send_%s/%s/%s", member_paths[k].send,
	                           membership, r, e) < 0))
		uri = NULL, s = mx_fail(err, MXDB_ENOMEM, "uri");
	free(e);
	if (s == MXDB_OK)
		s = fed_request(f->client, via, "PUT", uri, event, &status, &answer, err);
	if (s == MXDB_OK && status != 200)
		/* A 4xx: the resident refused (404: it lacks the room or the event). */
		s = mx_fail(err, refusal(status, answer, status / 100 == 4 ? MXDB_ENOTFOUND : MXDB_EIO),
		            "send_%s at %s: %ld %s", membership,
		            via, status, json_string_value(json_object_get(answer, "error")) ?: "");
	if (s == MXDB_OK)
		s = membership_done(f, via, rv, event, id, answer, membership, room_id, user_id, here,
		                    err);
	if (s == MXDB_OK)
		*room_id_out = room_id;
	else
		free(room_id);
	json_decref(made);
	json_decref(answer);
	json_decref(event);
	free(uri);
	free(r);
	free(u);
	free(inviter);
	return s;
}

/* A room here whose join another server must authorise (restricted, and
 * none of our users may invite): each of the room's other servers in turn
 * until one lets the user in. A refusal (the user meets no allow
 * condition) is the answer unless a later server lets the user in. */
static mxdb_status join_through_room(fed_service *f, const char *room_id, const char *user_id,
                                     char **out, mxdb_error *err)
{
	char **servers = NULL;
	size_t n = 0;
	mxdb_error last, refused = {MXDB_OK, ""};
	mxdb_status s = fed_room_servers(f->db, room_id, &servers, &n, &last);
	if (s == MXDB_OK)
		s = mx_fail(&last, MXDB_ENOGRANT, "no server of %s may authorise the join", room_id);
	for (size_t i = 0; s != MXDB_OK && s != MXDB_ENOMEM && i < n; i++) {
		if (strcmp(servers[i], f->server_name) == 0)
			continue;
		s = remote_membership(f, room_id, user_id, servers[i], "join", NULL, out, &last);
		if (s == MXDB_EFORBIDDEN && refused.code == MXDB_OK)
			refused = last;
		if (s != MXDB_OK)
			log_info("federation: join of %s to %s through %s: %s", user_id, room_id, servers[i],
			         last.message);
	}
	if (s != MXDB_OK && refused.code != MXDB_OK)
		last = refused;
	if (s != MXDB_OK)
		s = mx_fail(err, last.code, "%s", last.message);
	for (size_t i = 0; i < n; i++)
		free(servers[i]);
	free(servers);
	return s;
}

/* Does a refusal from one server leave the others worth asking? An
 * unreachable server, one that does not know the room or cannot grant the
 * join does; the room's own answer (forbidden, a version we lack) does not. */
static bool try_next(mxdb_status s)
{
	return s != MXDB_OK && s != MXDB_EFORBIDDEN && s != MXDB_EVERSION && s != MXDB_ENOMEM;
}

/* A join or knock through each server of via in turn, then (fallback)
 * the default one (the inviter's, the alias's or the room ID's server),
 * until one answers. The first refusal that ends the walk is the answer. */
static mxdb_status membership_through(fed_service *f, const char *room, const char *user_id,
                                      const char *const *via, size_t n_via, bool fallback,
                                      const char *membership, const char *reason, char **out,
                                      mxdb_error *err)
{
	mxdb_status s = mx_fail(err, MXDB_ENOTFOUND, "no server to ask for %s", room);
	size_t n = n_via + (fallback ? 1 : 0);
	for (size_t i = 0; i < n && (i == 0 || try_next(s)); i++) {
		const char *server = i < n_via ? via[i] : NULL;
		if (server != NULL && strcmp(server, f->server_name) == 0)
			continue;
		s = remote_membership(f, room, user_id, server, membership, reason, out, err);
		if (try_next(s))
			log_info("federation: %s of %s to %s through %s: %s", membership, user_id, room,
			         server ? server : "its own server", err->message);
	}
	return s;
}

/* A room here (a restricted join none of our users may authorise): the
 * servers named first, then every server of the room. */
mxdb_status fed_join(fed_service *f, const char *room, const char *user_id,
                     const char *const *via, size_t n_via, char **room_id, mxdb_error *err)
{
	mxdb_room_info info;
	bool here = mxdb_room_info_get(f->db, room, &info, NULL) == MXDB_OK;
	mxdb_status s = here && n_via == 0 ? MXDB_ENOGRANT
	                : membership_through(f, room, user_id, via, n_via, !here, "join", NULL,
	                                     room_id, err);
	return here && try_next(s) ? join_through_room(f, info.room_id, user_id, room_id, err) : s;
}

mxdb_status fed_knock(fed_service *f, const char *room, const char *user_id,
                      const char *const *via, size_t n_via, const char *reason, char **room_id,
                      mxdb_error *err)
{
	return membership_through(f, room, user_id, via, n_via, true, "knock", reason, room_id, err);
}

/* An invite declined goes through the inviting server, a knock rescinded
 * through the server that took it. */
mxdb_status fed_decline(fed_service *f, const char *room_id, const char *user_id,
                        const char *reason, mxdb_error *err)
{
	char *id = NULL;
	char *via = inviter_server(f, room_id, user_id);
	if (via == NULL)
		fed_knock_via(f->db, user_id, room_id, &via, NULL);
	mxdb_status s = via ? remote_membership(f, room_id, user_id, via, "leave", reason, &id, err)
	                    : mx_fail(err, MXDB_ENOTFOUND, "no invite to or knock on %s", room_id);
	free(via);
	free(id);
	return s;
}
