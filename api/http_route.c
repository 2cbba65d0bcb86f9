/*
 * http_route.c: turns a raw request into a routed one: splits the path on
 * '/' and percent-decodes each segment on its own (so "%2F" stays inside a
 * segment), finds the route in the list of route tables (404/405 otherwise),
 * takes the access token and parses the JSON body. Also the query and header
 * accessors. Never calls a handler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "http.h"
#include "http_int.h"

/* Splits url into decoded segments. Returns false for a path we refuse
 * (too many segments, an escaped NUL). */
static bool split_path(http_req *r, const char *url)
{
	const char *p = url;
	if (*p == '/')
		p++;
	r->nseg = 0;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (r->nseg >= HTTP_MAX_SEGS)
			return false;
		char *seg = malloc(n + 1);
		if (seg == NULL)
			return false;
		memcpy(seg, p, n);
		seg[n] = '\0';
		r->seg[r->nseg++] = seg;
		size_t dn = MHD_http_unescape(seg);
		if (dn != strlen(seg))
			return false;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return true;
}

/* Number of segments the prefix takes, or -1 when it does not match. */
static int match_prefix(const char *prefix, http_req *r)
{
	const char *p = prefix;
	int i = 0;
	if (*p == '/')
		p++;
	while (*p != '\0') {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (i >= r->nseg || strlen(r->seg[i]) != n || memcmp(r->seg[i], p, n) != 0)
			return -1;
		i++;
		p = slash ? slash + 1 : p + n;
	}
	return i;
}

/* Matches the pattern against the segments from `first`; fills the params. */
static bool match_pattern(const char *pat, http_req *r, int first)
{
	int i = first;
	r->nparam = 0;
	const char *p = pat;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 2 && memcmp(p, "*?", 2) == 0 && slash == NULL) {
			if (i == r->nseg) {
				r->param[r->nparam++] = "";
				return true;
			}
			r->param[r->nparam++] = r->seg[i];
			return i + 1 == r->nseg;
		}
		if (i >= r->nseg)
			return false;
		if (n == 1 && *p == '*') {
			if (r->nparam >= HTTP_MAX_PARAMS)
				return false;
			r->param[r->nparam++] = r->seg[i];
		} else if (strlen(r->seg[i]) != n || memcmp(r->seg[i], p, n) != 0) {
			return false;
		}
		i++;
		if (slash == NULL)
			return i == r->nseg;
		p = slash + 1;
	}
}

size_t http_body_limit_for(const http_server *s, const char *url)
{
	for (int t = 0; t < s->ntables; t++)
		for (const char *const *pre = s->tables[t]->prefixes; *pre != NULL; pre++) {
			size_t n = strlen(*pre);
			if (strncmp(url, *pre, n) == 0 && (url[n] == '/' || url[n] == '\0'))
				return s->tables[t]->body_limit ? s->tables[t]->body_limit : s->cfg.body_limit;
		}
	return s->cfg.body_limit;
}

/* Finds the route; *path_known tells a 405 from a 404. */
static const http_route *find_route(http_server *s, http_req *r, bool *path_known)
{
	*path_known = false;
	for (int t = 0; t < s->ntables; t++) {
		r->app = s->table_app[t];
		const http_routes *tab = s->tables[t];
		for (const char *const *pre = tab->prefixes; *pre != NULL; pre++) {
			int first = match_prefix(*pre, r);
			if (first < 0)
				continue;
			for (const http_route *rt = tab->routes; rt->fn != NULL; rt++) {
				if (!match_pattern(rt->pattern, r, first))
					continue;
				if (rt->method & r->method)
					return rt;
				*path_known = true;
			}
		}
	}
	return NULL;
}

static const char *find_token(http_req *r)
{
	const char *h = MHD_lookup_connection_value(r->conn->mc, MHD_HEADER_KIND, "Authorization");
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		return h;
	}
	return http_query(r, "access_token");
}

static bool check_token(http_server *s, http_req *r, int flags)
{
	r->token = find_token(r);
	if (r->token == NULL || r->token[0] == '\0') {
		r->token = NULL;
		if (flags & HTTP_AUTH) {
			http_reply_error(r, 401, "M_MISSING_TOKEN", "missing access token");
			return false;
		}
		return true;
	}
	if (s->cfg.auth == NULL ||
	    s->cfg.auth(s->cfg.app, r->token, &r->user_id, &r->device_id) != MXDB_OK) {
		if (flags & (HTTP_AUTH | HTTP_AUTH_OPT)) {
			http_reply_json(r, 401,
			                json_pack("{s:s, s:s, s:b}", "errcode", "M_UNKNOWN_TOKEN", "error",
			                          "unknown or expired access token", "soft_logout", 0));
			return false;
		}
	}
	return true;
}

