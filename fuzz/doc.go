// Package fuzz holds the native Go fuzz targets of better-socket: every
// decoder and every machine entry point is fed hostile input, and each
// target checks the guarantees that apply (DESIGN.md G1–G6, above all G4
// "bounded" and G6 "hostile input is harmless"). The package has no API;
// everything is in its _test.go files and uses only the exported API of the
// packages under test.
//
// # Targets
//
//	FuzzDecode         codec: arbitrary bytes as one transport message. Errors are
//	                   typed (*codec.DecodeError, one sentinel kind); decoded frames
//	                   are valid, hold no more bytes than the message, and survive
//	                   encode/decode (reflect.DeepEqual after codec.Clone); the
//	                   re-encoded message is a fixed point; codec.Decode agrees with
//	                   the Decoder; a limit below the length refuses before reading.
//	FuzzClient         session.Client, brought by a real server to one of eight
//	                   states (handshake, open, traffic, resuming, closing, idle,
//	                   closed, resumed; stream or datagram), then a program of raw
//	                   messages, crafted frames (WELCOMEs that reuse IDs and tokens
//	                   seen earlier), time, transport events and commands. No error
//	                   for peer input; exactly-once in-order delivery per session,
//	                   one outcome per request, well-formed loss reports, at most one
//	                   Closed and nothing after it; transmitted messages decode, fit
//	                   the peer's limit, and are bounded per Ready.
//	FuzzServer         session.Server with two honest clients on perfect links and up
//	                   to 32 attacker connections sending raw bytes and crafted frames
//	                   (HELLOs presenting the honest sessions' IDs with guessed tokens
//	                   or tokens of the attackers' own sessions, floods, frames out of
//	                   order). The honest sessions are never closed, detached or
//	                   resumed by anyone else, and deliver exactly once both ways;
//	                   every event names a live session; Stats match the open
//	                   connections and sessions and stay within MaxSessions.
//	FuzzSecure         codec/secure: an established server-side layer fed the honest
//	                   client's sealed records replayed, reordered, changed, cut,
//	                   joined or replaced by arbitrary bytes, and a layer still in
//	                   its handshake fed arbitrary bytes. Only records the client
//	                   sealed are accepted, each at most once; every refusal wraps
//	                   exactly one sentinel error.
//	FuzzNetconnReader  adapters/netconn's length-prefixed reader. Messages within the
//	                   limit, re-framing gives back the stream, errors are io.EOF,
//	                   io.ErrUnexpectedEOF or codec.ErrTooLarge exactly when they
//	                   should be, and a 4 GiB length prefix allocates only what
//	                   arrives.
//	FuzzSim            the simulator's property run (swarm options, workload, fault
//	                   schedule) drawn by rapid from the fuzz input (rapid.MakeFuzz),
//	                   so coverage guidance explores fault schedules; the sim oracle
//	                   checks G1–G4 after every step and liveness at the end.
//
// The machine targets read their input as a small program (script_test.go):
// an op byte and its operands, with reads past the end giving zeros, so
// every byte string is a valid program. TestChecksCatchBrokenMachines proves
// the checks are not vacuous: machines with internal/breakage bugs fail them.
//
// The memory checks (memory_test.go) are ordinary tests: frame headers and
// length prefixes claiming 4 GiB, HELLO floods on one connection and on many,
// and 10,000 half-open connections, each with a measured heap bound. Run
// them with -v to see the numbers:
//
//	go test ./fuzz -run=TestMemory -v
//
// # Running for hours
//
// One target at a time; -parallel is the number of worker processes (cores):
//
//	go test ./fuzz -run=NONE -fuzz='^FuzzDecode$' -fuzztime=2h -parallel=N
//	go test ./fuzz -run=NONE -fuzz='^FuzzClient$' -fuzztime=2h -parallel=N -fuzzminimizetime=5s
//	go test ./fuzz -run=NONE -fuzz='^FuzzServer$' -fuzztime=2h -parallel=N -fuzzminimizetime=5s
//	go test ./fuzz -run=NONE -fuzz='^FuzzNetconnReader$' -fuzztime=2h -parallel=N
//	go test ./fuzz -run=NONE -fuzz='^FuzzSim$' -fuzztime=2h -parallel=N -fuzzminimizetime=1x
//
// Go minimizes every new interesting input for up to a minute by default,
// and counts no executions meanwhile; the machine targets' programs are long,
// so a shorter -fuzzminimizetime keeps the fuzzer fuzzing. FuzzSim's inputs
// are rapid bit streams that minimization cannot shorten usefully: 1x.
// What the fuzzer learns is kept in the build cache ($(go env GOCACHE)/fuzz)
// and picked up by the next run.
//
// # Crashers become regressions
//
// A failing input is written to testdata/fuzz/<Target>/<hash> and from then on
// replays under plain go test ./..., like every file there. To debug it,
// replay it with a trace of every step of the machines:
//
//	go test ./fuzz -run='FuzzServer/<hash>' -v -args -trace
//
// Fix the bug (or, if the check was wrong, the check), keep the file, and
// commit it with the fix: it is the regression test.
//
// # Seeds
//
// The seed-* files under testdata/fuzz are generated from real conversations
// between client and server machines (handshake, messages, requests, rooms,
// broadcasts, heartbeats, resume, close, kick, impersonation attempts,
// floods): every message a real server sends becomes a raw-message operation
// of exactly those bytes, every message of a real client on an attacker
// connection likewise, and each program is checked to replay its
// conversation exactly. Regenerate them after a wire or behaviour change:
//
//	go test ./fuzz -run=TestWriteCorpus -write-corpus
package fuzz
