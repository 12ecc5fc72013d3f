/* vde: libvdeplug connections polled on their data descriptor; frames go through vde_send and
 * vde_recv so VDE's own stream framing stays libvdeplug's business. */
#include "vde.h"

#include <errno.h>
#include <libvdeplug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rt.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

struct net_vde {
  rt_obj obj;
  net_fdport fp;
  VDECONN *conn;
  char url[256];
};

static ssize_t vde_read(net_fdport *fp, uint8_t *buf, size_t len) {
  net_vde *v = fp->owner;
  ssize_t n = vde_recv(v->conn, buf, len, MSG_DONTWAIT);
  if (n == 0) { errno = EAGAIN; return -1; }   /* a control message, not a frame */
  return n;
}

static ssize_t vde_write(net_fdport *fp, const uint8_t *buf, size_t len) {
  net_vde *v = fp->owner;
  return vde_send(v->conn, buf, len, MSG_DONTWAIT);
}

static void vde_closed(net_fdport *fp) {
  net_vde *v = fp->owner;
  vde_close(v->conn);
  rt_obj_del(&v->obj);
  free(v);
}

static const net_fdport_ops vde_fdops = {vde_read, vde_write, vde_closed};
static const net_port_ops vde_ops = {"vde", net_fdport_receive};

static void vde_objclose(rt_obj *o) { net_fdport_stop(&((net_vde *)o)->fp); }

static const rt_objtype vde_type = {"vde", vde_objclose};

/* GCC says it builds with a sanitizer by a macro; clang 14 (the fuzz targets' compiler) only by
 * __has_feature, and an opts fuzz input that named a VDE socket killed the run. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VDE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VDE_SANITIZED 1
#endif
#endif
#ifndef VDE_SANITIZED
#define VDE_SANITIZED 0
#endif

net_vde *net_vde_open(lemu_rt *rt, net_hub *hub, const char *url, int port, const char *group, unsigned mode,
                      char *err, size_t errlen) {
#if VDE_SANITIZED
  /* libvdeplug dlopens its plugins with RTLD_DEEPBIND, which aborts a process under ASan or TSan. */
  (void)rt; (void)hub; (void)port; (void)group; (void)mode;
  snprintf(err, errlen, "cannot plug into VDE '%s': VDE is unavailable in sanitizer builds "
           "(libvdeplug loads its plugins with RTLD_DEEPBIND)", url ? url : "");
  return NULL;
#endif
  net_vde *v = calloc(1, sizeof *v);
  if (!v) { snprintf(err, errlen, "out of memory"); return NULL; }
  snprintf(v->url, sizeof v->url, "%s", url ? url : "");
  net_ignore_sigpipe();
  struct vde_open_args args = {.port = port, .group = (char *)group, .mode = mode ? mode : 0700};
  errno = 0;
  v->conn = vde_open(v->url, "lemu", &args);
  if (!v->conn) {
    snprintf(err, errlen, "cannot plug into VDE '%s': %s (is a vde_switch running there? "
             "vde_switch -sock DIR -daemon)", v->url, errno ? strerror(errno) : "failed");
    free(v);
    return NULL;
  }
  char name[48];
  snprintf(name, sizeof name, "vde %s", v->url);
  if (net_fdport_start(&v->fp, rt_loop(rt), hub, vde_datafd(v->conn), &vde_fdops, &vde_ops, v, name) < 0) {
    snprintf(err, errlen, "cannot poll the VDE descriptor: %s", strerror(errno));
    vde_close(v->conn);
    free(v);
    return NULL;
  }
  snprintf(v->fp.peer, sizeof v->fp.peer, "%s", v->url);
  rt_obj_add(rt, &v->obj, &vde_type);
  clock_nondeterministic(rt, name);
  return v;
}

void net_vde_close(net_vde *v) { rt_obj_close(&v->obj); }
const net_fdport *net_vde_fdport(const net_vde *v) { return &v->fp; }
const char *net_vde_url(const net_vde *v) { return v->url; }
