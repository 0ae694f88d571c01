/*
 * The three patch types against kube-apiserver's semantics: JSON patch operations, pointers and
 * their errors; merge patch; strategic merge patch with the served kinds' schema (merge keys at
 * depth, directives, ordering, retainKeys) and its errors. Documents (not error messages) are
 * written with ' for " to stay readable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_patch.h"
#include "api_schema.h"
#include "cleanup.h"

/* s with every ' turned into " (malloc'd). */
static char *q(const char *s)
{
	char *out = strdup(s);

	for (char *p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

static json_t *load(const char *s)
{
	_cleanup_free_ char *t = q(s);
	json_error_t jerr;
	json_t *v = json_loads(t, JSON_DECODE_ANY, &jerr);

	if (!v)
		fail_msg("bad test JSON %s: %s", t, jerr.text);
	return v;
}

static const struct api_schema_type *deploy_type(void)
{
	const struct api_schema_type *t = api_schema_kind("apps", "v1", "Deployment");

	assert_non_null(t);
	return t;
}

static const struct api_schema_type *pod_type(void)
{
	const struct api_schema_type *t = api_schema_kind("", "v1", "Pod");

	assert_non_null(t);
	return t;
}

static json_t *apply(const char *obj, const char *patch, enum api_patch_type type,
		     const struct api_schema_type *t, struct k8c_error *err)
{
	_cleanup_json_ json_t *o = load(obj);
	_cleanup_free_ char *p = q(patch);

	return api_patch_apply(o, p, strlen(p), type, t, err);
}

static void check(const char *obj, const char *patch, enum api_patch_type type,
		  const struct api_schema_type *t, const char *want)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *got = apply(obj, patch, type, t, &err);
	_cleanup_json_ json_t *w = load(want);

	if (!got)
		fail_msg("patch %s failed: %d %s", patch, err.code, err.msg);
	if (!json_equal(got, w)) {
		_cleanup_free_ char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		_cleanup_free_ char *ws = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);

		fail_msg("patch %s\n got  %s\n want %s", patch, g, ws);
	}
}

static void check_err(const char *obj, const char *patch, enum api_patch_type type,
		      const struct api_schema_type *t, int code, const char *msg)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *got = apply(obj, patch, type, t, &err);

	if (got)
		fail_msg("patch %s should fail with %d", patch, code);
	if (err.code != code || strcmp(err.msg, msg) != 0)
		fail_msg("patch %s: got %d %s\nwant %d %s", patch, err.code, err.msg, code, msg);
	k8c_error_clear(&err);
}

#define JP  API_PATCH_JSON
#define MP  API_PATCH_MERGE
#define SMP API_PATCH_STRATEGIC

static void content_types(void **state)
{
	enum api_patch_type t;

	(void)state;
	assert_int_equal(api_patch_type("application/json-patch+json", 27, &t), 0);
	assert_int_equal(t, API_PATCH_JSON);
	assert_int_equal(api_patch_type("application/merge-patch+json; charset=utf-8", 43, &t), 0);
	assert_int_equal(t, API_PATCH_MERGE);
	assert_int_equal(api_patch_type("Application/Strategic-Merge-Patch+json", 38, &t), 0);
	assert_int_equal(t, API_PATCH_STRATEGIC);
	assert_int_equal(api_patch_type("application/json", 16, &t), -1);
	assert_int_equal(api_patch_type("application/apply-patch+yaml", 28, &t), -1);
}

/* ---- JSON patch ---- */

