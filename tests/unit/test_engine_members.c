/* test_engine_members.c: memberships under the auth rules (invite, join,
 * leave, kick, ban, unban, public join), writers chosen by power levels,
 * messages, redaction, transaction IDs, aliases, the event stream and the
 * callbacks, for rooms v10, v11 and v12. A refused write changes nothing. */
#include "engine_util.h"

#include <cbor.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define ALICE "@alice:test.local"
#define BOB "@bob:test.local"
#define CAROL "@carol:test.local"

static void member_is(mxdb *db, const char *room, const char *user, const char *want)
{
	char m[16] = "";
	mxdb_error err;
	mxdb_status s = mxdb_member_of(db, room, user, m, &err);
	CHECK_MSG(want ? s == MXDB_OK && strcmp(m, want) == 0 : s == MXDB_ENOTFOUND,
	          "%s in %s: %s, want %s", user, room, s == MXDB_OK ? m : "none", want ? want : "none");
}

/* A refused write leaves the stream position and the seq where they were. */
#define REFUSED(call, code)                                                          \
	do {                                                                             \
		uint64_t p0 = mxdb_stream_pos(db), s0 = mxdb_last_seq(db);                   \
		mxdb_status st_ = (call);                                                    \
		CHECK_MSG(st_ == (code), "%s: got %s (%s)", #call, mxdb_status_name(st_), err.message); \
		CHECK(mxdb_stream_pos(db) == p0 && mxdb_last_seq(db) == s0);                 \
	} while (0)

static void test_private(mxdb *db, const char *version)
{
	mxdb_error err;
	char *room = NULL;
	mxdb_writer writers[] = {{CAROL, 60}};
	mxdb_table_options o = {.creator = ALICE, .room_version = version,
	                        .preset = MXDB_PRESET_PRIVATE_CHAT, .writers = writers, .n_writers = 1};
	CHECK(mxdb_create_table(db, &o, &room, &err) == MXDB_OK);
	if (room == NULL)
		return;
	member_is(db, room, ALICE, "join");
	/* Bob is not invited: he cannot join an invite-only room. */
	REFUSED(mxdb_membership(db, room, BOB, NULL, MXDB_JOIN, NULL, NULL, NULL, &err), MXDB_EFORBIDDEN);
	member_is(db, room, BOB, NULL);
	CHECK(mxdb_membership(db, room, ALICE, BOB, MXDB_INVITE, NULL, NULL, NULL, &err) == MXDB_OK);
	member_is(db, room, BOB, "invite");
	mxdb_user_room *ur;
	size_t n;
	CHECK(mxdb_user_rooms(db, BOB, "invite", &ur, &n, &err) == MXDB_OK);
	size_t hit = n;
	for (size_t i = 0; i < n; i++)
		if (strcmp(ur[i].room_id, room) == 0)
			hit = i;
	CHECK(hit < n && strcmp(ur[hit].sender, ALICE) == 0 && strcmp(ur[hit].membership, "invite") == 0);
	CHECK(hit < n && ur[hit].invite_state && strstr(ur[hit].invite_state, "m.room.create") &&
	      strstr(ur[hit].invite_state, "m.room.join_rules"));
	mxdb_user_rooms_free(ur, n);
	CHECK(mxdb_membership(db, room, BOB, NULL, MXDB_JOIN, NULL, "{\"displayname\":\"Bob\"}", NULL, &err) == MXDB_OK);
	member_is(db, room, BOB, "join");
	/* Bob (level 0) may send messages but not write rows (state_default 50). */
	CHECK(mxdb_send(db, room, BOB, "m.room.message", "{\"body\":\"hi\",\"msgtype\":\"m.text\"}", NULL, NULL, &err) == MXDB_OK);
	REFUSED(mxdb_put(db, room, BOB, "com.example.todo", "a", "{}", NULL, NULL, &err), MXDB_EFORBIDDEN);
	/* Bob may not kick Alice, nor invite (invite level 0 is fine), nor ban. */
	REFUSED(mxdb_membership(db, room, BOB, ALICE, MXDB_KICK, NULL, NULL, NULL, &err), MXDB_EFORBIDDEN);
	REFUSED(mxdb_membership(db, room, BOB, ALICE, MXDB_BAN, NULL, NULL, NULL, &err), MXDB_EFORBIDDEN);
	member_is(db, room, ALICE, "join");
	/* Carol, a listed writer at 60, once joined writes rows. */
	CHECK(mxdb_membership(db, room, ALICE, CAROL, MXDB_INVITE, NULL, NULL, NULL, &err) == MXDB_OK);
	CHECK(mxdb_membership(db, room, CAROL, NULL, MXDB_JOIN, NULL, NULL, NULL, &err) == MXDB_OK);
	CHECK(mxdb_put(db, room, CAROL, "com.example.todo", "c", "{\"by\":\"carol\"}", NULL, NULL, &err) == MXDB_OK);
	/* Kick, ban, unban. */
	CHECK(mxdb_membership(db, room, ALICE, BOB, MXDB_KICK, "bye", NULL, NULL, &err) == MXDB_OK);
	member_is(db, room, BOB, "leave");
	REFUSED(mxdb_send(db, room, BOB, "m.room.message", "{}", NULL, NULL, &err), MXDB_EFORBIDDEN);
	CHECK(mxdb_membership(db, room, ALICE, BOB, MXDB_BAN, NULL, NULL, NULL, &err) == MXDB_OK);
	member_is(db, room, BOB, "ban");
	REFUSED(mxdb_membership(db, room, ALICE, BOB, MXDB_INVITE, NULL, NULL, NULL, &err), MXDB_EFORBIDDEN);
	REFUSED(mxdb_membership(db, room, ALICE, CAROL, MXDB_UNBAN, NULL, NULL, NULL, &err), MXDB_EINVAL);
	CHECK(mxdb_membership(db, room, ALICE, BOB, MXDB_UNBAN, NULL, NULL, NULL, &err) == MXDB_OK);
	member_is(db, room, BOB, "leave");
	CHECK(mxdb_membership(db, room, CAROL, NULL, MXDB_LEAVE, NULL, NULL, NULL, &err) == MXDB_OK);
	member_is(db, room, CAROL, "leave");
	char *json = NULL;
	CHECK(mxdb_members(db, room, "join", &json, &err) == MXDB_OK);
	CHECK(json && strstr(json, ALICE) && !strstr(json, CAROL));
	mxdb_free(json);
	mxdb_free(room);
}

static void test_public_and_messages(mxdb *db, const char *version)
{
	mxdb_error err;
	char *room = NULL;
	mxdb_table_options o = {.creator = ALICE, .room_version = version, .visibility_public = 1,
	                        .has_state_default = 1, .state_default = 0, .name = "open",
	                        .topic = "anyone writes", .alias = version};
	CHECK(mxdb_create_table(db, &o, &room, &err) == MXDB_OK);
	if (room == NULL)
		return;
	char alias[64], *resolved = NULL;
	snprintf(alias, sizeof(alias), "#%s:test.local", version);
	CHECK(mxdb_alias_resolve(db, alias, &resolved, &err) == MXDB_OK && strcmp(resolved, room) == 0);
	mxdb_free(resolved);
	char *again = NULL;
	REFUSED(mxdb_create_table(db, &o, &again, &err), MXDB_EEXISTS);
	/* Anyone joins a public room; state_default 0 lets every member write. */
	CHECK(mxdb_membership(db, alias, BOB, NULL, MXDB_JOIN, NULL, NULL, NULL, &err) == MXDB_OK);
	CHECK(mxdb_put(db, alias, BOB, "com.example.todo", "b", "{\"by\":\"bob\"}", NULL, NULL, &err) == MXDB_OK);
	/* The name needs 50: Bob cannot rename. */
	REFUSED(mxdb_put(db, room, BOB, "m.room.name", "", "{\"name\":\"x\"}", NULL, NULL, &err), MXDB_EFORBIDDEN);
	char *content = NULL;
	CHECK(mxdb_get(db, room, "m.room.name", "", &content, NULL, &err) == MXDB_OK);
	CHECK(content && strcmp(content, "{\"name\":\"open\"}") == 0);
	mxdb_free(content);

	/* Transaction IDs: the same one twice gives one event. */
	mxdb_write_result r1, r2, r3;
	uint64_t p0 = mxdb_stream_pos(db);
	CHECK(mxdb_send(db, room, BOB, "m.room.message", "{\"body\":\"1\"}", "txn1", &r1, &err) == MXDB_OK);
	CHECK(mxdb_send(db, room, BOB, "m.room.message", "{\"body\":\"1\"}", "txn1", &r2, &err) == MXDB_OK);
	CHECK(strcmp(r1.event_id, r2.event_id) == 0 && r1.pos == r2.pos && r1.seq == 0);
	CHECK_MSG(mxdb_stream_pos(db) == p0 + 1, "%llu %llu r1 %s %llu", (unsigned long long)mxdb_stream_pos(db), (unsigned long long)p0, r1.event_id, (unsigned long long)r1.pos);

	/* Redaction: Bob redacts his own message; Bob may not redact Alice's. */
	CHECK(mxdb_send(db, room, ALICE, "m.room.message", "{\"body\":\"secret\"}", NULL, &r3, &err) == MXDB_OK);
	REFUSED(mxdb_redact(db, room, BOB, r3.event_id, NULL, NULL, NULL, &err), MXDB_EFORBIDDEN);
	CHECK_MSG(mxdb_redact(db, room, BOB, r1.event_id, "oops", NULL, NULL, &err) == MXDB_OK, "%s", err.message);
	char *ev = NULL;
	CHECK(mxdb_event_get(db, r1.event_id, &ev, &err) == MXDB_OK);
	CHECK(ev && strstr(ev, "\"content\":{}") && strstr(ev, "redacted_because"));
	mxdb_free(ev);
	CHECK(mxdb_redact(db, room, ALICE, r3.event_id, NULL, NULL, NULL, &err) == MXDB_OK);
	CHECK(mxdb_event_pdu(db, r3.event_id, &ev, &err) == MXDB_OK);
	CHECK(ev && !strstr(ev, "secret") && strstr(ev, "\"signatures\""));
	mxdb_free(ev);

	/* The timeline: backwards from the end, newest first, then forwards. */
	mxdb_events evs;
	CHECK(mxdb_room_events(db, room, 0, 1, 3, &evs, &err) == MXDB_OK);
	CHECK(evs.n == 3 && evs.ev[0].pos > evs.ev[1].pos && strcmp(evs.ev[0].type, "m.room.redaction") == 0);
	uint64_t mid = evs.n == 3 ? evs.ev[2].pos : 0;
	mxdb_events_free(&evs);
	CHECK(mxdb_room_events(db, room, mid, 0, 100, &evs, &err) == MXDB_OK);
	CHECK(evs.n == 2 && evs.ev[0].pos > mid);
	mxdb_events_free(&evs);
	/* Since: only this room's events, each with its transaction ID. */
	const char *rooms[] = {room};
	CHECK(mxdb_events_since(db, p0, rooms, 1, NULL, 100, &evs, &err) == MXDB_OK);
	CHECK(evs.n == 4 && evs.ev[0].txn_id && strcmp(evs.ev[0].txn_id, "txn1") == 0);
	for (size_t i = 1; i < evs.n; i++)
		CHECK(evs.ev[i].pos > evs.ev[i - 1].pos && strcmp(evs.ev[i].room_id, room) == 0);
	mxdb_events_free(&evs);
	CHECK(mxdb_events_since(db, 0, NULL, 0, BOB, 1000, &evs, &err) == MXDB_OK);
	size_t bob_n = evs.n;
	mxdb_events_free(&evs);
	CHECK(bob_n > 10);
	mxdb_free(room);
}

typedef struct seen {
	uint64_t last_seq, commits, changes, bad;
	unsigned char *cbor;
	size_t cbor_len;
} seen;

static int on_change(void *ctx, const mxdb_change *c)
{
	seen *s = ctx;
	if (s->last_seq != 0 && c->seq != s->last_seq + 1)
		s->bad++;
	s->last_seq = c->seq;
	s->changes++;
	free(s->cbor);
	s->cbor = NULL;
	mxdb_change_cbor(c, &s->cbor, &s->cbor_len, NULL);
	return 0;
}

static void on_commit(void *ctx, uint64_t pos)
{
	(void)pos;
	((seen *)ctx)->commits++;
}

typedef struct worker {
	mxdb *db;
	const char *room;
	int id, ok;
} worker;

static void *write_many(void *arg)
{
	worker *w = arg;
	char key[32];
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "w%d-%d", w->id, i);
		w->ok += mxdb_put(w->db, w->room, ALICE, "com.example.load", key, "{\"v\":1}", NULL, NULL, NULL) == MXDB_OK;
	}
	return NULL;
}

