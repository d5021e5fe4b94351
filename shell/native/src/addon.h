// Shared declarations of the native addon: system errors shaped like Node's, argument readers,
// network-namespace entry, IP socket addresses, and the uv_poll-driven socket handle that packet and
// UDP sockets are read through. Each .c file registers its own exports from addon.c's init.
#ifndef METALLB_TS_ADDON_H
#define METALLB_TS_ADDON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <node_api.h>
#include <uv.h>

#define NETNS_PATH_BYTES 256
#define ADDRESS_TEXT_BYTES (INET6_ADDRSTRLEN + IF_NAMESIZE + 1)

#define NAPI_CALL(env, call)                                                   \
  do {                                                                         \
    napi_status status_ = (call);                                              \
    if (status_ != napi_ok) {                                                  \
      throw_napi_failure((env), #call);                                        \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

// ---------------------------------------------------------------------------------------------------
// errors.c

void throw_napi_failure(napi_env env, const char *what);
void set_string_property(napi_env env, napi_value object, const char *key, const char *value);
void set_int_property(napi_env env, napi_value object, const char *key, int64_t value);
// An Error like Node's system errors: code = errno name, errno = -errno, syscall, netns. The message is
// "<context>: <syscall> failed[ for <subject>][ in network namespace '<netns>']: <reason> (<CODE>)".
napi_value system_error(napi_env env, int err, const char *syscall_name, const char *context, const char *subject,
                        const char *netns_path);
void throw_error_value(napi_env env, napi_value error);
void throw_type_error(napi_env env, const char *code, const char *format, ...) __attribute__((format(printf, 3, 4)));
void throw_range_error(napi_env env, const char *code, const char *format, ...) __attribute__((format(printf, 3, 4)));

// ---------------------------------------------------------------------------------------------------
// arguments.c: each reader returns 0 on success, 1 when an optional value is absent (undefined or null),
// -1 with a JS exception pending.

void copy_string(char *out, size_t out_size, const char *value);
int get_string_arg(napi_env env, napi_value value, const char *what, char *out, size_t out_size);
int get_optional_string_arg(napi_env env, size_t argc, napi_value *argv, size_t index, const char *what, char *out,
                            size_t out_size);
int get_integer_arg(napi_env env, napi_value value, const char *what, int64_t min, int64_t max, int64_t *out);
// A string (UTF-8) or a Buffer/Uint8Array of 1 to `max` bytes.
int get_bytes_arg(napi_env env, napi_value value, const char *what, uint8_t *out, size_t max, size_t *length);
int get_buffer_arg(napi_env env, napi_value value, const char *what, void **data, size_t *length);
int is_absent(napi_env env, napi_value value);
int get_options_arg(napi_env env, size_t argc, napi_value *argv, const char *function_name, napi_value *out);
int get_option(napi_env env, napi_value object, const char *key, napi_value *out);
int get_string_option(napi_env env, napi_value object, const char *key, int required, char *out, size_t out_size);
int get_integer_option(napi_env env, napi_value object, const char *key, int required, int64_t min, int64_t max,
                       int64_t *out);
int get_boolean_option(napi_env env, napi_value object, const char *key, int *out);

// ---------------------------------------------------------------------------------------------------
// netns.c

typedef struct {
  int original_fd;
  int entered;
} netns_guard;

// What failed while entering a namespace: errno, the call, and the file it concerned.
typedef struct {
  int err;
  const char *syscall_name;
  char path[NETNS_PATH_BYTES];
} netns_failure;

// Enters `netns_path` on this thread (nothing when empty). Returns 0, or -1 with `failure` filled and
// nothing changed.
int netns_enter(netns_guard *guard, const char *netns_path, netns_failure *failure);
void netns_leave(netns_guard *guard);
// socket(2) inside `netns_path`: the fd, or -1 with `failure` filled.
int socket_in_netns(int domain, int type, int protocol, const char *netns_path, netns_failure *failure);

// ---------------------------------------------------------------------------------------------------
// address.c

typedef struct {
  struct sockaddr_storage storage;
  socklen_t length;
  int family;  // AF_INET or AF_INET6
  char scope_name[IF_NAMESIZE];  // "%eth0" suffix still to resolve in the socket's namespace
} ip_address;

// Parses "192.0.2.1", "2001:db8::1" or "fe80::1%eth0" / "fe80::1%3" with a port. 0, or -1 when invalid.
int parse_ip(const char *text, uint16_t port, ip_address *out);
// Reads a string argument as an IP address; throws ERR_INVALID_ARG_VALUE when it is not one.
int get_ip_arg(napi_env env, napi_value value, const char *what, uint16_t port, ip_address *out);
// Turns a scope given by interface name into an index, looked up through `fd`'s namespace. 0 or errno.
int resolve_scope(int fd, ip_address *address);
// Rewrites an IPv4 address as IPv4-mapped IPv6 for an AF_INET6 socket. 0, or EAFNOSUPPORT for IPv6 on
// an AF_INET socket.
int adapt_to_family(ip_address *address, int socket_family);
// Text of an address (IPv4-mapped IPv6 shown as IPv4) and its port.
void format_ip(const struct sockaddr *address, char *out, size_t out_size, int *port);
int socket_family(int fd, int *family);

// ---------------------------------------------------------------------------------------------------
// reader.c: a socket read through uv_poll, delivered to a JS callback. Used by packet and UDP sockets.

typedef struct sock_handle sock_handle;

typedef struct {
  const char *name;           // "packet", "udp"
  const char *resource_name;  // async resource name, e.g. "metallb-ts:PacketSocket"
  const char *read_syscall;   // named in receive errors
  // Reads one unit from h->fd. Returns 1 with *value set to deliver it, 0 when a unit was consumed but is
  // not delivered, or -errno (-EAGAIN when nothing is left).
  int (*read_one)(napi_env env, sock_handle *h, napi_value *value);
  // An error about this socket.
  napi_value (*make_error)(napi_env env, sock_handle *h, int err, const char *syscall_name, const char *context);
} sock_kind;

struct sock_handle {
  const sock_kind *kind;
  napi_env env;
  int fd;
  char netns_path[NETNS_PATH_BYTES];

  uv_poll_t poll;
  int poll_initialized;  // uv_poll_init succeeded and uv_close has not been requested
  int poll_closing;      // uv_close requested, close callback pending
  int reading;
  int dispatching;  // inside a readable callback: the async context and resource must outlive it
  int finalized;    // the JS external is gone; free once the poll handle is closed

  napi_ref on_data;   // function(value)
  napi_ref on_error;  // function(error: Error) or NULL
  napi_ref self;      // strong reference to the handle while reading, so GC cannot stop delivery
  napi_ref resource;  // async resource object for the callback scope
  napi_async_context async_context;

  uint64_t received;
  uint64_t sent;
  uint64_t errors;

  unsigned char *buffer;
  size_t buffer_bytes;
  void *data;  // the kind's own state, freed with the handle
};

// A handle owning `fd` (closed with the handle), with a receive buffer; NULL when out of memory.
sock_handle *sock_handle_new(const sock_kind *kind, int fd, size_t buffer_bytes, const char *netns_path, void *data);
// Wraps `h` in a tagged external; on failure closes and frees it and throws.
napi_value sock_handle_wrap(napi_env env, sock_handle *h);
// The handle behind a JS value; `kind` NULL accepts any kind. Throws and returns NULL otherwise.
sock_handle *sock_handle_get(napi_env env, napi_value value, const sock_kind *kind, const char *expected);
napi_status reader_register(napi_env env, napi_value exports);

// ---------------------------------------------------------------------------------------------------
// socket_options.c: TCP-MD5 keys and TTL controls on any IP socket. Each returns 0 or an errno and
// names the failing call in *syscall_name.

#define MD5_KEY_MAX_BYTES 80

// Adds (key_length > 0) or removes (0; removing an absent key is not an error) the TCP-MD5 key for
// `peer` on a TCP socket of `family`.
int set_md5_key(int fd, int family, const ip_address *peer, const uint8_t *key, size_t key_length,
                const char **syscall_name);
// The TTL / hop limit of sent packets (IPv6 sockets also set the IPv4 one, for IPv4-mapped peers).
int set_ttl(int fd, int family, int ttl, const char **syscall_name);
// GTSM (RFC 5082): drop received packets whose TTL / hop limit is below `min_ttl`; 0 turns it off.
int set_min_ttl(int fd, int family, int min_ttl, const char **syscall_name);
// Binds `fd` to the Linux VRF whose master device is `vrf` (SO_BINDTODEVICE): its packets are routed
// by that VRF's table and its source address comes from an interface enslaved to it. ENODEV when no
// such device exists in the socket's namespace, EMEDIUMTYPE when the device is not a VRF (its driver
// is not "vrf"): a socket is never left in the default VRF when a VRF was asked for.
int bind_to_vrf(int fd, const char *vrf, const char **syscall_name);
// An error about a TCP/UDP endpoint: "<context>: <syscall> failed for <role> <address> port <port>...",
// with `address` and `port` properties.
napi_value endpoint_error(napi_env env, int err, const char *syscall_name, const char *context, const char *role,
                          const char *address, int port, const char *netns_path);

// ---------------------------------------------------------------------------------------------------
// Per-protocol exports

napi_status packet_register(napi_env env, napi_value exports);
napi_status socket_options_register(napi_env env, napi_value exports);
napi_status tcp_connect_register(napi_env env, napi_value exports);
napi_status tcp_listen_register(napi_env env, napi_value exports);
napi_status udp_register(napi_env env, napi_value exports);

#endif
