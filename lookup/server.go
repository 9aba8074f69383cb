package lookup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice/internal/instrument"
	"github.com/sluicehq/sluice/internal/jsonhttp"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/topology"
)

// ErrNoTables is returned by [New] when it is given no table to serve.
var ErrNoTables = errors.New("lookup: no tables to serve")

// ErrRunning is returned by [Server.Run] while another call to it runs.
var ErrRunning = errors.New("lookup: server already running")

// DefaultStaleAfter is how long a view may go without hearing from the broker
// before /readyz calls the service "stale" (serving, possibly stale), unless
// [StaleAfter] says otherwise.
const DefaultStaleAfter = 5 * time.Second

// An Option configures [New].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	views      []topology.Option
	registry   *metrics.Registry
	staleAfter time.Duration
}

// Views sets the options of the views the server reads the tables through:
// [topology.Brokers] (required), [topology.DataDir] (each view keeps its copy
// in DataDir/views/TABLE; replicas need one each), [topology.KafkaConfig],
// [topology.ExactlyOnce] (for tables of agents in that mode) and
// [topology.WithLogger]. Options of several calls add up.
func Views(opts ...topology.Option) Option {
	return optionFunc(func(c *config) { c.views = append(c.views, opts...) })
}

// Registry sets the metrics registry the server records into and serves on
// /metrics, overriding the default: a registry of the server's own.
func Registry(r *metrics.Registry) Option {
	return optionFunc(func(c *config) {
		if r != nil {
			c.registry = r
		}
	})
}

// StaleAfter sets how long a view may go without hearing from the broker
// before /readyz reports "stale", overriding [DefaultStaleAfter].
func StaleAfter(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.staleAfter = d
		}
	})
}

// Server answers lookups of some tables of a graph from views of them; see
// the package documentation for its routes. Build it with [New]; it answers
// while [Server.Run] runs. Safe for concurrent use.
type Server struct {
	tables     []*table
	byName     map[string]*table
	features   *table // the one table of feature vectors served, if any
	mux        *http.ServeMux
	registry   *metrics.Registry
	staleAfter time.Duration
	running    atomic.Bool
}

// table is one served table.
type table struct {
	name  string
	view  *topology.View[[]byte] // its values as the table holds them
	codec topology.Codec[any]    // decodes them
	m     *instrument.Lookup
	// jsonVectors: the table holds featurestore vectors in topology.JSON
	jsonVectors bool
}

// storedBytes is the codec of the server's views: values as the table holds
// them. Decode keeps the slice it is given, which a view reads afresh for
// every Get (topology.Bytes would copy it once more, a copy of every value
// on every lookup).
type storedBytes struct{}

func (storedBytes) Encode(v []byte) ([]byte, error) { return v, nil }
func (storedBytes) Decode(b []byte) ([]byte, error) { return b, nil }

// entry returns the value of key, decoded, as [topology.View.Entry] does.
func (t *table) entry(key string) (topology.Entry[any], bool, error) {
	e, ok, err := t.view.Entry(key)
	if err != nil || !ok {
		return topology.Entry[any]{}, ok, err
	}
	v, err := t.codec.Decode(e.Value)
	if err != nil {
		return topology.Entry[any]{}, false, &topology.DecodeError{Topic: t.name, Partition: -1, Offset: -1, Err: err}
	}
	return topology.Entry[any]{Value: v, AsOf: e.AsOf}, true, nil
}

// New returns a server for the tables of g named tables (see
// [topology.Graph.Tables]), each read through a view built with the options
// of [Views]. It validates and does not dial: [Server.Run] connects. It fails
// with [ErrNoTables], with an error wrapping [topology.ErrUnknownTopic] for a
// name g has no table of, and with the errors of [topology.NewView]
// (topology.ErrNoBrokers without [topology.Brokers]).
func New(g *topology.Graph, tables []string, opts ...Option) (*Server, error) {
	c := config{staleAfter: DefaultStaleAfter}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if len(tables) == 0 {
		return nil, ErrNoTables
	}
	if c.registry == nil {
		c.registry = metrics.New()
	}
	s := &Server{byName: map[string]*table{}, registry: c.registry, staleAfter: c.staleAfter}
	var features []*table
	for _, name := range tables {
		if s.byName[name] != nil {
			continue
		}
		tbl, err := topology.AnyTable(g, name)
		if err != nil {
			return nil, fmt.Errorf("lookup: %w", err)
		}
		raw := topology.Table[[]byte]{Name: tbl.Name, Codec: storedBytes{}, Partitions: tbl.Partitions}
		v, err := topology.NewView(raw, c.views...)
		if err != nil {
			return nil, fmt.Errorf("lookup: %w", err)
		}
		t := &table{name: name, view: v, codec: tbl.Codec, m: instrument.Of(c.registry).Lookup(name)}
		s.tables = append(s.tables, t)
		s.byName[name] = t
		if vt, err := topology.TableOf[featurestore.Vector](g, name); err == nil {
			features = append(features, t)
			t.jsonVectors = vt.Codec == topology.JSON[featurestore.Vector]()
		}
	}
	if len(features) == 1 {
		s.features = features[0]
	}
	s.routes()
	return s, nil
}

// Tables returns the names of the tables s serves.
func (s *Server) Tables() []string {
	names := make([]string, len(s.tables))
	for i, t := range s.tables {
		names[i] = t.name
	}
	return names
}

