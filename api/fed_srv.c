/*
 * fed_srv.c: SRV lookups with glibc's thread-safe resolver (res_nquery on a
 * private res_state, ns_parse), and their RFC 2782 ordering. Keeps no cache:
 * fed_client.c caches the route a lookup led to, bounded by the TTL.
 */
#define _GNU_SOURCE
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fed_srv.h"

static int by_priority(const void *a, const void *b)
{
	const fed_srv *x = a, *y = b;
	return (int)x->priority - (int)y->priority;
}

/* One priority group [0, n): RFC 2782's selection. Weight-0 entries sit at
 * the front so a draw of 0 can pick them; each round draws from the running
 * sum of the entries not yet placed and moves the winner to the front. */
static void order_group(fed_srv *r, size_t n, uint32_t (*rnd)(void *), void *ctx)
{
	for (size_t i = 0, z = 0; i < n; i++) {
		if (r[i].weight == 0) {
			fed_srv t = r[z];
			r[z++] = r[i];
			r[i] = t;
		}
	}
	for (size_t done = 0; done + 1 < n; done++) {
		uint32_t sum = 0;
		for (size_t i = done; i < n; i++)
			sum += r[i].weight;
		uint32_t pick = sum ? rnd(ctx) % (sum + 1) : 0;
		size_t i = done;
		for (uint32_t run = r[i].weight; run < pick && i + 1 < n;)
			run += r[++i].weight;
		fed_srv t = r[i];
		memmove(&r[done + 1], &r[done], (i - done) * sizeof(*r));
		r[done] = t;
	}
}

void fed_srv_order(fed_srv *r, size_t n, uint32_t (*rnd)(void *), void *ctx)
{
	/* qsort is not stable, but the draw below decides the order within a
	 * priority anyway. */
	qsort(r, n, sizeof(*r), by_priority);
	for (size_t start = 0, end; start < n; start = end) {
		for (end = start + 1; end < n && r[end].priority == r[start].priority; end++)
			;
		order_group(r + start, end - start, rnd, ctx);
	}
}

static uint32_t sodium_rnd(void *ctx)
{
	(void)ctx;
	return randombytes_random();
}

/* Parses the answer section's SRV records into *out. */
static mxdb_status parse(const unsigned char *ans, int len, const char *name, fed_srv **out,
                         size_t *n, uint32_t *ttl, mxdb_error *err)
{
	ns_msg msg;
	if (ns_initparse(ans, len, &msg) < 0)
		return mx_fail(err, MXDB_EIO, "SRV %s: malformed DNS answer", name);
	int count = ns_msg_count(msg, ns_s_an);
	fed_srv *r = calloc(count > 0 ? (size_t)count : 1, sizeof(*r));
	if (r == NULL)
		return mx_fail(err, MXDB_ENOMEM, "SRV records");
	size_t k = 0;
	*ttl = UINT32_MAX;
	for (int i = 0; i < count; i++) {
		ns_rr rr;
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_srv ||
		    ns_rr_rdlen(rr) < 7)
			continue; /* CNAMEs on the way, and anything odd */
		const unsigned char *rd = ns_rr_rdata(rr);
		fed_srv *s = &r[k];
		s->priority = ns_get16(rd);
		s->weight = ns_get16(rd + 2);
		s->port = ns_get16(rd + 4);
		s->ttl = ns_rr_ttl(rr);
		if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 6, s->target, sizeof(s->target)) < 0)
			continue;
		if (s->ttl < *ttl)
			*ttl = s->ttl;
		k++;
	}
	/* RFC 2782: a lone "." target means the service is decidedly not there. */
	if (k == 0 || (k == 1 && (r[0].target[0] == '\0' || strcmp(r[0].target, ".") == 0))) {
		free(r);
		return mx_fail(err, MXDB_ENOTFOUND, "no SRV records for %s", name);
	}
	fed_srv_order(r, k, sodium_rnd, NULL);
	*out = r;
	*n = k;
	return MXDB_OK;
}

mxdb_status fed_srv_lookup(const char *name, fed_srv **out, size_t *n, uint32_t *ttl,
                           mxdb_error *err)
{
	*out = NULL;
	*n = 0;
	*ttl = 0;
	struct __res_state rs;
	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) != 0)
		return mx_fail(err, MXDB_EIO, "SRV %s: resolver setup failed", name);
	unsigned char ans[8192];
	int len = res_nquery(&rs, name, ns_c_in, ns_t_srv, ans, sizeof(ans));
	int herr = rs.res_h_errno;
	res_nclose(&rs);
	if (len < 0)
		return herr == HOST_NOT_FOUND || herr == NO_DATA
		               ? mx_fail(err, MXDB_ENOTFOUND, "no SRV records for %s", name)
		               : mx_fail(err, MXDB_EIO, "SRV %s: %s", name, hstrerror(herr));
	/* A truncated answer reports its full length (glibc's TCP path): only
	 * what the buffer holds may be parsed. */
	if (len > (int)sizeof(ans))
		len = (int)sizeof(ans);
	return parse(ans, len, name, out, n, ttl, err);
}
