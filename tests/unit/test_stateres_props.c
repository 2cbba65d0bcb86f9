/* test_stateres_props.c: state resolution on generated rooms (v10, v11,
 * v12). A room grows on several branches (forks, rows, topics, power-level
 * changes, kicks, bans, joins, join-rule changes, merges that resolve two
 * branches), each event with the auth events the selection rules pick from
 * its branch's state. Then, for the branches' final states:
 *  - the result does not depend on the order of the state sets, nor on the
 *    order in which the state maps and the event index were filled;
 *  - resolving a state with itself (once or twice) gives it back;
 *  - the indexed full conflicted set (common-chain pruning, per-set walks,
 *    pruned conflicted subgraph) equals a naive one computed from whole
 *    auth chains, exactly as the spec defines it;
 *  - resolving only a key set K holding every key where the sets differ
 *    (plus random equal ones), with the rest summarised (sr_resolve_part:
 *    its events' auth events and a lookup), gives exactly the full result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "stateres_internal.h"
#include "testutil.h"

#define USERS 6
#define MAX_BRANCHES 4
#define MAX_EVENTS 700
#define BULK_ROWS 250 /* rows written before the forks: the part that mostly stays common */

typedef struct room {
	const mx_room_version *rv;
	char room_id[32];
	ev_t *ev[MAX_EVENTS];
	size_t n;
	mx_map *by_id;
	mx_map *branch[MAX_BRANCHES]; /* key -> char * event ID (owned) */
	size_t n_branches;
	char last[MAX_BRANCHES][32]; /* each branch's newest event: the next one's prev_events */
	uint64_t rng;
	int64_t ts;
} room;

static const char *const users[USERS] = {
	"@alice:a.example", "@bob:b.example", "@carol:a.example",
	"@dan:c.example",   "@erin:b.example", "@fay:c.example",
};

static uint64_t rnd(room *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

static const ev_t *room_get(void *ctx, const char *id)
{
	return map_get(((room *)ctx)->by_id, id, strlen(id));
}

static const ev_t *state_ev(room *r, mx_map *st, const char *type, const char *sk)
{
	char key[600];
	size_t kl = map_state_key(key, sizeof(key), type, sk);
	const char *id = map_get(st, key, kl);
	return id ? room_get(r, id) : NULL;
}

typedef struct branch_state {
	room *r;
	mx_map *st;
} branch_state;

static const ev_t *bs_get(void *ctx, const char *type, const char *sk)
{
	branch_state *b = ctx;
	const ev_t *ev = state_ev(b->r, b->st, type, sk);
	if (ev == NULL && strcmp(type, "m.room.create") == 0)
		ev = room_get(b->r, "$e0"); /* v12: named by the room ID */
	return ev;
}

static void set_state(mx_map *st, const ev_t *ev)
{
	char key[600];
	size_t kl = map_state_key(key, sizeof(key), ev->type, ev->state_key);
	void *old = NULL;
	map_put(st, key, kl, strdup(ev->event_id), &old);
	free(old);
}

/* Builds an event on branch b with the auth events its state selects; keeps
 * it (and applies it) only if the auth rules allow it there. */
static void emit(room *r, size_t b, const char *type, const char *sk, const char *sender,
                 json_t *content)
{
	if (r->n == MAX_EVENTS) {
		json_decref(content);
		return;
	}
	mx_map *st = r->branch[b];
	auth_key keys[AUTH_MAX_KEYS];
	size_t nk = auth_types_for_event(r->rv, type, sk, sender, content, keys, AUTH_MAX_KEYS);
	json_t *auth = json_array();
	for (size_t i = 0; i < nk; i++) {
		const ev_t *a = state_ev(r, st, keys[i].type, keys[i].state_key);
		if (a != NULL)
			json_array_append_new(auth, json_string(a->event_id));
	}
	char id[32];
	snprintf(id, sizeof(id), "$e%zu", r->n);
	bool create = strcmp(type, "m.room.create") == 0;
	json_t *pdu = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:[], s:o}", "type", type,
	                        "state_key", sk, "sender", sender, "content", content,
	                        "origin_server_ts", (json_int_t)(r->ts += 1 + rnd(r) % 3), "depth",
	                        (json_int_t)1, "prev_events", "auth_events", auth);
	if (!create)
		json_array_append_new(json_object_get(pdu, "prev_events"), json_string(r->last[b]));
	if (!create || !r->rv->room_id_from_create)
		json_object_set_new(pdu, "room_id", json_string(r->room_id));
	ev_t *ev = NULL;
	mxdb_error err;
	CHECK_MSG(ev_from_json(pdu, id, r->rv, &ev, &err) == MXDB_OK, "%s", err.message);
	json_decref(pdu);
	if (ev == NULL)
		return;
	map_put(r->by_id, ev->event_id, strlen(ev->event_id), ev, NULL);
	branch_state bs = {r, st};
	auth_state as = {.get = bs_get, .ctx = &bs};
	if (!create && auth_check(ev, &as, &err) != MXDB_OK) {
		map_del(r->by_id, ev->event_id, strlen(ev->event_id));
		ev_free(ev);
		return;
	}
	r->ev[r->n++] = ev;
	set_state(st, ev);
	snprintf(r->last[b], sizeof(r->last[b]), "%s", ev->event_id);
}

