/* test_fed_room.c: two real databases (a.test and b.test, SQLite files in a
 * temporary directory) replicating through the federation logic without
 * HTTP: B joins A's table (make_join / send_join / state + auth chain),
 * rows written on either side reach the other through the outbound queue,
 * concurrent writes fork the room and both sides converge on the winner
 * state resolution picks, with `remote` and `merge` change records; events
 * failing auth, replays and forged events are refused. B keeps the join's
 * answer as outliers; A's writes follow who is joined. A gap is placed
 * from the state at its missing prev event, and filled in later. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fed_pdu.h"
#include "fed_queue.h"
#include "fed_room.h"
#include "fed_store.h"
#include "testutil.h"

typedef struct node {
	const char *name;
	char dir[256];
	mxdb *db;
	mx_key key;
	sqlite3 *q; /* its fed tables, as the sender sees them */
} node;

static node A = {.name = "a.test"}, B = {.name = "b.test"};
static const mx_room_version *rv;
static char room[256];

static mxdb_status keys(void *ctx, const char *server, const char *key_id, long long ts,
                        unsigned char pk[32], mxdb_error *err)
{
	node *n = strcmp(server, "a.test") == 0 ? &A : strcmp(server, "b.test") == 0 ? &B : NULL;
	if (n == NULL || strcmp(key_id, n->key.key_id) != 0)
		return mx_fail(err, MXDB_ENOTFOUND, "unknown key");
	memcpy(pk, n->key.pk, 32);
	return MXDB_OK;
}

static void node_open(node *n, const char *base)
{
	mxdb_error err;
	char path[300];
	snprintf(n->dir, sizeof(n->dir), "%s/%s", base, n->name);
	mxdb_options o = {.server_name = n->name, .synchronous = MXDB_SYNC_NORMAL};
	CHECK_MSG(mxdb_open(n->dir, &o, &n->db, &err) == MXDB_OK, "%s", err.message);
	snprintf(path, sizeof(path), "%s/signing.key", n->dir);
	CHECK(key_load(&n->key, path, &err) == MXDB_OK);
	CHECK(fed_store_open(mxdb_sqlite_path(n->db), &n->q, &err) == MXDB_OK);
}

/* Checks and parses a PDU as a receiving server does. */
static ev_t *receive(json_t *pdu, int *redacted)
{
	ev_t *ev = NULL;
	int red = 0;
	mxdb_error err;
	if (fed_pdu_check(pdu, rv, keys, NULL, &ev, &red, &err) != MXDB_OK)
		return NULL;
	if (redacted)
		*redacted = red;
	return ev;
}

/* Delivers everything queued on `from` for `to`; returns how many PDUs
 * were refused. */
static int deliver(node *from, node *to)
{
	int refused = 0;
	fed_txn t;
	mxdb_error err;
	for (int guard = 0; guard < 100 && fed_queue_take(from->q, to->name, &t, &err) == MXDB_OK; guard++) {
		size_t n = json_array_size(t.pdus);
		ev_t **evs = calloc(n + 1, sizeof(*evs));
		fed_result *res = calloc(n + 1, sizeof(*res));
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if ((evs[k] = receive(json_array_get(t.pdus, i), NULL)) != NULL)
				k++;
		CHECK(fed_room_ingest(to->db, evs, k, res, &err) == MXDB_OK);
		for (size_t i = 0; i < k; i++)
			if (res[i].status != MXDB_OK) {
				fprintf(stderr, "refused: %s\n", res[i].why);
				refused++;
			}
		CHECK(fed_queue_ack(from->q, &t, &err) == MXDB_OK);
		fed_txn_free(&t);
		free(evs);
		free(res);
	}
	return refused;
}

static void put(node *n, const char *user, const char *key, const char *content)
{
	mxdb_error err;
	CHECK_MSG(mxdb_put(n->db, room, user, "com.example.todo", key, content, NULL, NULL, &err) == MXDB_OK,
	          "%s", err.message);
}

