/*
 * fed_srv.h: DNS SRV records for server discovery (spec "Resolving server
 * names", steps 3.3/3.4 and 4/5): the lookup through glibc's resolver and
 * the RFC 2782 order (priority, then a weighted draw). Knows nothing of
 * HTTP; fed_client.c decides which names to ask for.
 */
#ifndef MX_FED_SRV_H
#define MX_FED_SRV_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct fed_srv {
	uint16_t priority, weight, port;
	uint32_t ttl; /* seconds */
	char target[256];
} fed_srv;

/* Orders r in place as RFC 2782 says a client tries them: ascending
 * priority; within one priority a draw weighted by weight (an entry of
 * weight 0 is picked only rarely while others remain). rnd(ctx) gives
 * uniformly random 32-bit numbers (tests pass a fixed sequence). */
void fed_srv_order(fed_srv *r, size_t n, uint32_t (*rnd)(void *ctx), void *ctx);

/* Looks up the SRV records of name (e.g. "_matrix-fed._tcp.example.org")
 * and orders them. MXDB_OK: *out (malloc'd, *n ≥ 1 entries), *ttl the least
 * TTL of the answer. MXDB_ENOTFOUND: no such records, or the single "."
 * target by which a domain says it offers no such service. MXDB_EIO: the
 * resolver failed (no answer, SERVFAIL, a malformed reply). */
mxdb_status fed_srv_lookup(const char *name, fed_srv **out, size_t *n, uint32_t *ttl,
                           mxdb_error *err);

#endif
