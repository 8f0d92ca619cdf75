/*
 * Fault points for the tests, compiled in only with -DSHIM_TEST_HOOKS: tests build such a
 * helper and name it in SHIM_INIT_HELPER (the parent then passes SHIM_INIT_TEST on to
 * it). The packaged helper is built without them: test_point() is an empty inline there.
 *
 * SHIM_INIT_TEST holds words separated by spaces:
 *   stop:<point>  stop at <point> (stop_at below), so a test can SIGKILL the runtime while
 *                 the helper sits at a known step (points: h1-hello, h1-boot, h1-child,
 *                 h2-start, h2-rootfs, h2-ready, h2-pending, h2-fifo)
 *   leak-dirfd    at h1-hello, open "/" without O_CLOEXEC and keep it: a host directory fd
 *                 leaked into the helper, which must never reach the container's process
 */
#ifdef SHIM_TEST_HOOKS
#include "helper.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

static volatile sig_atomic_t continued;

static void on_cont(int sig)
{
	(void)sig;
	continued = 1;
}

/*
 * Stop here, named "at:<point>" (comm) for the test to find. H1 stops itself; H2 is pid 1
 * of its pid namespace, which ignores a SIGSTOP of its own, so it waits for the test's
 * SIGSTOP from outside and the SIGCONT after it.
 */
static void stop_at(const char *name)
{
	struct sigaction sa, old;
	char comm[16];
	sigset_t none;

	snprintf(comm, sizeof(comm), "at:%s", name);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_cont;
	sigaction(SIGCONT, &sa, &old);
	continued = 0;
	raise(SIGSTOP);
	sigemptyset(&none);
	while (!continued)
		sigsuspend(&none);
	sigaction(SIGCONT, &old, NULL);
}

static int asked(const char *word)
{
	const char *all = getenv("SHIM_INIT_TEST"), *p;
	size_t len = strlen(word);

	for (p = all; p && (p = strstr(p, word)); p += len)
		if ((p == all || p[-1] == ' ') && (p[len] == '\0' || p[len] == ' '))
			return 1;
	return 0;
}

void test_point(struct helper *h, const char *name)
{
	char stop[64] = "stop:";

	(void)h;
	if (!strcmp(name, "h1-hello") && asked("leak-dirfd"))
		(void)open("/", O_RDONLY | O_DIRECTORY); /* deliberately leaked, not close-on-exec */
	strncat(stop, name, sizeof(stop) - strlen(stop) - 1);
	if (asked(stop))
		stop_at(name);
}
#else
typedef int shim_no_test_hooks; /* ISO C wants something in a translation unit */
#endif