static void json_patch_ops(void **state)
{
	const char *doc = "{'metadata':{'name':'x','labels':{'a':'1'}},'list':[1,2,3]}";

	(void)state;
	check(doc, "[{'op':'add','path':'/metadata/labels/b','value':'2'}]", JP, NULL,
	      "{'metadata':{'name':'x','labels':{'a':'1','b':'2'}},'list':[1,2,3]}");
	check(doc, "[{'op':'remove','path':'/metadata/labels/a'}]", JP, NULL,
	      "{'metadata':{'name':'x','labels':{}},'list':[1,2,3]}");
	check(doc, "[{'op':'replace','path':'/list/1','value':9}]", JP, NULL,
	      "{'metadata':{'name':'x','labels':{'a':'1'}},'list':[1,9,3]}");
	/* "-" appends, an index inserts before, a negative index counts from the end */
	check(doc,
	      "[{'op':'add','path':'/list/-','value':4},{'op':'add','path':'/list/0','value':0}]",
	      JP, NULL, "{'metadata':{'name':'x','labels':{'a':'1'}},'list':[0,1,2,3,4]}");
	check(doc, "[{'op':'add','path':'/list/3','value':4},{'op':'remove','path':'/list/-1'}]",
	      JP, NULL, "{'metadata':{'name':'x','labels':{'a':'1'}},'list':[1,2,3]}");
	check(doc, "[{'op':'move','from':'/metadata/labels','path':'/labels'}]", JP, NULL,
	      "{'metadata':{'name':'x'},'labels':{'a':'1'},'list':[1,2,3]}");
	check(doc,
	      "[{'op':'copy','from':'/list','path':'/metadata/l'},{'op':'remove','path':'/list'}]",
	      JP, NULL, "{'metadata':{'name':'x','labels':{'a':'1'},'l':[1,2,3]}}");
	check(doc,
	      "[{'op':'test','path':'/metadata/name','value':'x'},{'op':'test','path':'/list',"
	      "'value':[1,2,3]},{'op':'add','path':'/ok','value':true}]",
	      JP, NULL, "{'metadata':{'name':'x','labels':{'a':'1'}},'list':[1,2,3],'ok':true}");
	/* ~1 is '/', ~0 is '~' in a member name */
	check("{'a':{}}",
	      "[{'op':'add','path':'/a/example.com~1x','value':'1'},{'op':'add','path':'/a/m~0n',"
	      "'value':'2'},{'op':'add','path':'/a/~01','value':'3'}]",
	      JP, NULL, "{'a':{'example.com/x':'1','m~n':'2','~1':'3'}}");
	/* as the library kube-apiserver uses: replace of a missing member adds it */
	check(doc, "[{'op':'replace','path':'/metadata/uid','value':'u'}]", JP, NULL,
	      "{'metadata':{'name':'x','labels':{'a':'1'},'uid':'u'},'list':[1,2,3]}");
	/* the whole document */
	check(doc, "[{'op':'replace','path':'','value':{'b':1}}]", JP, NULL, "{'b':1}");
	/* a null body is no operation */
	check(doc, "null", JP, NULL, doc);
}

static void json_patch_errors(void **state)
{
	const char *doc = "{'metadata':{'name':'x'},'list':[1,2]}";

	(void)state;
	check_err(doc, "[{'op':'test','path':'/metadata/name','value':'y'}]", JP, NULL, 422,
		  "testing value /metadata/name failed: test failed");
	check_err(doc, "[{'op':'remove','path':'/metadata/labels/a'}]", JP, NULL, 422,
		  "remove operation does not apply: doc is missing path: \"/metadata/labels/a\": "
		  "missing value");
	check_err(doc, "[{'op':'remove','path':'/metadata/uid'}]", JP, NULL, 422,
		  "error in remove for path: '/metadata/uid': Unable to remove nonexistent key: "
		  "uid: missing value");
	check_err(doc, "[{'op':'add','path':'/list/5','value':1}]", JP, NULL, 422,
		  "error in add for path: '/list/5': Unable to access invalid index: 5: invalid "
		  "index referenced");
	check_err(doc, "[{'op':'add','path':'/list/x','value':1}]", JP, NULL, 422,
		  "error in add for path: '/list/x': value was not a proper array index: 'x': "
		  "strconv.Atoi: parsing \"x\": invalid syntax");
	check_err(doc, "[{'op':'replace','path':'/list/2','value':1}]", JP, NULL, 422,
		  "replace operation does not apply: doc is missing key: /list/2: missing value");
	check_err(
		doc, "[{'op':'move','from':'/nope/a','path':'/b'}]", JP, NULL, 422,
		"move operation does not apply: doc is missing from path: /nope/a: missing value");
	check_err(doc, "[{'op':'frob','path':'/a'}]", JP, NULL, 422, "Unexpected kind: frob");
	check_err(doc, "[{'path':'/a'}]", JP, NULL, 422, "Unexpected kind: unknown");
	check_err(doc, "[{'op':'add','value':1}]", JP, NULL, 422,
		  "add operation failed to decode path: missing value");
	/* nothing applies when one operation fails: the caller keeps the object */
	check_err(doc, "[{'op':'add','path':'/a','value':1},{'op':'test','path':'/a','value':2}]",
		  JP, NULL, 422, "testing value /a failed: test failed");
	/* decoding */
	check_err(doc, "{'op':'add'}", JP, NULL, 400,
		  "error decoding patch: json: cannot unmarshal object into Go value of type "
		  "[]handlers.jsonPatchOp");
	check_err(doc, "['add']", JP, NULL, 400,
		  "error decoding patch: json: cannot unmarshal string into Go value of type "
		  "handlers.jsonPatchOp");
	check_err(doc, "[{'op':1,'path':'/a'}]", JP, NULL, 400,
		  "error decoding patch: json: cannot unmarshal number into Go struct field "
		  "jsonPatchOp.op of type string");
}