static void test_callbacks(mxdb *db)
{
	mxdb_error err;
	char *room = NULL;
	mxdb_table_options o = {.creator = ALICE};
	CHECK(mxdb_create_table(db, &o, &room, &err) == MXDB_OK);
	seen s = {0};
	int idc = mxdb_on_change(db, on_change, &s), idm = mxdb_on_commit(db, on_commit, &s);
	CHECK(idc > 0 && idm > 0);
	uint64_t seq0 = mxdb_last_seq(db);
	pthread_t t[4];
	worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (worker){db, room, i, 0};
		pthread_create(&t[i], NULL, write_many, &w[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK(w[0].ok + w[1].ok + w[2].ok + w[3].ok == 200);
	CHECK(s.changes == 200 && s.bad == 0 && s.last_seq == seq0 + 200);
	CHECK(s.commits >= 1 && s.commits <= 200);
	/* The last record decodes as the feed's CBOR map. */
	struct cbor_load_result lr;
	cbor_item_t *m = s.cbor ? cbor_load(s.cbor, s.cbor_len, &lr) : NULL;
	CHECK(m && cbor_isa_map(m) && cbor_map_size(m) == 11);
	if (m) {
		struct cbor_pair *p = cbor_map_handle(m);
		int found = 0;
		for (size_t i = 0; i < cbor_map_size(m); i++) {
			char k[16] = "";
			memcpy(k, cbor_string_handle(p[i].key), cbor_string_length(p[i].key) < 15 ? cbor_string_length(p[i].key) : 15);
			if (strcmp(k, "seq") == 0)
				found += cbor_get_int(p[i].value) == s.last_seq;
			if (strcmp(k, "content") == 0)
				found += cbor_isa_map(p[i].value);
			if (strcmp(k, "cause") == 0)
				found += cbor_string_length(p[i].value) == 5;
		}
		CHECK(found == 3);
		cbor_decref(&m);
	}
	free(s.cbor);
	s.cbor = NULL;
	/* A callback never writes. */
	mxdb_unsubscribe(db, idc);
	mxdb_unsubscribe(db, idm);
	uint64_t before = s.changes;
	CHECK(mxdb_put(db, room, ALICE, "com.example.load", "after", "{}", NULL, NULL, &err) == MXDB_OK);
	CHECK(s.changes == before);
	/* mxdb_wait sees a newer position, and times out without one. */
	uint64_t p = mxdb_stream_pos(db);
	CHECK(mxdb_wait(db, p, 50) == p);
	CHECK(mxdb_wait(db, p - 1, 1000) == p);
	mxdb_free(room);
}

/* createRoom's options: initial_state overrides the preset, the override is
 * merged last, trusted invitees get 100, and a bad request leaves nothing. */
static void test_create_options(mxdb *db, const char *version)
{
	mxdb_error err;
	char *room = NULL, *content = NULL;
	const char *inv[] = {BOB};
	mxdb_table_options o = {
		.creator = ALICE, .room_version = version, .preset = MXDB_PRESET_TRUSTED_PRIVATE_CHAT,
		.invite = inv, .n_invite = 1, .is_direct = 1,
		.initial_state = "[{\"type\":\"m.room.join_rules\",\"content\":{\"join_rule\":\"public\"}},"
		                 "{\"type\":\"com.example.cfg\",\"state_key\":\"x\",\"content\":{\"v\":1}}]",
		.power_level_content_override = "{\"events_default\":10}"};
	CHECK(mxdb_create_table(db, &o, &room, &err) == MXDB_OK);
	if (room == NULL)
		return;
	CHECK(mxdb_get(db, room, "m.room.join_rules", "", &content, NULL, &err) == MXDB_OK);
	CHECK(content && strstr(content, "public"));
	mxdb_free(content);
	CHECK(mxdb_get(db, room, "com.example.cfg", "x", &content, NULL, &err) == MXDB_OK);
	mxdb_free(content);
	CHECK(mxdb_get(db, room, "m.room.power_levels", "", &content, NULL, &err) == MXDB_OK);
	CHECK(content && strstr(content, "\"events_default\":10") && strstr(content, "\"@bob:test.local\":100"));
	/* v12: the creator is not listed, v10/v11: at 100. */
	CHECK(content && (strcmp(version, "12") == 0) == (strstr(content, "\"@alice:test.local\":100") == NULL));
	mxdb_free(content);
	CHECK(mxdb_get(db, room, "m.room.member", BOB, &content, NULL, &err) == MXDB_OK);
	CHECK(content && strstr(content, "\"is_direct\":true") && strstr(content, "invite"));
	mxdb_free(content);
	mxdb_room_info info;
	CHECK(mxdb_room_info_get(db, room, &info, &err) == MXDB_OK);
	CHECK(strcmp(info.version, version) == 0 && strcmp(info.creator, ALICE) == 0);
	mxdb_free(room);

	/* A bad initial_state entry: nothing is created, the alias stays free. */
	mxdb_table_options bad = {.creator = ALICE, .room_version = version, .alias = "bad",
	                          .initial_state = "[{\"type\":\"x\",\"content\":[]}]"};
	REFUSED(mxdb_create_table(db, &bad, &room, &err), MXDB_EBADJSON);
	char *rid = NULL;
	CHECK(mxdb_alias_resolve(db, "#bad:test.local", &rid, &err) == MXDB_ENOTFOUND);
	bad.initial_state = "{}";
	REFUSED(mxdb_create_table(db, &bad, &room, &err), MXDB_EBADJSON);
	bad.initial_state = NULL;
	bad.power_level_content_override = "{\"users\":{\"@alice:test.local\":\"x\"}}";
	REFUSED(mxdb_create_table(db, &bad, &room, &err), MXDB_EFORBIDDEN);
	bad.power_level_content_override = NULL;
	bad.room_version = "9";
	REFUSED(mxdb_create_table(db, &bad, &room, &err), MXDB_EVERSION);
}

/* A user's stream: the rooms they are in, plus their own membership events;
 * nothing of a room after they left it. */
static void test_user_stream(mxdb *db)
{
	mxdb_error err;
	char *room = NULL;
	mxdb_table_options o = {.creator = ALICE, .visibility_public = 1};
	CHECK(mxdb_create_table(db, &o, &room, &err) == MXDB_OK);
	if (room == NULL)
		return;
	const char *dave = "@dave:test.local";
	uint64_t p0 = mxdb_stream_pos(db);
	mxdb_write_result m1, m2, lv;
	CHECK(mxdb_membership(db, room, dave, NULL, MXDB_JOIN, NULL, NULL, NULL, &err) == MXDB_OK);
	CHECK(mxdb_send(db, room, ALICE, "m.room.message", "{\"body\":\"1\"}", NULL, &m1, &err) == MXDB_OK);
	CHECK(mxdb_membership(db, room, dave, NULL, MXDB_LEAVE, NULL, NULL, &lv, &err) == MXDB_OK);
	CHECK(mxdb_send(db, room, ALICE, "m.room.message", "{\"body\":\"2\"}", NULL, &m2, &err) == MXDB_OK);
	mxdb_events evs;
	CHECK(mxdb_events_since(db, p0, NULL, 0, dave, 100, &evs, &err) == MXDB_OK);
	int saw_leave = 0, saw_m2 = 0;
	for (size_t i = 0; i < evs.n; i++) {
		saw_leave += strcmp(evs.ev[i].event_id, lv.event_id) == 0;
		saw_m2 += strcmp(evs.ev[i].event_id, m2.event_id) == 0;
	}
	CHECK(saw_leave == 1 && saw_m2 == 0);
	mxdb_events_free(&evs);
	/* Alice, still in, sees everything of the room since p0: 4 events. */
	CHECK(mxdb_events_since(db, p0, NULL, 0, ALICE, 100, &evs, &err) == MXDB_OK);
	CHECK(evs.n == 4 && strcmp(evs.ev[3].event_id, m2.event_id) == 0);
	mxdb_events_free(&evs);
	/* A page limit cuts the oldest-first list. */
	CHECK(mxdb_events_since(db, p0, NULL, 0, NULL, 2, &evs, &err) == MXDB_OK);
	CHECK(evs.n == 2 && evs.ev[0].pos == p0 + 1);
	mxdb_events_free(&evs);
	mxdb_free(room);
}

typedef struct last_change {
	int n, content_null;
	uint64_t seq;
	char event[64], prev[64], key[64];
} last_change;

static int keep_last(void *ctx, const mxdb_change *c)
{
	last_change *l = ctx;
	l->n++;
	l->seq = c->seq;
	l->content_null = c->content == NULL;
	snprintf(l->event, sizeof(l->event), "%s", c->event);
	snprintf(l->prev, sizeof(l->prev), "%s", c->prev ? c->prev : "");
	snprintf(l->key, sizeof(l->key), "%s", c->key);
	return 0;
}

/* Knocking: allowed by join rule "knock" only; the knocker sees the room's
 * stripped state; an invite then lets them in. A redacted row reads back
 * with its content stripped. */
static void test_knock_and_redacted_row(mxdb *db, const char *version)
{
	mxdb_error err;
	char *room = NULL, *content = NULL;
	mxdb_table_options o = {.creator = ALICE, .room_version = version, .name = "knock here",
	                        .initial_state = "[{\"type\":\"m.room.join_rules\","
	                                         "\"content\":{\"join_rule\":\"knock\"}}]"};
	CHECK(mxdb_create_table(db, &o, &room, &err) == MXDB_OK);
	if (room == NULL)
		return;
	REFUSED(mxdb_membership(db, room, CAROL, NULL, MXDB_JOIN, NULL, NULL, NULL, &err), MXDB_EFORBIDDEN);
	CHECK(mxdb_membership(db, room, CAROL, NULL, MXDB_KNOCK, "let me in", NULL, NULL, &err) == MXDB_OK);
	member_is(db, room, CAROL, "knock");
	mxdb_user_room *ur;
	size_t n, hit;
	CHECK(mxdb_user_rooms(db, CAROL, "knock", &ur, &n, &err) == MXDB_OK);
	for (hit = 0; hit < n && strcmp(ur[hit].room_id, room) != 0; hit++)
		;
	CHECK(hit < n && ur[hit].invite_state && strstr(ur[hit].invite_state, "knock here"));
	mxdb_user_rooms_free(ur, n);
	CHECK(mxdb_membership(db, room, ALICE, CAROL, MXDB_INVITE, NULL, NULL, NULL, &err) == MXDB_OK);
	CHECK(mxdb_membership(db, room, CAROL, NULL, MXDB_JOIN, NULL, NULL, NULL, &err) == MXDB_OK);
	member_is(db, room, CAROL, "join");

	mxdb_write_result r;
	CHECK(mxdb_put(db, room, ALICE, "m.room.topic", "", "{\"topic\":\"secret\"}", NULL, &r, &err) == MXDB_OK);
	mxdb_write_result rr;
	uint64_t seq0 = mxdb_last_seq(db);
	CHECK(mxdb_redact(db, room, ALICE, r.event_id, NULL, NULL, &rr, &err) == MXDB_OK);
	CHECK(rr.seq == seq0 + 1 && mxdb_last_seq(db) == seq0 + 1);
	CHECK(mxdb_get(db, room, "m.room.topic", "", &content, NULL, &err) == MXDB_ENOTFOUND);
	last_change lc = {0};
	CHECK(mxdb_changes_since(db, seq0, room, 0, keep_last, &lc, &err) == MXDB_OK);
	CHECK(lc.n == 1 && lc.seq == rr.seq && lc.content_null && strcmp(lc.event, r.event_id) == 0 &&
	      strcmp(lc.prev, r.event_id) == 0 && strcmp(lc.key, "") == 0);
	/* Redacting a message or an old version changes no row. */
	CHECK(mxdb_redact(db, room, ALICE, rr.event_id, NULL, NULL, &rr, &err) == MXDB_OK);
	CHECK(rr.seq == 0 && mxdb_last_seq(db) == seq0 + 1);
	CHECK(mxdb_state_event(db, room, "m.room.topic", "", &content, &err) == MXDB_OK);
	CHECK(content && !strstr(content, "secret") && strstr(content, r.event_id));
	mxdb_free(content);
	/* The power levels survive redaction with the keys the auth rules need. */
	char *pl_id = NULL;
	CHECK(mxdb_get(db, room, "m.room.power_levels", "", NULL, &pl_id, &err) == MXDB_OK);
	CHECK(mxdb_redact(db, room, ALICE, pl_id, NULL, NULL, NULL, &err) == MXDB_OK);
	CHECK(mxdb_get(db, room, "m.room.power_levels", "", &content, NULL, &err) == MXDB_OK);
	CHECK(content && strstr(content, "\"users\""));
	mxdb_free(content);
	mxdb_free(pl_id);
	REFUSED(mxdb_put(db, room, CAROL, "m.room.name", "", "{\"name\":\"x\"}", NULL, NULL, &err), MXDB_EFORBIDDEN);
	mxdb_free(room);
}

int main(void)
{
	char dir[128];
	tmpdir_make(dir, sizeof(dir), "members");
	mxdb *db = open_db(dir);
	const char *versions[] = {"10", "11", "12"};
	for (int v = 0; v < 3; v++) {
		test_private(db, versions[v]);
		test_public_and_messages(db, versions[v]);
		test_create_options(db, versions[v]);
		test_knock_and_redacted_row(db, versions[v]);
	}
	test_callbacks(db);
	test_user_stream(db);
	mxdb_close(db);
	tmpdir_remove(dir);
	return test_summary("test_engine_members");
}
