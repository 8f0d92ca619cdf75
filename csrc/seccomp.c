/* The seccomp filter: compiled by the parent (libseccomp), only loaded here. */
#include "helper.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * With no_new_privs the filter goes in as late as possible (after the user switch), so
 * it has to allow as few of our own syscalls as possible; without it, loading needs
 * CAP_SYS_ADMIN, so it must go in before the capabilities drop (runc's two places).
 * A notify filter returns a listener fd: the parent hands it to listenerPath.
 */
int load_seccomp(struct helper *h)
{
	const struct boot *b = &h->boot;
	struct sock_fprog prog = {
		.len = (unsigned short)(b->seccomp_len / 8),
		.filter = (struct sock_filter *)(uintptr_t)b->seccomp,
	};
	int fd;

	if (!b->seccomp)
		return 0;
	if (b->seccomp_len / 8 > BPF_MAXINSNS)
		return report_errno(h, E2BIG, "seccomp filter of %u instructions", b->seccomp_len / 8);
	fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, b->seccomp_flags, &prog);
	if (fd < 0)
		return report(h, "load the seccomp filter");
	if (b->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
		if (send_packet(h->ctl, MSG_SECCOMP_FD, NULL, 0, &fd, 1) < 0)
			return report(h, "send the seccomp listener");
		close(fd);
		return expect(h, MSG_SECCOMP_ACK);
	}
	return 0;
}
