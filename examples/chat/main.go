// Command chat is a chat server with rooms and a terminal client over
// WebSocket (gorilla/websocket).
//
//	go run ./examples/chat                          # in-process server and a client on this terminal
//	go run ./examples/chat -serve 127.0.0.1:8080    # a server only
//	go run ./examples/chat -connect ws://127.0.0.1:8080/chat -nick ana
//
// Type a line to say it in the current room. Commands: /join ROOM,
// /leave ROOM, /who (a request to the server), /quit. A client that loses
// its connection reconnects and resumes on its own: nothing said is lost or
// repeated.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Say is what a client sends (event "say"): a line for a room it is in.
type Say struct {
	Room string
	Text string
}

// Line is what the server broadcasts to a room (event "line"), stamped
// with the sender's nickname, so that nobody can speak for someone else.
type Line struct {
	From string
	Text string
}

// Who asks who is in a room (method "who"); the answer is a list of
// nicknames.
type Who struct{ Room string }

func main() {
	serve := flag.String("serve", "", "run a server only, listening on this address")
	connect := flag.String("connect", "", "connect to the server at this ws:// URL")
	nick := flag.String("nick", "", "nickname (default: your user name)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *nick == "" {
		*nick = os.Getenv("USER")
		if *nick == "" {
			*nick = "guest"
		}
	}

	switch {
	case *serve != "":
		ln, err := net.Listen("tcp", *serve)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("chat server on ws://%s/chat", ln.Addr())
		if err := runServer(ctx, ln); err != nil {
			log.Fatal(err)
		}
	case *connect != "":
		if err := runClient(ctx, *connect, *nick, os.Stdin, os.Stdout); err != nil {
			log.Fatal(err)
		}
	default:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- runServer(sctx, ln) }()
		fmt.Printf("in-process server on ws://%s/chat (Ctrl-D or /quit to leave)\n", ln.Addr())
		err = runClient(ctx, "ws://"+ln.Addr().String()+"/chat", *nick, os.Stdin, os.Stdout)
		cancel()
		if serr := <-done; err == nil {
			err = serr
		}
		if err != nil {
			log.Fatal(err)
		}
	}
}

// runServer serves the chat on ln until ctx ends.
func runServer(ctx context.Context, ln net.Listener) error {
	var mu sync.Mutex
	nicks := make(map[proto.ClientID]string)
	nickOf := func(id proto.ClientID) string {
		mu.Lock()
		defer mu.Unlock()
		return nicks[id]
	}
	var srv *gorilla.Server
	mux := adapters.NewMux()
	adapters.HandleEvent(mux, "say", func(ctx context.Context, m adapters.Message, s Say, err error) {
		if err != nil {
			log.Printf("bad message from %s: %v", m.Client, err)
			return
		}
		// Only a member speaks in a room.
		if members, err := srv.Members(ctx, s.Room); err != nil || !slices.Contains(members, m.Client) {
			log.Printf("%s is not in %q", m.Client, s.Room)
			return
		}
		line := Line{From: nickOf(m.Client), Text: s.Text}
		if err := adapters.BroadcastEvent(ctx, srv.Server, s.Room, "line", line); err != nil {
			log.Printf("broadcast to %s: %v", s.Room, err)
		}
	})
	adapters.HandleMethod(mux, "who", func(ctx context.Context, r adapters.Request, w Who) ([]string, error) {
		ids, err := srv.Members(ctx, w.Room)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(ids))
		for _, id := range ids {
			names = append(names, nickOf(id))
		}
		slices.Sort(names)
		return names, nil
	})
	srv = gorilla.NewServer(adapters.ServerOptions{
		Session: session.ServerConfig{
			// Anyone may join any room whose name is a plain word.
			AllowRoom: func(r session.RoomRequest) bool {
				return !strings.ContainsAny(r.Room, " \t/")
			},
		},
		Mux: mux,
		OnEvent: func(ctx context.Context, ev session.Event) {
			switch ev := ev.(type) {
			case *session.SessionStarted:
				mu.Lock()
				nicks[ev.Client] = string(ev.Auth)
				mu.Unlock()
			case *session.SessionClosed:
				mu.Lock()
				delete(nicks, ev.Client)
				mu.Unlock()
			}
		},
	})
	hmux := http.NewServeMux()
	hmux.Handle("/chat", srv)
	hs := &http.Server{Handler: hmux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	<-ctx.Done()
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(closeCtx)
	err := srv.Close(closeCtx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// runClient connects as nick and chats on in and out until in ends, /quit
// or ctx ends.
func runClient(ctx context.Context, url, nick string, in io.Reader, out io.Writer) error {
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	mux := adapters.NewMux()
	adapters.HandleEvent(mux, "line", func(_ context.Context, m adapters.Message, l Line, err error) {
		if err != nil {
			say("(unreadable message: %v)", err)
			return
		}
		say("[%s] %s: %s", m.Room, l.From, l.Text)
	})
	c, err := gorilla.Dial(ctx, url, adapters.ClientOptions{
		Session: session.ClientConfig{Auth: []byte(nick)},
		Mux:     mux,
		OnEvent: func(_ context.Context, ev session.Event) {
			switch ev := ev.(type) {
			case *session.ConnectionLost:
				say("(connection lost: %v; reconnecting)", ev.Err)
			case *session.Resumed:
				say("(reconnected; nothing was lost)")
			case *session.ConnectFailed:
				say("(reconnect attempt %d failed: %v)", ev.Attempt, ev.Err)
			case *session.SessionLost:
				say("(session lost; %d messages not acknowledged: the server may or may not have them)", len(ev.Lost.Unacked))
			case *session.RoomsRejoined:
				say("(back in %s)", strings.Join(ev.Rejoined, ", "))
				for _, r := range ev.Refused {
					say("(could not rejoin %s: %v)", r.Room, r.Err)
				}
			}
		},
	})
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	room := "lobby"
	if err := c.Join(ctx, room); err != nil {
		return err
	}
	say("you are %s in %s; /join ROOM, /leave ROOM, /who, /quit", nick, room)

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-ctx.Done():
			return nil
		case <-c.Done():
			return c.Err()
		}
		if !ok {
			return nil
		}
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch cmd {
		case "":
		case "/quit":
			return nil
		case "/join":
			if err := c.Join(ctx, arg); err != nil {
				say("(cannot join %q: %v)", arg, err)
				continue
			}
			room = arg
			say("(now in %s)", room)
		case "/leave":
			if err := c.Leave(ctx, arg); err != nil {
				say("(cannot leave %q: %v)", arg, err)
			}
		case "/who":
			names, err := adapters.Invoke[Who, []string](ctx, c, "who", Who{Room: room})
			if err != nil {
				say("(who: %v)", err)
				continue
			}
			say("in %s: %s", room, strings.Join(names, ", "))
		default:
			if err := adapters.Emit(ctx, c, "say", Say{Room: room, Text: line}); err != nil {
				say("(not sent: %v)", err)
			}
		}
	}
}
