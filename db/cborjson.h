/*
 * cborjson.h: conversion between CBOR (libcbor) and JSON (jansson) for row
 * values and change records. Owns only the mapping; never decides what a
 * row may contain (that is the engine's canonical-JSON check).
 *
 * The mapping, both ways:
 *
 *   CBOR                                   JSON
 *   map with text-string keys (major 5)    object
 *   array (major 4)                        array
 *   text string (major 3, valid UTF-8)     string
 *   unsigned / negative integer            integer, within +-(2^53-1)
 *   true, false, null (simple 20, 21, 22)  true, false, null
 *
 * Definite and indefinite lengths are both read; writing always uses
 * definite lengths and the shortest integer encoding. Everything else is
 * refused with MXDB_EBADJSON and a message naming the value and where it is
 * ("content.a[2]: CBOR floats cannot be carried..."): floats (Matrix JSON has
 * no floats), byte strings, tags, undefined, other simple values, map keys
 * that are not text (or hold U+0000), duplicate map keys, integers outside
 * +-(2^53-1), nesting deeper than CBJ_MAX_DEPTH, and trailing bytes after
 * the item. Text is checked to be UTF-8; a body that is not CBOR at all is
 * MXDB_ENOTJSON.
 */
#ifndef MX_CBORJSON_H
#define MX_CBORJSON_H

#include <stddef.h>
#include <cbor.h>
#include <jansson.h>

#include "err.h"

#define CBJ_MAX_DEPTH 128

/* Decodes exactly one CBOR item filling data[0..len) into a new JSON reference. */
mxdb_status cbj_decode(const unsigned char *data, size_t len, json_t **out, mxdb_error *err);

/* Converts a libcbor item already in memory. */
mxdb_status cbj_item_to_json(const cbor_item_t *item, json_t **out, mxdb_error *err);

/* Builds a libcbor item (refcount 1, the caller's) from a JSON value. */
mxdb_status cbj_item_from_json(const json_t *v, cbor_item_t **out, mxdb_error *err);

/* Encodes a JSON value as CBOR into a new malloc'd buffer (free with free()). */
mxdb_status cbj_encode(const json_t *v, unsigned char **out, size_t *len, mxdb_error *err);

/* The shortest CBOR integer item for v (|v| <= 2^53-1 is not checked here). */
cbor_item_t *cbj_build_int(long long v);

#endif
