/* Mounts inside the rootfs, all by fd (see resolve.c for why). */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* mount(2) flags that map onto mount_setattr attributes. */
static void flags_to_attr(uint64_t flags, struct mount_attr *a)
{
	if (flags & MS_RDONLY)
		a->attr_set |= MOUNT_ATTR_RDONLY;
	if (flags & MS_NOSUID)
		a->attr_set |= MOUNT_ATTR_NOSUID;
	if (flags & MS_NODEV)
		a->attr_set |= MOUNT_ATTR_NODEV;
	if (flags & MS_NOEXEC)
		a->attr_set |= MOUNT_ATTR_NOEXEC;
	if (flags & MS_NODIRATIME)
		a->attr_set |= MOUNT_ATTR_NODIRATIME;
	if (flags & MS_NOSYMFOLLOW)
		a->attr_set |= MOUNT_ATTR_NOSYMFOLLOW;
	if (flags & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME)) {
		a->attr_clr |= MOUNT_ATTR__ATIME;
		a->attr_set |= (flags & MS_NOATIME) ? MOUNT_ATTR_NOATIME
			     : (flags & MS_STRICTATIME) ? MOUNT_ATTR_STRICTATIME : MOUNT_ATTR_RELATIME;
	}
}

static int set_propagation(struct helper *h, int fd, uint64_t propagation, const char *dest)
{
	char proc[64];

	if (!propagation)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (mount(NULL, proc, NULL, (unsigned long)propagation, NULL) < 0)
		return report(h, "set propagation of %s", dest);
	return 0;
}

/*
 * A bind: clone the source tree detached (open_tree), set its attributes
 * while nobody can see it, then attach it on the target fd (move_mount).
 * "ro" on a bind applies to the top mount, as in runc; rro and friends
 * arrive as attr_set/attr_clr and apply recursively.
 */
/*
 * The source's mount tree from the parent (MOUNT_REQ -> MOUNT_FD): it opened it in its own
 * mount namespace as host root, where our mapped root may be refused on the way to the
 * source (a 0700 directory of the host's). runc 1.1 does the same with MOUNT_SOURCES.
 */
static int source_from_parent(struct helper *h, const struct mount_op *m)
{
	uint8_t buf[32];
	uint32_t index = (uint32_t)m->parent_source;
	size_t off = tlv_put(buf, sizeof(buf), 0, T_INDEX, &index, 4);
	struct packet p;
	int r;

	if (send_packet(h->ctl, MSG_MOUNT_REQ, buf, off, NULL, 0) < 0)
		return report(h, "bind mount %s on %s: ask for the source", m->source, m->dest);
	r = recv_packet(h->ctl, &p);
	if (r <= 0)
		return r == 0 ? -1 : report(h, "bind mount %s on %s: receive the source", m->source, m->dest);
	if (p.type != MSG_MOUNT_FD || p.nfds != 1) {
		for (unsigned i = 0; i < p.nfds; i++)
			close(p.fds[i]);
		free_packet(&p);
		return report_errno(h, EPROTO, "expected MOUNT_FD with one fd, got message %u", p.type);
	}
	free_packet(&p);
	return p.fds[0];
}

static int bind_mount(struct helper *h, int tfd, const struct mount_op *m)
{
	unsigned tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | ((m->flags & MS_REC) ? AT_RECURSIVE : 0);
	struct mount_attr top = { 0 }, rec = { .attr_set = m->attr_set, .attr_clr = m->attr_clr };
	int mfd, ret = -1;

	if (m->parent_source >= 0) {
		mfd = source_from_parent(h, m);
		if (mfd < 0)
			return -1;
	} else if ((mfd = open_tree(AT_FDCWD, m->source, tree_flags)) < 0) {
		return report(h, "bind mount %s on %s: open source", m->source, m->dest);
	}
	flags_to_attr(m->flags | m->remount, &top);
	if ((top.attr_set || top.attr_clr) && mount_setattr(mfd, "", AT_EMPTY_PATH, &top, sizeof(top)) < 0) {
		report(h, "bind mount %s on %s: set attributes", m->source, m->dest);
		goto out;
	}
	if ((rec.attr_set || rec.attr_clr) &&
	    mount_setattr(mfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &rec, sizeof(rec)) < 0) {
		report(h, "bind mount %s on %s: set recursive attributes", m->source, m->dest);
		goto out;
	}
	if (move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		report(h, "bind mount %s on %s", m->source, m->dest);
		goto out;
	}
	ret = set_propagation(h, mfd, m->propagation, m->dest);
out:
	close(mfd);
	return ret;
}

/* Hold the new mount (the top one at m->dest) until make_ro_later. */
static int keep_for_ro_later(struct helper *h, int rootfd, const struct mount_op *m)
{
	int fd = open_in_root(h, rootfd, m->dest, 0);

	if (fd < 0)
		return -1;
	h->ro_later[h->n_ro_later++] = fd;
	return 0;
}