/* The row's version on a node, "" when none. */
static void version(node *n, const char *key, char out[256])
{
	char *id = NULL;
	out[0] = '\0';
	if (mxdb_get(n->db, room, "com.example.todo", key, NULL, &id, NULL) == MXDB_OK)
		snprintf(out, 256, "%s", id);
	mxdb_free(id);
}

typedef struct causes {
	int n[3];
	char last_event[3][256];
} causes;

static int count_cause(void *ctx, const mxdb_change *c)
{
	causes *cs = ctx;
	cs->n[c->cause]++;
	snprintf(cs->last_event[c->cause], 256, "%s", c->event);
	return 0;
}

static causes changes_of(node *n)
{
	causes cs = {0};
	mxdb_changes_since(n->db, 0, room, 0, count_cause, &cs, NULL);
	return cs;
}

/* B stored the answer's events as outliers: no state at them, in no
 * timeline; the state before the join is the answered one, on both sides. */
static void check_outliers(const json_t *state, const char *join_id)
{
	mxdb_error err;
	json_t *ids = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(state, i, p) {
		char id[EV_ID_SIZE];
		CHECK(ev_compute_id(p, rv, id, &err) == MXDB_OK);
		json_array_append_new(ids, json_string(id));
		char *at = NULL;
		CHECK(mxdb_state_ids_at(B.db, id, 0, &at, &err) == MXDB_ENOTFOUND);
		mxdb_free(at);
	}
	node *both[] = {&A, &B};
	for (int n = 0; n < 2; n++) {
		char *text = NULL;
		CHECK(mxdb_state_ids_at(both[n]->db, join_id, 0, &text, &err) == MXDB_OK);
		json_t *got = text ? json_loads(text, 0, NULL) : NULL;
		CHECK_MSG(json_array_size(got) == json_array_size(ids), "%s: %zu ids before the join, %zu answered",
		          both[n]->name, json_array_size(got), json_array_size(ids));
		json_t *g;
		json_array_foreach(got, i, g) {
			bool found = false;
			for (size_t k = 0; k < json_array_size(ids) && !found; k++)
				found = json_equal(g, json_array_get(ids, k));
			CHECK_MSG(found, "%s: %s not answered", both[n]->name, json_string_value(g));
		}
		json_decref(got);
		mxdb_free(text);
	}
	mxdb_events evs = {0};
	CHECK(mxdb_room_events(B.db, room, 0, 0, 100, &evs, &err) == MXDB_OK);
	CHECK_MSG(evs.n == 1 && strcmp(evs.ev[0].event_id, join_id) == 0, "%zu events in B's timeline", evs.n);
	mxdb_events_free(&evs);
	json_decref(ids);
}

