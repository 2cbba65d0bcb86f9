/*
 * cs_sync.c: GET /sync: initial and incremental sync, filters (inline and
 * stored), timeline limits with limited/prev_batch, invites and knocks
 * with their stripped state, leaves, typing and receipts, account data, to-device
 * messages and key counts; and the long-poll (the request parks until
 * something for the user commits or the timeout passes).
 *
 * next_batch is "s<E>_<A>_<T>": the engine's stream position, the accounts
 * stream position and the typing position the answer covers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "cs_handlers.h"
#include "map.h"

#define SYNC_EVENTS_CAP 1000 /* events read per incremental sync */

typedef struct sync_req {
	bool initial, full_state, include_leave;
	uint64_t e, a, t;       /* the since token */
	json_t *filter;         /* the whole filter, or NULL */
	const json_t *room_f;   /* filter.room (borrowed from filter) */
	const json_t *tl_f;     /* filter.room.timeline */
	const json_t *state_f;  /* filter.room.state */
	size_t limit;
	int64_t deadline;
	const char *user_id;    /* the request's (lives as long as it) */
	mx_map *joined;         /* joined rooms at the last look, for cs_sync_match */
} sync_req;

static void sync_req_free(void *p)
{
	sync_req *s = p;
	json_decref(s->filter);
	map_free(s->joined, NULL);
	free(s);
}

bool cs_sync_match(const void *park, void *arg)
{
	const sync_req *s = park;
	const cs_changes *ch = arg;
	if (s->joined == NULL || map_has(ch->users, s->user_id, strlen(s->user_id)))
		return true;
	size_t it = 0, kl;
	const char *k;
	void *v;
	while (map_next(ch->rooms, &it, &k, &kl, &v))
		if (map_has(s->joined, k, kl))
			return true;
	return false;
}

/* Remembers the joined rooms, so that only their events wake this sync. */
static void note_joined(sync_req *s, const mxdb_user_room *rooms, size_t n)
{
	map_free(s->joined, NULL);
	s->joined = map_new(n);
	for (size_t i = 0; i < n && s->joined != NULL; i++)
		if (strcmp(rooms[i].membership, "join") == 0)
			map_put(s->joined, rooms[i].room_id, strlen(rooms[i].room_id), NULL, NULL);
}

static bool parse_since(const char *since, sync_req *s)
{
	unsigned long long e, a, t;
	int n = 0;
	if (sscanf(since, "s%llu_%llu_%llu%n", &e, &a, &t, &n) != 3 || since[n] != '\0')
		return false;
	s->e = e;
	s->a = a;
	s->t = t;
	return true;
}

/* Builds the request state from the query; replies 400 and returns NULL on bad input. */
static sync_req *sync_parse(http_req *r)
{
	sync_req *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		http_reply_error(r, 500, "M_UNKNOWN", "out of memory");
		return NULL;
	}
	s->user_id = r->user_id;
	const char *since = http_query(r, "since"), *timeout = http_query(r, "timeout");
	const char *full = http_query(r, "full_state"), *filter = http_query(r, "filter");
	s->initial = since == NULL || since[0] == '\0';
	if (!s->initial && !parse_since(since, s)) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "bad since token");
		goto fail;
	}
	s->full_state = full != NULL && strcmp(full, "true") == 0;
	long ms = timeout ? atol(timeout) : 0;
	if (ms < 0)
		ms = 0;
	if (ms > 600000)
		ms = 600000;
	s->deadline = http_now_ms() + ms;
	if (filter != NULL && filter[0] == '{') {
		s->filter = json_loads(filter, 0, NULL);
		if (!json_is_object(s->filter)) {
			http_reply_error(r, 400, "M_BAD_JSON", "the filter is not a JSON object");
			goto fail;
		}
	} else if (filter != NULL && filter[0] != '\0') {
		if (acct_filter_get(CS(r)->acct, r->user_id, filter, &s->filter, NULL) != MXDB_OK) {
			http_reply_error(r, 400, "M_INVALID_PARAM", "no filter %s", filter);
			goto fail;
		}
	}
	s->room_f = json_object_get(s->filter, "room");
	s->tl_f = json_object_get(s->room_f, "timeline");
	s->state_f = json_object_get(s->room_f, "state");
	s->include_leave = json_is_true(json_object_get(s->room_f, "include_leave"));
	json_t *lim = json_object_get(s->tl_f, "limit");
	s->limit = json_is_integer(lim) && json_integer_value(lim) > 0 ? (size_t)json_integer_value(lim)
	                                                                 : 10;
	if (s->limit > 200)
		s->limit = 200;
	return s;
