// Package breakage holds the deliberate bugs that the simulator's oracle
// and the fuzz checks switch on in the session machines, to prove they
// catch them. It is internal so that the knobs are no part of the public
// configs: package session keeps them in an unexported field of
// session.LinkConfig, and Set (installed by session when it is loaded) is
// the only way in.
package breakage

// Bugs is a set of deliberate bugs. The zero value is a correct machine.
type Bugs struct {
	NoDedup            bool // deliver duplicate reliable frames again
	AckOffByOne        bool // acknowledge one frame more than received
	ResumeFromWrongSeq bool // on resume, resend from one frame too late
}

// Set switches b on in cfg, a *session.LinkConfig (pass &c.LinkConfig of a
// ClientConfig or ServerConfig). Package session installs it in its init,
// so it is set in every program that can name a session config; it panics
// on any other type.
var Set func(cfg any, b Bugs)

// Get returns the bugs set in cfg, a *session.LinkConfig. Installed by
// package session with Set.
var Get func(cfg any) Bugs