static mx_map *copy_state(const mx_map *st)
{
	mx_map *m = map_new(map_count(st));
	size_t it = 0, kl;
	const char *k;
	void *v;
	while (map_next(st, &it, &k, &kl, &v))
		map_put(m, k, kl, strdup(v), NULL);
	return m;
}

/* The same map filled in another order (reversed iteration). */
static mx_map *reordered(const mx_map *st)
{
	size_t n = map_count(st), i = 0, it = 0, kl;
	const char **ks = calloc(n + 1, sizeof(*ks));
	size_t *kls = calloc(n + 1, sizeof(*kls));
	void **vs = calloc(n + 1, sizeof(*vs));
	const char *k;
	void *v;
	while (map_next(st, &it, &k, &kl, &v)) {
		ks[i] = k;
		kls[i] = kl;
		vs[i++] = v;
	}
	mx_map *m = map_new(1);
	while (i-- > 0)
		map_put(m, ks[i], kls[i], strdup(vs[i]), NULL);
	free(ks);
	free(kls);
	free(vs);
	return m;
}

static bool same_state(const mx_map *a, const mx_map *b)
{
	if (map_count(a) != map_count(b))
		return false;
	size_t it = 0, kl;
	const char *k;
	void *v;
	while (map_next(a, &it, &k, &kl, &v)) {
		const char *w = map_get(b, k, kl);
		if (w == NULL || strcmp(w, v) != 0)
			return false;
	}
	return true;
}

static mx_map *resolve(room *r, mx_map **sets, size_t n)
{
	sr_lookup lk = {room_get, r};
	mx_map *out = NULL;
	mxdb_error err;
	mxdb_status st = sr_resolve(r->rv, sets, n, &lk, &out, &err);
	CHECK_MSG(st == MXDB_OK, "sr_resolve: %s", err.message);
	return out;
}

static json_t *pl_content(room *r)
{
	json_t *u = json_object();
	for (int i = r->rv->creators_infinite_power ? 1 : 0; i < USERS; i++)
		if (i < 2 || rnd(r) % 2)
			json_object_set_new(u, users[i], json_integer(i == 0 ? 100 : (int)(rnd(r) % 4) * 25));
	return json_pack("{s:o, s:{s:i}, s:i, s:i, s:i}", "users", u, "events", "com.example.row",
	                 0, "state_default", 50, "ban", 50, "kick", 50);
}

