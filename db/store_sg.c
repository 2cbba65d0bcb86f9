/*
 * store_sg.c: state groups, the state at any event, as delta chains with a
 * bounded walk. A group at chain depth d stores its delta against an
 * ancestor: at d - SG_L^j when SG_L^j divides d (largest such j <= SG_LEVELS),
 * else against its parent. Following base links from any group therefore
 * steps at most SG_L - 1 times per level, and every change is written at
 * most once per level plus once in its own group. Owns the tables
 * state_groups and state_deltas; never touches events or current state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

static const char SQL_GROUP[] = "SELECT base, depth FROM state_groups WHERE sg = ?";
static const char SQL_DELTAS[] = "SELECT key_nid, pos FROM state_deltas WHERE sg = ?";
static const char SQL_DELTA[] = "SELECT pos FROM state_deltas WHERE sg = ? AND key_nid = ?";
static const char SQL_ADD_GROUP[] =
	"INSERT INTO state_groups(sg, room_nid, parent, base, depth) VALUES (?, ?, ?, ?, ?)";
static const char SQL_ADD_DELTA[] = "INSERT OR REPLACE INTO state_deltas(sg, key_nid, pos) VALUES (?, ?, ?)";

static mxdb_status group_get(store_conn *c, int64_t sg, int64_t *base, int64_t *depth,
                             mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(c, SQL_GROUP, err);
	if (st == NULL)
		return err ? err->code : MXDB_EIO;
	sqlite3_bind_int64(st, 1, sg);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*base = sqlite3_column_int64(st, 0);
		*depth = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return MXDB_OK;
	if (rc == SQLITE_DONE)
		return mx_fail(err, MXDB_EINTERNAL, "state group %lld missing", (long long)sg);
	return store_fail(c, err, "state group");
}

/* The deltas of group sg into m where m lacks the key (entries nearer to
 * the walk's start win), and the key into k (if not NULL). */
