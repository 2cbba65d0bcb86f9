/*
 * cli_event.c: `mxdb event-id`: reads a PDU on stdin and prints its event ID
 * (the reference hash) under a room version, or with --lines one ID per
 * input line (docs/cli.md). A thin shell over ev_from_json, which also
 * validates the event; no event logic of its own.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "cli.h"
#include "ev.h"

/* The event ID of one PDU text into id. */
static mxdb_status event_id_of(const char *text, size_t len, const mx_room_version *rv,
                               char id[EV_MAX_ID + 1], mxdb_error *err)
{
	json_t *pdu = NULL;
	ev_t *ev = NULL;
	mxdb_status st = cj_parse(text, len, &pdu, err);
	if (st == MXDB_OK)
		st = ev_from_json(pdu, NULL, rv, &ev, err);
	if (st == MXDB_OK)
		snprintf(id, EV_MAX_ID + 1, "%s", ev->event_id);
	ev_free(ev);
	json_decref(pdu);
	return st;
}

/* One document per line: an ID or "error: <why>" per line, exit 2 if any failed. */
static int event_ids_by_line(const char *cmd, char *in, size_t len, const mx_room_version *rv)
{
	int rc = 0;
	size_t lineno = 0;
	char id[EV_MAX_ID + 1];
	mxdb_error err;
	for (char *p = in, *end = in + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		if (event_id_of(p, n, rv, id, &err) == MXDB_OK) {
			printf("%s\n", id);
		} else {
			printf("error: %s\n", err.message);
			fprintf(stderr, "mxdb %s: line %zu: %s\n", cmd, lineno, err.message);
			rc = 2;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return rc;
}

int cli_event_id(int argc, char **argv)
{
	static const struct option opts[] = {
		{"room-version", required_argument, NULL, 'v'},
		{"lines", no_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = argv[0];
	const mx_room_version *rv = rv_default();
	int lines = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'l')
			lines = 1;
		else if (c != 'v')
			return cli_usage_error(cmd, "usage: mxdb event-id [--room-version V] [--lines] < PDU");
		else if ((rv = rv_get(optarg)) == NULL)
			return cli_usage_error(cmd, "unsupported room version '%s'", optarg);
	}
	if (optind != argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	size_t len;
	char *in = cli_read_stdin(&len);
	if (in == NULL)
		return cli_usage_error(cmd, "cannot read standard input");
	int rc;
	char id[EV_MAX_ID + 1];
	mxdb_error err;
	if (lines)
		rc = event_ids_by_line(cmd, in, len, rv);
	else if (event_id_of(in, len, rv, id, &err) != MXDB_OK)
		rc = cli_usage_error(cmd, "%s", err.message);
	else
		rc = printf("%s\n", id) < 0 ? 2 : 0;
	free(in);
	if (fflush(stdout) != 0)
		rc = cli_usage_error(cmd, "cannot write standard output");
	return rc;
}
