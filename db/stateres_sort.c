/*
 * stateres_sort.c: the orderings of state resolution v2 — the reverse
 * topological power ordering (Kahn's algorithm with a heap, the spec's
 * tie-breaks) and the mainline ordering — and the sender power level they
 * need. Owns no state beyond one call; never applies auth rules.
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "err.h"
#include "stateres_internal.h"

/* ---- Kahn's algorithm ---------------------------------------------------- */

static bool key_less(const sr_sortkey *a, const sr_sortkey *b)
{
	if (a->power != b->power)
		return a->power > b->power;
	if (a->ts != b->ts)
		return a->ts < b->ts;
	return strcmp(a->id, b->id) < 0;
}

typedef struct heap {
	uint32_t *v;
	size_t n;
	const sr_sortkey *keys;
} heap;

static void heap_push(heap *h, uint32_t x)
{
	size_t i = h->n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!key_less(&h->keys[x], &h->keys[h->v[p]]))
			break;
		h->v[i] = h->v[p];
		i = p;
	}
	h->v[i] = x;
}

static uint32_t heap_pop(heap *h)
{
	uint32_t top = h->v[0], x = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const sr_sortkey *best = &h->keys[x];
		if (l < h->n && key_less(&h->keys[h->v[l]], best)) {
			m = l;
			best = &h->keys[h->v[l]];
		}
		if (r < h->n && key_less(&h->keys[h->v[r]], best))
			m = r;
		if (m == i)
			break;
		h->v[i] = h->v[m];
		i = m;
	}
	if (h->n > 0)
		h->v[i] = x;
	return top;
}

