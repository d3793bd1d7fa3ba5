/*
 * doc_index: where every value of a parsed JSON text starts.
 *
 * jansson knows positions only while it parses, so after a successful parse
 * we scan the (now known to be valid) text once more, in step with the tree
 * jansson built, and record for every object member and array element where
 * its key and its value start. Object members are matched by iteration order:
 * jansson keeps insertion order and duplicates are rejected, so the n-th key
 * in the text is the n-th key of the object. Entries are keyed by (parent,
 * key) or (parent, index) — never by the value pointer alone, because true,
 * false and null are shared singletons.
 *
 * Owns: the scanner and the two hash tables. Does not own: parsing (jansson,
 * via doc.c), error messages or the getters (doc.c).
 */
#include "core/doc_index.h"
#include "core/alloc.h"

#include <stdint.h>
#include <string.h>

static size_t hash_ptr(const void *p)
{
	uintptr_t v = (uintptr_t)p;
	v ^= v >> 17;
	v *= UINT64_C(0xed5ad4bb);
	v ^= v >> 11;
	return (size_t)v;
}

static size_t hash_pk(const json_t *parent, const char *key, size_t index)
{
	size_t h = hash_ptr(parent);
	if (key) {
		for (const unsigned char *s = (const unsigned char *)key; *s; s++)
			h = h * 31 + *s;
	} else {
		h = h * 31 + index + 1;
	}
	return h;
}

static int pos_add(struct fl_doc_index *doc, const struct fl_doc_pos *p)
{
	if (doc->npos == doc->apos) {
		size_t na = doc->apos ? doc->apos * 2 : 64;
		struct fl_doc_pos *np = fl_realloc(doc->pos, na * sizeof(*np));
		if (!np)
			return -1;
		doc->pos = np;
		doc->apos = na;
	}
	if (doc->npos == 0)
		memset(&doc->pos[doc->npos++], 0, sizeof(*doc->pos));
	doc->pos[doc->npos++] = *p;
	return 0;
}

/* Builds the hash chains once all entries are known (the array no longer
 * moves, so chains can hold indexes). */
static int pos_build_tables(struct fl_doc_index *doc)
{
	size_t n = 16;
	while (n < doc->npos * 2)
		n *= 2;
	doc->pk_buckets = fl_calloc(n, sizeof(size_t));
	doc->val_buckets = fl_calloc(n, sizeof(size_t));
	if (!doc->pk_buckets || !doc->val_buckets)
		return -1;
	doc->nbuckets = n;
	for (size_t i = doc->npos; i-- > 1;) {
		struct fl_doc_pos *p = &doc->pos[i];
		size_t b = hash_pk(p->parent, p->key, p->index) & (n - 1);
		p->next_pk = doc->pk_buckets[b];
		doc->pk_buckets[b] = i;
		b = hash_ptr(p->value) & (n - 1);
		p->next_val = doc->val_buckets[b];
		doc->val_buckets[b] = i;
	}
	return 0;
}

struct fl_doc_pos *fl_doc_index_find(const struct fl_doc_index *doc, const json_t *parent,
				     const char *key, size_t index)
{
	size_t i;
	if (!doc || !doc->nbuckets)
		return NULL;
	i = doc->pk_buckets[hash_pk(parent, key, index) & (doc->nbuckets - 1)];
	for (; i; i = doc->pos[i].next_pk) {
		struct fl_doc_pos *p = &doc->pos[i];
		if (p->parent != parent)
			continue;
		if (key ? p->key && strcmp(p->key, key) == 0 : !p->key && p->index == index)
			return p;
	}
	return NULL;
}

static int is_singleton(const json_t *v)
{
	return json_is_true(v) || json_is_false(v) || json_is_null(v);
}

/* The scanner: walks the validated text with the tree. `line`/`col` follow
 * jansson's convention (1-based lines, columns counted in code points). */
struct scan {
	const char *s, *end;
	int line, col;
	struct fl_doc_index *doc;
	int depth;
};

static void scan_advance(struct scan *sc)
{
	unsigned char c = (unsigned char)*sc->s++;
	if (c == '\n') {
		sc->line++;
		sc->col = 0;
	} else if ((c & 0xC0) != 0x80) {
		sc->col++; /* continuation bytes do not start a new code point */
	}
}

static void scan_ws(struct scan *sc)
{
	while (sc->s < sc->end &&
	       (*sc->s == ' ' || *sc->s == '\t' || *sc->s == '\n' || *sc->s == '\r'))
		scan_advance(sc);
}