static void json_patch_too_many(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *o = json_object(), *got = NULL;

	(void)state;
	fputc('[', f);
	for (int i = 0; i <= 10000; i++)
		fprintf(f, "%s{\"op\":\"test\",\"path\":\"\",\"value\":{}}", i ? "," : "");
	fputc(']', f);
	fclose(f);
	got = api_patch_apply(o, buf, len, API_PATCH_JSON, NULL, &err);
	assert_null(got);
	assert_int_equal(err.code, 413);
	assert_string_equal(err.msg, "Request entity too large: The allowed maximum operations in "
				     "a JSON patch is 10000, got 10001");
	k8c_error_clear(&err);
	free(buf);
}

static void error_status(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *st = NULL;

	(void)state;
	k8c_error_set(&err, 422, "testing value /a failed: test failed");
	st = api_patch_error_status(&err);
	assert_int_equal(json_integer_value(json_object_get(st, "code")), 422);
	assert_string_equal(json_string_value(json_object_get(st, "reason")), "Invalid");
	assert_string_equal(json_string_value(json_object_get(st, "message")),
			    "the server rejected our request due to an error in our request");
	json_decref(st);
	k8c_error_set(&err, 500, "unknown patch type: x in map: map[$patch:x]");
	st = api_patch_error_status(&err);
	assert_null(json_object_get(st, "reason"));
	assert_string_equal(json_string_value(json_object_get(st, "message")),
			    "unknown patch type: x in map: map[$patch:x]");
	k8c_error_clear(&err);
}

/* ---- merge patch ---- */

static void merge_patch(void **state)
{
	(void)state;
	check("{'a':{'b':1,'c':2},'l':[1,2]}", "{'a':{'b':null,'d':{'e':null,'f':1}},'l':[3]}", MP,
	      NULL, "{'a':{'c':2,'d':{'f':1}},'l':[3]}");
	/* an object over a non-object loses its nulls; a list is kept as sent */
	check("{'a':1}", "{'a':{'x':null,'y':2},'b':[{'z':null}]}", MP, NULL,
	      "{'a':{'y':2},'b':[{}]}");
	check_err("{}", "null", MP, NULL, 400, "Invalid JSON Patch");
	check_err("{}", "[1]", MP, NULL, 400,
		  "error decoding patch: json: cannot unmarshal array into Go value of type "
		  "map[string]interface {}");
}

/* ---- strategic merge patch ---- */

