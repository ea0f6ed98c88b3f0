package metrics_test

import (
	"context"
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/metrics"
	"github.com/bettersocket/bettersocket/adapters/netconn"
)

// A server's counters on a Prometheus registry (serve it with promhttp).
func Example() {
	ctx := context.Background()
	srv := netconn.NewServer(adapters.ServerOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close(ctx)

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.New(srv, metrics.Options{Subsystem: "server"}))

	c, err := netconn.Dial(ctx, "tcp", ln.Addr().String(), adapters.ClientOptions{})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	n, err := testutil.GatherAndCount(reg, "bettersocket_server_sessions_started_total")
	fmt.Println(n, err)
	fams, _ := reg.Gather()
	for _, f := range fams {
		if f.GetName() == "bettersocket_server_sessions_started_total" {
			fmt.Println(f.GetName(), f.GetMetric()[0].GetCounter().GetValue())
		}
	}
	// Output:
	// 1 <nil>
	// bettersocket_server_sessions_started_total 1
}
