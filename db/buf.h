/*
 * buf.h: a growing, always NUL-terminated byte buffer for bodies that
 * arrive piece by piece (libcurl write callbacks, HTTP uploads, text queued
 * for a stream). Owns its bytes; knows nothing of where they come from, so
 * callers keep their own size limits.
 */
#ifndef MX_BUF_H
#define MX_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mx_buf {
	char *data; /* NULL until the first byte; then NUL-terminated */
	size_t len, cap;
} mx_buf;

/* Appends n bytes; false when out of memory (the buffer is then unchanged). */
bool mx_buf_add(mx_buf *b, const void *p, size_t n);
/* A libcurl CURLOPT_WRITEFUNCTION whose userdata is an mx_buf: returns the
 * bytes taken, 0 when out of memory (curl then fails the transfer). */
size_t mx_buf_write(char *data, size_t size, size_t n, void *buf);
/* Frees the bytes and empties the buffer (reusable afterwards). */
void mx_buf_free(mx_buf *b);

#endif
