/*
 * http.h: the HTTP server every mxdb facade shares (Matrix client API, native
 * table API, federation), on libmicrohttpd. It owns connections, request
 * bodies (with a size limit), routing through a list of route tables, access
 * tokens, CORS, Matrix error bodies and long-polls (parked connections).
 * Handlers never see libmicrohttpd; they read an http_req and answer with one
 * http_reply_* call (or park the request).
 */
#ifndef MX_HTTP_H
#define MX_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "mxdb.h"

typedef struct http_server http_server;
typedef struct http_req http_req;
typedef void (*http_handler)(http_req *r);

enum http_method {
	HTTP_GET = 1,
	HTTP_PUT = 2,
	HTTP_POST = 4,
	HTTP_DELETE = 8,
	HTTP_OPTIONS = 16,
	HTTP_HEAD = 32,
	HTTP_OTHER = 64,
};

/* Route flags. */
#define HTTP_AUTH 1    /* an access token is required */
#define HTTP_NOBODY 2  /* do not parse the body as JSON */
#define HTTP_AUTH_OPT 4 /* the token is checked when present */

/* A route: method, a pattern of '/'-separated segments where "*" captures
 * one segment (into r->param[]), and a trailing "*?" captures one optional
 * segment ("" when absent). */
typedef struct http_route {
	int method;
	const char *pattern;
	http_handler fn;
	int flags;
} http_route;

/* A table of routes under one or more path prefixes (e.g. "/_matrix/client/r0",
 * "/_matrix/client/v3"); the list ends with a route whose fn is NULL. */
typedef struct http_routes {
	const char *const *prefixes; /* NULL-terminated */
	const http_route *routes;
	size_t body_limit; /* request bodies under these prefixes; 0: the server's */
} http_routes;

/* Looks an access token up: fills *user and *device (malloc'd) or returns
 * MXDB_ENOTFOUND. */
typedef mxdb_status (*http_auth_fn)(void *app, const char *token, char **user, char **device);

typedef struct http_config {
	const char *host;        /* "127.0.0.1" */
	int port;                /* 0 picks a free one (see http_port) */
	unsigned threads;        /* worker threads (default 4) */
	unsigned conn_limit;     /* default 1024 */
	unsigned timeout_s;      /* idle connection timeout, default 60 */
	size_t body_limit;       /* default 1 MiB */
	const char *tls_cert_pem; /* PEM texts: serve HTTPS when both are set */
	const char *tls_key_pem;
	http_auth_fn auth;
	void *app;               /* handed to auth, and to handlers whose table has none */
} http_config;

#define HTTP_MAX_SEGS 24
#define HTTP_MAX_PARAMS 8

struct http_req {
	http_server *srv;
	void *app;
	int method;
	const char *url;             /* the raw path (no query) */
	char *seg[HTTP_MAX_SEGS];    /* percent-decoded path segments */
	int nseg;
	const char *param[HTTP_MAX_PARAMS]; /* captures of the matched route */
	int nparam;
	const char *body_raw;        /* the request body (NUL-terminated) */
	size_t body_len;
	json_t *body;                /* parsed JSON body, or NULL when empty */
	const char *token;           /* the access token, if any */
	char *user_id, *device_id;   /* set when the token is valid */
	bool resumed;                /* the handler is re-run after a park */
	void *park;                  /* the handler's state across parks */
	void (*park_free)(void *);
	int64_t park_deadline;       /* ms, CLOCK_MONOTONIC */
	bool replied;
	struct http_conn *conn;      /* private */
};

mxdb_status http_new(http_server **out, const http_config *cfg, mxdb_error *err);
/* Adds a route table (before http_start). Tables are tried in order; their
 * handlers see the config's app as r->app. */
void http_add_routes(http_server *s, const http_routes *routes);
/* The same with an app of the table's own, so facades with different
 * contexts (client API, table API, federation) can share one server. */
void http_add_routes_app(http_server *s, const http_routes *routes, void *app);
mxdb_status http_start(http_server *s, mxdb_error *err);
int http_port(const http_server *s);
/* Stops accepting, resumes every parked request (their handlers see
 * http_closing() and answer), lets in-flight requests finish, then frees. */
void http_stop(http_server *s);
bool http_closing(const http_server *s);

/* Re-runs every parked request's handler (something they may wait for
 * happened). Safe from any thread. */
void http_wake(http_server *s);

/* Like http_wake, but a parked request of handler fn is re-run only when
 * match(r->park, arg) accepts it (requests of other handlers always are);
 * match runs under the server's lock and must be quick. */
void http_wake_match(http_server *s, http_handler fn, bool (*match)(const void *park, void *arg),
                     void *arg);
/* Whether any request is parked now. */
bool http_has_parked(http_server *s);

/* Parks the request: the handler returns without replying and is run again
 * (with r->resumed) on http_wake or when deadline_ms (monotonic) passes. */
void http_park(http_req *r, int64_t deadline_ms);
int64_t http_now_ms(void);

/* The decoded value of a query parameter, or NULL. */
const char *http_query(http_req *r, const char *name);
/* The n-th (from 0) value of a repeated query parameter (?ver=10&ver=11),
 * or NULL past the last. */
const char *http_query_nth(http_req *r, const char *name, unsigned n);
const char *http_header(http_req *r, const char *name);
/* The request target as the client sent it: raw path and query (new
 * string; NULL when out of memory). Federation signs exactly this. */
char *http_target(http_req *r);
/* Adds a header to the coming reply. */
void http_add_header(http_req *r, const char *name, const char *value);

/* Answers with a JSON body; takes the reference to body. */
void http_reply_json(http_req *r, int status, json_t *body);
/* Answers with {} and 200. */
void http_reply_empty(http_req *r);
void http_reply_raw(http_req *r, int status, const char *content_type, const void *data,
                    size_t len);
/* Answers with a stream (http_stream.c): fn is asked for bytes whenever the
 * socket can take them and returns how many it wrote (> 0), 0 when it has
 * nothing now (the connection then sleeps until the next http_wake or
 * keepalive_ms), or -1 to end. ctx_free(ctx) runs when the stream ends. */
typedef long (*http_stream_fn)(void *ctx, char *buf, size_t max);
void http_reply_stream(http_req *r, const char *content_type, http_stream_fn fn, void *ctx,
                       void (*ctx_free)(void *), int keepalive_ms);
/* Answers with a Matrix error {"errcode","error"}. */
void http_reply_error(http_req *r, int status, const char *errcode, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Answers with the Matrix error that matches an mxdb status. */
void http_reply_status(http_req *r, mxdb_status st, const char *message);

#endif
