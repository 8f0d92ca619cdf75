/* Joining and creating namespaces (H1), and the loopback of a new netns (H2). */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* The parent opened and ordered the fds (user first, then runc's order). */
int join_namespaces(struct helper *h)
{
	/* exec: every namespace of the init at once, atomically, through its pidfd (Linux 5.8+). */
	if (h->boot.join_pidfd >= 0) {
		if (setns(h->boot.join_pidfd, (int)h->boot.join_flags) < 0)
			return report(h, "join the container's namespaces %#x", h->boot.join_flags);
		close(h->boot.join_pidfd);
		if ((h->boot.join_flags & CLONE_NEWUSER) && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
			return report(h, "become root in the container's user namespace");
	}
	for (unsigned i = 0; i < h->boot.n_ns; i++) {
		if (setns(h->boot.ns_fds[i], (int)h->boot.ns_types[i]) < 0)
			return report(h, "join namespace %#x", h->boot.ns_types[i]);
		close(h->boot.ns_fds[i]);
		/* In a joined user namespace our host ids may be unmapped: be its root. */
		if (h->boot.ns_types[i] == CLONE_NEWUSER && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
			return report(h, "become root in the joined user namespace");
	}
	return 0;
}

static int write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, len);
	close(fd);
	if (n < 0)
		return -1;
	if ((size_t)n != len) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/*
 * A new user namespace comes alone and first: every namespace made after it is owned by
 * it, so the container's root has authority over them. The parent writes our id maps
 * (from outside, where it has the rights) while we wait; we are dumpable only meanwhile.
 */
static int make_userns(struct helper *h)
{
	if (unshare(CLONE_NEWUSER) < 0)
		return report(h, "unshare the user namespace");
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return report(h, "set dumpable for the id maps");
	if (send_simple(h, MSG_USERNS_READY) < 0 || expect(h, MSG_USERNS_MAPPED) < 0)
		return -1;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return report(h, "set non-dumpable");
	/* Become the namespace's root, so the next unshare has its capabilities. */
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return report(h, "become root in the user namespace (is 0 mapped?)");
	return 0;
}

int unshare_namespaces(struct helper *h)
{
	uint32_t flags = h->boot.clone_flags;
	int tries = 0;

	if (flags & CLONE_NEWUSER) {
		if (make_userns(h) < 0)
			return -1;
		flags &= ~(uint32_t)CLONE_NEWUSER;
	}
	if (!flags)
		return 0;
	/* EINVAL can be a transient race with readers of /proc/<pid>/status (runc retries too). */
	while (unshare((int)flags) < 0) {
		if (errno != EINVAL || ++tries >= 5)
			return report(h, "unshare namespaces %#x", flags);
	}
	if (h->boot.timens_offsets && write_file("/proc/self/timens_offsets", h->boot.timens_offsets) < 0)
		return report(h, "write timens_offsets");
	return 0;
}

int loopback_up(struct helper *h)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return report(h, "socket for the loopback interface");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		close(fd);
		return report(h, "get flags of lo");
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		close(fd);
		return report(h, "bring lo up");
	}
	close(fd);
	return 0;
}

/* Used by oom_score_adj: H1 writes it before anything, children inherit it. */
int write_oom_score_adj(struct helper *h)
{
	if (h->boot.oom_score_adj && write_file("/proc/self/oom_score_adj", h->boot.oom_score_adj) < 0)
		return report(h, "write oom_score_adj %s", h->boot.oom_score_adj);
	return 0;
}
