/*
 * stateres.c: state resolution v2 (rooms v2..v11) and v2.1 (room v12), the
 * algorithm of the spec's rooms/fragments/v2-state-res.md and rooms/v12.md:
 * the split into unconflicted and conflicted state, the full conflicted set,
 * the two iterative auth-check passes and the final merge. The auth-DAG walks
 * live in authchain.c, the orderings in stateres_sort.c.
 *
 * The unconflicted part costs O(N) map operations and is never copied into
 * the working state: the partially resolved state is an overlay (the events
 * the checks admitted) over the unconflicted map (v2) or over nothing (v2.1).
 * Only the full conflicted set reaches the sorts and the auth rules.
 *
 * Owns nothing beyond one call; never fetches events except through the
 * caller's sr_lookup, never prints.
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "err.h"
#include "stateres_internal.h"

#define KEY_CAP (2 * EV_MAX_ID + 4)

/* ---- unconflicted / conflicted ------------------------------------------ */

static int idset_add(sr_idset *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->ids[i], id) == 0)
			return 0;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 2;
		const char **ni = realloc(s->ids, ncap * sizeof(*ni));
		if (ni == NULL)
			return -1;
		s->ids = ni;
		s->cap = ncap;
	}
	s->ids[s->n++] = id;
	return 0;
}

void sr_idset_free(void *p)
{
	sr_idset *s = p;
	if (s != NULL)
		free(s->ids);
	free(s);
}

/* The distinct values every set holds for key, into a new conflicted entry. */
static int add_conflicted(mx_map *conf, mx_map *const *sets, size_t n, const char *key, size_t klen)
{
	sr_idset *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -1;
	for (size_t j = 0; j < n; j++) {
		const char *v = map_get(sets[j], key, klen);
		if (v != NULL && idset_add(s, v) != 0) {
			sr_idset_free(s);
			return -1;
		}
	}
	if (map_put(conf, key, klen, s, NULL) != 0) {
		sr_idset_free(s);
		return -1;
	}
	return 0;
}

mxdb_status sr_split(mx_map *const *sets, size_t n, mx_map **conflicted, mxdb_error *err)
{
	mx_map *conf = map_new(16);
	size_t *shared = calloc(n ? n : 1, sizeof(*shared)); /* keys of sets[i] also in sets[0] */
	if (conf == NULL || shared == NULL)
		goto nomem;
	for (size_t j = 0; j < n; j++) {
		/* A set whose keys all lie in sets[0] holds nothing new. */
		if (j > 0 && shared[j] == map_count(sets[j]))
			continue;
		size_t it = 0, klen;
		const char *key;
		void *v;
		while (map_next(sets[j], &it, &key, &klen, &v)) {
			bool same = j == 0;
			if (j == 0) {
				for (size_t i = 1; i < n; i++) {
					const char *w = map_get(sets[i], key, klen);
					shared[i] += w != NULL;
					same = same && w != NULL && strcmp(w, v) == 0;
				}
			} else if (map_has(sets[0], key, klen) || map_has(conf, key, klen)) {
				continue; /* settled while walking sets[0], or already conflicted */
			}
			if (!same && add_conflicted(conf, sets, n, key, klen) != 0)
				goto nomem;
		}
	}
	free(shared);
	*conflicted = conf;
	return MXDB_OK;
nomem:
	free(shared);
	map_free(conf, sr_idset_free);
	return mx_fail(err, MXDB_ENOMEM, "state resolution: out of memory");
}

const char *sr_unconflicted(mx_map *const *sets, size_t n, const mx_map *conflicted,
                            const char *key, size_t klen)
{
	if (n == 0 || map_has(conflicted, key, klen))
		return NULL;
	return map_get(sets[0], key, klen);
}

/* ---- iterative auth checks ------------------------------------------------ */

/* The unconflicted event at key: sets[0]'s unless the key is conflicted;
 * a key no set lists (not conflicted, so absent from every set) is the
 * common part's. */
static const char *unconflicted_at(mx_map *const *sets, size_t n, const mx_map *conf,
                                   const sr_base *common, const char *key, size_t klen)
{
	const char *id = sr_unconflicted(sets, n, conf, key, klen);
	if (id == NULL && common != NULL && !map_has(conf, key, klen))
		id = common->get(common->ctx, key, klen);
	return id;
}

