/* Decode the BOOT packet into struct boot. Strings point into the packet. */
#include "helper.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

static size_t count_tlvs(const uint8_t *buf, size_t len)
{
	struct tlv_iter it;
	struct tlv t;
	size_t n = 0;

	tlv_iter_init(&it, buf, len);
	while (tlv_next(&it, &t) == 1)
		n++;
	return n;
}

static int strv_add(struct strv *s, const struct tlv *t, size_t cap)
{
	const char *str;

	if (!s->v) {
		s->v = calloc(cap + 1, sizeof(char *));
		if (!s->v)
			return -1;
	}
	if (tlv_str(t, &str) < 0)
		return -1;
	s->v[s->n++] = str;
	return 0;
}

static int parse_mount(const struct tlv *rec, struct mount_op *m)
{
	struct tlv_iter it;
	struct tlv t;
	uint32_t b;
	int r;

	memset(m, 0, sizeof(*m));
	m->parent_source = -1;
	tlv_iter_init(&it, rec->value, rec->vlen);
	while ((r = tlv_next(&it, &t)) == 1) {
		int bad = 0;

		switch (t.tag) {
		case M_SOURCE: bad = tlv_str(&t, &m->source); break;
		case M_DEST: bad = tlv_str(&t, &m->dest); break;
		case M_FSTYPE: bad = tlv_str(&t, &m->fstype); break;
		case M_DATA: bad = tlv_str(&t, &m->data); break;
		case M_FLAGS: bad = tlv_u64(&t, &m->flags); break;
		case M_PROPAGATION: bad = tlv_u64(&t, &m->propagation); break;
		case M_REMOUNT: bad = tlv_u64(&t, &m->remount); break;
		case M_ATTR_SET: bad = tlv_u64(&t, &m->attr_set); break;
		case M_ATTR_CLR: bad = tlv_u64(&t, &m->attr_clr); break;
		case M_FILE: bad = tlv_u32(&t, &b); m->file = (int)b; break;
		case M_PLAIN_DIR: bad = tlv_u32(&t, &b); m->plain_dir = (int)b; break;
		case M_PROC_OK: bad = tlv_u32(&t, &b); m->proc_ok = (int)b; break;
		case M_RO_LATER: bad = tlv_u32(&t, &b); m->ro_later = (int)b; break;
		case M_COPYUP: bad = tlv_u32(&t, &b); m->copyup = (int)b; break;
		case M_PARENT_SOURCE: bad = tlv_u32(&t, &b) || b > INT32_MAX; m->parent_source = (int)b; break;
		default: bad = !(t.tflags & TLV_OPTIONAL);
		}
		if (bad)
			return -1;
	}
	return r < 0 || !m->dest ? -1 : 0;
}

static int parse_device(const struct tlv *rec, struct device_op *d)
{
	struct tlv_iter it;
	struct tlv t;
	int r;

	memset(d, 0, sizeof(*d));
	tlv_iter_init(&it, rec->value, rec->vlen);
	while ((r = tlv_next(&it, &t)) == 1) {
		int bad = 0;

		switch (t.tag) {
		case D_PATH: bad = tlv_str(&t, &d->path); break;
		case D_TYPE: bad = tlv_u32(&t, &d->type); break;
		case D_MAJOR: bad = tlv_u32(&t, &d->major); break;
		case D_MINOR: bad = tlv_u32(&t, &d->minor); break;
		case D_MODE: bad = tlv_u32(&t, &d->mode); break;
		case D_UID: bad = tlv_u32(&t, &d->uid); break;
		case D_GID: bad = tlv_u32(&t, &d->gid); break;
		default: bad = !(t.tflags & TLV_OPTIONAL);
		}
		if (bad)
			return -1;
	}
	return r < 0 || !d->path ? -1 : 0;
}

static int parse_symlink(const struct tlv *rec, struct symlink_op *l)
{
	struct tlv_iter it;
	struct tlv t;
	int r;

	memset(l, 0, sizeof(*l));
	tlv_iter_init(&it, rec->value, rec->vlen);
	while ((r = tlv_next(&it, &t)) == 1) {
		int bad = 0;

		switch (t.tag) {
		case L_TARGET: bad = tlv_str(&t, &l->target); break;
		case L_PATH: bad = tlv_str(&t, &l->path); break;
		default: bad = !(t.tflags & TLV_OPTIONAL);
		}
		if (bad)
			return -1;
	}
	return r < 0 || !l->path || !l->target ? -1 : 0;
}

