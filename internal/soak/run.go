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
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/kafkareal"
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
	// broker SIGKILLs (on a cluster, of a partition leader) and instance
	// additions or removals; RollingRestarts graceful restarts of every
	// broker in turn, and Outages brokers killed and kept down longer than
	// the agents' session timeout (15 s). The faults come in a random order.
	Kills, BrokerBounces, Rebalances, RollingRestarts, Outages int
	// Kafka, if set, is the Apache Kafka cluster to run on and disturb,
	// left running at the end; RealKafka starts a 3-node cluster of Kafka
	// (kafkareal.Version) in Dir/kafka for the run. Without either, the run
	// starts sluice's embedded broker as a process of its own.
	Kafka     *kafkareal.Cluster
	RealKafka bool
	// Brokers, if set, is a cluster the soak neither starts nor disturbs:
	// agent faults only.
	Brokers []string
	// Namespace prefixes every topic and agent name of the run (its
	// consumer groups, tables and transactional ids), so that runs can
	// share a cluster; "" by default.
	Namespace string
	// Security is how the run's clients and agents reach a secured cluster
	// (with Kafka); the agents get the password in their environment.
	Security topology.Security
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
	case c.Kills < 0 || c.BrokerBounces < 0 || c.Rebalances < 0 || c.RollingRestarts < 0 || c.Outages < 0:
		return fmt.Errorf("%w: negative number of faults", ErrBadConfig)
	case c.Interval < 0 || c.Rate < 0:
		return fmt.Errorf("%w: negative interval or rate", ErrBadConfig)
	case len(c.Brokers) > 0 && c.BrokerBounces+c.RollingRestarts+c.Outages > 0:
		return fmt.Errorf("%w: broker faults on a cluster the soak does not control (Brokers)", ErrBadConfig)
	case c.DurationCap <= verifyReserve:
		return fmt.Errorf("%w: duration cap %v, want more than %v", ErrBadConfig, c.DurationCap, verifyReserve)
	}
	return nil
}

// fault is one kind of fault the orchestrator injects.
type fault int

const (
	faultKill fault = iota
	faultBounce
	faultRebalance
	faultRolling
	faultOutage
)

// run is the state of one soak run, owned by the goroutine of [Run].
type run struct {
	cfg     Config
	log     *slog.Logger
	rnd     *rand.Rand
	kafka   cluster
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
//
// Its phases: [run.start] the cluster and two instances of each agent;
// [run.send] the records with the faults among them; [run.catchUp] until
// the output holds every record sent; [run.finish]: stop the agents, verify,
// stop the cluster.
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

	brokers, err := r.start(ctx)
	if err != nil {
		return Report{}, err
	}
	faults := r.schedule()
	rate := cfg.Rate
	if rate == 0 {
		rate = float64(cfg.Records) / (float64(len(faults)+1) * cfg.Interval.Seconds())
	}
	r.log.Info("soak starting", "records", cfg.Records, "keys", cfg.Keys, "rate", int(rate), "faults", len(faults),
		"mode", cfg.Mode, "seed", cfg.Seed, "kafka", r.kafka, "brokers", brokers, "namespace", cfg.Namespace, "dir", cfg.Dir)
	gen, err := NewGenerator(GeneratorConfig{Brokers: brokers, Namespace: cfg.Namespace, Security: cfg.Security,
		Records: cfg.Records, Keys: cfg.Keys, Rate: rate, Logger: r.log})
	if err != nil {
		return Report{}, err
	}
	defer gen.Close()
	conn, err := topology.ClientOptions(topology.Brokers(brokers...), topology.WithSecurity(cfg.Security))
	if err != nil {
		return Report{}, err
	}
	tl, err := newTail(conn, cfg.Namespace)
	if err != nil {
		return Report{}, err
	}
	tctx, stopTail := context.WithCancel(ctx)
	tailDone := make(chan struct{})
	go func() { defer close(tailDone); tl.run(tctx) }()
	defer func() { stopTail(); <-tailDone }()

	if err := r.send(ctx, gen, faults); err != nil {
		return Report{}, err
	}
	sent := gen.Sent()
	if err := r.catchUp(ctx, tl, sent, begin.Add(cfg.DurationCap-verifyReserve)); err != nil {
		return Report{}, err
	}
	return r.finish(ctx, brokers, sent, begin)
}

