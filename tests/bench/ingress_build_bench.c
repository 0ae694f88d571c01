/*
 * The route table build of k8c-ingress alone (ingress/routes.c), without the daemon: N Ingresses
 * of one host each (one Service, one EndpointSlice) in an informer-like cache, one first build,
 * then CHANGES changes, each a new Ingress with a new host, built incrementally (the builder, as
 * k8c-ingress does) and, alternately, from scratch (ing_table_build). Prints the time and CPU
 * per build of both and "=> " lines (docs/BENCHMARKS.md "Ingress at scale").
 *   ingress_build_bench [N] [CHANGES] [incremental]   (defaults 10000 and 200; "incremental":
 *                                                      no full builds, for a profile)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "routes.h"

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static json_t *ingress(unsigned i, const char *prefix)
{
	char name[32], host[64], ts[32];

	snprintf(name, sizeof(name), "%s%u", prefix, i);
	snprintf(host, sizeof(host), "%s%u.scale.test", prefix, i);
	snprintf(ts, sizeof(ts), "2026-11-%02uT%02u:%02u:%02uZ", 1 + i / 86400 % 28, i / 3600 % 24,
		 i / 60 % 60, i % 60);
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:[{s:s, s:{s:[{s:s, s:s, "
			 "s:{s:{s:s, s:{s:i}}}}]}}]}}",
			 "apiVersion", "networking.k8s.io/v1", "kind", "Ingress", "metadata",
			 "name", name, "namespace", "scale", "creationTimestamp", ts,
			 "resourceVersion", "1", "spec", "ingressClassName", "big", "rules", "host",
			 host, "http", "paths", "path", "/", "pathType", "Prefix", "backend",
			 "service", "name", "web", "port", "number", 80);
}

static void add(json_t *cache, json_t *ing)
{
	char key[96];

	snprintf(key, sizeof(key), "scale/%s",
		 json_string_value(json_object_get(json_object_get(ing, "metadata"), "name")));
	json_object_set_new(cache, key, ing);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 10000;
	unsigned changes = argc > 2 ? (unsigned)atoi(argv[2]) : 200;
	bool full_too = argc <= 3 || strcmp(argv[3], "incremental");
	json_t *ings = json_object();
	json_t *classes = json_pack("{s:{s:{s:s}, s:{s:s}}}", "big", "metadata", "name", "big",
				    "spec", "controller", "k8c.io/big");
	json_t *svcs = json_pack("{s:{s:{s:s, s:s}, s:{s:[{s:i}]}}}", "scale/web", "metadata",
				 "name", "web", "namespace", "scale", "spec", "ports", "port", 80);
	json_t *slices =
		json_pack("{s:{s:{s:s, s:s, s:{s:s}}, s:s, s:[{s:i}], s:[{s:[s]}]}}", "scale/web-1",
			  "metadata", "name", "web-1", "namespace", "scale", "labels",
			  "kubernetes.io/service-name", "web", "addressType", "IPv4", "ports",
			  "port", 8080, "endpoints", "addresses", "127.0.0.2");
	/* no Service or EndpointSlice changed between builds (k8c-ingress passes their deltas) */
	json_t *no_keys = json_object();
	struct ing_build_opts opts = {
		.controller = "k8c.io/big", .changed_services = no_keys, .changed_slices = no_keys};
	struct ing_builder *b = ing_builder_new();
	struct k8c_error err = K8C_ERROR_INIT;
	int64_t *inc = calloc(changes, sizeof(*inc)), *full = calloc(changes, sizeof(*full));
	int64_t *inc_cpu = calloc(changes, sizeof(*inc)),
		*full_cpu = calloc(changes, sizeof(*full));
	struct ing_table *t;
	int64_t t0, c0;

	if (!n || !inc || !full || !inc_cpu || !full_cpu) {
		fprintf(stderr, "usage: ingress_build_bench [N] [CHANGES]\n");
		return 2;
	}
	for (unsigned i = 0; i < n; i++)
		add(ings, ingress(i, "h"));
	t0 = now_ns();
	t = ing_builder_build(b, ings, classes, svcs, slices, &opts, &err);
	printf("# first build of %u Ingresses: %.1f ms\n", n, (double)(now_ns() - t0) / 1e6);
	for (unsigned c = 0; c < changes; c++) {
		struct ing_table *nt;

		json_t *ing = ingress(c, "new");
		char key[96];

		snprintf(key, sizeof(key), "scale/new%u", c);
		add(ings, ing);
		/* alternately, so that both see the same machine; the builder is told which
		 * Ingress changed, as k8c-ingress tells it its informer's deltas */
		opts.changed = json_pack("{s:b}", key, 1);
		t0 = now_ns(), c0 = cpu_ns();
		nt = ing_builder_build(b, ings, classes, svcs, slices, &opts, &err);
		json_decref(opts.changed);
		opts.changed = NULL;
		inc[c] = now_ns() - t0, inc_cpu[c] = cpu_ns() - c0;
		ing_table_unref(t);
		t = nt;
		if (!full_too)
			continue;
		t0 = now_ns(), c0 = cpu_ns();
		nt = ing_table_build(ings, classes, svcs, slices, &opts, &err);
		full[c] = now_ns() - t0, full_cpu[c] = cpu_ns() - c0;
		ing_table_unref(nt);
	}
	if (json_array_size(t->served) != n + changes) {
		fprintf(stderr, "served %zu, want %u\n", json_array_size(t->served), n + changes);
		return 1;
	}
	{
		double ip99 =
			print_lat_indented("# ", "incremental build per change", inc, changes);
		double fp99 = print_lat_indented("# ", "full build per change", full, changes);
		double icpu, fcpu;

		qsort(inc_cpu, changes, sizeof(*inc_cpu), cmp_i64);
		qsort(full_cpu, changes, sizeof(*full_cpu), cmp_i64);
		icpu = (double)inc_cpu[changes / 2] / 1e6;
		fcpu = (double)full_cpu[changes / 2] / 1e6;
		printf("=> ingress build: incremental table build per change with %u Ingresses "
		       "p99: "
		       "%.2f ms, goal <= 100 ms, ratio %.3f\n",
		       n, ip99, ip99 / 100);
		if (full_too)
			printf("=> ingress build: CPU per change with %u Ingresses, incremental vs "
			       "full: %.2f ms vs %.2f ms (p50), ratio %.3f (full p99 %.1f ms)\n",
			       n, icpu, fcpu, icpu / fcpu, fp99);
		else
			printf("=> ingress build: CPU per change with %u Ingresses, incremental: "
			       "%.2f ms (p50)\n",
			       n, icpu);
	}
	ing_table_unref(t);
	ing_builder_free(b);
	json_decref(ings);
	json_decref(classes);
	json_decref(svcs);
	json_decref(slices);
	json_decref(no_keys);
	free(inc);
	free(full);
	free(inc_cpu);
	free(full_cpu);
	return 0;
}