static const char deploy[] =
	"{'metadata':{'name':'d','labels':{'app':'web','tier':'fe'},'finalizers':['a','b']},"
	"'spec':{'replicas':1,'strategy':{'type':'RollingUpdate','rollingUpdate':{'maxSurge':1}},"
	"'template':{'spec':{'containers':["
	"{'name':'c1','image':'nginx:1.25','args':['-x','-y'],"
	"'ports':[{'containerPort':80,'name':'http'},{'containerPort':443}],"
	"'env':[{'name':'A','value':'1'},{'name':'B','value':'2'}],"
	"'volumeMounts':[{'name':'v','mountPath':'/data'}]},"
	"{'name':'c2','image':'busybox'}],"
	"'volumes':[{'name':'v','emptyDir':{}}]}}}}";

/* the spec.template.spec of deploy with containers cs */
#define TPL(cs, vols) "{'spec':{'template':{'spec':{'containers':[" cs "]" vols "}}}}"

static void smp_apply_sequences(void **state)
{
	const struct api_schema_type *t = deploy_type();

	(void)state;
	/* what kubectl apply sends to change an image, add a label and remove one */
	check(deploy,
	      "{'metadata':{'labels':{'tier':null,'v':'2'}},'spec':{'template':{'spec':{"
	      "'$setElementOrder/containers':[{'name':'c1'},{'name':'c2'}],"
	      "'containers':[{'image':'nginx:1.26','name':'c1'}]}}}}",
	      SMP, t,
	      "{'metadata':{'name':'d','labels':{'app':'web','v':'2'},'finalizers':['a','b']},"
	      "'spec':{'replicas':1,'strategy':{'type':'RollingUpdate','rollingUpdate':{"
	      "'maxSurge':1}},'template':{'spec':{'containers':["
	      "{'name':'c1','image':'nginx:1.26','args':['-x','-y'],"
	      "'ports':[{'containerPort':80,'name':'http'},{'containerPort':443}],"
	      "'env':[{'name':'A','value':'1'},{'name':'B','value':'2'}],"
	      "'volumeMounts':[{'name':'v','mountPath':'/data'}]},"
	      "{'name':'c2','image':'busybox'}],"
	      "'volumes':[{'name':'v','emptyDir':{}}]}}}}");
	/* removing a container */
	check(TPL("{'name':'c1','image':'a'},{'name':'c2','image':'b'}", ""),
	      "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'c1'}],"
	      "'containers':[{'$patch':'delete','name':'c2'}]}}}}",
	      SMP, t, TPL("{'name':'c1','image':'a'}", ""));
	/* adding one between two */
	check(TPL("{'name':'c1','image':'a'},{'name':'c2','image':'b'}", ""),
	      "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'c1'},"
	      "{'name':'c3'},{'name':'c2'}],'containers':[{'image':'c','name':'c3'}]}}}}",
	      SMP, t,
	      TPL("{'name':'c1','image':'a'},{'name':'c3','image':'c'},{'name':'c2','image':'b'}",
		  ""));
	/* reordering alone */
	check(TPL("{'name':'c1','image':'a'},{'name':'c2','image':'b'}", ""),
	      "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'c2'},"
	      "{'name':'c1'}]}}}}",
	      SMP, t, TPL("{'name':'c2','image':'b'},{'name':'c1','image':'a'}", ""));
	/* changing an env var keeps the others; its order list names them all */
	check(TPL("{'name':'c1','env':[{'name':'A','value':'1'},{'name':'B','value':'2'}]}", ""),
	      "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'c1'}],"
	      "'containers':[{'$setElementOrder/env':[{'name':'A'},{'name':'B'}],"
	      "'env':[{'name':'B','value':'3'}],'name':'c1'}]}}}}",
	      SMP, t,
	      TPL("{'name':'c1','env':[{'name':'A','value':'1'},{'name':'B','value':'3'}]}", ""));
}