// start starts the cluster, provisions the soak's topics and starts two
// instances of each agent; it returns the brokers' addresses.
func (r *run) start(ctx context.Context) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(r.cfg.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	var err error
	if r.kafka, err = r.cluster(ctx); err != nil {
		return nil, err
	}
	r.report.Kafka = r.kafka.String()
	if err := r.kafka.start(ctx); err != nil {
		return nil, err
	}
	brokers := r.kafka.addrs()
	if err := provision(ctx, brokers, r.cfg); err != nil {
		return nil, err
	}
	for _, a := range Agents() {
		for range 2 {
			if err := r.addInstance(a); err != nil {
				return nil, err
			}
		}
	}
	return brokers, nil
}

// send runs gen until it has sent every record, injecting each fault once
// its share of the records is acknowledged, and restarting crashed
// processes meanwhile.
func (r *run) send(ctx context.Context, gen *Generator, faults []fault) error {
	genDone := make(chan error, 1) // gen.Run's outcome
	genExited := make(chan struct{})
	gctx, stopGen := context.WithCancel(ctx)
	go func() {
		defer close(genExited)
		genDone <- gen.Run(gctx)
	}()
	defer func() { stopGen(); <-genExited }() // before gen.Close

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var genErr error
	generating := true
	for i := 0; generating || i < len(faults); {
		select {
		case <-ctx.Done():
			return fmt.Errorf("soak: %w while sending (%d of %d records acknowledged, %d of %d faults done)", ctx.Err(), gen.Acked(), r.cfg.Records, i, len(faults))
		case genErr = <-genDone:
			generating = false
			r.log.Info("generator done", "acknowledged", gen.Acked(), "error", genErr)
			continue
		case <-tick.C:
		}
		if err := r.restartCrashed(ctx); err != nil {
			return err
		}
		if i < len(faults) && (!generating || gen.Acked() >= r.cfg.Records*(i+1)/(len(faults)+1)) {
			if err := r.inject(ctx, faults[i]); err != nil {
				return err
			}
			i++
		}
	}
	if genErr != nil {
		r.log.Warn("generator: some writes failed; they do not count as sent", "error", genErr)
	}
	return nil
}