mxdb_status sr_topo_sort(size_t n, const sr_sortkey *keys, const uint32_t *ref_off,
                         const uint32_t *refs, uint32_t *order, mxdb_error *err)
{
	if (n == 0)
		return MXDB_OK;
	size_t n_refs = ref_off[n];
	uint32_t *pending = calloc(n, sizeof(*pending));
	uint32_t *rev_off = calloc(n + 1, sizeof(*rev_off));
	uint32_t *rev = malloc((n_refs ? n_refs : 1) * sizeof(*rev));
	uint32_t *heapv = malloc(n * sizeof(*heapv));
	mxdb_status rc = MXDB_OK;
	if (pending == NULL || rev_off == NULL || rev == NULL || heapv == NULL) {
		rc = mx_fail(err, MXDB_ENOMEM, "state resolution: out of memory");
		goto done;
	}
	/* Reverse edges (who references me), as a CSR array. */
	for (size_t i = 0; i < n; i++) {
		pending[i] = ref_off[i + 1] - ref_off[i];
		for (uint32_t k = ref_off[i]; k < ref_off[i + 1]; k++)
			rev_off[refs[k] + 1]++;
	}
	for (size_t i = 0; i < n; i++)
		rev_off[i + 1] += rev_off[i];
	uint32_t *fill = calloc(n, sizeof(*fill));
	if (fill == NULL) {
		rc = mx_fail(err, MXDB_ENOMEM, "state resolution: out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		for (uint32_t k = ref_off[i]; k < ref_off[i + 1]; k++)
			rev[rev_off[refs[k]] + fill[refs[k]]++] = (uint32_t)i;
	free(fill);

	heap h = {heapv, 0, keys};
	for (size_t i = 0; i < n; i++)
		if (pending[i] == 0)
			heap_push(&h, (uint32_t)i);
	size_t out = 0;
	while (h.n > 0) {
		uint32_t x = heap_pop(&h);
		order[out++] = x;
		for (uint32_t k = rev_off[x]; k < rev_off[x + 1]; k++)
			if (--pending[rev[k]] == 0)
				heap_push(&h, rev[k]);
	}
	if (out != n)
		rc = mx_fail(err, MXDB_EINVAL, "state resolution: the auth events form a cycle");
done:
	free(pending);
	free(rev_off);
	free(rev);
	free(heapv);
	return rc;
}

/* ---- sender power ------------------------------------------------------ */

typedef struct power_ctx {
	const sr_ctx *c;
	const ev_t *ev;
} power_ctx;

static const ev_t *lookup_event(void *arg, const char *event_id)
{
	const power_ctx *p = arg;
	return p->c->lookup->get(p->c->lookup->ctx, event_id);
}

/* The state of the sender-power rule: just the event's own auth events. */
static const ev_t *auth_event_get(void *arg, const char *type, const char *state_key)
{
	const power_ctx *p = arg;
	for (size_t i = 0; i < p->ev->n_auth; i++) {
		const ev_t *a = lookup_event(arg, p->ev->auth_events[i]);
		if (a != NULL && a->state_key != NULL && strcmp(a->type, type) == 0 &&
		    strcmp(a->state_key, state_key) == 0)
			return a;
	}
	return NULL;
}

int64_t sr_sender_power(const sr_ctx *c, const ev_t *ev)
{
	power_ctx p = {c, ev};
	auth_state st = {
		.get = auth_event_get, .event = lookup_event, .ctx = &p, .room_id = ev->room_id,
	};
	return auth_user_power(&st, c->rv, ev->sender);
}

bool sr_is_power_event(const ev_t *ev)
{
	if (ev->state_key == NULL)
		return false;
	if (ev->state_key[0] == '\0' &&
	    (strcmp(ev->type, "m.room.power_levels") == 0 || strcmp(ev->type, "m.room.join_rules") == 0 ||
	     strcmp(ev->type, "m.room.create") == 0))
		return true;
	if (strcmp(ev->type, "m.room.member") != 0)
		return false;
	json_t *m = json_object_get(ev->content, "membership");
	const char *ms = json_is_string(m) ? json_string_value(m) : "";
	return (strcmp(ms, "leave") == 0 || strcmp(ms, "ban") == 0) &&
	       strcmp(ev->sender, ev->state_key) != 0;
}

/* ---- reverse topological power ordering ---------------------------------- */

mxdb_status sr_power_sort(sr_ctx *c, const uint32_t *full, size_t n, sr_list *out)
{
	sr_list set = {0};
	sr_sortkey *keys = NULL;
	uint32_t *ref_off = NULL, *order = NULL;
	sr_list refs = {0};
	mxdb_status rc = MXDB_OK;

	/* X: the power events, then what their auth events reach inside the
	 * full conflicted set (walking only through it, as Synapse and Ruma
	 * do, so that X is closed under the edges the sort follows). */
	for (size_t i = 0; i < n; i++) {
		sr_node *x = &c->nodes[full[i]];
		if (!(x->flags & SR_POWER_SET) && sr_is_power_event(x->ev)) {
			x->flags |= SR_POWER_SET;
			if (sr_list_push(&set, full[i]) != 0)
				goto nomem;
		}
	}
	for (size_t i = 0; i < set.n; i++) {
		uint32_t x = set.v[i];
		if ((rc = sr_edges(c, x)) != MXDB_OK)
			goto done;
		for (uint32_t k = 0; k < c->nodes[x].n_auth; k++) {
			uint32_t a = sr_auth_of(c, x)[k];
			sr_node *na = &c->nodes[a];
			if ((na->flags & SR_FULL) && !(na->flags & SR_POWER_SET)) {
				na->flags |= SR_POWER_SET;
				if (sr_list_push(&set, a) != 0)
					goto nomem;
			}
		}
	}
	if (set.n == 0)
		goto done;

	keys = malloc(set.n * sizeof(*keys));
	ref_off = malloc((set.n + 1) * sizeof(*ref_off));
	order = malloc(set.n * sizeof(*order));
	if (keys == NULL || ref_off == NULL || order == NULL)
		goto nomem;
	for (size_t i = 0; i < set.n; i++)
		c->nodes[set.v[i]].local = (uint32_t)i;
	for (size_t i = 0; i < set.n; i++) {
		sr_node *x = &c->nodes[set.v[i]];
		if (!(x->flags & SR_POWER_KNOWN)) {
			x->power = sr_sender_power(c, x->ev);
			x->flags |= SR_POWER_KNOWN;
		}
		keys[i] = (sr_sortkey){x->power, x->ev->origin_server_ts, x->ev->event_id};
		ref_off[i] = (uint32_t)refs.n;
		for (uint32_t k = 0; k < x->n_auth; k++) {
			uint32_t a = sr_auth_of(c, set.v[i])[k];
			if ((c->nodes[a].flags & SR_POWER_SET) && sr_list_push(&refs, c->nodes[a].local) != 0)
				goto nomem;
		}
	}
	ref_off[set.n] = (uint32_t)refs.n;
	if ((rc = sr_topo_sort(set.n, keys, ref_off, refs.v, order, c->err)) != MXDB_OK)
		goto done;
	for (size_t i = 0; i < set.n; i++)
		if (sr_list_push(out, set.v[order[i]]) != 0)
			goto nomem;
	goto done;
nomem:
	rc = mx_fail(c->err, MXDB_ENOMEM, "state resolution: out of memory");
done:
	sr_list_free(&set);
	sr_list_free(&refs);
	free(keys);
	free(ref_off);
	free(order);
	return rc;
}

/* ---- mainline ordering ----------------------------------------------------- */

/* The m.room.power_levels event among node n's auth events, or SR_NONE. */
static mxdb_status pl_parent(sr_ctx *c, uint32_t n, uint32_t *out)
{
	mxdb_status rc = sr_edges(c, n);
	if (rc != MXDB_OK)
		return rc;
	*out = SR_NONE;
	for (uint32_t k = 0; k < c->nodes[n].n_auth; k++) {
		uint32_t a = sr_auth_of(c, n)[k];
		const ev_t *ev = c->nodes[a].ev;
		if (ev->state_key != NULL && ev->state_key[0] == '\0' &&
		    strcmp(ev->type, "m.room.power_levels") == 0) {
			*out = a;
			break;
		}
	}
	return MXDB_OK;
}

typedef struct mainline_key {
	int64_t pos;
	int64_t ts;
	const char *id;
	uint32_t node;
} mainline_key;

static int mainline_cmp(const void *pa, const void *pb)
{
	const mainline_key *a = pa, *b = pb;
	if (a->pos != b->pos)
		return a->pos > b->pos ? -1 : 1;
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return strcmp(a->id, b->id);
}

mxdb_status sr_mainline_sort(sr_ctx *c, uint32_t pl, uint32_t *events, size_t n)
{
	sr_list marked = {0}, path = {0};
	mainline_key *keys = NULL;
	mxdb_status rc = MXDB_OK;

	/* node.mainline (flag SR_MAINLINE) memoizes, for a power_levels event,
	 * its own index on the mainline, or else its nearest mainline ancestor's:
	 * the position of every event citing it. */
	int64_t pos = 0;
	for (uint32_t p = pl; p != SR_NONE;) {
		sr_node *x = &c->nodes[p];
		if (x->flags & SR_MAINLINE) {
			rc = mx_fail(c->err, MXDB_EINVAL, "state resolution: power_levels events form a cycle");
			goto done;
		}
		x->flags |= SR_MAINLINE;
		x->mainline = pos++;
		if (sr_list_push(&marked, p) != 0)
			goto nomem;
		if ((rc = pl_parent(c, p, &p)) != MXDB_OK)
			goto done;
	}
	if (n > 0 && (keys = malloc(n * sizeof(*keys))) == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		uint32_t q;
		int64_t at = SR_MAINLINE_INF;
		path.n = 0;
		if ((rc = pl_parent(c, events[i], &q)) != MXDB_OK)
			goto done;
		while (q != SR_NONE) {
			if (c->nodes[q].flags & SR_MAINLINE) {
				at = c->nodes[q].mainline;
				break;
			}
			if (path.n > c->n_nodes) {
				rc = mx_fail(c->err, MXDB_EINVAL,
				             "state resolution: power_levels events form a cycle");
				goto done;
			}
			if (sr_list_push(&path, q) != 0)
				goto nomem;
			if ((rc = pl_parent(c, q, &q)) != MXDB_OK)
				goto done;
		}
		for (size_t k = 0; k < path.n; k++) {
			c->nodes[path.v[k]].flags |= SR_MAINLINE;
			c->nodes[path.v[k]].mainline = at;
			if (sr_list_push(&marked, path.v[k]) != 0)
				goto nomem;
		}
		const ev_t *ev = c->nodes[events[i]].ev;
		keys[i] = (mainline_key){at, ev->origin_server_ts, ev->event_id, events[i]};
	}
	if (n > 0)
		qsort(keys, n, sizeof(*keys), mainline_cmp);
	for (size_t i = 0; i < n; i++)
		events[i] = keys[i].node;
	goto done;
nomem:
	rc = mx_fail(c->err, MXDB_ENOMEM, "state resolution: out of memory");
done:
	for (size_t i = 0; i < marked.n; i++)
		c->nodes[marked.v[i]].flags &= ~(uint32_t)SR_MAINLINE;
	sr_list_free(&marked);
	sr_list_free(&path);
	free(keys);
	return rc;
}