static void grow(room *r, int steps)
{
	r->branch[0] = map_new(16);
	r->n_branches = 1;
	emit(r, 0, "m.room.create", "", users[0],
	     r->rv->create_has_creator_key ? json_pack("{s:s}", "creator", users[0])
	                                   : json_pack("{s:s}", "room_version", r->rv->id));
	if (r->rv->room_id_from_create)
		snprintf(r->room_id, sizeof(r->room_id), "!e0");
	emit(r, 0, "m.room.member", users[0], users[0], json_pack("{s:s}", "membership", "join"));
	emit(r, 0, "m.room.power_levels", "", users[0], pl_content(r));
	emit(r, 0, "m.room.join_rules", "", users[0], json_pack("{s:s}", "join_rule", "public"));
	for (int u = 1; u < USERS; u++)
		emit(r, 0, "m.room.member", users[u], users[u], json_pack("{s:s}", "membership", "join"));
	for (int i = 0; i < BULK_ROWS; i++) {
		char sk[16];
		snprintf(sk, sizeof(sk), "b%d", i);
		emit(r, 0, "com.example.row", sk, users[rnd(r) % USERS], json_pack("{s:i}", "v", i));
	}
	for (int s = 0; s < steps; s++) {
		size_t b = rnd(r) % r->n_branches;
		const char *who = users[rnd(r) % USERS], *whom = users[rnd(r) % USERS];
		char sk[16];
		switch (rnd(r) % 10) {
		case 0:
			if (r->n_branches < MAX_BRANCHES) {
				memcpy(r->last[r->n_branches], r->last[b], sizeof(r->last[b]));
				r->branch[r->n_branches++] = copy_state(r->branch[b]);
			}
			break;
		case 1:
		case 2: /* a few hot rows (conflicts) or one of the bulk (mostly not) */
			if (rnd(r) % 2)
				snprintf(sk, sizeof(sk), "r%d", (int)(rnd(r) % 8));
			else
				snprintf(sk, sizeof(sk), "b%d", (int)(rnd(r) % BULK_ROWS));
			emit(r, b, "com.example.row", sk, who, json_pack("{s:i}", "v", (int)s));
			break;
		case 3:
			emit(r, b, "m.room.topic", "", who, json_pack("{s:i}", "topic", (int)s));
			break;
		case 4:
			emit(r, b, "m.room.power_levels", "", users[rnd(r) % 2], pl_content(r));
			break;
		case 5:
			emit(r, b, "m.room.member", whom, who,
			     json_pack("{s:s}", "membership", rnd(r) % 3 ? "leave" : "ban"));
			break;
		case 6:
			emit(r, b, "m.room.member", who, who, json_pack("{s:s}", "membership", "join"));
			break;
		case 7:
			emit(r, b, "m.room.join_rules", "", users[0],
			     json_pack("{s:s}", "join_rule", rnd(r) % 2 ? "invite" : "public"));
			break;
		default:
			if (r->n_branches > 1) { /* merge two branches: the state after a resolution */
				size_t o = (b + 1 + rnd(r) % (r->n_branches - 1)) % r->n_branches;
				mx_map *two[2] = {r->branch[b], r->branch[o]};
				mx_map *m = resolve(r, two, 2);
				if (m != NULL) {
					map_free(r->branch[b], free);
					r->branch[b] = m;
				}
			}
			break;
		}
	}
}

/* ---- the naive full conflicted set, from whole auth chains ---------------- */

static void chain_of(room *r, const char *id, mx_map *into)
{
	const ev_t *ev = room_get(r, id);
	for (size_t i = 0; ev != NULL && i < ev->n_auth; i++) {
		const char *a = ev->auth_events[i];
		if (map_has(into, a, strlen(a)))
			continue;
		map_put(into, a, strlen(a), (void *)1, NULL);
		chain_of(r, a, into);
	}
}

