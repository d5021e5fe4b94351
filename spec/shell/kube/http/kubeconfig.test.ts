// Kubeconfigs read by our own code: where they are looked for, every user and cluster variant honoured,
// fields that cannot be honoured refused with an error naming them, unknown ones warned about, the
// in-cluster settings, and an exec user handed to client-node (which runs the plugin).
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { stringify } from "yaml"
import { KubeConfigError } from "../../../../shell/kube/http/cluster-access.ts"
import { clusterAccessFromText, inClusterAccess, loadClusterAccess } from "../../../../shell/kube/http/kubeconfig.ts"
import { makeKubeApi, resources } from "../../../../shell/kube/kube-api.ts"

const dir = mkdtempSync(join(tmpdir(), "kubeconfig-"))
const b64 = (s: string) => Buffer.from(s).toString("base64")

const config = (cluster: object, user: object | undefined, extra: object = {}) => ({
  apiVersion: "v1",
  kind: "Config",
  "current-context": "ctx",
  clusters: [{ name: "c", cluster: { server: "https://10.0.0.1:6443", ...cluster } }],
  ...(user === undefined ? {} : { users: [{ name: "u", user }] }),
  contexts: [{ name: "ctx", context: { cluster: "c", ...(user === undefined ? {} : { user: "u" }), namespace: "ignored" } }],
  ...extra,
})

const file = join(dir, "config")
const read = (document: object, warnings: Array<string> = []) => clusterAccessFromText(JSON.stringify(document), file, { warn: (m) => warnings.push(m) })

