/* test_stateres_algos.c: each sub-algorithm of state resolution against the
 * shared vectors' algorithms/ JSON cases (topological sort, power-event
 * sort, mainline sort, auth chain, auth difference, conflicted subgraph,
 * split, sender power), and the resolve/ JSON fixtures' diagnostics (the
 * intermediate sets and orders) against the same internal functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_fixture.h"
#include "stateres_internal.h"
#include "testutil.h"

static char vec_dir[1024];

static json_t *load(const char *rel)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/%s", vec_dir, rel);
	json_error_t e;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	CHECK_MSG(j != NULL, "%s: %s", path, e.text);
	return j;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Compares a list of event IDs with a JSON array; sorted: as sets. */
static void check_ids(const char *what, const char *name, const char **got, size_t n,
                      const json_t *want, bool as_set)
{
	size_t wn = json_array_size(want);
	const char **w = calloc(wn + 1, sizeof(*w));
	for (size_t i = 0; i < wn; i++)
		w[i] = json_string_value(json_array_get(want, i));
	if (as_set) {
		qsort(got, n, sizeof(*got), cmp_str);
		qsort(w, wn, sizeof(*w), cmp_str);
	}
	bool same = n == wn;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp(got[i], w[i]) == 0;
	CHECK_MSG(same, "%s %s", what, name);
	if (!same) {
		fprintf(stderr, "  got:");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %s", got[i]);
		fprintf(stderr, "\n  want:");
		for (size_t i = 0; i < wn; i++)
			fprintf(stderr, " %s", w[i]);
		fputc('\n', stderr);
	}
	free(w);
}

static void check_nodes(const char *what, const char *name, const sr_ctx *c, const uint32_t *v,
                        size_t n, const json_t *want, bool as_set)
{
	const char **got = calloc(n + 1, sizeof(*got));
	for (size_t i = 0; i < n; i++)
		got[i] = c->nodes[v[i]].ev->event_id;
	check_ids(what, name, got, n, want, as_set);
	free(got);
}

/* Runs one case function over every case of a vectors file. */
static void for_each_case(const char *file, void (*fn)(const json_t *cs, const char *name))
{
	json_t *f = load(file), *cs;
	size_t i;
	CHECK_MSG(json_array_size(json_object_get(f, "cases")) > 0, "%s has cases", file);
	json_array_foreach(json_object_get(f, "cases"), i, cs)
		fn(cs, json_string_value(json_object_get(cs, "name")));
	json_decref(f);
}

/* ---- bare auth graphs: events that are only an ID and auth edges --------- */

typedef struct graph {
	ev_t *evs;
	size_t n;
	mx_map *by_id;
	sr_lookup lookup;
} graph;

static const ev_t *graph_get(void *ctx, const char *id)
{
	return map_get(((graph *)ctx)->by_id, id, strlen(id));
}

static void graph_init(graph *g, const json_t *auth_graph)
{
	g->n = json_object_size(auth_graph);
	g->evs = calloc(g->n, sizeof(*g->evs));
	g->by_id = map_new(g->n);
	g->lookup = (sr_lookup){graph_get, g};
	size_t i = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)auth_graph, k, v) {
		ev_t *e = &g->evs[i++];
		e->event_id = (char *)k;
		e->type = "m.room.member";
		e->state_key = k;
		e->sender = "@x:y";
		e->n_auth = json_array_size(v);
		e->auth_events = calloc(e->n_auth + 1, sizeof(char *));
		for (size_t j = 0; j < e->n_auth; j++)
			e->auth_events[j] = json_string_value(json_array_get(v, j));
		map_put(g->by_id, k, strlen(k), e, NULL);
	}
}

static void graph_free(graph *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->evs[i].auth_events);
	free(g->evs);
	map_free(g->by_id, NULL);
}

static void intern_all(sr_ctx *c, const json_t *ids, sr_list *out)
{
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		uint32_t x;
		CHECK_MSG(sr_intern(c, json_string_value(v), &x) == MXDB_OK, "intern %s", json_string_value(v));
		sr_list_push(out, x);
	}
}