static void test_join(void)
{
	mxdb_error err;
	char *rid = NULL;
	mxdb_table_options to = {.creator = "@alice:a.test", .preset = MXDB_PRESET_PUBLIC_CHAT,
	                         .has_state_default = 1, .state_default = 0};
	CHECK_MSG(mxdb_create_table(A.db, &to, &rid, &err) == MXDB_OK, "%s", err.message);
	snprintf(room, sizeof(room), "%s", rid ? rid : "");
	mxdb_free(rid);
	put(&A, "@alice:a.test", "before-join", "{\"v\":0}");

	/* make_join on A, signed by B, send_join on A. */
	json_t *tmpl = NULL;
	const char *rv_id = NULL;
	CHECK(fed_room_make_membership(A.db, room, "@bob:b.test", "join", &tmpl, &rv_id, &err) == MXDB_OK);
	rv = rv_get(rv_id ? rv_id : "");
	CHECK(rv != NULL && tmpl != NULL);
	if (rv == NULL || tmpl == NULL)
		return;
	json_object_del(tmpl, "origin");
	CHECK(ev_hash_and_sign(tmpl, rv, &B.key, "b.test", &err) == MXDB_OK);
	ev_t *join = receive(tmpl, NULL), *join_b = receive(tmpl, NULL);
	CHECK(join != NULL && join_b != NULL);
	json_t *state = NULL, *chain = NULL;
	CHECK_MSG(fed_room_accept_membership(A.db, join, &state, &chain, &err) == MXDB_OK, "%s", err.message);
	char m[16] = "";
	CHECK(mxdb_member_of(A.db, room, "@bob:b.test", m, &err) == MXDB_OK && strcmp(m, "join") == 0);
	CHECK_MSG(json_array_size(state) >= 6 && json_array_size(chain) >= 2, "state %zu, chain %zu",
	          json_array_size(state), json_array_size(chain));

	/* B builds the room from the answer. */
	size_t ns = json_array_size(state), nc = json_array_size(chain);
	ev_t **s_ev = calloc(ns + 1, sizeof(*s_ev)), **c_ev = calloc(nc + 1, sizeof(*c_ev));
	for (size_t i = 0; i < ns; i++)
		CHECK((s_ev[i] = receive(json_array_get(state, i), NULL)) != NULL);
	for (size_t i = 0; i < nc; i++)
		CHECK((c_ev[i] = receive(json_array_get(chain, i), NULL)) != NULL);
	char join_id[EV_ID_SIZE];
	snprintf(join_id, sizeof(join_id), "%s", join_b->event_id);
	CHECK_MSG(fed_room_join_remote(B.db, rv, c_ev, nc, s_ev, ns, join_b, &err) == MXDB_OK, "%s",
	          err.message);
	check_outliers(state, join_id);
	free(s_ev);
	free(c_ev);
	json_decref(state);
	json_decref(chain);
	json_decref(tmpl);
	CHECK(mxdb_member_of(B.db, room, "@bob:b.test", m, &err) == MXDB_OK && strcmp(m, "join") == 0);
	char va[256], vb[256];
	version(&A, "before-join", va);
	version(&B, "before-join", vb);
	CHECK(va[0] && strcmp(va, vb) == 0);
	/* B's feed reported the rows it received, as remote. */
	causes cb = changes_of(&B);
	CHECK(cb.n[MXDB_CAUSE_REMOTE] > 0 && cb.n[MXDB_CAUSE_LOCAL] == 0);
}

static void test_rows(void)
{
	char va[256], vb[256];
	put(&A, "@alice:a.test", "1", "{\"v\":1}");
	CHECK(deliver(&A, &B) == 0);
	version(&A, "1", va);
	version(&B, "1", vb);
	CHECK(va[0] && strcmp(va, vb) == 0);
	causes cb = changes_of(&B);
	CHECK(strcmp(cb.last_event[MXDB_CAUSE_REMOTE], va) == 0);

	put(&B, "@bob:b.test", "2", "{\"v\":2}");
	CHECK(deliver(&B, &A) == 0);
	version(&A, "2", va);
	version(&B, "2", vb);
	CHECK(va[0] && strcmp(va, vb) == 0);
	CHECK(deliver(&A, &B) == 0); /* nothing new for B: its own event is not echoed */
	long long len = -1;
	mxdb_error err;
	CHECK(fed_queue_length(A.q, "b.test", &len, &err) == MXDB_OK && len == 0);
}

