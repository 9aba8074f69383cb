package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/topology"
)

// deciderFlags are the flags that choose how levels decide: by the rules, or by
// asking a model on an OpenAI-compatible chat-completions server.
type deciderFlags struct {
	kind      string
	baseURL   string
	model     string
	key       string
	levels    []string
	timeout   time.Duration
	attempts  int
	onFailure string
	format    string
	// concurrency is --concurrency; 0 means the decider's default, see conc.
	concurrency int
}

// Default concurrencies: the rules answer in microseconds, and a level handling
// one record at a time is the fastest way to run them; a model answers in
// hundreds of milliseconds, and 16 calls in flight per partition keep a level
// busy.
const (
	defaultRulesConcurrency = 1
	defaultLLMConcurrency   = 16
)

// deciderEnv lists, per flag, the environment variables read when the command
// line leaves the flag unset, in order of preference.
var deciderEnv = map[string][]string{
	"decider":             {"SLUICE_DECIDER"},
	"llm-base-url":        {"SLUICE_LLM_BASE_URL", "OPENAI_BASE_URL"},
	"llm-model":           {"SLUICE_LLM_MODEL"},
	"llm-key":             {"SLUICE_LLM_KEY", "OPENAI_API_KEY"},
	"llm-levels":          {"SLUICE_LLM_LEVELS"},
	"llm-timeout":         {"SLUICE_LLM_TIMEOUT"},
	"llm-attempts":        {"SLUICE_LLM_ATTEMPTS"},
	"llm-on-failure":      {"SLUICE_LLM_ON_FAILURE"},
	"llm-response-format": {"SLUICE_LLM_RESPONSE_FORMAT"},
	"concurrency":         {"SLUICE_CONCURRENCY"},
}

// add declares the flags on fs.
func (f *deciderFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.kind, "decider", "rules", "how the levels decide, `rules|llm`: by the deterministic rules, or by asking a model on an OpenAI-compatible server")
	fs.StringVar(&f.baseURL, "llm-base-url", "", "`URL` of the OpenAI-compatible API, such as http://127.0.0.1:8080/v1 (default: OpenAI's)")
	fs.StringVar(&f.model, "llm-model", "", "`model` to ask, required with --decider llm")
	fs.StringVar(&f.key, "llm-key", "", "API `key`, sent as a bearer token")
	fs.StringSliceVar(&f.levels, "llm-levels", nil, "levels that ask the model, as `A,B,...` (default all); the others apply the rules")
	fs.DurationVar(&f.timeout, "llm-timeout", visa.DefaultLLMTimeout, "bound of each model call; a call that takes longer is retried")
	fs.IntVar(&f.attempts, "llm-attempts", visa.DefaultLLMAttempts, "model calls per decision, the first included, on timeouts, rate limits (429) and server errors")
	fs.StringVar(&f.onFailure, "llm-on-failure", visa.OnFailureReview,
		"when every attempt failed, `needs_review|dead_letter`: end the application's path for an officer, or send it to the level's dead-letter topic")
	fs.StringVar(&f.format, "llm-response-format", "json_schema", "`json_schema|json_object`: ask for a JSON schema (structured outputs), or any JSON object for servers without them")
	fs.IntVar(&f.concurrency, "concurrency", 0, fmt.Sprintf("decider calls in flight at once per partition of each level, `N` (default %d with --decider rules, %d with llm)",
		defaultRulesConcurrency, defaultLLMConcurrency))
	for name, envs := range deciderEnv {
		if fl := fs.Lookup(name); fl != nil {
			fl.Usage += fmt.Sprintf(" (env %s)", strings.Join(envs, ", else "))
		}
	}
}

// applyEnv sets every decider flag that the command line left unset from the
// first of its environment variables that is set.
func (f *deciderFlags) applyEnv(fs *pflag.FlagSet) error {
	for name, envs := range deciderEnv {
		fl := fs.Lookup(name)
		if fl == nil || fl.Changed {
			continue
		}
		for _, env := range envs {
			if v := os.Getenv(env); v != "" {
				if err := fl.Value.Set(v); err != nil {
					return fmt.Errorf("environment variable %s=%q: %w", env, v, err)
				}
				break
			}
		}
	}
	return nil
}

// conc returns the concurrency of the levels: --concurrency, or the default of
// the decider.
func (f *deciderFlags) conc() int {
	switch {
	case f.concurrency > 0:
		return f.concurrency
	case f.kind == "llm":
		return defaultLLMConcurrency
	}
	return defaultRulesConcurrency
}

