// Listening TCP sockets for BGP's passive side, created in a network namespace and handed to JavaScript
// as an fd for `net.createServer().listen({ fd })`. TCP-MD5 keys are per peer address on the listener
// (setMd5Peer adds and removes them later); Linux copies the matching key into each accepted connection,
// so accepted sockets sign and verify without further setup. IPv6 listeners are IPv6-only unless asked,
// so a `::` and a `0.0.0.0` listener on the same port coexist whatever net.ipv6.bindv6only says.
#include "addon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MD5_PEERS 4096

typedef struct {
  ip_address address;
  uint8_t key[MD5_KEY_MAX_BYTES];
  size_t key_length;
} md5_peer;

typedef struct {
  ip_address address;
  int64_t port;
  int64_t backlog;
  int v6_only;
  int64_t ttl;
  int64_t min_ttl;
  char netns_path[NETNS_PATH_BYTES];
  char vrf[IF_NAMESIZE];  // empty: the default VRF
  md5_peer *peers;
  uint32_t peer_count;
} listen_options;

static int read_peers(napi_env env, napi_value options, listen_options *o) {
  napi_value list;
  int found = get_option(env, options, "md5Peers", &list);
  if (found != 0) return found < 0 ? -1 : 0;
  bool is_array = false;
  uint32_t count = 0;
  if (napi_is_array(env, list, &is_array) != napi_ok || !is_array || napi_get_array_length(env, list, &count) != napi_ok) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "md5Peers must be an array of { address, key }");
    return -1;
  }
  if (count > MAX_MD5_PEERS) {
    throw_range_error(env, "ERR_INVALID_ARG_VALUE", "md5Peers has %u entries; at most %d", count, MAX_MD5_PEERS);
    return -1;
  }
  o->peers = calloc(count == 0 ? 1 : count, sizeof *o->peers);
  if (o->peers == NULL) {
    napi_throw_error(env, "ENOMEM", "tcpListen: out of memory");
    return -1;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value entry, address, key;
    napi_valuetype type;
    if (napi_get_element(env, list, i, &entry) != napi_ok || napi_typeof(env, entry, &type) != napi_ok ||
        type != napi_object) {
      throw_type_error(env, "ERR_INVALID_ARG_TYPE", "md5Peers[%u] must be an object { address, key }", i);
      return -1;
    }
    if (napi_get_named_property(env, entry, "address", &address) != napi_ok ||
        napi_get_named_property(env, entry, "key", &key) != napi_ok) {
      return -1;
    }
    if (get_ip_arg(env, address, "md5Peers[].address", 0, &o->peers[i].address) != 0) return -1;
    if (get_bytes_arg(env, key, "md5Peers[].key", o->peers[i].key, sizeof o->peers[i].key, &o->peers[i].key_length) != 0) {
      return -1;
    }
    o->peer_count = i + 1;
  }
  return 0;
}

static int read_options(napi_env env, napi_value options, listen_options *o) {
  memset(o, 0, sizeof *o);
  o->backlog = 511;
  o->v6_only = 1;
  napi_value value;
  int found = get_option(env, options, "address", &value);
  if (found != 0) {
    if (found > 0) throw_type_error(env, "ERR_MISSING_OPTION", "option address is required");
    return -1;
  }
  if (get_integer_option(env, options, "port", 1, 0, 65535, &o->port) != 0) return -1;
  if (get_ip_arg(env, value, "address", (uint16_t)o->port, &o->address) != 0) return -1;
  if (get_integer_option(env, options, "backlog", 0, 1, 65535, &o->backlog) < 0) return -1;
  if (get_boolean_option(env, options, "v6Only", &o->v6_only) < 0) return -1;
  if (get_integer_option(env, options, "ttl", 0, 1, 255, &o->ttl) < 0) return -1;
  if (get_integer_option(env, options, "minTtl", 0, 0, 255, &o->min_ttl) < 0) return -1;
  if (get_string_option(env, options, "netnsPath", 0, o->netns_path, sizeof o->netns_path) < 0) return -1;
  if (get_string_option(env, options, "vrf", 0, o->vrf, sizeof o->vrf) < 0) return -1;
  return read_peers(env, options, o);
}

// Everything between socket(2) and listen(2); 0 or errno with the failing call named.
static int prepare(int fd, listen_options *o, const char **syscall_name) {
  int err, one = 1;
  int family = o->address.family;
  // A listener in a VRF takes only the connections that arrive on that VRF's interfaces.
  if (o->vrf[0] != '\0' && (err = bind_to_vrf(fd, o->vrf, syscall_name)) != 0) return err;
  *syscall_name = "setsockopt(SO_REUSEADDR)";
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return errno;
  if (family == AF_INET6) {
    *syscall_name = "setsockopt(IPV6_V6ONLY)";
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &o->v6_only, sizeof o->v6_only) != 0) return errno;
  }
  for (uint32_t i = 0; i < o->peer_count; i++) {
    md5_peer *peer = &o->peers[i];
    if ((err = set_md5_key(fd, family, &peer->address, peer->key, peer->key_length, syscall_name)) != 0) return err;
  }
  if (o->ttl > 0 && (err = set_ttl(fd, family, (int)o->ttl, syscall_name)) != 0) return err;
  if (o->min_ttl > 0 && (err = set_min_ttl(fd, family, (int)o->min_ttl, syscall_name)) != 0) return err;
  *syscall_name = "ioctl(SIOCGIFINDEX)";
  if ((err = resolve_scope(fd, &o->address)) != 0) return err;
  *syscall_name = "bind";
  if (bind(fd, (struct sockaddr *)&o->address.storage, o->address.length) != 0) return errno;
  *syscall_name = "listen";
  if (listen(fd, (int)o->backlog) != 0) return errno;
  return 0;
}

// tcpListen(options) -> fd
static napi_value tcp_listen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], options;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (get_options_arg(env, argc, argv, "tcpListen", &options) != 0) return NULL;
  listen_options o;
  if (read_options(env, options, &o) != 0) {
    free(o.peers);
    return NULL;
  }
  char address_text[ADDRESS_TEXT_BYTES];
  int port = 0;
  format_ip((struct sockaddr *)&o.address.storage, address_text, sizeof address_text, &port);

  netns_failure failure;
  int fd = socket_in_netns(o.address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP, o.netns_path,
                           &failure);
  const char *syscall_name = NULL;
  int err = 0;
  if (fd < 0) {
    err = failure.err;
    syscall_name = failure.syscall_name;
  } else {
    err = prepare(fd, &o, &syscall_name);
  }
  free(o.peers);
  if (err != 0) {
    if (fd >= 0) close(fd);
    const char *netns = fd < 0 && failure.path[0] != '\0' ? failure.path : o.netns_path;
    throw_error_value(env, endpoint_error(env, err, syscall_name, "tcpListen", "address", address_text, port, netns));
    return NULL;
  }
  napi_value result;
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    throw_napi_failure(env, "napi_create_int32");
    return NULL;
  }
  return result;
}

napi_status tcp_listen_register(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"tcpListen", NULL, tcp_listen, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, 1, properties);
}
