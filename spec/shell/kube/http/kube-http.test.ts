// KubeApi's HTTP client against a fake API server on 127.0.0.1: requests as the API server expects them
// (paths, methods, patch content types, pages), failures as KubeApiErrors (the Status body's reason and
// message, a body that is no Status, no answer), the informer (a watch split across chunks, bookmarks,
// 410 Gone -> list again with deletions seen, a dropped watch resumed at its resourceVersion), and a
// token file read again when the server answers 401.
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { KubernetesObject } from "@kubernetes/client-node"
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { KubeApiError } from "../../../../shell/kube/api-error.ts"
import { type ClusterAccess, staticAccess, tokenFile } from "../../../../shell/kube/http/cluster-access.ts"
import { KubeHttp } from "../../../../shell/kube/http/client.ts"
import { listWatch } from "../../../../shell/kube/http/list-watch.ts"
import { makeKubeApi, resources } from "../../../../shell/kube/kube-api.ts"
import { eventually } from "../../../support/netns.ts"

interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage["headers"]
  readonly body: string
}

type Route = (request: Seen, response: ServerResponse) => void

const servers: Array<Server> = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** A fake API server: every request is recorded and answered by `route`. */
const fakeServer = async (route: Route) => {
  const seen: Array<Seen> = []
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (c: Buffer) => chunks.push(c))
    request.on("end", () => {
      const s = { method: request.method ?? "", url: request.url ?? "", headers: request.headers, body: Buffer.concat(chunks).toString() }
      seen.push(s)
      route(s, response)
    })
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  const access = (token?: string): ClusterAccess =>
    staticAccess({ server: new URL(`http://127.0.0.1:${port}`), context: "test", origin: "test", tls: { rejectUnauthorized: true }, token })
  return { seen, access, port }
}

const json = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { "content-type": "application/json" })
  response.end(JSON.stringify(body))
}
const statusBody = (code: number, reason: string, message: string) => ({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message })
const service = (name: string, resourceVersion: string, extra: object = {}) => ({ metadata: { name, namespace: "ns", resourceVersion }, ...extra })

const failureOf = <A>(effect: Effect.Effect<A, KubeApiError>) => Effect.runPromise(Effect.flip(effect))