// checkExactlyOnce returns an error saying what to change when exactly-once
// mode is asked for with decider calls in flight at once: their results are
// written outside the record's transaction (topology.ErrExactlyOnce).
func (f *deciderFlags) checkExactlyOnce(on bool) error {
	if n := f.conc(); on && n > 1 {
		return fmt.Errorf("--exactly-once with %d decider calls at once per partition: the calls' results would be written outside the records' transactions; add --concurrency 1, or drop --exactly-once", n)
	}
	return nil
}

// decider returns the Decider the flags describe, or an error saying which
// flag is wrong.
func (f *deciderFlags) decider() (visa.Decider, error) {
	if f.concurrency < 0 {
		return nil, fmt.Errorf("--concurrency %d: want 1 or more (or 0 for the decider's default)", f.concurrency)
	}
	switch f.kind {
	case "rules":
		return visa.Rules{}, nil
	case "llm":
	default:
		return nil, fmt.Errorf("--decider %q: want rules or llm", f.kind)
	}
	if f.attempts < 1 {
		return nil, fmt.Errorf("--llm-attempts %d: want 1 or more", f.attempts)
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--llm-timeout %v: want a positive duration", f.timeout)
	}
	llm, err := visa.NewLLMDecider(visa.LLMConfig{
		BaseURL:        f.baseURL,
		Model:          f.model,
		APIKey:         f.key,
		Timeout:        f.timeout,
		Attempts:       f.attempts,
		OnFailure:      f.onFailure,
		ResponseFormat: f.format,
	})
	if err != nil {
		return nil, fmt.Errorf("--decider llm: %w", err)
	}
	if len(f.levels) == 0 {
		return llm, nil
	}
	by := visa.ByLevel{}
	for _, l := range visa.Levels {
		by[l.Name] = visa.Rules{}
	}
	for _, name := range f.levels {
		l, ok := visa.LevelOf(name)
		if !ok {
			return nil, fmt.Errorf("--llm-levels: unknown level %q", name)
		}
		by[l.Name] = llm
	}
	return by, nil
}

// describe says in a few words how levels decide, for a command's output.
func (f *deciderFlags) describe() string {
	conc := ""
	if n := f.conc(); n > 1 {
		conc = fmt.Sprintf(", %d calls at once per partition", n)
	}
	if f.kind != "llm" {
		return "the rules" + conc
	}
	where := cmp.Or(f.baseURL, "OpenAI's API")
	levels := "every level"
	if len(f.levels) > 0 {
		levels = "levels " + strings.Join(f.levels, ", ")
	}
	return fmt.Sprintf("model %q at %s for %s%s", f.model, where, levels, conc)
}

// deciderSlot is the Decider of the graph the binary is built around, whose
// agents exist before any flag is read: it delegates to the rules until a
// command's flags set another, before the graph runs. It is safe for concurrent
// use.
type deciderSlot struct{ p atomic.Pointer[deciderBox] }

type deciderBox struct{ visa.Decider }

// set makes d the slot's Decider.
func (s *deciderSlot) set(d visa.Decider) { s.p.Store(&deciderBox{d}) }

// Decide calls the slot's Decider, the rules if none was set.
func (s *deciderSlot) Decide(ctx context.Context, level string, app visa.Application) (visa.Finding, error) {
	if b := s.p.Load(); b != nil {
		return b.Decide(ctx, level, app)
	}
	return visa.Rules{}.Decide(ctx, level, app)
}

// wireDecider adds the decider flags to the run command of root, the one
// package cli makes around g, the graph whose Decider is slot, and sets slot
// from them before run starts the agents; with a concurrency above 1 it makes
// g's levels concurrent (visa.GraphConcurrent) in place, as run reads g only
// when it starts. A mistake in them is a usage error.
func wireDecider(root *cobra.Command, g *topology.Graph, slot *deciderSlot) {
	for _, c := range root.Commands() {
		if c.Name() != "run" {
			continue
		}
		var f deciderFlags
		f.add(c.Flags())
		prev := c.PreRunE
		c.PreRunE = func(c *cobra.Command, args []string) error {
			if prev != nil {
				if err := prev(c, args); err != nil {
					return err
				}
			}
			if err := f.applyEnv(c.Flags()); err != nil {
				return err
			}
			d, err := f.decider()
			if err != nil {
				return err
			}
			eos, _ := c.Flags().GetBool("exactly-once") // false where run has no such flag
			if err := f.checkExactlyOnce(eos); err != nil {
				return err
			}
			slot.set(d)
			if n := f.conc(); n > 1 {
				cg, err := visa.GraphConcurrent(slot, n)
				if err != nil {
					return err
				}
				*g = *cg
			}
			return nil
		}
	}
}