// Features returns the table GET /features/{entity} reads: the one served
// table of featurestore vectors, "" if there is none or more than one.
func (s *Server) Features() string {
	if s.features == nil {
		return ""
	}
	return s.features.name
}

// Run runs the views until ctx is done, and returns nil then. A view on a
// copy that recovered in an earlier run answers from it at once, also while
// no broker answers. If a view fails (its table's topic is missing, the
// broker refused the credentials or certificate, no broker answered when a
// view without a recovered copy started, its storage failed), Run stops the
// others and returns the first error.
// Every view has stopped when Run returns. Run fails with [ErrRunning] while
// another call runs; after one returned it may be called again, and the views
// resume from their copies.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	for _, t := range s.tables {
		t.m.SetView(func() instrument.ViewState {
			f := t.view.Freshness()
			return instrument.ViewState{Recovered: f.Recovered, Age: f.Age(time.Now()), Lag: f.Lag}
		})
		defer t.m.SetView(nil)
	}
	eg, ctx := errgroup.WithContext(ctx)
	for _, t := range s.tables {
		eg.Go(func() error { return t.view.Run(ctx) })
	}
	return eg.Wait()
}

// Ready reports whether every view has recovered: the server answers every
// lookup from its copies.
func (s *Server) Ready() bool {
	for _, t := range s.tables {
		if !t.view.Recovered() {
			return false
		}
	}
	return true
}

// HasCopies reports whether every view's local storage holds a copy that
// recovered in an earlier run (see [topology.View.HasCopy]): [Server.Run]
// answers every lookup from them at once, also while no broker answers.
func (s *Server) HasCopies() bool {
	for _, t := range s.tables {
		if !t.view.HasCopy() {
			return false
		}
	}
	return true
}

// ServeHTTP answers the routes of the package documentation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /tables/{table}/{key}", s.tableRoute(false, s.get))
	s.mux.HandleFunc("POST /tables/{table}", s.tableRoute(true, s.batch))
	s.mux.HandleFunc("GET /tables", s.list)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.registry.Handler())
	if s.features != nil {
		var r featurestore.Reader = vectors{s.features}
		if s.features.jsonVectors {
			r = jsonVectors{vectors{s.features}}
		}
		fs := featurestore.Handler(r)
		s.mux.Handle("GET /features/{entity}", s.observe(s.features, false, fs.ServeHTTP))
		s.mux.Handle("POST /features", s.observe(s.features, true, fs.ServeHTTP))
	}
}

// tableRoute returns the handler of a route with a {table} wildcard: it
// answers 404 for a table s does not serve, and calls h for one it does,
// observed as [Server.observe] does.
func (s *Server) tableRoute(batch bool, h func(t *table, w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := s.byName[r.PathValue("table")]
		if t == nil {
			jsonhttp.Error(w, http.StatusNotFound, fmt.Sprintf("table %q is not served here: ask for one of %q", r.PathValue("table"), s.Tables()))
			return
		}
		s.observe(t, batch, func(w http.ResponseWriter, r *http.Request) { h(t, w, r) })(w, r)
	}
}

// observe wraps h, an answer from t's view: it sets the freshness headers and
// records the request in t's metrics.
func (s *Server) observe(t *table, batch bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		setFreshness(w.Header(), t.view.Freshness(), start)
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		t.m.Request(batch, sw.code, time.Since(start))
	}
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// vectors reads a table of feature vectors for featurestore.Handler,
// counting each key read in the table's metrics.
type vectors struct{ t *table }

func (v vectors) Recovered() bool { return v.t.view.Recovered() }

func (v vectors) Get(entity string) (featurestore.Vector, bool, error) {
	e, ok, err := v.Entry(entity)
	return e.Value, ok, err
}

func (v vectors) Entry(entity string) (topology.Entry[featurestore.Vector], bool, error) {
	e, ok, err := v.t.entry(entity)
	v.t.count(ok, err)
	if err != nil || !ok {
		return topology.Entry[featurestore.Vector]{}, ok, err
	}
	vec, isVec := e.Value.(featurestore.Vector)
	if !isVec { // unreachable: New checked the table's codec
		return topology.Entry[featurestore.Vector]{}, false, fmt.Errorf("lookup: table %q holds %T, not feature vectors", v.t.name, e.Value)
	}
	return topology.Entry[featurestore.Vector]{Value: vec, AsOf: e.AsOf}, true, nil
}

// jsonVectors reads a table of feature vectors in topology.JSON, also as
// the table holds them, which featurestore.Handler answers from without
// decoding them.
type jsonVectors struct{ vectors }

func (v jsonVectors) RawEntry(entity string) (topology.Entry[[]byte], bool, error) {
	e, ok, err := v.t.view.Entry(entity)
	v.t.count(ok, err)
	return e, ok, err
}

// count counts a key read with the outcome ok and err say, unless the view
// was not running (the request answers 503, counted as such).
func (t *table) count(ok bool, err error) {
	switch {
	case errors.Is(err, topology.ErrViewNotRunning):
	case err != nil:
		t.m.Key(instrument.Failed)
	case ok:
		t.m.Key(instrument.Found)
	default:
		t.m.Key(instrument.Missing)
	}
}

// sortedTables returns s's tables in name order.
func (s *Server) sortedTables() []*table {
	out := slices.Clone(s.tables)
	slices.SortFunc(out, func(a, b *table) int { return cmp.Compare(a.name, b.name) })
	return out
}
