/*
 * doc_index: the position index of a JSON document (core/doc.h): for every
 * object member and array element, where its key and its value start in the
 * text (1-based lines, columns in code points, as jansson counts them).
 *
 * Owns: the index and its entries. Does not own: the JSON tree (jansson; the
 * index borrows its pointers and keys) or the document (core/doc.c).
 */
#ifndef FAULTLINE_DOC_INDEX_H
#define FAULTLINE_DOC_INDEX_H

#include <jansson.h>
#include <stddef.h>

struct fl_doc_pos {
	const json_t *parent; /* NULL for the root */
	const char *key;      /* borrowed from jansson's object, or NULL for an index */
	size_t index;
	const json_t *value;
	int key_line, key_col;
	int val_line, val_col;
	int marked;      /* a getter asked for this key */
	size_t next_pk;  /* chain in the (parent, key/index) table, 0 = end */
	size_t next_val; /* chain in the value-pointer table */
};

struct fl_doc_index {
	struct fl_doc_pos *pos; /* pos[0] unused so that 0 ends a chain */
	size_t npos, apos;
	size_t *pk_buckets;
	size_t *val_buckets;
	size_t nbuckets;
};

/* Indexes value, the tree jansson parsed from text[0..len) (which must be
 * valid JSON). pos[1] is the root. 0, or -1 when out of memory. */
int fl_doc_index_build(struct fl_doc_index *ix, const json_t *value, const char *text, size_t len);
void fl_doc_index_release(struct fl_doc_index *ix);
/* The entry of parent[key] (key non-NULL) or parent[index]; NULL if none. */
struct fl_doc_pos *fl_doc_index_find(const struct fl_doc_index *ix, const json_t *parent,
				     const char *key, size_t index);
/* The entry whose value is value; NULL for true, false and null, which are
 * shared singletons with no single place (callers use the key's). */
const struct fl_doc_pos *fl_doc_index_find_value(const struct fl_doc_index *ix, const json_t *value);

#endif
