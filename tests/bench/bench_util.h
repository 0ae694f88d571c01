/* Shared by the benchmarks (store_bench, api_bench): a monotonic clock and latency percentiles. */
#ifndef K8C_BENCH_UTIL_H
#define K8C_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts lat; prints "<indent><what>: p50, p99, max" in ms; returns the p99 in ms (-1: none). */
static inline double print_lat_indented(const char *indent, const char *what, int64_t *lat,
					size_t n)
{
	if (!n) {
		printf("%s%s: no samples\n", indent, what);
		return -1;
	}
	qsort(lat, n, sizeof(*lat), cmp_i64);
	printf("%s%s: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%zu samples)\n", indent, what,
	       lat[n / 2] / 1e6, lat[n * 99 / 100] / 1e6, lat[n - 1] / 1e6, n);
	return lat[n * 99 / 100] / 1e6;
}

#endif
