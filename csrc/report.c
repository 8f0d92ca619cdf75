/* Errors and log records going back to the parent. */
#include "helper.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int send_error(struct helper *h, int err, const char *text)
{
	uint8_t buf[4096 + 64];
	uint32_t e = (uint32_t)err, stage = (uint32_t)h->stage;
	size_t off = 0, len = strlen(text) + 1;

	off = tlv_put(buf, sizeof(buf), off, T_ERRNO, &e, 4);
	off = tlv_put(buf, sizeof(buf), off, T_STAGE, &stage, 4);
	off = tlv_put(buf, sizeof(buf), off, T_MESSAGE, text, (uint32_t)len);
	if (h->ctl < 0) {
		/* No channel (yet, or any more): stderr is all that is left. */
		dprintf(2, "shim-init: %s\n", text);
		return -1;
	}
	/* A parent that went away has given up on us: nobody is left to tell. */
	if (send_packet(h->ctl, MSG_ERROR, buf, off, NULL, 0) < 0)
		return -1;
	return 0;
}

static int vreport(struct helper *h, int err, const char *fmt, va_list ap)
{
	char text[4096];
	int n = vsnprintf(text, sizeof(text), fmt, ap);

	if (n >= 0 && (size_t)n < sizeof(text) && err)
		snprintf(text + n, sizeof(text) - (size_t)n, ": %s", strerror(err));
	send_error(h, err, text);
	errno = err;
	return -1;
}

int report(struct helper *h, const char *fmt, ...)
{
	int err = errno, ret;
	va_list ap;

	va_start(ap, fmt);
	ret = vreport(h, err, fmt, ap);
	va_end(ap);
	return ret;
}

int report_errno(struct helper *h, int err, const char *fmt, ...)
{
	int ret;
	va_list ap;

	va_start(ap, fmt);
	ret = vreport(h, err, fmt, ap);
	va_end(ap);
	return ret;
}

void log_msg(struct helper *h, int level, const char *fmt, ...)
{
	char text[1024];
	struct proto_log rec;
	va_list ap;
	int n;

	if (h->log_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	rec.level = (uint16_t)level;
	rec.stage = (uint16_t)h->stage;
	rec.len = (uint32_t)n;
	/* One write of header and text, so records from two stages never interleave. */
	{
		char out[sizeof(rec) + sizeof(text)];

		memcpy(out, &rec, sizeof(rec));
		memcpy(out + sizeof(rec), text, (size_t)n);
		if (write(h->log_fd, out, sizeof(rec) + (size_t)n) < 0)
			return;
	}
}

int send_simple(struct helper *h, uint16_t type)
{
	if (send_packet(h->ctl, type, NULL, 0, NULL, 0) < 0)
		return report(h, "send message %u to the parent", type);
	return 0;
}

/* Wait for a bodiless reply of the given type; EOF or anything else is fatal. */
int expect(struct helper *h, uint16_t type)
{
	struct packet p;
	int r = recv_packet(h->ctl, &p);

	if (r < 0)
		return report(h, "receive message %u from the parent", type);
	if (r == 0) /* the parent gave up (it failed, or was killed): leave quietly */
		return -1;
	if (p.type != type) {
		free_packet(&p);
		return report_errno(h, EPROTO, "expected message %u from the parent, got %u", type, p.type);
	}
	free_packet(&p);
	return 0;
}