static mxdb_status take_deltas(store_conn *c, int64_t sg, mx_map *m, mx_map *k, mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(c, SQL_DELTAS, err);
	if (st == NULL)
		return err ? err->code : MXDB_EIO;
	sqlite3_bind_int64(st, 1, sg);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t key = sqlite3_column_int64(st, 0);
		void *pos = (void *)(intptr_t)sqlite3_column_int64(st, 1);
		if ((!map_has(m, (const char *)&key, sizeof(key)) &&
		     map_put(m, (const char *)&key, sizeof(key), pos, NULL) != 0) ||
		    (k != NULL && map_put(k, (const char *)&key, sizeof(key), NULL, NULL) != 0)) {
			sqlite3_reset(st);
			return mx_fail(err, MXDB_ENOMEM, "state map");
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(c, err, "state deltas");
}

/* Adds to m every entry of the chain from sg down to (not including) the
 * first group at depth <= stop; entries nearer to sg win. That group is
 * the ancestor at depth stop when base links land on it exactly (they do:
 * every base link from below a multiple of SG_L^j stays at or above it);
 * *at gets it (0 when the chain ends first), if at is not NULL. */
static mxdb_status walk(store_conn *c, int64_t sg, int64_t stop, mx_map *m, int64_t *at,
                        mxdb_error *err)
{
	while (sg != 0) {
		int64_t base, depth;
		mxdb_status s = group_get(c, sg, &base, &depth, err);
		if (s != MXDB_OK)
			return s;
		if (depth < stop && at != NULL)
			return mx_fail(err, MXDB_EINTERNAL, "state group chain skipped depth %lld",
			               (long long)stop);
		if (depth <= stop)
			break;
		if ((s = take_deltas(c, sg, m, NULL, err)) != MXDB_OK)
			return s;
		sg = base;
	}
	if (at != NULL)
		*at = sg;
	return MXDB_OK;
}

mxdb_status sg_load(store_conn *c, int64_t sg, mx_map **out, mxdb_error *err)
{
	mx_map *m = map_new(64);
	if (m == NULL)
		return mx_fail(err, MXDB_ENOMEM, "state map");
	mxdb_status s = walk(c, sg, 0, m, NULL, err);
	if (s != MXDB_OK) {
		map_free(m, NULL);
		return s;
	}
	/* event_nid 0: the key was unset (state resolution left it without an
	 * event); it shadows older entries during the walk, then goes. */
	size_t it = 0, kl;
	const char *k;
	void *v;
	while (map_next(m, &it, &k, &kl, &v))
		if (v == NULL)
			map_del(m, k, kl);
	*out = m;
	return MXDB_OK;
}

/* The largest SG_L^j (1 <= j <= SG_LEVELS) dividing depth, or 1. */
static int64_t checkpoint_span(int64_t depth)
{
	int64_t span = 1, p = 1;
	for (int j = 1; j <= SG_LEVELS; j++) {
		p *= SG_L;
		if (depth % p == 0)
			span = p;
	}
	return span;
}

static mxdb_status write_deltas(store_conn *c, int64_t sg, const mx_map *m, mxdb_error *err)
{
	size_t it = 0;
	const char *k;
	size_t kl;
	void *v;
	while (map_next(m, &it, &k, &kl, &v)) {
		int64_t key;
		memcpy(&key, k, sizeof(key));
		sqlite3_stmt *st = store_stmt(c, SQL_ADD_DELTA, err);
		if (st == NULL)
			return err ? err->code : MXDB_EIO;
		sqlite3_bind_int64(st, 1, sg);
		sqlite3_bind_int64(st, 2, key);
		sqlite3_bind_int64(st, 3, (int64_t)(intptr_t)v);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return store_fail(c, err, "state delta");
	}
	return MXDB_OK;
}

mxdb_status sg_add(store_conn *c, int64_t sg, int64_t room_nid, int64_t parent,
                   const sg_entry *changes, size_t n, int64_t *depth_io, mxdb_error *err)
{
	int64_t pbase, pdepth = parent == 0 ? 0 : *depth_io, base = parent;
	mxdb_status s;
	if (parent != 0 && pdepth < 0 && (s = group_get(c, parent, &pbase, &pdepth, err)) != MXDB_OK)
		return s;
	int64_t depth = pdepth + 1, span = checkpoint_span(depth);
	mx_map *delta = map_new(n + (span > 1 ? (size_t)span : 0));
	if (delta == NULL)
		return mx_fail(err, MXDB_ENOMEM, "state delta");
	for (size_t i = 0; i < n; i++)
		if (map_put(delta, (const char *)&changes[i].key_nid, sizeof(int64_t),
		            (void *)(intptr_t)changes[i].event_nid, NULL) != 0) {
			map_free(delta, NULL);
			return mx_fail(err, MXDB_ENOMEM, "state delta");
		}
	if (span > 1) {
		/* A checkpoint: fold the parent's chain down to depth - span in,
		 * and take the group there as the base. */
		s = walk(c, parent, depth - span, delta, &base, err);
		if (s != MXDB_OK) {
			map_free(delta, NULL);
			return s;
		}
	}
	sqlite3_stmt *st = store_stmt(c, SQL_ADD_GROUP, err);
	if (st == NULL) {
		map_free(delta, NULL);
		return err ? err->code : MXDB_EIO;
	}
	sqlite3_bind_int64(st, 1, sg);
	sqlite3_bind_int64(st, 2, room_nid);
	sqlite3_bind_int64(st, 3, parent);
	sqlite3_bind_int64(st, 4, base);
	sqlite3_bind_int64(st, 5, depth);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	s = rc == SQLITE_DONE ? write_deltas(c, sg, delta, err) : store_fail(c, err, "state group");
	map_free(delta, NULL);
	if (s == MXDB_OK)
		*depth_io = depth;
	return s;
}

mxdb_status sg_lookup(store_conn *c, int64_t sg, int64_t key_nid, int64_t *pos, mxdb_error *err)
{
	*pos = 0;
	if (key_nid == 0)
		return MXDB_OK;
	/* A group's delta holds every change since its base, so the first
	 * group on the base chain that names the key has its value. */
	while (sg != 0) {
		sqlite3_stmt *st = store_stmt(c, SQL_DELTA, err);
		if (st == NULL)
			return err ? err->code : MXDB_EIO;
		sqlite3_bind_int64(st, 1, sg);
		sqlite3_bind_int64(st, 2, key_nid);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*pos = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW)
			return MXDB_OK;
		if (rc != SQLITE_DONE)
			return store_fail(c, err, "state delta");
		int64_t base, depth;
		mxdb_status s = group_get(c, sg, &base, &depth, err);
		if (s != MXDB_OK)
			return s;
		sg = base;
	}
	return MXDB_OK;
}

