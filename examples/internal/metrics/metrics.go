// Package metrics serves the kafkaes Prometheus metrics of the examples on
// an HTTP address (the -metrics-addr flag).
package metrics

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	kprom "github.com/kafkaes/kafkaes/eventstore/observe/prometheus"
)

// Server serves /metrics: the kafkaes metrics of its Collector plus the Go
// runtime and process metrics.
type Server struct {
	// Collector is the observer to give every kafkaes component.
	Collector *kprom.Collector
	// URL is the address of the metrics page, for example
	// http://127.0.0.1:9464/metrics.
	URL string
	srv *http.Server
}

// Start listens on addr (host:port; port 0 picks a free one) and serves
// the metrics until Close.
func Start(addr string) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	col, err := kprom.NewCollector(reg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w (pass another -metrics-addr)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s := &Server{Collector: col, URL: "http://" + ln.Addr().String() + "/metrics",
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }() // returns http.ErrServerClosed on Close
	return s, nil
}

// Close stops serving.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// Hold tells w where the metrics are and keeps serving them until ctx is
// done (Ctrl-C), so that they can be looked at after an example's
// scenario.
func (s *Server) Hold(ctx context.Context, w io.Writer) {
	fmt.Fprintf(w, "\nserving metrics at %s; Ctrl-C to stop\n", s.URL)
	<-ctx.Done()
}

// Scrape returns the metrics page as a scraper sees it.
func (s *Server) Scrape() (string, error) {
	resp, err := http.Get(s.URL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}