static void smp_merge_keys_at_depth(void **state)
{
	const struct api_schema_type *t = deploy_type();

	(void)state;
	/* ports by containerPort, env by name, volumeMounts by mountPath: merged, not replaced */
	check(TPL("{'name':'c1','ports':[{'containerPort':80,'name':'http'},{'containerPort':443}],"
		  "'env':[{'name':'A','value':'1'}],'volumeMounts':[{'name':'v','mountPath':'/"
		  "d'}]}",
		  ""),
	      /* without $setElementOrder a new env var goes before the server's */
	      TPL("{'name':'c1','ports':[{'containerPort':443,'name':'https'},{'containerPort':"
		  "8080}],"
		  "'env':[{'name':'B','value':'2'}],'volumeMounts':[{'mountPath':'/"
		  "d','readOnly':true}]}",
		  ""),
	      SMP, t,
	      TPL("{'name':'c1','ports':[{'containerPort':80,'name':'http'},{'containerPort':443,"
		  "'name':'https'},{'containerPort':8080}],'env':[{'name':'B','value':'2'},"
		  "{'name':'A','value':'1'}],'volumeMounts':[{'name':'v','mountPath':'/d',"
		  "'readOnly':true}]}",
		  ""));
	/* a list without a merge strategy (args) is replaced whole */
	check(TPL("{'name':'c1','args':['a','b']}", ""), TPL("{'name':'c1','args':['c']}", ""), SMP,
	      t, TPL("{'name':'c1','args':['c']}", ""));
	/* a new element (first: it is the patch's) arrives without its nulls and directives */
	check(TPL("{'name':'c1'}", ""),
	      TPL("{'name':'c2','image':null,'env':[{'name':'A','$patch':'delete'}]}", ""), SMP, t,
	      TPL("{'name':'c2','env':[{'name':'A'}]},{'name':'c1'}", ""));
	/* Service ports merge by port */
	check("{'spec':{'ports':[{'port':80,'name':'a'},{'port':81,'name':'b'}]}}",
	      "{'spec':{'ports':[{'port':81,'targetPort':8081}]}}", SMP,
	      api_schema_kind("", "v1", "Service"),
	      "{'spec':{'ports':[{'port':80,'name':'a'},{'port':81,'name':'b','targetPort':8081}]}"
	      "}");
}

static void smp_order(void **state)
{
	const struct api_schema_type *t = pod_type();

	(void)state;
	/* without an order list: the patch's elements in its order, server-only ones kept where
	 * they were relative to them, a new one after the patch element before it */
	check("{'spec':{'containers':[{'name':'a'},{'name':'b'},{'name':'c'}]}}",
	      "{'spec':{'containers':[{'name':'b','image':'x'},{'name':'d'}]}}", SMP, t,
	      "{'spec':{'containers':[{'name':'a'},{'name':'b','image':'x'},{'name':'d'},"
	      "{'name':'c'}]}}");
	check("{'spec':{'containers':[{'name':'a'},{'name':'b'},{'name':'c'}]}}",
	      "{'spec':{'containers':[{'name':'c','image':'x'},{'name':'a','image':'y'}]}}", SMP, t,
	      "{'spec':{'containers':[{'name':'b'},{'name':'c','image':'x'},{'name':'a',"
	      "'image':'y'}]}}");
	/* an order list that leaves out a server-only element: it goes before the first listed
	 * element it preceded on the server */
	check("{'spec':{'containers':[{'name':'a'},{'name':'s'},{'name':'b'}]}}",
	      "{'spec':{'$setElementOrder/containers':[{'name':'b'},{'name':'a'}]}}", SMP, t,
	      "{'spec':{'containers':[{'name':'s'},{'name':'b'},{'name':'a'}]}}");
	/* an order list with a new element and a removal */
	check("{'spec':{'containers':[{'name':'a'},{'name':'b'},{'name':'c'}]}}",
	      "{'spec':{'$setElementOrder/containers':[{'name':'c'},{'name':'n'},{'name':'a'}],"
	      "'containers':[{'name':'n','image':'i'},{'$patch':'delete','name':'b'}]}}",
	      SMP, t,
	      "{'spec':{'containers':[{'name':'c'},{'name':'n','image':'i'},{'name':'a'}]}}");
	/* the order list sets a list the server does not have yet */
	check("{'spec':{}}",
	      "{'spec':{'$setElementOrder/containers':[{'name':'a'}],'containers':[{'name':'a'}]}}",
	      SMP, t, "{'spec':{'containers':[{'name':'a'}]}}");
	/* patch elements missing from the order list */
	check_err("{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'a'}],'containers':[{'name':"
		  "'z'}]}}",
		  SMP, t, 500,
		  "The order in patch list:\n[map[name:z]]\n doesn't match $setElementOrder "
		  "list:\n[map[name:a]]\n");
	check_err("{'spec':{}}", "{'spec':{'$setElementOrder':[]}}", SMP, t, 400,
		  "invalid patch format of setElementOrder list");
}

