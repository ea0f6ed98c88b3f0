// The secure layer's replay window against a plain set, as Go's
// TestWindowModel: a nonce is accepted once, and only while it is less than
// WINDOW_SIZE behind the highest accepted. Runs are drawn from a fixed seed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Window, WINDOW_SIZE } from '../src/window.js'

/** xorshift64*: a small deterministic source for the runs. */
function rng (seed: bigint): (below: bigint) => bigint {
  let x = seed
  return below => {
    x ^= x >> 12n
    x ^= (x << 25n) & 0xffffffffffffffffn
    x ^= x >> 27n
    return ((x * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn) % below
  }
}

test('window: accepts each nonce once, within WINDOW_SIZE of the newest', () => {
  const bits = BigInt(WINDOW_SIZE + 64)
  for (let run = 1; run <= 300; run++) {
    const r = rng(BigInt(run) * 0x9e3779b97f4a7c15n & 0xffffffffffffffffn)
    const w = new Window()
    const seen = new Set<bigint>()
    let top = 0n
    let any = false
    const base = r(1n << 40n)
    const steps = Number(r(400n)) + 1
    for (let i = 0n; i < BigInt(steps); i++) {
      let n: bigint
      const kind = r(10n)
      if (kind === 0n) n = top + r(3n * bits)
      else if (kind === 1n) { const back = r(3n * bits); n = back > top ? 0n : top - back }
      else { const near = r(81n); n = base + i - (near > base + i ? base + i : near) }
      const want: boolean = !seen.has(n) && (!any || n > top || top - n < BigInt(WINDOW_SIZE))
      assert.equal(w.fresh(n), want, `run ${run}: fresh(${n}) with top ${top}`)
      if (want) {
        w.mark(n)
        seen.add(n)
        if (!any || n > top) { top = n; any = true }
      }
    }
  }
})

test('window: the edge of the window', () => {
  const w = new Window()
  const top = 10_000n
  w.mark(top)
  assert.equal(w.fresh(top - BigInt(WINDOW_SIZE) + 1n), true)
  assert.equal(w.fresh(top - BigInt(WINDOW_SIZE)), false)
  assert.equal(w.fresh(top), false)
  assert.equal(w.fresh(top + 1n), true)
  w.mark(top - 5n)
  assert.equal(w.fresh(top - 5n), false)
  w.mark(top + BigInt(WINDOW_SIZE)) // slides: top is now too old, top - 5 long gone
  assert.equal(w.fresh(top), false)
  assert.equal(w.fresh(top + 1n), true)
})
