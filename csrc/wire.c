/* Packets and TLVs on the SOCK_SEQPACKET control channels (protocol.h). */
#include "helper.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define ALIGN8(x) (((x) + 7u) & ~(size_t)7u)

int send_packet(int fd, uint16_t type, const uint8_t *body, size_t len, const int *fds, unsigned nfds)
{
	struct proto_header hdr = {
		.len = (uint32_t)(sizeof(hdr) + len), .type = type, .flags = 0, .seq = 0, .nfds = nfds,
	};
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)body, len } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	if (nfds > MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if ((size_t)n != hdr.len) {
			errno = EMSGSIZE;
			return -1;
		}
		return 0;
	}
}

/* Receive one packet. Returns 1, 0 on EOF, -1 on error (errno set; EPROTO for a bad packet). */
int recv_packet(int fd, struct packet *p)
{
	struct proto_header hdr;
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr msg;
	struct cmsghdr *c;
	ssize_t n;

	memset(p, 0, sizeof(*p));
	do
		n = recv(fd, &hdr, sizeof(hdr), MSG_PEEK | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(hdr) || (size_t)n > PROTO_MAX_PACKET || hdr.len != (uint32_t)n) {
		errno = EPROTO;
		return -1;
	}
	p->buf = malloc((size_t)n);
	if (!p->buf)
		return -1;
	iov.iov_base = p->buf;
	iov.iov_len = (size_t)n;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		goto fail;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			memcpy(p->fds + p->nfds, CMSG_DATA(c), k * sizeof(int));
			p->nfds += k;
		}
	}
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || p->nfds != hdr.nfds) {
		errno = EPROTO;
		goto fail;
	}
	p->len = (size_t)n;
	p->type = hdr.type;
	return 1;
fail:
	free_packet(p);
	return -1;
}

void free_packet(struct packet *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = 0;
}

void tlv_iter_init(struct tlv_iter *it, const uint8_t *buf, size_t len)
{
	it->pos = buf;
	it->end = buf + len;
}

int tlv_next(struct tlv_iter *it, struct tlv *t)
{
	struct proto_tlv raw;
	size_t left = (size_t)(it->end - it->pos);

	if (left == 0)
		return 0;
	if (left < sizeof(raw))
		return -1;
	memcpy(&raw, it->pos, sizeof(raw));
	if (raw.vlen > left - sizeof(raw))
		return -1;
	t->tag = raw.tag;
	t->tflags = raw.tflags;
	t->vlen = raw.vlen;
	t->value = it->pos + sizeof(raw);
	left -= sizeof(raw);
	it->pos += sizeof(raw) + (ALIGN8(raw.vlen) <= left ? ALIGN8(raw.vlen) : raw.vlen);
	return 1;
}

int tlv_u32(const struct tlv *t, uint32_t *out)
{
	if (t->vlen != 4)
		return -1;
	memcpy(out, t->value, 4);
	return 0;
}

int tlv_u64(const struct tlv *t, uint64_t *out)
{
	if (t->vlen != 8)
		return -1;
	memcpy(out, t->value, 8);
	return 0;
}

/* Strings travel with their trailing NUL; an embedded NUL is refused. */
int tlv_str(const struct tlv *t, const char **out)
{
	if (t->vlen == 0 || t->value[t->vlen - 1] != '\0' || memchr(t->value, '\0', t->vlen) != t->value + t->vlen - 1)
		return -1;
	*out = (const char *)t->value;
	return 0;
}

/* Append a TLV; returns the new offset, or 0 when it does not fit. */
size_t tlv_put(uint8_t *buf, size_t cap, size_t off, uint16_t tag, const void *v, uint32_t vlen)
{
	struct proto_tlv raw = { .tag = tag, .tflags = 0, .vlen = vlen };
	size_t need = sizeof(raw) + ALIGN8(vlen);

	if (off + need > cap)
		return 0;
	memcpy(buf + off, &raw, sizeof(raw));
	memcpy(buf + off + sizeof(raw), v, vlen);
	memset(buf + off + sizeof(raw) + vlen, 0, ALIGN8(vlen) - vlen);
	return off + need;
}