fail:
	sync_req_free(s);
	return NULL;
}

static bool room_wanted(const sync_req *s, const char *room)
{
	json_t *rooms = json_object_get(s->room_f, "rooms");
	json_t *not_rooms = json_object_get(s->room_f, "not_rooms");
	size_t i;
	json_t *v;
	if (json_is_array(not_rooms))
		json_array_foreach(not_rooms, i, v) if (json_is_string(v) &&
		                                        strcmp(json_string_value(v), room) == 0) return false;
	if (!json_is_array(rooms))
		return true;
	json_array_foreach(rooms, i, v) if (json_is_string(v) && strcmp(json_string_value(v), room) == 0)
		return true;
	return false;
}

/* The state at the start of the timeline (spec: the state block is the
 * state before the timeline's first event; the current state when the
 * timeline is empty). */
static json_t *state_at_start(cs_ctx *c, const sync_req *s, const char *room, const char *first)
{
	json_t *out = json_array();
	char *text = NULL;
	mxdb_status st = first != NULL ? mxdb_state_at(c->db, first, 0, &text, NULL)
	                               : mxdb_state(c->db, room, &text, NULL);
	if (st != MXDB_OK)
		return out;
	json_t *all = json_loads(text, 0, NULL);
	mxdb_free(text);
	size_t i;
	json_t *ev;
	json_array_foreach(all, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		const char *sender = json_string_value(json_object_get(ev, "sender"));
		if (type && sender && cs_filter_passes(s->state_f, type, sender))
			json_array_append(out, ev);
	}
	json_decref(all);
	return out;
}

/* The room summary: joined and invited counts and up to five heroes (the
 * other members, by user ID), which clients use to name unnamed rooms. */
static json_t *room_summary(cs_ctx *c, const char *room, const char *me)
{
	char *text = NULL;
	json_t *sum = json_object();
	if (mxdb_members(c->db, room, NULL, &text, NULL) != MXDB_OK)
		return sum;
	json_t *members = json_loads(text, 0, NULL);
	mxdb_free(text);
	json_int_t joined = 0, invited = 0;
	json_t *heroes = json_array();
	size_t i;
	json_t *ev;
	json_array_foreach(members, i, ev) {
		const char *ms = json_string_value(json_object_get(json_object_get(ev, "content"),
		                                                   "membership"));
		const char *who = json_string_value(json_object_get(ev, "state_key"));
		if (ms == NULL || who == NULL)
			continue;
		bool j = strcmp(ms, "join") == 0, inv = strcmp(ms, "invite") == 0;
		joined += j;
		invited += inv;
		if ((j || inv) && strcmp(who, me) != 0 && json_array_size(heroes) < 5)
			json_array_append_new(heroes, json_string(who));
	}
	json_decref(members);
	json_object_set_new(sum, "m.heroes", heroes);
	json_object_set_new(sum, "m.joined_member_count", json_integer(joined));
	json_object_set_new(sum, "m.invited_member_count", json_integer(invited));
	return sum;
}

static json_t *room_entry(json_t *timeline, bool limited, uint64_t first_pos)
{
	char prev[32];
	cs_token(prev, first_pos > 0 ? first_pos - 1 : 0);
	return json_pack("{s:{s:o, s:b, s:s}, s:{s:[]}, s:{s:[]}, s:{s:[]}, s:{s:i, s:i}, s:{}}",
	                 "timeline", "events", timeline, "limited", limited, "prev_batch", prev,
	                 "state", "events", "ephemeral", "events", "account_data", "events",
	                 "unread_notifications", "highlight_count", 0, "notification_count", 0,
	                 "summary");
}

