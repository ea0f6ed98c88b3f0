package metrics

import (
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/bettersocket/bettersocket/session"
)

type fixed session.Stats

func (f *fixed) Stats() session.Stats { return session.Stats(*f) }

// gather collects c once and returns each metric's value by name.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			out[f.GetName()] = value(f.GetType(), m)
		}
	}
	return out
}

func value(kind dto.MetricType, m *dto.Metric) float64 {
	if kind == dto.MetricType_COUNTER {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// Every field of session.Stats is exported by exactly one metric, and
// every metric reads exactly one field: set one field at a time and see
// which metric moves.
func TestEveryStatsFieldIsOneMetric(t *testing.T) {
	typ := reflect.TypeFor[session.Stats]()
	if typ.NumField() != len(table) {
		t.Errorf("session.Stats has %d fields, the table %d metrics: a field is missing or counted twice", typ.NumField(), len(table))
	}
	owner := map[string]string{}
	for i := range typ.NumField() {
		var st fixed
		f := reflect.ValueOf(&st).Elem().Field(i)
		if f.CanUint() {
			f.SetUint(7)
		} else {
			f.SetInt(7)
		}
		var moved []string
		for name, v := range gather(t, New(&st, Options{})) {
			if v != 0 {
				moved = append(moved, name)
			}
		}
		field := typ.Field(i).Name
		if len(moved) != 1 {
			t.Errorf("Stats.%s = 7 moves metrics %v, want exactly one", field, moved)
			continue
		}
		if prev, dup := owner[moved[0]]; dup {
			t.Errorf("%s reads both Stats.%s and Stats.%s", moved[0], prev, field)
		}
		owner[moved[0]] = field
	}
}

// The exposition of a server's figures, names and kinds as documented.
func TestExposition(t *testing.T) {
	st := fixed{Sessions: 3, Detached: 1, Connections: 2, SessionsStarted: 5, Resumes: 4, SessionsLost: 1,
		Sent: 100, Delivered: 90, Retransmits: 6, DuplicatesDropped: 2, RequestTimeouts: 1, ProtocolErrors: 1,
		BytesIn: 4096, BytesOut: 8192, MessagesIn: 40, MessagesOut: 80}
	c := New(&st, Options{Subsystem: "server", ConstLabels: prometheus.Labels{"app": "chat"}})
	want := `
# HELP bettersocket_server_sessions Live sessions (server: attached and detached; client: 0 or 1).
# TYPE bettersocket_server_sessions gauge
bettersocket_server_sessions{app="chat"} 3
# HELP bettersocket_server_sessions_detached Server sessions waiting for a resume.
# TYPE bettersocket_server_sessions_detached gauge
bettersocket_server_sessions_detached{app="chat"} 1
# HELP bettersocket_server_resumes_total Sessions resumed on a new connection.
# TYPE bettersocket_server_resumes_total counter
bettersocket_server_resumes_total{app="chat"} 4
# HELP bettersocket_server_transport_sent_bytes_total Transport bytes handed to the transport.
# TYPE bettersocket_server_transport_sent_bytes_total counter
bettersocket_server_transport_sent_bytes_total{app="chat"} 8192
`
	names := []string{"bettersocket_server_sessions", "bettersocket_server_sessions_detached",
		"bettersocket_server_resumes_total", "bettersocket_server_transport_sent_bytes_total"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c); n != len(table) {
		t.Fatalf("%d metrics collected, want %d", n, len(table))
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}
