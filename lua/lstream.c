/* lstream: host sockets on the loop for scripts — TCP and Unix-domain streams and listeners and
 * UDP sockets (`lemu.tcp_connect`, `lemu.tcp_listen`, `lemu.unix_listen`, `lemu.udp`). The C side
 * buffers what arrives and reports events to one Lua notifier (lua/lemu/stream.lua), which turns
 * them into waits. Reading stops while a stream holds more than READ_HIGH bytes nobody took. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "lmods.h"
#include "lobj.h"
#include "rt.h"

#define STREAM "lemu.stream"
#define LISTENER "lemu.listener"
#define UDP "lemu.udp"
#define READ_HIGH (1u << 20)

static const char NOTIFY[] = "lemu.stream.notify";

typedef struct lsock {
  rt_obj obj;
  union { uv_handle_t h; uv_stream_t s; uv_tcp_t tcp; uv_pipe_t pipe; uv_udp_t udp; } u;
  lstate *st;
  const char *tname;
  int is_pipe;
  char *buf;            /* stream: received, not yet taken */
  size_t len, cap;
  int eof, err, reading, connected;
  size_t writing;       /* bytes in flight */
  uv_connect_t creq;
} lsock;

/* notify(handle, event, ...) through the Lua notifier; nargs values are already pushed. */
static void notify(lsock *k, const char *event, int nargs) {
  lua_State *L = k->st->L;
  if (k->st->closing) { lua_pop(L, nargs); return; }
  int base = lua_gettop(L) - nargs;
  if (lua_getfield(L, LUA_REGISTRYINDEX, NOTIFY) != LUA_TNUMBER) { lua_settop(L, base); return; }
  int ref = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  lobj_push(L, k);
  lua_pushstring(L, event);
  lua_rotate(L, base + 1, 2);
  lcall(L, ref, nargs + 2);
}

static void sock_closed(uv_handle_t *h) {
  lsock *k = h->data;
  rt_obj_del(&k->obj);
  free(k->buf);
  free(k);
}

static void sock_objclose(rt_obj *o) {
  lsock *k = (lsock *)o;
  uv_close(&k->u.h, sock_closed);
}

static const rt_objtype sock_type = {"socket", sock_objclose};

static lsock *sock_new(lua_State *L, const char *tname) {
  lsock *k = calloc(1, sizeof *k);
  if (!k) luaL_error(L, "out of memory");
  k->st = lstate_get(L);
  k->tname = tname;
  k->u.h.data = k;
  return k;
}

/* Registers k (whose handle is initialised) and pushes its Lua handle. */
static void sock_register(lua_State *L, lsock *k) {
  k->u.h.data = k;
  rt_obj_add(k->st->rt, &k->obj, &sock_type);
  clock_nondeterministic(k->st->rt, "a host socket from Lua (lemu.tcp_*, unix_*, udp)");
  lobj_new(L, k->tname, k);
}

static int sock_close(lua_State *L) {
  int closed;
  lsock *k = lobj_checkopen(L, 1, lua_touserdata(L, lua_upvalueindex(1)), &closed);
  if (closed) return 0;
  lobj_forget(L, k);
  rt_obj_close(&k->obj);
  return 0;
}

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) return 0;
  return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
}

static void push_sockaddr(lua_State *L, const struct sockaddr *sa) {
  char ip[64] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET) {
    uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof ip);
    port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof ip);
    port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  }
  lua_pushstring(L, ip);
  lua_pushinteger(L, port);
}

