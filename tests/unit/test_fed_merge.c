/* test_fed_merge.c: forks healed on real databases give exactly what full
 * state resolution gives. Two nodes (a.test, b.test) share a table of
 * several hundred rows; in each round they are partitioned and write on
 * their own (rows on hot and bulk keys, deletions, power-level changes,
 * kicks and rejoins, join-rule changes), then the queues are delivered both
 * ways. After each heal, on both nodes:
 *  - the current state equals sr_resolve over the whole states at the
 *    room's extremities (read back from the state groups), and both nodes
 *    hold the same;
 *    (b sometimes writes on top of the merge before its branch goes out,
 *    so one batch holds fork events, then events citing both heads);
 *  - the change records since the round began, replayed over the state at
 *    its start, give the current state, each naming the version it
 *    replaced (so there is one `merge` record per row whose winner changed,
 *    none missing, none spurious).
 * Rooms v10, v11 and v12, several seeds. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fed_nodes.h"
#include "stateres.h"

#define BULK 300
#define ROUNDS 4
#define OPS 14

static fed_node A = {.name = "a.test"}, B = {.name = "b.test"};
static const mx_room_version *rv;
static char room[256];
static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ---- reading a node back ---- */

typedef struct evcache {
	fed_node *n;
	mx_map *by_id; /* event ID -> ev_t* (owned) */
} evcache;

static const ev_t *ec_get(void *ctx, const char *id)
{
	evcache *c = ctx;
	ev_t *ev = map_get(c->by_id, id, strlen(id));
	if (ev != NULL)
		return ev;
	char *text = NULL;
	if (mxdb_event_pdu(c->n->db, id, &text, NULL) != MXDB_OK)
		return NULL;
	json_t *pdu = json_loads(text, 0, NULL);
	mxdb_free(text);
	if (pdu == NULL || ev_from_json(pdu, id, rv, &ev, NULL) != MXDB_OK)
		ev = NULL;
	json_decref(pdu);
	if (ev != NULL)
		map_put(c->by_id, id, strlen(id), ev, NULL);
	return ev;
}

static void ev_free_v(void *v)
{
	ev_free(v);
}

/* The state after event id (NULL: the current state) as a state map. */
static mx_map *state_of(evcache *c, const char *id)
{
	json_t *ids = NULL;
	mxdb_error err;
	mx_map *m = map_new(64);
	if (id != NULL) {
		char *text = NULL;
		CHECK_MSG(mxdb_state_ids_at(c->n->db, id, 1, &text, &err) == MXDB_OK, "%s", err.message);
		ids = text ? json_loads(text, 0, NULL) : NULL;
		mxdb_free(text);
	} else {
		CHECK_MSG(fed_room_state(c->n->db, room, NULL, true, &ids, NULL, &err) == MXDB_OK, "%s",
		          err.message);
	}
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		const ev_t *ev = ec_get(c, json_string_value(v));
		CHECK(ev != NULL && ev->state_key != NULL);
		if (ev == NULL || ev->state_key == NULL)
			continue;
		char key[600];
		size_t kl = map_state_key(key, sizeof(key), ev->type, ev->state_key);
		map_put(m, key, kl, strdup(ev->event_id), NULL);
	}
	json_decref(ids);
	return m;
}

static bool same_state(const mx_map *a, const mx_map *b, const char *what)
{
	bool same = map_count(a) == map_count(b);
	size_t it = 0, kl;
	const char *k;
	void *v;
	while (map_next(a, &it, &k, &kl, &v)) {
		const char *w = map_get(b, k, kl);
		if (w == NULL || strcmp(w, v) != 0) {
			fprintf(stderr, "%s: key %s: %s vs %s\n", what, k, (const char *)v, w ? w : "(none)");
			same = false;
		}
	}
	return same;
}

/* The room's extremities on a node (a JSON array). */
static json_t *heads(fed_node *n)
{
	json_t *tmpl = NULL;
	const char *rv_id;
	mxdb_error err;
	CHECK(fed_room_make_membership(n->db, room, "@probe:c.test", "join", &tmpl, &rv_id, &err) == MXDB_OK);
	json_t *h = json_incref(json_object_get(tmpl, "prev_events"));
	json_decref(tmpl);
	return h;
}