/* A bare-graph case: its auth_graph behind a lookup, and a context over it. */
typedef struct graph_case {
	graph g;
	sr_ctx c;
	mxdb_error err;
} graph_case;

static void graph_case_open(graph_case *gc, const json_t *cs, const char *version)
{
	graph_init(&gc->g, json_object_get(cs, "auth_graph"));
	sr_ctx_init(&gc->c, rv_get(version), &gc->g.lookup, 16, &gc->err);
}

static void graph_case_close(graph_case *gc)
{
	sr_ctx_free(&gc->c);
	graph_free(&gc->g);
}

/* The full auth chain of state_set_event_ids against the case's answer. */
static void check_full_chain(graph_case *gc, const json_t *cs, const char *name)
{
	sr_list set = {0}, chain = {0};
	intern_all(&gc->c, json_object_get(cs, "state_set_event_ids"), &set);
	CHECK(sr_full_auth_chain(&gc->c, set.v, set.n, &chain) == MXDB_OK);
	check_nodes("full auth chain", name, &gc->c, chain.v, chain.n,
	            json_object_get(cs, "expected_full_auth_chain"), true);
	sr_list_free(&set);
	sr_list_free(&chain);
}

static void case_auth_chain(const json_t *cs, const char *name)
{
	graph_case gc;
	graph_case_open(&gc, cs, "10");
	check_full_chain(&gc, cs, name);
	graph_case_close(&gc);
}

static void case_conflicted_subgraph(const json_t *cs, const char *name)
{
	graph_case gc;
	graph_case_open(&gc, cs, "12");
	check_full_chain(&gc, cs, name);
	sr_list conf = {0}, sub = {0};
	intern_all(&gc.c, json_object_get(cs, "conflicted_event_ids"), &conf);
	CHECK(sr_conflicted_subgraph(&gc.c, conf.v, conf.n, &sub) == MXDB_OK);
	check_nodes("conflicted subgraph", name, &gc.c, sub.v, sub.n,
	            json_object_get(cs, "expected_conflicted_subgraph"), true);
	sr_list_free(&conf);
	sr_list_free(&sub);
	graph_case_close(&gc);
}

/* The map key of a vector's "type|state_key". */
static size_t bar_key(char *key, size_t cap, const char *k)
{
	const char *bar = strchr(k, '|');
	char type[300];
	snprintf(type, sizeof(type), "%.*s", (int)(bar - k), k);
	return map_state_key(key, cap, type, bar + 1);
}

static size_t count_unconflicted(mx_map *const *sets, size_t n, const mx_map *conf)
{
	size_t it = 0, klen, count = 0;
	const char *key;
	while (n > 0 && map_next(sets[0], &it, &key, &klen, NULL))
		count += sr_unconflicted(sets, n, conf, key, klen) != NULL;
	return count;
}

/* State maps over bare IDs: "a|" -> "A". */
static mx_map *ids_state(const json_t *obj)
{
	mx_map *m = map_new(8);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v) {
		char key[600];
		size_t kl = bar_key(key, sizeof(key), k);
		map_put(m, key, kl, strdup(json_string_value(v)), NULL);
	}
	return m;
}