/* ---- streams ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  lsock *k = h->data;
  (void)hint;
  if (k->cap - k->len < 65536) {
    size_t ncap = k->cap ? k->cap * 2 : 65536;
    while (ncap - k->len < 65536) ncap *= 2;
    char *nb = realloc(k->buf, ncap);
    if (!nb) { b->base = NULL; b->len = 0; return; }
    k->buf = nb;
    k->cap = ncap;
  }
  b->base = k->buf + k->len;
  b->len = k->cap - k->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  lsock *k = s->data;
  (void)b;
  if (n == 0) return;
  if (n < 0) {
    if (n == UV_EOF) k->eof = 1;
    else k->err = (int)n;
    uv_read_stop(s);
    k->reading = 0;
  } else {
    k->len += (size_t)n;
    if (k->len >= READ_HIGH) { uv_read_stop(s); k->reading = 0; }
  }
  notify(k, "data", 0);
}

static void start_reading(lsock *k) {
  if (k->reading || k->eof || k->err || !k->connected) return;
  if (uv_read_start(&k->u.s, on_alloc, on_read) == 0) k->reading = 1;
}

static void on_connect(uv_connect_t *req, int status) {
  lsock *k = req->data;
  if (status == UV_ECANCELED) return;
  if (status < 0) k->err = status;
  else { k->connected = 1; start_reading(k); }
  notify(k, "connect", 0);
}

/* core.tcp_connect(host, port) -> stream (connecting; wait for the "connect" event) */
static int l_tcp_connect(lua_State *L) {
  const char *host = lobj_checkcstr(L, 1, "tcp_connect host");
  lua_Integer port = luaL_checkinteger(L, 2);
  luaL_argcheck(L, port > 0 && port < 65536, 2, "port must be 1..65535");
  struct sockaddr_storage ss;
  if (parse_addr(host, (int)port, &ss) != 0)
    return luaL_error(L, "tcp_connect: '%s' is not an IP address", host);
  lsock *k = sock_new(L, STREAM);
  uv_tcp_init(rt_loop(k->st->rt), &k->u.tcp);
  sock_register(L, k);
  uv_tcp_nodelay(&k->u.tcp, 1);
  k->creq.data = k;
  int r = uv_tcp_connect(&k->creq, &k->u.tcp, (struct sockaddr *)&ss, on_connect);
  if (r) {
    lobj_forget(L, k);
    rt_obj_close(&k->obj);
    return luaL_error(L, "tcp_connect %s:%d: %s", host, (int)port, uv_strerror(r));
  }
  return 1;
}

/* core.unix_connect(path) -> stream */
static int l_unix_connect(lua_State *L) {
  const char *path = lobj_checkcstr(L, 1, "unix_connect path");
  lsock *k = sock_new(L, STREAM);
  uv_pipe_init(rt_loop(k->st->rt), &k->u.pipe, 0);
  k->is_pipe = 1;
  sock_register(L, k);
  k->creq.data = k;
  uv_pipe_connect(&k->creq, &k->u.pipe, path, on_connect);
  return 1;
}

/* stream:_take() -> data | nil, "eof" | nil, error | nil (nothing yet) */
static int stream_take(lua_State *L) {
  lsock *k = lobj_check(L, 1, STREAM);
  if (k->len > 0) {
    lua_pushlstring(L, k->buf, k->len);
    k->len = 0;
    start_reading(k);
    return 1;
  }
  lua_pushnil(L);
  if (k->err) lua_pushstring(L, uv_strerror(k->err));
  else if (k->eof) lua_pushliteral(L, "eof");
  else return 1;
  return 2;
}

/* stream:_state() -> "connecting" | "open" | "failed", error */
static int stream_state(lua_State *L) {
  lsock *k = lobj_check(L, 1, STREAM);
  if (k->err && !k->connected) {
    lua_pushliteral(L, "failed");
    lua_pushstring(L, uv_strerror(k->err));
    return 2;
  }
  lua_pushstring(L, k->connected ? "open" : "connecting");
  return 1;
}

typedef struct wreq { uv_write_t req; lsock *k; size_t n; char data[]; } wreq;

static void on_write(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  lsock *k = w->k;
  k->writing -= w->n;
  if (status < 0 && status != UV_ECANCELED && !k->err) k->err = status;
  free(w);
  if (status != UV_ECANCELED && k->writing == 0) notify(k, "drain", 0);
}

/* stream:write(data) queues data; returns the bytes now in flight. */
static int stream_write(lua_State *L) {
  lsock *k = lobj_check(L, 1, STREAM);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  if (!k->connected) return luaL_error(L, "write on a stream that is not connected");
  if (k->err) return luaL_error(L, "write on a failed stream: %s", uv_strerror(k->err));
  if (n == 0) { lua_pushinteger(L, (lua_Integer)k->writing); return 1; }
  wreq *w = malloc(sizeof *w + n);
  if (!w) return luaL_error(L, "out of memory");
  memcpy(w->data, s, n);
  w->k = k;
  w->n = n;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
  int r = uv_write(&w->req, &k->u.s, &b, 1, on_write);
  if (r) { free(w); return luaL_error(L, "write: %s", uv_strerror(r)); }
  k->writing += n;
  lua_pushinteger(L, (lua_Integer)k->writing);
  return 1;
}

static int stream_writing(lua_State *L) {
  lsock *k = lobj_check(L, 1, STREAM);
  lua_pushinteger(L, (lua_Integer)k->writing);
  return 1;
}

