/*
 * Fault points for the tests, compiled in only with -DSHIM_TEST_HOOKS: tests build such a
 * helper and name it in SHIM_INIT_HELPER (the parent then passes SHIM_INIT_TEST on to
 * it). The packaged helper is built without them: test_point() is an empty inline there.
 *
 * SHIM_INIT_TEST holds words separated by spaces:
 *   stop:<point>  raise SIGSTOP at <point>, so a test can SIGKILL the runtime while the
 *                 helper sits at a known step (points: h1-hello, h1-boot, h1-child,
 *                 h2-start, h2-rootfs, h2-ready, h2-pending, h2-fifo)
 *   leak-dirfd    at h1-hello, open "/" without O_CLOEXEC and keep it: a host directory fd
 *                 leaked into the helper, which must never reach the container's process
 */
#ifdef SHIM_TEST_HOOKS
#include "helper.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

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
		raise(SIGSTOP);
}
#else
typedef int shim_no_test_hooks; /* ISO C wants something in a translation unit */
#endif