static void test_fork(void)
{
	char va[256], vb[256];
	causes a0 = changes_of(&A), b0 = changes_of(&B);
	/* A partition: both write x, and one row each. */
	put(&A, "@alice:a.test", "x", "{\"by\":\"alice\"}");
	put(&B, "@bob:b.test", "x", "{\"by\":\"bob\"}");
	put(&A, "@alice:a.test", "ya", "{\"v\":\"a\"}");
	put(&B, "@bob:b.test", "yb", "{\"v\":\"b\"}");
	CHECK(deliver(&A, &B) == 0);
	CHECK(deliver(&B, &A) == 0);
	const char *keys_[] = {"x", "ya", "yb", "1", "2"};
	for (size_t i = 0; i < sizeof(keys_) / sizeof(keys_[0]); i++) {
		version(&A, keys_[i], va);
		version(&B, keys_[i], vb);
		CHECK_MSG(va[0] && strcmp(va, vb) == 0, "row %s: %s vs %s", keys_[i], va, vb);
	}
	/* One side's x changed winner by the merge. */
	causes a1 = changes_of(&A), b1 = changes_of(&B);
	CHECK(a1.n[MXDB_CAUSE_MERGE] + b1.n[MXDB_CAUSE_MERGE] > a0.n[MXDB_CAUSE_MERGE] + b0.n[MXDB_CAUSE_MERGE]);

	/* After the fork: a write on each side still replicates, citing both heads. */
	put(&A, "@alice:a.test", "after", "{\"v\":3}");
	CHECK(deliver(&A, &B) == 0);
	put(&B, "@bob:b.test", "after2", "{\"v\":4}");
	CHECK(deliver(&B, &A) == 0);
	version(&A, "after2", va);
	version(&B, "after", vb);
	CHECK(va[0] && vb[0]);
	version(&A, "after", va);
	CHECK(strcmp(va, vb) == 0);
}

static void state_id(node *n, const char *type, const char *key, char out[EV_ID_SIZE]);

