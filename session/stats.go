package session

// Stats are cumulative counters of a machine, cheap to copy. Gauges (current
// sessions) are filled in when read.
type Stats struct {
	Sessions          int    // live sessions (server: attached and detached; client: 0 or 1)
	Detached          int    // server: sessions waiting for a resume
	Connections       int    // server: open connections, with or without a session
	SessionsStarted   uint64 // new sessions established
	Resumes           uint64 // sessions resumed on a new connection
	SessionsLost      uint64 // sessions that ended with something unacknowledged or a request pending, or were refused a resume
	Sent              uint64 // reliable frames queued by the application
	Delivered         uint64 // reliable frames delivered to the application
	Retransmits       uint64 // reliable frames transmitted again
	DuplicatesDropped uint64 // reliable frames received more than once
	ReorderDropped    uint64 // early frames dropped because the reorder buffer's byte budget was full (Datagram)
	RecordsDropped    uint64 // encrypted records dropped: replayed, early or failing authentication (Datagram)
	LateResponses     uint64 // responses to unknown or finished requests, dropped
	RequestTimeouts   uint64 // requests that timed out
	ProtocolErrors    uint64 // connections closed for a protocol violation
	Throttled         uint64 // server: connections refused or evicted, sessions refused or evicted, by a per-source limit
	BytesIn           uint64 // transport bytes received
	BytesOut          uint64 // transport bytes handed to the driver
	MessagesIn        uint64 // transport messages received
	MessagesOut       uint64 // transport messages handed to the driver
}