static mx_map *naive_full_set(room *r, mx_map **sets, size_t n, const mx_map *conf)
{
	mx_map *full = map_new(64), **chains = calloc(n, sizeof(*chains));
	for (size_t s = 0; s < n; s++) {
		chains[s] = map_new(64);
		size_t it = 0;
		void *v;
		while (map_next(sets[s], &it, NULL, NULL, &v))
			chain_of(r, v, chains[s]);
	}
	for (size_t s = 0; s < n; s++) {
		size_t it = 0, kl;
		const char *k;
		while (map_next(chains[s], &it, &k, &kl, NULL)) {
			bool all = true;
			for (size_t t = 0; t < n && all; t++)
				all = map_has(chains[t], k, kl);
			if (!all)
				map_put(full, k, kl, (void *)1, NULL);
		}
	}
	mx_map *conflicted = map_new(16);
	size_t it = 0;
	void *v;
	while (map_next(conf, &it, NULL, NULL, &v)) {
		const sr_idset *ids = v;
		for (size_t i = 0; i < ids->n; i++) {
			map_put(conflicted, ids->ids[i], strlen(ids->ids[i]), (void *)1, NULL);
			map_put(full, ids->ids[i], strlen(ids->ids[i]), (void *)1, NULL);
		}
	}
	if (r->rv->stateres == MX_STATERES_V2_1) {
		/* Reached from a conflicted event, and reaching one. */
		mx_map *from_c = map_new(64);
		it = 0;
		const char *k;
		size_t kl;
		while (map_next(conflicted, &it, &k, &kl, NULL))
			chain_of(r, k, from_c);
		it = 0;
		while (map_next(from_c, &it, &k, &kl, NULL)) {
			mx_map *ch = map_new(16);
			chain_of(r, k, ch);
			size_t it2 = 0, kl2;
			const char *k2;
			bool reaches = false;
			while (!reaches && map_next(conflicted, &it2, &k2, &kl2, NULL))
				reaches = map_has(ch, k2, kl2);
			if (reaches)
				map_put(full, k, kl, (void *)1, NULL);
			map_free(ch, NULL);
		}
		map_free(from_c, NULL);
	}
	for (size_t s = 0; s < n; s++)
		map_free(chains[s], NULL);
	free(chains);
	map_free(conflicted, NULL);
	return full;
}

/* The resolver's way, with the index. */
static mx_map *indexed_full_set(room *r, mx_map **sets, size_t n, const mx_map *conf)
{
	sr_lookup lk = {room_get, r};
	sr_ctx c;
	mxdb_error err;
	sr_ctx_init(&c, r->rv, &lk, 64, &err);
	sr_list list = {0};
	CHECK(sr_full_conflicted_set(&c, sets, n, conf, NULL, &list) == MXDB_OK);
	mx_map *full = map_new(64);
	for (size_t i = 0; i < list.n; i++) {
		const char *id = c.nodes[list.v[i]].ev->event_id;
		map_put(full, id, strlen(id), (void *)1, NULL);
	}
	sr_list_free(&list);
	sr_ctx_free(&c);
	return full;
}

static bool same_keys(const mx_map *a, const mx_map *b)
{
	if (map_count(a) != map_count(b))
		return false;
	size_t it = 0, kl;
	const char *k;
	while (map_next(a, &it, &k, &kl, NULL))
		if (!map_has(b, k, kl))
			return false;
	return true;
}

/* ---- resolution over the differing part only ------------------------------ */

typedef struct common_part {
	const mx_map *k;   /* K: key -> (void *)1 */
	const mx_map *set; /* any set: equal to all outside K */
} common_part;

static const char *common_get(void *ctx, const char *key, size_t klen)
{
	common_part *cp = ctx;
	return map_has(cp->k, key, klen) ? NULL : map_get(cp->set, key, klen);
}

/* sr_resolve_part on K = the differing keys plus every extra_in-th other
 * key, checked against the full result. */