static void scan_string(struct scan *sc)
{
	scan_advance(sc); /* opening quote */
	while (sc->s < sc->end && *sc->s != '"') {
		if (*sc->s == '\\' && sc->s + 1 < sc->end)
			scan_advance(sc);
		scan_advance(sc);
	}
	if (sc->s < sc->end)
		scan_advance(sc);
}

/* Position of the next character, 1-based column. */
static void scan_here(const struct scan *sc, int *line, int *col)
{
	*line = sc->line;
	*col = sc->col + 1;
}

static int scan_value(struct scan *sc, const json_t *v);

static int scan_object(struct scan *sc, const json_t *obj)
{
	void *it = json_object_iter(FL_UNCONST(json_t *, obj));
	scan_advance(sc); /* { */
	scan_ws(sc);
	while (sc->s < sc->end && *sc->s != '}') {
		struct fl_doc_pos p;
		if (!it)
			return -1; /* text and tree disagree: cannot happen for jansson's own parse */
		memset(&p, 0, sizeof(p));
		p.parent = obj;
		p.key = json_object_iter_key(it);
		p.value = json_object_iter_value(it);
		scan_here(sc, &p.key_line, &p.key_col);
		scan_string(sc);
		scan_ws(sc);
		scan_advance(sc); /* : */
		scan_ws(sc);
		scan_here(sc, &p.val_line, &p.val_col);
		if (pos_add(sc->doc, &p) < 0 || scan_value(sc, p.value) < 0)
			return -1;
		scan_ws(sc);
		if (sc->s < sc->end && *sc->s == ',') {
			scan_advance(sc);
			scan_ws(sc);
		}
		it = json_object_iter_next(FL_UNCONST(json_t *, obj), it);
	}
	if (sc->s < sc->end)
		scan_advance(sc); /* } */
	return 0;
}

static int scan_array(struct scan *sc, const json_t *arr)
{
	size_t i = 0;
	scan_advance(sc); /* [ */
	scan_ws(sc);
	while (sc->s < sc->end && *sc->s != ']') {
		struct fl_doc_pos p;
		memset(&p, 0, sizeof(p));
		p.parent = arr;
		p.index = i;
		p.value = json_array_get(arr, i);
		if (!p.value)
			return -1;
		scan_here(sc, &p.val_line, &p.val_col);
		p.key_line = p.val_line;
		p.key_col = p.val_col;
		if (pos_add(sc->doc, &p) < 0 || scan_value(sc, p.value) < 0)
			return -1;
		scan_ws(sc);
		if (sc->s < sc->end && *sc->s == ',') {
			scan_advance(sc);
			scan_ws(sc);
		}
		i++;
	}
	if (sc->s < sc->end)
		scan_advance(sc); /* ] */
	return 0;
}

static int scan_value(struct scan *sc, const json_t *v)
{
	int rc;
	if (sc->s >= sc->end)
		return -1;
	if (++sc->depth > 4096)
		return -1;
	switch (*sc->s) {
	case '{': rc = scan_object(sc, v); break;
	case '[': rc = scan_array(sc, v); break;
	case '"':
		scan_string(sc);
		rc = 0;
		break;
	default:
		/* number, true, false, null: up to the next delimiter */
		while (sc->s < sc->end && !strchr(",]} \t\r\n", *sc->s))
			scan_advance(sc);
		rc = 0;
		break;
	}
	sc->depth--;
	return rc;
}

int fl_doc_index_build(struct fl_doc_index *doc, const json_t *value, const char *text, size_t len)
{
	struct scan sc = { text, text + len, 1, 0, doc, 0 };
	struct fl_doc_pos root;
	scan_ws(&sc);
	memset(&root, 0, sizeof(root));
	root.value = value;
	scan_here(&sc, &root.val_line, &root.val_col);
	root.key_line = root.val_line;
	root.key_col = root.val_col;
	if (pos_add(doc, &root) < 0 || scan_value(&sc, value) < 0)
		return -1;
	return pos_build_tables(doc);
}

void fl_doc_index_release(struct fl_doc_index *doc)
{
	fl_free(doc->pos);
	fl_free(doc->pk_buckets);
	fl_free(doc->val_buckets);
	memset(doc, 0, sizeof(*doc));
}

const struct fl_doc_pos *fl_doc_index_find_value(const struct fl_doc_index *doc, const json_t *value)
{
	if (!doc->nbuckets || !value || is_singleton(value))
		return NULL;
	for (size_t i = doc->val_buckets[hash_ptr(value) & (doc->nbuckets - 1)]; i;
	     i = doc->pos[i].next_val)
		if (doc->pos[i].value == value)
			return &doc->pos[i];
	return NULL;
}
