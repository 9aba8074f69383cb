package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/topology"
)

// ErrBadConfig is returned by [Run] for a [Config] it cannot run.
var ErrBadConfig = errors.New("soak: bad configuration")

// Config configures [Run]. The zero values of the optional fields are the
// defaults of 'sluice-soak run'.
type Config struct {
	// Binary is the sluice-soak binary whose broker and agent commands run
	// the processes; default: the running executable.
	Binary string
	// Dir holds the broker's data, the agents' tables, the verifier's copies
	// and a log file per process (Dir/logs); required.
	Dir string
	// Records to send (at least 1) over Keys keys (default 100).
	Records int
	Keys    int
	Mode    Mode
	// Kills, BrokerBounces and Rebalances are the numbers of agent SIGKILLs,
	// broker SIGKILLs and instance additions or removals, in a random order.
	Kills, BrokerBounces, Rebalances int
	// Interval is the time between two faults the generator's rate is set
	// for (default 10 s): the generator writes Records over (faults+1) *
	// Interval, and fault i strikes when (i+1)/(faults+1) of the records are
	// acknowledged. Rate, if set, overrides the rate.
	Interval time.Duration
	Rate     float64
	// Seed seeds the choice of faults and victims; 0 picks one (logged).
	Seed uint64
	// DurationCap bounds the whole run (default 10 min). When the output has
	// not caught up a minute before it, the verifier runs anyway.
	DurationCap time.Duration
	// Logger logs the run's progress and faults; Out receives the verifier's
	// details. Both default to discarding.
	Logger *slog.Logger
	Out    io.Writer
	// AgentArgs are added to the command line of every agent instance, for
	// diagnosis (e.g. --rebalance-timeout=10s).
	AgentArgs []string
	// ClientLog makes the agents log what their Kafka client does (sarama's
	// log: retries, reconnections) to their log files.
	ClientLog bool
}

// verifyReserve is the part of DurationCap kept for stopping and verifying.
const verifyReserve = time.Minute

// stopTimeout bounds a graceful stop of one process.
const stopTimeout = 60 * time.Second

func (c *Config) defaults() error {
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("%w: no binary given and the running one is unknown: %v", ErrBadConfig, err)
		}
		c.Binary = exe
	}
	if c.Keys == 0 {
		c.Keys = 100
	}
	if c.Interval == 0 {
		c.Interval = 10 * time.Second
	}
	if c.DurationCap == 0 {
		c.DurationCap = 10 * time.Minute
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: no work directory", ErrBadConfig)
	case c.Records < 1 || c.Keys < 1:
		return fmt.Errorf("%w: records %d and keys %d, want at least 1 each", ErrBadConfig, c.Records, c.Keys)
	case c.Kills < 0 || c.BrokerBounces < 0 || c.Rebalances < 0:
		return fmt.Errorf("%w: negative number of faults", ErrBadConfig)
	case c.Interval < 0 || c.Rate < 0:
		return fmt.Errorf("%w: negative interval or rate", ErrBadConfig)
	case c.DurationCap <= verifyReserve:
		return fmt.Errorf("%w: duration cap %v, want more than %v", ErrBadConfig, c.DurationCap, verifyReserve)
	}
	if c.Mode == ExactlyOnce && !ExactlyOnceAvailable() {
		return fmt.Errorf("mode %s: %w", c.Mode, ErrNoExactlyOnce)
	}
	return nil
}

// fault is one kind of fault the orchestrator injects.
type fault int

const (
	faultKill fault = iota
	faultBounce
	faultRebalance
)

// run is the state of one soak run, owned by the goroutine of [Run].
type run struct {
	cfg     Config
	log     *slog.Logger
	rnd     *rand.Rand
	addr    string
	broker  *proc
	agents  map[string][]*proc // running instances by agent
	next    int                // number of the next new instance
	report  Report
	crashes []string // processes that exited unasked
}

