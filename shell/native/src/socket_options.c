// Per-socket options BGP and BFD need beyond what Node's net/dgram expose: TCP-MD5 signatures
// (RFC 2385, Linux TCP_MD5SIG, one key per peer address), the TTL of sent packets (eBGP multihop, BFD's
// TTL 255 of RFC 5881) and the minimum TTL accepted (GTSM, RFC 5082: IP_MINTTL / IPV6_MINHOPCOUNT, which
// the kernel checks before any TCP processing). The exported setters take a plain fd, so they work on
// the addon's own sockets and on any Node socket (`socket._handle.fd`).
//
// An IPv6 socket can carry IPv4 traffic as IPv4-mapped addresses; the kernel then applies the IPv4
// options, so IPv6 sockets get both.
#include "addon.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

napi_value endpoint_error(napi_env env, int err, const char *syscall_name, const char *context, const char *role,
                          const char *address, int port, const char *netns_path) {
  char subject[ADDRESS_TEXT_BYTES + 64];
  snprintf(subject, sizeof subject, "%s %s port %d", role, address, port);
  napi_value error = system_error(env, err, syscall_name, context, subject, netns_path);
  if (error != NULL) {
    set_string_property(env, error, "address", address);
    set_int_property(env, error, "port", port);
  }
  return error;
}

int bind_to_vrf(int fd, const char *vrf, const char **syscall_name) {
  struct ethtool_drvinfo info;
  struct ifreq ifr;
  memset(&info, 0, sizeof info);
  memset(&ifr, 0, sizeof ifr);
  info.cmd = ETHTOOL_GDRVINFO;
  copy_string(ifr.ifr_name, sizeof ifr.ifr_name, vrf);
  ifr.ifr_data = (char *)&info;
  *syscall_name = "ioctl(SIOCETHTOOL) on the VRF device";
  // A device without a driver name to report (lo, for one) is no VRF either.
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) return errno == EOPNOTSUPP ? EMEDIUMTYPE : errno;
  // Binding to an ordinary interface would route by the default table: only a VRF master will do.
  if (strncmp(info.driver, "vrf", sizeof info.driver) != 0) return EMEDIUMTYPE;
  *syscall_name = "setsockopt(SO_BINDTODEVICE)";
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, vrf, (socklen_t)strlen(vrf) + 1) != 0) return errno;
  return 0;
}

int set_md5_key(int fd, int family, const ip_address *peer, const uint8_t *key, size_t key_length,
                const char **syscall_name) {
  *syscall_name = "setsockopt(TCP_MD5SIG)";
  ip_address address = *peer;
  int err = adapt_to_family(&address, family);
  if (err != 0) return err;
  if ((err = resolve_scope(fd, &address)) != 0) {
    *syscall_name = "ioctl(SIOCGIFINDEX)";
    return err;
  }
  struct tcp_md5sig request;
  memset(&request, 0, sizeof request);
  memcpy(&request.tcpm_addr, &address.storage, address.length);
  // The key is per address; the port plays no part.
  if (address.family == AF_INET) {
    ((struct sockaddr_in *)&request.tcpm_addr)->sin_port = 0;
  } else {
    ((struct sockaddr_in6 *)&request.tcpm_addr)->sin6_port = 0;
  }
  request.tcpm_keylen = (uint16_t)key_length;
  if (key_length > 0) memcpy(request.tcpm_key, key, key_length);
  if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &request, sizeof request) != 0) {
    if (key_length == 0 && errno == ENOENT) return 0;
    return errno;
  }
  return 0;
}

static int set_int_option(int fd, int level, int option, int value) {
  return setsockopt(fd, level, option, &value, sizeof value) == 0 ? 0 : errno;
}

