/*
 * The PKI: files and modes, chains and purposes, reuse and renewal, the kubeconfig (parsed by
 * PyYAML and kubectl when present), and real TLS handshakes with the generated certificates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cleanup.h"
#include "pki.h"

static char tmpdir[] = "/tmp/k8c-pki-test.XXXXXX";

static const char *const base_ips[] = {"127.0.0.1", "10.96.0.1"};
static const char *const base_dns[] = {"localhost", "kubernetes", "kubernetes.default.svc"};

static char *dir_for(const char *name)
{
	return k8c_xasprintf("%s/%s", tmpdir, name);
}

static void ensure_with(const char *dir, const char *const *ips, size_t n_ips,
			const char *const *dns, size_t n_dns, const char *url, struct pki_paths *p)
{
	struct pki_request req = {
		.data_dir = dir,
		.san_ips = ips,
		.n_san_ips = n_ips,
		.san_dns = dns,
		.n_san_dns = n_dns,
		.server_url = url,
		.cluster_name = "k8c",
	};
	struct k8c_error err = K8C_ERROR_INIT;

	if (pki_ensure(&req, p, &err) < 0)
		fail_msg("pki_ensure: %s", err.msg);
	assert_null(err.msg);
}

static void ensure(const char *dir, struct pki_paths *p)
{
	ensure_with(dir, base_ips, 2, base_dns, 3, "https://127.0.0.1:6443", p);
}

static X509 *load_crt(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

static void fingerprint(const char *path, unsigned char md[EVP_MAX_MD_SIZE])
{
	X509 *x = load_crt(path);
	unsigned int n;

	memset(md, 0, EVP_MAX_MD_SIZE);
	assert_int_equal(X509_digest(x, EVP_sha256(), md, &n), 1);
	X509_free(x);
}

/* The serial as a hex string, owned by the caller. */
static char *serial(const char *path)
{
	X509 *x = load_crt(path);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = BN_bn2hex(bn);
	char *s = k8c_xstrdup(hex);

	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	return s;
}