/* ---- differences between groups ---- */

typedef struct chain {
	int64_t *sg, *depth;
	size_t n, cap;
} chain;

/* The base chain of sg: sg, its base, the base's base... */
static mxdb_status chain_of(store_conn *c, int64_t sg, chain *ch, mxdb_error *err)
{
	while (sg != 0) {
		if (ch->n == ch->cap) {
			size_t cap = ch->cap ? ch->cap * 2 : 64;
			int64_t *a = realloc(ch->sg, cap * sizeof(*a)), *b = a ? realloc(ch->depth, cap * sizeof(*b)) : NULL;
			if (a != NULL)
				ch->sg = a;
			if (b == NULL)
				return mx_fail(err, MXDB_ENOMEM, "state group chain");
			ch->depth = b;
			ch->cap = cap;
		}
		int64_t base;
		mxdb_status s = group_get(c, sg, &base, &ch->depth[ch->n], err);
		if (s != MXDB_OK)
			return s;
		ch->sg[ch->n++] = sg;
		sg = base;
	}
	return MXDB_OK;
}

/* The values of the keys of want (taken out as found) along the chain ch
 * from index from on, into got. A group whose delta may be larger than what
 * is still wanted is asked key by key. */
static mxdb_status chain_values(store_conn *c, const chain *ch, size_t from, mx_map *want,
                                mx_map *got, mxdb_error *err)
{
	for (size_t g = from; g < ch->n && map_count(want) > 0; g++) {
		mx_map *found = map_new(16);
		mxdb_status s = found ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "state map");
		if (s == MXDB_OK && checkpoint_span(ch->depth[g]) <= (int64_t)map_count(want)) {
			mx_map *all = map_new(64), *keys = map_new(64);
			s = all && keys ? take_deltas(c, ch->sg[g], all, keys, err)
			                : mx_fail(err, MXDB_ENOMEM, "state map");
			size_t it = 0, kl;
			const char *k;
			void *v;
			while (s == MXDB_OK && map_next(all, &it, &k, &kl, &v))
				if (map_has(want, k, kl) && map_put(found, k, kl, v, NULL) != 0)
					s = mx_fail(err, MXDB_ENOMEM, "state map");
			map_free(all, NULL);
			map_free(keys, NULL);
		} else if (s == MXDB_OK) {
			size_t it = 0, kl;
			const char *k;
			while (s == MXDB_OK && map_next(want, &it, &k, &kl, NULL)) {
				sqlite3_stmt *st = store_stmt(c, SQL_DELTA, err);
				if (st == NULL) {
					s = err ? err->code : MXDB_EIO;
					break;
				}
				int64_t key;
				memcpy(&key, k, sizeof(key));
				sqlite3_bind_int64(st, 1, ch->sg[g]);
				sqlite3_bind_int64(st, 2, key);
				int rc = sqlite3_step(st);
				if (rc == SQLITE_ROW &&
				    map_put(found, k, kl, (void *)(intptr_t)sqlite3_column_int64(st, 0), NULL) != 0)
					s = mx_fail(err, MXDB_ENOMEM, "state map");
				sqlite3_reset(st);
				if (rc != SQLITE_ROW && rc != SQLITE_DONE)
					s = store_fail(c, err, "state delta");
			}
		}
		size_t it = 0, kl;
		const char *k;
		void *v;
		while (s == MXDB_OK && map_next(found, &it, &k, &kl, &v)) {
			map_del(want, k, kl);
			if (map_put(got, k, kl, v, NULL) != 0)
				s = mx_fail(err, MXDB_ENOMEM, "state map");
		}
		if (found)
			map_free(found, NULL);
		if (s != MXDB_OK)
			return s;
	}
	return MXDB_OK;
}