/* The current state equals the full resolution of the extremities' states. */
static mx_map *check_resolution(fed_node *n, evcache *c)
{
	json_t *h = heads(n);
	size_t nh = json_array_size(h);
	mx_map **sets = calloc(nh + 1, sizeof(*sets));
	for (size_t i = 0; i < nh; i++)
		sets[i] = state_of(c, json_string_value(json_array_get(h, i)));
	sr_lookup lk = {ec_get, c};
	mx_map *want = NULL, *cur = state_of(c, NULL);
	mxdb_error err;
	CHECK_MSG(sr_resolve(rv, sets, nh, &lk, &want, &err) == MXDB_OK, "%s", err.message);
	bool same = want != NULL;
	same = same && same_state(want, cur, n->name) & same_state(cur, want, n->name);
	CHECK_MSG(same,
	          "%s: current state (%zu rows) is not the resolution of its %zu heads", n->name,
	          map_count(cur), nh);
	for (size_t i = 0; i < nh; i++)
		map_free(sets[i], free);
	free(sets);
	if (want)
		map_free(want, free);
	json_decref(h);
	return cur;
}

/* ---- the change records replayed ---- */

typedef struct replay {
	mx_map *state;
	int bad, merges;
} replay;

static int replay_one(void *ctx, const mxdb_change *c)
{
	replay *r = ctx;
	char key[600];
	size_t kl = map_state_key(key, sizeof(key), c->type, c->key);
	const char *was = map_get(r->state, key, kl);
	if ((was == NULL) != (c->prev == NULL) || (was && strcmp(was, c->prev) != 0) ||
	    (c->cause == MXDB_CAUSE_MERGE && c->prev && strcmp(c->prev, c->event) == 0 && c->content)) {
		fprintf(stderr, "record %llu for %s/%s: prev %s, state had %s\n", (unsigned long long)c->seq,
		        c->type, c->key, c->prev ? c->prev : "null", was ? was : "none");
		r->bad++;
	}
	r->merges += c->cause == MXDB_CAUSE_MERGE;
	void *old = NULL;
	/* A merge left the row without a version: event = prev, content null. */
	if (c->cause == MXDB_CAUSE_MERGE && c->prev && strcmp(c->prev, c->event) == 0 && !c->content)
		old = map_del(r->state, key, kl);
	else
		map_put(r->state, key, kl, strdup(c->event), &old);
	free(old);
	return 0;
}

/* ---- writes during a partition ---- */

static const char *const a_users[] = {"@alice:a.test", "@carol:a.test"};

static void pl(fed_node *n, const char *sender)
{
	char content[400];
	snprintf(content, sizeof(content),
	         "{\"users\":{\"@alice:a.test\":100,\"@bob:b.test\":%d,\"@carol:a.test\":%d},"
	         "\"state_default\":%d,\"kick\":50,\"ban\":50,\"events_default\":0,\"invite\":0}",
	         n == &A ? (rnd() % 3 ? 90 : 40) : 90, (int)(rnd() % 3) * 25,
	         rnd() % 4 ? 0 : 50);
	mxdb_put(n->db, room, sender, "m.room.power_levels", "", content, NULL, NULL, NULL);
}

static void partition_writes(fed_node *n, int round)
{
	for (int i = 0; i < OPS; i++) {
		const char *who = n == &A ? a_users[rnd() % 2] : "@bob:b.test";
		char key[32], content[64];
		unsigned op = rnd() % 20;
		if (op < 5)
			snprintf(key, sizeof(key), "hot%d", (int)(rnd() % 6));
		else
			snprintf(key, sizeof(key), "b%d", (int)(rnd() % BULK));
		snprintf(content, sizeof(content), "{\"v\":%d,\"by\":\"%s\"}", round * 100 + i, n->name);
		if (op < 12)
			mxdb_put(n->db, room, who, "com.example.row", key, content, NULL, NULL, NULL);
		else if (op < 14)
			mxdb_delete(n->db, room, who, "com.example.row", key, NULL, NULL, NULL);
		else if (op < 16)
			pl(n, n == &A ? "@alice:a.test" : "@bob:b.test");
		else if (op < 18 && n == &A && rnd() % 2)
			mxdb_put(n->db, room, "@carol:a.test", "m.room.member", "@carol:a.test",
			         "{\"membership\":\"join\"}", NULL, NULL, NULL);
		else if (op < 18)
			mxdb_put(n->db, room, n == &A ? "@alice:a.test" : "@bob:b.test", "m.room.member",
			         "@carol:a.test", "{\"membership\":\"leave\"}", NULL, NULL, NULL);
		else
			mxdb_put(n->db, room, n == &A ? "@alice:a.test" : "@bob:b.test", "m.room.join_rules",
			         "", rnd() % 3 ? "{\"join_rule\":\"public\"}" : "{\"join_rule\":\"invite\"}",
			         NULL, NULL, NULL);
	}
}

