/*
 * authchain.c: the auth-DAG index of one state resolution. Owns the node
 * table (every event the resolution touches, interned once, with its auth
 * edges as node indices) and the walks over it: full auth chains, the auth
 * difference and v2.1's conflicted state subgraph.
 *
 * Each walk visits a node at most once (per-node stamps), so the cost is
 * linear in the part of the auth DAG it needs. The auth difference never
 * walks what is common to every state set: the auth chains of the
 * unconflicted events are in every full auth chain, so they are marked once
 * (sr_mark_common) and every per-set walk stops at them. Only the conflicted
 * part of the DAG is then walked once per state set.
 *
 * Never decides anything about the algorithm's order or the auth rules.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "stateres_internal.h"

int sr_list_push(sr_list *l, uint32_t x)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		uint32_t *nv = realloc(l->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = x;
	return 0;
}

void sr_list_free(sr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

mxdb_status sr_ctx_init(sr_ctx *c, const mx_room_version *rv, const sr_lookup *lookup,
                        size_t hint, mxdb_error *err)
{
	memset(c, 0, sizeof(*c));
	c->rv = rv;
	c->lookup = lookup;
	c->err = err;
	c->index = map_new(hint);
	if (c->index == NULL)
		return mx_fail(err, MXDB_ENOMEM, "state resolution: out of memory");
	return MXDB_OK;
}

void sr_ctx_free(sr_ctx *c)
{
	map_free(c->index, NULL);
	free(c->nodes);
	free(c->edges);
	free(c->stack);
	memset(c, 0, sizeof(*c));
}

static mxdb_status oom(sr_ctx *c)
{
	return mx_fail(c->err, MXDB_ENOMEM, "state resolution: out of memory");
}

mxdb_status sr_intern(sr_ctx *c, const char *event_id, uint32_t *out)
{
	size_t len = strlen(event_id);
	void *v = map_get(c->index, event_id, len);
	if (v != NULL) {
		*out = (uint32_t)((uintptr_t)v - 1);
		return MXDB_OK;
	}
	const ev_t *ev = c->lookup->get(c->lookup->ctx, event_id);
	if (ev == NULL)
		return mx_fail(c->err, MXDB_ENOTFOUND, "state resolution: unknown event %s", event_id);
	if (c->n_nodes == c->cap) {
		uint32_t ncap = c->cap ? c->cap * 2 : 64;
		sr_node *nn = realloc(c->nodes, ncap * sizeof(*nn));
		if (nn == NULL)
			return oom(c);
		c->nodes = nn;
		c->cap = ncap;
	}
	uint32_t idx = c->n_nodes;
	if (map_put(c->index, event_id, len, (void *)(uintptr_t)(idx + 1), NULL) != 0)
		return oom(c);
	c->nodes[idx] = (sr_node){.ev = ev};
	c->n_nodes++;
	*out = idx;
	return MXDB_OK;
}

mxdb_status sr_edges(sr_ctx *c, uint32_t n)
{
	if (c->nodes[n].flags & SR_EDGES)
		return MXDB_OK;
	const ev_t *ev = c->nodes[n].ev;
	if (c->n_edges + ev->n_auth > c->edges_cap) {
		size_t ncap = c->edges_cap ? c->edges_cap * 2 : 256;
		while (ncap < c->n_edges + ev->n_auth)
			ncap *= 2;
		uint32_t *ne = realloc(c->edges, ncap * sizeof(*ne));
		if (ne == NULL)
			return oom(c);
		c->edges = ne;
		c->edges_cap = ncap;
	}
	/* Interning adds nodes, never edges, so the slots stay ours. */
	size_t off = c->n_edges;
	for (size_t i = 0; i < ev->n_auth; i++) {
		uint32_t a = 0;
		mxdb_status rc = sr_intern(c, ev->auth_events[i], &a);
		if (rc != MXDB_OK)
			return rc;
		c->edges[off + i] = a;
	}
	c->n_edges += ev->n_auth;
	c->nodes[n].auth_off = (uint32_t)off;
	c->nodes[n].n_auth = (uint32_t)ev->n_auth;
	c->nodes[n].flags |= SR_EDGES;
	return MXDB_OK;
}

