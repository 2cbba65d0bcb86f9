/*
 * stateres_internal.h: the pieces state resolution is made of, shared by
 * stateres.c (the algorithm's steps and the final merge), authchain.c (the
 * auth-DAG index: auth chains, auth difference, conflicted subgraph) and
 * stateres_sort.c (the two orderings and the sender power). Exposed so the unit tests can run
 * each sub-algorithm on its own. Private to db/ otherwise.
 *
 * Every event a resolution touches is interned once into a dense node table;
 * the auth edges are resolved to node indices once, and every later walk is
 * over integers with per-node marks, never over event-ID strings.
 */
#ifndef MX_STATERES_INTERNAL_H
#define MX_STATERES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stateres.h"

#define SR_NONE UINT32_MAX
#define SR_MAINLINE_INF INT64_MAX

enum sr_node_flags {
	SR_EDGES = 1u << 0,      /* auth edges resolved */
	SR_COMMON = 1u << 1,     /* in the auth chain of an unconflicted event: in every chain */
	SR_CONFLICTED = 1u << 2, /* in the conflicted state set */
	SR_FULL = 1u << 3,       /* in the full conflicted set */
	SR_POWER_SET = 1u << 4,  /* picked for the power-event phase */
	SR_POWER_KNOWN = 1u << 5,/* power below is computed */
	SR_MAINLINE = 1u << 6,   /* mainline below is known (memoized during one sort) */
	SR_REACH = 1u << 7,      /* (subgraph walk) reaches a conflicted event */
	SR_TOUCHED = 1u << 8,    /* (chain walks) reached by some state set */
};

typedef struct sr_node {
	const ev_t *ev;
	uint32_t auth_off, n_auth; /* the node's auth events: ctx->edges[auth_off ..] */
	uint32_t flags;
	uint32_t stamp;            /* visit mark of the walk in progress */
	uint32_t count;            /* state sets whose full auth chain holds the node */
	uint32_t local;            /* (power sort) index among the sorted events */
	int64_t power;             /* sender's power level, for the power ordering */
	int64_t mainline;          /* mainline position, for the mainline ordering */
} sr_node;

typedef struct sr_ctx {
	const mx_room_version *rv;
	const sr_lookup *lookup;
	mx_map *index;             /* event ID -> node index + 1 */
	sr_node *nodes;
	uint32_t n_nodes, cap;
	uint32_t *edges;
	size_t n_edges, edges_cap;
	uint32_t *stack;           /* scratch for the walks */
	size_t stack_cap;
	uint32_t stamp;
	mxdb_error *err;
} sr_ctx;

/* A growable list of node indices. */
typedef struct sr_list {
	uint32_t *v;
	size_t n, cap;
} sr_list;

int sr_list_push(sr_list *l, uint32_t x);
void sr_list_free(sr_list *l);

/* stateres.c: the split, the iterative auth checks. */
typedef struct sr_idset {
	const char **ids; /* distinct, borrowed from the state sets */
	size_t n, cap;
} sr_idset;
void sr_idset_free(void *p);
/* The conflicted state: key -> sr_idset of the distinct IDs the sets hold
 * (a key some set lacks is conflicted; the absence is not listed). Free it
 * with map_free(m, sr_idset_free). The unconflicted state is not built: it
 * is every key of sets[0] that is not conflicted (O(N) copies saved). */
mxdb_status sr_split(mx_map *const *sets, size_t n, mx_map **conflicted, mxdb_error *err);
/* The unconflicted event ID at key, or NULL. */
const char *sr_unconflicted(mx_map *const *sets, size_t n, const mx_map *conflicted,
                            const char *key, size_t klen);

/* A partially resolved state: the admitted events (key -> const ev_t *)
 * over the unconflicted state (base = sets[0] without the conflicted keys,
 * then common for the keys no set lists) or over nothing (base NULL). */
typedef struct sr_partial {
	const struct sr_ctx *c;
	mx_map *over;
	mx_map *base;
	const mx_map *conflicted;
	const sr_base *common; /* NULL: the sets are whole */
} sr_partial;
const ev_t *sr_partial_get(const sr_partial *p, const char *key, size_t klen);