static int verify(const char *ca_path, const char *leaf_path, int purpose)
{
	X509 *ca = load_crt(ca_path), *leaf = load_crt(leaf_path);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok, e;

	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
	ok = X509_verify_cert(ctx);
	e = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(ca);
	X509_free(leaf);
	ERR_clear_error();
	return ok == 1 ? X509_V_OK : (e != X509_V_OK ? e : -1);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_create(void **state)
{
	_cleanup_free_ char *dir = dir_for("create");
	_cleanup_free_ char *pki_dir = k8c_xasprintf("%s/pki", dir);
	struct pki_paths p;
	X509 *ca, *srv, *adm;
	char buf[256];

	ensure(dir, &p);
	assert_true(p.ca_crt[0] == '/' && p.kubeconfig[0] == '/');
	assert_int_equal(mode_of(pki_dir), 0700);
	assert_int_equal(mode_of(p.ca_key), 0600);
	assert_int_equal(mode_of(p.server_key), 0600);
	assert_int_equal(mode_of(p.admin_key), 0600);
	assert_int_equal(mode_of(p.kubeconfig), 0600);
	assert_int_equal(mode_of(p.ca_crt), 0644);

	ca = load_crt(p.ca_crt);
	assert_int_equal(X509_check_ca(ca), 1);
	assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	assert_non_null(X509_get0_subject_key_id(ca));
	X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, "k8c-ca");
	assert_int_equal(X509_get_version(ca), X509_VERSION_3);

	assert_int_equal(verify(p.ca_crt, p.server_crt, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	/* serverAuth only: the serving certificate must not pass as a client. */
	assert_int_not_equal(verify(p.ca_crt, p.server_crt, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
	srv = load_crt(p.server_crt);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(X509_check_ip_asc(srv, base_ips[i], 0), 1);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(X509_check_host(srv, base_dns[i], 0, 0, NULL), 1);
	assert_int_not_equal(X509_check_ip_asc(srv, "10.0.0.9", 0), 1);
	X509_NAME_get_text_by_NID(X509_get_subject_name(srv), NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, "kube-apiserver");
	assert_non_null(X509_get0_authority_key_id(srv));

	assert_int_equal(verify(p.ca_crt, p.admin_crt, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
	assert_int_not_equal(verify(p.ca_crt, p.admin_crt, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	adm = load_crt(p.admin_crt);
	X509_NAME_get_text_by_NID(X509_get_subject_name(adm), NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, "kubernetes-admin");
	X509_NAME_get_text_by_NID(X509_get_subject_name(adm), NID_organizationName, buf,
				  sizeof(buf));
	assert_string_equal(buf, "system:masters");

	X509_free(ca);
	X509_free(srv);
	X509_free(adm);
	pki_paths_free(&p);
}

static void test_serial_size(void **state)
{
	_cleanup_free_ char *dir = dir_for("serial");
	struct pki_paths p;
	X509 *x;
	BIGNUM *bn;

	ensure(dir, &p);
	x = load_crt(p.server_crt);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	/* 128 random bits: below 2^128 and, but for 2^-32 odds, above 2^96. */
	assert_true(BN_num_bits(bn) <= 128 && BN_num_bits(bn) > 96);
	assert_false(BN_is_negative(bn));
	BN_free(bn);
	X509_free(x);
	pki_paths_free(&p);
}

static void test_reuse(void **state)
{
	_cleanup_free_ char *dir = dir_for("reuse");
	unsigned char fp1[EVP_MAX_MD_SIZE], fp2[EVP_MAX_MD_SIZE];
	_cleanup_free_ char *s1 = NULL, *s2 = NULL, *a1 = NULL, *a2 = NULL;
	struct pki_paths p;

	ensure(dir, &p);
	fingerprint(p.ca_crt, fp1);
	s1 = serial(p.server_crt);
	a1 = serial(p.admin_crt);
	pki_paths_free(&p);

	ensure(dir, &p);
	fingerprint(p.ca_crt, fp2);
	s2 = serial(p.server_crt);
	a2 = serial(p.admin_crt);
	assert_memory_equal(fp1, fp2, EVP_MAX_MD_SIZE);
	assert_string_equal(s1, s2);
	assert_string_equal(a1, a2);
	pki_paths_free(&p);
}

static void test_extra_san(void **state)
{
	_cleanup_free_ char *dir = dir_for("san");
	static const char *const more_ips[] = {"127.0.0.1", "10.96.0.1", "192.0.2.7"};
	static const char *const more_dns[] = {"localhost", "kubernetes", "kubernetes.default.svc",
					       "node1.example"};
	unsigned char fp1[EVP_MAX_MD_SIZE], fp2[EVP_MAX_MD_SIZE];
	_cleanup_free_ char *s1 = NULL, *s2 = NULL, *s3 = NULL, *a1 = NULL, *a2 = NULL;
	struct pki_paths p;
	X509 *srv;

	ensure(dir, &p);
	fingerprint(p.ca_crt, fp1);
	s1 = serial(p.server_crt);
	a1 = serial(p.admin_crt);
	pki_paths_free(&p);

	ensure_with(dir, more_ips, 3, base_dns, 3, "https://127.0.0.1:6443", &p);
	fingerprint(p.ca_crt, fp2);
	s2 = serial(p.server_crt);
	a2 = serial(p.admin_crt);
	assert_memory_equal(fp1, fp2, EVP_MAX_MD_SIZE);
	assert_string_not_equal(s1, s2);
	assert_string_equal(a1, a2);
	srv = load_crt(p.server_crt);
	assert_int_equal(X509_check_ip_asc(srv, "192.0.2.7", 0), 1);
	X509_free(srv);
	assert_int_equal(verify(p.ca_crt, p.server_crt, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	pki_paths_free(&p);

	/* A new DNS name renews too. */
	ensure_with(dir, more_ips, 3, more_dns, 4, "https://127.0.0.1:6443", &p);
	s3 = serial(p.server_crt);
	assert_string_not_equal(s2, s3);
	srv = load_crt(p.server_crt);
	assert_int_equal(X509_check_host(srv, "node1.example", 0, 0, NULL), 1);
	X509_free(srv);
	pki_paths_free(&p);
}

static void test_ca_key_deleted(void **state)
{
	_cleanup_free_ char *dir = dir_for("caloss");
	unsigned char fp1[EVP_MAX_MD_SIZE], fp2[EVP_MAX_MD_SIZE];
	_cleanup_free_ char *s1 = NULL, *s2 = NULL, *a1 = NULL, *a2 = NULL;
	struct pki_paths p;

	ensure(dir, &p);
	fingerprint(p.ca_crt, fp1);
	s1 = serial(p.server_crt);
	a1 = serial(p.admin_crt);
	assert_int_equal(unlink(p.ca_key), 0);
	pki_paths_free(&p);

	ensure(dir, &p);
	fingerprint(p.ca_crt, fp2);
	s2 = serial(p.server_crt);
	a2 = serial(p.admin_crt);
	assert_memory_not_equal(fp1, fp2, EVP_MAX_MD_SIZE);
	assert_string_not_equal(s1, s2);
	assert_string_not_equal(a1, a2);
	assert_int_equal(mode_of(p.ca_key), 0600);
	assert_int_equal(verify(p.ca_crt, p.server_crt, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	assert_int_equal(verify(p.ca_crt, p.admin_crt, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
	pki_paths_free(&p);
}

/* Write a certificate for key, signed by signer, valid for `days`, as path. */
static void write_cert(const char *path, EVP_PKEY *key, X509 *issuer, EVP_PKEY *signer, long days)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	FILE *f;

	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"forged", -1,
				   -1, 0);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_set_pubkey(x, key);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL);
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	X509_NAME_free(name);
	X509_free(x);
}

static void test_renew_expiring_or_foreign(void **state)
{
	_cleanup_free_ char *dir = dir_for("renew");
	_cleanup_free_ char *s = NULL;
	struct pki_paths p;
	X509 *ca;
	EVP_PKEY *ca_key, *srv_key, *adm_key, *other;

	ensure(dir, &p);
	ca = load_crt(p.ca_crt);
	ca_key = load_key(p.ca_key);
	srv_key = load_key(p.server_key);

	/* Signed by the right CA but expiring in 10 days: renewed. */
	write_cert(p.server_crt, srv_key, ca, ca_key, 10);
	pki_paths_free(&p);
	ensure(dir, &p);
	s = serial(p.server_crt);
	assert_string_not_equal(s, "2A");
	assert_int_equal(verify(p.ca_crt, p.server_crt, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	free(s);

	/* Valid for long but self-signed by another key: renewed. */
	other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(other);
	adm_key = load_key(p.admin_key);
	write_cert(p.admin_crt, adm_key, NULL, other, 300);
	pki_paths_free(&p);
	ensure(dir, &p);
	s = serial(p.admin_crt);
	assert_string_not_equal(s, "2A");
	assert_int_equal(verify(p.ca_crt, p.admin_crt, X509_PURPOSE_SSL_CLIENT), X509_V_OK);

	EVP_PKEY_free(other);
	EVP_PKEY_free(adm_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(ca_key);
	X509_free(ca);
	pki_paths_free(&p);
}

static void test_error_names_file(void **state)
{
	_cleanup_free_ char *dir = dir_for("err");
	_cleanup_free_ char *pki_dir = k8c_xasprintf("%s/pki", dir);
	_cleanup_free_ char *blocker = k8c_xasprintf("%s/pki/ca.key", dir);
	_cleanup_free_ char *want = NULL;
	struct pki_request req = {.data_dir = dir, .server_url = "https://127.0.0.1:6443"};
	struct k8c_error err = K8C_ERROR_INIT;
	static const char *const bad_ip[] = {"300.1.1.1"};
	struct pki_paths p;

	/* Runs as root here, so a mode cannot forbid the write: a directory in the way can. */
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(pki_dir, 0700), 0);
	assert_int_equal(mkdir(blocker, 0700), 0);
	assert_int_equal(pki_ensure(&req, &p, &err), -1);
	want = k8c_xasprintf("pki: write %s: Is a directory", blocker);
	assert_string_equal(err.msg, want);
	assert_null(p.ca_crt);
	k8c_error_clear(&err);

	req.san_ips = bad_ip;
	req.n_san_ips = 1;
	assert_int_equal(rmdir(blocker), 0);
	assert_int_equal(pki_ensure(&req, &p, &err), -1);
	assert_non_null(strstr(err.msg, "300.1.1.1"));
	k8c_error_clear(&err);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = k8c_xmalloc(65536);

	assert_non_null(f);
	*len = fread(buf, 1, 65535, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* The base64 value of `key: ` in the kubeconfig, decoded. */
static char *kubeconfig_field(const char *yaml, const char *key, size_t *len)
{
	_cleanup_free_ char *needle = k8c_xasprintf("%s: ", key);
	const char *v = strstr(yaml, needle), *end;
	char *out;
	int n;
	size_t b64;

	assert_non_null(v);
	v += strlen(needle);
	end = strchr(v, '\n');
	b64 = (size_t)(end - v);
	out = k8c_xmalloc(b64);
	n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)v, (int)b64);
	assert_true(n >= 0);
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	for (const char *q = end; q > v && q[-1] == '='; q--)
		n--;
	*len = (size_t)n;
	return out;
}

static void test_kubeconfig_base64(void **state)
{
	_cleanup_free_ char *dir = dir_for("kcb64");
	_cleanup_free_ char *yaml = NULL, *ca = NULL, *ca_dec = NULL, *key = NULL, *key_dec = NULL;
	size_t yl, cl, cdl, kl, kdl;
	struct pki_paths p;

	ensure(dir, &p);
	yaml = slurp(p.kubeconfig, &yl);
	ca = slurp(p.ca_crt, &cl);
	key = slurp(p.admin_key, &kl);
	ca_dec = kubeconfig_field(yaml, "certificate-authority-data", &cdl);
	key_dec = kubeconfig_field(yaml, "client-key-data", &kdl);
	assert_int_equal(cl, cdl);
	assert_memory_equal(ca, ca_dec, cl);
	assert_int_equal(kl, kdl);
	assert_memory_equal(key, key_dec, kl);
	assert_non_null(strstr(yaml, "server: \"https://127.0.0.1:6443\""));
	pki_paths_free(&p);
}

static int run(char *const argv[])
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static const char py_check[] =
	"import yaml, sys, base64\n"
	"c = yaml.safe_load(open(sys.argv[1]))\n"
	"rd = lambda p: open(p, 'rb').read()\n"
	"assert c['apiVersion'] == 'v1' and c['kind'] == 'Config'\n"
	"cl = c['clusters'][0]\n"
	"assert cl['name'] == 'k8c'\n"
	"assert cl['cluster']['server'] == 'https://127.0.0.1:6443'\n"
	"assert base64.b64decode(cl['cluster']['certificate-authority-data']) == rd(sys.argv[2])\n"
	"u = c['users'][0]\n"
	"assert u['name'] == 'admin'\n"
	"assert base64.b64decode(u['user']['client-certificate-data']) == rd(sys.argv[3])\n"
	"assert base64.b64decode(u['user']['client-key-data']) == rd(sys.argv[4])\n"
	"x = c['contexts'][0]\n"
	"assert x['context'] == {'cluster': 'k8c', 'user': 'admin'}\n"
	"assert c['current-context'] == x['name']\n"
	"try:\n"
	"    import kubernetes\n"
	"except ImportError:\n"
	"    sys.exit(0)\n"
	"kubernetes.config.load_kube_config(config_file=sys.argv[1])\n"
	"cfg = kubernetes.client.Configuration.get_default_copy()\n"
	"assert cfg.host == 'https://127.0.0.1:6443', cfg.host\n"
	"assert open(cfg.ssl_ca_cert, 'rb').read() == rd(sys.argv[2])\n";

static void test_kubeconfig_python(void **state)
{
	_cleanup_free_ char *dir = dir_for("kcpy");
	struct pki_paths p;
	char *probe[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)"import yaml", NULL};

	if (access("/usr/bin/python3", X_OK) != 0 || run(probe) != 0)
		skip();
	ensure(dir, &p);
	char *argv[] = {(char *)"/usr/bin/python3",
			(char *)"-c",
			(char *)py_check,
			p.kubeconfig,
			p.ca_crt,
			p.admin_crt,
			p.admin_key,
			NULL};
	assert_int_equal(run(argv), 0);
	pki_paths_free(&p);
}

static SSL_CTX *server_ctx(const struct pki_paths *p)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate_file(ctx, p->server_crt, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, p->server_key, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, p->ca_crt, NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
}

static void handshake_pair(SSL *c, SSL *s)
{
	bool cdone = false, sdone = false;

	for (int i = 0; i < 10000 && !(cdone && sdone); i++) {
		SSL *ssl[2] = {c, s};
		bool *done[2] = {&cdone, &sdone};

		for (int k = 0; k < 2; k++) {
			int r;

			if (*done[k])
				continue;
			r = SSL_do_handshake(ssl[k]);
			if (r == 1) {
				*done[k] = true;
				continue;
			}
			r = SSL_get_error(ssl[k], r);
			if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE) {
				char buf[256];

				ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
				fail_msg("%s handshake: %s", k ? "server" : "client", buf);
			}
		}
	}
	assert_true(cdone && sdone);
}

static void test_tls_handshake(void **state)
{
	_cleanup_free_ char *dir = dir_for("tls");
	struct pki_paths p;
	SSL_CTX *sctx, *cctx;
	SSL *s, *c;
	X509 *peer;
	int sv[2];
	char buf[256];

	ensure(dir, &p);
	sctx = server_ctx(&p);
	cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(cctx);
	assert_int_equal(SSL_CTX_use_certificate_file(cctx, p.admin_crt, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(cctx, p.admin_key, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_load_verify_locations(cctx, p.ca_crt, NULL), 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	assert_int_equal(SSL_set_fd(s, sv[0]), 1);
	assert_int_equal(SSL_set_fd(c, sv[1]), 1);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c), "127.0.0.1"), 1);

	handshake_pair(c, s);
	assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
	assert_int_equal(SSL_get_verify_result(s), X509_V_OK);
	peer = SSL_get0_peer_certificate(s);
	assert_non_null(peer);
	X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, "kubernetes-admin");

	SSL_free(s);
	SSL_free(c);
	close(sv[0]);
	close(sv[1]);

	/* The same server refuses a client verifying for an address not in the SANs. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	SSL_set_fd(s, sv[0]);
	SSL_set_fd(c, sv[1]);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c), "192.0.2.99");
	assert_int_equal(SSL_connect(c), -1); /* wants to read the ServerHello */
	assert_int_equal(SSL_accept(s), -1);
	assert_true(SSL_connect(c) <= 0);
	assert_int_equal(SSL_get_verify_result(c), X509_V_ERR_IP_ADDRESS_MISMATCH);
	ERR_clear_error();
	SSL_free(s);
	SSL_free(c);
	close(sv[0]);
	close(sv[1]);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	pki_paths_free(&p);
}

/* One HTTPS endpoint answering /version, for kubectl. */
struct https_server {
	SSL_CTX *ctx;
	int lfd;
	volatile bool stop;
	int served, verified;
};

static void *https_serve(void *arg)
{
	struct https_server *h = arg;
	static const char body[] =
		"{\"major\":\"1\",\"minor\":\"30\",\"gitVersion\":\"v1.30.0-k8c\"}";

	while (!h->stop) {
		struct pollfd pfd = {.fd = h->lfd, .events = POLLIN};
		char req[4096], resp[512];
		size_t got = 0;
		SSL *ssl;
		int fd;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		ssl = SSL_new(h->ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			if (SSL_get_verify_result(ssl) == X509_V_OK &&
			    SSL_get0_peer_certificate(ssl))
				h->verified++;
			while (got < sizeof(req) - 1) {
				int n = SSL_read(ssl, req + got, (int)(sizeof(req) - 1 - got));

				if (n <= 0)
					break;
				got += (size_t)n;
				req[got] = '\0';
				if (strstr(req, "\r\n\r\n"))
					break;
			}
			snprintf(resp, sizeof(resp),
				 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
				 strlen(body), body);
			SSL_write(ssl, resp, (int)strlen(resp));
			SSL_shutdown(ssl);
			h->served++;
		}
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
	}
	return NULL;
}

/* kubectl (Go's crypto/tls and x509, stricter than OpenSSL in places) against the files. */
static void test_kubectl(void **state)
{
	_cleanup_free_ char *dir = dir_for("kubectl");
	_cleanup_free_ char *url = NULL, *cmd = NULL;
	struct https_server h = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	struct pki_paths p;
	pthread_t th;
	char out[1024] = "";
	size_t n;
	FILE *f;

	if (access("/usr/bin/kubectl", X_OK) != 0)
		skip();
	h.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(h.lfd >= 0);
	assert_int_equal(bind(h.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(h.lfd, 8), 0);
	assert_int_equal(getsockname(h.lfd, (struct sockaddr *)&sa, &sl), 0);
	url = k8c_xasprintf("https://127.0.0.1:%u", ntohs(sa.sin_port));
	ensure_with(dir, base_ips, 2, base_dns, 3, url, &p);
	h.ctx = server_ctx(&p);
	assert_int_equal(pthread_create(&th, NULL, https_serve, &h), 0);

	cmd = k8c_xasprintf(
		"/usr/bin/kubectl --kubeconfig %s --cache-dir %s/cache --request-timeout "
		"10s get --raw /version 2>&1",
		p.kubeconfig, dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	int status = pclose(f);

	h.stop = true;
	pthread_join(th, NULL);
	close(h.lfd);
	SSL_CTX_free(h.ctx);
	if (status != 0 || !strstr(out, "v1.30.0-k8c"))
		fail_msg("kubectl: status %d: %s", status, out);
	assert_true(h.verified >= 1);
	pki_paths_free(&p);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_serial_size),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_extra_san),
		cmocka_unit_test(test_ca_key_deleted),
		cmocka_unit_test(test_renew_expiring_or_foreign),
		cmocka_unit_test(test_error_names_file),
		cmocka_unit_test(test_kubeconfig_base64),
		cmocka_unit_test(test_kubeconfig_python),
		cmocka_unit_test(test_tls_handshake),
		cmocka_unit_test(test_kubectl),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
