/*
 * http_int.h: the HTTP server's private structures, shared by http.c (the
 * server and connections) and http_route.c (routing and path decoding).
 * Nothing outside http*.c includes it.
 */
#ifndef MX_HTTP_INT_H
#define MX_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <microhttpd.h>

#include "buf.h"
#include "http.h"

#define HTTP_MAX_TABLES 8
#define HTTP_MAX_HDRS 8
#define HTTP_MAX_QUERY 64

typedef struct http_conn {
	struct MHD_Connection *mc;
	http_req req;
	const http_route *route;     /* set once the request is routed */
	mx_buf body;
	size_t body_limit;           /* of the route table the URL falls under */
	bool too_large;
	char *hdr[HTTP_MAX_HDRS][2]; /* headers for the reply */
	int nhdr;
	char *qval[HTTP_MAX_QUERY];  /* decoded query values handed out */
	int nq;
	struct MHD_Response *resp;   /* the reply, queued after the handler */
	int status;
	bool park_requested, parked;
	uint64_t gen_seen;
	struct http_conn *pnext, *pprev; /* the parked list */
} http_conn;

struct http_server {
	http_config cfg;
	const http_routes *tables[HTTP_MAX_TABLES];
	void *table_app[HTTP_MAX_TABLES]; /* each table's handlers get its own app */
	int ntables;
	struct MHD_Daemon *mhd;
	int port;
	int quiesced_fd;
	pthread_mutex_t mu;         /* guards parked, gen (writes), timer_stop */
	pthread_cond_t cond;        /* wakes the timer thread */
	pthread_t timer;
	bool timer_started, timer_stop;
	http_conn *parked;
	_Atomic uint64_t gen;       /* bumped by every http_wake */
	atomic_bool closing;
	atomic_int active;          /* requests between arrival and completion */
};

/* Suspends c and puts it on the parked list, to be resumed by http_wake or
 * its req.park_deadline (s->mu held). Handlers' parks and idle streams. */
void http_park_locked(http_server *s, http_conn *c);

/* The body limit for a raw URL: the limit of the first route table with a
 * matching prefix, when it has one, else the server's. Known before the
 * body arrives, so before routing (which decodes the path). */
size_t http_body_limit_for(const http_server *s, const char *url);

/* Routes c's request, checks its token and parses its body; replies itself
 * on any error (404, 405, 401, 400, OPTIONS). */
void http_dispatch_prepare(http_server *s, http_conn *c);

#endif