static void test_bad(void)
{
	mxdb_error err;
	fed_result r;
	char before[256], after[256];
	/* Eve never joined: her row fails the auth rules and is not stored. */
	json_t *pdu = json_pack("{s:[], s:[], s:{s:i}, s:i, s:I, s:s, s:s, s:s, s:s}", "auth_events",
	                        "prev_events", "content", "v", 666, "depth", 99, "origin_server_ts",
	                        (json_int_t)fed_now_ms(), "room_id", room, "sender", "@eve:b.test",
	                        "type", "com.example.todo", "state_key", "1");
	/* Cite A's current heads and the right auth events, as a real server would. */
	json_t *tmpl = NULL;
	const char *rv_id;
	CHECK(fed_room_make_membership(A.db, room, "@eve:b.test", "join", &tmpl, &rv_id, &err) == MXDB_OK);
	json_object_set(pdu, "prev_events", json_object_get(tmpl, "prev_events"));
	json_object_set(pdu, "auth_events", json_object_get(tmpl, "auth_events"));
	json_decref(tmpl);
	CHECK(ev_hash_and_sign(pdu, rv, &B.key, "b.test", &err) == MXDB_OK);
	version(&A, "1", before);
	ev_t *ev = receive(pdu, NULL);
	CHECK(ev != NULL);
	char id[EV_ID_SIZE];
	snprintf(id, sizeof(id), "%s", ev ? ev->event_id : "");
	CHECK(fed_room_ingest(A.db, &ev, 1, &r, &err) == MXDB_OK && r.status == MXDB_EFORBIDDEN);
	/* Stored (events citing it still fit in the graph), but it changed
	 * nothing and is no head of the room. */
	bool has = false;
	CHECK(fed_room_has_event(A.db, id, &has, &err) == MXDB_OK && has);
	version(&A, "1", after);
	CHECK(strcmp(before, after) == 0);
	CHECK(fed_room_make_membership(A.db, room, "@eve:b.test", "join", &tmpl, &rv_id, &err) == MXDB_OK);
	size_t k;
	json_t *p;
	json_array_foreach(json_object_get(tmpl, "prev_events"), k, p)
		CHECK(strcmp(json_string_value(p), id) != 0);
	json_decref(tmpl);
	/* Bob's next event cites the rejected one as its prev: accepted. */
	char pl[EV_ID_SIZE], member[EV_ID_SIZE], create[EV_ID_SIZE];
	state_id(&A, "m.room.power_levels", "", pl);
	state_id(&A, "m.room.member", "@bob:b.test", member);
	state_id(&A, "m.room.create", "", create);
	json_t *auth = json_pack("[s, s]", pl, member);
	if (!rv->room_id_from_create)
		json_array_append_new(auth, json_string(create));
	json_t *child = json_pack("{s:o, s:[s], s:i, s:{s:i}, s:I, s:s, s:s, s:s, s:s}", "auth_events", auth,
	                          "prev_events", id, "depth", 100, "content", "v", 7, "origin_server_ts",
	                          (json_int_t)fed_now_ms(), "room_id", room, "sender", "@bob:b.test", "type",
	                          "com.example.todo", "state_key", "after-rejected");
	CHECK(ev_hash_and_sign(child, rv, &B.key, "b.test", &err) == MXDB_OK);
	ev = receive(child, NULL);
	CHECK(fed_room_ingest(A.db, &ev, 1, &r, &err) == MXDB_OK);
	CHECK_MSG(r.status == MXDB_OK, "%s", r.why);
	version(&A, "after-rejected", after);
	CHECK(after[0] != '\0');
	version(&A, "1", after);
	CHECK(strcmp(before, after) == 0);
	json_decref(child);
	/* No client read shows the rejected event; its child is shown. */
	version(&A, "after-rejected", after);
	char *shown = NULL;
	CHECK(mxdb_event_get(A.db, id, &shown, &err) == MXDB_ENOTFOUND && shown == NULL);
	CHECK(mxdb_event_get(A.db, after, &shown, &err) == MXDB_OK);
	mxdb_free(shown);
	mxdb_events evs = {0};
	bool seen_rejected = false, seen_child = false;
	for (int back = 0; back < 2; back++) {
		CHECK(mxdb_room_events(A.db, room, 0, back, 1000, &evs, &err) == MXDB_OK);
		for (size_t i = 0; i < evs.n; i++) {
			seen_rejected |= strcmp(evs.ev[i].event_id, id) == 0;
			seen_child |= strcmp(evs.ev[i].event_id, after) == 0;
		}
		mxdb_events_free(&evs);
	}
	CHECK(mxdb_events_since(A.db, 0, NULL, 0, "@alice:a.test", 1000, &evs, &err) == MXDB_OK);
	for (size_t i = 0; i < evs.n; i++) {
		seen_rejected |= strcmp(evs.ev[i].event_id, id) == 0;
		seen_child |= strcmp(evs.ev[i].event_id, after) == 0;
	}
	mxdb_events_free(&evs);
	CHECK(!seen_rejected && seen_child);

	/* Forged: signed by B but claiming to be from alice of a.test. */
	json_object_set_new(pdu, "sender", json_string("@alice:a.test"));
	json_object_del(pdu, "signatures");
	json_object_del(pdu, "hashes");
	CHECK(ev_hash_and_sign(pdu, rv, &B.key, "b.test", &err) == MXDB_OK);
	CHECK(receive(pdu, NULL) == NULL);
	json_decref(pdu);

	/* Replayed: an event A already has changes nothing. */
	causes c0 = changes_of(&A);
	char *text = NULL;
	version(&A, "2", before);
	CHECK(mxdb_event_pdu(A.db, before, &text, &err) == MXDB_OK);
	pdu = text ? json_loads(text, 0, NULL) : NULL;
	mxdb_free(text);
	ev = pdu ? receive(pdu, NULL) : NULL;
	CHECK(ev != NULL);
	CHECK(fed_room_ingest(A.db, &ev, 1, &r, &err) == MXDB_OK && r.status == MXDB_OK);
	causes c1 = changes_of(&A);
	CHECK(memcmp(c0.n, c1.n, sizeof(c0.n)) == 0);
	json_decref(pdu);

	/* An unknown prev event: refused, nothing stored. */
	put(&B, "@bob:b.test", "lost", "{\"v\":5}");
	put(&B, "@bob:b.test", "child", "{\"v\":6}");
	fed_txn t;
	CHECK(fed_queue_take(B.q, "a.test", &t, &err) == MXDB_OK);
	CHECK(json_array_size(t.pdus) == 2);
	ev = receive(json_array_get(t.pdus, 1), NULL);
	CHECK(fed_room_ingest(A.db, &ev, 1, &r, &err) == MXDB_OK && r.status == MXDB_ENOTFOUND);
	version(&A, "child", after);
	CHECK(after[0] == '\0');
	fed_txn_free(&t);
	CHECK(deliver(&B, &A) == 0); /* in order, both pass */
	version(&A, "child", after);
	CHECK(after[0] != '\0');
}

