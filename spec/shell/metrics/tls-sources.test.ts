// Certificate sources for /metrics: a speaker's self-signed certificate names the node and its address,
// chains to the CA served with it, serves a TLS handshake, is kept while fresh and made again once
// within the renewal window; files are read as they are now, and unreadable ones give nothing.
import { X509Certificate } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect } from "node:tls"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { certificateFromFiles, selfSignedCertificate } from "../../../shell/metrics/tls-sources.ts"

const dayMs = 24 * 3600 * 1000

describe("selfSignedCertificate", () => {
  it("names the node and its address, and chains to the CA served after it", async () => {
    const cert = await Effect.runPromise(selfSignedCertificate({ commonName: "node-1", dnsNames: ["node-1"], ipAddresses: ["192.0.2.10"] }))
    expect(cert).toBeDefined()
    const [serving, ca] = cert!.certPem.split(/(?<=-----END CERTIFICATE-----\n)/).map((pem) => new X509Certificate(pem))
    expect(serving!.subjectAltName).toBe("DNS:node-1, IP Address:192.0.2.10")
    expect(serving!.checkIssued(ca!)).toBe(true)
    expect(serving!.verify(ca!.publicKey)).toBe(true)
    expect(ca!.ca).toBe(true)
    // A real handshake with it, trusting the CA.
    const server = createServer({ cert: cert!.certPem, key: cert!.keyPem }, (_, res) => res.end("ok"))
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    const port = (server.address() as { port: number }).port
    const authorized = await new Promise<boolean>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, ca: ca!.toString(), servername: "node-1" }, () => {
        resolve(socket.authorized)
        socket.end()
      })
      socket.on("error", reject)
    })
    server.close()
    expect(authorized).toBe(true)
  })

  it("keeps the certificate while it is fresh and makes a new one within the renewal window", async () => {
    let nowMs = Date.UTC(2026, 0, 1)
    const source = selfSignedCertificate({ commonName: "node-1", dnsNames: ["node-1"], ipAddresses: [] }, { lifetimeMs: 10 * dayMs, renewBeforeMs: 2 * dayMs, nowMs: () => nowMs })
    const first = await Effect.runPromise(source)
    nowMs += 7 * dayMs
    expect(await Effect.runPromise(source)).toBe(first)
    nowMs += 1.5 * dayMs // 1.5 days left, inside the 2-day window
    const second = await Effect.runPromise(source)
    expect(second).not.toBe(first)
    const notAfterMs = Date.parse(new X509Certificate(second!.certPem).validTo)
    expect(Math.abs(notAfterMs - (nowMs + 10 * dayMs))).toBeLessThan(2_000)
  })
})

describe("certificateFromFiles", () => {
  it("reads the files as they are at each load, and gives nothing while one is missing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mlbt-tls-files-"))
    const [certFile, keyFile] = [join(dir, "tls.crt"), join(dir, "tls.key")]
    const source = certificateFromFiles(certFile, keyFile)
    expect(await Effect.runPromise(source)).toBeUndefined()
    writeFileSync(certFile, "cert one")
    writeFileSync(keyFile, "key one")
    expect(await Effect.runPromise(source)).toEqual({ certPem: "cert one", keyPem: "key one" })
    writeFileSync(certFile, "cert two")
    expect((await Effect.runPromise(source))?.certPem).toBe("cert two")
  })
})
