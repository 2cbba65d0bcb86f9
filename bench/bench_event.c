/*
 * bench_event.c: the per-event costs of the event format on one core, for a
 * typical row write (a state event of about 650 bytes, signatures included): strict parse, canonical dump,
 * content hash, event ID, hash + sign, verify, and ev_from_json. Each figure
 * comes from a bounded loop (at most ITERATIONS runs or about one second).
 * Prints figures only; never asserts timing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cjson.h"
#include "ev.h"

#define ITERATIONS 20000
#define MAX_SECONDS 1.0

/* A row of a todo table, as the engine would build it before signing. */
static const char row_event[] =
	"{\"type\":\"com.example.todo\",\"state_key\":\"item-00042\","
	"\"room_id\":\"!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ\","
	"\"sender\":\"@alice:node1.example:8448\",\"origin_server_ts\":1764000123456,\"depth\":1842,"
	"\"prev_events\":[\"$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg\"],"
	"\"auth_events\":[\"$Bb7pKqAnl2P8fs5AJ9I7a4PqSx0ifqUMgKJxMa7Z2HE\","
	"\"$K8K4q6R_5mmEbD6qyTFqgfKTmZJ0aUdsYkHY8yzW8xE\"],"
	"\"content\":{\"title\":\"Order coffee filters\",\"done\":false,\"priority\":2,"
	"\"assignee\":\"@bob:node2.example\"}}";

typedef struct bench_ctx {
	json_t *pdu;      /* signed row event */
	const char *text; /* its JSON text */
	size_t text_len;
	const mx_room_version *rv;
	mx_key key;
	cj_buf buf;
} bench_ctx;

typedef int (*bench_fn)(bench_ctx *c);

static int do_parse(bench_ctx *c)
{
	json_t *v;
	if (cj_parse(c->text, c->text_len, &v, NULL) != MXDB_OK)
		return -1;
	json_decref(v);
	return 0;
}

static int do_canonical(bench_ctx *c)
{
	c->buf.len = 0;
	return cj_dump_buf(c->pdu, &c->buf, NULL) == MXDB_OK ? 0 : -1;
}

static int do_content_hash(bench_ctx *c)
{
	unsigned char h[32];
	return ev_content_hash(c->pdu, h, NULL) == MXDB_OK ? 0 : -1;
}

static int do_event_id(bench_ctx *c)
{
	char id[EV_ID_SIZE];
	return ev_compute_id(c->pdu, c->rv, id, NULL) == MXDB_OK ? 0 : -1;
}

static int do_sign(bench_ctx *c)
{
	return ev_hash_and_sign(c->pdu, c->rv, &c->key, "node1.example:8448", NULL) == MXDB_OK ? 0 : -1;
}

static int do_verify(bench_ctx *c)
{
	return ev_check_signature(c->pdu, c->rv, "node1.example:8448", c->key.key_id, c->key.pk,
	                          NULL) == MXDB_OK ? 0 : -1;
}

static int do_from_json(bench_ctx *c)
{
	ev_t *ev;
	if (ev_from_json(c->pdu, NULL, c->rv, &ev, NULL) != MXDB_OK)
		return -1;
	ev_free(ev);
	return 0;
}

static const struct bench {
	const char *name;
	bench_fn run;
} benches[] = {
	{"parse (cj_parse, strict)", do_parse},
	{"canonicalize (cj_dump_buf)", do_canonical},
	{"content hash (sha256)", do_content_hash},
	{"event ID (redact + sha256)", do_event_id},
	{"hash + sign (ed25519)", do_sign},
	{"verify (ed25519)", do_verify},
	{"ev_from_json (checks + ID)", do_from_json},
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs one benchmark for ITERATIONS runs or MAX_SECONDS, whichever is first. */
static int measure(const struct bench *b, bench_ctx *c)
{
	long n = 0;
	double start = now(), elapsed = 0;
	while (n < ITERATIONS) {
		for (int i = 0; i < 100; i++, n++)
			if (b->run(c) != 0) {
				fprintf(stderr, "bench_event: %s failed\n", b->name);
				return -1;
			}
		if ((elapsed = now() - start) > MAX_SECONDS)
			break;
	}
	printf("  %-28s %9.0f events/s  %7.2f us/event  (%ld runs)\n", b->name, n / elapsed,
	       elapsed * 1e6 / n, n);
	return 0;
}

int main(void)
{
	bench_ctx c = {.rv = rv_get("12")};
	mxdb_error err;
	unsigned char seed[32] = {1};
	if (key_from_seed(&c.key, seed, "bench", &err) != MXDB_OK ||
	    cj_parse(row_event, sizeof(row_event) - 1, &c.pdu, &err) != MXDB_OK ||
	    ev_hash_and_sign(c.pdu, c.rv, &c.key, "node1.example:8448", &err) != MXDB_OK) {
		fprintf(stderr, "bench_event: setup: %s\n", err.message);
		return 1;
	}
	char *text;
	if (cj_dump(c.pdu, &text, &c.text_len, &err) != MXDB_OK) {
		fprintf(stderr, "bench_event: setup: %s\n", err.message);
		return 1;
	}
	c.text = text;
	printf("bench_event: one %zu-byte signed state event, room version %s, one thread\n",
	       c.text_len, c.rv->id);
	int rc = 0;
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]) && rc == 0; i++)
		rc = measure(&benches[i], &c);
	free(text);
	cj_buf_free(&c.buf);
	json_decref(c.pdu);
	return rc == 0 ? 0 : 1;
}