describe("KubeApi over HTTP: requests", () => {
  it("sends each operation with the API server's path, method and content type", async () => {
    const server = await fakeServer((s, r) => json(r, s.method === "POST" ? 201 : 200, { metadata: { name: "x", resourceVersion: "1" } }))
    const api = makeKubeApi(server.access("t0ken"))
    await Effect.runPromise(api.get(resources.services, { namespace: "ns", name: "a b" }))
    await Effect.runPromise(api.create(resources.leases, "ns", { metadata: { name: "l" } }))
    await Effect.runPromise(api.replace(resources.leases, { namespace: "ns", name: "l" }, { metadata: { name: "l", resourceVersion: "1" } }))
    await Effect.runPromise(api.patch(resources.services, { namespace: "ns", name: "a" }, { status: { loadBalancer: {} } }, "status"))
    await Effect.runPromise(api.patchJson(resources.customResourceDefinitions, { name: "c" }, [{ op: "replace", path: "/spec/x", value: 1 }]))
    await Effect.runPromise(api.remove(resources.nodes, { name: "n" }))
    expect(server.seen.map((s) => `${s.method} ${s.url} ${s.headers["content-type"] ?? "-"}`)).toEqual([
      "GET /api/v1/namespaces/ns/services/a%20b -",
      "POST /apis/coordination.k8s.io/v1/namespaces/ns/leases application/json",
      "PUT /apis/coordination.k8s.io/v1/namespaces/ns/leases/l application/json",
      "PATCH /api/v1/namespaces/ns/services/a/status application/merge-patch+json",
      "PATCH /apis/apiextensions.k8s.io/v1/customresourcedefinitions/c application/json-patch+json",
      "DELETE /api/v1/nodes/n -",
    ])
    expect(server.seen.every((s) => s.headers.authorization === "Bearer t0ken")).toBe(true)
    expect(JSON.parse(server.seen[4]?.body ?? "")).toEqual([{ op: "replace", path: "/spec/x", value: 1 }])
  })

  it("lists page by page and gives core items their kind", async () => {
    const server = await fakeServer((s, r) => {
      const url = new URL(s.url, "http://x")
      if (url.searchParams.get("continue") === null) json(r, 200, { metadata: { resourceVersion: "7", continue: "next" }, items: [service("a", "3")] })
      else json(r, 200, { metadata: { resourceVersion: "7" }, items: [service("b", "5")] })
    })
    const list = await Effect.runPromise(makeKubeApi(server.access()).list(resources.services, { namespace: "ns", labelSelector: "app=x" }))
    expect(list.resourceVersion).toBe("7")
    expect(list.items.map((i) => [i.metadata?.name, i.kind, i.apiVersion])).toEqual([["a", "Service", "v1"], ["b", "Service", "v1"]])
    expect(server.seen.map((s) => s.url)).toEqual([
      "/api/v1/namespaces/ns/services?labelSelector=app%3Dx&limit=500",
      "/api/v1/namespaces/ns/services?labelSelector=app%3Dx&limit=500&continue=next",
    ])
  })

  it("fails with the Status body's code, reason and message", async () => {
    const server = await fakeServer((s, r) =>
      s.method === "GET" ? json(r, 404, statusBody(404, "NotFound", 'services "a" not found')) : json(r, 409, statusBody(409, "Conflict", "the object has been modified")))
    const api = makeKubeApi(server.access())
    const missing = await failureOf(api.get(resources.services, { namespace: "ns", name: "a" }))
    expect(missing).toMatchObject({ _tag: "KubeApiError", operation: "get", resource: "services", object: "ns/a", status: 404, reason: "NotFound", message: 'services "a" not found' })
    const conflict = await failureOf(api.replace(resources.leases, { namespace: "ns", name: "l" }, {}))
    expect(conflict).toMatchObject({ operation: "replace", resource: "leases.coordination.k8s.io", status: 409, reason: "Conflict" })
  })

  it("a body that is no Status becomes the message; no answer has no status", async () => {
    const server = await fakeServer((_s, r) => {
      r.writeHead(502, { "content-type": "text/plain" })
      r.end("bad gateway from the proxy")
    })
    const error = await failureOf(makeKubeApi(server.access()).get(resources.nodes, { name: "n" }))
    expect(error).toMatchObject({ status: 502, message: "bad gateway from the proxy" })
    expect(error.reason).toBeUndefined()
    servers.splice(0).forEach((s) => s.close())
    const refused = await failureOf(makeKubeApi(staticAccess({ server: new URL(`http://127.0.0.1:${server.port}`), context: "", origin: "t", tls: { rejectUnauthorized: true } })).get(resources.nodes, { name: "n" }))
    expect(refused.status).toBeUndefined()
    expect(refused.message).toContain("ECONNREFUSED")
  })

  it("a server that stops answering fails the request after the idle timeout, with no status", async () => {
    const server = await fakeServer(() => undefined) // never answers
    const http = new KubeHttp(server.access())
    const started = performance.now()
    await expect(http.request("GET", "/api/v1/nodes", { idleTimeoutMs: 200 })).rejects.toMatchObject({ name: "TransportError", code: "ETIMEDOUT" })
    expect(performance.now() - started).toBeGreaterThanOrEqual(190)
    http.close()
  })

  it("reads a token file again after a 401 and sends the request once more", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kube-http-"))
    const path = join(dir, "token")
    writeFileSync(path, "first\n")
    let valid = "first"
    const server = await fakeServer((s, r) => (s.headers.authorization === `Bearer ${valid}` ? json(r, 200, { metadata: { name: "n" } }) : json(r, 401, statusBody(401, "Unauthorized", "Unauthorized"))))
    const token = tokenFile(path, "test token", 3_600_000)
    const api = makeKubeApi(staticAccess({ server: new URL(`http://127.0.0.1:${server.port}`), context: "", origin: "t", tls: { rejectUnauthorized: true }, token }))
    await Effect.runPromise(api.get(resources.nodes, { name: "n" }))
    // The kubelet rotates the projected token; the old one stops working.
    writeFileSync(path, "second\n")
    valid = "second"
    await Effect.runPromise(api.get(resources.nodes, { name: "n" }))
    expect(server.seen.map((s) => s.headers.authorization)).toEqual(["Bearer first", "Bearer first", "Bearer second"])
    // A token that stays refused is a 401 KubeApiError, after one more try.
    valid = "third"
    expect(await failureOf(api.get(resources.nodes, { name: "n" }))).toMatchObject({ status: 401, reason: "Unauthorized" })
  })

  it("a token file is read again once its refresh period has passed", () => {
    const dir = mkdtempSync(join(tmpdir(), "kube-http-"))
    const path = join(dir, "token")
    writeFileSync(path, "one")
    let now = 0
    const token = tokenFile(path, "test token", 60_000, () => now)
    expect(token.token()).toBe("one")
    writeFileSync(path, "two")
    now = 59_999
    expect(token.token()).toBe("one")
    now = 60_000
    expect(token.token()).toBe("two")
    // A failed read keeps the last token; a first read that fails names the field.
    writeFileSync(path, "")
    now = 200_000
    expect(token.token()).toBe("two")
    expect(() => tokenFile(join(dir, "absent"), "users[u].user.tokenFile").token()).toThrow(/users\[u\]\.user\.tokenFile: cannot read the token file/)
  })
})

/** A fake server for an informer: the n-th list's body, the n-th watch answered by `watch`; both counted. */
const listAndWatch = async (list: (n: number) => object, watch: (n: number, response: ServerResponse) => void) => {
  const watches: Array<string | null> = []
  let lists = 0
  const server = await fakeServer((s, r) => {
    const url = new URL(s.url, "http://x")
    if (url.searchParams.get("watch") === null) {
      lists += 1
      json(r, 200, list(lists))
      return
    }
    expect(url.searchParams.get("allowWatchBookmarks")).toBe("true")
    watches.push(url.searchParams.get("resourceVersion"))
    r.writeHead(200, { "content-type": "application/json" })
    watch(watches.length, r)
  })
  return { server, watches, lists: () => lists }
}

