/*
 * cli_json.c: the JSON subcommands of `mxdb`: canonical, sign, verify and
 * keygen (docs/cli.md). Owns their option parsing and output conventions;
 * the work itself is db/cjson.c and db/keys.c.
 *
 * Output convention: a JSON result is written as its exact canonical bytes
 * with NO trailing newline, so `mxdb canonical | sha256sum` hashes what Matrix
 * hashes. With --lines, every input line is one document and every result is
 * one output line ending in "\n"; a rejected line yields "error: <why>" (no
 * JSON text starts with 'e') and the exit status is 2 at the end.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "cjson.h"
#include "cli.h"
#include "keys.h"

/* ---- mxdb canonical ----------------------------------------------------- */

static mxdb_status canonical_doc(const char *text, size_t len, cj_buf *out, const void *ctx,
                                 mxdb_error *err)
{
	json_t *v;
	mxdb_status st = cj_parse(text, len, &v, err);
	if (st != MXDB_OK)
		return st;
	st = cj_dump_buf(v, out, err);
	json_decref(v);
	return st;
}

static const struct option lines_only[] = {
	{"lines", no_argument, NULL, 'l'},
	{NULL, 0, NULL, 0},
};

int cli_canonical(int argc, char **argv)
{
	int lines = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lines_only, NULL)) != -1) {
		if (c != 'l')
			return cli_usage_error(argv[0], "usage: mxdb canonical [--lines] < json");
		lines = 1;
	}
	if (optind != argc)
		return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	return cli_run_docs(argv[0], lines, canonical_doc, NULL, 0);
}

/* ---- mxdb sign ---------------------------------------------------------- */

typedef struct sign_ctx {
	mx_key key;
	const char *server;
} sign_ctx;

static mxdb_status sign_doc(const char *text, size_t len, cj_buf *out, const void *ctx,
                            mxdb_error *err)
{
	const sign_ctx *s = ctx;
	json_t *v;
	mxdb_status st = cj_parse(text, len, &v, err);
	if (st != MXDB_OK)
		return st;
	if ((st = key_sign_json(&s->key, s->server, v, err)) == MXDB_OK)
		st = cj_dump_buf(v, out, err);
	json_decref(v);
	return st;
}

int cli_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},
		{"server", required_argument, NULL, 's'},
		{"lines", no_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	sign_ctx s = {.server = "localhost:8008"};
	const char *keyfile = NULL;
	int lines = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			keyfile = optarg;
			break;
		case 's':
			s.server = optarg;
			break;
		case 'l':
			lines = 1;
			break;
		default:
			return cli_usage_error(argv[0], "usage: mxdb sign --key FILE [--server NAME] [--lines]");
		}
	}
	if (keyfile == NULL || optind != argc)
		return cli_usage_error(argv[0], "usage: mxdb sign --key FILE [--server NAME] [--lines]");
	mxdb_error err;
	if (key_load(&s.key, keyfile, &err) != MXDB_OK)
		return cli_usage_error(argv[0], "%s", err.message);
	int rc = cli_run_docs(argv[0], lines, sign_doc, &s, 0);
	sodium_memzero(&s.key, sizeof(s.key));
	return rc;
}

/* ---- mxdb verify -------------------------------------------------------- */

int cli_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'},
		{"key-id", required_argument, NULL, 'i'},
		{"public-key", required_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	static const char usage[] = "usage: mxdb verify --server NAME --key-id ID --public-key B64 < json";
	const char *server = NULL, *key_id = NULL, *pk_b64 = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'i':
			key_id = optarg;
			break;
		case 'p':
			pk_b64 = optarg;
			break;
		default:
			return cli_usage_error(argv[0], "%s", usage);
		}
	}
	if (server == NULL || key_id == NULL || pk_b64 == NULL || optind != argc)
		return cli_usage_error(argv[0], "%s", usage);
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	if (b64_decode(pk_b64, strlen(pk_b64), pk, sizeof(pk)) != (long)sizeof(pk))
		return cli_usage_error(argv[0], "the public key is not 32 bytes of base64");

	size_t len;
	char *in = cli_read_stdin(&len);
	if (in == NULL)
		return cli_usage_error(argv[0], "cannot read standard input");
	json_t *v;
	mxdb_error err;
	mxdb_status st = cj_parse(in, len, &v, &err);
	free(in);
	if (st != MXDB_OK)
		return cli_usage_error(argv[0], "%s", err.message);
	st = key_verify_json(v, server, key_id, pk, &err);
	json_decref(v);
	if (st == MXDB_ESIGNATURE) {
		fprintf(stderr, "mxdb verify: %s\n", err.message);
		return 1;
	}
	if (st != MXDB_OK)
		return cli_usage_error(argv[0], "%s", err.message);
	fprintf(stderr, "mxdb verify: valid signature by %s with key %s\n", server, key_id);
	return 0;
}

/* ---- mxdb keygen -------------------------------------------------------- */

int cli_keygen(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error(argv[0], "usage: mxdb keygen FILE");
	mx_key key;
	mxdb_error err;
	if (key_generate(&key, &err) != MXDB_OK || key_save(&key, argv[1], &err) != MXDB_OK) {
		sodium_memzero(&key, sizeof(key));
		return cli_usage_error(argv[0], "%s", err.message);
	}
	char pub[64];
	key_public_b64(&key, pub);
	printf("%s %s\n", key.key_id, pub);
	sodium_memzero(&key, sizeof(key));
	return 0;
}
