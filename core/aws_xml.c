/*
 * aws_xml: the XML helpers of core/aws.h (elements by local name,
 * namespaces ignored), for reading Query-protocol answers parsed by libxml2.
 */
#include <string.h>

#include "core/aws.h"
#include "core/alloc.h"

xmlNode *fl_aws_xml_child(xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

xmlNode *fl_aws_xml_path(xmlNode *n, const char *path)
{
	char seg[128];

	while (n && path && *path) {
		const char *slash = strchr(path, '/');
		size_t l = slash ? (size_t)(slash - path) : strlen(path);

		if (l >= sizeof(seg))
			return NULL;
		memcpy(seg, path, l);
		seg[l] = '\0';
		n = fl_aws_xml_child(n, seg);
		path = slash ? slash + 1 : NULL;
	}
	return n;
}

xmlNode *fl_aws_xml_next(xmlNode *n)
{
	for (xmlNode *c = n ? n->next : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    strcmp((const char *)c->name, (const char *)n->name) == 0)
			return c;
	return NULL;
}

char *fl_aws_xml_text(xmlNode *n, const char *path)
{
	xmlNode *e = fl_aws_xml_path(n, path);
	xmlChar *t;
	char *s;

	if (!e)
		return NULL;
	t = xmlNodeGetContent(e);
	if (!t)
		return NULL;
	s = fl_strdup((const char *)t);
	xmlFree(t);
	return s;
}

int fl_aws_xml_text_is(xmlNode *n, const char *path, const char *s)
{
	char *t = fl_aws_xml_text(n, path);
	int eq = t && s && strcmp(t, s) == 0;

	fl_free(t);
	return eq;
}
