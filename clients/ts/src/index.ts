export * from './wire.js'
