// The secure layer's replay window (secure.ts), in a module of its own so
// that its tests reach it without making it part of the package's API.

const WORDS = 32

/** How far behind the newest accepted record a record may arrive and still be accepted once. */
export const WINDOW_SIZE = WORDS * 64 - 64

/**
 * A sliding replay window over 64-bit nonces, as Go's (RFC 6479, as
 * WireGuard uses): a ring of bits for the nonces up to the highest one
 * accepted. A nonce above the highest is new; one WINDOW_SIZE or more below
 * it is refused as too old; in between, its bit says whether it was seen.
 * The ring's last word is the slack that lets it slide a word at a time.
 */
export class Window {
  private _top = 0n
  private _any = false
  private readonly _bits = new BigUint64Array(WORDS)

  /** Whether nonce n may be accepted. It changes nothing: only a record that then authenticates is marked. */
  fresh (n: bigint): boolean {
    if (!this._any || n > this._top) return true
    if (this._top - n >= BigInt(WINDOW_SIZE)) return false
    const word = this._bits[Number((n / 64n) % BigInt(WORDS))] as bigint
    return (word & (1n << (n % 64n))) === 0n
  }

  /** Records nonce n as seen; fresh(n) must have been true. */
  mark (n: bigint): void {
    if (!this._any || n > this._top) {
      let cur = this._top / 64n
      const next = n / 64n
      if (!this._any) {
        cur = next
        this._bits[Number(cur % BigInt(WORDS))] = 0n
      }
      let steps = next - cur
      if (steps > BigInt(WORDS)) steps = BigInt(WORDS)
      for (let i = 1n; i <= steps; i++) this._bits[Number((cur + i) % BigInt(WORDS))] = 0n
      this._top = n
      this._any = true
    }
    const i = Number((n / 64n) % BigInt(WORDS))
    this._bits[i] = (this._bits[i] as bigint) | (1n << (n % 64n))
  }
}

