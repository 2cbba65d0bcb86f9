/*
 * err.h: how db/ reports errors. A function that can fail returns an
 * mxdb_status and fills an mxdb_error (which may be NULL) through mx_fail().
 */
#ifndef MX_ERR_H
#define MX_ERR_H

#include "mxdb.h"

/* Sets err (if not NULL) and returns code, so callers write
 *     return mx_fail(err, MXDB_EBADJSON, "key %s: %s", k, why);            */
mxdb_status mx_fail(mxdb_error *err, mxdb_status code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Resets err to MXDB_OK with an empty message. */
void mx_clear(mxdb_error *err);

#endif
