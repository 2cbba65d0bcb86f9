/*
 * stateres.h: Matrix state resolution v2 (rooms v2..v11) and v2.1 (room v12),
 * exactly as the spec defines it. Works over an event-lookup interface so the
 * same code serves stored rooms, federation and test fixtures.
 *
 * A state map is an mx_map from map_state_key(type, state_key) to an owned
 * char * event ID (free it with map_free(m, free)).
 */
#ifndef MX_STATERES_H
#define MX_STATERES_H

#include <stddef.h>

#include "ev.h"
#include "map.h"

typedef struct sr_lookup {
	/* The event with that ID, or NULL if unknown. The event stays valid for
	 * the whole resolution. */
	const ev_t *(*get)(void *ctx, const char *event_id);
	void *ctx;
} sr_lookup;

/* Resolves n state maps into a new one (*out, owned by the caller). The
 * algorithm is rv->stateres (v2, or v2.1 for room v12); the auth rules are
 * those of each event's own ev->rv. The inputs are not modified; every value
 * of *out is a new copy. With no conflict no event is looked up. Otherwise
 * every event of the state sets and of the auth chains walked must be known
 * to the lookup (MXDB_ENOTFOUND names the first one that is not); a cycle in
 * the auth events gives MXDB_EINVAL. See docs/stateres.md. */
mxdb_status sr_resolve(const mx_room_version *rv, mx_map *const *state_sets, size_t n,
                       const sr_lookup *lookup, mx_map **out, mxdb_error *err);

/* The state sets' common part, summarised: outside a key set K every set
 * holds the same event (or none), and the resolution there is that event.
 * get() answers it for a key (NULL: no set holds the key; must be NULL for
 * the keys of K that no set holds). auth_ids: the distinct auth events cited
 * by the events outside K (their auth chains lie in every set's full auth
 * chain, the only thing the auth difference needs from that part). */
typedef struct sr_base {
	const char *(*get)(void *ctx, const char *key, size_t klen);
	void *ctx;
	char *const *auth_ids;
	size_t n_auth_ids;
} sr_base;

/* sr_resolve over the part that may differ: parts[i] is state set i
 * restricted to K. *out gets the resolved state restricted to K plus the
 * keys outside K the resolution adds (those no set holds); every other key
 * resolves to base->get(key). Exactly sr_resolve's result otherwise. */
mxdb_status sr_resolve_part(const mx_room_version *rv, mx_map *const *parts, size_t n,
                            const sr_base *base, const sr_lookup *lookup, mx_map **out,
                            mxdb_error *err);

#endif
