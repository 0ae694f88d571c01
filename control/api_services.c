/*
 * Service ClusterIP allocation from 10.96.0.0/12 and NodePort allocation from 30000-32767. The
 * allocations live in the Service objects themselves, so they are as persistent as the Services
 * and released when one is deleted (or, for NodePorts, updated back to type ClusterIP). The used
 * sets are counts per address and per port, loaded by one list of the stored Services at the
 * first allocation and kept current by a store watch drained before each allocation (the store
 * publishes a write's events before it acknowledges it): an allocation costs O(change), not
 * O(Services), and a Service deleted by any path (DELETE, namespace deletion) is released. The
 * server's event-loop
 * threads call this concurrently: allocations are serialised by a mutex, and what was handed out
 * is remembered (struct reservation) until the allocating thread has written the Service
 * (api_services_settle(), after the store write; RESERVE_SECONDS at most), so two writes racing
 * between allocation and store write cannot pick the same address or port. 10.96.0.1 belongs to default/kubernetes (bootstrapped at
 * start) and is never given to another Service.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>

#include "api_registry.h"
#include "cleanup.h"
#include "store.h"

#define CIDR_BASE     0x0a600000u /* 10.96.0.0 */
#define CIDR_BITS     12
#define CIDR_SIZE     (1u << (32 - CIDR_BITS))
#define NODE_PORT_MIN 30000
#define NODE_PORT_MAX 32767
#define NODE_PORT_N   (NODE_PORT_MAX - NODE_PORT_MIN + 1)

/* an allocation not settled by its thread is dropped after this (a safety net) */
#define RESERVE_SECONDS 30

/* An address or NodePort handed out to owner (the Service's key) and not yet seen stored. */
struct reservation {
	char *owner;
	pthread_t thread; /* the thread whose write is pending */
	uint32_t ip;	  /* 0 for a NodePort */
	json_int_t port;  /* 0 for an address */
	time_t until;
};

static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reservation *reserved;
static size_t n_reserved;

static char *service_key(const json_t *svc)
{
	json_t *meta = json_object_get(svc, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));

	return k8c_xasprintf("/registry/services/%s/%s", ns ? ns : "", name ? name : "");
}

/* Drop the reservations of the calling thread (its write is done), or all expired ones. */
static void reservations_prune(bool own)
{
	time_t now = time(NULL);
	pthread_t self = pthread_self();
	size_t k = 0;

	for (size_t i = 0; i < n_reserved; i++) {
		if (reserved[i].until < now || (own && pthread_equal(reserved[i].thread, self)))
			free(reserved[i].owner);
		else
			reserved[k++] = reserved[i];
	}
	n_reserved = k;
}

void api_services_settle(void)
{
	pthread_mutex_lock(&alloc_lock);
	reservations_prune(true);
	pthread_mutex_unlock(&alloc_lock);
}

static void reserve(const json_t *svc, uint32_t ip, json_int_t port)
{
	reserved = k8c_xrealloc(reserved, (n_reserved + 1) * sizeof(*reserved));
	reserved[n_reserved++] = (struct reservation){.owner = service_key(svc),
						      .thread = pthread_self(),
						      .ip = ip,
						      .port = port,
						      .until = time(NULL) + RESERVE_SECONDS};
}

/* Whether a reservation of another Service than svc holds ip (or port when ip is 0). */
static bool reserved_by_other(const json_t *svc, uint32_t ip, json_int_t port)
{
	_cleanup_free_ char *own = NULL;

	for (size_t i = 0; i < n_reserved; i++) {
		if (ip ? reserved[i].ip != ip : reserved[i].port != port)
			continue;
		if (!own)
			own = service_key(svc);
		if (strcmp(reserved[i].owner, own) != 0)
			return true;
	}
	return false;
}

/* What the stored Services hold: counts per address offset and per NodePort. */
struct used_state {
	struct store_watch *w;
	uint16_t *ips; /* CIDR_SIZE counters */
	uint16_t ports[NODE_PORT_N];
};

