package session_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/session"
)

// wire is what an adapter does between two machines, reduced to a loop:
// drain each machine's Ready, print its events, and hand what it transmits
// to the other, until nothing moves.
type wire struct {
	now  time.Time
	cli  *session.Client
	srv  *session.Server
	conn session.ConnID
}

func (w *wire) settle() {
	for moved := true; moved; {
		moved = false
		rd := w.cli.Ready()
		for _, ev := range rd.Events {
			fmt.Println("client event:", ev)
		}
		for _, m := range rd.Transmit {
			show("client -> server", m)
			if err := w.srv.Step(w.now, session.Recv{Conn: w.conn, Data: m}); err != nil {
				panic(err)
			}
			moved = true
		}
		srd := w.srv.Ready()
		for _, ev := range srd.Events {
			fmt.Println("server event:", ev)
		}
		for _, o := range srd.Transmit {
			show("server -> client", o.Data)
			if err := w.cli.Step(w.now, session.Recv(o)); err != nil {
				panic(err)
			}
			moved = true
		}
	}
}

// show prints the frames of one transport message.
func show(dir string, msg []byte) {
	d := codec.NewDecoder(codec.Limits{})
	if err := d.Reset(msg); err != nil {
		panic(err)
	}
	for {
		f, err := d.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s\n", dir, f)
	}
}

// A client and a server machine talking: the handshake, a message each way
// and a request, with the frames on the wire and the events each side
// reports. Seeded random sources make the client ID reproducible.
func Example() {
	w := &wire{
		now:  time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		cli:  session.NewClient(session.ClientConfig{Rand: rand.NewChaCha8([32]byte{2})}),
		srv:  session.NewServer(session.ServerConfig{Rand: rand.NewChaCha8([32]byte{1})}),
		conn: 1,
	}
	// The transport is up on both ends.
	_ = w.cli.Step(w.now, session.Connected{Conn: w.conn})
	_ = w.srv.Step(w.now, session.Connected{Conn: w.conn})
	w.settle()

	_ = w.cli.Step(w.now, session.Send{Payload: []byte("hello server")})
	w.settle()
	_ = w.srv.Step(w.now, session.Send{To: w.cli.ID(), Payload: []byte("hello client")})
	w.settle()

	_ = w.cli.Step(w.now, session.Call{ID: 1, Payload: []byte("time?")})
	w.settle()
	_ = w.srv.Step(w.now, session.Reply{To: w.cli.ID(), ID: 1, Payload: []byte("noon")})
	w.settle()
	// Output:
	// client -> server: HELLO v=1
	// server event: session-started 6ae6783f-4fbd-491b-aeb8-8b73a48ed247
	// server -> client: WELCOME id=6ae6783f-4fbd-491b-aeb8-8b73a48ed247 hb=30s idle=1m15s resumed=false seq=0 ack=0
	// client event: session-started 6ae6783f-4fbd-491b-aeb8-8b73a48ed247
	// client -> server: ACK 0
	// client -> server: DATA seq=1 ack=0 "hello server"
	// server event: delivered seq=1 "hello server"
	// server -> client: ACK 1
	// server -> client: DATA seq=1 ack=1 "hello client"
	// client event: delivered seq=1 "hello client"
	// client -> server: ACK 1
	// client -> server: REQUEST seq=2 ack=1 id=1 "time?"
	// server event: request id=1 "time?"
	// server -> client: ACK 2
	// server -> client: RESPONSE seq=2 ack=2 id=1 "noon"
	// client event: response id=1 "noon"
	// client -> server: ACK 2
}

// When the transport is lost, the client asks its driver to dial again; on
// the new connection it resumes the session, and whatever the other side
// missed meanwhile is retransmitted and delivered once.
func Example_resume() {
	w := &wire{
		now:  time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		cli:  session.NewClient(session.ClientConfig{Rand: rand.NewChaCha8([32]byte{2})}),
		srv:  session.NewServer(session.ServerConfig{Rand: rand.NewChaCha8([32]byte{1})}),
		conn: 1,
	}
	_ = w.cli.Step(w.now, session.Connected{Conn: w.conn})
	_ = w.srv.Step(w.now, session.Connected{Conn: w.conn})
	w.quiet() // the handshake, as in Example, without printing it

	// The transport dies; both sides notice.
	_ = w.cli.Step(w.now, session.Disconnected{Conn: w.conn, Err: io.EOF})
	_ = w.srv.Step(w.now, session.Disconnected{Conn: w.conn, Err: io.EOF})
	for _, ev := range w.cli.Ready().Events {
		if d, ok := ev.(*session.Dial); ok {
			fmt.Println("client event: dial, attempt", d.Attempt)
			w.now = d.At
			continue
		}
		fmt.Println("client event:", ev)
	}
	for _, ev := range w.srv.Ready().Events {
		fmt.Println("server event:", ev)
	}
	// Meanwhile the server has something for the client.
	_ = w.srv.Step(w.now, session.Send{To: w.cli.ID(), Payload: []byte("while you were away")})

	w.conn = 2
	_ = w.cli.Step(w.now, session.Connected{Conn: w.conn})
	_ = w.srv.Step(w.now, session.Connected{Conn: w.conn})
	w.settle()
	// Output:
	// client event: connection-lost: EOF
	// client event: dial, attempt 1
	// server event: detached 6ae6783f-4fbd-491b-aeb8-8b73a48ed247: EOF
	// client -> server: HELLO v=1 resume=6ae6783f-4fbd-491b-aeb8-8b73a48ed247 ack=0 attempt=2
	// server event: resumed 6ae6783f-4fbd-491b-aeb8-8b73a48ed247
	// server -> client: WELCOME id=6ae6783f-4fbd-491b-aeb8-8b73a48ed247 hb=30s idle=1m15s resumed=true seq=0 ack=0
	// server -> client: DATA seq=1 ack=0 "while you were away"
	// client event: resumed 6ae6783f-4fbd-491b-aeb8-8b73a48ed247
	// client event: delivered seq=1 "while you were away"
	// client -> server: ACK 1
}

// quiet completes the handshake without printing it.
func (w *wire) quiet() {
	for moved := true; moved; {
		moved = false
		for _, m := range w.cli.Ready().Transmit {
			_ = w.srv.Step(w.now, session.Recv{Conn: w.conn, Data: m})
			moved = true
		}
		for _, o := range w.srv.Ready().Transmit {
			_ = w.cli.Step(w.now, session.Recv(o))
			moved = true
		}
	}
}
