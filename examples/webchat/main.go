// Command webchat is a chat in the browser: a Go server (gorilla/websocket)
// serves a page whose script is the TypeScript client (clients/ts), bundled
// with esbuild into static/app.js. Nothing is fetched from elsewhere.
//
//	go run ./examples/webchat                  # then open http://127.0.0.1:8080/
//	go run ./examples/webchat -addr :9000
//	go run ./examples/webchat -secure          # encrypted: open the URL it prints
//
// Open the page in two tabs and talk; stop the network (or the server's
// connections) for a moment and watch the page resume without losing or
// repeating a line. The page's source is examples/webchat/web/app.ts;
// rebuild the bundle after changing it or the client with
// npm run example --prefix clients/ts (TestTypeScriptSuite fails while the
// committed bundle is stale).
//
// With -secure the server requires encryption in server-key mode (Noise NK)
// under a key pair it makes at start, and prints the page's URL with the
// public key in it (?key=...): the page pins that key. A real application
// ships the server's public key inside its bundle, served over HTTPS; the
// secure layer then protects the session end to end, through whatever
// terminates TLS on the way.
package main

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"flag"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/session"
)

//go:embed static
var static embed.FS

// The page and the server speak with named messages and requests, routed
// by a Mux on each side: a page emits "say" (a Say) and invokes "ping" (a
// Ping, answered with a Pong); the server broadcasts "line" (a Line) to
// the room; a page publishes "presence" (a Presence) to the lobby's other
// members itself, without the server's application code.

// Say is what a page sends: a line for a room.
type Say struct {
	Room string `cbor:"room"`
	Name string `cbor:"name"`
	Text string `cbor:"text"`
}

// Line is what the server broadcasts to a room.
type Line struct {
	Name string `cbor:"name"`
	Text string `cbor:"text"`
}

// Ping is the page's request; the server answers with Pong.
type Ping struct {
	Text string `cbor:"text"`
}

// Pong answers a Ping.
type Pong struct {
	Text    string `cbor:"text"`
	Members int    `cbor:"members"`
}

// Presence is what a page publishes to the lobby when it joins.
type Presence struct {
	Name string `cbor:"name"`
}

// newServer returns the chat's HTTP handler (the page at /, the protocol at
// /ws) and its better-socket server, encrypted as sec says (its zero value:
// plaintext). onEvent, when not nil, also sees the server's lifecycle
// events (the browser test waits on them).
func newServer(sec secure.Config, onEvent func(session.Event)) (http.Handler, *gorilla.Server) {
	var srv *gorilla.Server
	routes := adapters.NewMux()
	adapters.HandleEvent(routes, "say", func(ctx context.Context, m adapters.Message, s Say, err error) {
		if err != nil {
			log.Printf("bad message from %s: %v", m.Client, err)
			return
		}
		if err := adapters.BroadcastEvent(ctx, srv.Server, s.Room, "line", Line{Name: s.Name, Text: s.Text}); err != nil {
			log.Printf("broadcast to %s: %v", s.Room, err)
		}
	})
	adapters.HandleMethod(routes, "ping", func(ctx context.Context, r adapters.Request, p Ping) (Pong, error) {
		ids, err := srv.Members(ctx, "lobby")
		return Pong{Text: "pong: " + p.Text, Members: len(ids)}, err
	})
	srv = gorilla.NewServer(adapters.ServerOptions{
		Session: session.ServerConfig{
			// Anyone may join any room whose name is a plain word.
			AllowRoom: func(r session.RoomRequest) bool { return !strings.ContainsAny(r.Room, " \t/") },
			Secure:    sec,
		},
		OnEvent: func(_ context.Context, ev session.Event) {
			if onEvent != nil {
				onEvent(ev)
			}
		},
		// Members publish to their rooms freely (AllowPublish nil); the
		// server application sees each accepted publish as a message.
		Mux: routes,
	})
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	mux.Handle("/", http.FileServer(http.FS(files)))
	return mux, srv
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	encrypt := flag.Bool("secure", false, "require encryption (server-key mode) under a key pair made at start")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	var sec secure.Config
	page := "http://" + ln.Addr().String() + "/"
	if *encrypt {
		kp, err := secure.GenerateKeyPair(rand.Reader)
		if err != nil {
			log.Fatal(err)
		}
		sec = secure.Config{Mode: secure.ServerKey, Static: kp}
		page += "?key=" + url.QueryEscape(kp.Public.String())
	}
	h, srv := newServer(sec, nil)
	hs := &http.Server{Handler: h}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	log.Printf("web chat on %s", page)
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	if err := srv.Close(context.Background()); err != nil {
		log.Print(err)
	}
}