// Run runs the soak described by cfg (see the package documentation) and
// returns its report. It returns an error if the run could not be carried
// out (a process would not start, the broker did not come back, ctx was
// cancelled) or a process exited without being told to; a report that breaks
// its mode's promise is not an error, see [Report.Failed].
func Run(ctx context.Context, cfg Config) (Report, error) {
	begin := time.Now()
	if err := cfg.defaults(); err != nil {
		return Report{}, err
	}
	r := &run{cfg: cfg, log: cfg.Logger, rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed)), agents: map[string][]*proc{}}
	r.report.Mode = cfg.Mode
	ctx, cancel := context.WithDeadline(ctx, begin.Add(cfg.DurationCap))
	defer cancel()
	defer r.killAll()

	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return Report{}, err
	}
	port, err := freePort()
	if err != nil {
		return Report{}, err
	}
	r.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := r.startBroker(ctx); err != nil {
		return Report{}, err
	}
	brokers := []string{r.addr}
	if err := provision(ctx, brokers); err != nil {
		return Report{}, err
	}
	for _, a := range Agents() {
		for range 2 {
			if err := r.addInstance(a); err != nil {
				return Report{}, err
			}
		}
	}

	faults := r.schedule()
	rate := cfg.Rate
	if rate == 0 {
		rate = float64(cfg.Records) / (float64(len(faults)+1) * cfg.Interval.Seconds())
	}
	r.log.Info("soak starting", "records", cfg.Records, "keys", cfg.Keys, "rate", int(rate), "faults", len(faults),
		"mode", cfg.Mode, "seed", cfg.Seed, "broker", r.addr, "dir", cfg.Dir)
	gen, err := NewGenerator(GeneratorConfig{Brokers: brokers, Records: cfg.Records, Keys: cfg.Keys, Rate: rate, Logger: r.log})
	if err != nil {
		return Report{}, err
	}
	defer gen.Close()
	tl, err := newTail(brokers)
	if err != nil {
		return Report{}, err
	}
	tctx, stopTail := context.WithCancel(ctx)
	tailDone := make(chan struct{})
	go func() { defer close(tailDone); tl.run(tctx) }()
	defer func() { stopTail(); <-tailDone }()
	genDone := make(chan error, 1) // gen.Run's outcome
	genExited := make(chan struct{})
	gctx, stopGen := context.WithCancel(ctx)
	go func() {
		defer close(genExited)
		genDone <- gen.Run(gctx)
	}()
	defer func() { stopGen(); <-genExited }() // before gen.Close

	// Faults, each when its share of the records is acknowledged.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var genErr error
	generating := true
	for i := 0; generating || i < len(faults); {
		select {
		case <-ctx.Done():
			return Report{}, fmt.Errorf("soak: %w while sending (%d of %d records acknowledged, %d of %d faults done)", ctx.Err(), gen.Acked(), cfg.Records, i, len(faults))
		case genErr = <-genDone:
			generating = false
			r.log.Info("generator done", "acknowledged", gen.Acked(), "error", genErr)
			continue
		case <-tick.C:
		}
		if err := r.restartCrashed(ctx); err != nil {
			return Report{}, err
		}
		if i < len(faults) && (!generating || gen.Acked() >= cfg.Records*(i+1)/(len(faults)+1)) {
			if err := r.inject(ctx, faults[i]); err != nil {
				return Report{}, err
			}
			i++
		}
	}
	if genErr != nil {
		r.log.Warn("generator: some writes failed; they do not count as sent", "error", genErr)
	}

	// Catch-up: every record sent out of the chain, or the deadline.
	sent := gen.Sent()
	catchUp := begin.Add(cfg.DurationCap - verifyReserve)
	last := time.Now()
	tick.Reset(250 * time.Millisecond) // each check walks every record sent
	for {
		missing, records := tl.missing(sent)
		if missing == 0 {
			r.log.Info("output caught up", "output_records", records)
			break
		}
		if time.Now().After(catchUp) {
			r.log.Warn("output did not catch up before the duration cap; verifying anyway", "missing", missing)
			break
		}
		if time.Since(last) > 5*time.Second {
			r.log.Info("waiting for the output", "missing", missing, "output_records", records)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return Report{}, ctx.Err()
		case <-tick.C:
		}
		if err := r.restartCrashed(ctx); err != nil {
			return Report{}, err
		}
	}

	// Stop the agents gracefully (they commit what they processed), verify
	// while the broker runs, then stop it.
	stopErrs := r.stopAgents()
	counts, err := Verify(ctx, VerifyConfig{Brokers: brokers, Mode: cfg.Mode, Sent: sent, DataDir: filepath.Join(cfg.Dir, "verify"), Out: cfg.Out, Logger: r.log})
	if err != nil {
		return Report{}, err
	}
	if err := r.broker.stop(stopTimeout); err != nil {
		stopErrs = append(stopErrs, err)
	}
	r.report.Counts = counts
	r.report.Elapsed = time.Since(begin)
	for _, c := range r.crashes {
		stopErrs = append(stopErrs, fmt.Errorf("%s exited without being told to", c))
	}
	if err := errors.Join(stopErrs...); err != nil {
		return r.report, fmt.Errorf("soak: %w (logs in %s)", err, filepath.Join(cfg.Dir, "logs"))
	}
	return r.report, nil
}

