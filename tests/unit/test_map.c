/* test_map.c: the hash map of db/map.c against a plain reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "testutil.h"

int main(void)
{
	enum { N = 20000 };
	mx_map *m = map_new(0);
	CHECK(m != NULL);
	char key[32];
	for (long i = 0; i < N; i++) {
		int n = snprintf(key, sizeof(key), "k%ld", i);
		CHECK(map_put(m, key, (size_t)n, (void *)(i + 1), NULL) == 0);
	}
	CHECK(map_count(m) == N);
	for (long i = 0; i < N; i += 2) {
		int n = snprintf(key, sizeof(key), "k%ld", i);
		CHECK(map_del(m, key, (size_t)n) == (void *)(i + 1));
	}
	CHECK(map_count(m) == N / 2);
	for (long i = 0; i < N; i++) {
		int n = snprintf(key, sizeof(key), "k%ld", i);
		void *want = (i % 2) ? (void *)(i + 1) : NULL;
		CHECK(map_get(m, key, (size_t)n) == want);
	}
	void *old = NULL;
	CHECK(map_put(m, "k1", 2, (void *)7, &old) == 0 && old == (void *)2);
	size_t it = 0, seen = 0;
	const char *k;
	size_t kl;
	void *v;
	while (map_next(m, &it, &k, &kl, &v))
		seen++;
	CHECK(seen == N / 2);

	char sk[64];
	size_t sl = map_state_key(sk, sizeof(sk), "m.room.member", "@a:b");
	CHECK(sl == strlen("m.room.member") + 1 + 4);
	const char *t, *s;
	map_state_key_split(sk, sl, &t, &s);
	CHECK(strcmp(t, "m.room.member") == 0 && strcmp(s, "@a:b") == 0);
	CHECK(map_state_key(sk, 4, "abc", "d") == 0);
	map_free(m, NULL);
	return test_summary("map");
}
