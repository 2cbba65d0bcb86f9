/*
 * cs_messages.c: reading a room's timeline over the client API: /messages
 * (both directions, from/to/limit, a RoomEventFilter) and /context. Owns the
 * pagination token format and the event filter, which /sync shares.
 *
 * Tokens: "t<P>" marks the point just after stream position P; a /sync
 * next_batch ("s<P>_...") is accepted as the same point.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "cs_handlers.h"

bool cs_token_pos(const char *tok, uint64_t *pos)
{
	if (tok == NULL || (tok[0] != 't' && tok[0] != 's'))
		return false;
	char *end;
	unsigned long long v = strtoull(tok + 1, &end, 10);
	if (end == tok + 1 || (*end != '\0' && *end != '_'))
		return false;
	*pos = v;
	return true;
}

void cs_token(char buf[32], uint64_t pos)
{
	snprintf(buf, 32, "t%" PRIu64, pos);
}

static bool str_in(const json_t *list, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		const char *p = json_string_value(v);
		if (p == NULL)
			continue;
		size_t n = strlen(p);
		/* A trailing '*' is a prefix wildcard, as the spec allows for types. */
		if (n > 0 && p[n - 1] == '*' ? strncmp(p, s, n - 1) == 0 : strcmp(p, s) == 0)
			return true;
	}
	return false;
}

bool cs_filter_passes(const json_t *f, const char *type, const char *sender)
{
	if (!json_is_object(f))
		return true;
	json_t *types = json_object_get(f, "types"), *not_types = json_object_get(f, "not_types");
	json_t *senders = json_object_get(f, "senders");
	json_t *not_senders = json_object_get(f, "not_senders");
	if (json_is_array(types) && !str_in(types, type))
		return false;
	if (json_is_array(not_types) && str_in(not_types, type))
		return false;
	if (json_is_array(senders) && !str_in(senders, sender))
		return false;
	if (json_is_array(not_senders) && str_in(not_senders, sender))
		return false;
	return true;
}

json_t *cs_event_json(const mxdb_event *e, const char *device)
{
	json_t *ev = json_loads(e->json, 0, NULL);
	if (ev == NULL)
		return NULL;
	/* The engine keys transaction IDs as "<device>|<txn>"; only the device
	 * that sent the event sees its transaction_id. */
	if (e->txn_id != NULL && device != NULL) {
		size_t dl = strlen(device);
		if (strncmp(e->txn_id, device, dl) == 0 && e->txn_id[dl] == '|') {
			json_t *u = json_object_get(ev, "unsigned");
			if (!json_is_object(u))
				json_object_set_new(ev, "unsigned", u = json_object());
			json_object_set_new(u, "transaction_id", json_string(e->txn_id + dl + 1));
		}
	}
	return ev;
}

/* The filter query parameter as JSON (NULL: none); false after a 400. */
static bool query_filter(http_req *r, json_t **out)
{
	const char *f = http_query(r, "filter");
	*out = NULL;
	if (f == NULL || f[0] == '\0')
		return true;
	*out = json_loads(f, 0, NULL);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		http_reply_error(r, 400, "M_BAD_JSON", "filter must be a JSON object");
		return false;
	}
	return true;
}

static long query_limit(http_req *r, long def, long max)
{
	const char *l = http_query(r, "limit");
	long v = l ? atol(l) : def;
	if (v <= 0)
		v = def;
	return v > max ? max : v;
}

