/*
 * The container's terminal: a pty made inside the container's devpts, its
 * master sent over the console socket (SCM_RIGHTS), its peer on 0-2 and over
 * /dev/console. The peer comes from TIOCGPTPEER, never from a /dev/pts/N
 * path lookup (CVE-2025-52565).
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

static int send_master(struct helper *h, int master)
{
	static const char name[] = "/dev/ptmx";
	struct iovec iov = { (void *)name, sizeof(name) - 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(ctl.buf, 0, sizeof(ctl.buf));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	while (sendmsg(h->console_sock, &msg, MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return report(h, "send the pty master over the console socket");
	}
	return 0;
}

static int bind_console(struct helper *h, int peer)
{
	int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), tfd, mfd, ret = 0;

	if (rootfd < 0)
		return report(h, "open /");
	/* An image's /dev/console symlink must not steer the pty's bind (CVE-2025-52565). */
	tfd = open_in_root(h, rootfd, "/dev/console", IN_ROOT_CREATE | IN_ROOT_FILE | IN_ROOT_NOFOLLOW_LAST);
	close(rootfd);
	if (tfd < 0)
		return -1;
	mfd = open_tree(peer, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (mfd < 0 || move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		ret = report(h, "bind the pty over /dev/console");
	if (mfd >= 0)
		close(mfd);
	close(tfd);
	return ret;
}

int setup_console(struct helper *h)
{
	const struct boot *b = &h->boot;
	int master, peer;

	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return report(h, "open /dev/ptmx");
	if (unlockpt(master) < 0)
		return report(h, "unlockpt");
	peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (peer < 0)
		return report(h, "open the pty peer");
	if (b->console_rows && b->console_cols) {
		struct winsize ws = { .ws_row = (unsigned short)b->console_rows, .ws_col = (unsigned short)b->console_cols };

		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			return report(h, "set the console size");
	}
	if (send_master(h, master) < 0)
		return -1;
	close(master);
	close(h->console_sock);
	h->console_sock = -1;
	/* exec gets a pty of its own; /dev/console stays the init's. */
	if (!b->exec && bind_console(h, peer) < 0)
		return -1;
	for (int fd = 0; fd < 3; fd++)
		if (dup2(peer, fd) < 0)
			return report(h, "dup the pty onto fd %d", fd);
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		return report(h, "make the pty the controlling terminal");
	close(peer);
	return 0;
}
