/*
 * cli_event.c: `mxdb event-id`: reads one PDU on stdin and prints its event
 * ID (the reference hash) under a room version. A thin shell over
 * ev_from_json, which also validates the event; no logic of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "cli.h"
#include "ev.h"

int cli_event_id(int argc, char **argv)
{
	const char *cmd = argv[0];
	const mx_room_version *rv = rv_default();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--room-version") == 0 && i + 1 < argc) {
			if ((rv = rv_get(argv[++i])) == NULL)
				return cli_usage_error(cmd, "unsupported room version '%s'", argv[i]);
		} else {
			return cli_usage_error(cmd, "usage: mxdb event-id [--room-version V] < pdu.json");
		}
	}
	size_t len;
	char *text = cli_read_stdin(&len);
	if (text == NULL)
		return cli_usage_error(cmd, "cannot read stdin");
	json_t *pdu = NULL;
	ev_t *ev = NULL;
	mxdb_error err;
	mxdb_status st = cj_parse(text, len, &pdu, &err);
	free(text);
	if (st == MXDB_OK)
		st = ev_from_json(pdu, NULL, rv, &ev, &err);
	json_decref(pdu);
	if (st != MXDB_OK)
		return cli_usage_error(cmd, "%s: %s", mxdb_status_name(st), err.message);
	printf("%s\n", ev->event_id);
	ev_free(ev);
	return 0;
}
