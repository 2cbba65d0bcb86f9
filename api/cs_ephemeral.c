/*
 * cs_ephemeral.c: typing notifications (in memory, with expiry), read
 * receipts and read markers over the client API. Receipts are stored by
 * acct; typing lives here and is lost on restart, as the spec allows.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cs.h"
#include "fed_service.h"
#include "fed_store.h"
#include "cs_handlers.h"
#include "map.h"

typedef struct typer {
	char *user;
	int64_t until; /* ms, CLOCK_MONOTONIC */
	struct typer *next;
} typer;

typedef struct typing_room {
	typer *users;
	uint64_t changed; /* typing position of the last change */
} typing_room;

struct cs_typing {
	pthread_mutex_t mu;
	mx_map *rooms; /* room ID -> typing_room */
	uint64_t pos;
};

static void room_free(void *p)
{
	typing_room *tr = p;
	for (typer *t = tr->users, *n; t != NULL; t = n) {
		n = t->next;
		free(t->user);
		free(t);
	}
	free(tr);
}

cs_typing *cs_typing_new(void)
{
	cs_typing *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->mu, NULL);
	t->rooms = map_new(16);
	return t;
}

void cs_typing_free(cs_typing *t)
{
	if (t == NULL)
		return;
	map_free(t->rooms, room_free);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

/* Drops expired typers of a room; caller holds mu. */
static void expire(cs_typing *t, typing_room *tr, int64_t now)
{
	for (typer **pp = &tr->users; *pp != NULL;) {
		typer *x = *pp;
		if (x->until > now) {
			pp = &x->next;
			continue;
		}
		*pp = x->next;
		free(x->user);
		free(x);
		tr->changed = ++t->pos;
	}
}

bool cs_typing_set(cs_typing *t, const char *room, const char *user, bool typing,
                   int64_t timeout_ms)
{
	int64_t now = http_now_ms();
	bool changed = false;
	pthread_mutex_lock(&t->mu);
	typing_room *tr = map_get(t->rooms, room, strlen(room));
	if (tr == NULL) {
		tr = calloc(1, sizeof(*tr));
		if (tr == NULL || map_put(t->rooms, room, strlen(room), tr, NULL) != 0) {
			free(tr);
			pthread_mutex_unlock(&t->mu);
			return false;
		}
	}
	typer **pp = &tr->users;
	while (*pp != NULL && strcmp((*pp)->user, user) != 0)
		pp = &(*pp)->next;
	if (typing && *pp != NULL) {
		(*pp)->until = now + timeout_ms;
	} else if (typing) {
		typer *x = calloc(1, sizeof(*x));
		if (x != NULL && (x->user = strdup(user)) != NULL) {
			x->until = now + timeout_ms;
			x->next = tr->users;
			tr->users = x;
			changed = true;
		} else {
			free(x);
		}
	} else if (*pp != NULL) {
		typer *x = *pp;
		*pp = x->next;
		free(x->user);
		free(x);
		changed = true;
	}
	if (changed)
		tr->changed = ++t->pos;
	pthread_mutex_unlock(&t->mu);
	return changed;
}

json_t *cs_typing_event(cs_typing *t, const char *room)
{
	json_t *ids = json_array();
	pthread_mutex_lock(&t->mu);
	typing_room *tr = map_get(t->rooms, room, strlen(room));
	if (tr != NULL) {
		expire(t, tr, http_now_ms());
		for (typer *x = tr->users; x != NULL; x = x->next)
			json_array_append_new(ids, json_string(x->user));
	}
	pthread_mutex_unlock(&t->mu);
	return json_pack("{s:s, s:{s:o}}", "type", "m.typing", "content", "user_ids", ids);
}

uint64_t cs_typing_pos(cs_typing *t)
{
	pthread_mutex_lock(&t->mu);
	uint64_t p = t->pos;
	pthread_mutex_unlock(&t->mu);
	return p;
}

bool cs_typing_changed(cs_typing *t, const char *room, uint64_t since)
{
	pthread_mutex_lock(&t->mu);
	typing_room *tr = map_get(t->rooms, room, strlen(room));
	if (tr != NULL)
		expire(t, tr, http_now_ms());
	bool changed = tr != NULL && tr->changed > since;
	pthread_mutex_unlock(&t->mu);
	return changed;
}

/* ---- handlers ---- */

void cs_typing_put(http_req *r)
{
	if (strcmp(r->param[1], r->user_id) != 0) {
		http_reply_error(r, 403, "M_FORBIDDEN", "cannot set another user's typing state");
		return;
	}
	json_t *typing = json_object_get(r->body, "typing");
	json_t *timeout = json_object_get(r->body, "timeout");
	if (!json_is_boolean(typing) || (timeout != NULL && !json_is_integer(timeout))) {
		http_reply_error(r, 400, "M_BAD_JSON", "'typing' must be a boolean, 'timeout' an integer");
		return;
	}
	mxdb_room_info info;
	if (!cs_room_member(r, r->param[0], NULL, &info))
		return;
	int64_t ms = timeout ? json_integer_value(timeout) : 30000;
	if (ms <= 0 || ms > 120000)
		ms = 30000;
	if (cs_typing_set(CS(r)->typing, info.room_id, r->user_id, json_is_true(typing), ms)) {
		cs_wake_room(CS(r), info.room_id);
		if (CS(r)->fed != NULL) { /* the room's other servers show it too */
			json_t *c = json_pack("{s:s, s:s, s:b}", "room_id", info.room_id, "user_id", r->user_id,
			                      "typing", json_is_true(typing));
			if (c != NULL)
				fed_send_edu(CS(r)->fed, info.room_id, "m.typing", c, NULL);
			json_decref(c);
		}
	}
	http_reply_empty(r);
}

/* Stores one receipt or marker of type for event_id in the room. */
static bool put_marker(http_req *r, const char *room, const char *type, const char *event_id,
                       const char *thread)
{
	mxdb_error e;
	mxdb_status st;
	if (strcmp(type, "m.fully_read") == 0) {
		json_t *c = json_pack("{s:s}", "event_id", event_id);
		st = acct_data_put(CS(r)->acct, r->user_id, room, "m.fully_read", c, &e);
		json_decref(c);
	} else if (strcmp(type, "m.read") == 0 || strcmp(type, "m.read.private") == 0) {
		st = acct_receipt_put(CS(r)->acct, room, r->user_id, type, event_id, thread, &e);
		/* Public receipts go to the room's other servers. */
		if (st == MXDB_OK && CS(r)->fed != NULL && strcmp(type, "m.read") == 0) {
			json_t *c = json_pack("{s:{s:{s:{s:[s], s:{s:I}}}}}", room, "m.read", r->user_id,
			                      "event_ids", event_id, "data", "ts", (json_int_t)fed_now_ms());
			if (c != NULL && thread != NULL)
				json_object_set_new(json_object_get(json_object_get(json_object_get(json_object_get(
				                        c, room), "m.read"), r->user_id), "data"),
				                    "thread_id", json_string(thread));
			if (c != NULL)
				fed_send_edu(CS(r)->fed, room, "m.receipt", c, NULL);
			json_decref(c);
		}
	} else {
		http_reply_error(r, 400, "M_INVALID_PARAM", "unknown receipt type %s", type);
		return false;
	}
	if (st != MXDB_OK) {
		cs_fail(r, st, &e);
		return false;
	}
	return true;
}

void cs_receipt(http_req *r)
{
	const char *thread;
	if (!cs_body_str(r, "thread_id", false, &thread))
		return;
	mxdb_room_info info;
	if (!cs_room_member(r, r->param[0], NULL, &info))
		return;
	if (put_marker(r, info.room_id, r->param[1], r->param[2], thread))
		http_reply_empty(r);
}

void cs_read_markers(http_req *r)
{
	static const char *const keys[] = {"m.fully_read", "m.read", "m.read.private"};
	mxdb_room_info info;
	if (!cs_room_member(r, r->param[0], NULL, &info))
		return;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *ev;
		if (!cs_body_str(r, keys[i], false, &ev))
			return;
		if (ev != NULL && !put_marker(r, info.room_id, keys[i], ev, NULL))
			return;
	}
	http_reply_empty(r);
}
