/*
 * url.c: percent-escaping for outbound request paths, over libcurl's escape
 * (so a room ID's "!" and ":" or an event type's "/" stay inside a segment).
 * Owns no state.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "url.h"

char *url_escape(const char *s)
{
	/* Copied so callers free with free(), not curl_free(). */
	char *e = curl_easy_escape(NULL, s, 0);
	char *out = e != NULL ? strdup(e) : NULL;
	curl_free(e);
	return out;
}
