// Package metrics exports a better-socket Server's or Client's counters to
// Prometheus. It is a package of its own so that an application that does
// not use Prometheus does not compile client_golang.
//
//	srv := gorilla.NewServer(opts)
//	prometheus.MustRegister(metrics.New(srv, metrics.Options{Subsystem: "server"}))
//
// Every scrape reads the source's Stats once (for a Server that takes the
// hub's lock briefly, as Stats does) and reports each field: live counts as
// gauges, running totals as counters with the _total suffix.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bettersocket/bettersocket/session"
)

// Source is what a collector reads: *adapters.Server and *adapters.Client
// (and the transports' servers and clients, which embed them) are Sources.
type Source interface {
	Stats() session.Stats
}

// Options name the metrics. The zero value gives names such as
// bettersocket_sessions and bettersocket_resumes_total.
type Options struct {
	// Namespace is the first part of every metric name; empty means
	// "bettersocket".
	Namespace string
	// Subsystem, when set, is the second part: "server" gives
	// bettersocket_server_sessions. Use it (or ConstLabels) to tell a
	// process's server and clients apart.
	Subsystem string
	// ConstLabels are added to every metric.
	ConstLabels prometheus.Labels
}

// metric is one field of session.Stats as Prometheus sees it.
type metric struct {
	name, help string
	kind       prometheus.ValueType
	value      func(*session.Stats) float64
}

// table lists every field of session.Stats; the package test fails when a
// field is missing from it.
var table = []metric{
	{"sessions", "Live sessions (server: attached and detached; client: 0 or 1).", prometheus.GaugeValue, func(s *session.Stats) float64 { return float64(s.Sessions) }},
	{"sessions_detached", "Server sessions waiting for a resume.", prometheus.GaugeValue, func(s *session.Stats) float64 { return float64(s.Detached) }},
	{"connections", "Open server connections, with or without a session.", prometheus.GaugeValue, func(s *session.Stats) float64 { return float64(s.Connections) }},
	{"sessions_started_total", "New sessions established.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.SessionsStarted) }},
	{"resumes_total", "Sessions resumed on a new connection.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.Resumes) }},
	{"sessions_lost_total", "Sessions that ended with something unacknowledged or a request pending, or were refused a resume.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.SessionsLost) }},
	{"sent_total", "Reliable frames (messages, requests, responses) queued by the application.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.Sent) }},
	{"delivered_total", "Reliable frames delivered to the application.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.Delivered) }},
	{"retransmits_total", "Reliable frames transmitted again.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.Retransmits) }},
	{"duplicates_dropped_total", "Reliable frames received more than once and dropped.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.DuplicatesDropped) }},
	{"reorder_dropped_total", "Early frames dropped because the reorder buffer was full (datagram transports).", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.ReorderDropped) }},
	{"late_responses_total", "Responses to unknown or finished requests, dropped.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.LateResponses) }},
	{"request_timeouts_total", "Requests that timed out.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.RequestTimeouts) }},
	{"protocol_errors_total", "Connections closed for a protocol violation.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.ProtocolErrors) }},
	{"records_dropped_total", "Encrypted records dropped: replayed, early or failing authentication (datagram transports).", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.RecordsDropped) }},
	{"throttled_total", "Server: connections or sessions refused or evicted by a per-source limit.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.Throttled) }},
	{"transport_received_bytes_total", "Transport bytes received.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.BytesIn) }},
	{"transport_sent_bytes_total", "Transport bytes handed to the transport.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.BytesOut) }},
	{"transport_received_messages_total", "Transport messages received.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.MessagesIn) }},
	{"transport_sent_messages_total", "Transport messages handed to the transport.", prometheus.CounterValue, func(s *session.Stats) float64 { return float64(s.MessagesOut) }},
}

type collector struct {
	src   Source
	descs []*prometheus.Desc
}

// New returns a collector of src's counters, to be registered with a
// prometheus.Registerer.
func New(src Source, opts Options) prometheus.Collector {
	ns := opts.Namespace
	if ns == "" {
		ns = "bettersocket"
	}
	c := &collector{src: src, descs: make([]*prometheus.Desc, len(table))}
	for i, m := range table {
		c.descs[i] = prometheus.NewDesc(prometheus.BuildFQName(ns, opts.Subsystem, m.name), m.help, nil, opts.ConstLabels)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one Stats read per scrape.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	for i, m := range table {
		ch <- prometheus.MustNewConstMetric(c.descs[i], m.kind, m.value(&st))
	}
}