int set_ttl(int fd, int family, int ttl, const char **syscall_name) {
  if (family == AF_INET6) {
    *syscall_name = "setsockopt(IPV6_UNICAST_HOPS)";
    int err = set_int_option(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
    if (err != 0) return err;
    (void)set_int_option(fd, IPPROTO_IP, IP_TTL, ttl);
    return 0;
  }
  *syscall_name = "setsockopt(IP_TTL)";
  return set_int_option(fd, IPPROTO_IP, IP_TTL, ttl);
}

int set_min_ttl(int fd, int family, int min_ttl, const char **syscall_name) {
  if (family == AF_INET6) {
    *syscall_name = "setsockopt(IPV6_MINHOPCOUNT)";
    int err = set_int_option(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, min_ttl);
    if (err != 0) return err;
    (void)set_int_option(fd, IPPROTO_IP, IP_MINTTL, min_ttl);
    return 0;
  }
  *syscall_name = "setsockopt(IP_MINTTL)";
  return set_int_option(fd, IPPROTO_IP, IP_MINTTL, min_ttl);
}

// ---------------------------------------------------------------------------------------------------
// setMd5Peer(fd, address, key?), setTtl(fd, ttl), setMinTtl(fd, ttl)

static napi_value fd_error(napi_env env, int err, const char *syscall_name, const char *context, int64_t fd) {
  char subject[32];
  snprintf(subject, sizeof subject, "fd %lld", (long long)fd);
  napi_value error = system_error(env, err, syscall_name, context, subject, NULL);
  if (error != NULL) set_int_property(env, error, "fd", fd);
  return error;
}

// Reads (fd, ...) and the socket's family; -1 with an exception pending on failure.
static int fd_and_family(napi_env env, napi_value value, const char *context, int64_t *fd, int *family) {
  if (get_integer_arg(env, value, "fd", 0, INT32_MAX, fd) != 0) return -1;
  int err = socket_family((int)*fd, family);
  if (err != 0) {
    throw_error_value(env, fd_error(env, err, "getsockopt(SO_DOMAIN)", context, *fd));
    return -1;
  }
  if (*family != AF_INET && *family != AF_INET6) {
    throw_error_value(env, fd_error(env, EAFNOSUPPORT, "getsockopt(SO_DOMAIN)", context, *fd));
    return -1;
  }
  return 0;
}

static napi_value set_md5_peer(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    throw_type_error(env, "ERR_MISSING_ARGS", "setMd5Peer(fd, address, key?) needs an fd and an address");
    return NULL;
  }
  int64_t fd = -1;
  int family = 0;
  ip_address peer;
  uint8_t key[MD5_KEY_MAX_BYTES];
  size_t key_length = 0;
  if (get_integer_arg(env, argv[0], "fd", 0, INT32_MAX, &fd) != 0) return NULL;
  if (get_ip_arg(env, argv[1], "address", 0, &peer) != 0) return NULL;
  if (argc >= 3 && !is_absent(env, argv[2]) &&
      get_bytes_arg(env, argv[2], "key", key, sizeof key, &key_length) != 0) {
    return NULL;
  }
  if (fd_and_family(env, argv[0], "setMd5Peer", &fd, &family) != 0) return NULL;
  const char *syscall_name = NULL;
  int err = set_md5_key((int)fd, family, &peer, key, key_length, &syscall_name);
  if (err != 0) throw_error_value(env, fd_error(env, err, syscall_name, "setMd5Peer", fd));
  return NULL;
}

static napi_value set_ttl_option(napi_env env, napi_callback_info info, const char *name, int64_t min,
                                 int (*apply)(int, int, int, const char **)) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    throw_type_error(env, "ERR_MISSING_ARGS", "%s(fd, ttl) needs an fd and a TTL", name);
    return NULL;
  }
  int64_t fd = -1;
  int64_t ttl = 0;
  int family = 0;
  if (get_integer_arg(env, argv[0], "fd", 0, INT32_MAX, &fd) != 0) return NULL;
  if (get_integer_arg(env, argv[1], "ttl", min, 255, &ttl) != 0) return NULL;
  if (fd_and_family(env, argv[0], name, &fd, &family) != 0) return NULL;
  const char *syscall_name = NULL;
  int err = apply((int)fd, family, (int)ttl, &syscall_name);
  if (err != 0) throw_error_value(env, fd_error(env, err, syscall_name, name, fd));
  return NULL;
}

static napi_value set_ttl_export(napi_env env, napi_callback_info info) {
  return set_ttl_option(env, info, "setTtl", 1, set_ttl);
}

static napi_value set_min_ttl_export(napi_env env, napi_callback_info info) {
  return set_ttl_option(env, info, "setMinTtl", 0, set_min_ttl);
}

