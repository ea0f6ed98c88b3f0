package secure_test

import (
	"crypto/rand"
	"fmt"

	"github.com/bettersocket/bettersocket/codec/secure"
)

// Keys are generated once and kept as text, in configuration files or
// secret stores.
func ExampleGenerateKeyPair() {
	kp, err := secure.GenerateKeyPair(rand.Reader)
	if err != nil {
		panic(err)
	}
	private, _ := kp.Private.MarshalText() // secret: String() would print "redacted"
	public := kp.Public.String()           // give this to clients to pin

	back, err := secure.ParsePrivateKey(string(private))
	fmt.Println(len(private), len(public), back == kp, err)
	// Output: 44 44 true <nil>
}

// The layer is sans-I/O: bytes in, bytes out. A machine (session.Client,
// session.Server) drives it; this is what it does for one connection.
func ExampleConn() {
	server, _ := secure.GenerateKeyPair(rand.Reader)
	client, _ := secure.GenerateKeyPair(rand.Reader)
	c, _ := secure.NewConn(&secure.Config{Mode: secure.Mutual, ServerKey: server.Public, Static: client}, false, rand.Reader)
	s, _ := secure.NewConn(&secure.Config{Mode: secure.Mutual, Static: server}, true, rand.Reader)

	msg1, _ := c.Start()               // client → server
	_, msg2, _, _ := s.Read(nil, msg1) // server → client
	_, msg3, _, _ := c.Read(nil, msg2) // client → server: the client is done
	_, _, _, err := s.Read(nil, msg3)  // the server is done
	sealed, _ := c.Seal(nil, []byte("HELLO"))
	plain, _, _, _ := s.Read(nil, sealed)
	fmt.Println(err, string(plain), s.PeerKey() == client.Public)
	// Output: <nil> HELLO true
}