/* authchain.c: the node table and the auth-DAG index. */
mxdb_status sr_ctx_init(sr_ctx *c, const mx_room_version *rv, const sr_lookup *lookup,
                        size_t hint, mxdb_error *err);
void sr_ctx_free(sr_ctx *c);
/* The node of an event; MXDB_ENOTFOUND when the lookup does not know it. */
mxdb_status sr_intern(sr_ctx *c, const char *event_id, uint32_t *out);
/* Resolves node n's auth edges (interning its auth events). */
mxdb_status sr_edges(sr_ctx *c, uint32_t n);
static inline const uint32_t *sr_auth_of(const sr_ctx *c, uint32_t n)
{
	return c->edges + c->nodes[n].auth_off;
}

/* Marks the auth chain of an event that is in every state set (an
 * unconflicted one) as common to every full auth chain. Call for each
 * unconflicted event before sr_auth_difference. */
mxdb_status sr_mark_common(sr_ctx *c, const char *event_id);
/* The same for an event cited by an unconflicted one: the event itself and
 * its auth chain. */
mxdb_status sr_mark_common_event(sr_ctx *c, const char *event_id);
/* Full auth chain of a set of events: the union of their auth chains (an
 * event is in it only when another event of the set reaches it). Appends to out. */
mxdb_status sr_full_auth_chain(sr_ctx *c, const uint32_t *set, size_t n, sr_list *out);
/* Auth difference of n_sets sets of events: the events in some but not all
 * of their full auth chains. Events marked common are known to be in every
 * chain and are neither walked nor reported, so each sets[i] needs to hold
 * only that set's events that are not common to all sets. Appends to out. */
mxdb_status sr_auth_difference(sr_ctx *c, const sr_list *sets, size_t n_sets, sr_list *out);
/* v2.1 conflicted state subgraph: the events on an auth path from one
 * conflicted event to another, both ends included. Appends to out. */
mxdb_status sr_conflicted_subgraph(sr_ctx *c, const uint32_t *conflicted, size_t n, sr_list *out);

/* The iterative auth checks: applies each event that passes the auth rules
 * against its auth events overridden, at the keys the rules select, by p. */
mxdb_status sr_iterate(sr_ctx *c, sr_partial *p, const uint32_t *events, size_t n);

/* The full conflicted set of sets[] given their conflicted state (from
 * sr_split): marks the unconflicted events' chains common, the conflicted
 * events SR_CONFLICTED and every member SR_FULL, and appends the members to
 * full (conflicted events first). diff (may be NULL) gets the auth
 * difference alone. */
mxdb_status sr_full_conflicted_set(sr_ctx *c, mx_map *const *sets, size_t n, const mx_map *conf,
                                   sr_list *diff, sr_list *full);

/* stateres_sort.c: the orderings. */
typedef struct sr_sortkey {
	int64_t power;
	int64_t ts;
	const char *id;
} sr_sortkey;
/* Kahn's algorithm over n nodes; node i references refs[ref_off[i] ..
 * ref_off[i+1]), which must be emitted before it. Among the ready nodes the
 * smallest by (greater power, smaller ts, smaller id) goes first. Fills
 * order[n]; MXDB_EINVAL on a cycle. */
mxdb_status sr_topo_sort(size_t n, const sr_sortkey *keys, const uint32_t *ref_off,
                         const uint32_t *refs, uint32_t *order, mxdb_error *err);
/* The sender's power level from the power_levels event among the event's
 * auth_events (unknown auth events are skipped); with none, the room
 * creator's 100 and everyone else's 0 (v12: creators are infinite). */
int64_t sr_sender_power(const sr_ctx *c, const ev_t *ev);
bool sr_is_power_event(const ev_t *ev);
/* The power events of the full conflicted set (nodes flagged SR_FULL), with
 * the events of the full conflicted set their auth chains reach through it,
 * in reverse topological power order. */
mxdb_status sr_power_sort(sr_ctx *c, const uint32_t *full, size_t n, sr_list *out);
/* Sorts events in mainline order of the power_levels node pl (SR_NONE: no
 * power levels, every position is infinite). */
mxdb_status sr_mainline_sort(sr_ctx *c, uint32_t pl, uint32_t *events, size_t n);

#endif