void cs_messages(http_req *r)
{
	mxdb_room_info info;
	uint64_t left_at;
	if (!cs_room_member(r, r->param[0], &left_at, &info))
		return;
	const char *dir = http_query(r, "dir"), *from = http_query(r, "from");
	const char *to = http_query(r, "to");
	if (from != NULL && from[0] == '\0')
		from = NULL;
	if (to != NULL && to[0] == '\0')
		to = NULL;
	bool back = dir == NULL || strcmp(dir, "b") == 0;
	if (dir != NULL && strcmp(dir, "b") != 0 && strcmp(dir, "f") != 0) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "dir must be b or f");
		return;
	}
	uint64_t p = back ? mxdb_stream_pos(CS(r)->db) : 0, stop = 0;
	bool has_stop = false;
	if ((from != NULL && !cs_token_pos(from, &p)) ||
	    (to != NULL && !(has_stop = cs_token_pos(to, &stop)))) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "bad pagination token");
		return;
	}
	if (left_at > 0) {
		/* a user who left reads the history up to the leave, no further */
		if (back && p > left_at)
			p = left_at;
		if (!back && (!has_stop || stop > left_at)) {
			has_stop = true;
			stop = left_at;
		}
	}
	json_t *filter;
	if (!query_filter(r, &filter))
		return;
	long limit = query_limit(r, 10, 1000);
	char start[32], end[32];
	cs_token(start, p);
	json_t *chunk = json_array();
	mxdb_events evs = {0};
	mxdb_error e;
	/* backwards from the point after p: events with pos <= p. */
	mxdb_status st = mxdb_room_events(CS(r)->db, info.room_id, back ? p + 1 : p, back,
	                                  (size_t)limit, &evs, &e);
	if (st != MXDB_OK) {
		json_decref(filter);
		json_decref(chunk);
		cs_fail(r, st, &e);
		return;
	}
	/* The page ends where the engine's read ended, whatever history
	 * visibility then hides. */
	size_t got = evs.n;
	uint64_t tail = got ? evs.ev[got - 1].pos : 0;
	if (has_stop && got && (back ? tail <= stop : tail > stop))
		tail = stop + (back ? 1 : 0);
	uint64_t last = got ? (back ? tail - 1 : tail) : p;
	if (mxdb_events_visible(CS(r)->db, r->user_id, &evs, &e) != MXDB_OK) {
		mxdb_events_free(&evs);
		json_decref(filter);
		json_decref(chunk);
		cs_fail(r, e.code, &e);
		return;
	}
	for (size_t i = 0; i < evs.n; i++) {
		const mxdb_event *ev = &evs.ev[i];
		if (has_stop && (back ? ev->pos <= stop : ev->pos > stop))
			break;
		if (!cs_filter_passes(filter, ev->type, ev->sender))
			continue;
		json_t *j = cs_event_json(ev, r->device_id);
		if (j != NULL)
			json_array_append_new(chunk, j);
	}
	bool more = got == (size_t)limit && last != p;
	mxdb_events_free(&evs);
	json_decref(filter);
	json_t *res = json_pack("{s:s, s:o, s:[]}", "start", start, "chunk", chunk, "state");
	if (more) {
		cs_token(end, last);
		json_object_set_new(res, "end", json_string(end));
	}
	http_reply_json(r, 200, res);
}

/* Finds the stream position of event_id in the room by walking back from
 * the end (bounded: 10,000 events). 0 when not found. */
static uint64_t find_pos(cs_ctx *c, const char *room, const char *event_id)
{
	uint64_t from = 0, found = 0;
	for (int page = 0; page < 100 && found == 0; page++) {
		mxdb_events evs = {0};
		if (mxdb_room_events(c->db, room, from, 1, 100, &evs, NULL) != MXDB_OK)
			break;
		for (size_t i = 0; i < evs.n && found == 0; i++)
			if (strcmp(evs.ev[i].event_id, event_id) == 0)
				found = evs.ev[i].pos;
		size_t n = evs.n;
		if (n > 0)
			from = evs.ev[n - 1].pos;
		mxdb_events_free(&evs);
		if (n < 100)
			break;
	}
	return found;
}

static json_t *events_array(cs_ctx *c, const mxdb_events *evs, const char *device)
{
	json_t *a = json_array();
	for (size_t i = 0; i < evs->n; i++) {
		json_t *j = cs_event_json(&evs->ev[i], device);
		if (j != NULL)
			json_array_append_new(a, j);
	}
	return a;
}

void cs_context(http_req *r)
{
	mxdb_room_info info;
	if (!cs_room_member(r, r->param[0], NULL, &info))
		return;
	uint64_t pos = find_pos(CS(r), info.room_id, r->param[1]);
	char *json = NULL;
	int seen = 0;
	if (pos == 0 || mxdb_event_visible(CS(r)->db, r->user_id, r->param[1], &seen, NULL) != MXDB_OK ||
	    !seen || mxdb_event_get(CS(r)->db, r->param[1], &json, NULL) != MXDB_OK) {
		http_reply_error(r, 404, "M_NOT_FOUND", "no such event in this room");
		return;
	}
	json_t *event = cs_json(r, json);
	if (event == NULL)
		return;
	long limit = query_limit(r, 10, 100);
	size_t nb = (size_t)(limit / 2), na = (size_t)(limit - limit / 2);
	mxdb_events before = {0}, after = {0};
	mxdb_room_events(CS(r)->db, info.room_id, pos, 1, nb ? nb : 1, &before, NULL);
	mxdb_room_events(CS(r)->db, info.room_id, pos, 0, na ? na : 1, &after, NULL);
	char start[32], end[32];
	cs_token(start, before.n ? before.ev[before.n - 1].pos - 1 : pos - 1);
	cs_token(end, after.n ? after.ev[after.n - 1].pos : pos);
	mxdb_events_visible(CS(r)->db, r->user_id, &before, NULL);
	mxdb_events_visible(CS(r)->db, r->user_id, &after, NULL);
	char *state = NULL;
	json_t *sj = NULL;
	if (mxdb_state(CS(r)->db, info.room_id, &state, NULL) == MXDB_OK)
		sj = json_loads(state, 0, NULL);
	mxdb_free(state);
	http_reply_json(r, 200,
	                json_pack("{s:o, s:o, s:o, s:s, s:s, s:o}", "event", event, "events_before",
	                          events_array(CS(r), &before, r->device_id), "events_after",
	                          events_array(CS(r), &after, r->device_id), "start", start, "end", end,
	                          "state", sj ? sj : json_array()));
	mxdb_events_free(&before);
	mxdb_events_free(&after);
}