describe("KubeApi over HTTP: the informer", () => {
  const events = (informer: ReturnType<typeof listWatch<KubernetesObject>>) => {
    const log: Array<string> = []
    for (const verb of ["add", "update", "delete"] as const) informer.on(verb, (o) => log.push(`${verb} ${o.metadata?.name}@${o.metadata?.resourceVersion}`))
    informer.on("error", (e) => log.push(`error ${(e as KubeApiError).status}`))
    return log
  }

  it("applies a watch stream split anywhere, follows bookmarks, and lists again after 410 Gone", async () => {
    // The second list (after 410) no longer has b: the informer must report its deletion; c is unchanged.
    const { server, watches } = await listAndWatch(
      (n) => ({ metadata: { resourceVersion: n === 1 ? "10" : "30" }, items: n === 1 ? [service("a", "9"), service("b", "10")] : [service("a", "29"), service("c", "11", { spec: { note: "héllo ✓" } })] }),
      (n, r) => {
      if (n === 1) {
        const text = [
          { type: "ADDED", object: service("c", "11", { spec: { note: "héllo ✓" } }) },
          { type: "MODIFIED", object: service("a", "12") },
          { type: "BOOKMARK", object: { metadata: { resourceVersion: "20" } } },
        ].map((e) => JSON.stringify(e)).join("\n") + "\n"
        const bytes = Buffer.from(text)
        // Chunks that cut lines and the multi-byte characters.
        const cuts = [5, 60, bytes.indexOf(Buffer.from("✓")) + 1, bytes.length - 3]
        let from = 0
        for (const to of [...cuts, bytes.length]) {
          r.write(bytes.subarray(from, to))
          from = to
        }
        r.end()
      } else if (n === 2) {
        r.end(`${JSON.stringify({ type: "ERROR", object: statusBody(410, "Expired", "too old resource version: 20 (25)") })}\n`)
      } else {
        r.write(`${JSON.stringify({ type: "DELETED", object: service("c", "31") })}\n`)
      }
    })
    const http = new KubeHttp(server.access())
    const informer = listWatch<KubernetesObject>(http, resources.services, { namespace: "ns" }, { watchSeconds: () => 30 })
    const log = events(informer)
    const notes: Array<unknown> = []
    informer.on("add", (o) => notes.push((o as { spec?: { note?: string } }).spec?.note))
    await informer.start()
    await eventually("the watch after the relist", async () => (log.includes("delete c@31") ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 })
    await informer.stop()
    http.close()
    expect(log).toEqual(["add a@9", "add b@10", "add c@11", "update a@12", "update a@29", "delete b@10", "delete c@31"])
    // The second watch resumes at the bookmark; after the relist, at the new list's version.
    expect(watches).toEqual(["10", "20", "30"])
    expect(informer.list().map((o) => o.metadata?.name)).toEqual(["a"])
    expect(informer.get("a", "ns")?.metadata?.resourceVersion).toBe("29")
    expect(notes).toContain("héllo ✓")
  })

  it("resumes a dropped watch at its resourceVersion without listing again", async () => {
    const { server, watches, lists } = await listAndWatch(() => ({ metadata: { resourceVersion: "5" }, items: [] }), (n, r) => {
      if (n === 1) {
        r.write(`${JSON.stringify({ type: "ADDED", object: service("a", "6") })}\n`)
        // The connection dies mid-stream (an API server restart).
        setTimeout(() => r.socket?.destroy(), 50)
      }
    })
    const http = new KubeHttp(server.access())
    const informer = listWatch<KubernetesObject>(http, resources.services, {}, { backoffInitialMs: 10 })
    const log = events(informer)
    await informer.start()
    await eventually("a second watch", async () => (watches.length >= 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 })
    await informer.stop()
    http.close()
    expect(watches.slice(0, 2)).toEqual(["5", "6"])
    expect(lists()).toBe(1)
    expect(log).toEqual(["add a@6"])
  })

  it("a refused list or watch is an error event with the status (the wrapper restarts it)", async () => {
    let allowList = false
    const server = await fakeServer((s, r) => {
      const url = new URL(s.url, "http://x")
      if (url.searchParams.get("watch") === null && !allowList) json(r, 403, statusBody(403, "Forbidden", "services is forbidden"))
      else if (url.searchParams.get("watch") === null) json(r, 200, { metadata: { resourceVersion: "1" }, items: [] })
      else json(r, 403, statusBody(403, "Forbidden", "watch is forbidden"))
    })
    const http = new KubeHttp(server.access())
    const informer = listWatch<KubernetesObject>(http, resources.services, {})
    const log = events(informer)
    await expect(informer.start()).rejects.toMatchObject({ status: 403, reason: "Forbidden", operation: "list" })
    allowList = true
    await informer.start()
    await eventually("the watch's error", async () => (log.length >= 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 })
    await informer.stop()
    http.close()
    expect(log).toEqual(["error 403", "error 403"])
  })
})
