// Client certificates for the node components, signed by the testbed API server's CA (the one it
// trusts for clients), and kubeconfig files naming them. The kubelet makes its own serving certificate.
import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"

export interface ClientCertificate {
  readonly cert: string
  readonly key: string
}

/** A clientAuth certificate for `subject` (e.g. `/O=system:nodes/CN=system:node:node-1`), in `pkiDir`. */
export const issueClientCertificate = (pkiDir: string, name: string, subject: string): ClientCertificate => {
  const openssl = (...args: Array<string>) => execFileSync("openssl", args, { cwd: pkiDir, stdio: "pipe" })
  openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`)
  openssl("req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`)
  writeFileSync(join(pkiDir, `${name}.ext`), "extendedKeyUsage=clientAuth\n")
  openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
    "-extfile", `${name}.ext`, "-out", `${name}.crt`)
  return { cert: join(pkiDir, `${name}.crt`), key: join(pkiDir, `${name}.key`) }
}

/** A kubeconfig file for `server` authenticating with `certificate`. */
export const writeKubeconfig = (path: string, server: string, caPath: string, certificate: ClientCertificate): string => {
  writeFileSync(path, JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "cluster", cluster: { server, "certificate-authority": caPath } }],
    users: [{ name: "user", user: { "client-certificate": certificate.cert, "client-key": certificate.key } }],
    contexts: [{ name: "cluster", context: { cluster: "cluster", user: "user" } }],
    "current-context": "cluster",
  }, null, 2))
  return path
}
