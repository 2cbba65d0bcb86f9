/* test_fed_client.c: outbound requests against a real libmicrohttpd server on
 * 127.0.0.1: --peer mapping, explicit ports, X-Matrix headers that verify,
 * canonical bodies, statuses, connection reuse, refusal and timeouts. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cjson.h"
#include "fed_auth.h"
#include "fed_client.h"
#include "testutil.h"

static mx_key key;
static int connections;
static char last_auth[512], last_host[256], last_body[1024], last_method[16], last_url[256];

typedef struct upload {
	char buf[4096];
	size_t len;
} upload;

static void on_conn(void *cls, struct MHD_Connection *c, void **socket_ctx,
                    enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		__atomic_add_fetch(&connections, 1, __ATOMIC_SEQ_CST);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **ctx)
{
	if (*ctx == NULL) {
		*ctx = calloc(1, sizeof(upload));
		return MHD_YES;
	}
	upload *u = *ctx;
	if (*size) {
		size_t n = *size < sizeof(u->buf) - 1 - u->len ? *size : sizeof(u->buf) - 1 - u->len;
		memcpy(u->buf + u->len, data, n);
		u->len += n;
		*size = 0;
		return MHD_YES;
	}
	const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	snprintf(last_auth, sizeof(last_auth), "%s", a ? a : "");
	snprintf(last_host, sizeof(last_host), "%s", h ? h : "");
	snprintf(last_body, sizeof(last_body), "%.*s", (int)u->len, u->buf);
	snprintf(last_method, sizeof(last_method), "%s", method);
	snprintf(last_url, sizeof(last_url), "%s", url);
	free(u);
	*ctx = NULL;
	const char *text = "{\"ok\":true}";
	unsigned status = 200;
	if (strcmp(url, "/missing") == 0) {
		text = "{\"errcode\":\"M_NOT_FOUND\",\"error\":\"no\"}";
		status = 404;
	} else if (strcmp(url, "/slow") == 0) {
		usleep(600 * 1000);
	} else if (strcmp(url, "/text") == 0) {
		text = "not json";
	}
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void test_resolve(fed_client *c)
{
	char base[320], ct[320];
	mxdb_error err;
	CHECK(fed_client_resolve(c, "example.org:8448", base, sizeof(base), ct, sizeof(ct), &err) == MXDB_OK);
	CHECK(strcmp(base, "http://example.org:8448") == 0 && ct[0] == '\0');
	CHECK(fed_client_resolve(c, "10.1.2.3", base, sizeof(base), ct, sizeof(ct), &err) == MXDB_OK);
	CHECK(strcmp(base, "http://10.1.2.3") == 0 && strcmp(ct, "::10.1.2.3:8448") == 0);
	CHECK(fed_client_resolve(c, "[::1]", base, sizeof(base), ct, sizeof(ct), &err) == MXDB_OK);
	CHECK(strcmp(ct, "::[::1]:8448") == 0);
	CHECK(fed_client_resolve(c, "[::1]:99", base, sizeof(base), ct, sizeof(ct), &err) == MXDB_OK);
	CHECK(strcmp(base, "http://[::1]:99") == 0 && ct[0] == '\0');
	const char *bad[] = {"", ":80", "a:0", "a:70000", "a:8x", "[::1", "[::1]x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(fed_client_resolve(c, bad[i], base, sizeof(base), ct, sizeof(ct), &err) ==
		          MXDB_EINVAL, "accepted %s", bad[i]);
	CHECK(fed_client_add_peer(c, "nohostport", &err) == MXDB_EINVAL);
	CHECK(fed_client_add_peer(c, "=1.2.3.4:5", &err) == MXDB_EINVAL);
}

int main(void)
{
	mxdb_error err;
	CHECK(key_generate(&key, &err) == MXDB_OK);
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
		NULL, NULL, handler, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_conn, NULL,
		MHD_OPTION_SOCK_ADDR, &lo, MHD_OPTION_END);
	CHECK(d != NULL);
	if (d == NULL)
		return test_summary("test_fed_client");
	int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;

	fed_client *c = NULL;
	fed_client_config cfg = {.server_name = "a.test", .key = &key, .plain_http = 1,
	                         .timeout_ms = 300};
	CHECK(fed_client_new(&cfg, &c, &err) == MXDB_OK);
	test_resolve(c);
	char peer[64];
	snprintf(peer, sizeof(peer), "b.test=127.0.0.1:%d", port);
	CHECK(fed_client_add_peer(c, peer, &err) == MXDB_OK);

	/* Through the --peer map: Host stays the server name; the header verifies. */
	json_t *body = json_pack("{s:s, s:[], s:i}", "origin", "a.test", "pdus", "n", 1);
	long status = 0;
	json_t *resp = NULL;
	CHECK(fed_request(c, "b.test", "PUT", "/_matrix/federation/v1/send/t1?q=%20", body, &status,
	                  &resp, &err) == MXDB_OK);
	CHECK(status == 200 && json_is_true(json_object_get(resp, "ok")));
	json_decref(resp);
	CHECK(strcmp(last_host, "b.test") == 0);
	CHECK(strcmp(last_method, "PUT") == 0 && strcmp(last_url, "/_matrix/federation/v1/send/t1") == 0);
	CHECK(strcmp(last_body, "{\"n\":1,\"origin\":\"a.test\",\"pdus\":[]}") == 0);
	fed_auth_params p;
	CHECK(fed_auth_parse(last_auth, &p, &err) == MXDB_OK);
	CHECK(strcmp(p.origin, "a.test") == 0 && strcmp(p.destination, "b.test") == 0);
	CHECK(strcmp(p.key, key.key_id) == 0);
	CHECK(fed_auth_verify(&p, "b.test", "PUT", "/_matrix/federation/v1/send/t1?q=%20", body, key.pk,
	                      &err) == MXDB_OK);
	json_decref(body);

	/* An explicit port: straight there. Answers with errors are answers. */
	char direct[64];
	snprintf(direct, sizeof(direct), "127.0.0.1:%d", port);
	CHECK(fed_request(c, direct, "GET", "/missing", NULL, &status, &resp, &err) == MXDB_OK);
	CHECK(status == 404 && strcmp(json_string_value(json_object_get(resp, "errcode")), "M_NOT_FOUND") == 0);
	json_decref(resp);
	CHECK(strcmp(last_host, direct) == 0);
	CHECK(fed_request_unsigned(c, direct, "GET", "/text", &status, &resp, &err) == MXDB_OK);
	CHECK(status == 200 && resp == NULL && last_auth[0] == '\0');

	/* Connections are reused. */
	int before = __atomic_load_n(&connections, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 20; i++)
		CHECK(fed_request(c, "b.test", "GET", "/x", NULL, &status, NULL, &err) == MXDB_OK);
	int opened = __atomic_load_n(&connections, __ATOMIC_SEQ_CST) - before;
	CHECK_MSG(opened <= 1, "%d connections for 20 requests", opened);

	/* Too slow: the request's time limit. */
	CHECK(fed_request(c, "b.test", "GET", "/slow", NULL, &status, &resp, &err) == MXDB_EIO);
	MHD_stop_daemon(d);

	/* Nobody listening any more. */
	CHECK(fed_request(c, "b.test", "GET", "/x", NULL, &status, &resp, &err) == MXDB_EIO);
	fed_client_free(c);
	return test_summary("test_fed_client");
}