static void run(const char *version, uint64_t seed, const char *base)
{
	mxdb_error err;
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/v%s-%llu", base, version, (unsigned long long)seed);
	CHECK(mkdir(dir, 0700) == 0);
	fed_node_open(&A, dir, 0);
	fed_node_open(&B, dir, 1);
	rng = seed;
	char *rid = NULL;
	mxdb_table_options to = {.creator = "@alice:a.test", .room_version = version,
	                         .preset = MXDB_PRESET_PUBLIC_CHAT, .has_state_default = 1,
	                         .state_default = 0};
	CHECK_MSG(mxdb_create_table(A.db, &to, &rid, &err) == MXDB_OK, "%s", err.message);
	snprintf(room, sizeof(room), "%s", rid ? rid : "");
	mxdb_free(rid);
	CHECK(mxdb_put(A.db, room, "@carol:a.test", "m.room.member", "@carol:a.test",
	               "{\"membership\":\"join\"}", NULL, NULL, &err) == MXDB_OK);
	for (int i = 0; i < BULK; i++) {
		char key[16], content[32];
		snprintf(key, sizeof(key), "b%d", i);
		snprintf(content, sizeof(content), "{\"v\":%d}", i);
		CHECK(mxdb_put(A.db, room, a_users[i % 2], "com.example.row", key, content, NULL, NULL,
		               &err) == MXDB_OK);
	}
	rv = fed_join(&A, &B, room, "@bob:b.test");
	CHECK(rv != NULL);
	CHECK(fed_deliver(rv, &A, &B) == 0);
	pl(&A, "@alice:a.test");
	CHECK(fed_deliver(rv, &A, &B) == 0);
	evcache ca = {&A, map_new(256)}, cb = {&B, map_new(256)};
	for (int round = 0; rv != NULL && round < ROUNDS; round++) {
		uint64_t sa = mxdb_last_seq(A.db), sb = mxdb_last_seq(B.db);
		replay ra = {state_of(&ca, NULL), 0, 0}, rb = {state_of(&cb, NULL), 0, 0};
		partition_writes(&A, round);
		partition_writes(&B, round);
		CHECK(fed_deliver(rv, &A, &B) == 0);
		/* Sometimes b writes on top of the merge before its branch goes
		 * out: a's batch then holds fork events, then events citing both
		 * heads (the fast path, after the batch's pending merge). */
		for (int i = (int)(rnd() % 3); i > 0; i--)
			mxdb_put(B.db, room, "@bob:b.test", "com.example.row", "after", "{\"v\":1}", NULL, NULL, NULL);
		CHECK(fed_deliver(rv, &B, &A) == 0);
		mx_map *cur_a = check_resolution(&A, &ca), *cur_b = check_resolution(&B, &cb);
		CHECK_MSG(same_state(cur_a, cur_b, "a vs b"), "v%s seed %llu round %d: nodes differ", version,
		          (unsigned long long)seed, round);
		CHECK(mxdb_changes_since(A.db, sa, room, 0, replay_one, &ra, &err) == MXDB_OK);
		CHECK(mxdb_changes_since(B.db, sb, room, 0, replay_one, &rb, &err) == MXDB_OK);
		CHECK_MSG(ra.bad == 0 && rb.bad == 0, "v%s seed %llu round %d: %d/%d bad records", version,
		          (unsigned long long)seed, round, ra.bad, rb.bad);
		CHECK_MSG(same_state(ra.state, cur_a, "replay a") && same_state(rb.state, cur_b, "replay b"),
		          "v%s seed %llu round %d: records do not give the state", version,
		          (unsigned long long)seed, round);
		map_free(ra.state, free);
		map_free(rb.state, free);
		map_free(cur_a, free);
		map_free(cur_b, free);
		/* Sometimes a write citing both heads ends the fork before the next. */
		if (rnd() % 2) {
			mxdb_put(A.db, room, "@alice:a.test", "com.example.row", "sync", "{}", NULL, NULL, NULL);
			CHECK(fed_deliver(rv, &A, &B) == 0);
		}
	}
	map_free(ca.by_id, ev_free_v);
	map_free(cb.by_id, ev_free_v);
	fed_node_close(&A);
	fed_node_close(&B);
}

int main(void)
{
	char base[] = "/tmp/test_fed_merge_XXXXXX";
	CHECK(mkdtemp(base) != NULL);
	static const char *const versions[] = {"10", "11", "12"};
	for (size_t v = 0; v < 3; v++)
		for (uint64_t seed = 1; seed <= 3; seed++)
			run(versions[v], seed * 0x9E3779B97F4A7C15ULL, base);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	CHECK(system(cmd) == 0);
	return test_summary("test_fed_merge");
}
