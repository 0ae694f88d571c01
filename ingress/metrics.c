/* Request statistics for /metrics (metrics.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define N_BUCKETS 12
#define N_CODES	  24
static const double bucket_le[N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					    0.1,   0.25,   0.5,	  1,	2.5,   5};

struct stat_entry {
	char *ingress, *host;
	struct {
		int code;
		uint64_t n;
	} codes[N_CODES]; /* the last slot takes every further code as 0 */
	size_t n_codes;
	uint64_t buckets[N_BUCKETS + 1]; /* the last one is +Inf */
	uint64_t count, upstream_errors;
	double sum;
};

/* The histogram bucket of sec: the first bucket_le it does not exceed, N_BUCKETS for +Inf. */
static size_t bucket_of(double sec)
{
	size_t i = 0;

	while (i < N_BUCKETS && sec > bucket_le[i])
		i++;
	return i;
}

/* k8c_ingress_config_build_seconds: route table builds, by duration (any thread observes). */
static atomic_ullong build_buckets[N_BUCKETS + 1];
static atomic_ullong build_sum_ns;

void ing_stats_build(double seconds)
{
	atomic_fetch_add(&build_buckets[bucket_of(seconds)], 1);
	atomic_fetch_add(&build_sum_ns, (unsigned long long)(seconds * 1e9));
}

struct ing_stats {
	pthread_mutex_t lock; /* the owner writes, /metrics reads */
	struct stat_entry *e; /* open addressing, cap a power of two */
	size_t n, cap;
};

static size_t hash2(const char *a, const char *b)
{
	size_t h = 1469598103934665603ULL;
	for (; *a; a++)
		h = (h ^ (unsigned char)*a) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (; *b; b++)
		h = (h ^ (unsigned char)*b) * 1099511628211ULL;
	return h;
}

struct ing_stats *ing_stats_new(void)
{
	struct ing_stats *s = calloc(1, sizeof(*s));

	if (s)
		pthread_mutex_init(&s->lock, NULL);
	return s;
}

void ing_stats_free(struct ing_stats *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cap; i++) {
		free(s->e[i].ingress);
		free(s->e[i].host);
	}
	free(s->e);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct stat_entry *slot(struct stat_entry *e, size_t cap, const char *ing, const char *host)
{
	size_t i;

	for (i = hash2(ing, host) & (cap - 1); e[i].ingress; i = (i + 1) & (cap - 1))
		if (!strcmp(e[i].ingress, ing) && !strcmp(e[i].host, host))
			break;
	return &e[i];
}

/* The entry of (ingress, host), made on first use; NULL when out of memory. Under s->lock. */
static struct stat_entry *entry(struct ing_stats *s, const char *ing, const char *host)
{
	struct stat_entry *e;

	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct stat_entry *n = calloc(cap, sizeof(*n));
		if (!n)
			return NULL;
		for (size_t i = 0; i < s->cap; i++)
			if (s->e[i].ingress)
				*slot(n, cap, s->e[i].ingress, s->e[i].host) = s->e[i];
		free(s->e);
		s->e = n;
		s->cap = cap;
	}
	e = slot(s->e, s->cap, ing, host);
	if (!e->ingress) {
		e->ingress = strdup(ing);
		e->host = strdup(host);
		if (!e->ingress || !e->host) {
			free(e->ingress);
			free(e->host);
			e->ingress = e->host = NULL;
			return NULL;
		}
		s->n++;
	}
	return e;
}

void ing_stats_request(struct ing_stats *s, const char *ing, const char *host, int status,
		       int64_t usec)
{
	struct stat_entry *e;
	double sec = usec > 0 ? (double)usec / 1e6 : 0;
	size_t i;

	pthread_mutex_lock(&s->lock);
	if ((e = entry(s, ing, host))) {
		for (i = 0; i < e->n_codes && e->codes[i].code != status; i++)
			;
		if (i == e->n_codes) {
			if (e->n_codes < N_CODES)
				e->codes[e->n_codes++].code = status;
			else
				i = N_CODES - 1;
			if (i == N_CODES - 1)
				e->codes[i].code = 0; /* "other" */
		}
		e->codes[i].n++;
		e->buckets[bucket_of(sec)]++;
		e->count++;
		e->sum += sec;
	}
	pthread_mutex_unlock(&s->lock);
}

void ing_stats_upstream_error(struct ing_stats *s, const char *ing, const char *host)
{
	struct stat_entry *e;

	pthread_mutex_lock(&s->lock);
	if ((e = entry(s, ing, host)))
		e->upstream_errors++;
	pthread_mutex_unlock(&s->lock);
}

