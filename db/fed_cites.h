/*
 * fed_cites.h: per room, how many rows of one state group cite each auth
 * event (table fed_cites, db/fed_cites.c). A merge needs the auth events
 * cited by the rows outside the keys it resolves; this count, less the
 * group's rows it reads anyway, gives them without reading the table.
 * Writer connection only.
 */
#ifndef MX_FED_CITES_H
#define MX_FED_CITES_H

#include <stdint.h>

#include "store.h"

/* The counts (*cnt: new map, event ID -> intptr_t count) and the group
 * they are of (*sg). A room without them gets them counted once over the
 * whole state of group build_sg, and stored. */
mxdb_status fed_cites_load(store_conn *w, int64_t room_nid, int64_t build_sg, mx_map **cnt,
                           int64_t *sg, mxdb_error *err);
/* Stores cnt (counts of group sg) over old (as loaded): only what changed. */
mxdb_status fed_cites_save(store_conn *w, int64_t room_nid, const mx_map *old, const mx_map *cnt,
                           int64_t sg, mxdb_error *err);
/* Adds delta to cnt's count of every auth event the event at pos cites (pos
 * 0: none). */
mxdb_status fed_cite(store_conn *w, mx_map *cnt, int64_t pos, intptr_t delta, mxdb_error *err);

#endif