mxdb_status sg_diff(store_conn *c, const int64_t *sgs, size_t n, mx_map **out, mxdb_error *err)
{
	chain *ch = calloc(n ? n : 1, sizeof(*ch));
	mx_map *seen = map_new(256), *k = map_new(64), *want = map_new(64), *anc = map_new(64);
	mxdb_status s = ch && seen && k && want && anc ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "state diff");
	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	for (size_t i = 0; s == MXDB_OK && i < n; i++)
		if ((s = chain_of(c, sgs[i], &ch[i], err)) == MXDB_OK && (out[i] = map_new(64)) == NULL)
			s = mx_fail(err, MXDB_ENOMEM, "state diff");
	/* The deepest group on every chain: base links land on checkpoints
	 * exactly, so chains that meet share everything below. */
	for (size_t i = 0; s == MXDB_OK && i < n; i++)
		for (size_t g = 0; g < ch[i].n; g++) {
			uintptr_t cnt = (uintptr_t)map_get(seen, (const char *)&ch[i].sg[g], sizeof(int64_t));
			if (map_put(seen, (const char *)&ch[i].sg[g], sizeof(int64_t), (void *)(cnt + 1), NULL) != 0)
				s = mx_fail(err, MXDB_ENOMEM, "state diff");
		}
	size_t at = n > 0 ? ch[0].n : 0; /* the common ancestor's index in chain 0 */
	for (size_t g = 0; s == MXDB_OK && n > 0 && g < ch[0].n && at == ch[0].n; g++)
		if ((uintptr_t)map_get(seen, (const char *)&ch[0].sg[g], sizeof(int64_t)) == n)
			at = g;
	int64_t common = n > 0 && at < ch[0].n ? ch[0].sg[at] : 0;
	for (size_t i = 0; s == MXDB_OK && i < n; i++)
		for (size_t g = 0; s == MXDB_OK && g < ch[i].n && ch[i].sg[g] != common; g++)
			s = take_deltas(c, ch[i].sg[g], out[i], k, err);
	/* A key one chain changed and another did not: the latter holds the
	 * common ancestor's value. */
	size_t it = 0, kl;
	const char *key;
	for (size_t i = 0; s == MXDB_OK && i < n; i++) {
		it = 0;
		while (s == MXDB_OK && map_next(k, &it, &key, &kl, NULL))
			if (!map_has(out[i], key, kl) && map_put(want, key, kl, NULL, NULL) != 0)
				s = mx_fail(err, MXDB_ENOMEM, "state diff");
	}
	if (s == MXDB_OK && n > 0)
		s = chain_values(c, &ch[0], at, want, anc, err);
	for (size_t i = 0; s == MXDB_OK && i < n; i++) {
		it = 0;
		while (s == MXDB_OK && map_next(k, &it, &key, &kl, NULL))
			if (!map_has(out[i], key, kl) &&
			    map_put(out[i], key, kl, map_get(anc, key, kl), NULL) != 0)
				s = mx_fail(err, MXDB_ENOMEM, "state diff");
	}
	for (size_t i = 0; ch != NULL && i < n; i++) {
		free(ch[i].sg);
		free(ch[i].depth);
	}
	free(ch);
	map_free(seen, NULL);
	map_free(k, NULL);
	map_free(want, NULL);
	map_free(anc, NULL);
	for (size_t i = 0; s != MXDB_OK && i < n; i++)
		if (out[i]) {
			map_free(out[i], NULL);
			out[i] = NULL;
		}
	return s;
}
