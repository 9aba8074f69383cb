package observe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/jsonhttp"
	"github.com/sluicehq/sluice/topology"
)

// shutdownTimeout bounds how long [Server.Serve] waits for requests in flight
// after its context is done.
const shutdownTimeout = 5 * time.Second

// Server serves the live page of one graph at /, the JSON it polls under
// /api/ and, with [Metrics], /metrics. It samples the broker's offsets in the
// background while [Server.Serve] runs; every request answers from the last
// sample, so many open pages cost the broker nothing more.
//
// The JSON endpoints: /api/topology (nodes and edges, laid out), /api/stats
// (a [Snapshot]), /api/lag (its rows), /api/tables (table names) and
// /api/lookup?table=T&key=K (a [Value]; 404 for a key without value, 400 for
// an unknown table).
//
// A Server is safe for concurrent use.
type Server struct {
	topo     *graphView
	decoders map[string]decoder
	tables   []string
	page     []byte
	c        config
	mux      *http.ServeMux

	ready chan struct{} // closed by the first SetBrokers
	once  sync.Once
	mu    struct {
		sync.Mutex
		brokers []string
		snap    Snapshot
		cl      *kgo.Client // set while Serve samples
	}
}

// NewServer returns a server for g; it does not
// dial. See [Brokers], [Interval], [Metrics] and [WithLogger].
func NewServer(g *topology.Graph, opts ...Option) (*Server, error) {
	t, err := readGraph(g)
	if err != nil {
		return nil, err
	}
	s := &Server{topo: t, decoders: tableDecoders(t.desc), tables: t.tables(), c: newConfig(opts), ready: make(chan struct{})}
	s.mu.snap = Snapshot{State: "waiting for the broker", Agents: map[string]AgentStats{}, Topics: map[string]int64{}}
	for _, v := range s.c.views {
		name, ok := strings.CutPrefix(v.Path, "/")
		name, ok2 := strings.CutSuffix(name, "/")
		if !ok || !ok2 || name == "" || strings.Contains(name, "/") || name == "api" || name == "static" || name == "metrics" || v.Handler == nil {
			return nil, fmt.Errorf("%w: path %q (want /NAME/, not /api/, /static/ or /metrics/) with a handler", ErrBadView, v.Path)
		}
	}
	if s.page, err = renderPage(t, s.c.interval, s.c.views); err != nil {
		return nil, err
	}
	if len(s.c.brokers) > 0 {
		s.SetBrokers(s.c.brokers)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.servePage)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(staticFS())))
	s.mux.HandleFunc("GET /api/topology", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.topo) })
	s.mux.HandleFunc("GET /api/stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Snapshot()) })
	s.mux.HandleFunc("GET /api/lag", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Snapshot().Lag) })
	s.mux.HandleFunc("GET /api/tables", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.tables) })
	s.mux.HandleFunc("GET /api/lookup", s.serveLookup)
	if s.c.metrics != nil {
		s.mux.Handle("/metrics", s.c.metrics)
	}
	for _, v := range s.c.views {
		s.mux.Handle(v.Path, v.Handler)
	}
	return s, nil
}

// SetBrokers sets the seed brokers to watch, if none were set: the first call
// wins. Call it from [topology.OnProvisioned] when the broker starts with the
// topology.
func (s *Server) SetBrokers(addrs []string) {
	s.once.Do(func() {
		s.mu.Lock()
		s.mu.brokers = slices.Clone(addrs)
		s.mu.Unlock()
		close(s.ready)
	})
}

// ServeHTTP serves the page and its API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Snapshot returns the last sample.
func (s *Server) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.snap
}

// ListenAndServe listens on addr ("host:port"; port 0 picks a free one) and
// calls [Server.Serve]. A port in use fails at once, wrapping
// syscall.EADDRINUSE.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("observe: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTP on ln and samples the broker every [Interval] until ctx
// is done, then stops taking connections, lets requests in flight finish
// (for up to 5 s) and returns nil. It closes ln. Every goroutine it started
// has exited when it returns. To mount the server in another HTTP server
// instead, serve it as a handler and call [Server.Run].
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.c.logger.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s.sampleUntil(sctx)
	}()
	var err error
	select {
	case <-ctx.Done():
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		err = hs.Shutdown(dctx)
		cancel()
		<-served
	case err = <-served: // the listener failed
		hs.Close()
	}
	stopSampling()
	<-sampled
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("observe: serve on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Run samples the broker's offsets every [Interval], once the brokers are
// known, until ctx is done; it returns nil then. [Server.Serve] calls it;
// call it yourself when you mount the server as a handler elsewhere. Run
// one at a time.
func (s *Server) Run(ctx context.Context) error {
	s.sampleUntil(ctx)
	return nil
}

// sampleUntil waits for the brokers, then samples every interval until ctx is
// done.
func (s *Server) sampleUntil(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-s.ready:
	}
	s.mu.Lock()
	brokers := s.mu.brokers
	s.mu.Unlock()
	opts, err := topology.ClientOptions(append(slices.Clone(s.c.conn), topology.Brokers(brokers...))...)
	var cl *kgo.Client
	if err == nil {
		cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		s.setSnapshot(Snapshot{State: "error", Error: err.Error()})
		return
	}
	defer cl.Close()
	s.mu.Lock()
	s.mu.cl = cl
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.mu.cl = nil
		s.mu.Unlock()
	}()

	history := map[string][]point{}
	tick := time.NewTicker(s.c.interval)
	defer tick.Stop()
	var lastErr string
	for {
		snap := sample(ctx, cl, s.topo, history)
		if ctx.Err() != nil {
			return
		}
		if snap.Error != lastErr {
			if snap.Error != "" {
				s.c.logger.Warn("observe: sampling offsets failed", "brokers", brokers, "error", snap.Error)
			}
			lastErr = snap.Error
		}
		s.setSnapshot(snap)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Server) setSnapshot(snap Snapshot) {
	s.mu.Lock()
	s.mu.snap = snap
	s.mu.Unlock()
}

func (s *Server) servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(s.page)
}

// serveLookup answers /api/lookup?table=T&key=K.
func (s *Server) serveLookup(w http.ResponseWriter, r *http.Request) {
	table, key := r.URL.Query().Get("table"), r.URL.Query().Get("key")
	if !slices.Contains(s.tables, table) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("table %q (the graph has %q): %w", table, s.tables, ErrUnknownTable))
		return
	}
	s.mu.Lock()
	cl := s.mu.cl
	s.mu.Unlock()
	if cl == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("not connected to the broker yet"))
		return
	}
	v, err := lookup(r.Context(), cl, table, s.decoders[table], key)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

// writeJSON answers v as JSON: the API's answers are live, never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	jsonhttp.Reply(w, status, v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, jsonhttp.ErrorBody{Error: err.Error()})
}