static int parse_hook(const struct tlv *rec, struct hook *k)
{
	struct tlv_iter it;
	struct tlv t;
	size_t cap = count_tlvs(rec->value, rec->vlen);
	int r;

	memset(k, 0, sizeof(*k));
	tlv_iter_init(&it, rec->value, rec->vlen);
	while ((r = tlv_next(&it, &t)) == 1) {
		int bad = 0;

		switch (t.tag) {
		case K_PATH: bad = tlv_str(&t, &k->path); break;
		case K_ARG: bad = strv_add(&k->args, &t, cap); break;
		case K_ENV: bad = strv_add(&k->env, &t, cap); break;
		case K_TIMEOUT: bad = tlv_u32(&t, &k->timeout); break;
		default: bad = !(t.tflags & TLV_OPTIONAL);
		}
		if (bad)
			return -1;
	}
	return r < 0 || !k->path ? -1 : 0;
}

static int parse_sysctl(const struct tlv *rec, struct sysctl_op *s)
{
	struct tlv_iter it;
	struct tlv t;
	int r;

	memset(s, 0, sizeof(*s));
	tlv_iter_init(&it, rec->value, rec->vlen);
	while ((r = tlv_next(&it, &t)) == 1) {
		int bad = 0;

		switch (t.tag) {
		case S_KEY: bad = tlv_str(&t, &s->key); break;
		case S_VALUE: bad = tlv_str(&t, &s->value); break;
		default: bad = !(t.tflags & TLV_OPTIONAL);
		}
		if (bad)
			return -1;
	}
	return r < 0 || !s->key || !s->value ? -1 : 0;
}

static int flag(const struct tlv *t, int *out)
{
	uint32_t v;

	if (tlv_u32(t, &v) < 0)
		return -1;
	*out = v != 0;
	return 0;
}

static int parse_one(struct helper *h, const struct tlv *t, size_t cap)
{
	struct boot *b = &h->boot;
	uint32_t idx;

	switch (t->tag) {
	case T_CLONE_FLAGS: return tlv_u32(t, &b->clone_flags);
	case T_NS_JOIN:
		if (t->vlen != 8 || b->n_ns >= 16)
			return -1;
		memcpy(&b->ns_types[b->n_ns], t->value, 4);
		memcpy(&idx, t->value + 4, 4);
		if (idx >= h->bootpkt.nfds)
			return -1;
		b->ns_fds[b->n_ns++] = h->bootpkt.fds[idx];
		return 0;
	case T_JOIN_PIDFD:
		if (t->vlen != 8)
			return -1;
		memcpy(&b->join_flags, t->value, 4);
		memcpy(&idx, t->value + 4, 4);
		if (idx >= h->bootpkt.nfds)
			return -1;
		b->join_pidfd = h->bootpkt.fds[idx];
		return 0;
	case T_EXEC: return flag(t, &b->exec);
	case T_NO_MOUNT_NS: return flag(t, &b->no_mount_ns);
	case T_ROOT_FD:
		if (tlv_u32(t, &idx) < 0 || idx >= h->bootpkt.nfds)
			return -1;
		b->root_fd = h->bootpkt.fds[idx];
		return 0;
	case T_OOM_SCORE_ADJ: return tlv_str(t, &b->oom_score_adj);
	case T_TIMENS_OFFSETS: return tlv_str(t, &b->timens_offsets);
	case T_ROOTFS: return tlv_str(t, &b->rootfs);
	case T_ROOT_PROPAGATION: return tlv_u32(t, &b->root_propagation);
	case T_ROOT_READONLY: return flag(t, &b->root_readonly);
	case T_NO_PIVOT: return flag(t, &b->no_pivot);
	case T_MOUNT: b->steps[b->n_steps].kind = T_MOUNT; return parse_mount(t, &b->steps[b->n_steps++].mount);
	case T_DEVICE: b->steps[b->n_steps].kind = T_DEVICE; return parse_device(t, &b->steps[b->n_steps++].device);
	case T_SYMLINK: b->steps[b->n_steps].kind = T_SYMLINK; return parse_symlink(t, &b->steps[b->n_steps++].link);
	case T_CWD: return tlv_str(t, &b->cwd);
	case T_WANT_HOOKS: return flag(t, &b->want_hooks);
	case T_HOOK_CREATE_CONTAINER: return parse_hook(t, &b->create_hooks[b->n_create_hooks++]);
	case T_HOOK_START_CONTAINER: return parse_hook(t, &b->start_hooks[b->n_start_hooks++]);
	case T_STATE_CREATING: return tlv_str(t, &b->state_creating);
	case T_STATE_CREATED: return tlv_str(t, &b->state_created);
	case T_LOOPBACK_UP: return flag(t, &b->loopback_up);
	case T_DEV_SETUP: return flag(t, &b->dev_setup);
	case T_HOSTNAME: return tlv_str(t, &b->hostname);
	case T_DOMAINNAME: return tlv_str(t, &b->domainname);
	case T_SYSCTL: return parse_sysctl(t, &b->sysctls[b->n_sysctls++]);
	case T_MASKED: return strv_add(&b->masked, t, cap);
	case T_READONLY_PATH: return strv_add(&b->readonly_paths, t, cap);
	case T_KEYRING: return tlv_str(t, &b->keyring);
	case T_TERMINAL: return flag(t, &b->terminal);
	case T_CONSOLE_SIZE:
		if (t->vlen != 8)
			return -1;
		memcpy(&b->console_rows, t->value, 4);
		memcpy(&b->console_cols, t->value + 4, 4);
		return 0;
	case T_NO_NEW_PRIVS: return flag(t, &b->no_new_privs);
	case T_UID: return tlv_u32(t, &b->uid);
	case T_GID: return tlv_u32(t, &b->gid);
	case T_ADDITIONAL_GID: return tlv_u32(t, &b->groups[b->n_groups++]);
	case T_UMASK: return tlv_u32(t, &b->umask);
	case T_CAP_BOUNDING: return tlv_u64(t, &b->cap_bounding);
	case T_CAP_EFFECTIVE: return tlv_u64(t, &b->cap_effective);
	case T_CAP_PERMITTED: return tlv_u64(t, &b->cap_permitted);
	case T_CAP_INHERITABLE: return tlv_u64(t, &b->cap_inheritable);
	case T_CAP_AMBIENT: return tlv_u64(t, &b->cap_ambient);
	case T_ARG: return strv_add(&b->args, t, cap);
	case T_ENV: return strv_add(&b->env, t, cap);
	case T_HAS_FIFO: return flag(t, &b->has_fifo);
	case T_HAS_CONSOLE: return flag(t, &b->has_console);
	case T_SECCOMP_BPF:
		if (t->vlen == 0 || t->vlen % 8)
			return -1;
		b->seccomp = t->value;
		b->seccomp_len = t->vlen;
		return 0;
	case T_SECCOMP_FLAGS: return tlv_u32(t, &b->seccomp_flags);
	case T_APPARMOR_PROFILE: return tlv_str(t, &b->apparmor_profile);
	case T_SELINUX_LABEL: return tlv_str(t, &b->selinux_label);
	case T_LSM_ATTR_ROOT: return tlv_str(t, &b->lsm_attr_root);
	default: return (t->tflags & TLV_OPTIONAL) ? 0 : -1;
	}
}