static struct used_state used_state;

static void used_reset(void)
{
	store_watch_close(used_state.w);
	free(used_state.ips);
	memset(&used_state, 0, sizeof(used_state));
}

static bool parse_ip(const char *s, uint32_t *out);
static bool in_range(uint32_t ip);

static void count_port(uint16_t *ports, json_int_t np, int delta)
{
	if (np >= NODE_PORT_MIN && np <= NODE_PORT_MAX)
		ports[np - NODE_PORT_MIN] = (uint16_t)(ports[np - NODE_PORT_MIN] + delta);
}

/* Add (delta 1) or remove (-1) what one stored Service holds: its address and NodePorts. */
static void account(const void *value, size_t len, int delta, uint16_t *ips, uint16_t *ports)
{
	_cleanup_json_ json_t *o = value ? json_loadb(value, len, 0, NULL) : NULL;
	json_t *spec = json_object_get(o, "spec"), *p;
	uint32_t ip;
	size_t i;

	if (!spec)
		return;
	if (ips && parse_ip(json_string_value(json_object_get(spec, "clusterIP")), &ip) &&
	    in_range(ip))
		ips[ip - CIDR_BASE] = (uint16_t)(ips[ip - CIDR_BASE] + delta);
	json_array_foreach(json_object_get(spec, "ports"), i, p)
		count_port(ports, json_integer_value(json_object_get(p, "nodePort")), delta);
	count_port(ports, json_integer_value(json_object_get(spec, "healthCheckNodePort")), delta);
}

static int used_load(struct store *store, struct k8c_error *err)
{
	struct store_list l = {0};

	if (store_list(store, "/registry/services/", 0, 0, NULL, &l, err) < 0)
		return -1;
	used_state.ips = k8c_xmalloc(CIDR_SIZE * sizeof(*used_state.ips));
	memset(used_state.ips, 0, CIDR_SIZE * sizeof(*used_state.ips));
	for (size_t i = 0; i < l.n; i++)
		account(l.items[i].value, l.items[i].value_len, 1, used_state.ips,
			used_state.ports);
	if (store_watch(store, "/registry/services/", l.revision, &used_state.w, err) < 0) {
		store_list_free(&l);
		used_reset();
		return -1;
	}
	store_list_free(&l);
	return 0;
}

/* Load (first use, or after the watch fell behind compaction) and apply what changed since. */
static int used_sync(struct store *store, struct k8c_error *err)
{
	struct store_event *evs[64];
	int n;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!used_state.w && used_load(store, err) < 0)
			return -1;
		while ((n = store_watch_next(used_state.w, evs, 64, err)) > 0) {
			for (int i = 0; i < n; i++) {
				struct store_event *e = evs[i];

				if (e->type != STORE_ADDED)
					account(e->type == STORE_MODIFIED ? e->prev_value
									  : e->value,
						e->type == STORE_MODIFIED ? e->prev_value_len
									  : e->value_len,
						-1, used_state.ips, used_state.ports);
				if (e->type != STORE_DELETED)
					account(e->value, e->value_len, 1, used_state.ips,
						used_state.ports);
				store_event_unref(e);
			}
		}
		if (n == 0)
			return 0;
		used_reset(); /* compacted under us: load again */
		if (attempt == 0)
			k8c_error_clear(err);
	}
	return -1;
}

void api_services_free(void)
{
	pthread_mutex_lock(&alloc_lock);
	used_reset();
	pthread_mutex_unlock(&alloc_lock);
}

static bool parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return false;
	*out = ntohl(a.s_addr);
	return true;
}

/* Whether ip is a usable address of the range (not the network or broadcast address). */
static bool in_range(uint32_t ip)
{
	return ip > CIDR_BASE && ip < CIDR_BASE + CIDR_SIZE - 1;
}