// schedule returns the faults of the run in a random order.
func (r *run) schedule() []fault {
	var fs []fault
	for range r.cfg.Kills {
		fs = append(fs, faultKill)
	}
	for range r.cfg.BrokerBounces {
		fs = append(fs, faultBounce)
	}
	for range r.cfg.Rebalances {
		fs = append(fs, faultRebalance)
	}
	r.rnd.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
	return fs
}

// inject carries out one fault.
func (r *run) inject(ctx context.Context, f fault) error {
	switch f {
	case faultKill:
		return r.killAgent()
	case faultBounce:
		return r.bounceBroker(ctx)
	default:
		return r.rebalance()
	}
}

// killAgent kills a random agent instance with SIGKILL and restarts it on
// its data dir after up to a second.
func (r *run) killAgent() error {
	var all []*proc
	for _, a := range Agents() {
		all = append(all, r.agents[a]...)
	}
	p := all[r.rnd.IntN(len(all))]
	p.kill()
	r.report.Kills++
	pause := time.Duration(r.rnd.Int64N(int64(time.Second)))
	r.log.Info("fault: killed agent instance", "instance", p.name, "restart_in", pause.Round(time.Millisecond), "kills", r.report.Kills)
	time.Sleep(pause)
	return r.restart(p)
}

// bounceBroker kills the broker with SIGKILL and restarts it on the same data
// dir and port.
func (r *run) bounceBroker(ctx context.Context) error {
	r.broker.kill()
	r.report.BrokerBounces++
	r.log.Info("fault: killed broker", "bounces", r.report.BrokerBounces)
	return r.startBroker(ctx)
}

// rebalance adds an instance to a random agent, or stops one gracefully if
// the agent has more than two.
func (r *run) rebalance() error {
	a := Agents()[r.rnd.IntN(len(Agents()))]
	r.report.Rebalances++
	if ps := r.agents[a]; len(ps) > 2 {
		i := r.rnd.IntN(len(ps))
		p := ps[i]
		r.agents[a] = slices.Delete(ps, i, i+1)
		r.log.Info("fault: stopping agent instance", "instance", p.name, "rebalances", r.report.Rebalances)
		return p.stop(stopTimeout)
	}
	r.log.Info("fault: adding an agent instance", "agent", a, "rebalances", r.report.Rebalances)
	return r.addInstance(a)
}

// addInstance starts a new instance of agent a with a data dir of its own.
func (r *run) addInstance(a string) error {
	r.next++
	name := fmt.Sprintf("%s-%d", a, r.next)
	args := []string{"agent", "--name", a, "--instance", name, "--brokers", r.addr, "--data-dir", filepath.Join(r.cfg.Dir, name), "--log-level", "info"}
	if r.cfg.Mode == ExactlyOnce {
		args = append(args, "--exactly-once")
	}
	if r.cfg.ClientLog {
		args = append(args, "--sarama-log")
	}
	args = append(args, r.cfg.AgentArgs...)
	p, err := startProc(r.cfg.Binary, name, r.logPath(name), args...)
	if err != nil {
		return err
	}
	r.agents[a] = append(r.agents[a], p)
	return nil
}