static void check_part(room *r, mx_map **sets, size_t n, const mx_map *full, unsigned extra_in,
                       const char *version, uint64_t seed)
{
	mx_map *k = map_new(64), *parts[MAX_BRANCHES], *ids = map_new(64);
	size_t it, kl;
	const char *key;
	void *v;
	for (size_t i = 0; i < n; i++) {
		it = 0;
		while (map_next(sets[i], &it, &key, &kl, &v)) {
			bool same = true;
			for (size_t j = 0; j < n && same; j++) {
				const char *w = map_get(sets[j], key, kl);
				same = w != NULL && strcmp(w, v) == 0;
			}
			if (!same || rnd(r) % extra_in == 0)
				map_put(k, key, kl, (void *)1, NULL);
		}
	}
	for (size_t i = 0; i < n; i++) {
		parts[i] = map_new(16);
		it = 0;
		while (map_next(k, &it, &key, &kl, NULL)) {
			const char *w = map_get(sets[i], key, kl);
			if (w != NULL)
				map_put(parts[i], key, kl, strdup(w), NULL);
		}
	}
	/* The auth events the rows outside K cite. */
	it = 0;
	while (map_next(sets[0], &it, &key, &kl, &v)) {
		const ev_t *ev = map_has(k, key, kl) ? NULL : room_get(r, v);
		for (size_t a = 0; ev != NULL && a < ev->n_auth; a++)
			map_put(ids, ev->auth_events[a], strlen(ev->auth_events[a]), (void *)ev->auth_events[a], NULL);
	}
	char **auth_ids = calloc(map_count(ids) + 1, sizeof(*auth_ids));
	size_t n_ids = 0;
	it = 0;
	while (map_next(ids, &it, NULL, NULL, &v))
		auth_ids[n_ids++] = v;
	common_part cp = {k, sets[0]};
	sr_base base = {.get = common_get, .ctx = &cp, .auth_ids = auth_ids, .n_auth_ids = n_ids};
	sr_lookup lk = {room_get, r};
	mx_map *out = NULL;
	mxdb_error err;
	CHECK_MSG(sr_resolve_part(r->rv, parts, n, &base, &lk, &out, &err) == MXDB_OK, "%s",
	          err.message);
	bool same = out != NULL;
	/* Every key of the full result: from out inside K (or where no set has
	 * it), else the common part's. Nothing else in out. */
	it = 0;
	while (same && map_next(full, &it, &key, &kl, &v)) {
		const char *got = map_has(k, key, kl) || !map_has(sets[0], key, kl) ? map_get(out, key, kl)
		                                                                     : map_get(sets[0], key, kl);
		same = got != NULL && strcmp(got, v) == 0;
	}
	it = 0;
	while (same && map_next(out, &it, &key, &kl, &v)) {
		const char *want = map_get(full, key, kl);
		same = want != NULL && strcmp(want, v) == 0 && (map_has(k, key, kl) || !map_has(sets[0], key, kl));
	}
	CHECK_MSG(same, "v%s seed %llu: part resolution (K %zu keys, %zu auth IDs) differs", version,
	          (unsigned long long)seed, map_count(k), n_ids);
	if (out)
		map_free(out, free);
	for (size_t i = 0; i < n; i++)
		map_free(parts[i], free);
	free(auth_ids);
	map_free(ids, NULL);
	map_free(k, NULL);
}

static int rooms_with_conflicts, rooms;

