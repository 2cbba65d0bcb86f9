/*
 * cli_stateres.c: `mxdb stateres FILE.json`: resolves one scenario (the
 * format of shared/vectors/stateres/README.md) and prints the resolved state
 * as canonical JSON {"type|state_key": event_id} and a newline. A shell over
 * sr_fixture_load and sr_resolve; no logic of its own.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cjson.h"
#include "cli.h"
#include "sr_fixture.h"

int cli_stateres(int argc, char **argv)
{
	const char *cmd = argv[0];
	if (argc != 2)
		return cli_usage_error(cmd, "usage: mxdb stateres FILE.json");
	json_error_t jerr;
	json_t *root = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return cli_usage_error(cmd, "%s:%d: %s", argv[1], jerr.line, jerr.text);
	sr_fixture *f = NULL;
	mx_map *out = NULL;
	mxdb_error err;
	mxdb_status st = sr_fixture_load(root, &f, &err);
	json_decref(root);
	if (st == MXDB_OK)
		st = sr_resolve(f->rv, f->state_sets, f->n_sets, &f->lookup, &out, &err);
	sr_fixture_free(f);
	if (st != MXDB_OK)
		return cli_usage_error(cmd, "%s: %s: %s", argv[1], mxdb_status_name(st), err.message);
	json_t *obj = sr_state_to_json(out);
	map_free(out, free);
	char *text = NULL;
	size_t len;
	st = obj != NULL ? cj_dump(obj, &text, &len, &err) : MXDB_ENOMEM;
	json_decref(obj);
	if (st != MXDB_OK)
		return cli_usage_error(cmd, "cannot write the result");
	fwrite(text, 1, len, stdout);
	fputc('\n', stdout);
	free(text);
	return 0;
}