static void smp_primitive_lists(void **state)
{
	const struct api_schema_type *t = deploy_type();

	(void)state;
	/* finalizers (patchStrategy merge, no key): a union in the patch's order, a server-only
	 * element after the patch elements it followed; then a deletion list */
	check("{'metadata':{'finalizers':['a','b']}}", "{'metadata':{'finalizers':['c','a']}}", SMP,
	      t, "{'metadata':{'finalizers':['c','a','b']}}");
	check("{'metadata':{'finalizers':['a','b','c']}}",
	      "{'metadata':{'$deleteFromPrimitiveList/finalizers':['b','x']}}", SMP, t,
	      "{'metadata':{'finalizers':['a','c']}}");
	check("{'metadata':{'finalizers':['a','b']}}",
	      "{'metadata':{'$setElementOrder/finalizers':['b','a']}}", SMP, t,
	      "{'metadata':{'finalizers':['b','a']}}");
	check_err("{'metadata':{'finalizers':['a']}}",
		  "{'metadata':{'$deleteFromPrimitiveList':['a']}}", SMP, t, 400,
		  "invalid patch format of primitive list");
	check_err("{'metadata':{'finalizers':[]}}", "{'metadata':{'finalizers':[['a']]}}", SMP, t,
		  422, "lists of lists are not supported");
	check_err("{'metadata':{'finalizers':['a']}}", "{'metadata':{'finalizers':[['a']]}}", SMP,
		  t, 500, "list element types are not identical: [[a] [[a]]]");
}

static void smp_directives(void **state)
{
	const struct api_schema_type *t = deploy_type();

	(void)state;
	/* $patch: replace on a map replaces it; on a list element the whole list */
	check("{'metadata':{'labels':{'a':'1','b':'2'}}}",
	      "{'metadata':{'labels':{'$patch':'replace','c':'3'}}}", SMP, t,
	      "{'metadata':{'labels':{'c':'3'}}}");
	check(TPL("{'name':'a'},{'name':'b'}", ""),
	      TPL("{'name':'c','image':'i'},{'$patch':'replace'}", ""), SMP, t,
	      TPL("{'name':'c','image':'i'}", ""));
	/* $patch: delete on a map empties it; on an element removes the keyed one */
	check("{'metadata':{'labels':{'a':'1'}}}", "{'metadata':{'labels':{'$patch':'delete'}}}",
	      SMP, t, "{'metadata':{'labels':{}}}");
	check(TPL("{'name':'a','env':[{'name':'X'},{'name':'Y'}]}", ""),
	      TPL("{'name':'a','env':[{'$patch':'delete','name':'X'}]}", ""), SMP, t,
	      TPL("{'name':'a','env':[{'name':'Y'}]}", ""));
	/* null deletes a field; maps merge */
	check("{'spec':{'replicas':1,'paused':true}}", "{'spec':{'paused':null,'replicas':3}}", SMP,
	      t, "{'spec':{'replicas':3}}");
	/* errors, worded as kube's */
	check_err("{'metadata':{'labels':{}}}", "{'metadata':{'labels':{'$patch':'frob','a':'b'}}}",
		  SMP, t, 500, "unknown patch type: frob in map: map[$patch:frob a:b]");
	check_err("{'metadata':{'labels':{}}}", "{'metadata':{'labels':{'$patch':'merge'}}}", SMP,
		  t, 500, "unknown patch type: merge in map: map[$patch:merge]");
	check_err(TPL("{'name':'a'}", ""), TPL("{'$patch':'merge'}", ""), SMP, t, 500,
		  "merging lists cannot yet be specified in the patch");
	check_err(TPL("{'name':'a'}", ""), TPL("{'$patch':1,'name':'a'}", ""), SMP, t, 500,
		  "unknown patch type: %!s(int64=1) in map: map[$patch:1 name:a]");
	check_err(TPL("{'name':'a'}", ""),
		  TPL("{'$patch':[1.5,1e6,123456.0,0.0001,true,null]}", ""), SMP, t, 500,
		  "unknown patch type: [%!s(float64=1.5) %!s(float64=1e+06) %!s(float64=123456) "
		  "%!s(float64=0.0001) %!s(bool=true) %!s(<nil>)] in map: map[$patch:[1.5 1e+06 "
		  "123456 0.0001 true <nil>]]");
	check_err(TPL("{'name':'a'}", ""), TPL("{'image':'x'}", ""), SMP, t, 500,
		  "map: map[image:x] does not contain declared merge key: name");
	check_err(deploy, "[1]", SMP, t, 400,
		  "json: cannot unmarshal array into Go value of type map[string]interface {}");
}

