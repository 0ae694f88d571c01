/*
 * ingress/upool.c "Event order": an h2o evloop runs the sockets of one epoll batch last ready
 * first; after ing_loop_fifo() the thread's loop runs them first ready first. Real epoll, real
 * libh2o (its evloop calls our epoll_wait through its PLT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "upool.h"

#define N 16

static int order[N], n_ran;
static int idx[N];
static h2o_evloop_t *loops[2]; /* h2o 2.2.5 cannot destroy a loop: kept reachable */

static void on_read(h2o_socket_t *sock, const char *err)
{
	assert_null(err);
	order[n_ran++] = *(int *)sock->data;
	h2o_buffer_consume(&sock->input, sock->input->size);
}

static void on_listener(h2o_socket_t *sock, const char *err)
{
	(void)sock;
	(void)err;
}

/* Makes N sockets readable one after another and runs the loop once: the order it ran them. */
static void run_batch(int which)
{
	h2o_evloop_t *loop = loops[which] = h2o_evloop_create();
	h2o_socket_t *socks[N];
	int peer[N];

	for (int i = 0; i < N; i++) {
		int sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		socks[i] = h2o_evloop_socket_create(loop, sv[0], 0);
		idx[i] = i;
		socks[i]->data = &idx[i];
		h2o_socket_read_start(socks[i], on_read);
		peer[i] = sv[1];
	}
	h2o_evloop_run(loop, 0); /* registers the sockets with epoll; nothing is ready */
	n_ran = 0;
	for (int i = 0; i < N; i++)
		assert_int_equal(write(peer[i], "x", 1), 1);
	h2o_evloop_run(loop, 1000);
	assert_int_equal(n_ran, N);
	for (int i = 0; i < N; i++) {
		h2o_socket_close(socks[i]);
		close(peer[i]);
	}
	h2o_evloop_run(loop, 0); /* frees the closed sockets */
}

static void test_h2o_order_is_last_first(void **state)
{
	(void)state;
	run_batch(0); /* this thread has not called ing_loop_fifo() yet */
	for (int i = 0; i < N; i++)
		assert_int_equal(order[i], N - 1 - i);
}

static void test_fifo_order(void **state)
{
	(void)state;
	ing_loop_fifo();
	run_batch(1);
	for (int i = 0; i < N; i++)
		assert_int_equal(order[i], i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_h2o_order_is_last_first),
		cmocka_unit_test(test_fifo_order),
	};

	ing_read_stop_init(on_listener);
	if (!ing_pool_interposed()) {
		fprintf(stderr, "libh2o does not call upool.c's functions here\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
