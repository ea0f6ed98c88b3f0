export * from './wire.js'
export * from './errors.js'
export * from './machine.js'