/* The event ID of a state event on a node (new string in out). */
static void state_id(node *n, const char *type, const char *key, char out[EV_ID_SIZE])
{
	char *text = NULL;
	out[0] = '\0';
	if (mxdb_state_event(n->db, room, type, key, &text, NULL) == MXDB_OK) {
		json_t *j = json_loads(text, 0, NULL);
		snprintf(out, EV_ID_SIZE, "%s", json_string_value(json_object_get(j, "event_id")) ?: "");
		json_decref(j);
	}
	mxdb_free(text);
}

/* Ten concurrent branches from B at once: A ends them with a merge event
 * (a local org.matrix.dummy_event queued for B) and keeps at most 8 heads. */
static void test_extremities(void)
{
	mxdb_error err;
	json_t *tmpl = NULL;
	const char *rv_id;
	CHECK(fed_room_make_membership(A.db, room, "@bob:b.test", "join", &tmpl, &rv_id, &err) == MXDB_OK);
	char pl[EV_ID_SIZE], member[EV_ID_SIZE], create[EV_ID_SIZE];
	state_id(&A, "m.room.power_levels", "", pl);
	state_id(&A, "m.room.member", "@bob:b.test", member);
	state_id(&A, "m.room.create", "", create);
	ev_t *evs[10];
	fed_result res[10];
	for (int i = 0; i < 10; i++) {
		char key[16], content[32];
		snprintf(key, sizeof(key), "branch%d", i);
		snprintf(content, sizeof(content), "{\"i\":%d}", i);
		json_t *auth = json_pack("[s, s]", pl, member);
		if (!rv->room_id_from_create)
			json_array_append_new(auth, json_string(create));
		json_t *pdu = json_pack("{s:o, s:O, s:O, s:o, s:I, s:s, s:s, s:s, s:s}", "auth_events", auth,
		                        "prev_events", json_object_get(tmpl, "prev_events"), "depth",
		                        json_object_get(tmpl, "depth"), "content", json_loads(content, 0, NULL),
		                        "origin_server_ts", (json_int_t)fed_now_ms(), "room_id", room, "sender",
		                        "@bob:b.test", "type", "com.example.todo", "state_key", key);
		CHECK(ev_hash_and_sign(pdu, rv, &B.key, "b.test", &err) == MXDB_OK);
		evs[i] = receive(pdu, NULL);
		CHECK(evs[i] != NULL);
		json_decref(pdu);
	}
	json_decref(tmpl);
	CHECK(fed_room_ingest(A.db, evs, 10, res, &err) == MXDB_OK);
	for (int i = 0; i < 10; i++)
		CHECK_MSG(res[i].status == MXDB_OK, "branch %d: %s", i, res[i].why);
	char v[256];
	version(&A, "branch9", v);
	CHECK(v[0] != '\0');
	CHECK(fed_room_make_membership(A.db, room, "@bob:b.test", "join", &tmpl, &rv_id, &err) == MXDB_OK);
	CHECK_MSG(json_array_size(json_object_get(tmpl, "prev_events")) <= 8, "%zu heads",
	          json_array_size(json_object_get(tmpl, "prev_events")));
	json_decref(tmpl);
	/* The merge event went into B's queue. */
	fed_txn t;
	int dummies = 0;
	if (fed_queue_take(A.q, "b.test", &t, &err) == MXDB_OK) {
		json_t *p;
		size_t i;
		json_array_foreach(t.pdus, i, p) {
			if (strcmp(json_string_value(json_object_get(p, "type")) ?: "", "org.matrix.dummy_event") == 0 &&
			    json_array_size(json_object_get(p, "prev_events")) > 8)
				dummies++;
		}
		fed_txn_free(&t);
	}
	CHECK(dummies == 1);
}

