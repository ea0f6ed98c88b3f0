// Errors of the client. Branch on the code (err.code === 'backpressure'),
// or on the class for closes and remote errors; the messages are for people.

/** The codes of [BetterSocketError]. */
export type ClientErrorCode =
  | 'backpressure' // the send window is full (the driver's send waits instead)
  | 'closed' // the client or its session is closed
  | 'too-large' // the payload does not fit the server's message size limit
  | 'too-many-requests' // the pending request limit is reached
  | 'duplicate-request' // a pending request already has this ID
  | 'unknown-request' // a reply names a request that is not waiting for one
  | 'invalid' // the command's arguments are invalid (a bad room name)
  | 'request-timeout' // a request's outcome: no response within its timeout
  | 'session-lost' // a request's outcome: its session ended first
  | 'resume-refused' // the server did not resume the session
  | 'idle-timeout' // nothing was received from the server for its idle timeout
  | 'handshake-timeout' // the handshake did not complete in time
  | 'protocol' // the server broke the protocol
  | 'security' // the secure layer refused the server or a record (a SecureError, with its kind)
  | 'aborted' // the caller's AbortSignal fired

/** An error of the client, with a code to branch on. */
export class BetterSocketError extends Error {
  /** What went wrong. */
  readonly code: ClientErrorCode
  constructor (code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'BetterSocketError'
    this.code = code
  }
}

/** The CLOSE that ended a connection or the session. */
export class CloseError extends Error {
  /** The close code (CloseCode). */
  readonly code: number
  /** The reason text of the CLOSE. */
  readonly reason: string
  /** True when the server sent it; false when this side did (a protocol violation by the server). */
  readonly remote: boolean
  constructor (code: number, reason: string, remote: boolean) {
    super(`session: closed by ${remote ? 'peer' : 'local'}: ${code}${reason === '' ? '' : ': ' + reason}`)
    this.name = 'CloseError'
    this.code = code
    this.reason = reason
    this.remote = remote
  }
}

/** The outcome of a request answered with an error response. */
export class RemoteError extends Error {
  /** The error code (ErrorCode; applications use 1000 and up). */
  readonly code: number
  constructor (code: number, message: string) {
    super(message)
    this.name = 'RemoteError'
    this.code = code
  }
}
