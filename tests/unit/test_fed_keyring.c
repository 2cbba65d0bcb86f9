/* test_fed_keyring.c: remote keys fetched from a real HTTP server on
 * 127.0.0.1, cached in SQLite, refetch pause, bad key responses refused, and
 * inbound request authentication end to end. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fed_auth.h"
#include "fed_keyring.h"
#include "fed_store.h"
#include "testutil.h"

static mx_key key_b, key_evil, key_next;
static long long retired_at; /* non-zero: b.test signs with key_next, key_b retired then */
static int key_fetches;
static int serve_forged; /* answer with a response signed by the wrong key */

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **ctx)
{
	if (strcmp(url, "/_matrix/key/v2/server") != 0)
		return MHD_NO;
	__atomic_add_fetch(&key_fetches, 1, __ATOMIC_SEQ_CST);
	json_t *resp = NULL;
	fed_vkey old = {.expired_ts = retired_at};
	memcpy(old.key_id, key_b.key_id, sizeof(old.key_id));
	memcpy(old.pk, key_b.pk, 32);
	fed_keys_own_response(retired_at ? &key_next : &key_b, &old, retired_at ? 1 : 0, "b.test",
	                      fed_now_ms(), 3600 * 1000, &resp, NULL);
	if (serve_forged) {
		json_object_del(resp, "signatures");
		key_sign_json(&key_evil, "b.test", resp, NULL);
	}
	char *text = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

int main(void)
{
	mxdb_error err;
	char dir[] = "/tmp/test_fed_keyring_XXXXXX", path[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/mxdb.sqlite3", dir);
	mx_key key_a;
	CHECK(key_generate(&key_a, &err) == MXDB_OK && key_generate(&key_b, &err) == MXDB_OK &&
	      key_generate(&key_evil, &err) == MXDB_OK && key_generate(&key_next, &err) == MXDB_OK);
	snprintf(key_evil.key_id, sizeof(key_evil.key_id), "%s", key_b.key_id);

	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler,
	                                        NULL, MHD_OPTION_SOCK_ADDR, &lo, MHD_OPTION_END);
	CHECK(d != NULL);
	if (d == NULL)
		return test_summary("test_fed_keyring");
	int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;

	fed_client *c = NULL;
	fed_client_config cfg = {.server_name = "a.test", .key = &key_a, .plain_http = 1};
	CHECK(fed_client_new(&cfg, &c, &err) == MXDB_OK);
	char peer[64];
	snprintf(peer, sizeof(peer), "b.test=127.0.0.1:%d", port);
	CHECK(fed_client_add_peer(c, peer, &err) == MXDB_OK);
	fed_keyring *kr = NULL;
	CHECK(fed_keyring_new(path, c, &kr, &err) == MXDB_OK);

	/* A forged key response stores nothing. */
	serve_forged = 1;
	unsigned char pk[32];
	CHECK(fed_keyring_get(kr, "b.test", key_b.key_id, FED_KEY_FOR_REQUEST, fed_now_ms(), pk, &err) ==
	      MXDB_ENOTFOUND);
	CHECK(key_fetches == 1);
	/* And within the pause it is not asked again. */
	serve_forged = 0;
	CHECK(fed_keyring_get(kr, "b.test", key_b.key_id, FED_KEY_FOR_REQUEST, fed_now_ms(), pk, &err) ==
	      MXDB_ENOTFOUND);
	CHECK(key_fetches == 1);
	fed_keyring_free(kr);

	/* A fresh keyring (a restarted daemon: the pause is in memory only). */
	CHECK(fed_keyring_new(path, c, &kr, &err) == MXDB_OK);
	CHECK(fed_keyring_get(kr, "b.test", key_b.key_id, FED_KEY_FOR_REQUEST, fed_now_ms(), pk, &err) ==
	      MXDB_OK);
	CHECK(memcmp(pk, key_b.pk, 32) == 0 && key_fetches == 2);
	/* Cached: no more fetches, not even for a second keyring. */
	fed_keyring_free(kr);
	CHECK(fed_keyring_new(path, c, &kr, &err) == MXDB_OK);
	CHECK(fed_keyring_get(kr, "b.test", key_b.key_id, FED_KEY_FOR_EVENT, fed_now_ms() - 1000, pk,
	                      &err) == MXDB_OK);
	CHECK(key_fetches == 2);
	/* Beyond the response's validity (1 h): a refetch is attempted. */
	CHECK(fed_keyring_event_key(kr, "b.test", key_b.key_id, fed_now_ms() + 7200 * 1000, pk, &err) ==
	      MXDB_ENOTFOUND);
	CHECK(key_fetches == 3);
	/* Right after a good fetch, a key ID b.test never had (as after a
	 * rotation) is asked for again only once the short pause is over. */
	CHECK(fed_keyring_get(kr, "b.test", "ed25519:rotated", FED_KEY_FOR_REQUEST, fed_now_ms(), pk,
	                      &err) == MXDB_ENOTFOUND);
	CHECK(key_fetches == 3);
	usleep(1100 * 1000);
	CHECK(fed_keyring_get(kr, "b.test", "ed25519:rotated", FED_KEY_FOR_REQUEST, fed_now_ms(), pk,
	                      &err) == MXDB_ENOTFOUND);
	CHECK(key_fetches == 4);

	/* Inbound requests from b.test. */
	json_t *body = json_pack("{s:i}", "x", 1);
	char *hdr = NULL, origin[256];
	CHECK(fed_auth_header(&key_b, "b.test", "a.test", "PUT", "/_matrix/federation/v1/send/1", body,
	                      &hdr, &err) == MXDB_OK);
	CHECK(fed_keyring_check_request(kr, "a.test", hdr, "PUT", "/_matrix/federation/v1/send/1", body,
	                                origin, &err) == MXDB_OK);
	CHECK(strcmp(origin, "b.test") == 0);
	CHECK(fed_keyring_check_request(kr, "a.test", hdr, "PUT", "/_matrix/federation/v1/send/2", body,
	                                origin, &err) == MXDB_ESIGNATURE && origin[0] == '\0');
	CHECK(fed_keyring_check_request(kr, "c.test", hdr, "PUT", "/_matrix/federation/v1/send/1", body,
	                                origin, &err) == MXDB_ESIGNATURE);
	CHECK(fed_keyring_check_request(kr, "a.test", NULL, "PUT", "/_matrix/federation/v1/send/1", body,
	                                origin, &err) == MXDB_ESIGNATURE);
	free(hdr);
	/* Signed with the wrong key under b.test's key ID. */
	CHECK(fed_auth_header(&key_evil, "b.test", "a.test", "PUT", "/_matrix/federation/v1/send/1", body,
	                      &hdr, &err) == MXDB_OK);
	CHECK(fed_keyring_check_request(kr, "a.test", hdr, "PUT", "/_matrix/federation/v1/send/1", body,
	                                origin, &err) == MXDB_ESIGNATURE);
	free(hdr);
	/* From a server that does not answer for its keys. */
	CHECK(fed_auth_header(&key_b, "127.0.0.1:1", "a.test", "GET", "/x", NULL, &hdr, &err) ==
	      MXDB_OK);
	CHECK(fed_keyring_check_request(kr, "a.test", hdr, "GET", "/x", NULL, origin, &err) ==
	      MXDB_ESIGNATURE);
	free(hdr);
	json_decref(body);

	/* b.test rotates: key_b, remembered for events just now, is good from
	 * then on only for events before its expired_ts. */
	CHECK(fed_keyring_event_key(kr, "b.test", key_b.key_id, fed_now_ms() - 10, pk, &err) == MXDB_OK);
	retired_at = fed_now_ms() - 5000;
	usleep(1100 * 1000);
	CHECK(fed_keyring_get(kr, "b.test", key_next.key_id, FED_KEY_FOR_REQUEST, fed_now_ms(), pk,
	                      &err) == MXDB_OK);
	CHECK(memcmp(pk, key_next.pk, 32) == 0);
	CHECK(fed_keyring_event_key(kr, "b.test", key_b.key_id, fed_now_ms() - 1000, pk, &err) ==
	      MXDB_ENOTFOUND);
	CHECK(fed_keyring_event_key(kr, "b.test", key_b.key_id, retired_at - 1, pk, &err) == MXDB_OK);
	CHECK(memcmp(pk, key_b.pk, 32) == 0);

	fed_keyring_free(kr);
	fed_client_free(c);
	MHD_stop_daemon(d);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	return test_summary("test_fed_keyring");
}