static int allocate_node_ports(const uint16_t *self, json_t *svc, const json_t *old,
			       json_t *causes);

/*
 * Whether the address at offset off is held by a stored Service, reserved by another Service's
 * pending write, or the kubernetes Service's (also while that Service is absent).
 */
static bool ip_taken(const json_t *svc, uint32_t off)
{
	return off == 1 || used_state.ips[off] || reserved_by_other(svc, CIDR_BASE + off, 0);
}

static int allocate(struct store *store, json_t *svc, const json_t *old, json_t *causes);

int api_services_allocate(struct store *store, json_t *svc, const json_t *old, json_t *causes)
{
	int rc;

	pthread_mutex_lock(&alloc_lock);
	reservations_prune(true);
	rc = allocate(store, svc, old, causes);
	if (rc < 0)
		reservations_prune(true);
	pthread_mutex_unlock(&alloc_lock);
	return rc;
}

static int allocate(struct store *store, json_t *svc, const json_t *old, json_t *causes)
{
	json_t *spec = json_object_get(svc, "spec");
	const char *type = json_string_value(json_object_get(spec, "type"));
	const char *want = json_string_value(json_object_get(spec, "clusterIP"));
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_kv cur = {0};
	_cleanup_free_ char *key = service_key(svc);
	uint16_t self[NODE_PORT_N];
	uint32_t ip = 0, req = 0;
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	int rc;

	if (used_sync(store, &err) < 0) {
		api_cause_add(causes, "InternalError", "spec.clusterIP", "Internal error: %s",
			      err.msg ? err.msg : "store");
		k8c_error_clear(&err);
		return -1;
	}
	/* the NodePorts the stored version of this Service holds are its own to keep */
	memset(self, 0, sizeof(self));
	if (store_get(store, key, &cur, &err) == 0)
		account(cur.value, cur.value_len, 1, NULL, self);
	store_kv_free(&cur);
	k8c_error_clear(&err);
	reservations_prune(false);
	rc = allocate_node_ports(self, svc, old, causes);
	if (rc < 0 || (type && strcmp(type, "ExternalName") == 0) ||
	    (want && strcmp(want, "None") == 0) ||
	    (old && json_string_value(json_object_get(json_object_get(old, "spec"), "clusterIP"))))
		return rc;
	if (want && *want && (!parse_ip(want, &req) || !in_range(req))) {
		api_cause_add(causes, "FieldValueInvalid", "spec.clusterIPs",
			      "Invalid value: []string{\"%s\"}: failed to allocate IP %s: the "
			      "provided IP (%s) is not in the valid range. The range of valid IPs "
			      "is 10.96.0.0/12",
			      want, want, want);
		return -1;
	}
	if (req) {
		if (ip_taken(svc, req - CIDR_BASE)) {
			api_cause_add(causes, "FieldValueInvalid", "spec.clusterIPs",
				      "Invalid value: []string{\"%s\"}: failed to allocate IP %s: "
				      "provided IP is already allocated",
				      want, want);
			return -1;
		}
		ip = req;
	} else {
		/* random from the upper part of the range; the lower 256 are for static IPs */
		uint32_t start;

		if (RAND_bytes((unsigned char *)&start, sizeof(start)) != 1)
			abort();
		start = 256 + start % (CIDR_SIZE - 257);
		for (uint32_t k = 0; k < CIDR_SIZE - 257; k++) {
			uint32_t off = 256 + (start - 256 + k) % (CIDR_SIZE - 257);

			if (!ip_taken(svc, off)) {
				ip = CIDR_BASE + off;
				break;
			}
		}
		if (!ip) {
			api_cause_add(causes, "FieldValueInvalid", "spec.clusterIPs",
				      "Internal error: range is full");
			return -1;
		}
	}
	reserve(svc, ip, 0);
	a.s_addr = htonl(ip);
	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	json_object_set_new(spec, "clusterIP", json_string(buf));
	json_object_set_new(spec, "clusterIPs", json_pack("[s]", buf));
	return 0;
}

