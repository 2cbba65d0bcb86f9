/* test_fed_state.c: remote-event graph arithmetic on a real room DAG of
 * signed v11 events: authorization against auth events and against the
 * state before, states merged at a fork, and the rows whose winner changed. */
#include <stdlib.h>
#include <string.h>

#include "fed_state.h"
#include "testutil.h"

static mx_key key;
static ev_t *evs[64];
static int n_evs;

static const ev_t *get(void *ctx, const char *id)
{
	for (int i = 0; i < n_evs; i++)
		if (strcmp(evs[i]->event_id, id) == 0)
			return evs[i];
	return NULL;
}

static const sr_lookup lookup = {get, NULL};

/* Builds, signs and indexes an event; auth and prev are NULL-terminated. */
static ev_t *mk(const char *sender, const char *type, const char *sk, const char *content,
                const char *const *auth, const char *const *prev, long long ts)
{
	const mx_room_version *rv = rv_get("11");
	json_t *a = json_array(), *p = json_array();
	for (; auth && *auth; auth++)
		json_array_append_new(a, json_string(*auth));
	for (; prev && *prev; prev++)
		json_array_append_new(p, json_string(*prev));
	json_t *pdu = json_pack("{s:o, s:o, s:i, s:I, s:o, s:s, s:s, s:s}", "auth_events", a, "content",
	                        json_loads(content, 0, NULL), "depth", n_evs + 1, "origin_server_ts",
	                        (json_int_t)ts, "prev_events", p, "room_id", "!room:a.test", "sender",
	                        sender, "type", type);
	if (sk)
		json_object_set_new(pdu, "state_key", json_string(sk));
	ev_t *ev = NULL;
	if (ev_hash_and_sign(pdu, rv, &key, "a.test", NULL) != MXDB_OK ||
	    ev_from_json(pdu, NULL, rv, &ev, NULL) != MXDB_OK)
		abort();
	json_decref(pdu);
	evs[n_evs++] = ev;
	return ev;
}

/* fed_authorize against a state map. */
static mxdb_status authorize(const ev_t *ev, const mx_map *state, mxdb_error *err)
{
	fed_map_ctx mc;
	auth_state as;
	fed_map_auth_state(&mc, state, &lookup, &as);
	return fed_authorize(ev, &as, &lookup, err);
}

static mx_map *state_of(ev_t *const *list, int n)
{
	mx_map *m = map_new(16);
	for (int i = 0; i < n; i++)
		fed_state_apply(m, list[i], NULL);
	return m;
}

typedef struct diff_rec {
	int n;
	char key[8][64];
	const char *old_id[8], *new_id[8];
} diff_rec;

static void on_diff(void *ctx, const char *key, size_t kl, const char *old_id, const char *new_id)
{
	diff_rec *d = ctx;
	if (d->n < 8) {
		const char *type, *sk;
		map_state_key_split(key, kl, &type, &sk);
		snprintf(d->key[d->n], 64, "%s|%s", type, sk);
		d->old_id[d->n] = old_id;
		d->new_id[d->n] = new_id;
		d->n++;
	}
}

