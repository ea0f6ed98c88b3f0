// @bettersocket/client: reliable, resumable two-way messaging with a
// better-socket server, in browsers and Node.js.
export * from './wire.js'
export * from './errors.js'
export * from './machine.js'
export * from './payload.js'
export * from './client.js'