static int new_or_joined_mntns(const struct boot *b)
{
	if (b->clone_flags & CLONE_NEWNS)
		return 1;
	for (unsigned i = 0; i < b->n_ns; i++)
		if (b->ns_types[i] == CLONE_NEWNS)
			return 1;
	return 0;
}

int parse_boot(struct helper *h)
{
	struct boot *b = &h->boot;
	const uint8_t *body = h->bootpkt.buf + PROTO_HEADER_SIZE;
	size_t len = h->bootpkt.len - PROTO_HEADER_SIZE;
	size_t cap = count_tlvs(body, len);
	struct tlv_iter it;
	struct tlv t;
	int r;

	memset(b, 0, sizeof(*b));
	b->umask = 022;
	b->join_pidfd = -1;
	b->root_fd = -1;
	b->steps = calloc(cap + 1, sizeof(*b->steps));
	b->create_hooks = calloc(cap + 1, sizeof(*b->create_hooks));
	b->start_hooks = calloc(cap + 1, sizeof(*b->start_hooks));
	b->sysctls = calloc(cap + 1, sizeof(*b->sysctls));
	b->groups = calloc(cap + 1, sizeof(*b->groups));
	h->ro_later = calloc(cap + 1, sizeof(*h->ro_later));
	if (!b->steps || !b->create_hooks || !b->start_hooks || !b->sysctls || !b->groups || !h->ro_later)
		return report(h, "allocate the boot config");
	tlv_iter_init(&it, body, len);
	while ((r = tlv_next(&it, &t)) == 1) {
		if (parse_one(h, &t, cap) < 0)
			return report_errno(h, EPROTO, "malformed boot message: tag %u", t.tag);
	}
	if (r < 0)
		return report_errno(h, EPROTO, "malformed boot message");
	if ((!b->rootfs && !b->exec) || b->args.n == 0)
		return report_errno(h, EPROTO, "boot message lacks the rootfs or the process args");
	if (b->rootfs && b->rootfs[0] != '/')
		return report_errno(h, EPROTO, "boot message: rootfs %s is not an absolute path", b->rootfs);
	/*
	 * Without a mount namespace of its own, the parent says so (T_NO_MOUNT_NS) and the root
	 * switch is a chroot that never touches the host's mounts; otherwise pivot_root or the
	 * move must never run on them.
	 */
	if (!b->exec && !b->no_mount_ns && !new_or_joined_mntns(b))
		return report_errno(h, EPROTO, "boot message: a container needs its own mount namespace");
	if (!b->exec && b->no_mount_ns && (new_or_joined_mntns(b) || b->no_pivot))
		return report_errno(h, EPROTO, "boot message: no mount namespace, yet one to make or a move");
	if (!b->env.v && !(b->env.v = calloc(1, sizeof(char *))))
		return report(h, "allocate the environment");
	return 0;
}
