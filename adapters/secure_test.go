package adapters

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bettersocket/bettersocket/codec/secure"
)

// TestSecureOptionsValidated: a client with incomplete keys fails Dial
// before dialling; a server with them panics in NewServer, naming the
// option.
func TestSecureOptionsValidated(t *testing.T) {
	dial := func(context.Context) (Conn, error) {
		t.Fatal("dialled with an invalid configuration")
		return nil, nil
	}
	_, err := Dial(context.Background(), dial, ClientOptions{Secure: secure.Config{Mode: secure.ServerKey}})
	if !errors.Is(err, secure.ErrConfig) {
		t.Fatalf("Dial: %v, want secure.ErrConfig", err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "ServerOptions.Secure") {
			t.Fatalf("NewServer: recovered %v", r)
		}
	}()
	NewServer(ServerOptions{Secure: secure.Config{Mode: secure.Mutual}})
}
