/*
 * buf.c: the growing byte buffer (buf.h). Doubles its capacity so that a
 * body read in many small pieces costs few reallocations.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

bool mx_buf_add(mx_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *nb = realloc(b->data, cap);
		if (nb == NULL)
			return false;
		b->data = nb;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

size_t mx_buf_write(char *data, size_t size, size_t n, void *buf)
{
	return mx_buf_add(buf, data, size * n) ? size * n : 0;
}

void mx_buf_free(mx_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