/*
 * A tmpfs over a directory that was there takes that directory's mode (runc does so,
 * whatever mode= said), and with tmpcopyup its content. *src gets a directory fd of what
 * the tmpfs will cover (-1 when nothing was there), *mode its mode.
 */
static int tmpfs_underneath(struct helper *h, int rootfd, const struct mount_op *m, int *src, mode_t *mode)
{
	struct stat st;
	int fd = open_in_root(h, rootfd, m->dest, IN_ROOT_MAYBE_MISSING | (m->proc_ok ? 0 : IN_ROOT_NOT_ON_PROC));

	*src = -1;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return report(h, "stat %s", m->dest);
	}
	*mode = st.st_mode & 07777;
	if (S_ISDIR(st.st_mode))
		*src = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	if (S_ISDIR(st.st_mode) && *src < 0)
		return report(h, "open %s", m->dest);
	return 0;
}

/* After a tmpfs went on m->dest: its root gets the mode of what it covers, and the copy. */
static int tmpfs_fill(struct helper *h, int rootfd, const struct mount_op *m, int src, mode_t mode)
{
	int fd = open_in_root(h, rootfd, m->dest, 0), dst, ret = 0;

	if (fd < 0)
		return -1;
	dst = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	if (dst < 0)
		return report(h, "open the tmpfs on %s", m->dest);
	if (m->copyup)
		ret = copy_up(h, src, dst, m->dest);
	if (ret == 0 && fchmod(dst, mode) < 0)
		ret = report(h, "chmod the tmpfs on %s", m->dest);
	close(dst);
	return ret;
}

int do_mount(struct helper *h, int rootfd, const struct mount_op *m)
{
	char proc[64];
	int tfd, ret = 0, under = -1;
	int remount_only = (m->flags & MS_REMOUNT) != 0;
	int tmpfs = !remount_only && !(m->flags & MS_BIND) && m->fstype && !strcmp(m->fstype, "tmpfs");
	mode_t mode = 0;

	if (tmpfs && tmpfs_underneath(h, rootfd, m, &under, &mode) < 0)
		return -1;
	tfd = open_in_root(h, rootfd, m->dest,
			   (remount_only ? 0 : IN_ROOT_CREATE) | (m->file ? IN_ROOT_FILE : 0) |
				   (m->plain_dir ? IN_ROOT_PLAIN_DIR : 0) |
				   (m->proc_ok ? 0 : IN_ROOT_NOT_ON_PROC));
	if (tfd < 0) {
		if (under >= 0)
			close(under);
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tfd);
	if (remount_only) {
		if (mount(NULL, proc, NULL, (unsigned long)m->flags, m->data) < 0)
			ret = report(h, "remount %s", m->dest);
	} else if (m->flags & MS_BIND) {
		ret = bind_mount(h, tfd, m);
	} else if (mount(m->source ? m->source : "none", proc, m->fstype, (unsigned long)m->flags, m->data) < 0) {
		/* A user namespace that does not own the netns may not mount sysfs: bind the host's. */
		if (errno == EPERM && m->fstype && !strcmp(m->fstype, "sysfs")) {
			struct mount_op bind = *m;

			bind.source = "/sys";
			bind.flags = m->flags | MS_BIND | MS_REC;
			ret = bind_mount(h, tfd, &bind);
		} else {
			ret = report(h, "mount %s on %s", m->fstype ? m->fstype : "?", m->dest);
		}
	} else if (m->propagation || m->attr_set || m->attr_clr) {
		/* The new mount sits on top of tfd: reopen the path to reach it. */
		int nfd = open_in_root(h, rootfd, m->dest, 0);
		struct mount_attr rec = { .attr_set = m->attr_set, .attr_clr = m->attr_clr };

		if (nfd < 0) {
			ret = -1;
		} else {
			if ((rec.attr_set || rec.attr_clr) &&
			    mount_setattr(nfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &rec, sizeof(rec)) < 0)
				ret = report(h, "set recursive attributes of %s", m->dest);
			else
				ret = set_propagation(h, nfd, m->propagation, m->dest);
			close(nfd);
		}
	}
	close(tfd);
	if (ret == 0 && under >= 0)
		ret = tmpfs_fill(h, rootfd, m, under, mode);
	if (under >= 0)
		close(under);
	if (ret == 0 && m->ro_later)
		ret = keep_for_ro_later(h, rootfd, m);
	return ret;
}

/*
 * After the root switch: the mounts that asked for "ro" but had to stay writable while
 * nodes, links and mount points were made in them (runc's finalizeRootfs). Only the mount
 * turns read-only, as runc's bind remount does; its superblock stays as it is.
 */
int make_ro_later(struct helper *h)
{
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
	int ret = 0;

	for (size_t i = 0; i < h->n_ro_later; i++) {
		if (ret == 0 && mount_setattr(h->ro_later[i], "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
			ret = report(h, "make mount %zu read-only", i);
		close(h->ro_later[i]);
	}
	h->n_ro_later = 0;
	return ret;
}
