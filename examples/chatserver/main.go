// Command chatserver is a chat server with rooms, token authentication, two
// RPC methods and graceful shutdown, importing only adapters and one
// transport. Clients join rooms with Client.Join, talk with
// adapters.Publish(ctx, c, room, "chat", text), and call "whoami" and "who".
package main

import (
	"context"
	"errors"
	"log"
	"net"
	"os/signal"
	"syscall"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
)

// tokens maps credentials to users; a real server asks its account store.
var tokens = map[string]string{"alice-token": "alice", "bob-token": "bob"}

// newServer builds the chat hub: any user may join any room and publish to
// the rooms it is in.
func newServer() *gorilla.Server {
	mux := adapters.NewMux()
	adapters.HandleMethod(mux, "whoami", func(ctx context.Context, r adapters.Request, _ struct{}) (string, error) {
		return r.Identity.User, nil
	})
	adapters.HandleMethod(mux, "who", func(ctx context.Context, r adapters.Request, room string) ([]string, error) {
		srv := adapters.ServerFrom(ctx)
		ids, err := srv.Members(ctx, room)
		users := []string{}
		for _, id := range ids {
			if who, ok := srv.Identity(id); ok {
				users = append(users, who.User)
			}
		}
		return users, err
	})
	return gorilla.NewServer(adapters.ServerOptions{
		Mux:     mux,
		Session: adapters.ServerConfig{AllowRoom: func(adapters.RoomRequest) bool { return true }},
		Authenticate: func(ctx context.Context, r adapters.AuthRequest) (adapters.Identity, error) {
			if user, ok := tokens[string(r.Auth)]; ok {
				return adapters.Identity{User: user}, nil
			}
			return adapters.Identity{}, errors.New("unknown token")
		},
	})
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", "localhost:8080")
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("chat server on ws://%s", ln.Addr())
	// Run serves until ctx ends (SIGINT, SIGTERM), then shuts down
	// gracefully: clients told, connections flushed, handlers finished.
	if err := newServer().Run(ctx, ln); err != nil {
		log.Fatal(err)
	}
}
