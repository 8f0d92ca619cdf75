/* The root filesystem: propagation, the rootfs plan, the root switch, and what follows it. */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Shared propagation would break pivot_root: start slave, re-apply after the switch. */
static unsigned long initial_propagation(uint32_t configured)
{
	if (!configured || (configured & MS_SHARED))
		return MS_SLAVE | MS_REC;
	return configured;
}

/*
 * The mount holding the rootfs must not be shared (pivot_root refuses) nor unbindable
 * (the bind below fails): make it private, walking up while EINVAL says "not a mount
 * point" (runc's rootfsParentMountPrivate).
 */
static int parent_mount_private(struct helper *h, const char *rootfs)
{
	char path[PATH_MAX];

	if (strlen(rootfs) >= sizeof(path))
		return report_errno(h, ENAMETOOLONG, "rootfs %s", rootfs);
	strcpy(path, rootfs);
	for (;;) {
		char *slash;

		if (mount(NULL, path, NULL, MS_PRIVATE, NULL) == 0)
			return 0;
		if (errno != EINVAL || !strcmp(path, "/"))
			return report(h, "make the mount of %s private", rootfs);
		slash = strrchr(path, '/');
		if (slash == path)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

int prepare_rootfs(struct helper *h)
{
	const struct boot *b = &h->boot;
	int rootfd, ret = 0;

	/* Without a mount namespace of its own these would change the host's mounts. */
	if (!b->no_mount_ns && mount(NULL, "/", NULL, initial_propagation(b->root_propagation), NULL) < 0)
		return report(h, "set propagation of /");
	if (!b->no_mount_ns && parent_mount_private(h, b->rootfs) < 0)
		return -1;
	/* pivot_root needs the new root to be a mount point. */
	if (mount(b->rootfs, b->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return report(h, "bind mount the rootfs %s", b->rootfs);
	rootfd = open(b->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return report(h, "open the rootfs %s", b->rootfs);
	for (size_t i = 0; i < b->n_steps && ret == 0; i++) {
		const struct rootfs_step *s = &b->steps[i];

		if (s->kind == T_MOUNT)
			ret = do_mount(h, rootfd, &s->mount);
		else if (s->kind == T_DEVICE)
			ret = make_device(h, rootfd, &s->device);
		else
			ret = make_symlink(h, rootfd, &s->link);
	}
	if (ret == 0 && b->cwd) {
		int fd = open_in_root(h, rootfd, b->cwd, IN_ROOT_CREATE);

		if (fd < 0)
			ret = -1;
		else
			close(fd);
	}
	close(rootfd);
	return ret;
}

/*
 * With the cwd on the old root: detach it and everything stacked on it. umount2(".") takes
 * the topmost mount on the cwd, and a host whose "/" has binds stacked on it (`mount
 * --rbind / /`) leaves one copy of its root per bind on top of ours: runc's single umount
 * kept the rest, where setns (exec) and ".." from "/" land, i.e. on the host. Like crun:
 * the first must succeed, then again until EINVAL says the cwd is no longer mounted.
 */
static int detach_old_root(struct helper *h)
{
	int n = 0;

	if (umount2(".", MNT_DETACH) < 0)
		return report(h, "detach the old root");
	while (umount2(".", MNT_DETACH) == 0)
		if (++n > 4096)  /* a mount table never that deep: something re-mounts under us */
			return report_errno(h, ELOOP, "detach the old root: still mounted after %d detaches", n);
	if (errno != EINVAL)
		return report(h, "detach the old root (after %d stacked copies)", n);
	return 0;
}

int switch_root(struct helper *h)
{
	const struct boot *b = &h->boot;
	int oldroot, newroot;

	if (b->no_pivot)
		return move_root(h);
	if (b->no_mount_ns)
		return chroot_root(h);
	oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0)
		return report(h, "open the old root");
	newroot = open(b->rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (newroot < 0) {
		close(oldroot);
		return report(h, "open the new root");
	}
	if (fchdir(newroot) < 0 || syscall(SYS_pivot_root, ".", ".") < 0) {
		report(h, "pivot_root %s", b->rootfs);
		goto fail;
	}
	/* The old root is stacked under "."; detach it without propagating to the host. */
	if (fchdir(oldroot) < 0 || mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 ||
	    detach_old_root(h) < 0)
		goto fail;
	close(oldroot);
	close(newroot);
	if (chdir("/") < 0)
		return report(h, "chdir /");
	return 0;
fail:
	close(oldroot);
	close(newroot);
	return -1;
}

static int readonly_root(struct helper *h)
{
	struct statvfs sv;
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;

	if (statvfs("/", &sv) < 0)
		return report(h, "statvfs /");
	/* Keep the flags the kernel would refuse to drop (locked in a user namespace). */
	flags |= sv.f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
	if (mount(NULL, "/", NULL, flags, NULL) < 0)
		return report(h, "make the root readonly");
	return 0;
}

static int write_sysctl(struct helper *h, const struct sysctl_op *s)
{
	char path[PATH_MAX];
	size_t len = strlen(s->value);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "sys/%s", s->key);
	/* Our own procfs: the container's /proc may be overmounted (CVE-2025-52881). */
	fd = open_in_proc(h, path, O_WRONLY);
	if (fd < 0)
		return report(h, "open sysctl %s", s->key);
	n = write(fd, s->value, len);
	close(fd);
	if (n < 0 || (size_t)n != len)
		return report(h, "write sysctl %s", s->key);
	return 0;
}

static int readonly_path(struct helper *h, int rootfd, const char *path)
{
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
	int fd = open_in_root(h, rootfd, path, IN_ROOT_MAYBE_MISSING), mfd, ret = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	mfd = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	if (mfd < 0 || mount_setattr(mfd, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0 ||
	    move_mount(mfd, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		ret = report(h, "make %s readonly", path);
	if (mfd >= 0)
		close(mfd);
	close(fd);
	return ret;
}

/* CVE-2025-31133: mask only with the real /dev/null, never a planted symlink. */
static int open_devnull(struct helper *h, int rootfd)
{
	struct stat st;
	int fd = openat(rootfd, "dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return report(h, "open /dev/null to mask paths");
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
		close(fd);
		return report_errno(h, EPERM, "/dev/null is not the null device: refusing to mask paths with it");
	}
	return fd;
}

static int masked_path(struct helper *h, int rootfd, int devnull, const char *path)
{
	struct stat st;
	int fd = open_in_root(h, rootfd, path, IN_ROOT_MAYBE_MISSING), mfd = -1, ret = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0) {
		ret = report(h, "stat %s", path);
	} else if (S_ISDIR(st.st_mode)) {
		int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);

		if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "source", "tmpfs", 0) < 0 ||
		    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
		    (mfd = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY)) < 0)
			ret = report(h, "mask %s", path);
		if (fs >= 0)
			close(fs);
	} else if ((mfd = open_tree(devnull, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)) < 0) {
		ret = report(h, "mask %s", path);
	}
	if (ret == 0 && move_mount(mfd, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		ret = report(h, "mask %s", path);
	if (mfd >= 0)
		close(mfd);
	close(fd);
	return ret;
}

/*
 * runc's reOpenDevNull: stdio on the host's /dev/null is swapped for the container's
 * own. Nothing in the container then holds a file on a host mount, which criu could
 * not dump ("Can't lookup mount"). Only where we made /dev (not a /dev bind). `devnull`
 * is open_devnull's verified O_PATH fd; the read-write open must be that same node.
 */
static int reopen_devnull(struct helper *h, int rootfd, int devnull)
{
	struct stat null_st, st;
	int fd = openat(rootfd, "dev/null", O_RDWR | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return report(h, "open /dev/null in the container");
	if (fstat(devnull, &null_st) < 0 || fstat(fd, &st) < 0 || st.st_ino != null_st.st_ino ||
	    st.st_dev != null_st.st_dev || st.st_rdev != null_st.st_rdev) {
		close(fd);
		return report_errno(h, EPERM, "/dev/null is not the null device: not reopening stdio on it");
	}
	for (int i = 0; i < 3; i++) {
		if (fstat(i, &st) < 0)
			continue; /* a closed stdio fd stays closed */
		if (S_ISCHR(st.st_mode) && st.st_rdev == null_st.st_rdev && dup3(fd, i, 0) < 0) {
			close(fd);
			return report(h, "reopen fd %d on the container's /dev/null", i);
		}
	}
	close(fd);
	return 0;
}

/* After the root switch: "/" is the container's root. */
int finish_rootfs(struct helper *h)
{
	const struct boot *b = &h->boot;
	int rootfd, devnull = -1, ret = 0;

	if (make_ro_later(h) < 0)
		return -1;
	if (b->root_readonly && readonly_root(h) < 0)
		return -1;
	if (b->hostname && sethostname(b->hostname, strlen(b->hostname)) < 0)
		return report(h, "sethostname %s", b->hostname);
	if (b->domainname && setdomainname(b->domainname, strlen(b->domainname)) < 0)
		return report(h, "setdomainname %s", b->domainname);
	for (size_t i = 0; i < b->n_sysctls; i++)
		if (write_sysctl(h, &b->sysctls[i]) < 0)
			return -1;
	rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return report(h, "open /");
	for (size_t i = 0; i < b->readonly_paths.n && ret == 0; i++)
		ret = readonly_path(h, rootfd, b->readonly_paths.v[i]);
	if (ret == 0 && (b->masked.n || b->dev_setup) && (devnull = open_devnull(h, rootfd)) < 0)
		ret = -1;
	if (ret == 0 && b->dev_setup)
		ret = reopen_devnull(h, rootfd, devnull);
	for (size_t i = 0; i < b->masked.n && ret == 0; i++)
		ret = masked_path(h, rootfd, devnull, b->masked.v[i]);
	/* The configured propagation of "/", now that the root is final (runc 1.2 does so too). */
	if (ret == 0 && b->root_propagation && !b->no_mount_ns &&
	    mount(NULL, "/", NULL, b->root_propagation, NULL) < 0)
		ret = report(h, "set propagation of the new /");
	if (devnull >= 0)
		close(devnull);
	close(rootfd);
	return ret;
}
