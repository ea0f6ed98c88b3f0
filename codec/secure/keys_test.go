package secure

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestKeysText(t *testing.T) {
	kp := mustKeyPair(t, 9)
	pub, err := ParsePublicKey(kp.Public.String())
	if err != nil || pub != kp.Public {
		t.Fatalf("public key round trip: %v", err)
	}
	priv, _ := kp.Private.MarshalText()
	kp2, err := ParsePrivateKey(string(priv))
	if err != nil || kp2 != kp {
		t.Fatalf("private key round trip: %v", err)
	}
	psk, _ := GeneratePSK(seeded(3))
	text, _ := psk.MarshalText()
	psk2, err := ParsePSK(string(text))
	if err != nil || psk2 != psk {
		t.Fatalf("psk round trip: %v", err)
	}
	if len(kp.Public.String()) != 44 {
		t.Fatalf("public key text %q is not 44 characters", kp.Public)
	}
	// Secrets never print.
	for _, s := range []string{kp.Private.String(), psk.String(), fmt.Sprint(kp), fmt.Sprintf("%v", psk)} {
		if strings.Contains(s, string(priv)) || strings.Contains(s, string(text)) {
			t.Fatalf("a secret key prints: %s", s)
		}
	}
	// JSON configuration files hold the text form.
	b, _ := json.Marshal(struct{ Key PublicKey }{kp.Public})
	var back struct{ Key PublicKey }
	if err := json.Unmarshal(b, &back); err != nil || back.Key != kp.Public {
		t.Fatalf("json round trip: %s, %v", b, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 43), strings.Repeat("A", 43) + "!", kp.Public.String() + "A", strings.Repeat("A", 42) + "B="} {
		if _, err := ParsePublicKey(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParsePublicKey(%q) = %v, want ErrConfig", bad, err)
		}
	}
}

func TestGenerateKeyPairFailsWithoutRandomness(t *testing.T) {
	if _, err := GenerateKeyPair(strings.NewReader("short")); err == nil {
		t.Fatal("a key pair from 5 random bytes")
	}
	if _, err := GeneratePSK(strings.NewReader("short")); err == nil {
		t.Fatal("a psk from 5 random bytes")
	}
}