static bool wants_node_ports(const json_t *svc)
{
	const char *type = json_string_value(json_object_get(json_object_get(svc, "spec"), "type"));

	return type && (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0);
}

static void mark(unsigned char *used, json_int_t np)
{
	if (np >= NODE_PORT_MIN && np <= NODE_PORT_MAX)
		used[(np - NODE_PORT_MIN) / 8] |= (unsigned char)(1u << ((np - NODE_PORT_MIN) % 8));
}

static bool is_used(const unsigned char *used, json_int_t np)
{
	return used[(np - NODE_PORT_MIN) / 8] & (1u << ((np - NODE_PORT_MIN) % 8));
}

/* old's nodePort for p (same port and protocol, or same name), 0 if none. */
static json_int_t old_node_port(const json_t *old, const json_t *p)
{
	json_t *op;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(old, "spec"), "ports"), i, op)
	{
		const char *pp = json_string_value(json_object_get(p, "protocol"));
		const char *opp = json_string_value(json_object_get(op, "protocol"));

		if (json_integer_value(json_object_get(op, "port")) ==
			    json_integer_value(json_object_get(p, "port")) &&
		    strcmp(pp ? pp : "TCP", opp ? opp : "TCP") == 0)
			return json_integer_value(json_object_get(op, "nodePort"));
	}
	return 0;
}

/* A random free NodePort, 0 when the range is full. */
static json_int_t pick_free(const unsigned char *used)
{
	uint32_t start;

	if (RAND_bytes((unsigned char *)&start, sizeof(start)) != 1)
		abort();
	for (uint32_t k = 0; k < NODE_PORT_N; k++) {
		json_int_t c = NODE_PORT_MIN + (json_int_t)((start + k) % NODE_PORT_N);

		if (!is_used(used, c))
			return c;
	}
	return 0;
}

/*
 * spec.healthCheckNodePort, as kube-apiserver: a LoadBalancer Service with externalTrafficPolicy
 * Local gets one from the NodePort range (the requested one, else the one it had, else a free
 * one); any other Service may not have one (it is dropped when the Service stops needing it).
 */
static int allocate_health_check_port(json_t *svc, const json_t *old, unsigned char *used,
				      json_t *causes)
{
	json_t *spec = json_object_get(svc, "spec");
	const char *type = json_string_value(json_object_get(spec, "type"));
	const char *etp = json_string_value(json_object_get(spec, "externalTrafficPolicy"));
	json_int_t hc = json_integer_value(json_object_get(spec, "healthCheckNodePort"));
	json_int_t was = old ? json_integer_value(json_object_get(json_object_get(old, "spec"),
								  "healthCheckNodePort"))
			     : 0;

	if (!type || strcmp(type, "LoadBalancer") || !etp || strcmp(etp, "Local")) {
		if (hc && hc != was) {
			api_cause_add(causes, "FieldValueInvalid", "spec.healthCheckNodePort",
				      "Invalid value: %lld: may only be set when `type` is "
				      "'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
				      (long long)hc);
			return -1;
		}
		json_object_del(spec, "healthCheckNodePort");
		return 0;
	}
	if (hc && hc != was && (hc < NODE_PORT_MIN || hc > NODE_PORT_MAX || is_used(used, hc))) {
		api_cause_add(
			causes, "FieldValueInvalid", "spec.healthCheckNodePort",
			hc < NODE_PORT_MIN || hc > NODE_PORT_MAX
				? "Invalid value: %lld: provided port is not in the valid range"
				: "Invalid value: %lld: provided port is already allocated",
			(long long)hc);
		return -1;
	}
	if (!hc)
		hc = was && !is_used(used, was) ? was : pick_free(used);
	if (!hc) {
		api_cause_add(causes, "FieldValueInvalid", "spec.healthCheckNodePort",
			      "Internal error: range is full");
		return -1;
	}
	mark(used, hc);
	reserve(svc, 0, hc);
	json_object_set_new(spec, "healthCheckNodePort", json_integer(hc));
	return 0;
}

