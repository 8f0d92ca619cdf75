/*
 * LSM labels, applied as runc applies them: AppArmor's profile as "exec <profile>" in the
 * thread's attr/apparmor/exec (attr/exec on kernels without the subdirectory), SELinux's
 * process label in attr/exec and attr/keycreate. Each takes effect at the next execve (the
 * keyring label at the next keyring made). Without the LSM the kernel refuses the write,
 * and so does runc.
 *
 * The attr files are this thread's, reached through a procfs directory fd H1 opened before
 * joining anything (the host's /proc, checked to be procfs), with openat2 confined to it:
 * nothing mounted or planted in the container can redirect the write (CVE-2019-16884,
 * CVE-2025-52881). The parent may name a stand-in directory instead (tests only; this host
 * has no LSM to write to).
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int open_attr(struct helper *h, const char *path)
{
	struct open_how how = {
		.flags = O_WRONLY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, h->lsm_fd, path, &how, sizeof(how));
}

static int write_attr(int fd, const char *value)
{
	size_t len = strlen(value);
	ssize_t n = write(fd, value, len);

	if (n >= 0 && (size_t)n != len)
		errno = EIO;
	return n >= 0 && (size_t)n == len ? 0 : -1;
}

/* H1, before it joins or makes any namespace; only when a label was asked for. */
int open_lsm_root(struct helper *h)
{
	const struct boot *b = &h->boot;
	const char *root = b->lsm_attr_root ? b->lsm_attr_root : "/proc";

	h->lsm_fd = -1;
	if (!b->apparmor_profile && !b->selinux_label)
		return 0;
	h->lsm_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (h->lsm_fd < 0)
		return report(h, "open %s for the LSM labels", root);
	if (!b->lsm_attr_root && !on_procfs(h->lsm_fd))
		return report_errno(h, EXDEV, "%s is not procfs: not writing LSM labels there", root);
	return 0;
}

static int apparmor_exec(struct helper *h)
{
	char value[4096];
	int fd = open_attr(h, "thread-self/attr/apparmor/exec"), ret;
	const char *path = "/proc/thread-self/attr/apparmor/exec";

	if (fd < 0 && errno == ENOENT) {  /* kernels before 5.8 have only the shared file */
		fd = open_attr(h, "thread-self/attr/exec");
		path = "/proc/thread-self/attr/exec";
	}
	snprintf(value, sizeof(value), "exec %s", h->boot.apparmor_profile);
	ret = fd < 0 ? -1 : write_attr(fd, value);
	if (fd >= 0)
		close(fd);
	if (ret < 0)  /* runc's words; its exec path leaves out the first part */
		return report(h, "%sapparmor failed to apply profile: write %s",
			      h->boot.exec ? "" : "unable to apply apparmor profile: ", path);
	return 0;
}

static int selinux_attr(struct helper *h, const char *name)
{
	char path[64];
	int fd, ret;

	snprintf(path, sizeof(path), "thread-self/attr/%s", name);
	fd = open_attr(h, path);
	ret = fd < 0 ? -1 : write_attr(fd, h->boot.selinux_label);
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		return report(h, "set the selinux %s label: write /proc/%s", name, path);
	return 0;
}

/* H2, before it joins the session keyring: keys it makes get the process label. */
int set_key_label(struct helper *h)
{
	return h->boot.selinux_label ? selinux_attr(h, "keycreate") : 0;
}

/* H2, as root before the capability drop; the fd is closed here, long before execve. */
int set_exec_labels(struct helper *h)
{
	int ret = 0;

	if (h->boot.apparmor_profile)
		ret = apparmor_exec(h);
	if (ret == 0 && h->boot.selinux_label)
		ret = selinux_attr(h, "exec");
	if (h->lsm_fd >= 0)
		close(h->lsm_fd);
	h->lsm_fd = -1;
	return ret;
}