// catchUp waits until the output holds every record sent, or until
// deadline (then the verifier reports what is missing), restarting crashed
// processes meanwhile.
func (r *run) catchUp(ctx context.Context, tl *tail, sent Sent, deadline time.Time) error {
	last := time.Now()
	tick := time.NewTicker(250 * time.Millisecond) // each check walks every record sent
	defer tick.Stop()
	for {
		missing, records := tl.missing(sent)
		if missing == 0 {
			r.log.Info("output caught up", "output_records", records)
			return nil
		}
		if time.Now().After(deadline) {
			r.log.Warn("output did not catch up before the duration cap; verifying anyway", "missing", missing)
			return nil
		}
		if time.Since(last) > 5*time.Second {
			r.log.Info("waiting for the output", "missing", missing, "output_records", records)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := r.restartCrashed(ctx); err != nil {
			return err
		}
	}
}

// finish stops the agents gracefully (they commit what they processed),
// verifies while the cluster runs, then stops it, and returns the report.
func (r *run) finish(ctx context.Context, brokers []string, sent Sent, begin time.Time) (Report, error) {
	stopErrs := r.stopAgents()
	counts, err := Verify(ctx, VerifyConfig{Brokers: brokers, Namespace: r.cfg.Namespace, Security: r.cfg.Security,
		Mode: r.cfg.Mode, Sent: sent, DataDir: filepath.Join(r.cfg.Dir, "verify"), Out: r.cfg.Out, Logger: r.log})
	if err != nil {
		return Report{}, err
	}
	if err := r.kafka.stop(); err != nil {
		stopErrs = append(stopErrs, err)
	}
	r.report.Counts = counts
	r.report.Elapsed = time.Since(begin)
	for _, c := range r.crashes {
		stopErrs = append(stopErrs, fmt.Errorf("%s exited without being told to", c))
	}
	if err := errors.Join(stopErrs...); err != nil {
		return r.report, fmt.Errorf("soak: %w (logs in %s)", err, filepath.Join(r.cfg.Dir, "logs"))
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
	for range r.cfg.RollingRestarts {
		fs = append(fs, faultRolling)
	}
	for range r.cfg.Outages {
		fs = append(fs, faultOutage)
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
	case faultRolling:
		r.report.RollingRestarts++
		r.log.Info("fault: rolling restart of the brokers", "rolling_restarts", r.report.RollingRestarts)
		start := time.Now()
		err := r.kafka.rolling(ctx)
		r.log.Info("rolling restart done", "took", time.Since(start).Round(time.Millisecond), "error", err)
		return err
	case faultOutage:
		r.report.Outages++
		what, err := r.kafka.outage(ctx, outageFor)
		r.log.Info("fault: broker outage over", "what", what, "outages", r.report.Outages, "error", err)
		return err
	default:
		return r.rebalance()
	}
}

// cluster returns the cluster of the run's configuration.
func (r *run) cluster(ctx context.Context) (cluster, error) {
	k := &realCluster{c: r.cfg.Kafka, ns: r.cfg.Namespace, rnd: r.rnd, log: r.log, downed: map[int]bool{}}
	switch {
	case r.cfg.Kafka != nil:
		return k, nil
	case len(r.cfg.Brokers) > 0:
		return externalCluster(r.cfg.Brokers), nil
	case r.cfg.RealKafka:
		r.log.Info("starting Apache Kafka", "version", kafkareal.Version, "nodes", 3, "dir", filepath.Join(r.cfg.Dir, "kafka"))
		c, err := kafkareal.Start(ctx, kafkareal.Config{Nodes: 3, Dir: filepath.Join(r.cfg.Dir, "kafka"), JVMOptions: []string{kafkareal.FastStart}})
		if err != nil {
			return nil, err
		}
		k.c, k.own = c, true
		return k, nil
	default:
		return newEmbeddedCluster(&r.cfg, r.log)
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

// bounceBroker kills a broker with SIGKILL and restarts it (the embedded
// one on the same data dir and port).
func (r *run) bounceBroker(ctx context.Context) error {
	r.report.BrokerBounces++
	what, err := r.kafka.bounce(ctx)
	r.log.Info("fault: killed broker", "what", what, "bounces", r.report.BrokerBounces, "error", err)
	return err
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
	args := []string{"agent", "--name", a, "--instance", name, "--brokers", strings.Join(r.kafka.addrs(), ","),
		"--data-dir", filepath.Join(r.cfg.Dir, name), "--log-level", "info"}
	if r.cfg.Namespace != "" {
		args = append(args, "--namespace", r.cfg.Namespace)
	}
	if r.cfg.Mode == ExactlyOnce {
		args = append(args, "--exactly-once")
	}
	sec := r.cfg.Security
	for flag, v := range map[string]string{"--security-protocol": sec.Protocol, "--sasl-mechanism": sec.Mechanism,
		"--sasl-username": sec.Username, "--ssl-ca-location": sec.CAFile,
		"--ssl-certificate-location": sec.CertFile, "--ssl-key-location": sec.KeyFile} {
		if v != "" {
			args = append(args, flag, v)
		}
	}
	var env []string
	if sec.Password != "" {
		env = []string{"SLUICE_SASL_PASSWORD=" + sec.Password} // not in argv, which ps shows
	}
	args = append(args, r.cfg.AgentArgs...)
	p, err := startProc(r.cfg.Binary, name, r.cfg.logPath(name), env, args...)
	if err != nil {
		return err
	}
	p.ready = agentReady
	r.agents[a] = append(r.agents[a], p)
	return nil
}

// agentReady is what an agent instance logs once it handles SIGTERM
// (RunAgent's first line).
const agentReady = "msg=starting"

// restart starts p again with the same arguments, in its place.
func (r *run) restart(p *proc) error {
	np, err := startProc(r.cfg.Binary, p.name, r.cfg.logPath(p.name), p.env, p.args...)
	if err != nil {
		return err
	}
	np.ready = p.ready
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
	what, err := r.kafka.restartCrashed(ctx)
	if what != "" {
		r.crashes = append(r.crashes, what)
		r.log.Error("broker exited without being told to; restarted it", "broker", what, "error", err)
	}
	if err != nil {
		return err
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

// provision creates the soak's topics, retrying while the broker warms up.
func provision(ctx context.Context, brokers []string, cfg Config) error {
	for {
		_, err := topology.Provision(ctx, graph(cfg.Namespace, ""), topology.Brokers(brokers...), topology.WithSecurity(cfg.Security))
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
	if r.kafka != nil {
		r.kafka.kill()
	}
}

func (c *Config) logPath(name string) string {
	return filepath.Join(c.Dir, "logs", name+".log")
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
