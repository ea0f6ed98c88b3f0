// Helpers shared by the tests: hex, the repository's testdata, deep equality.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (the tests run from clients/ts/build/test). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..')

export function readJSON<T> (rel: string): T {
  return JSON.parse(readFileSync(join(repoRoot, rel), 'utf8')) as T
}

export function fromHex (s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16)
  return out
}

export function toHex (b: Uint8Array): string {
  let s = ''
  for (const x of b) s += x.toString(16).padStart(2, '0')
  return s
}

/** Replaces every Uint8Array in v by its hex string, as the vectors spell bytes. */
export function hexify (v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v)
  if (Array.isArray(v)) return v.map(hexify)
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) o[k] = hexify(x)
    return o
  }
  return v
}

/** The inverse of hexify for a frame from the vectors: byte fields become Uint8Arrays. */
export function unhexFrame (v: Record<string, unknown>): Record<string, unknown> {
  const bytesFields = new Set(['auth', 'token', 'payload', 'id'])
  const o: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string' && bytesFields.has(k)) o[k] = fromHex(x)
    else if (x !== null && typeof x === 'object' && !Array.isArray(x)) o[k] = unhexFrame(x as Record<string, unknown>)
    else o[k] = x
  }
  return o
}
