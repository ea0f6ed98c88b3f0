// UTF-8 helpers shared by the codec, the machine and the driver (not part
// of the package's API).

/** The one TextEncoder. */
export const encoder = new TextEncoder()

/** Bytes of s in UTF-8. */
export const utf8len = (s: string): number => encoder.encode(s).length

/** Whether s can be sent as valid UTF-8 of at most max bytes (no lone surrogates). */
export function validText (s: string, max: number): boolean {
  if (s.length > max) return false
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(s)) return false
  return utf8len(s) <= max
}