describe("kubeconfig", () => {
  it("client certificate and key, CA and tls-server-name from data fields", async () => {
    const access = read(config({ "certificate-authority-data": b64("CA PEM"), "tls-server-name": "api.internal" }, { "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") }))
    const credentials = await access.credentials()
    expect(access.server.href).toBe("https://10.0.0.1:6443/")
    expect(access.context).toBe("ctx")
    expect(credentials.tls).toMatchObject({ rejectUnauthorized: true, servername: "api.internal" })
    expect(String(credentials.tls.ca)).toBe("CA PEM")
    expect(String(credentials.tls.cert)).toBe("CERT")
    expect(String(credentials.tls.key)).toBe("KEY")
    expect(credentials.headers).toEqual({})
  })

  it("files relative to the kubeconfig's directory, a token file, insecure-skip-tls-verify", async () => {
    writeFileSync(join(dir, "token"), "tok-from-file\n")
    writeFileSync(join(dir, "ca.pem"), "CA FROM FILE")
    const insecure = read(config({ "insecure-skip-tls-verify": true }, { tokenFile: "token", token: "ignored-when-a-file-is-read" }))
    expect(await insecure.credentials()).toMatchObject({ headers: { authorization: "Bearer tok-from-file" }, tls: { rejectUnauthorized: false } })
    const withCa = read(config({ "certificate-authority": "ca.pem" }, { token: "inline" }))
    const credentials = await withCa.credentials()
    expect(String(credentials.tls.ca)).toBe("CA FROM FILE")
    expect(credentials.headers).toEqual({ authorization: "Bearer inline" })
  })

  it("basic auth and impersonation headers", async () => {
    const access = read(config({}, { username: "admin", password: "pw", as: "jane", "as-groups": ["dev", "ops"], "as-user-extra": { scopes: ["a"] } }))
    expect((await access.credentials()).headers).toEqual({
      authorization: `Basic ${b64("admin:pw")}`,
      "impersonate-user": "jane",
      "impersonate-group": ["dev", "ops"],
      "impersonate-extra-scopes": ["a"],
    })
  })

  it("refuses what it cannot honour, naming the field", () => {
    const cases: Array<readonly [object, RegExp]> = [
      [config({ "proxy-url": "http://proxy:3128" }, { token: "t" }), /clusters\[c\]\.cluster\.proxy-url http:\/\/proxy:3128: .*does not support a proxy/],
      [config({ "certificate-authority-data": b64("x"), "certificate-authority": "/x" }, { token: "t" }), /certificate-authority-data and certificate-authority are both set/],
      [config({ "certificate-authority-data": b64("x"), "insecure-skip-tls-verify": true }, { token: "t" }), /insecure-skip-tls-verify and a certificate authority are both set/],
      [config({}, { "client-certificate-data": b64("c") }), /users\[u\]\.user: a client certificate needs its key/],
      [config({}, { token: "t", username: "a" }), /a bearer token \(token, tokenFile\) and basic auth/],
      [config({}, { "client-key": "absent.pem", "client-certificate-data": b64("c") }), /users\[u\]\.user\.client-key: cannot read .*absent\.pem/],
      [config({}, { tokenFile: "no-such-token" }), /users\[u\]\.user\.tokenFile: cannot read the token file/],
      [config({ server: "ftp://x" }, undefined), /clusters\[c\]\.cluster\.server ftp:\/\/x: only https:\/\/ and http:\/\//],
      [config({ server: "" }, undefined), /clusters\[c\]\.cluster\.server is missing/],
      [config({}, { "as-groups": ["g"] }), /as-groups or as-user-extra need as/],
      [{ ...config({}, undefined), "current-context": "other" }, /current-context other names no entry in contexts/],
      [{ ...config({}, undefined), "current-context": "" }, /current-context is not set/],
      [{ ...config({}, undefined), contexts: [{ name: "ctx", context: { cluster: "nope" } }] }, /contexts\[ctx\]\.context\.cluster nope names no entry in clusters/],
      [{ ...config({}, undefined), contexts: [{ name: "ctx", context: { cluster: "c", user: "who" } }] }, /contexts\[ctx\]\.context\.user who names no entry in users/],
    ]
    for (const [document, message] of cases) {
      expect(() => read(document)).toThrow(KubeConfigError)
      expect(() => read(document)).toThrow(message)
    }
    expect(() => clusterAccessFromText("clusters: [", file)).toThrow(/not YAML/)
  })

  it("warns about fields it does not know, accepts those that do not affect a connection", () => {
    const warnings: Array<string> = []
    read(config({ "disable-compression": true, "future-field": 1 }, { token: "t", extensions: [] }, { preferences: {}, surprise: true }), warnings)
    expect(warnings).toEqual([
      `${file}: kubeconfig field surprise is not understood and ignored`,
      `${file}: clusters[c].cluster.future-field is not understood and ignored`,
    ])
  })

  it("looks in --kubeconfig, then $KUBECONFIG (merged, first wins), then ~/.kube/config, then in-cluster", () => {
    const a = join(dir, "a.yaml")
    const b = join(dir, "b.yaml")
    writeFileSync(a, stringify({ clusters: [{ name: "c", cluster: { server: "https://a:1" } }], contexts: [{ name: "x", context: { cluster: "c" } }] }))
    writeFileSync(b, stringify({ "current-context": "x", clusters: [{ name: "c", cluster: { server: "https://b:2" } }], contexts: [{ name: "x", context: { cluster: "c" } }] }))
    const home = join(dir, "home")
    mkdirSync(join(home, ".kube"), { recursive: true })
    writeFileSync(join(home, ".kube", "config"), stringify(config({ server: "https://home:3" }, undefined)))
    expect(loadClusterAccess(b, { env: { KUBECONFIG: a }, home }).server.host).toBe("b:2")
    expect(loadClusterAccess(undefined, { env: { KUBECONFIG: `${a}:${join(dir, "missing")}:${b}` }, home }).server.host).toBe("a:1")
    expect(loadClusterAccess(undefined, { env: {}, home }).server.host).toBe("home:3")
    expect(() => loadClusterAccess(undefined, { env: {}, home: join(dir, "nohome") })).toThrow(/not in a cluster \(KUBERNETES_SERVICE_HOST/)
    expect(() => loadClusterAccess(join(dir, "missing"), { env: {}, home })).toThrow(/cannot read the kubeconfig .*missing/)
  })

  it("in-cluster: the service host and port, the ServiceAccount's CA and token", async () => {
    const sa = join(dir, "sa")
    mkdirSync(sa, { recursive: true })
    writeFileSync(join(sa, "token"), "sa-token")
    writeFileSync(join(sa, "ca.crt"), "CLUSTER CA")
    const access = inClusterAccess({ env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, serviceAccountDir: sa })
    expect(access.server.href).toBe("https://[fd00::1]/")
    expect(access.origin).toBe("in-cluster")
    const credentials = await access.credentials()
    expect(credentials.headers).toEqual({ authorization: "Bearer sa-token" })
    expect(String(credentials.tls.ca)).toBe("CLUSTER CA")
    expect(() => inClusterAccess({ env: { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }, serviceAccountDir: join(dir, "none") })).toThrow(/in-cluster ServiceAccount token: cannot read the token file/)
  })
})

describe("kubeconfig with an exec user", () => {
  const server = createServer((request, response) => {
    response.writeHead(request.headers.authorization === "Bearer from-exec" ? 200 : 401, { "content-type": "application/json" })
    response.end(JSON.stringify({ metadata: { name: "n" } }))
  })
  afterAll(() => new Promise((resolve) => server.close(resolve)))

  it("runs the plugin through client-node, loaded only then, and sends its token", async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const port = (server.address() as AddressInfo).port
    const credential = JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", status: { token: "from-exec" } })
    // client-node refuses http:// unless TLS verification is off (there is no TLS to verify).
    const access = read(config({ server: `http://127.0.0.1:${port}`, "insecure-skip-tls-verify": true }, {
      exec: { apiVersion: "client.authentication.k8s.io/v1", command: process.execPath, args: ["-e", `process.stdout.write(${JSON.stringify(credential)})`], interactiveMode: "Never" },
    }))
    expect(access.origin).toContain("user credentials from client-node")
    const node = await Effect.runPromise(makeKubeApi(access).get(resources.nodes, { name: "n" }))
    expect(node.metadata?.name).toBe("n")
  })
})