static bool parse_body(http_req *r, http_conn *c, int flags)
{
	r->body_raw = c->body.data != NULL ? c->body.data : "";
	r->body_len = c->body.len;
	if (flags & HTTP_NOBODY)
		return true;
	if (c->body.len == 0) {
		if (r->method & (HTTP_PUT | HTTP_POST))
			r->body = json_object();
		return true;
	}
	json_error_t je;
	r->body = json_loadb(c->body.data, c->body.len, JSON_REJECT_DUPLICATES, &je);
	if (r->body == NULL) {
		http_reply_error(r, 400, "M_NOT_JSON", "body is not JSON: %s", je.text);
		return false;
	}
	if (!json_is_object(r->body)) {
		http_reply_error(r, 400, "M_BAD_JSON", "body must be a JSON object");
		return false;
	}
	return true;
}

void http_dispatch_prepare(http_server *s, http_conn *c)
{
	http_req *r = &c->req;
	if (!split_path(r, r->url)) {
		http_reply_error(r, 400, "M_UNRECOGNIZED", "malformed path");
		return;
	}
	if (r->method == HTTP_OPTIONS) {
		http_reply_empty(r);
		return;
	}
	bool known;
	const http_route *rt = find_route(s, r, &known);
	if (rt == NULL) {
		if (known)
			http_reply_error(r, 405, "M_UNRECOGNIZED", "method not allowed on this path");
		else
			http_reply_error(r, 404, "M_UNRECOGNIZED", "unrecognized request");
		return;
	}
	if (!check_token(s, r, rt->flags))
		return;
	if (!parse_body(r, c, rt->flags))
		return;
	c->route = rt;
}

typedef struct nth_arg {
	const char *name;
	unsigned n;
	const char *found;
} nth_arg;

static enum MHD_Result nth_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
	nth_arg *a = cls;
	(void)kind;
	if (key == NULL || strcmp(key, a->name) != 0)
		return MHD_YES;
	if (a->n-- > 0)
		return MHD_YES;
	a->found = value ? value : "";
	return MHD_NO;
}

const char *http_query_nth(http_req *r, const char *name, unsigned n)
{
	http_conn *c = r->conn;
	nth_arg a = {name, n, NULL};
	MHD_get_connection_values(c->mc, MHD_GET_ARGUMENT_KIND, nth_value, &a);
	if (a.found == NULL || c->nq >= HTTP_MAX_QUERY)
		return NULL;
	char *d = strdup(a.found);
	if (d == NULL)
		return NULL;
	for (char *p = d; *p; p++)
		if (*p == '+')
			*p = ' ';
	MHD_http_unescape(d);
	c->qval[c->nq++] = d;
	return d;
}

const char *http_query(http_req *r, const char *name)
{
	return http_query_nth(r, name, 0);
}

typedef struct target_buf {
	char *s;
	size_t len;
	bool oom;
} target_buf;

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
	target_buf *b = cls;
	size_t need = b->len + strlen(key) + (value ? strlen(value) : 0) + 3;
	char *grown = realloc(b->s, need);
	if (grown == NULL) {
		b->oom = true;
		return MHD_NO;
	}
	b->s = grown;
	b->len += (size_t)sprintf(b->s + b->len, "%s%s%s%s", b->len ? "&" : "", key, value ? "=" : "",
	                          value ? value : "");
	return MHD_YES;
}

char *http_target(http_req *r)
{
	/* The server keeps arguments undecoded (unescape_none), in order. */
	target_buf args = {0};
	MHD_get_connection_values(r->conn->mc, MHD_GET_ARGUMENT_KIND, add_arg, &args);
	char *out = NULL;
	if (!args.oom && (out = malloc(strlen(r->url) + args.len + 2)) != NULL)
		sprintf(out, "%s%s%s", r->url, args.len ? "?" : "", args.len ? args.s : "");
	free(args.s);
	return out;
}

const char *http_header(http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn->mc, MHD_HEADER_KIND, name);
}