const ev_t *sr_partial_get(const sr_partial *p, const char *key, size_t klen)
{
	const ev_t *ev = map_get(p->over, key, klen);
	if (ev != NULL || p->base == NULL)
		return ev;
	const char *id = unconflicted_at(&p->base, 1, p->conflicted, p->common, key, klen);
	return id != NULL ? p->c->lookup->get(p->c->lookup->ctx, id) : NULL;
}

/* The state one event is checked against: its own auth events, overridden
 * by the partially resolved state at the keys the auth rules select. */
typedef struct check_state {
	const sr_ctx *c;
	uint32_t node;
	auth_key keys[AUTH_MAX_KEYS];
	const ev_t *resolved[AUTH_MAX_KEYS];
	size_t n_keys;
} check_state;

static bool is_key(const ev_t *ev, const char *type, const char *state_key)
{
	return ev->state_key != NULL && strcmp(ev->type, type) == 0 &&
	       strcmp(ev->state_key, state_key) == 0;
}

static const ev_t *check_get(void *arg, const char *type, const char *state_key)
{
	const check_state *cs = arg;
	const sr_ctx *c = cs->c;
	for (size_t k = 0; k < cs->n_keys; k++)
		if (cs->resolved[k] != NULL && strcmp(cs->keys[k].type, type) == 0 &&
		    strcmp(cs->keys[k].state_key, state_key) == 0)
			return cs->resolved[k];
	/* Later duplicates win, as a map built from the list would have it. */
	const sr_node *x = &c->nodes[cs->node];
	for (uint32_t i = x->n_auth; i-- > 0;) {
		const ev_t *a = c->nodes[sr_auth_of(c, cs->node)[i]].ev;
		if (!a->rejected && is_key(a, type, state_key))
			return a;
	}
	/* Room v12 never lists the create event: the room ID names it. */
	const char *rid = x->ev->room_id;
	if (c->rv->room_id_from_create && rid != NULL && rid[0] == '!' &&
	    strcmp(type, "m.room.create") == 0 && state_key[0] == '\0') {
		char id[EV_MAX_ID + 2];
		size_t n = strlen(rid);
		if (n > EV_MAX_ID)
			return NULL;
		id[0] = '$';
		memcpy(id + 1, rid + 1, n);
		return c->lookup->get(c->lookup->ctx, id);
	}
	return NULL;
}

mxdb_status sr_iterate(sr_ctx *c, sr_partial *p, const uint32_t *events, size_t n)
{
	char key[KEY_CAP];
	mxdb_status rc;
	for (size_t i = 0; i < n; i++) {
		const ev_t *ev = c->nodes[events[i]].ev;
		/* Previously rejected events stay out of the state. */
		if (ev->state_key == NULL || ev->rejected)
			continue;
		if ((rc = sr_edges(c, events[i])) != MXDB_OK)
			return rc;
		check_state cs = {.c = c, .node = events[i]};
		cs.n_keys = auth_types_for_event(c->rv, ev->type, ev->state_key, ev->sender,
		                                 ev->content, cs.keys, AUTH_MAX_KEYS);
		for (size_t k = 0; k < cs.n_keys; k++) {
			size_t kl = map_state_key(key, sizeof(key), cs.keys[k].type, cs.keys[k].state_key);
			const ev_t *r = kl > 0 ? sr_partial_get(p, key, kl) : NULL;
			cs.resolved[k] = r != NULL && !r->rejected ? r : NULL;
		}
		auth_state st = {.get = check_get, .ctx = &cs};
		mxdb_error why;
		if (auth_check(ev, &st, &why) != MXDB_OK)
			continue;
		size_t kl = map_state_key(key, sizeof(key), ev->type, ev->state_key);
		if (kl == 0)
			continue;
		if (map_put(p->over, key, kl, (void *)ev, NULL) != 0)
			return mx_fail(c->err, MXDB_ENOMEM, "state resolution: out of memory");
	}
	return MXDB_OK;
}

/* ---- the algorithm ------------------------------------------------------------ */

static mxdb_status put_copy(mx_map *to, const char *key, size_t klen, const char *id,
                            mxdb_error *err)
{
	char *dup = strdup(id);
	if (dup == NULL || map_put(to, key, klen, dup, NULL) != 0) {
		free(dup);
		return mx_fail(err, MXDB_ENOMEM, "state resolution: out of memory");
	}
	return MXDB_OK;
}