/* Fills a joined room's entry: timeline from evs (oldest first), state. */
static json_t *joined_room(cs_ctx *c, const sync_req *s, http_req *r, const char *room,
                           mxdb_event *evs, size_t n, bool limited, bool with_state)
{
	json_t *tl = json_array();
	bool newly_joined = false;
	size_t first = n > s->limit ? n - s->limit : 0;
	limited = limited || first > 0;
	for (size_t i = first; i < n; i++) {
		if (evs[i].state_key != NULL && strcmp(evs[i].type, "m.room.member") == 0 &&
		    strcmp(evs[i].state_key, r->user_id) == 0)
			newly_joined = true;
		if (!cs_filter_passes(s->tl_f, evs[i].type, evs[i].sender))
			continue;
		json_t *j = cs_event_json(&evs[i], r->device_id);
		if (j != NULL)
			json_array_append_new(tl, j);
	}
	json_t *entry = room_entry(tl, limited, n > first ? evs[first].pos : 0);
	if (with_state || newly_joined || limited) {
		json_object_set_new(json_object_get(entry, "state"), "events",
		                    state_at_start(c, s, room, n > first ? evs[first].event_id : NULL));
		json_object_set_new(entry, "summary", room_summary(c, room, r->user_id));
	}
	return entry;
}

/* The last `limit` events of a room up to position upto (initial sync). */
static json_t *initial_room(cs_ctx *c, const sync_req *s, http_req *r, const char *room,
                            uint64_t upto)
{
	mxdb_events evs = {0};
	if (mxdb_room_events(c->db, room, upto + 1, 1, s->limit + 1, &evs, NULL) != MXDB_OK)
		return room_entry(json_array(), false, 0);
	bool limited = evs.n > s->limit;
	mxdb_events_visible(c->db, r->user_id, &evs, NULL);
	size_t n = evs.n > s->limit ? s->limit : evs.n;
	/* newest first -> oldest first */
	for (size_t i = 0; i < n / 2; i++) {
		mxdb_event t = evs.ev[i];
		evs.ev[i] = evs.ev[n - 1 - i];
		evs.ev[n - 1 - i] = t;
	}
	json_t *entry = joined_room(c, s, r, room, evs.ev, n, limited, true);
	mxdb_events_free(&evs);
	return entry;
}

/* An invited or knocked room: its stripped state under invite_state or
 * knock_state (spec: rooms.invite, rooms.knock). */
static void add_pending(json_t *to, const char *key, const mxdb_user_room *ur)
{
	json_t *st = ur->invite_state ? json_loads(ur->invite_state, 0, NULL) : NULL;
	json_object_set_new(to, ur->room_id,
	                    json_pack("{s:{s:o}}", key, "events", st ? st : json_array()));
}

/* rooms.invite or rooms.knock takes ur; false for other memberships. */
static bool add_invite_or_knock(json_t *invite, json_t *knock, const mxdb_user_room *ur)
{
	if (strcmp(ur->membership, "invite") == 0)
		add_pending(invite, "invite_state", ur);
	else if (strcmp(ur->membership, "knock") == 0)
		add_pending(knock, "knock_state", ur);
	else
		return false;
	return true;
}