static void case_auth_difference(const json_t *cs, const char *name)
{
	json_t *sets = json_object_get(cs, "state_sets");
	size_t n = json_array_size(sets);
	graph g;
	graph_init(&g, json_object_get(cs, "auth_graph"));
	mxdb_error err;

	/* The spec's definition, every set walked whole. */
	sr_ctx c;
	sr_ctx_init(&c, rv_get("10"), &g.lookup, 16, &err);
	sr_list *per = calloc(n, sizeof(*per)), diff = {0};
	for (size_t s = 0; s < n; s++) {
		json_t *ids = json_array();
		const char *k;
		json_t *v;
		json_object_foreach(json_array_get(sets, s), k, v)
			json_array_append(ids, v);
		intern_all(&c, ids, &per[s]);
		json_decref(ids);
	}
	CHECK(sr_auth_difference(&c, per, n, &diff) == MXDB_OK);
	check_nodes("auth difference", name, &c, diff.v, diff.n,
	            json_object_get(cs, "auth_difference_spec_definition"), true);
	for (size_t s = 0; s < n; s++)
		sr_list_free(&per[s]);
	sr_list_free(&diff);
	sr_ctx_free(&c);

	/* The resolver's way: unconflicted chains marked common, only the
	 * conflicted events walked. The full conflicted set must agree. */
	mx_map **maps = calloc(n, sizeof(*maps)), *conf;
	for (size_t s = 0; s < n; s++)
		maps[s] = ids_state(json_array_get(sets, s));
	CHECK(sr_split(maps, n, &conf, &err) == MXDB_OK);
	sr_ctx_init(&c, rv_get("10"), &g.lookup, 16, &err);
	sr_list full = {0};
	CHECK(sr_full_conflicted_set(&c, maps, n, conf, NULL, &full) == MXDB_OK);
	check_nodes("full conflicted set", name, &c, full.v, full.n,
	            json_object_get(cs, "full_conflicted_set_either_way"), true);
	for (size_t s = 0; s < n; s++)
		map_free(maps[s], free);
	sr_list_free(&full);
	sr_ctx_free(&c);
	map_free(conf, sr_idset_free);
	free(maps);
	free(per);
	graph_free(&g);
}

static void case_split(const json_t *cs, const char *name)
{
	json_t *sets = json_object_get(cs, "state_sets");
	size_t n = json_array_size(sets);
	mx_map **maps = calloc(n + 1, sizeof(*maps)), *conf;
	for (size_t s = 0; s < n; s++)
		maps[s] = ids_state(json_array_get(sets, s));
	mxdb_error err;
	CHECK(sr_split(maps, n, &conf, &err) == MXDB_OK);
	json_t *want_un = json_object_get(cs, "expected_unconflicted");
	json_t *want_conf = json_object_get(cs, "expected_conflicted");
	CHECK_MSG(count_unconflicted(maps, n, conf) == json_object_size(want_un),
	          "%s: unconflicted count", name);
	CHECK_MSG(map_count(conf) == json_object_size(want_conf), "%s: conflicted count", name);
	const char *k;
	json_t *v;
	json_object_foreach(want_un, k, v) {
		char key[600];
		size_t kl = bar_key(key, sizeof(key), k);
		const char *got = sr_unconflicted(maps, n, conf, key, kl);
		CHECK_MSG(got && strcmp(got, json_string_value(v)) == 0, "%s: unconflicted %s", name, k);
	}
	json_object_foreach(want_conf, k, v) {
		char key[600];
		size_t kl = bar_key(key, sizeof(key), k);
		const sr_idset *ids = map_get(conf, key, kl);
		CHECK_MSG(ids != NULL, "%s: conflicted %s", name, k);
		if (ids != NULL)
			check_ids("conflicted", name, (const char **)ids->ids, ids->n, v, true);
	}
	for (size_t s = 0; s < n; s++)
		map_free(maps[s], free);
	free(maps);
	map_free(conf, sr_idset_free);
}