/* The unconflicted state into out: the keys of sets[0] not conflicted. */
static mxdb_status copy_unconflicted(mx_map *const *sets, size_t n, const mx_map *conf,
                                     mx_map *out, mxdb_error *err)
{
	size_t it = 0, klen;
	const char *key;
	void *v;
	mxdb_status rc = MXDB_OK;
	while (n > 0 && rc == MXDB_OK && map_next(sets[0], &it, &key, &klen, &v))
		if (!map_has(conf, key, klen))
			rc = put_copy(out, key, klen, v, err);
	return rc;
}

/* Adds node x to the full conflicted set (once). */
static int add_full(sr_ctx *c, sr_list *full, uint32_t x)
{
	if (c->nodes[x].flags & SR_FULL)
		return 0;
	c->nodes[x].flags |= SR_FULL;
	return sr_list_push(full, x);
}

mxdb_status sr_full_conflicted_set(sr_ctx *c, mx_map *const *sets, size_t n, const mx_map *conf,
                                   sr_list *diff, sr_list *full)
{
	sr_list *per_set = calloc(n ? n : 1, sizeof(*per_set));
	sr_list conflicted = {0}, extra = {0};
	mxdb_status rc = MXDB_OK;
	size_t it, klen;
	const char *key;
	void *v;
	if (per_set == NULL)
		goto nomem;

	/* What every state set shares: the auth chains of the unconflicted events. */
	it = 0;
	while (n > 0 && map_next(sets[0], &it, &key, &klen, &v))
		if (!map_has(conf, key, klen) && (rc = sr_mark_common(c, v)) != MXDB_OK)
			goto done;

	/* The conflicted state set, and each set's share of it. */
	it = 0;
	while (map_next(conf, &it, &key, &klen, &v)) {
		for (size_t j = 0; j < n; j++) {
			const char *id = map_get(sets[j], key, klen);
			uint32_t x;
			if (id == NULL)
				continue;
			if ((rc = sr_intern(c, id, &x)) != MXDB_OK)
				goto done;
			if (sr_list_push(&per_set[j], x) != 0)
				goto nomem;
			if (!(c->nodes[x].flags & SR_CONFLICTED)) {
				c->nodes[x].flags |= SR_CONFLICTED;
				if (sr_list_push(&conflicted, x) != 0)
					goto nomem;
			}
		}
	}

	/* conflicted ∪ auth difference (∪ the v2.1 conflicted subgraph) */
	for (size_t i = 0; i < conflicted.n; i++)
		if (add_full(c, full, conflicted.v[i]) != 0)
			goto nomem;
	if ((rc = sr_auth_difference(c, per_set, n, &extra)) != MXDB_OK)
		goto done;
	for (size_t i = 0; diff != NULL && i < extra.n; i++)
		if (sr_list_push(diff, extra.v[i]) != 0)
			goto nomem;
	if (c->rv->stateres == MX_STATERES_V2_1 &&
	    (rc = sr_conflicted_subgraph(c, conflicted.v, conflicted.n, &extra)) != MXDB_OK)
		goto done;
	for (size_t i = 0; i < extra.n; i++)
		if (add_full(c, full, extra.v[i]) != 0)
			goto nomem;
	goto done;
nomem:
	rc = mx_fail(c->err, MXDB_ENOMEM, "state resolution: out of memory");
done:
	for (size_t j = 0; per_set != NULL && j < n; j++)
		sr_list_free(&per_set[j]);
	free(per_set);
	sr_list_free(&conflicted);
	sr_list_free(&extra);
	return rc;
}

/* Everything after the split, for a resolution with conflicts. common: the
 * part of the sets outside sets[i] (NULL: the sets are whole). */