/* Ephemeral events and room account data of joined rooms. */
static void add_room_extras(cs_ctx *c, const sync_req *s, http_req *r, json_t *join,
                            const mxdb_user_room *rooms, size_t nrooms, json_t *acct_res)
{
	json_t *receipts = json_object_get(acct_res, "receipts");
	json_t *rdata = json_object_get(acct_res, "rooms");
	for (size_t i = 0; i < nrooms; i++) {
		const char *room = rooms[i].room_id;
		if (strcmp(rooms[i].membership, "join") != 0 || !room_wanted(s, room))
			continue;
		json_t *rcpt = NULL, *data = json_object_get(rdata, room);
		bool typing = s->initial || cs_typing_changed(c->typing, room, s->t);
		if (s->initial)
			acct_receipts_room(c->acct, room, r->user_id, &rcpt, NULL);
		else
			rcpt = json_incref(json_object_get(receipts, room));
		if (rcpt != NULL && json_object_size(rcpt) == 0) {
			json_decref(rcpt);
			rcpt = NULL;
		}
		if (!typing && rcpt == NULL && data == NULL) {
			continue;
		}
		json_t *entry = json_object_get(join, room);
		if (entry == NULL) {
			entry = room_entry(json_array(), false, 0);
			json_object_set_new(join, room, entry);
		}
		json_t *eph = json_object_get(json_object_get(entry, "ephemeral"), "events");
		if (typing)
			json_array_append_new(eph, cs_typing_event(c->typing, room));
		if (rcpt != NULL)
			json_array_append_new(eph, json_pack("{s:s, s:o}", "type", "m.receipt", "content", rcpt));
		if (data != NULL)
			json_object_set(json_object_get(entry, "account_data"), "events", data);
	}
}

/* The users of list who share a joined room with user (or are user). */
static json_t *shared_users(cs_ctx *c, const char *user, const mxdb_user_room *rooms,
                            size_t nrooms, const json_t *list)
{
	json_t *out = json_array();
	size_t i;
	json_t *u;
	json_array_foreach(list, i, u) {
		const char *other = json_string_value(u);
		bool shared = other != NULL && strcmp(other, user) == 0;
		for (size_t k = 0; k < nrooms && !shared && other != NULL; k++) {
			char ms[16];
			shared = strcmp(rooms[k].membership, "join") == 0 &&
			         mxdb_member_of(c->db, rooms[k].room_id, other, ms, NULL) == MXDB_OK &&
			         strcmp(ms, "join") == 0;
		}
		if (shared)
			json_array_append(out, u);
	}
	return out;
}

/* Incremental timeline: groups events by room in order of appearance. */
static void incremental_rooms(cs_ctx *c, const sync_req *s, http_req *r, mxdb_events *evs,
                              const mxdb_user_room *rooms, size_t nrooms, json_t *join,
                              json_t *invite, json_t *knock, json_t *leave)
{
	for (size_t i = 0; i < nrooms; i++) {
		const mxdb_user_room *ur = &rooms[i];
		if (!room_wanted(s, ur->room_id))
			continue;
		/* the room's events, gathered in stream order */
		mxdb_event *mine = calloc(evs->n + 1, sizeof(*mine));
		size_t n = 0;
		for (size_t k = 0; k < evs->n; k++)
			if (strcmp(evs->ev[k].room_id, ur->room_id) == 0)
				mine[n++] = evs->ev[k];
		bool join_now = strcmp(ur->membership, "join") == 0;
		bool pending = strcmp(ur->membership, "invite") == 0 || strcmp(ur->membership, "knock") == 0;
		if (pending) {
			if (ur->pos > s->e)
				add_invite_or_knock(invite, knock, ur);
		} else if (join_now && (n > 0 || s->full_state)) {
			json_object_set_new(join, ur->room_id,
			                    joined_room(c, s, r, ur->room_id, mine, n, false, s->full_state));
		} else if (!join_now && n > 0 && (strcmp(ur->membership, "leave") == 0 ||
		                                  strcmp(ur->membership, "ban") == 0)) {
			json_object_set_new(leave, ur->room_id,
			                    joined_room(c, s, r, ur->room_id, mine, n, false, false));
		}
		free(mine);
	}
}

