/*
 * err.c: status names, their Matrix errcodes and HTTP statuses, and the
 * mx_fail() helper. Owns nothing else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static const struct {
	const char *name;
	const char *errcode;
	int http;
} status_table[] = {
	[MXDB_OK] = {"MXDB_OK", "M_OK", 200},
	[MXDB_EINVAL] = {"MXDB_EINVAL", "M_INVALID_PARAM", 400},
	[MXDB_ENOTJSON] = {"MXDB_ENOTJSON", "M_NOT_JSON", 400},
	[MXDB_EBADJSON] = {"MXDB_EBADJSON", "M_BAD_JSON", 400},
	[MXDB_ETOOLARGE] = {"MXDB_ETOOLARGE", "M_TOO_LARGE", 413},
	[MXDB_ENOTFOUND] = {"MXDB_ENOTFOUND", "M_NOT_FOUND", 404},
	[MXDB_EFORBIDDEN] = {"MXDB_EFORBIDDEN", "M_FORBIDDEN", 403},
	[MXDB_ECONFLICT] = {"MXDB_ECONFLICT", "M_CONDITION_FAILED", 412},
	[MXDB_EEXISTS] = {"MXDB_EEXISTS", "M_ROOM_IN_USE", 400},
	[MXDB_ESIGNATURE] = {"MXDB_ESIGNATURE", "M_FORBIDDEN", 401},
	[MXDB_EHASH] = {"MXDB_EHASH", "M_BAD_JSON", 400},
	[MXDB_EVERSION] = {"MXDB_EVERSION", "M_UNSUPPORTED_ROOM_VERSION", 400},
	[MXDB_EIO] = {"MXDB_EIO", "M_UNKNOWN", 500},
	[MXDB_ENOMEM] = {"MXDB_ENOMEM", "M_UNKNOWN", 500},
	[MXDB_ECLOSED] = {"MXDB_ECLOSED", "M_UNKNOWN", 503},
	[MXDB_EINTERNAL] = {"MXDB_EINTERNAL", "M_UNKNOWN", 500},
	[MXDB_ENOGRANT] = {"MXDB_ENOGRANT", "M_UNABLE_TO_GRANT_JOIN", 400},
	[MXDB_EUNVERIFIABLE] = {"MXDB_EUNVERIFIABLE", "M_UNABLE_TO_AUTHORISE_JOIN", 400},
};

static int status_known(mxdb_status s)
{
	return (unsigned)s < sizeof(status_table) / sizeof(status_table[0]) &&
	       status_table[s].name != NULL;
}

const char *mxdb_status_name(mxdb_status s)
{
	return status_known(s) ? status_table[s].name : "MXDB_EUNKNOWN";
}

const char *mxdb_status_errcode(mxdb_status s)
{
	return status_known(s) ? status_table[s].errcode : "M_UNKNOWN";
}

int mxdb_status_http(mxdb_status s)
{
	return status_known(s) ? status_table[s].http : 500;
}

void mxdb_free(void *p)
{
	free(p);
}

mxdb_status mx_fail(mxdb_error *err, mxdb_status code, const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

void mx_clear(mxdb_error *err)
{
	if (err != NULL) {
		err->code = MXDB_OK;
		err->message[0] = '\0';
	}
}
