/*
 * http.c: the HTTP server on libmicrohttpd: connections, request bodies,
 * dispatch to handlers, replies with CORS headers, and parked long-polls
 * (suspend/resume, a timer thread for their deadlines). Routing and path
 * decoding live in http_route.c. Never knows what a route does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "err.h"
#include "http.h"
#include "http_int.h"
#include "log.h"

int64_t http_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

mxdb_status http_new(http_server **out, const http_config *cfg, mxdb_error *err)
{
	http_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	s->cfg = *cfg;
	if (s->cfg.host == NULL)
		s->cfg.host = "127.0.0.1";
	if (s->cfg.threads == 0)
		s->cfg.threads = 4;
	if (s->cfg.conn_limit == 0)
		s->cfg.conn_limit = 1024;
	if (s->cfg.timeout_s == 0)
		s->cfg.timeout_s = 60;
	if (s->cfg.body_limit == 0)
		s->cfg.body_limit = 1024 * 1024;
	s->quiesced_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = s;
	return MXDB_OK;
}

void http_add_routes(http_server *s, const http_routes *routes)
{
	http_add_routes_app(s, routes, NULL);
}

void http_add_routes_app(http_server *s, const http_routes *routes, void *app)
{
	if (s->ntables >= HTTP_MAX_TABLES)
		return;
	s->tables[s->ntables] = routes;
	s->table_app[s->ntables] = app != NULL ? app : s->cfg.app;
	s->ntables++;
}

int http_port(const http_server *s)
{
	return s->port;
}

bool http_closing(const http_server *s)
{
	return atomic_load(&s->closing);
}

/* ---- replies ---- */

static const char *const cors_headers[][2] = {
	{"Access-Control-Allow-Origin", "*"},
	{"Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"},
	{"Access-Control-Allow-Headers",
	 "X-Requested-With, Content-Type, Authorization, If-Match, If-None-Match"},
	{"Access-Control-Expose-Headers", "ETag"},
};

void http_add_header(http_req *r, const char *name, const char *value)
{
	http_conn *c = r->conn;
	if (c->nhdr >= HTTP_MAX_HDRS)
		return;
	c->hdr[c->nhdr][0] = strdup(name);
	c->hdr[c->nhdr][1] = strdup(value);
	c->nhdr++;
}

void http_reply_raw(http_req *r, int status, const char *content_type, const void *data,
                    size_t len)
{
	http_conn *c = r->conn;
	if (r->replied)
		return;
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return;
	MHD_add_response_header(resp, "Content-Type", content_type);
	for (size_t i = 0; i < sizeof(cors_headers) / sizeof(cors_headers[0]); i++)
		MHD_add_response_header(resp, cors_headers[i][0], cors_headers[i][1]);
	for (int i = 0; i < c->nhdr; i++)
		MHD_add_response_header(resp, c->hdr[i][0], c->hdr[i][1]);
	c->resp = resp;
	c->status = status;
	r->replied = true;
}