static void label(FILE *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', out);
		if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

static void labels(FILE *out, const struct stat_entry *e)
{
	fputs("ingress=\"", out);
	label(out, e->ingress);
	fputs("\",host=\"", out);
	label(out, e->host);
	fputc('"', out);
}

/* The _bucket, _sum and _count lines of histogram NAME over bucket_le (b: N_BUCKETS + 1 counts,
 * not cumulated), with e's labels, or none when e is NULL; the sum with sum_digits decimals. */
static void histogram(FILE *out, const char *name, const struct stat_entry *e, const uint64_t *b,
		      double sum, int sum_digits)
{
	uint64_t cum = 0;

	for (size_t j = 0; j <= N_BUCKETS; j++) {
		cum += b[j];
		fprintf(out, "%s_bucket{", name);
		if (e) {
			labels(out, e);
			fputc(',', out);
		}
		if (j < N_BUCKETS)
			fprintf(out, "le=\"%g\"} %llu\n", bucket_le[j], (unsigned long long)cum);
		else
			fprintf(out, "le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	for (int k = 0; k < 2; k++) {
		fprintf(out, "%s_%s", name, k ? "count" : "sum");
		if (e) {
			fputc('{', out);
			labels(out, e);
			fputc('}', out);
		}
		if (k)
			fprintf(out, " %llu\n", (unsigned long long)cum);
		else
			fprintf(out, " %.*f\n", sum_digits, sum);
	}
}

static int cmp_entry(const void *a, const void *b)
{
	const struct stat_entry *x = a, *y = b;
	int c = strcmp(x->ingress, y->ingress);

	return c ? c : strcmp(x->host, y->host);
}

void ing_stats_render(struct ing_stats *const *all, size_t n_all, FILE *out)
{
	struct stat_entry *m = NULL; /* every thread's entries, merged */
	size_t n = 0, cap = 0, i, j;

	for (i = 0; i < n_all; i++) {
		pthread_mutex_lock(&all[i]->lock);
		for (j = 0; j < all[i]->cap; j++) {
			if (!all[i]->e[j].ingress)
				continue;
			if (n == cap) {
				struct stat_entry *g;
				cap = cap ? 2 * cap : 64;
				if (!(g = realloc(m, cap * sizeof(*m)))) {
					pthread_mutex_unlock(&all[i]->lock);
					goto out;
				}
				m = g;
			}
			m[n] = all[i]->e[j];
			m[n].ingress = strdup(all[i]->e[j].ingress);
			m[n].host = strdup(all[i]->e[j].host);
			if (!m[n].ingress || !m[n].host) {
				free(m[n].ingress);
				free(m[n].host);
				pthread_mutex_unlock(&all[i]->lock);
				goto out;
			}
			n++;
		}
		pthread_mutex_unlock(&all[i]->lock);
	}
	if (n)
		qsort(m, n, sizeof(*m), cmp_entry);
	for (i = 0, j = 0; i < n; i++) { /* merge equal labels into m[j] */
		struct stat_entry *d = &m[j], *e = &m[i];
		if (i == 0 || cmp_entry(d, e)) {
			if (i)
				d = &m[++j];
			if (d != e) {
				*d = *e;
				e->ingress = e->host = NULL;
			}
			continue;
		}
		for (size_t k = 0; k < e->n_codes; k++) {
			size_t c;
			for (c = 0; c < d->n_codes && d->codes[c].code != e->codes[k].code; c++)
				;
			if (c == d->n_codes && d->n_codes < N_CODES)
				d->codes[d->n_codes++] = (typeof(d->codes[0])){e->codes[k].code, 0};
			if (c < N_CODES)
				d->codes[c].n += e->codes[k].n;
		}
		for (size_t b = 0; b <= N_BUCKETS; b++)
			d->buckets[b] += e->buckets[b];
		d->count += e->count;
		d->sum += e->sum;
		d->upstream_errors += e->upstream_errors;
		free(e->ingress);
		free(e->host);
		e->ingress = e->host = NULL;
	}
	if (n)
		n = j + 1;

	fputs("# HELP k8c_ingress_requests_total Requests answered, by Ingress, rule host and "
	      "status "
	      "code.\n# TYPE k8c_ingress_requests_total counter\n",
	      out);
	for (i = 0; i < n; i++)
		for (j = 0; j < m[i].n_codes; j++) {
			fputs("k8c_ingress_requests_total{", out);
			labels(out, &m[i]);
			fprintf(out, ",status=\"%d\"} %llu\n", m[i].codes[j].code,
				(unsigned long long)m[i].codes[j].n);
		}
	fputs("# HELP k8c_ingress_request_duration_seconds Time from the request's first byte to "
	      "the response's last.\n# TYPE k8c_ingress_request_duration_seconds histogram\n",
	      out);
	for (i = 0; i < n; i++)
		histogram(out, "k8c_ingress_request_duration_seconds", &m[i], m[i].buckets,
			  m[i].sum, 6);
	fputs("# HELP k8c_ingress_upstream_errors_total Failed connection attempts to endpoints "
	      "(refused, unreachable, timed out).\n# TYPE k8c_ingress_upstream_errors_total "
	      "counter\n",
	      out);
	for (i = 0; i < n; i++) {
		if (!m[i].upstream_errors)
			continue;
		fputs("k8c_ingress_upstream_errors_total{", out);
		labels(out, &m[i]);
		fprintf(out, "} %llu\n", (unsigned long long)m[i].upstream_errors);
	}
out:
	for (i = 0; i < n; i++) {
		free(m[i].ingress);
		free(m[i].host);
	}
	free(m);
	uint64_t b[N_BUCKETS + 1];
	for (i = 0; i <= N_BUCKETS; i++)
		b[i] = atomic_load(&build_buckets[i]);
	fputs("# HELP k8c_ingress_config_build_seconds Time to build a route table (from the "
	      "informers' caches to a table ready to publish, certificates and errors "
	      "included).\n"
	      "# TYPE k8c_ingress_config_build_seconds histogram\n",
	      out);
	histogram(out, "k8c_ingress_config_build_seconds", NULL, b,
		  (double)atomic_load(&build_sum_ns) / 1e9, 9);
}
