// Package adapters is the application API of better-socket: a [Client]
// that dials, reconnects and resumes on its own, and a [Server] hub, both
// blocking, context-aware and goroutine-safe. An application imports this
// package and one transport: gorilla or coder (WebSocket, an http.Handler
// and a dialer) or netconn (any net.Conn: TCP, Unix sockets, TLS).
//
// Start here, a server and a client over gorilla/websocket:
//
//	srv := gorilla.NewServer(adapters.ServerOptions{
//		OnRequest: func(ctx context.Context, r adapters.Request) ([]byte, error) {
//			return bytes.ToUpper(r.Payload), nil
//		},
//	})
//	http.Handle("/ws", srv)
//	defer srv.Close(ctx)
//
//	c, err := gorilla.Dial(ctx, "ws://localhost:8080/ws", adapters.ClientOptions{
//		OnMessage: func(ctx context.Context, m adapters.Message) { fmt.Printf("%s\n", m.Payload) },
//	})
//	resp, err := c.Request(ctx, []byte("hello"))
//	err = c.Send(ctx, []byte("fire and forget, exactly once"))
//	err = c.Close(ctx)
//
// A server with a port of its own can instead call srv.Run(ctx, ln): it
// serves until ctx ends (a signal, say), then shuts down gracefully.
//
// Messages carry an event name and requests a method name; a [Mux] routes
// them to handlers for your own types (CBOR by default, codec.JSON on
// request), on either side:
//
//	mux := adapters.NewMux()
//	adapters.HandleMethod(mux, "quote", func(ctx context.Context, r adapters.Request, q Quote) (Price, error) { ... })
//	adapters.HandleEvent(mux, "chat", func(ctx context.Context, m adapters.Message, c Chat, err error) { ... })
//	srv := gorilla.NewServer(adapters.ServerOptions{Mux: mux})
//
//	price, err := adapters.Invoke[Quote, Price](ctx, c, "quote", Quote{Symbol: "BTC"})
//	err = adapters.Emit(ctx, c, "chat", Chat{Text: "hi"})
//	err = adapters.Publish(ctx, c, "lobby", "chat", Chat{Text: "hi all"}) // to the room's other members
//
// Typed decoding is strict (a payload of another type is a bad-request
// error, not zero values), and error responses never carry the server's
// type names or internal errors.
//
// Everything else an application names is here too: [ClientID], the
// events OnEvent receives ([SessionStarted], [ConnectionLost],
// [SessionLost], ...), [Lost] reports, [RemoteError] and the ErrCode
// constants, [CloseError] and its codes, the hook requests ([AuthRequest],
// [RoomRequest], [PublishRequest]) and the machine settings
// ([ServerConfig], [ClientConfig]). They are aliases of package session's
// and proto's names, whose other exports (the machine's inputs) are for
// embedding the machines without this package. examples/chatserver is a
// whole chat server with rooms, auth, two methods and graceful shutdown
// in some 60 lines.
//
// The rest of this comment is how it works.
//
// # Guarantees
//
// Every message and request is delivered exactly once and in order per
// session and direction, across reconnects, while the session is resumed
// within its window; a session that ends reports what it lost
// ([SessionLost], [SessionClosed], [LostError]); every
// request ends in exactly one outcome (a response, a [*RemoteError],
// [ErrRequestTimeout] or [ErrSessionLost]; a caller whose ctx
// ends gets ctx.Err()). Send and Request wait while the send window is full
// (backpressure) until acknowledgements make room or their ctx ends; a call
// that returns ctx.Err() before it was sent has not been sent.
//
// # Concurrency
//
// Client and Server are safe for concurrent use. The machine is guarded by
// a mutex rather than owned by a goroutine: a method locks it, steps its
// command, dispatches what the step produced and unlocks, so Send and
// Request learn the machine's verdict at once, not through another
// goroutine. Commands that find the send window full (or all request slots
// taken) wait in a queue per session and are stepped first come, first
// sent as acknowledgements make room, or return ctx.Err() unsent.
//
// A round trip costs no goroutine hand-off when it can be helped. Each
// connection is read by one goroutine at a time, which steps what arrives
// and, when its session's handlers were idle, runs them itself; a request
// handler's reply is written by the goroutine that read the request. A
// handler that runs longer than a millisecond, or that waits on the Client
// or Server with the context it was given (a Request to the peer, a Send
// under backpressure), hands the reading to a new goroutine, so a
// connection is never left unread behind a slow handler. A Request writes
// itself when the connection's writer is idle, and on a client whose
// transport's reads can be interrupted ([ReadInterrupter]: gorilla and
// netconn) its caller reads until its response arrives, handing what else
// arrives to the handlers; when its ctx ends it stops at once, through the
// read deadline, and the connection is unharmed. Sends are written by a
// writer goroutine, which batches (below). A write blocks only while the
// peer does not read: a Request whose ctx ends while its write is still
// blocked 10 ms later kills the connection (the session resumes on a new
// one; nothing is lost), and a
// connection the machine has given up is closed once its queue is written,
// or killed two seconds later.
//
// Handlers (OnMessage, OnRequest, OnEvent) never run under the lock. Each
// session's events form an ordered queue, served by one goroutine at a
// time (its reader, or a worker), so one session's handlers run one at a
// time in delivery order, different sessions' handlers run concurrently,
// and a handler may call any method — Send, Request, Broadcast, even Close
// — without deadlocking. A handler that blocks delays only its own
// session's later events; once MaxPendingEvents are waiting, that session's
// connection is no longer read, which pushes back on the peer. Handlers get
// a context that is cancelled when Close begins and that names the Server
// or Client they belong to ([ServerFrom], [ClientFrom]). The server's
// Authorize and AllowRoom hooks are the exception: they run inside the
// machine's Step, under the lock, so they must be fast and must not call
// the Server (Stats is the exception: inside a hook it returns the counters
// as of the hook's start). ServerOptions.Authenticate is the hook for a
// decision that needs I/O: it runs on a goroutine of its own, never under
// the lock, and must return when its ctx ends. Stats and Client.ID take the lock briefly; it is never held while
// waiting for the network or for a handler.
//
// # Events and loss
//
// A client reports its connection the same way over every transport:
// [*ConnectionLost] once for each established connection that is
// lost, then one [*ConnectFailed] for each attempt that fails
// before the session is back, whether the transport's dial failed (a
// refused TCP connection, an HTTP error status on the WebSocket upgrade) or
// the connection died before the server's WELCOME (a TCP dial that
// succeeded to a server that then refused), then [*Resumed] or,
// when the server no longer has the session, [*SessionLost]
// followed by [*SessionStarted] (and [*RoomsRejoined] when
// the lost session was in rooms). The first Dial's failed attempts are
// ConnectFailed events too.
//
// Each session that ends is accounted for once: by SessionLost when the
// client goes on with a new session, or by [*Closed], the client's
// last event, when it ends; Client.Close returns that same account as a
// [*LostError] (it is not a second loss). On the server each ended session
// gets one [*SessionClosed]. "Lost" means never acknowledged: the
// peer may or may not have processed it. The unacknowledged frames are
// listed with their payloads (Lost.Unacked). Lost.Requests are the
// machine's request IDs, which this package assigns and does not show:
// an application matches a lost request by its own call, since every
// Request, Join and Leave that is in that list returns
// [ErrSessionLost] from that call (a request still unacknowledged is
// in Lost.Unacked as well, with its payload). To know that what was sent
// has been received without closing, use Client.Flush or Server.Flush.
//
// # Close codes
//
// The protocol's CLOSE frame is the authority on why a connection ended,
// and it travels in-band before the transport is closed. Over WebSocket the
// same code is also the close status of the WebSocket close frame: the
// protocol's codes were chosen so that this works (1000, 1001, 1002, 1008
// and 1009 mean the same in RFC 6455, and 4000–4006 are in its private-use
// range). A message over the size limit is refused by the WebSocket library
// itself, with status 1009, before it is read; over netconn the driver
// sends a CLOSE too-large frame without reading the message.
//
// # Encryption
//
// ClientOptions.Secure and ServerOptions.Secure turn on the optional
// encryption layer of package codec/secure (Noise: a pre-shared key, a
// pinned server key, or mutual keys) on every connection, over every
// transport: the handshake runs before HELLO and everything after it is
// sealed, inside the machines. The joining of messages described under
// Batching works the same (sealed records concatenate). The repository's
// README sets out its threat model.
//
// # Observability
//
// Set ClientOptions.Logger or ServerOptions.Logger to a *slog.Logger for
// structured logs of connections and sessions (nothing is logged per
// message). Stats returns the machine's counters (sessions, resumes,
// retransmissions, duplicates dropped, bytes, sessions lost); it takes the
// machine's lock, which is held only while the machine steps, so reading
// them costs a mutex and a copy.
//
// # Batching
//
// Throughput comes from batching. Send never waits for a write: a writer
// goroutine writes, and while a connection's writer is writing,
// whatever is stepped meanwhile queues behind it, and its next write takes
// everything queued, joined into as few transport messages as the peer's
// size limit allows. Sends (and a server's Broadcasts) stepped while the
// writers of their connections are busy do not even call the machine's
// Ready: the writer calls it once before its next write, so their frames
// are packed together and their acknowledgements coalesce. A caller that
// sends in a loop thus keeps stepping while the writer writes, and each
// write carries many messages; where the writer cannot run meanwhile (one
// CPU, or every CPU busy), the caller yields to it every 32 KiB or so, so
// that the peer gets to work on them while the caller goes on.
// The machines hold an acknowledgement up to DefaultAckDelay (1 ms) for a
// frame that can carry it (a response, usually: session.LinkConfig's
// AckDelay), so a request and its response cost one message each way.
package adapters