static void case_topological_sort(const json_t *cs, const char *name)
{
	json_t *graphj = json_object_get(cs, "graph"), *keysj = json_object_get(cs, "keys");
	size_t n = json_object_size(graphj);
	const char **names = calloc(n, sizeof(*names));
	sr_sortkey *keys = calloc(n, sizeof(*keys));
	uint32_t *off = calloc(n + 1, sizeof(*off)), *order = calloc(n, sizeof(*order));
	sr_list refs = {0};
	mx_map *idx = map_new(n);
	size_t j = 0;
	const char *k;
	json_t *v;
	json_object_foreach(graphj, k, v) {
		names[j] = k;
		map_put(idx, k, strlen(k), (void *)(uintptr_t)(j + 1), NULL);
		json_t *kk = json_object_get(keysj, k);
		keys[j] = (sr_sortkey){json_integer_value(json_object_get(kk, "power_level")),
		                       json_integer_value(json_object_get(kk, "origin_server_ts")), k};
		j++;
	}
	j = 0;
	json_object_foreach(graphj, k, v) {
		off[j++] = (uint32_t)refs.n;
		size_t a;
		json_t *r;
		json_array_foreach(v, a, r) {
			const char *rid = json_string_value(r);
			sr_list_push(&refs, (uint32_t)((uintptr_t)map_get(idx, rid, strlen(rid)) - 1));
		}
	}
	off[n] = (uint32_t)refs.n;
	mxdb_error err;
	CHECK(sr_topo_sort(n, keys, off, refs.v, order, &err) == MXDB_OK);
	const char **got = calloc(n, sizeof(*got));
	for (size_t a = 0; a < n; a++)
		got[a] = names[order[a]];
	check_ids("topological sort", name, got, n, json_object_get(cs, "expected_order"), false);
	free(got);
	free(names);
	free(keys);
	free(off);
	free(order);
	sr_list_free(&refs);
	map_free(idx, NULL);
}

/* A fixture holding a case's "events" (room version from the case). */
static sr_fixture *case_events(const json_t *cs)
{
	const char *ver = json_string_value(json_object_get(cs, "room_version"));
	sr_fixture *f = sr_fixture_new(sr_fixture_version(ver ? ver : "10"));
	mxdb_error err;
	CHECK_MSG(sr_fixture_events(f, json_object_get(cs, "events"), &err) == MXDB_OK, "%s",
	          err.message);
	return f;
}

static void case_power_events_sort(const json_t *cs, const char *name)
{
	sr_fixture *fx = case_events(cs);
	sr_ctx c;
	mxdb_error err;
	sr_ctx_init(&c, fx->rv, &fx->lookup, 16, &err);
	sr_list full = {0}, out = {0};
	intern_all(&c, json_object_get(cs, "full_conflicted_set"), &full);
	for (size_t a = 0; a < full.n; a++)
		c.nodes[full.v[a]].flags |= SR_FULL;
	CHECK(sr_power_sort(&c, full.v, full.n, &out) == MXDB_OK);
	check_nodes("power events sort", name, &c, out.v, out.n,
	            json_object_get(cs, "expected_order"), false);
	sr_list_free(&full);
	sr_list_free(&out);
	sr_ctx_free(&c);
	sr_fixture_free(fx);
}

static void case_mainline_sort(const json_t *cs, const char *name)
{
	sr_fixture *fx = case_events(cs);
	sr_ctx c;
	mxdb_error err;
	sr_ctx_init(&c, fx->rv, &fx->lookup, 16, &err);
	sr_list evs = {0};
	intern_all(&c, json_object_get(cs, "events_to_sort"), &evs);
	uint32_t pl;
	CHECK(sr_intern(&c, json_string_value(json_object_get(cs, "power_levels_event")), &pl) ==
	      MXDB_OK);
	CHECK(sr_mainline_sort(&c, pl, evs.v, evs.n) == MXDB_OK);
	check_nodes("mainline sort", name, &c, evs.v, evs.n, json_object_get(cs, "expected_order"),
	            false);
	sr_list_free(&evs);
	sr_ctx_free(&c);
	sr_fixture_free(fx);
}

/* The sender-power case lets only some events be looked up. */
typedef struct avail {
	sr_fixture *fx;
	mx_map *ok;
} avail;

static const ev_t *avail_get(void *ctx, const char *id)
{
	avail *a = ctx;
	return map_has(a->ok, id, strlen(id)) ? a->fx->lookup.get(a->fx, id) : NULL;
}