static void on_shutdown(uv_shutdown_t *req, int status) { (void)status; free(req); }

/* stream:shutdown(): no more writes (the peer reads EOF after what was written). */
static int stream_shutdown(lua_State *L) {
  lsock *k = lobj_check(L, 1, STREAM);
  if (!k->connected) return 0;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req) return luaL_error(L, "out of memory");
  if (uv_shutdown(req, &k->u.s, on_shutdown) != 0) free(req);
  return 0;
}

static int stream_peer(lua_State *L) {
  lsock *k = lobj_check(L, 1, STREAM);
  if (k->is_pipe) return 0;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&k->u.tcp, (struct sockaddr *)&ss, &len) != 0) return 0;
  push_sockaddr(L, (struct sockaddr *)&ss);
  return 2;
}

static int stream_local(lua_State *L) {
  lsock *k = lobj_check(L, 1, STREAM);
  if (k->is_pipe) return 0;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getsockname(&k->u.tcp, (struct sockaddr *)&ss, &len) != 0) return 0;
  push_sockaddr(L, (struct sockaddr *)&ss);
  return 2;
}

/* ---- listeners ---- */

static void on_connection(uv_stream_t *server, int status) {
  lsock *l = server->data;
  lua_State *L = l->st->L;
  if (status < 0 || l->st->closing) return;
  lsock *k = calloc(1, sizeof *k);
  if (!k) return;
  k->st = l->st;
  k->tname = STREAM;
  k->is_pipe = l->is_pipe;
  if (l->is_pipe) uv_pipe_init(server->loop, &k->u.pipe, 0);
  else uv_tcp_init(server->loop, &k->u.tcp);
  k->u.h.data = k;
  rt_obj_add(k->st->rt, &k->obj, &sock_type);
  if (uv_accept(server, &k->u.s) != 0) { rt_obj_close(&k->obj); return; }
  if (!l->is_pipe) uv_tcp_nodelay(&k->u.tcp, 1);
  k->connected = 1;
  start_reading(k);
  lobj_new(L, STREAM, k);
  notify(l, "accept", 1);
}

/* core.tcp_listen(host, port) -> listener */
static int l_tcp_listen(lua_State *L) {
  const char *host = lobj_checkcstr(L, 1, "tcp_listen host");
  lua_Integer port = luaL_checkinteger(L, 2);
  luaL_argcheck(L, port >= 0 && port < 65536, 2, "port must be 0..65535");
  struct sockaddr_storage ss;
  if (parse_addr(host, (int)port, &ss) != 0)
    return luaL_error(L, "tcp_listen: '%s' is not an IP address", host);
  lsock *k = sock_new(L, LISTENER);
  uv_tcp_init(rt_loop(k->st->rt), &k->u.tcp);
  sock_register(L, k);
  int r = uv_tcp_bind(&k->u.tcp, (struct sockaddr *)&ss, 0);
  if (!r) r = uv_listen(&k->u.s, 64, on_connection);
  if (r) {
    lobj_forget(L, k);
    rt_obj_close(&k->obj);
    return luaL_error(L, "tcp_listen %s:%d: %s", host, (int)port, uv_strerror(r));
  }
  return 1;
}

/* core.unix_listen(path) -> listener */
static int l_unix_listen(lua_State *L) {
  const char *path = lobj_checkcstr(L, 1, "unix_listen path");
  lsock *k = sock_new(L, LISTENER);
  uv_pipe_init(rt_loop(k->st->rt), &k->u.pipe, 0);
  k->is_pipe = 1;
  sock_register(L, k);
  int r = uv_pipe_bind(&k->u.pipe, path);
  if (!r) r = uv_listen(&k->u.s, 64, on_connection);
  if (r) {
    lobj_forget(L, k);
    rt_obj_close(&k->obj);
    return luaL_error(L, "unix_listen %s: %s", path, uv_strerror(r));
  }
  return 1;
}

static int listener_address(lua_State *L) {
  lsock *k = lobj_check(L, 1, LISTENER);
  if (k->is_pipe) return 0;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getsockname(&k->u.tcp, (struct sockaddr *)&ss, &len) != 0) return 0;
  push_sockaddr(L, (struct sockaddr *)&ss);
  return 2;
}

/* ---- UDP ---- */

static void on_udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  lsock *k = h->data;
  (void)hint;
  if (!k->buf) { k->buf = malloc(65536); k->cap = k->buf ? 65536 : 0; }
  b->base = k->buf;
  b->len = k->cap;
}