static mxdb_status push(sr_ctx *c, size_t *top, uint32_t n)
{
	if (*top == c->stack_cap) {
		size_t ncap = c->stack_cap ? c->stack_cap * 2 : 256;
		uint32_t *ns = realloc(c->stack, ncap * sizeof(*ns));
		if (ns == NULL)
			return oom(c);
		c->stack = ns;
		c->stack_cap = ncap;
	}
	c->stack[(*top)++] = n;
	return MXDB_OK;
}

/* Marks n common and queues its auth events, unless an earlier path did:
 * every node is expanded once however many events cite it. */
static mxdb_status push_common(sr_ctx *c, size_t *top, uint32_t n)
{
	if (c->nodes[n].flags & SR_COMMON)
		return MXDB_OK;
	c->nodes[n].flags |= SR_COMMON;
	return push(c, top, n);
}

/* Expands the common marks from the nodes queued on the stack. */
static mxdb_status expand_common(sr_ctx *c, size_t top)
{
	mxdb_status rc;
	while (top > 0) {
		uint32_t n = c->stack[--top];
		if ((rc = sr_edges(c, n)) != MXDB_OK)
			return rc;
		for (uint32_t i = 0; i < c->nodes[n].n_auth; i++)
			if ((rc = push_common(c, &top, sr_auth_of(c, n)[i])) != MXDB_OK)
				return rc;
	}
	return MXDB_OK;
}

mxdb_status sr_mark_common(sr_ctx *c, const char *event_id)
{
	/* The unconflicted event itself is not interned: most of them are rows
	 * nothing cites, and only their auth events matter here. */
	const ev_t *ev = c->lookup->get(c->lookup->ctx, event_id);
	if (ev == NULL)
		return mx_fail(c->err, MXDB_ENOTFOUND, "state resolution: unknown event %s", event_id);
	size_t top = 0;
	mxdb_status rc;
	for (size_t i = 0; i < ev->n_auth; i++) {
		uint32_t a = 0; /* set by sr_intern; gcc -O2 cannot tell */
		if ((rc = sr_intern(c, ev->auth_events[i], &a)) != MXDB_OK ||
		    (rc = push_common(c, &top, a)) != MXDB_OK)
			return rc;
	}
	return expand_common(c, top);
}

mxdb_status sr_mark_common_event(sr_ctx *c, const char *event_id)
{
	uint32_t a = 0;
	size_t top = 0;
	mxdb_status rc;
	if ((rc = sr_intern(c, event_id, &a)) != MXDB_OK || (rc = push_common(c, &top, a)) != MXDB_OK)
		return rc;
	return expand_common(c, top);
}

/* Walks the auth chains of set[] under a fresh stamp, calling visit() once
 * per node reached. prune: do not enter nodes marked common. */
static mxdb_status walk(sr_ctx *c, const uint32_t *set, size_t n, bool prune,
                        int (*visit)(sr_ctx *, uint32_t, void *), void *arg)
{
	uint32_t stamp = ++c->stamp;
	size_t top = 0;
	mxdb_status rc;
	for (size_t s = 0; s < n; s++) {
		if (prune && (c->nodes[set[s]].flags & SR_COMMON))
			continue;
		if ((rc = push(c, &top, set[s])) != MXDB_OK)
			return rc;
		/* Start events are expanded but not visited: an event is not in
		 * its own auth chain. */
		while (top > 0) {
			uint32_t x = c->stack[--top];
			if ((rc = sr_edges(c, x)) != MXDB_OK)
				return rc;
			for (uint32_t i = 0; i < c->nodes[x].n_auth; i++) {
				uint32_t a = sr_auth_of(c, x)[i];
				sr_node *na = &c->nodes[a];
				if (na->stamp == stamp || (prune && (na->flags & SR_COMMON)))
					continue;
				na->stamp = stamp;
				if (visit(c, a, arg) != 0)
					return oom(c);
				if ((rc = push(c, &top, a)) != MXDB_OK)
					return rc;
			}
		}
	}
	return MXDB_OK;
}

static int visit_collect(sr_ctx *c, uint32_t n, void *arg)
{
	(void)c;
	return sr_list_push(arg, n);
}

mxdb_status sr_full_auth_chain(sr_ctx *c, const uint32_t *set, size_t n, sr_list *out)
{
	return walk(c, set, n, false, visit_collect, out);
}

static int visit_count(sr_ctx *c, uint32_t n, void *arg)
{
	sr_node *x = &c->nodes[n];
	x->count++;
	if (x->flags & SR_TOUCHED)
		return 0;
	x->flags |= SR_TOUCHED;
	return sr_list_push(arg, n);
}