// restart starts p again with the same arguments, in its place.
func (r *run) restart(p *proc) error {
	np, err := startProc(r.cfg.Binary, p.name, r.logPath(p.name), p.args...)
	if err != nil {
		return err
	}
	for a, ps := range r.agents {
		if i := slices.Index(ps, p); i >= 0 {
			r.agents[a][i] = np
		}
	}
	return nil
}

// restartCrashed restarts every process that exited without being told to,
// and remembers it: sluice's agents and broker must not stop on their own.
func (r *run) restartCrashed(ctx context.Context) error {
	if r.broker.exited() && !r.broker.expected {
		r.crashes = append(r.crashes, fmt.Sprintf("broker (%v)", r.broker.cmd.ProcessState))
		r.log.Error("broker exited without being told to; restarting it", "state", r.broker.cmd.ProcessState.String())
		if err := r.startBroker(ctx); err != nil {
			return err
		}
	}
	for _, a := range Agents() {
		for _, p := range r.agents[a] {
			if p.exited() && !p.expected {
				r.crashes = append(r.crashes, fmt.Sprintf("%s (%v)", p.name, p.cmd.ProcessState))
				r.log.Error("agent instance exited without being told to; restarting it", "instance", p.name, "state", p.cmd.ProcessState.String())
				if err := r.restart(p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// startBroker starts the broker process on the run's port and data dir and
// waits until it answers, retrying a start that fails (the port may take a
// moment to be free after a kill).
func (r *run) startBroker(ctx context.Context) error {
	const attempts = 5
	var err error
	for i := range attempts {
		if i > 0 {
			r.log.Warn("broker did not start; retrying", "error", err)
			time.Sleep(time.Second)
		}
		args := []string{"broker", "--listen", r.addr, "--data-dir", r.cfg.Dir, "--log-level", "info"} // the broker keeps its data in Dir/broker
		if r.cfg.Mode == ExactlyOnce {
			// kfake's cleaner, unlike Kafka's, may compact a committed changelog
			// value away behind an open transaction that is later aborted
			// (gokax's TestKfakeCompactsOpenTransactions); the verifier rebuilds
			// tables from their changelogs, so compaction stays out of this run.
			args = append(args, "--cleaner-interval", "1h")
		}
		r.broker, err = startProc(r.cfg.Binary, "broker", r.logPath("broker"), args...)
		if err != nil {
			return err
		}
		if err = waitBroker(ctx, r.addr, r.broker); err == nil {
			return nil
		}
		r.broker.kill()
	}
	return fmt.Errorf("broker did not start after %d attempts (log %s): %w", attempts, r.logPath("broker"), err)
}

// waitBroker waits until the broker at addr answers a metadata request,
// for up to a minute or until p exits.
func waitBroker(ctx context.Context, addr string, p *proc) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		err = cl.Ping(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("broker exited (%v)", p.cmd.ProcessState)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker at %s not answering: %w", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// provision creates the soak's topics, retrying while the broker warms up.
func provision(ctx context.Context, brokers []string) error {
	for {
		_, err := topology.Provision(ctx, Graph(), topology.Brokers(brokers...))
		if err == nil || errors.Is(err, topology.ErrTopicMismatch) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("provision: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopAgents stops every agent instance with SIGTERM, all at once, and
// returns the errors of those that did not exit 0.
func (r *run) stopAgents() []error {
	var all []*proc
	for _, a := range Agents() {
		all = append(all, r.agents[a]...)
	}
	errs := make(chan error, len(all))
	for _, p := range all {
		go func() { errs <- p.stop(stopTimeout) }()
	}
	var out []error
	for range all {
		if err := <-errs; err != nil {
			out = append(out, err)
		}
	}
	r.agents = map[string][]*proc{}
	return out
}

// killAll kills every process still running: the cleanup of a run that
// failed half way.
func (r *run) killAll() {
	for _, ps := range r.agents {
		for _, p := range ps {
			if !p.exited() {
				p.kill()
			}
		}
	}
	if r.broker != nil && !r.broker.exited() {
		r.broker.kill()
	}
}

func (r *run) logPath(name string) string {
	return filepath.Join(r.cfg.Dir, "logs", name+".log")
}

// freePort returns a TCP port free on loopback now. The broker keeps it for
// the whole run: clients reconnect to a restarted broker only on the same
// address.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
