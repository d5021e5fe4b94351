// Outgoing TCP connections for BGP: a non-blocking socket created in the peer's network namespace, with
// the TCP-MD5 key (RFC 2385) and TTL options set before the SYN leaves, connected without blocking the
// event loop (uv_poll for writability, then SO_ERROR) and handed to JavaScript as a connected fd that
// `new net.Socket({ fd, readable: true, writable: true })` adopts. The options must be set before
// connect(2): a key added later would leave the handshake unsigned and the peer would drop it.
//
// tcpConnect(options) returns a Promise of the fd with a `cancel()` method. The attempt ends exactly once:
// connected (resolve), failed or timed out (reject with ECONNREFUSED, ETIMEDOUT, ...), or cancelled
// (reject with ECANCELED); a socket that is not handed over is closed here.
#include "addon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  napi_env env;
  int fd;
  napi_deferred deferred;
  napi_async_context async_context;
  napi_ref resource;

  uv_poll_t poll;
  uv_timer_t timer;
  int poll_active;    // initialized and not yet closed
  int timer_active;
  int open_handles;   // uv handles whose close callback is pending or not yet requested
  int settled;
  int cancel_alive;   // the cancel() function still exists and points here

  char peer_text[ADDRESS_TEXT_BYTES];
  int peer_port;
  char netns_path[NETNS_PATH_BYTES];
} connect_op;

static void maybe_free(connect_op *op) {
  if (op->settled && op->open_handles == 0 && !op->cancel_alive) free(op);
}

static void on_handle_closed(uv_handle_t *handle) {
  connect_op *op = (connect_op *)handle->data;
  op->open_handles -= 1;
  maybe_free(op);
}

static napi_value connect_error(napi_env env, connect_op *op, int err, const char *syscall_name) {
  return endpoint_error(env, err, syscall_name, "tcpConnect", "peer", op->peer_text, op->peer_port, op->netns_path);
}

static void release_async_context(napi_env env, connect_op *op) {
  if (op->resource != NULL) {
    napi_delete_reference(env, op->resource);
    op->resource = NULL;
  }
  if (op->async_context != NULL) {
    napi_async_destroy(env, op->async_context);
    op->async_context = NULL;
  }
}

// Ends the attempt: err 0 hands the fd to JavaScript, anything else closes it and rejects. The poll is
// closed first, which takes the fd out of libuv's epoll set at once, so Node can adopt it.
static void settle(napi_env env, connect_op *op, int err, const char *syscall_name) {
  if (op->settled) return;
  op->settled = 1;
  if (op->poll_active) {
    op->poll_active = 0;
    uv_close((uv_handle_t *)&op->poll, on_handle_closed);
  }
  if (op->timer_active) {
    op->timer_active = 0;
    uv_close((uv_handle_t *)&op->timer, on_handle_closed);
  }
  napi_value value = NULL;
  if (err == 0 && napi_create_int32(env, op->fd, &value) == napi_ok) {
    op->fd = -1;
    napi_resolve_deferred(env, op->deferred, value);
  } else {
    if (op->fd >= 0) close(op->fd);
    op->fd = -1;
    value = connect_error(env, op, err == 0 ? ENOMEM : err, syscall_name);
    if (value == NULL) napi_get_undefined(env, &value);
    napi_reject_deferred(env, op->deferred, value);
  }
  op->deferred = NULL;
}

// From a libuv callback: JavaScript runs (promise reactions) only inside a callback scope.
static void settle_from_loop(connect_op *op, int err, const char *syscall_name) {
  if (op->settled) return;
  napi_env env = op->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value resource = NULL;
  napi_callback_scope callback_scope = NULL;
  int in_scope = napi_get_reference_value(env, op->resource, &resource) == napi_ok &&
                 napi_open_callback_scope(env, resource, op->async_context, &callback_scope) == napi_ok;
  settle(env, op, err, syscall_name);
  if (in_scope) napi_close_callback_scope(env, callback_scope);
  napi_close_handle_scope(env, scope);
  release_async_context(env, op);
}