/* The IDs in node's timeline of the room (mxdb_room_events, newest first),
 * joined by ' ' into out. */
static size_t timeline(node *n, char *out, size_t cap)
{
	mxdb_events evs;
	mxdb_error err;
	size_t count = 0;
	out[0] = '\0';
	CHECK(mxdb_room_events(n->db, room, 0, 1, 1000, &evs, &err) == MXDB_OK);
	for (size_t i = 0; i < evs.n; i++, count++)
		snprintf(out + strlen(out), cap - strlen(out), "%s ", evs.ev[i].event_id);
	mxdb_events_free(&evs);
	return count;
}

/* A gap: B gets A's newest event e4 only, with the state after its prev
 * e3 (fed_room_ingest_gap; e3 itself is added to it): e2 and e3 become
 * outliers, e1 (an older g) stays missing. B's rows equal A's at once, its timeline leaves the outliers and
 * the gap out; when e1..e3 arrive after all, e1 is placed late, e2 and e3
 * join the timeline, no row changes, and e4 is B's only forward extremity. */
static void test_gap(void)
{
	mxdb_error err;
	CHECK(deliver(&A, &B) == 0);
	put(&A, "@alice:a.test", "g", "{\"v\":1}");
	put(&A, "@alice:a.test", "h", "{\"v\":2}");
	put(&A, "@alice:a.test", "g", "{\"v\":3}");
	put(&A, "@alice:a.test", "k", "{\"v\":4}");
	fed_txn t;
	CHECK(fed_queue_take(A.q, "b.test", &t, &err) == MXDB_OK && json_array_size(t.pdus) == 4);
	ev_t *e[4];
	for (size_t i = 0; i < 4; i++)
		CHECK((e[i] = receive(json_array_get(t.pdus, i), NULL)) != NULL);
	if (json_array_size(t.pdus) != 4 || !e[0] || !e[1] || !e[2] || !e[3])
		return;
	char ids[4][EV_ID_SIZE], line[4096];
	for (size_t i = 0; i < 4; i++)
		snprintf(ids[i], EV_ID_SIZE, "%s", e[i]->event_id);
	ev_free(e[0]); /* it comes again below */
	json_t *state = NULL, *chain = NULL;
	CHECK(fed_room_state(A.db, room, ids[2], true, &state, &chain, &err) == MXDB_OK);
	/* The state after e3 (a server answering that): e3 replaces e1. */
	for (size_t i = json_array_size(state); i-- > 0;)
		if (strcmp(json_string_value(json_array_get(state, i)), ids[0]) == 0)
			json_array_remove(state, i);
	fed_gap_fill fill = {.outliers = (ev_t *[]){e[1], e[2]}, .n_outliers = 2,
	                     .states = json_pack("{s:O}", ids[2], state)};
	fed_result res[4];
	size_t before = timeline(&B, line, sizeof(line));
	CHECK(fed_room_ingest_gap(B.db, &e[3], 1, &fill, res, &err) == MXDB_OK);
	CHECK_MSG(res[0].status == MXDB_OK, "%s", res[0].why);
	CHECK(fill.n_dropped == 0);
	const char *keys_[] = {"g", "h", "k"};
	size_t want[] = {2, 1, 3};
	char va[256], vb[256];
	for (size_t i = 0; i < 3; i++) {
		version(&A, keys_[i], va);
		version(&B, keys_[i], vb);
		CHECK_MSG(strcmp(va, ids[want[i]]) == 0 && strcmp(vb, va) == 0, "row %s", keys_[i]);
	}
	CHECK(timeline(&B, line, sizeof(line)) == before + 1 && strstr(line, ids[3]) == line);
	for (size_t i = 0; i < 3; i++)
		CHECK(strstr(line, ids[i]) == NULL);
	/* The rest arrives: e1 late, e2 and e3 out of the outliers. */
	ev_t *rest[3];
	for (size_t i = 0; i < 3; i++)
		rest[i] = receive(json_array_get(t.pdus, i), NULL);
	CHECK(fed_room_ingest(B.db, rest, 3, res, &err) == MXDB_OK);
	for (size_t i = 0; i < 3; i++)
		CHECK_MSG(res[i].status == MXDB_OK, "%zu: %s", i, res[i].why);
	CHECK(timeline(&B, line, sizeof(line)) == before + 4);
	for (size_t i = 0; i < 4; i++)
		CHECK(strstr(line, ids[i]) != NULL);
	for (size_t i = 0; i < 3; i++) {
		version(&B, keys_[i], vb);
		CHECK_MSG(strcmp(vb, ids[want[i]]) == 0, "row %s after", keys_[i]);
	}
	json_t *tmpl = NULL;
	const char *rv_id;
	CHECK(fed_room_make_membership(B.db, room, "@bob:b.test", "leave", &tmpl, &rv_id, &err) == MXDB_OK);
	json_t *heads = json_object_get(tmpl, "prev_events");
	CHECK_MSG(json_array_size(heads) == 1 && strcmp(json_string_value(json_array_get(heads, 0)), ids[3]) == 0,
	          "%zu heads", json_array_size(heads));
	json_decref(tmpl);
	CHECK(fed_queue_ack(A.q, &t, &err) == MXDB_OK);
	fed_txn_free(&t);
	json_decref(fill.states);
	json_decref(state);
	json_decref(chain);
}