static int allocate_node_ports(const uint16_t *self, json_t *svc, const json_t *old, json_t *causes)
{
	json_t *ports = json_object_get(json_object_get(svc, "spec"), "ports"), *p;
	unsigned char used[NODE_PORT_N / 8 + 1];
	int rc = 0;
	size_t i;

	if (!wants_node_ports(svc)) {
		json_array_foreach(ports, i, p)
		{
			char *field;
			json_int_t np = json_integer_value(json_object_get(p, "nodePort"));

			if (!np)
				continue;
			if (old && wants_node_ports(old)) {
				/* back to ClusterIP: the ports are released */
				json_object_del(p, "nodePort");
				continue;
			}
			if (old && np == old_node_port(old, p))
				continue;
			field = k8c_xasprintf("spec.ports[%zu].nodePort", i);
			api_cause_add(causes, "FieldValueForbidden", field,
				      "Forbidden: may not be used when `type` is '%s'",
				      json_string_value(
					      json_object_get(json_object_get(svc, "spec"), "type"))
					      ?: "ClusterIP");
			free(field);
			rc = -1;
		}
		/* not a LoadBalancer: no health check port (used is not read then) */
		return rc < 0 ? rc : allocate_health_check_port(svc, old, NULL, causes);
	}
	memset(used, 0, sizeof(used));
	for (json_int_t np = NODE_PORT_MIN; np <= NODE_PORT_MAX; np++)
		if (used_state.ports[np - NODE_PORT_MIN] > self[np - NODE_PORT_MIN])
			mark(used, np);
	for (size_t k = 0; k < n_reserved; k++)
		if (!reserved[k].ip && reserved_by_other(svc, 0, reserved[k].port))
			mark(used, reserved[k].port);
	/* the requested ones first, then the kept ones, then random free ones */
	json_array_foreach(ports, i, p)
	{
		json_int_t np = json_integer_value(json_object_get(p, "nodePort"));
		_cleanup_free_ char *field = k8c_xasprintf("spec.ports[%zu].nodePort", i);

		if (!np)
			continue;
		if (np < NODE_PORT_MIN || np > NODE_PORT_MAX) {
			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: %lld: provided port is not in the valid "
				      "range. The range of valid ports is %d-%d",
				      (long long)np, NODE_PORT_MIN, NODE_PORT_MAX);
			rc = -1;
		} else if (is_used(used, np)) {
			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: %lld: provided port is already allocated",
				      (long long)np);
			rc = -1;
		} else {
			mark(used, np);
		}
	}
	if (rc < 0)
		return rc;
	json_array_foreach(ports, i, p)
	{
		json_int_t np = json_integer_value(json_object_get(p, "nodePort"));

		if (np)
			reserve(svc, 0, np);
	}
	json_array_foreach(ports, i, p)
	{
		json_int_t np = json_integer_value(json_object_get(p, "nodePort"));

		if (np)
			continue;
		np = old ? old_node_port(old, p) : 0;
		if (np && np >= NODE_PORT_MIN && np <= NODE_PORT_MAX && !is_used(used, np)) {
			mark(used, np);
			reserve(svc, 0, np);
			json_object_set_new(p, "nodePort", json_integer(np));
			continue;
		}
		np = pick_free(used);
		if (!np) {
			_cleanup_free_ char *field = k8c_xasprintf("spec.ports[%zu].nodePort", i);

			api_cause_add(causes, "FieldValueInvalid", field,
				      "Internal error: range is full");
			return -1;
		}
		mark(used, np);
		reserve(svc, 0, np);
		json_object_set_new(p, "nodePort", json_integer(np));
	}
	return allocate_health_check_port(svc, old, used, causes);
}
