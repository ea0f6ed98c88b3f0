// Payload codecs: how the typed API turns application values into message
// payloads and back. The default is CBOR, as the Go side's typed helpers
// (adapters.Send, adapters.Call, HandleRequest) use by default, so a TS
// object {text: 'hi'} arrives as a Go struct with a Text field.

import { encode, decode } from 'cborg'

/** Turns application values into payload bytes and back. */
export interface PayloadCodec {
  encode: (value: unknown) => Uint8Array
  decode: (payload: Uint8Array) => unknown
}

/** CBOR (the default): maps, arrays, text, byte strings, numbers, booleans, null. */
export const cbor: PayloadCodec = { encode, decode }

/** Raw bytes: send Uint8Arrays as they are, receive the bytes the server sent. */
export const raw: PayloadCodec = {
  encode: (v) => {
    if (!(v instanceof Uint8Array)) throw new TypeError('raw payload codec: value is not a Uint8Array')
    return v
  },
  decode: (b) => b
}

const te = new TextEncoder()
const td = new TextDecoder()

/** JSON text, for servers that use the Go side's codec.JSON. */
export const json: PayloadCodec = {
  encode: (v) => te.encode(JSON.stringify(v)),
  decode: (b) => JSON.parse(td.decode(b)) as unknown
}