static void smp_retain_keys(void **state)
{
	const struct api_schema_type *t = deploy_type();

	(void)state;
	/* a Deployment switched to Recreate: kubectl's retainKeys drops rollingUpdate */
	check("{'spec':{'strategy':{'type':'RollingUpdate','rollingUpdate':{'maxSurge':1}}}}",
	      "{'spec':{'strategy':{'$retainKeys':['type'],'rollingUpdate':null,'type':"
	      "'Recreate'}}}",
	      SMP, t, "{'spec':{'strategy':{'type':'Recreate'}}}");
	/* a volume that changes source: the old source goes */
	check(TPL("{'name':'c'}",
		  ",'volumes':[{'name':'v','emptyDir':{}},{'name':'w','emptyDir':{}}]"),
	      TPL("{'name':'c'}",
		  ",'volumes':[{'$retainKeys':['configMap','name'],'configMap':{'name':'cm'},"
		  "'name':'v'}]"),
	      SMP, t,
	      TPL("{'name':'c'}", ",'volumes':[{'name':'v','configMap':{'name':'cm'}},{'name':'w','"
				  "emptyDir':{}}]"));
	check_err("{'spec':{'strategy':{'type':'RollingUpdate'}}}",
		  "{'spec':{'strategy':{'$retainKeys':['type'],'rollingUpdate':{}}}}", SMP, t, 400,
		  "invalid patch format of retainKeys");
	check_err("{'spec':{'strategy':{}}}", "{'spec':{'strategy':{'$retainKeys':'type'}}}", SMP,
		  t, 400, "invalid patch format of retainKeys");
}

static void smp_without_schema(void **state)
{
	(void)state;
	/* no schema (an open type): maps merge, lists are replaced whole */
	check("{'a':{'b':1},'l':[{'name':'x','v':1}]}", "{'a':{'c':2},'l':[{'name':'x','w':2}]}",
	      SMP, NULL, "{'a':{'b':1,'c':2},'l':[{'name':'x','w':2}]}");
	/* a field the object lacks takes the patch's value without nulls and directives */
	check("{'a':{}}",
	      "{'b':{'x':null,'y':{'$retainKeys':['z'],'z':1},'w':{'$patch':'delete'}}}", SMP, NULL,
	      "{'a':{},'b':{'y':{'z':1}}}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(content_types),       cmocka_unit_test(json_patch_ops),
		cmocka_unit_test(json_patch_errors),   cmocka_unit_test(json_patch_too_many),
		cmocka_unit_test(error_status),	       cmocka_unit_test(merge_patch),
		cmocka_unit_test(smp_apply_sequences), cmocka_unit_test(smp_merge_keys_at_depth),
		cmocka_unit_test(smp_order),	       cmocka_unit_test(smp_primitive_lists),
		cmocka_unit_test(smp_directives),      cmocka_unit_test(smp_retain_keys),
		cmocka_unit_test(smp_without_schema),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
