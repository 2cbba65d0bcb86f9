/*
 * mxdbd.c: the mxdb daemon's entry point. For now it only reports its
 * version; the HTTP server, the Matrix client API and the feed come next.
 */
#include <stdio.h>

#include "mxdb.h"

int main(void)
{
	printf("mxdbd %s\n", MXDB_VERSION);
	return 0;
}
