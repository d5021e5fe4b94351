// IP socket addresses from and to text. Only numeric addresses: the addon never resolves names. An IPv6
// link-local address may carry a zone ("fe80::1%eth0"); a zone given by name is resolved through the
// socket itself, so the lookup happens in the socket's network namespace, not the caller's.
#include "addon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

int parse_ip(const char *text, uint16_t port, ip_address *out) {
  memset(out, 0, sizeof *out);
  char host[ADDRESS_TEXT_BYTES];
  if (strlen(text) >= sizeof host) return -1;
  copy_string(host, sizeof host, text);
  char *zone = strchr(host, '%');
  if (zone != NULL) *zone++ = '\0';

  struct sockaddr_in *v4 = (struct sockaddr_in *)&out->storage;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->storage;
  if (zone == NULL && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out->family = AF_INET;
    out->length = sizeof *v4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1) return -1;
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  out->family = AF_INET6;
  out->length = sizeof *v6;
  if (zone != NULL) {
    if (zone[0] == '\0' || strlen(zone) >= IF_NAMESIZE) return -1;
    char *end = NULL;
    unsigned long index = strtoul(zone, &end, 10);
    if (*end == '\0' && index > 0 && index <= UINT32_MAX) {
      v6->sin6_scope_id = (uint32_t)index;
    } else {
      copy_string(out->scope_name, sizeof out->scope_name, zone);
    }
  }
  return 0;
}

int get_ip_arg(napi_env env, napi_value value, const char *what, uint16_t port, ip_address *out) {
  char text[ADDRESS_TEXT_BYTES];
  if (get_string_arg(env, value, what, text, sizeof text) != 0) return -1;
  if (parse_ip(text, port, out) != 0) {
    throw_range_error(env, "ERR_INVALID_IP_ADDRESS", "%s must be a numeric IPv4 or IPv6 address (got '%s')", what, text);
    return -1;
  }
  return 0;
}

int resolve_scope(int fd, ip_address *address) {
  if (address->scope_name[0] == '\0') return 0;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  copy_string(ifr.ifr_name, sizeof ifr.ifr_name, address->scope_name);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) return errno;
  ((struct sockaddr_in6 *)&address->storage)->sin6_scope_id = (uint32_t)ifr.ifr_ifindex;
  address->scope_name[0] = '\0';
  return 0;
}

int adapt_to_family(ip_address *address, int family) {
  if (address->family == family) return 0;
  if (address->family == AF_INET6) return EAFNOSUPPORT;
  struct sockaddr_in v4 = *(struct sockaddr_in *)&address->storage;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address->storage;
  memset(v6, 0, sizeof *v6);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = v4.sin_port;
  v6->sin6_addr.s6_addr[10] = 0xff;
  v6->sin6_addr.s6_addr[11] = 0xff;
  memcpy(&v6->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
  address->family = AF_INET6;
  address->length = sizeof *v6;
  return 0;
}

void format_ip(const struct sockaddr *address, char *out, size_t out_size, int *port) {
  out[0] = '\0';
  *port = 0;
  if (address->sa_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)address;
    inet_ntop(AF_INET, &v4->sin_addr, out, (socklen_t)out_size);
    *port = ntohs(v4->sin_port);
  } else if (address->sa_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)address;
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], out, (socklen_t)out_size);
    } else {
      inet_ntop(AF_INET6, &v6->sin6_addr, out, (socklen_t)out_size);
    }
    *port = ntohs(v6->sin6_port);
  }
}

int socket_family(int fd, int *family) {
  socklen_t length = sizeof *family;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, family, &length) != 0) return errno;
  return 0;
}
