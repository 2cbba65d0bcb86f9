/* testutil.h: the few assertion helpers the C unit tests share. */
#ifndef MX_TESTUTIL_H
#define MX_TESTUTIL_H

#include <stdio.h>

static int test_failures, test_checks;

#define CHECK(cond)                                                                   \
	do {                                                                              \
		test_checks++;                                                                \
		if (!(cond)) {                                                                \
			test_failures++;                                                          \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                             \
	} while (0)

#define CHECK_MSG(cond, ...)                                                \
	do {                                                                    \
		test_checks++;                                                      \
		if (!(cond)) {                                                      \
			test_failures++;                                                \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                   \
			fputc('\n', stderr);                                            \
		}                                                                   \
	} while (0)

/* Prints the tally and returns the exit status for main. */
static inline int test_summary(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
	return test_failures == 0 ? 0 : 1;
}

#endif