static void on_writable(uv_poll_t *poll, int status, int events) {
  (void)events;
  connect_op *op = (connect_op *)poll->data;
  // libuv reports a socket error (POLLERR, e.g. a refused connection) as UV_EBADF; the real reason is
  // in SO_ERROR.
  int err = 0;
  socklen_t length = sizeof err;
  if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
  if (err == 0 && status < 0) {
    settle_from_loop(op, -status, "uv_poll");
    return;
  }
  if (err == 0) {
    struct sockaddr_storage peer;
    socklen_t peer_length = sizeof peer;
    // Writable without a peer would be a spurious wake-up: keep waiting.
    if (getpeername(op->fd, (struct sockaddr *)&peer, &peer_length) != 0 && errno == ENOTCONN) return;
  }
  settle_from_loop(op, err, "connect");
}

static void on_timeout(uv_timer_t *timer) {
  settle_from_loop((connect_op *)timer->data, ETIMEDOUT, "connect");
}

static napi_value cancel_connect(napi_env env, napi_callback_info info) {
  void *data = NULL;
  NAPI_CALL(env, napi_get_cb_info(env, info, NULL, NULL, NULL, &data));
  connect_op *op = (connect_op *)data;
  if (!op->settled) {
    settle(env, op, ECANCELED, "connect");
    release_async_context(env, op);
  }
  return NULL;
}

static void finalize_cancel(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  connect_op *op = (connect_op *)data;
  op->cancel_alive = 0;
  maybe_free(op);
}

// ---------------------------------------------------------------------------------------------------

typedef struct {
  ip_address peer;
  ip_address source;
  int has_source;
  uint8_t md5_key[MD5_KEY_MAX_BYTES];
  size_t md5_key_length;
  int64_t ttl;  // 0: the kernel's default
  int64_t min_ttl;
  int64_t timeout_ms;
  char netns_path[NETNS_PATH_BYTES];
  char vrf[IF_NAMESIZE];  // empty: the default VRF
} connect_options;

static int read_options(napi_env env, napi_value options, connect_options *o) {
  memset(o, 0, sizeof *o);
  int64_t peer_port = 0;
  napi_value value;
  int found;
  if ((found = get_option(env, options, "peerAddress", &value)) != 0) {
    if (found > 0) throw_type_error(env, "ERR_MISSING_OPTION", "option peerAddress is required");
    return -1;
  }
  if (get_integer_option(env, options, "peerPort", 1, 1, 65535, &peer_port) != 0) return -1;
  if (get_ip_arg(env, value, "peerAddress", (uint16_t)peer_port, &o->peer) != 0) return -1;
  if ((found = get_option(env, options, "sourceAddress", &value)) < 0) return -1;
  if (found == 0) {
    if (get_ip_arg(env, value, "sourceAddress", 0, &o->source) != 0) return -1;
    if (o->source.family != o->peer.family) {
      throw_range_error(env, "ERR_INVALID_ARG_VALUE", "sourceAddress must be of the same address family as peerAddress");
      return -1;
    }
    o->has_source = 1;
  }
  if ((found = get_option(env, options, "md5Key", &value)) < 0) return -1;
  if (found == 0 && get_bytes_arg(env, value, "md5Key", o->md5_key, sizeof o->md5_key, &o->md5_key_length) != 0) {
    return -1;
  }
  if (get_integer_option(env, options, "ttl", 0, 1, 255, &o->ttl) < 0) return -1;
  if (get_integer_option(env, options, "minTtl", 0, 0, 255, &o->min_ttl) < 0) return -1;
  if (get_integer_option(env, options, "timeoutMs", 1, 1, INT32_MAX, &o->timeout_ms) != 0) return -1;
  if (get_string_option(env, options, "netnsPath", 0, o->netns_path, sizeof o->netns_path) < 0) return -1;
  if (get_string_option(env, options, "vrf", 0, o->vrf, sizeof o->vrf) < 0) return -1;
  return 0;
}

// Socket options and bind before connect; returns 0 or errno with the failing call named.
static int prepare(int fd, connect_options *o, const char **syscall_name) {
  int err;
  // First: the scope, the source address and the route below are all looked up in the VRF.
  if (o->vrf[0] != '\0' && (err = bind_to_vrf(fd, o->vrf, syscall_name)) != 0) return err;
  *syscall_name = "ioctl(SIOCGIFINDEX)";
  if ((err = resolve_scope(fd, &o->peer)) != 0) return err;
  if (o->md5_key_length > 0 &&
      (err = set_md5_key(fd, o->peer.family, &o->peer, o->md5_key, o->md5_key_length, syscall_name)) != 0) {
    return err;
  }
  if (o->ttl > 0 && (err = set_ttl(fd, o->peer.family, (int)o->ttl, syscall_name)) != 0) return err;
  if (o->min_ttl > 0 && (err = set_min_ttl(fd, o->peer.family, (int)o->min_ttl, syscall_name)) != 0) return err;
  if (o->has_source) {
    *syscall_name = "ioctl(SIOCGIFINDEX)";
    if ((err = resolve_scope(fd, &o->source)) != 0) return err;
    // Pick the source port at connect(2), from the whole 4-tuple space, not at bind(2).
    int one = 1;
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    *syscall_name = "bind";
    if (bind(fd, (struct sockaddr *)&o->source.storage, o->source.length) != 0) return errno;
  }
  return 0;
}

