/*
 * fed_state.c: states before and after remote events, their authorization,
 * and state differences. Pure functions over maps and a lookup.
 */
#include <stdlib.h>
#include <string.h>

#include "fed_state.h"

mx_map *fed_state_copy(const mx_map *state)
{
	mx_map *m = map_new(map_count(state));
	size_t it = 0, kl;
	const char *k;
	void *v;
	while (m && map_next(state, &it, &k, &kl, &v)) {
		char *id = strdup(v);
		if (id == NULL || map_put(m, k, kl, id, NULL) != 0) {
			free(id);
			map_free(m, free);
			return NULL;
		}
	}
	return m;
}

mxdb_status fed_state_before(const mx_room_version *rv, mx_map *const *after_prev, size_t n,
                             const sr_lookup *lookup, mx_map **out, mxdb_error *err)
{
	*out = n == 0 ? map_new(16) : n == 1 ? fed_state_copy(after_prev[0]) : NULL;
	if (n > 1)
		return sr_resolve(rv, after_prev, n, lookup, out, err);
	return *out ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "state copy");
}

mxdb_status fed_state_apply(mx_map *state, const ev_t *ev, mxdb_error *err)
{
	if (ev->rejected || !ev_is_state(ev))
		return MXDB_OK;
	char key[2 * EV_MAX_ID + 8];
	size_t kl = map_state_key(key, sizeof(key), ev->type, ev->state_key);
	char *id = strdup(ev->event_id);
	void *old = NULL;
	if (kl == 0 || id == NULL || map_put(state, key, kl, id, &old) != 0) {
		free(id);
		return mx_fail(err, MXDB_ENOMEM, "state apply");
	}
	free(old);
	return MXDB_OK;
}

static const ev_t *map_get_ev(void *ctx, const char *type, const char *state_key)
{
	fed_map_ctx *c = ctx;
	char key[2 * EV_MAX_ID + 8];
	size_t kl = map_state_key(key, sizeof(key), type, state_key);
	const char *id = kl ? map_get(c->state, key, kl) : NULL;
	return id ? c->lookup->get(c->lookup->ctx, id) : NULL;
}

static const ev_t *lookup_ev(void *ctx, const char *event_id)
{
	fed_map_ctx *c = ctx;
	return c->lookup->get(c->lookup->ctx, event_id);
}

/* Auth state over the event's own auth events. */
typedef struct auth_ev_ctx {
	const ev_t *ev;
	const sr_lookup *lookup;
} auth_ev_ctx;

static const ev_t *auth_ev_get(void *ctx, const char *type, const char *state_key)
{
	auth_ev_ctx *c = ctx;
	for (size_t i = 0; i < c->ev->n_auth; i++) {
		const ev_t *a = c->lookup->get(c->lookup->ctx, c->ev->auth_events[i]);
		if (a && a->state_key && strcmp(a->type, type) == 0 && strcmp(a->state_key, state_key) == 0)
			return a;
	}
	return NULL;
}

static const ev_t *auth_ev_event(void *ctx, const char *event_id)
{
	auth_ev_ctx *c = ctx;
	return c->lookup->get(c->lookup->ctx, event_id);
}

void fed_map_auth_state(fed_map_ctx *ctx, const mx_map *state, const sr_lookup *lookup,
                        auth_state *out)
{
	ctx->state = state;
	ctx->lookup = lookup;
	*out = (auth_state){.get = map_get_ev, .event = lookup_ev, .ctx = ctx};
}

mxdb_status fed_authorize(const ev_t *ev, const auth_state *before, const sr_lookup *lookup,
                          mxdb_error *err)
{
	auth_ev_ctx ac = {ev, lookup};
	auth_state by_auth = {.get = auth_ev_get, .event = auth_ev_event, .ctx = &ac};
	mxdb_status st = auth_check(ev, &by_auth, err);
	if (st != MXDB_OK || before == NULL)
		return st;
	return auth_check(ev, before, err);
}

void fed_state_diff(const mx_map *old_state, const mx_map *new_state, fed_diff_fn fn, void *ctx)
{
	size_t it = 0, kl;
	const char *k;
	void *v;
	while (map_next(new_state, &it, &k, &kl, &v)) {
		const char *was = map_get(old_state, k, kl);
		if (was == NULL || strcmp(was, v) != 0)
			fn(ctx, k, kl, was, v);
	}
	it = 0;
	while (map_next(old_state, &it, &k, &kl, &v))
		if (!map_has(new_state, k, kl))
			fn(ctx, k, kl, v, NULL);
}