mxdb_status sr_auth_difference(sr_ctx *c, const sr_list *sets, size_t n_sets, sr_list *out)
{
	sr_list touched = {0};
	mxdb_status rc = MXDB_OK;
	for (size_t i = 0; i < n_sets && rc == MXDB_OK; i++)
		rc = walk(c, sets[i].v, sets[i].n, true, visit_count, &touched);
	for (size_t i = 0; i < touched.n; i++) {
		sr_node *x = &c->nodes[touched.v[i]];
		if (rc == MXDB_OK && x->count < n_sets && sr_list_push(out, touched.v[i]) != 0)
			rc = oom(c);
		x->count = 0;
		x->flags &= ~(uint32_t)SR_TOUCHED;
	}
	sr_list_free(&touched);
	return rc;
}

/* One frame of the subgraph's depth-first walk: a node and its next edge. */
typedef struct frame {
	uint32_t node, next;
} frame;

static mxdb_status push_frame(sr_ctx *c, frame **st, size_t *top, size_t *cap, uint32_t node)
{
	if (*top == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		frame *ns = realloc(*st, ncap * sizeof(*ns));
		if (ns == NULL)
			return oom(c);
		*st = ns;
		*cap = ncap;
	}
	(*st)[(*top)++] = (frame){node, 0};
	return MXDB_OK;
}

mxdb_status sr_conflicted_subgraph(sr_ctx *c, const uint32_t *conflicted, size_t n, sr_list *out)
{
	bool common_conflicted = false;
	for (size_t i = 0; i < n; i++) {
		c->nodes[conflicted[i]].flags |= SR_CONFLICTED;
		if (c->nodes[conflicted[i]].flags & SR_COMMON)
			common_conflicted = true;
	}
	/* A path ending at a conflicted event only runs through events whose
	 * auth chain holds that event. When no conflicted event is common, no
	 * common event can lie on such a path: the walk stops at them. */
	bool prune = !common_conflicted;
	uint32_t stamp = ++c->stamp;
	frame *st = NULL;
	size_t top = 0, cap = 0;
	sr_list seen = {0};
	mxdb_status rc = MXDB_OK;

	for (size_t s = 0; s < n && rc == MXDB_OK; s++) {
		uint32_t root = conflicted[s];
		if (c->nodes[root].stamp == stamp)
			continue;
		c->nodes[root].stamp = stamp;
		if (sr_list_push(&seen, root) != 0 || (rc = sr_edges(c, root)) != MXDB_OK) {
			rc = rc != MXDB_OK ? rc : oom(c);
			break;
		}
		if ((rc = push_frame(c, &st, &top, &cap, root)) != MXDB_OK)
			break;
		while (top > 0 && rc == MXDB_OK) {
			frame *f = &st[top - 1];
			sr_node *x = &c->nodes[f->node];
			if (f->next == x->n_auth) {
				if (x->flags & SR_CONFLICTED)
					x->flags |= SR_REACH;
				top--;
				if (top > 0 && (x->flags & SR_REACH))
					c->nodes[st[top - 1].node].flags |= SR_REACH;
				continue;
			}
			uint32_t a = sr_auth_of(c, f->node)[f->next++];
			sr_node *na = &c->nodes[a];
			if (na->stamp == stamp) {
				/* Already walked (a DAG has no back edges): take its answer. */
				if (na->flags & SR_REACH)
					x->flags |= SR_REACH;
				continue;
			}
			na->stamp = stamp;
			if (sr_list_push(&seen, a) != 0) {
				rc = oom(c);
				break;
			}
			if (prune && (na->flags & SR_COMMON))
				continue;
			if ((rc = sr_edges(c, a)) != MXDB_OK ||
			    (rc = push_frame(c, &st, &top, &cap, a)) != MXDB_OK)
				break;
		}
	}
	for (size_t i = 0; i < seen.n; i++) {
		sr_node *x = &c->nodes[seen.v[i]];
		if (rc == MXDB_OK && (x->flags & SR_REACH) && sr_list_push(out, seen.v[i]) != 0)
			rc = oom(c);
		x->flags &= ~(uint32_t)SR_REACH;
	}
	free(st);
	sr_list_free(&seen);
	return rc;
}