static void case_sender_power(const json_t *cs, const char *name)
{
	sr_fixture *fx = case_events(cs);
	avail a = {fx, map_new(8)};
	size_t j;
	json_t *v;
	json_array_foreach(json_object_get(cs, "available_event_ids"), j, v)
		map_put(a.ok, json_string_value(v), strlen(json_string_value(v)), fx, NULL);
	sr_lookup lk = {avail_get, &a};
	sr_ctx c;
	mxdb_error err;
	sr_ctx_init(&c, fx->rv, &lk, 16, &err);
	const char *id;
	json_object_foreach(json_object_get(cs, "expected_power_level"), id, v) {
		const ev_t *ev = fx->lookup.get(fx, id);
		int64_t got = ev ? sr_sender_power(&c, ev) : -1;
		CHECK_MSG(got == json_integer_value(v), "%s: %s has power %lld, want %lld", name, id,
		          (long long)got, (long long)json_integer_value(v));
	}
	sr_ctx_free(&c);
	map_free(a.ok, NULL);
	sr_fixture_free(fx);
}

/* ---- the resolve fixtures' diagnostics ------------------------------------- */

static void test_diagnostics(const char *file)
{
	json_t *root = load(file);
	json_t *diag = json_object_get(root, "diagnostics");
	sr_fixture *fx = NULL;
	mxdb_error err;
	CHECK_MSG(sr_fixture_load(root, &fx, &err) == MXDB_OK, "%s: %s", file, err.message);
	if (fx == NULL || diag == NULL) {
		json_decref(root);
		sr_fixture_free(fx);
		return;
	}
	mx_map *conf;
	CHECK(sr_split(fx->state_sets, fx->n_sets, &conf, &err) == MXDB_OK);
	CHECK_MSG(count_unconflicted(fx->state_sets, fx->n_sets, conf) ==
	              json_object_size(json_object_get(diag, "unconflicted")),
	          "%s: unconflicted", file);
	CHECK_MSG(map_count(conf) == json_object_size(json_object_get(diag, "conflicted")),
	          "%s: conflicted", file);

	sr_ctx c;
	sr_ctx_init(&c, fx->rv, &fx->lookup, 64, &err);
	sr_list diff = {0}, full = {0};
	CHECK(sr_full_conflicted_set(&c, fx->state_sets, fx->n_sets, conf, &diff, &full) == MXDB_OK);
	check_nodes("auth difference", file, &c, diff.v, diff.n,
	            json_object_get(diag, "auth_difference"), true);
	check_nodes("full conflicted set", file, &c, full.v, full.n,
	            json_object_get(diag, "full_conflicted_set"), true);
	sr_list power = {0};
	CHECK(sr_power_sort(&c, full.v, full.n, &power) == MXDB_OK);
	check_nodes("power events sorted", file, &c, power.v, power.n,
	            json_object_get(diag, "power_events_sorted"), false);

	sr_list_free(&diff);
	sr_list_free(&full);
	sr_list_free(&power);
	sr_ctx_free(&c);
	map_free(conf, sr_idset_free);
	sr_fixture_free(fx);
	json_decref(root);
}

static void test_all_diagnostics(void)
{
	json_t *index = load("index.json"), *e;
	size_t i, n = 0;
	json_array_foreach(index, i, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		if (kind && strcmp(kind, "resolve") == 0) {
			test_diagnostics(json_string_value(json_object_get(e, "file")));
			n++;
		}
	}
	CHECK(n > 0);
	json_decref(index);
}

int main(void)
{
	const char *v = getenv("MXDB_VECTORS");
	snprintf(vec_dir, sizeof(vec_dir), "%s/stateres", v ? v : "../shared/vectors");
	for_each_case("algorithms/auth_chain.json", case_auth_chain);
	for_each_case("algorithms/conflicted_subgraph.json", case_conflicted_subgraph);
	for_each_case("algorithms/auth_difference.json", case_auth_difference);
	for_each_case("algorithms/split_conflicted.json", case_split);
	for_each_case("algorithms/topological_sort.json", case_topological_sort);
	for_each_case("algorithms/power_events_sort.json", case_power_events_sort);
	for_each_case("algorithms/mainline_sort.json", case_mainline_sort);
	for_each_case("algorithms/sender_power_level.json", case_sender_power);
	test_all_diagnostics();
	return test_summary("test_stateres_algos");
}
