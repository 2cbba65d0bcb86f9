/*
 * map.h: a hash map from byte-string keys to pointers (open addressing,
 * linear probing). Keys are copied and owned by the map; values are not,
 * unless map_free is given a destructor. Used for state maps, event indexes
 * and caches across db/.
 *
 * State maps key (type, state_key) as type, one NUL byte, state_key: a NUL
 * cannot occur inside either (JSON strings we accept carry no U+0000).
 */
#ifndef MX_MAP_H
#define MX_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mx_map mx_map;

mx_map *map_new(size_t expected);
void map_free(mx_map *m, void (*free_value)(void *));
size_t map_count(const mx_map *m);

void *map_get(const mx_map *m, const char *key, size_t klen);
bool map_has(const mx_map *m, const char *key, size_t klen);
/* Inserts or replaces. Returns the replaced value through old (may be NULL).
 * Returns 0, or -1 when out of memory (the map is unchanged). */
int map_put(mx_map *m, const char *key, size_t klen, void *value, void **old);
/* Removes; returns the value or NULL. */
void *map_del(mx_map *m, const char *key, size_t klen);

/* Iteration in unspecified order: start with *it = 0.
 *     size_t it = 0; const char *k; size_t kl; void *v;
 *     while (map_next(m, &it, &k, &kl, &v)) ...
 * Do not insert or delete while iterating. */
bool map_next(const mx_map *m, size_t *it, const char **key, size_t *klen, void **value);

/* Builds the state-map key for (type, state_key) into buf (cap bytes);
 * returns its length, or 0 if it does not fit. */
size_t map_state_key(char *buf, size_t cap, const char *type, const char *state_key);
/* Splits a state-map key back into its two parts (pointers into key). */
void map_state_key_split(const char *key, size_t klen, const char **type, const char **state_key);

#endif