/* The servers a local write goes to follow the memberships: bob leaving
 * takes b.test off A's list. */
static void test_servers(void)
{
	mxdb_error err;
	long long before = -1, after = -1;
	CHECK(fed_queue_length(A.q, "b.test", &before, &err) == MXDB_OK);
	put(&A, "@alice:a.test", "servers-1", "{}");
	CHECK(fed_queue_length(A.q, "b.test", &after, &err) == MXDB_OK && after == before + 1);
	CHECK(mxdb_membership(B.db, room, "@bob:b.test", NULL, MXDB_LEAVE, NULL, NULL, NULL, &err) == MXDB_OK);
	CHECK(deliver(&B, &A) == 0);
	char m[16] = "";
	CHECK(mxdb_member_of(A.db, room, "@bob:b.test", m, &err) == MXDB_OK && strcmp(m, "leave") == 0);
	CHECK(fed_queue_length(A.q, "b.test", &before, &err) == MXDB_OK);
	put(&A, "@alice:a.test", "servers-2", "{}");
	CHECK(fed_queue_length(A.q, "b.test", &after, &err) == MXDB_OK && after == before);
}

int main(void)
{
	char base[] = "/tmp/test_fed_room_XXXXXX";
	CHECK(mkdtemp(base) != NULL);
	node_open(&A, base);
	node_open(&B, base);
	if (A.db && B.db) {
		test_join();
		if (rv) {
			test_rows();
			test_fork();
			test_gap();
			test_bad();
			test_extremities();
			test_servers();
		}
	}
	node *nodes[] = {&A, &B};
	for (int i = 0; i < 2; i++) {
		sqlite3_close(nodes[i]->q);
		mxdb_close(nodes[i]->db);
	}
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	CHECK(system(cmd) == 0);
	return test_summary("test_fed_room");
}
