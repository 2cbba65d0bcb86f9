/*
 * sr_fixture.h: state-resolution scenarios as JSON files (the format of
 * shared/vectors/stateres/README.md): room version, events, state sets,
 * expected result. Loads and checks them for `mxdb stateres`, the tests and
 * anything else that replays a scenario.
 */
#ifndef MX_SR_FIXTURE_H
#define MX_SR_FIXTURE_H

#include <jansson.h>

#include "stateres.h"

typedef struct sr_fixture {
	const mx_room_version *rv;
	ev_t **events;       /* owned, in file order */
	size_t n_events;
	mx_map *by_id;       /* event ID -> ev_t * (borrowed from events) */
	mx_map **state_sets; /* owned; key -> owned char * event ID */
	size_t n_sets;
	mx_map *expected;    /* owned, or NULL when the file has none */
	sr_lookup lookup;    /* over by_id */
} sr_fixture;

/* The room version whose auth rules a scenario's version uses: "2" and "6"
 * run with version 10's (they agree on every vector); NULL if unsupported. */
const mx_room_version *sr_fixture_version(const char *id);

/* Parses events (an array of event objects with "event_id", optionally
 * "rejected") into f->events and f->by_id. Checks unique IDs, that every
 * prev/auth event is known, and that the prev+auth graph has no cycle. */
mxdb_status sr_fixture_events(sr_fixture *f, const json_t *events, mxdb_error *err);
/* Parses a state map {"type|state_key": event_id} whose events are known
 * and are state events of that key. */
mxdb_status sr_fixture_state(const sr_fixture *f, const json_t *obj, mx_map **out,
                             mxdb_error *err);
/* A whole resolve scenario; also requires an m.room.create event. */
mxdb_status sr_fixture_load(const json_t *root, sr_fixture **out, mxdb_error *err);
sr_fixture *sr_fixture_new(const mx_room_version *rv);
void sr_fixture_free(sr_fixture *f);

/* The state map as one JSON object {"type|state_key": event_id}. */
json_t *sr_state_to_json(const mx_map *state);

#endif
