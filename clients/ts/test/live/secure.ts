// The client side of TestTypeScriptSecure (adapters/gorilla/typescript_test.go):
// for each case in BS_CASES (JSON: [{name, url, secure}], secure being the
// options of secure() with keys in base64, or null for plaintext), connect
// once with failFast; on success make one request and close. It prints one
// JSON result per case: {name, ok, reply} or {name, ok: false, error, code,
// kind, closeCode, reason, remote}.
import { connect, raw, CloseError, BetterSocketError } from '../../src/node.js'
import { secure, SecureError, type SecureOptions } from '../../src/secure.js'

interface Case { name: string, url: string, secure: SecureOptions | null }

const cases = JSON.parse(process.env.BS_CASES ?? '[]') as Case[]
const td = new TextDecoder()
const results: unknown[] = []
for (const k of cases) {
  try {
    const c = await connect(k.url, { codec: raw, failFast: true, handshakeTimeoutMs: 5000, secure: k.secure === null ? null : secure(k.secure) })
    const reply = await c.request(new TextEncoder().encode('ping ' + k.name))
    await c.close()
    results.push({ name: k.name, ok: true, reply: td.decode(reply as Uint8Array) })
  } catch (err) {
    results.push({
      name: k.name,
      ok: false,
      error: err instanceof Error ? err.name : String(err),
      code: err instanceof BetterSocketError ? err.code : null,
      kind: err instanceof SecureError ? err.kind : null,
      closeCode: err instanceof CloseError ? err.code : null,
      reason: err instanceof CloseError ? err.reason : null,
      remote: err instanceof CloseError ? err.remote : null,
      message: err instanceof Error ? err.message : null
    })
  }
}
console.log(JSON.stringify(results))