int main(void)
{
	mxdb_error err;
	CHECK(key_generate(&key, &err) == MXDB_OK);
	const char *A = "@alice:a.test", *B = "@bob:a.test", *E = "@eve:a.test";
	long long t = 1700000000000;

	ev_t *create = mk(A, "m.room.create", "", "{\"room_version\":\"11\"}", NULL, NULL, t++);
	const char *c_[] = {create->event_id, NULL};
	ev_t *aj = mk(A, "m.room.member", A, "{\"membership\":\"join\"}", c_, c_, t++);
	const char *a1[] = {create->event_id, aj->event_id, NULL}, *p1[] = {aj->event_id, NULL};
	ev_t *pl = mk(A, "m.room.power_levels", "",
	              "{\"users\":{\"@alice:a.test\":100,\"@bob:a.test\":50},\"state_default\":50,"
	              "\"events_default\":0,\"ban\":50}", a1, p1, t++);
	const char *a2[] = {create->event_id, aj->event_id, pl->event_id, NULL}, *p2[] = {pl->event_id, NULL};
	ev_t *jr = mk(A, "m.room.join_rules", "", "{\"join_rule\":\"public\"}", a2, p2, t++);
	const char *a3[] = {create->event_id, pl->event_id, jr->event_id, NULL}, *p3[] = {jr->event_id, NULL};
	ev_t *bj = mk(B, "m.room.member", B, "{\"membership\":\"join\"}", a3, p3, t++);
	ev_t *ej = mk(E, "m.room.member", E, "{\"membership\":\"join\"}", a3, (const char *[]){bj->event_id, NULL}, t++);
	ev_t *base_list[] = {create, aj, pl, jr, bj, ej};
	mx_map *base = state_of(base_list, 6);

	/* A row by bob: passes both checks. */
	const char *ab[] = {create->event_id, pl->event_id, bj->event_id, NULL};
	const char *pe[] = {ej->event_id, NULL};
	ev_t *row_b = mk(B, "com.example.todo", "x", "{\"v\":\"bob\"}", ab, pe, t + 10);
	CHECK(authorize(row_b, base, &err) == MXDB_OK);

	/* Eve (level 0) may not write rows (state_default 50). */
	const char *ae[] = {create->event_id, pl->event_id, ej->event_id, NULL};
	ev_t *row_e = mk(E, "com.example.todo", "x", "{\"v\":\"eve\"}", ae, pe, t + 11);
	CHECK(authorize(row_e, base, &err) == MXDB_EFORBIDDEN);

	/* Auth events that are not the ones the selection picks: eve cites bob's join. */
	const char *wrong[] = {create->event_id, pl->event_id, bj->event_id, NULL};
	ev_t *row_w = mk(E, "m.room.message", NULL, "{\"body\":\"hi\"}", wrong, pe, t + 12);
	CHECK(authorize(row_w, base, &err) == MXDB_EFORBIDDEN);

	/* Passes its auth events but not the state before: alice banned bob,
	 * and bob's later row still cites his old join. */
	ev_t *ban = mk(A, "m.room.member", B, "{\"membership\":\"ban\"}",
	               (const char *[]){create->event_id, pl->event_id, aj->event_id, bj->event_id, NULL}, pe, t + 13);
	mx_map *after_ban = fed_state_copy(base);
	CHECK(authorize(ban, base, &err) == MXDB_OK);
	CHECK(fed_state_apply(after_ban, ban, &err) == MXDB_OK);
	ev_t *row_late = mk(B, "com.example.todo", "y", "{\"v\":1}", ab, (const char *[]){ban->event_id, NULL}, t + 14);
	CHECK(authorize(row_late, base, &err) == MXDB_OK);
	CHECK(authorize(row_late, after_ban, &err) == MXDB_EFORBIDDEN);

	/* A fork: alice and bob write row x concurrently on top of the base. */
	const char *aa[] = {create->event_id, pl->event_id, aj->event_id, NULL};
	ev_t *row_a = mk(A, "com.example.todo", "x", "{\"v\":\"alice\"}", aa, pe, t + 20);
	ev_t *row_z = mk(A, "com.example.todo", "z", "{\"v\":\"z\"}", aa, (const char *[]){row_a->event_id, NULL}, t + 21);
	mx_map *side_a = fed_state_copy(base), *side_b = fed_state_copy(base);
	fed_state_apply(side_a, row_a, &err);
	fed_state_apply(side_a, row_z, &err);
	fed_state_apply(side_b, row_b, &err);
	mx_map *sets[2] = {side_a, side_b}, *rev[2] = {side_b, side_a}, *merged = NULL, *merged2 = NULL;
	CHECK(fed_state_before(rv_get("11"), sets, 2, &lookup, &merged, &err) == MXDB_OK);
	CHECK(fed_state_before(rv_get("11"), rev, 2, &lookup, &merged2, &err) == MXDB_OK);
	char kx[64], kz[64];
	size_t lx = map_state_key(kx, sizeof(kx), "com.example.todo", "x");
	size_t lz = map_state_key(kz, sizeof(kz), "com.example.todo", "z");
	const char *wx = merged ? map_get(merged, kx, lx) : NULL;
	/* Same winner whatever the order; the non-conflicting row survives. */
	CHECK(wx && (strcmp(wx, row_a->event_id) == 0 || strcmp(wx, row_b->event_id) == 0));
	CHECK(wx && merged2 && strcmp(wx, (const char *)map_get(merged2, kx, lx)) == 0);
	CHECK(merged && map_get(merged, kz, lz) && strcmp(map_get(merged, kz, lz), row_z->event_id) == 0);
	/* Equal mainline: the later origin_server_ts (alice's, t+20) is applied last. */
	CHECK(wx && strcmp(wx, row_a->event_id) == 0);

	/* Seen from bob's side, the merge changed x and added z. */
	diff_rec d = {0};
	fed_state_diff(side_b, merged, on_diff, &d);
	CHECK(d.n == 2);
	for (int i = 0; i < d.n; i++) {
		if (strcmp(d.key[i], "com.example.todo|x") == 0)
			CHECK(strcmp(d.old_id[i], row_b->event_id) == 0 && strcmp(d.new_id[i], row_a->event_id) == 0);
		else
			CHECK(strcmp(d.key[i], "com.example.todo|z") == 0 && d.old_id[i] == NULL);
	}
	diff_rec none = {0};
	fed_state_diff(side_a, merged, on_diff, &none);
	CHECK(none.n == 0);
	/* A removed key shows with new_id NULL. */
	diff_rec gone = {0};
	fed_state_diff(merged, base, on_diff, &gone);
	CHECK(gone.n == 2);

	/* One prev: a copy; none: empty. */
	mx_map *one = NULL, *zero = NULL;
	CHECK(fed_state_before(rv_get("11"), &side_b, 1, &lookup, &one, &err) == MXDB_OK);
	CHECK(one && map_count(one) == map_count(side_b));
	CHECK(fed_state_before(rv_get("11"), NULL, 0, &lookup, &zero, &err) == MXDB_OK && map_count(zero) == 0);

	mx_map *maps[] = {base, after_ban, side_a, side_b, merged, merged2, one, zero};
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		map_free(maps[i], free);
	for (int i = 0; i < n_evs; i++)
		ev_free(evs[i]);
	return test_summary("test_fed_state");
}
