/* test_store_sg_diff.c: sg_diff against a model. A tree of state groups (a
 * trunk of 3,000 groups, past the 1,024 and 2,048 checkpoints, and branches
 * forking from the trunk and from each other, up to 1,500 groups long) with
 * random changes over 200 keys, some of them unsetting a key (event 0).
 * For random sets of 2 to 5 groups (repeats allowed):
 *  - every out[i] has the same keys K, and holds group i's event there
 *    (0 for unset);
 *  - outside K every group holds the same;
 *  - sg_load gives the model's state (unset keys absent). */
#include "engine_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "testutil.h"

#define KEYS 200
#define TRUNK 3000
#define MAX_GROUPS 9000

static int64_t *model[MAX_GROUPS + 1]; /* group -> its state, key -> event (0 unset) */
static int64_t depth_of[MAX_GROUPS + 1];
static int64_t n_groups;
static uint64_t rng = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A child of parent (0: a root) with one to three random changes. */
static int64_t grow(store_conn *w, int64_t parent)
{
	int64_t sg = ++n_groups;
	model[sg] = calloc(KEYS + 1, sizeof(int64_t));
	if (parent)
		memcpy(model[sg], model[parent], (KEYS + 1) * sizeof(int64_t));
	sg_entry e[3];
	size_t n = 1 + rnd() % 3;
	for (size_t i = 0; i < n; i++) {
		int64_t key = 1 + (int64_t)(rnd() % KEYS);
		int64_t ev = rnd() % 10 == 0 ? 0 : sg * 10 + (int64_t)i; /* 0: unset */
		e[i] = (sg_entry){key, ev};
		model[sg][key] = ev;
	}
	/* sg_add takes the last entry of a key. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (e[i].key_nid == e[j].key_nid)
				model[sg][e[i].key_nid] = e[j].event_nid;
	int64_t depth = parent ? depth_of[parent] : 0;
	mxdb_error err;
	CHECK_MSG(sg_add(w, sg, 1, parent, e, n, &depth, &err) == MXDB_OK, "%s", err.message);
	depth_of[sg] = depth;
	return sg;
}

static void check_load(store_conn *w, int64_t sg)
{
	mx_map *m = NULL;
	CHECK(sg_load(w, sg, &m, NULL) == MXDB_OK);
	size_t live = 0;
	bool same = m != NULL;
	for (int64_t k = 1; same && k <= KEYS; k++) {
		live += model[sg][k] != 0;
		same = (int64_t)(intptr_t)map_get(m, (const char *)&k, sizeof(k)) == model[sg][k] &&
		       map_has(m, (const char *)&k, sizeof(k)) == (model[sg][k] != 0);
	}
	CHECK_MSG(same && map_count(m) == live, "sg_load of group %lld", (long long)sg);
	map_free(m, NULL);
}

static void check_diff(store_conn *w, const int64_t *sgs, size_t n)
{
	mx_map *out[5];
	mxdb_error err;
	CHECK_MSG(sg_diff(w, sgs, n, out, &err) == MXDB_OK, "%s", err.message);
	bool ok = true;
	for (int64_t k = 1; ok && k <= KEYS; k++) {
		bool in_k = map_has(out[0], (const char *)&k, sizeof(k));
		bool all_same = true;
		for (size_t i = 0; i < n; i++) {
			all_same = all_same && model[sgs[i]][k] == model[sgs[0]][k];
			if (map_has(out[i], (const char *)&k, sizeof(k)) != in_k)
				ok = false;
			else if (in_k && (int64_t)(intptr_t)map_get(out[i], (const char *)&k, sizeof(k)) !=
			                     model[sgs[i]][k])
				ok = false;
		}
		if (!in_k && !all_same)
			ok = false;
	}
	CHECK_MSG(ok, "sg_diff of %zu groups (%lld at depth %lld, %lld at depth %lld)", n,
	          (long long)sgs[0], (long long)depth_of[sgs[0]], (long long)sgs[n - 1],
	          (long long)depth_of[sgs[n - 1]]);
	for (size_t i = 0; i < n; i++)
		map_free(out[i], NULL);
}

int main(void)
{
	char dir[128], path[160];
	tmpdir_make(dir, sizeof(dir), "sgdiff");
	snprintf(path, sizeof(path), "%s/sg.sqlite3", dir);
	store *s = NULL;
	mxdb_error err;
	CHECK(store_open(path, 0, 1, &s, &err) == MXDB_OK);
	if (s == NULL)
		return test_summary("test_store_sg_diff");
	store_conn *w = &s->writer;
	CHECK(store_exec(w, "BEGIN", &err) == MXDB_OK);
	int64_t prev = 0;
	for (int i = 0; i < TRUNK; i++)
		prev = grow(w, prev);
	/* Branches from random groups (trunk or earlier branches). */
	while (n_groups < MAX_GROUPS - 1500) {
		int64_t at = 1 + (int64_t)(rnd() % (uint64_t)n_groups);
		int64_t len = 1 + (int64_t)(rnd() % (rnd() % 4 == 0 ? 1500 : 60));
		for (int64_t i = 0; i < len; i++)
			at = grow(w, at);
	}
	int checks = 0;
	for (int t = 0; t < 300; t++) {
		int64_t sgs[5];
		size_t n = 2 + rnd() % 4;
		for (size_t i = 0; i < n; i++)
			sgs[i] = i > 0 && rnd() % 5 == 0 ? sgs[rnd() % i] : 1 + (int64_t)(rnd() % (uint64_t)n_groups);
		check_diff(w, sgs, n);
		if (t % 10 == 0)
			check_load(w, sgs[0]);
		checks++;
	}
	CHECK(store_exec(w, "COMMIT", &err) == MXDB_OK);
	printf("%d diffs over %lld groups\n", checks, (long long)n_groups);
	store_close(s);
	for (int64_t g = 1; g <= n_groups; g++)
		free(model[g]);
	tmpdir_remove(dir);
	return test_summary("test_store_sg_diff");
}
