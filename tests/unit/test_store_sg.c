/* test_store_sg.c: state groups against a model. A chain of 40,000 groups
 * (past the top checkpoint level, 32,768) with random changes over 300 keys,
 * plus a fork from the middle: the state read back at sampled groups equals
 * the model, and storage stays within (SG_LEVELS + 1) entries per change. */
#include "engine_util.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "testutil.h"

#define KEYS 300
#define GROUPS 40000
#define FORK_AT 33000

static int64_t count(store_conn *c, const char *sql)
{
	sqlite3_stmt *st = store_stmt(c, sql, NULL);
	int64_t n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	if (st)
		sqlite3_reset(st);
	return n;
}

static int matches(store_conn *c, int64_t sg, const int64_t *model)
{
	mx_map *m = NULL;
	if (sg_load(c, sg, &m, NULL) != MXDB_OK)
		return 0;
	int ok = 1;
	size_t live = 0;
	for (int64_t k = 1; k <= KEYS; k++) {
		void *v = map_get(m, (const char *)&k, sizeof(k));
		if (model[k] != 0)
			live++;
		if ((int64_t)(intptr_t)v != model[k])
			ok = 0;
	}
	if (map_count(m) != live)
		ok = 0;
	map_free(m, NULL);
	return ok;
}

int main(void)
{
	char dir[128], path[160];
	tmpdir_make(dir, sizeof(dir), "sg");
	snprintf(path, sizeof(path), "%s/sg.sqlite3", dir);
	store *s = NULL;
	mxdb_error err;
	CHECK(store_open(path, 0, 1, &s, &err) == MXDB_OK);
	if (s == NULL || sodium_init() < 0)
		return test_summary("test_store_sg");
	store_conn *w = &s->writer;
	CHECK(store_exec(w, "BEGIN", &err) == MXDB_OK);

	/* Snapshots of the model at sampled groups (all of them would not fit). */
	int64_t model[KEYS + 1] = {0}, *snap = calloc(64, sizeof(model)), snap_at[64];
	int nsnap = 0;
	int64_t fork_model[KEYS + 1];
	int64_t parent = 0, ev = 0, changes = 0;
	for (int64_t g = 1; g <= GROUPS; g++) {
		/* Mostly one change, sometimes several (a resolved merge). */
		sg_entry e[4];
		size_t n = randombytes_uniform(10) == 0 ? 1 + randombytes_uniform(4) : 1;
		for (size_t i = 0; i < n; i++) {
			e[i].key_nid = 1 + (int64_t)randombytes_uniform(KEYS);
			e[i].event_nid = ++ev;
			model[e[i].key_nid] = ev;
		}
		/* Duplicated keys in one group: the later entry wins. */
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (e[i].key_nid == e[j].key_nid)
					e[i].event_nid = e[j].event_nid;
		changes += (int64_t)n;
		int64_t depth = g % 3 == 0 ? g - 1 : -1; /* known or looked up */
		if (sg_add(w, g, 1, parent, e, n, &depth, &err) != MXDB_OK || depth != g) {
			CHECK_MSG(0, "sg_add %lld: %s", (long long)g, err.message);
			break;
		}
		if ((g % 1999 == 0 || g == 1024 || g == 32767 || g == 32768 || g == 32769 ||
		     g == FORK_AT || g == GROUPS) && nsnap < 64) {
			snap_at[nsnap] = g;
			memcpy(&snap[nsnap++ * (KEYS + 1)], model, sizeof(model));
		}
		parent = g;
	}
	int fork_snap = -1, last_snap = -1;
	for (int i = 0; i < nsnap; i++) {
		CHECK_MSG(matches(w, snap_at[i], &snap[i * (KEYS + 1)]), "group %lld", (long long)snap_at[i]);
		fork_snap = snap_at[i] == FORK_AT ? i : fork_snap;
		last_snap = snap_at[i] == GROUPS ? i : last_snap;
	}
	CHECK(nsnap > 20 && fork_snap >= 0 && last_snap >= 0);
	if (fork_snap < 0 || last_snap < 0)
		return test_summary("test_store_sg");

	/* A fork from group FORK_AT: a branch of 200 groups with its own changes. */
	memcpy(fork_model, &snap[fork_snap * (KEYS + 1)], sizeof(fork_model));
	parent = FORK_AT;
	for (int64_t g = GROUPS + 1; g <= GROUPS + 200; g++) {
		sg_entry e = {1 + (int64_t)randombytes_uniform(KEYS), ++ev};
		fork_model[e.key_nid] = ev;
		int64_t depth = -1;
		CHECK(sg_add(w, g, 1, parent, &e, 1, &depth, &err) == MXDB_OK);
		CHECK(depth == FORK_AT + (g - GROUPS));
		parent = g;
		changes++;
	}
	CHECK(matches(w, GROUPS + 200, fork_model));
	CHECK(matches(w, GROUPS, &snap[last_snap * (KEYS + 1)]));

	/* Storage: at most (levels + 1) entries per change. */
	int64_t entries = count(w, "SELECT count(*) FROM state_deltas");
	printf("%lld changes, %lld delta entries (%.2f per change)\n", (long long)changes,
	       (long long)entries, (double)entries / (double)changes);
	CHECK(entries > 0 && entries <= (SG_LEVELS + 1) * changes);
	/* Every group's base is an ancestor at most SG_L^SG_LEVELS back. */
	CHECK(count(w, "SELECT count(*) FROM state_groups WHERE base >= sg") == 0);
	CHECK(store_exec(w, "COMMIT", &err) == MXDB_OK);
	free(snap);
	store_close(s);
	tmpdir_remove(dir);
	return test_summary("test_store_sg");
}
