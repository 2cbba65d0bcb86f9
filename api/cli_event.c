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

/* cli_doc_fn: the event ID of one PDU. */
static mxdb_status event_id_doc(const char *text, size_t len, cj_buf *out, const void *ctx,
                                mxdb_error *err)
{
	char id[EV_MAX_ID + 1];
	mxdb_status st = event_id_of(text, len, ctx, id, err);
	if (st != MXDB_OK)
		return st;
	return cj_buf_append(out, id, strlen(id), err);
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
	return cli_run_docs(cmd, lines, event_id_doc, rv, 1);
}