/* Computes the answer; NULL when an incremental sync has nothing. */
static json_t *sync_compute(http_req *r, sync_req *s)
{
	cs_ctx *c = CS(r);
	uint64_t E = mxdb_stream_pos(c->db), A = acct_pos(c->acct), T = cs_typing_pos(c->typing);
	mxdb_events evs = {0};
	if (!s->initial) {
		mxdb_events_since(c->db, s->e, NULL, 0, r->user_id, SYNC_EVENTS_CAP, &evs, NULL);
		if (evs.n == SYNC_EVENTS_CAP)
			E = evs.ev[evs.n - 1].pos;
		else if (evs.n > 0 && evs.ev[evs.n - 1].pos > E)
			E = evs.ev[evs.n - 1].pos;
		mxdb_events_visible(c->db, r->user_id, &evs, NULL);
	}
	/* The rooms are read after the events, so a room joined meanwhile has
	 * its membership here when its events are in evs. */
	mxdb_user_room *rooms = NULL;
	size_t nrooms = 0;
	mxdb_user_rooms(c->db, r->user_id, NULL, &rooms, &nrooms, NULL);
	note_joined(s, rooms, nrooms);
	json_t *join = json_object(), *invite = json_object(), *leave = json_object();
	json_t *knock = json_object(), *acct_res = NULL;
	acct_sync(c->acct, r->user_id, r->device_id, s->initial ? 0 : s->a, A, s->initial, &acct_res,
	          NULL);
	if (s->initial) {
		for (size_t i = 0; i < nrooms; i++) {
			if (!room_wanted(s, rooms[i].room_id))
				continue;
			if (strcmp(rooms[i].membership, "join") == 0)
				json_object_set_new(join, rooms[i].room_id,
				                    initial_room(c, s, r, rooms[i].room_id, E));
			else if (add_invite_or_knock(invite, knock, &rooms[i]))
				continue;
			else if (s->include_leave && strcmp(rooms[i].membership, "leave") == 0)
				json_object_set_new(leave, rooms[i].room_id, room_entry(json_array(), false, 0));
		}
	} else {
		incremental_rooms(c, s, r, &evs, rooms, nrooms, join, invite, knock, leave);
	}
	mxdb_events_free(&evs);
	add_room_extras(c, s, r, join, rooms, nrooms, acct_res);
	json_t *changed = shared_users(c, r->user_id, rooms, nrooms,
	                               json_object_get(acct_res, "device_lists"));
	mxdb_user_rooms_free(rooms, nrooms);

	json_t *global = json_object_get(acct_res, "account_data");
	json_t *todev = json_object_get(acct_res, "to_device");
	bool empty = json_object_size(join) == 0 && json_object_size(invite) == 0 &&
	             json_object_size(knock) == 0 &&
	             json_object_size(leave) == 0 && json_array_size(global) == 0 &&
	             json_array_size(todev) == 0 && json_array_size(changed) == 0;
	if (!s->initial && empty && !s->full_state && http_now_ms() < s->deadline &&
	    !http_closing(r->srv)) {
		json_decref(join);
		json_decref(invite);
		json_decref(knock);
		json_decref(leave);
		json_decref(acct_res);
		json_decref(changed);
		return NULL;
	}
	char next[96];
	snprintf(next, sizeof(next), "s%" PRIu64 "_%" PRIu64 "_%" PRIu64, E, A, T);
	json_t *counts = NULL, *fallback = NULL;
	acct_otk_counts(c->acct, r->user_id, r->device_id, &counts, NULL);
	acct_fallback_unused(c->acct, r->user_id, r->device_id, &fallback, NULL);
	json_t *res = json_pack(
		"{s:s, s:{s:o, s:o, s:o, s:o}, s:{s:O}, s:{s:[]}, s:{s:O}, s:{s:o, s:[]}, s:o, s:o}",
		"next_batch", next, "rooms", "join", join, "invite", invite, "leave", leave, "knock", knock,
		"account_data", "events", global, "presence", "events", "to_device", "events", todev,
		"device_lists", "changed", changed, "left", "device_one_time_keys_count",
		counts ? counts : json_object(), "device_unused_fallback_key_types",
		fallback ? fallback : json_array());
	json_decref(acct_res);
	return res;
}

void cs_sync(http_req *r)
{
	sync_req *s = r->park;
	if (s == NULL) {
		s = sync_parse(r);
		if (s == NULL)
			return;
		r->park = s;
		r->park_free = sync_req_free;
	}
	json_t *res = sync_compute(r, s);
	if (res == NULL) {
		http_park(r, s->deadline);
		return;
	}
	http_reply_json(r, 200, res);
}