static void on_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                        unsigned flags) {
  lsock *k = h->data;
  (void)flags;
  if (n < 0 || !from) return;
  lua_State *L = k->st->L;
  lua_pushlstring(L, b->base, (size_t)n);
  push_sockaddr(L, from);
  notify(k, "datagram", 3);
}

/* core.udp(host, port) -> udp socket bound there (port 0: any) */
static int l_udp(lua_State *L) {
  const char *host = lobj_optcstr(L, 1, "127.0.0.1", "udp host");
  lua_Integer port = luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, port >= 0 && port < 65536, 2, "port must be 0..65535");
  struct sockaddr_storage ss;
  if (parse_addr(host, (int)port, &ss) != 0) return luaL_error(L, "udp: '%s' is not an IP address", host);
  lsock *k = sock_new(L, UDP);
  uv_udp_init(rt_loop(k->st->rt), &k->u.udp);
  sock_register(L, k);
  int r = uv_udp_bind(&k->u.udp, (struct sockaddr *)&ss, 0);
  if (!r) r = uv_udp_recv_start(&k->u.udp, on_udp_alloc, on_udp_recv);
  if (r) {
    lobj_forget(L, k);
    rt_obj_close(&k->obj);
    return luaL_error(L, "udp %s:%d: %s", host, (int)port, uv_strerror(r));
  }
  return 1;
}

/* udp:sendto(data, host, port) */
static int udp_sendto(lua_State *L) {
  lsock *k = lobj_check(L, 1, UDP);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  const char *host = lobj_checkcstr(L, 3, "udp send host");
  lua_Integer port = luaL_checkinteger(L, 4);
  luaL_argcheck(L, port > 0 && port < 65536, 4, "port must be 1..65535");
  struct sockaddr_storage ss;
  if (parse_addr(host, (int)port, &ss) != 0) return luaL_error(L, "sendto: '%s' is not an IP address", host);
  uv_buf_t b = uv_buf_init((char *)s, (unsigned)n);
  int r = uv_udp_try_send(&k->u.udp, &b, 1, (struct sockaddr *)&ss);
  if (r < 0) return luaL_error(L, "sendto %s:%d: %s", host, (int)port, uv_strerror(r));
  return 0;
}

static int udp_address(lua_State *L) {
  lsock *k = lobj_check(L, 1, UDP);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_udp_getsockname(&k->u.udp, (struct sockaddr *)&ss, &len) != 0) return 0;
  push_sockaddr(L, (struct sockaddr *)&ss);
  return 2;
}

/* The notifier is kept as a registry reference (its number under NOTIFY) for lcall. */
static int l_set_notify(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (lua_getfield(L, LUA_REGISTRYINDEX, NOTIFY) == LUA_TNUMBER)
    lunref(L, (int)lua_tointeger(L, -1));
  lua_pushinteger(L, lref(L, 1));
  lua_setfield(L, LUA_REGISTRYINDEX, NOTIFY);
  return 0;
}

static void add_close(lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_pushlightuserdata(L, (void *)tname);
  lua_pushcclosure(L, sock_close, 1);
  lua_setfield(L, -2, "close");
  lua_pop(L, 1);
}

int luaopen_lemu_stream(lua_State *L) {
  static const luaL_Reg smeth[] = {
    {"_take", stream_take}, {"_state", stream_state}, {"write", stream_write},
    {"writing", stream_writing}, {"shutdown", stream_shutdown}, {"peer", stream_peer},
    {"local_address", stream_local}, {NULL, NULL}
  };
  static const luaL_Reg lmeth[] = {{"address", listener_address}, {NULL, NULL}};
  static const luaL_Reg umeth[] = {{"sendto", udp_sendto}, {"address", udp_address}, {NULL, NULL}};
  static const luaL_Reg fns[] = {
    {"tcp_connect", l_tcp_connect}, {"unix_connect", l_unix_connect},
    {"tcp_listen", l_tcp_listen}, {"unix_listen", l_unix_listen}, {"udp", l_udp},
    {"set_notify", l_set_notify}, {NULL, NULL}
  };
  lobj_class(L, STREAM, "stream", smeth);
  lobj_class(L, LISTENER, "listener", lmeth);
  lobj_class(L, UDP, "UDP socket", umeth);
  add_close(L, STREAM);
  add_close(L, LISTENER);
  add_close(L, UDP);
  luaL_newlib(L, fns);
  return 1;
}