// checkVrf({ vrf, netnsPath? }): throws unless `vrf` is a VRF master device in that namespace (ENODEV:
// no such device; EMEDIUMTYPE: not a VRF), so a session can refuse to start rather than fail each dial.
static napi_value check_vrf(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], options;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (get_options_arg(env, argc, argv, "checkVrf", &options) != 0) return NULL;
  char vrf[IF_NAMESIZE];
  char netns_path[NETNS_PATH_BYTES];
  if (get_string_option(env, options, "vrf", 1, vrf, sizeof vrf) != 0) return NULL;
  if (get_string_option(env, options, "netnsPath", 0, netns_path, sizeof netns_path) < 0) return NULL;
  if (vrf[0] == '\0') {
    throw_range_error(env, "ERR_INVALID_ARG_VALUE", "vrf must name a VRF device");
    return NULL;
  }
  char subject[IF_NAMESIZE + 8];
  snprintf(subject, sizeof subject, "VRF %s", vrf);
  netns_failure failure;
  int fd = socket_in_netns(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, netns_path, &failure);
  if (fd < 0) {
    throw_error_value(env, system_error(env, failure.err, failure.syscall_name, "checkVrf", subject, failure.path));
    return NULL;
  }
  const char *syscall_name = NULL;
  int err = bind_to_vrf(fd, vrf, &syscall_name);
  close(fd);
  if (err != 0) throw_error_value(env, system_error(env, err, syscall_name, "checkVrf", subject, netns_path));
  return NULL;
}

// sourceAddress({ destination, netnsPath? }): the address the kernel would send from towards
// `destination` (a zone picks a link-local destination's interface), found by connecting a UDP socket,
// which sends nothing, and reading its name. BGP unnumbered uses it for its own link-local address.
static napi_value source_address(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], options;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (get_options_arg(env, argc, argv, "sourceAddress", &options) != 0) return NULL;
  char destination_text[ADDRESS_TEXT_BYTES];
  char netns_path[NETNS_PATH_BYTES];
  if (get_string_option(env, options, "destination", 1, destination_text, sizeof destination_text) != 0) return NULL;
  if (get_string_option(env, options, "netnsPath", 0, netns_path, sizeof netns_path) < 0) return NULL;
  ip_address destination;
  // Port 9 (discard): connect() needs one; nothing is ever sent.
  if (parse_ip(destination_text, 9, &destination) != 0) {
    throw_range_error(env, "ERR_INVALID_IP_ADDRESS", "destination must be a numeric IPv4 or IPv6 address (got '%s')", destination_text);
    return NULL;
  }
  netns_failure failure;
  int fd = socket_in_netns(destination.family, SOCK_DGRAM | SOCK_CLOEXEC, 0, netns_path, &failure);
  if (fd < 0) {
    throw_error_value(env, system_error(env, failure.err, failure.syscall_name, "sourceAddress", destination_text, failure.path));
    return NULL;
  }
  const char *syscall_name = "ioctl(SIOCGIFINDEX)";
  int err = resolve_scope(fd, &destination);
  struct sockaddr_storage local;
  socklen_t length = sizeof local;
  if (err == 0) {
    syscall_name = "connect";
    if (connect(fd, (struct sockaddr *)&destination.storage, destination.length) != 0) err = errno;
  }
  if (err == 0) {
    syscall_name = "getsockname";
    if (getsockname(fd, (struct sockaddr *)&local, &length) != 0) err = errno;
  }
  close(fd);
  if (err != 0) {
    throw_error_value(env, system_error(env, err, syscall_name, "sourceAddress", destination_text, netns_path));
    return NULL;
  }
  char text[ADDRESS_TEXT_BYTES];
  int port = 0;
  format_ip((struct sockaddr *)&local, text, sizeof text, &port);
  napi_value result;
  NAPI_CALL(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

napi_status socket_options_register(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"checkVrf", NULL, check_vrf, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sourceAddress", NULL, source_address, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMd5Peer", NULL, set_md5_peer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setTtl", NULL, set_ttl_export, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMinTtl", NULL, set_min_ttl_export, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
}