static void check_room(const char *version, uint64_t seed)
{
	room r = {.rv = rv_get(version), .by_id = map_new(64), .rng = seed};
	snprintf(r.room_id, sizeof(r.room_id), "!room:a.example");
	grow(&r, 250);
	rooms++;
	CHECK_MSG(r.n > 30, "v%s seed %llu: only %zu events", version, (unsigned long long)seed, r.n);
	size_t n = r.n_branches;
	if (n >= 2) {
		mx_map *base = resolve(&r, r.branch, n);

		/* Order of the state sets. */
		mx_map *rev[MAX_BRANCHES], *rot[MAX_BRANCHES], *re[MAX_BRANCHES];
		for (size_t i = 0; i < n; i++) {
			rev[i] = r.branch[n - 1 - i];
			rot[i] = r.branch[(i + 1) % n];
			re[i] = reordered(r.branch[i]);
		}
		mx_map *a = resolve(&r, rev, n), *b = resolve(&r, rot, n), *c = resolve(&r, re, n);
		CHECK_MSG(a && base && same_state(base, a), "v%s seed %llu: reversed sets differ", version,
		          (unsigned long long)seed);
		CHECK_MSG(b && base && same_state(base, b), "v%s seed %llu: rotated sets differ", version,
		          (unsigned long long)seed);
		CHECK_MSG(c && base && same_state(base, c), "v%s seed %llu: refilled maps differ",
		          version, (unsigned long long)seed);

		/* Order of the event index: rebuilt backwards. */
		mx_map *saved = r.by_id;
		r.by_id = map_new(1);
		for (size_t i = r.n; i-- > 0;)
			map_put(r.by_id, r.ev[i]->event_id, strlen(r.ev[i]->event_id), r.ev[i], NULL);
		mx_map *d = resolve(&r, r.branch, n);
		CHECK_MSG(d && base && same_state(base, d), "v%s seed %llu: event order matters", version,
		          (unsigned long long)seed);
		map_free(r.by_id, NULL);
		r.by_id = saved;

		/* Only the differing part, the rest summarised. */
		check_part(&r, r.branch, n, base, 1000000, version, seed);
		check_part(&r, r.branch, n, base, 4, version, seed);
		for (size_t i = 0; i + 1 < n; i++) {
			mx_map *two[2] = {r.branch[i], r.branch[i + 1]};
			mx_map *full2 = resolve(&r, two, 2);
			check_part(&r, two, 2, full2, 8, version, seed);
			map_free(full2, free);
		}

		/* Indexed vs naive full conflicted set. */
		mx_map *conf;
		mxdb_error err;
		CHECK(sr_split(r.branch, n, &conf, &err) == MXDB_OK);
		mx_map *naive = naive_full_set(&r, r.branch, n, conf);
		mx_map *indexed = indexed_full_set(&r, r.branch, n, conf);
		if (map_count(conf) > 0)
			rooms_with_conflicts++;
		CHECK_MSG(same_keys(naive, indexed), "v%s seed %llu: full conflicted set %zu vs naive %zu",
		          version, (unsigned long long)seed, map_count(indexed), map_count(naive));
		map_free(naive, NULL);
		map_free(indexed, NULL);
		map_free(conf, sr_idset_free);

		for (size_t i = 0; i < n; i++)
			map_free(re[i], free);
		map_free(a, free);
		map_free(b, free);
		map_free(c, free);
		map_free(d, free);
		map_free(base, free);
	}
	/* A state resolved with itself is itself. */
	mx_map *one[1] = {r.branch[0]}, *twice[2] = {r.branch[0], r.branch[0]};
	mx_map *x = resolve(&r, one, 1), *y = resolve(&r, twice, 2);
	CHECK_MSG(x && same_state(x, r.branch[0]), "v%s seed %llu: resolve(S) != S", version,
	          (unsigned long long)seed);
	CHECK_MSG(y && same_state(y, r.branch[0]), "v%s seed %llu: resolve(S, S) != S", version,
	          (unsigned long long)seed);
	map_free(x, free);
	map_free(y, free);

	for (size_t i = 0; i < r.n_branches; i++)
		map_free(r.branch[i], free);
	for (size_t i = 0; i < r.n; i++)
		ev_free(r.ev[i]);
	map_free(r.by_id, NULL);
}

int main(void)
{
	static const char *const versions[] = {"10", "11", "12"};
	for (size_t v = 0; v < 3; v++)
		for (uint64_t seed = 1; seed <= 80; seed++)
			check_room(versions[v], seed * 0x9E3779B97F4A7C15ULL);
	/* The generator must really produce conflicts, or the test proves nothing. */
	CHECK_MSG(rooms_with_conflicts * 10 >= rooms * 9, "%d of %d rooms had conflicts",
	          rooms_with_conflicts, rooms);
	printf("%d rooms, %d with conflicts\n", rooms, rooms_with_conflicts);
	return test_summary("test_stateres_props");
}