static napi_value tcp_connect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], options;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (get_options_arg(env, argc, argv, "tcpConnect", &options) != 0) return NULL;
  connect_options o;
  if (read_options(env, options, &o) != 0) return NULL;

  connect_op *op = calloc(1, sizeof *op);
  if (op == NULL) {
    napi_throw_error(env, "ENOMEM", "tcpConnect: out of memory");
    return NULL;
  }
  op->env = env;
  op->fd = -1;
  op->cancel_alive = 1;
  format_ip((struct sockaddr *)&o.peer.storage, op->peer_text, sizeof op->peer_text, &op->peer_port);
  copy_string(op->netns_path, sizeof op->netns_path, o.netns_path);

  napi_value promise, cancel, resource, resource_name;
  if (napi_create_promise(env, &op->deferred, &promise) != napi_ok) {
    free(op);
    throw_napi_failure(env, "napi_create_promise");
    return NULL;
  }
  // From here every path settles the promise, which (with the cancel finalizer) frees `op`.
  NAPI_CALL(env, napi_create_function(env, "cancel", NAPI_AUTO_LENGTH, cancel_connect, op, &cancel));
  NAPI_CALL(env, napi_add_finalizer(env, cancel, op, finalize_cancel, NULL, NULL));
  NAPI_CALL(env, napi_set_named_property(env, promise, "cancel", cancel));
  NAPI_CALL(env, napi_create_object(env, &resource));
  NAPI_CALL(env, napi_create_string_utf8(env, "metallb-ts:TcpConnect", NAPI_AUTO_LENGTH, &resource_name));
  NAPI_CALL(env, napi_async_init(env, resource, resource_name, &op->async_context));
  NAPI_CALL(env, napi_create_reference(env, resource, 1, &op->resource));

  netns_failure failure;
  op->fd = socket_in_netns(o.peer.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP, o.netns_path,
                           &failure);
  if (op->fd < 0) {
    if (failure.path[0] != '\0') copy_string(op->netns_path, sizeof op->netns_path, failure.path);
    settle(env, op, failure.err, failure.syscall_name);
    release_async_context(env, op);
    return promise;
  }
  const char *syscall_name = NULL;
  int err = prepare(op->fd, &o, &syscall_name);
  if (err == 0) {
    syscall_name = "connect";
    if (connect(op->fd, (struct sockaddr *)&o.peer.storage, o.peer.length) != 0) err = errno;
  }
  if (err != EINPROGRESS) {
    // Connected at once (possible on loopback) or failed before any packet left.
    settle(env, op, err, syscall_name);
    release_async_context(env, op);
    return promise;
  }

  uv_loop_t *loop = NULL;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  int rc = uv_poll_init(loop, &op->poll, op->fd);
  if (rc == 0) {
    op->poll.data = op;
    op->poll_active = 1;
    op->open_handles += 1;
    rc = uv_poll_start(&op->poll, UV_WRITABLE | UV_DISCONNECT, on_writable);
  }
  if (rc == 0 && (rc = uv_timer_init(loop, &op->timer)) == 0) {
    op->timer.data = op;
    op->timer_active = 1;
    op->open_handles += 1;
    // uv_timer_start counts from the loop's cached time, taken when the loop last turned. A dial made
    // after synchronous work (a process's first dial, before the loop has ever turned, follows all of its
    // start-up) would time out early by that long: read the clock now so the timeout starts at connect(2).
    uv_update_time(loop);
    rc = uv_timer_start(&op->timer, on_timeout, (uint64_t)o.timeout_ms, 0);
  }
  if (rc != 0) {
    settle(env, op, -rc, "uv_poll_start");
    release_async_context(env, op);
  }
  return promise;
}

napi_status tcp_connect_register(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"tcpConnect", NULL, tcp_connect, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, 1, properties);
}