static mxdb_status resolve_conflicts(sr_ctx *c, mx_map *const *sets, size_t n,
                                     const mx_map *conf, const sr_base *common, mx_map *out)
{
	sr_list full = {0}, power = {0}, rest = {0};
	sr_partial p = {.c = c, .over = map_new(map_count(conf) * 2),
	                .base = c->rv->stateres == MX_STATERES_V2_1 ? NULL : sets[0],
	                .conflicted = conf, .common = common};
	mxdb_status rc = MXDB_OK;
	size_t it, klen;
	const char *key;
	void *v;
	if (p.over == NULL)
		goto nomem;
	/* The common part's auth chains are in every set's full auth chain. */
	for (size_t i = 0; common != NULL && i < common->n_auth_ids; i++)
		if ((rc = sr_mark_common_event(c, common->auth_ids[i])) != MXDB_OK)
			goto done;
	if ((rc = sr_full_conflicted_set(c, sets, n, conf, NULL, &full)) != MXDB_OK)
		goto done;

	/* Steps 1-2: power events in reverse topological power order, checked
	 * against the unconflicted state (v2) or the empty state (v2.1). */
	if ((rc = sr_power_sort(c, full.v, full.n, &power)) != MXDB_OK ||
	    (rc = sr_iterate(c, &p, power.v, power.n)) != MXDB_OK)
		goto done;

	/* Steps 3-4: the rest in mainline order of the resolved power levels. */
	for (size_t i = 0; i < full.n; i++)
		if (!(c->nodes[full.v[i]].flags & SR_POWER_SET) && sr_list_push(&rest, full.v[i]) != 0)
			goto nomem;
	char plkey[32];
	size_t pll = map_state_key(plkey, sizeof(plkey), "m.room.power_levels", "");
	const ev_t *pl = sr_partial_get(&p, plkey, pll);
	uint32_t pl_node = SR_NONE;
	if (pl != NULL && (rc = sr_intern(c, pl->event_id, &pl_node)) != MXDB_OK)
		goto done;
	if ((rc = sr_mainline_sort(c, pl_node, rest.v, rest.n)) != MXDB_OK ||
	    (rc = sr_iterate(c, &p, rest.v, rest.n)) != MXDB_OK)
		goto done;

	/* Step 5: the unconflicted state wins over whatever the checks put there. */
	if ((rc = copy_unconflicted(sets, n, conf, out, c->err)) != MXDB_OK)
		goto done;
	it = 0;
	while (map_next(p.over, &it, &key, &klen, &v))
		if (unconflicted_at(sets, n, conf, common, key, klen) == NULL &&
		    (rc = put_copy(out, key, klen, ((const ev_t *)v)->event_id, c->err)) != MXDB_OK)
			goto done;
	goto done;
nomem:
	rc = mx_fail(c->err, MXDB_ENOMEM, "state resolution: out of memory");
done:
	sr_list_free(&full);
	sr_list_free(&power);
	sr_list_free(&rest);
	map_free(p.over, NULL);
	return rc;
}

/* sr_resolve and sr_resolve_part: the sets are whole when common is NULL. */
static mxdb_status resolve(const mx_room_version *rv, mx_map *const *state_sets, size_t n,
                           const sr_base *common, const sr_lookup *lookup, mx_map **out,
                           mxdb_error *err)
{
	if (rv == NULL || lookup == NULL || lookup->get == NULL || out == NULL ||
	    (n > 0 && state_sets == NULL))
		return mx_fail(err, MXDB_EINVAL, "sr_resolve: missing argument");
	for (size_t i = 0; i < n; i++)
		if (state_sets[i] == NULL)
			return mx_fail(err, MXDB_EINVAL, "sr_resolve: state set %zu is NULL", i);
	*out = NULL;
	mx_map *conf = NULL;
	mxdb_status rc = sr_split(state_sets, n, &conf, err);
	if (rc != MXDB_OK)
		return rc;
	mx_map *res = map_new(n > 0 ? map_count(state_sets[0]) + map_count(conf) : 0);
	if (res == NULL) {
		rc = mx_fail(err, MXDB_ENOMEM, "state resolution: out of memory");
	} else if (map_count(conf) == 0) {
		rc = copy_unconflicted(state_sets, n, conf, res, err);
	} else {
		sr_ctx c;
		if ((rc = sr_ctx_init(&c, rv, lookup, map_count(conf) * 8, err)) == MXDB_OK) {
			rc = resolve_conflicts(&c, state_sets, n, conf, common, res);
			sr_ctx_free(&c);
		}
	}
	map_free(conf, sr_idset_free);
	if (rc != MXDB_OK) {
		map_free(res, free);
		return rc;
	}
	mx_clear(err);
	*out = res;
	return MXDB_OK;
}

mxdb_status sr_resolve(const mx_room_version *rv, mx_map *const *state_sets, size_t n,
                       const sr_lookup *lookup, mx_map **out, mxdb_error *err)
{
	return resolve(rv, state_sets, n, NULL, lookup, out, err);
}

mxdb_status sr_resolve_part(const mx_room_version *rv, mx_map *const *parts, size_t n,
                            const sr_base *base, const sr_lookup *lookup, mx_map **out,
                            mxdb_error *err)
{
	if (base == NULL || base->get == NULL || (base->n_auth_ids > 0 && base->auth_ids == NULL))
		return mx_fail(err, MXDB_EINVAL, "sr_resolve_part: missing common part");
	return resolve(rv, parts, n, base, lookup, out, err);
}