void http_reply_json(http_req *r, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL) {
		static const char oom[] = "{\"errcode\":\"M_UNKNOWN\",\"error\":\"out of memory\"}";
		http_reply_raw(r, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	http_reply_raw(r, status, "application/json", text, strlen(text));
	free(text);
}

void http_reply_empty(http_req *r)
{
	http_reply_raw(r, 200, "application/json", "{}", 2);
}

void http_reply_error(http_req *r, int status, const char *errcode, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The message may quote hostile input that is not UTF-8, or be cut in
	 * the middle of a character: jansson refuses it, and the client would
	 * get a 500 in place of its error. Then the non-ASCII bytes go. */
	json_t *m = json_string(msg);
	if (m == NULL) {
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		m = json_string(msg);
	}
	http_reply_json(r, status, json_pack("{s:s, s:o}", "errcode", errcode, "error", m));
}

void http_reply_status(http_req *r, mxdb_status st, const char *message)
{
	http_reply_error(r, mxdb_status_http(st), mxdb_status_errcode(st), "%s",
	                 message != NULL && message[0] ? message : mxdb_status_name(st));
}

/* ---- parking ---- */

void http_park(http_req *r, int64_t deadline_ms)
{
	r->park_deadline = deadline_ms;
	r->conn->park_requested = true;
}

static void unlink_parked(http_server *s, http_conn *c)
{
	if (c->pprev != NULL)
		c->pprev->pnext = c->pnext;
	else
		s->parked = c->pnext;
	if (c->pnext != NULL)
		c->pnext->pprev = c->pprev;
	c->pnext = c->pprev = NULL;
	c->parked = false;
}

/* Called with s->mu held. */
static void resume_locked(http_server *s, http_conn *c)
{
	unlink_parked(s, c);
	MHD_resume_connection(c->mc);
}

void http_wake(http_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->gen++;
	while (s->parked != NULL)
		resume_locked(s, s->parked);
	pthread_mutex_unlock(&s->mu);
}

void http_wake_match(http_server *s, http_handler fn, bool (*match)(const void *park, void *arg),
                     void *arg)
{
	pthread_mutex_lock(&s->mu);
	s->gen++;
	for (http_conn *c = s->parked, *n; c != NULL; c = n) {
		n = c->pnext;
		if (c->route == NULL || c->route->fn != fn || c->req.park == NULL ||
		    match(c->req.park, arg))
			resume_locked(s, c);
	}
	pthread_mutex_unlock(&s->mu);
}

bool http_has_parked(http_server *s)
{
	pthread_mutex_lock(&s->mu);
	bool any = s->parked != NULL;
	pthread_mutex_unlock(&s->mu);
	return any;
}

static void *timer_main(void *arg)
{
	http_server *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->timer_stop) {
		int64_t now = http_now_ms(), next = now + 60000;
		for (http_conn *c = s->parked, *n; c != NULL; c = n) {
			n = c->pnext;
			if (c->req.park_deadline <= now)
				resume_locked(s, c);
			else if (c->req.park_deadline < next)
				next = c->req.park_deadline;
		}
		struct timespec ts = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000};
		pthread_cond_timedwait(&s->cond, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- requests ---- */

static void conn_free(http_conn *c)
{
	http_req *r = &c->req;
	if (r->park_free != NULL && r->park != NULL)
		r->park_free(r->park);
	json_decref(r->body);
	free(r->user_id);
	free(r->device_id);
	for (int i = 0; i < r->nseg; i++)
		free(r->seg[i]);
	for (int i = 0; i < c->nq; i++)
		free(c->qval[i]);
	for (int i = 0; i < c->nhdr; i++) {
		free(c->hdr[i][0]);
		free(c->hdr[i][1]);
	}
	if (c->resp != NULL)
		MHD_destroy_response(c->resp);
	mx_buf_free(&c->body);
	free(c);
}

static enum MHD_Result queue(http_conn *c)
{
	enum MHD_Result ret = MHD_queue_response(c->mc, (unsigned)c->status, c->resp);
	MHD_destroy_response(c->resp);
	c->resp = NULL;
	return ret;
}

static int method_of(const char *m)
{
	static const struct {
		const char *name;
		int bit;
	} t[] = {{"GET", HTTP_GET},       {"PUT", HTTP_PUT},   {"POST", HTTP_POST},
	         {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS}, {"HEAD", HTTP_HEAD}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(m, t[i].name) == 0)
			return t[i].bit;
	return HTTP_OTHER;
}

static bool body_append(http_server *s, http_conn *c, const char *data, size_t n)
{
	if (c->too_large || c->body.len + n > c->body_limit || !mx_buf_add(&c->body, data, n)) {
		c->too_large = true;
		return false;
	}
	return true;
}

void http_park_locked(http_server *s, http_conn *c)
{
	MHD_suspend_connection(c->mc);
	c->parked = true;
	c->pprev = NULL;
	c->pnext = s->parked;
	if (s->parked != NULL)
		s->parked->pprev = c;
	s->parked = c;
	pthread_cond_signal(&s->cond);
}

/* Runs the handler until it answers or parks. Returns true when parked. */
static bool run_handler(http_server *s, http_conn *c)
{
	http_req *r = &c->req;
	for (;;) {
		c->gen_seen = atomic_load(&s->gen);
		c->park_requested = false;
		c->route->fn(r);
		if (r->replied)
			return false;
		if (!c->park_requested) {
			http_reply_error(r, 500, "M_UNKNOWN", "the handler gave no answer");
			return false;
		}
		int64_t now = http_now_ms();
		if (r->resumed && (atomic_load(&s->closing) || now >= r->park_deadline) &&
		    c->gen_seen == atomic_load(&s->gen)) {
			http_reply_error(r, 500, "M_UNKNOWN", "the handler parked past its deadline");
			return false;
		}
		pthread_mutex_lock(&s->mu);
		if (atomic_load(&s->closing) || s->gen != c->gen_seen || now >= r->park_deadline) {
			pthread_mutex_unlock(&s->mu);
			r->resumed = true;
			continue;
		}
		http_park_locked(s, c);
		pthread_mutex_unlock(&s->mu);
		return true;
	}
}

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
	(void)kind;
	(void)value;
	if (key != NULL && strcasecmp(key, "Content-Length") == 0)
		(*(int *)cls)++;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
	http_server *s = cls;
	http_conn *c = *con_cls;
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return MHD_NO;
		c->mc = mc;
		c->req.conn = c;
		c->req.srv = s;
		c->req.app = s->cfg.app;
		c->req.url = url;
		c->req.method = method_of(method);
		c->body_limit = http_body_limit_for(s, url);
		*con_cls = c;
		atomic_fetch_add(&s->active, 1);
		/* Two Content-Length headers: libmicrohttpd reads the body by the
		 * first; a proxy before us may have read it by the other (request
		 * smuggling). RFC 9112 6.3: an unrecoverable error. */
		int lengths = 0;
		MHD_get_connection_values(mc, MHD_HEADER_KIND, count_length, &lengths);
		if (lengths > 1) {
			http_reply_error(&c->req, 400, "M_INVALID_PARAM", "more than one Content-Length");
			return queue(c);
		}
		const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
		unsigned long long n = cl != NULL ? strtoull(cl, NULL, 10) : 0;
		/* A body somewhat over the limit is read and dropped so the client,
		 * still sending, gets the 413; a huge one is refused at once (the
		 * connection closes and the client may only see a reset). */
		if (n > c->body_limit)
			c->too_large = true;
		if (n > 16 * (unsigned long long)c->body_limit) {
			http_reply_error(&c->req, 413, "M_TOO_LARGE", "request body over %zu bytes",
			                 c->body_limit);
			return queue(c);
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		body_append(s, c, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	http_req *r = &c->req;
	if (c->route == NULL) {
		if (c->too_large)
			http_reply_error(r, 413, "M_TOO_LARGE", "request body over %zu bytes",
			                 c->body_limit);
		else
			http_dispatch_prepare(s, c);
		if (r->replied)
			return queue(c);
	} else {
		r->resumed = true;
	}
	if (run_handler(s, c))
		return MHD_YES;
	return queue(c);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	http_server *s = cls;
	http_conn *c = *con_cls;
	if (c == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	if (c->parked)
		unlink_parked(s, c);
	pthread_mutex_unlock(&s->mu);
	conn_free(c);
	*con_cls = NULL;
	atomic_fetch_sub(&s->active, 1);
}

/* Keeps the URL as sent: http_route.c decodes each path segment itself so an
 * escaped '/' stays inside its segment. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug("http: %s", line);
}

mxdb_status http_start(http_server *s, mxdb_error *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->cfg.port)};
	if (inet_pton(AF_INET, s->cfg.host, &sa.sin_addr) != 1)
		return mx_fail(err, MXDB_EINVAL, "listen address %s is not an IPv4 address",
		               s->cfg.host);
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_ERROR_LOG;
	/* HTTPS (federation peers verify it) when a certificate is given. */
	struct MHD_OptionItem tls[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)s->cfg.tls_cert_pem},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)s->cfg.tls_key_pem},
		{MHD_OPTION_END, 0, NULL},
	};
	bool use_tls = s->cfg.tls_cert_pem != NULL && s->cfg.tls_key_pem != NULL;
	if (use_tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return mx_fail(err, MXDB_EINVAL, "this libmicrohttpd has no TLS");
	if (use_tls)
		flags |= MHD_USE_TLS;
	else
		tls[0].option = MHD_OPTION_END;
	s->mhd = MHD_start_daemon(
		flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, tls,
		MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, s->cfg.threads,
		MHD_OPTION_CONNECTION_LIMIT, s->cfg.conn_limit, MHD_OPTION_CONNECTION_TIMEOUT,
		s->cfg.timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL, MHD_OPTION_EXTERNAL_LOGGER,
		on_mhd_log, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
	if (s->mhd == NULL)
		return mx_fail(err, MXDB_EIO, "cannot listen on %s:%d: %s", s->cfg.host, s->cfg.port,
		               strerror(errno));
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di != NULL ? di->port : s->cfg.port;
	if (pthread_create(&s->timer, NULL, timer_main, s) != 0) {
		MHD_stop_daemon(s->mhd);
		s->mhd = NULL;
		return mx_fail(err, MXDB_EIO, "cannot start the long-poll timer");
	}
	s->timer_started = true;
	return MXDB_OK;
}

void http_stop(http_server *s)
{
	if (s == NULL)
		return;
	if (s->mhd != NULL) {
		s->quiesced_fd = MHD_quiesce_daemon(s->mhd);
		pthread_mutex_lock(&s->mu);
		atomic_store(&s->closing, true);
		s->gen++;
		while (s->parked != NULL)
			resume_locked(s, s->parked);
		pthread_mutex_unlock(&s->mu);
		/* Let in-flight and just-resumed requests answer (bounded: 5 s). */
		for (int i = 0; i < 500 && atomic_load(&s->active) > 0; i++)
			usleep(10000);
	}
	if (s->timer_started) {
		pthread_mutex_lock(&s->mu);
		s->timer_stop = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->timer, NULL);
	}
	if (s->mhd != NULL) {
		MHD_stop_daemon(s->mhd);
		if (s->quiesced_fd >= 0)
			close(s->quiesced_fd);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cond);
	free(s);
}
