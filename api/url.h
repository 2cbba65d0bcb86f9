/*
 * url.h: percent-escaping one URL path segment (or query value) for the
 * requests we send: the CLI's to mxdbd, federation's to other servers.
 */
#ifndef MX_URL_H
#define MX_URL_H

/* s percent-escaped (RFC 3986 unreserved characters kept) into a new string
 * the caller frees; NULL when out of memory. */
char *url_escape(const char *s);

#endif
