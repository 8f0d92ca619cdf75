/* Device nodes and symlinks inside the rootfs, created under verified dir fds. */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Open the parent directory of `path` in the root (made if missing); *name gets the last component. */
static int open_parent(struct helper *h, int rootfd, const char *path, char *dir, const char **name)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (!slash || !slash[1] || strlen(path) >= PATH_MAX)
		return report_errno(h, EINVAL, "bad path %s", path);
	len = (size_t)(slash - path);
	memcpy(dir, path, len);
	dir[len] = '\0';
	*name = slash + 1;
	if (!strcmp(*name, ".") || !strcmp(*name, ".."))
		return report_errno(h, EINVAL, "bad path %s", path);
	return open_in_root(h, rootfd, len ? dir : "/", IN_ROOT_CREATE);
}

static int bind_host_device(struct helper *h, int dfd, const char *name, const char *path)
{
	int tfd, mfd, ret = 0;

	tfd = openat(dfd, name, O_CREAT | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0);
	if (tfd < 0 && errno != EEXIST)
		return report(h, "create the bind target %s", path);
	if (tfd >= 0)
		close(tfd);
	tfd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return report(h, "open the bind target %s", path);
	mfd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (mfd < 0 || move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		ret = report(h, "bind the host's %s", path);
	if (mfd >= 0)
		close(mfd);
	close(tfd);
	return ret;
}

int make_device(struct helper *h, int rootfd, const struct device_op *d)
{
	char dir[PATH_MAX];
	const char *name;
	int dfd = open_parent(h, rootfd, d->path, dir, &name);
	int ret = 0;

	if (dfd < 0)
		return -1;
	if (mknodat(dfd, name, (mode_t)(d->type | (d->mode & 07777)), makedev(d->major, d->minor)) < 0) {
		if (errno == EPERM)  /* in a user namespace: bind the host's node instead, as runc */
			ret = bind_host_device(h, dfd, name, d->path);
		else if (errno != EEXIST)
			ret = report(h, "mknod %s", d->path);
	} else if (fchownat(dfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0) {
		ret = report(h, "chown %s", d->path);
	}
	close(dfd);
	return ret;
}

int make_symlink(struct helper *h, int rootfd, const struct symlink_op *l)
{
	char dir[PATH_MAX];
	const char *name;
	int dfd = open_parent(h, rootfd, l->path, dir, &name);
	int ret = 0;

	if (dfd < 0)
		return -1;
	if (symlinkat(l->target, dfd, name) < 0 && errno != EEXIST)
		ret = report(h, "symlink %s -> %s", l->path, l->target);
	close(dfd);
	return ret;
}
