/* test_fed_srv.c: RFC 2782 ordering of SRV records: priorities ascend, the
 * weighted draw within a priority follows the running sums, and over many
 * draws each record comes first about as often as its weight says. */
#include <stdlib.h>
#include <string.h>

#include "fed_srv.h"
#include "testutil.h"

typedef struct seq {
	const uint32_t *v;
	size_t n, i;
} seq;

static uint32_t next_fixed(void *ctx)
{
	seq *s = ctx;
	return s->v[s->i++ % s->n];
}

static uint32_t lcg(void *ctx)
{
	uint64_t *x = ctx;
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*x >> 33);
}

static fed_srv rec(uint16_t prio, uint16_t weight, const char *target)
{
	fed_srv r = {.priority = prio, .weight = weight, .port = 8448, .ttl = 60};
	strcpy(r.target, target);
	return r;
}

int main(void)
{
	/* Priorities first, whatever the draws. */
	fed_srv r[5] = {rec(20, 5, "c"), rec(10, 0, "a"), rec(30, 1, "d"), rec(10, 10, "b"),
	                rec(20, 5, "e")};
	uint64_t x = 1;
	fed_srv_order(r, 5, lcg, &x);
	CHECK(r[0].priority == 10 && r[1].priority == 10);
	CHECK(r[2].priority == 20 && r[3].priority == 20 && r[4].priority == 30);
	CHECK(strcmp(r[4].target, "d") == 0);

	/* Within a priority, the running sums decide: weights 0, 10, 30 (zero
	 * first): sums 0, 10, 40. A draw of 0 picks the weight-0 record; 5 the
	 * weight-10 one; 11 the weight-30 one. */
	static const uint32_t draws[] = {0, 5, 11};
	for (size_t d = 0; d < 3; d++) {
		fed_srv g[3] = {rec(1, 30, "w30"), rec(1, 10, "w10"), rec(1, 0, "w0")};
		seq s = {&draws[d], 1, 0};
		fed_srv_order(g, 3, next_fixed, &s);
		const char *want = d == 0 ? "w0" : d == 1 ? "w10" : "w30";
		CHECK_MSG(strcmp(g[0].target, want) == 0, "draw %u picked %s", draws[d], g[0].target);
		/* Every record is still there exactly once. */
		int seen = 0;
		for (int i = 0; i < 3; i++)
			seen |= strcmp(g[i].target, "w0") == 0 ? 1 : strcmp(g[i].target, "w10") == 0 ? 2 : 4;
		CHECK(seen == 7);
	}

	/* Weights 1 and 3: RFC 2782 draws from [0, 4] inclusive, "light" wins
	 * draws 0 and 1, "heavy" 2 to 4: heavy leads 3 times in 5. */
	int heavy_first = 0;
	const int rounds = 20000;
	for (int i = 0; i < rounds; i++) {
		fed_srv g[2] = {rec(0, 1, "light"), rec(0, 3, "heavy")};
		fed_srv_order(g, 2, lcg, &x);
		heavy_first += strcmp(g[0].target, "heavy") == 0;
	}
	double share = (double)heavy_first / rounds;
	CHECK_MSG(share > 0.57 && share < 0.63, "heavy first in %.3f of the draws", share);

	/* All weights 0: every record stays, in some order. */
	fed_srv z[3] = {rec(5, 0, "p"), rec(5, 0, "q"), rec(5, 0, "r")};
	fed_srv_order(z, 3, lcg, &x);
	CHECK(strcmp(z[0].target, z[1].target) != 0 && strcmp(z[1].target, z[2].target) != 0 &&
	      strcmp(z[0].target, z[2].target) != 0);
	return test_summary("test_fed_srv");
}
