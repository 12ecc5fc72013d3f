/* mterm: reads the host terminal (or a pipe) on the loop and feeds a console, decoding QEMU's
 * Ctrl-A escapes. The terminal goes back to its original mode when the mterm closes. */
#include "mterm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"

struct mterm {
  rt_obj obj;
  union { uv_tty_t tty; uv_pipe_t pipe; uv_stream_t stream; } h;
  int is_tty, escapes, after_ctrl_a, reading, on_monitor;
  mterm_hooks hooks;
  char buf[4096];
};

static const char help[] =
  "\r\nC-a h    print this help\r\n"
  "C-a x    exit lemu\r\n"
  "C-a c    switch between console and monitor\r\n"
  "C-a C-a  sends C-a\r\n";

static void say(const char *s) {
  ssize_t r = write(2, s, strlen(s));
  (void)r;
}

/* Plain bytes go to whichever side has the focus. */
static void deliver(mterm *t, const uint8_t *p, size_t n) {
  if (n == 0) return;
  if (t->on_monitor && t->hooks.monitor) t->hooks.monitor(t->hooks.ud, p, n);
  else t->hooks.input(t->hooks.ud, p, n);
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *b) {
  (void)want;
  mterm *t = h->data;
  *b = uv_buf_init(t->buf, sizeof t->buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  mterm *t = s->data;
  if (n < 0) {  /* EOF or error: the guest just gets no more input */
    uv_read_stop(s);
    t->reading = 0;
    return;
  }
  const uint8_t *p = (const uint8_t *)b->base;
  size_t start = 0;
  if (t->hooks.detach) {
    const uint8_t *k = memchr(p, MTERM_DETACH_KEY, (size_t)n);
    if (k) {
      if (k > p) t->hooks.input(t->hooks.ud, p, (size_t)(k - p));
      t->hooks.detach(t->hooks.ud);  /* may close t: nothing after the key is read */
      return;
    }
  }
  for (size_t i = 0; i < (size_t)n && t->escapes; i++) {
    if (!t->after_ctrl_a) {
      if (p[i] != 0x01) continue;
      if (i > start) deliver(t, p + start, i - start);
      t->after_ctrl_a = 1;
      start = i + 1;
      continue;
    }
    t->after_ctrl_a = 0;
    start = i + 1;
    switch (p[i]) {
    case 'x':
      say("lemu: terminated\r\n");
      t->hooks.quit(t->hooks.ud);
      return;
    case 'h': say(help); break;
    case 'c':
      if (!t->hooks.monitor) {
        say("\r\nlemu: no monitor (give -monitor stdio, or use the Lua REPL or a script)\r\n");
        break;
      }
      t->on_monitor = !t->on_monitor;
      if (t->hooks.focus) t->hooks.focus(t->hooks.ud, t->on_monitor);
      break;
    case 0x01: deliver(t, p + i, 1); break;
    default: break;  /* unknown escapes are swallowed, as in QEMU */
    }
  }
  if ((size_t)n > start) deliver(t, p + start, (size_t)n - start);
}

static void closed(uv_handle_t *h) {
  mterm *t = h->data;
  rt_obj_del(&t->obj);
  free(t);
}

static void obj_close(rt_obj *o) {
  mterm *t = (mterm *)o;
  if (t->is_tty && (t->escapes || t->hooks.detach)) uv_tty_set_mode(&t->h.tty, UV_TTY_MODE_NORMAL);
  uv_close((uv_handle_t *)&t->h.stream, closed);
}

static const rt_objtype mterm_type = {"terminal", obj_close};

mterm *mterm_open(lemu_rt *rt, int fd, int escapes, const mterm_hooks *h) {
  uv_handle_type k = uv_guess_handle(fd);
  if (k != UV_TTY && k != UV_NAMED_PIPE) return NULL;
  mterm *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->hooks = *h;
  t->escapes = escapes;
  t->on_monitor = h->monitor && !escapes;   /* a monitor without escapes gets all of stdin */
  int r;
  if (k == UV_TTY) {
    t->is_tty = 1;
    r = uv_tty_init(rt_loop(rt), &t->h.tty, fd, 1);
    /* Raw mode only with the escapes (-nographic): otherwise the terminal keeps its line editing
     * and Ctrl-C, as QEMU's -serial stdio does. */
    if (r == 0 && (escapes || h->detach)) uv_tty_set_mode(&t->h.tty, UV_TTY_MODE_RAW);
  } else {
    r = uv_pipe_init(rt_loop(rt), &t->h.pipe, 0);
    if (r == 0) {
      r = uv_pipe_open(&t->h.pipe, fd);
      if (r != 0) { free(t); return NULL; }  /* a pipe libuv cannot adopt: leave the guest without input */
    }
  }
  if (r != 0) { free(t); return NULL; }
  t->h.stream.data = t;
  rt_obj_add(rt, &t->obj, &mterm_type);
  uv_read_start(&t->h.stream, on_alloc, on_read);
  t->reading = 1;
  return t;
}

int mterm_is_tty(const mterm *t) { return t->is_tty; }

void mterm_close(mterm *t) { rt_obj_close(&t->obj); }
