# The packet addon: AF_PACKET sockets for ARP/NDP (Linux only). Built by `npm run build:native`.
{
  "targets": [
    {
      "target_name": "packet",
      "sources": ["src/packet.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-fvisibility=hidden"]
    }
  ]
}
