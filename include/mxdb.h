/*
 * mxdb.h: the embeddable C API of mxdb, a database whose tables are Matrix
 * rooms. Everything mxdbd serves over HTTP is reachable here in-process.
 *
 * Conventions:
 *  - Every function that can fail returns an mxdb_status and, when `err` is
 *    not NULL, fills it with the status and a human-readable message.
 *  - Strings are NUL-terminated UTF-8. Row values and event contents are
 *    JSON object texts.
 *  - Memory returned through an out-pointer belongs to the caller and is
 *    released with the matching *_free function (or mxdb_free for strings).
 *  - The library never prints and never exits the process.
 *  - An mxdb handle may be used from several threads at once.
 */
#ifndef MXDB_H
#define MXDB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MXDB_VERSION "0.1.0"

typedef enum mxdb_status {
	MXDB_OK = 0,
	MXDB_EINVAL,      /* a parameter is wrong (M_INVALID_PARAM, 400) */
	MXDB_ENOTJSON,    /* not JSON at all (M_NOT_JSON, 400) */
	MXDB_EBADJSON,    /* JSON, but not acceptable (M_BAD_JSON, 400) */
	MXDB_ETOOLARGE,   /* over a size limit (M_TOO_LARGE, 413) */
	MXDB_ENOTFOUND,   /* no such table, row or event (M_NOT_FOUND, 404) */
	MXDB_EFORBIDDEN,  /* refused by the room's auth rules (M_FORBIDDEN, 403) */
	MXDB_ECONFLICT,   /* compare-and-set failed (M_CONDITION_FAILED, 412) */
	MXDB_EEXISTS,     /* already exists (M_ROOM_IN_USE / M_USER_IN_USE, 400) */
	MXDB_ESIGNATURE,  /* a signature is missing or does not verify (M_FORBIDDEN, 401) */
	MXDB_EHASH,       /* a content hash does not match */
	MXDB_EVERSION,    /* unsupported room version (M_UNSUPPORTED_ROOM_VERSION, 400) */
	MXDB_EIO,         /* storage failed (M_UNKNOWN, 500) */
	MXDB_ENOMEM,      /* out of memory (M_UNKNOWN, 500) */
	MXDB_ECLOSED,     /* the database is closing */
	MXDB_EINTERNAL    /* a bug (M_UNKNOWN, 500) */
} mxdb_status;

typedef struct mxdb_error {
	mxdb_status code;
	char message[256];
} mxdb_error;

/* "MXDB_EFORBIDDEN" etc. */
const char *mxdb_status_name(mxdb_status s);
/* The Matrix errcode ("M_FORBIDDEN") and HTTP status that match a status. */
const char *mxdb_status_errcode(mxdb_status s);
int mxdb_status_http(mxdb_status s);

/* Releases a string returned by the library. */
void mxdb_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* MXDB_H */
