/*
 * fed_routes.h: what the federation route files (fed_routes.c, the gate and
 * route tables; fed_member.c, the membership routes) share. Internal to
 * api/.
 */
#ifndef MX_FED_ROUTES_H
#define MX_FED_ROUTES_H

#include <stdbool.h>
#include <jansson.h>

#include "fed_service.h"
#include "http.h"

static inline fed_service *fed_route_service(http_req *r)
{
	return fed_of(r->app);
}

/* X-Matrix: fills origin, or replies 401 and returns false. */
bool fed_route_authed(http_req *r, char origin[256]);

/* A stored event as a PDU (new reference) or NULL. */
json_t *fed_route_load_pdu(fed_service *f, const char *id);

/* make_join, make_leave, make_knock; send_join, send_leave, send_knock;
 * v2 invite (fed_member.c). */
void fed_route_make_join(http_req *r);
void fed_route_make_leave(http_req *r);
void fed_route_make_knock(http_req *r);
void fed_route_send_join(http_req *r);
void fed_route_send_leave(http_req *r);
void fed_route_send_knock(http_req *r);
void fed_route_invite(http_req *r);

#endif
