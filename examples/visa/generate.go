package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/examples/visa/visa"
)

// genFlags are the generator's flags, shared by all and demo.
type genFlags struct {
	count     int
	rate      int
	mix       string
	invalid   float64
	malformed float64
	seed      uint64
	prefix    string
}

func (f *genFlags) add(fs *pflag.FlagSet) {
	fs.IntVar(&f.count, "count", 500, "applications to send")
	fs.IntVar(&f.rate, "rate", 100, "applications a second (0: as fast as possible)")
	fs.StringVar(&f.mix, "mix", visa.DefaultMix.String(), "share of each visa type in percent, as `TYPE=PCT,...`; a type without a route ends as needs_review")
	fs.Float64Var(&f.invalid, "invalid", 10, "percentage of applications with a defect a level rejects")
	fs.Float64Var(&f.malformed, "malformed", 2, "percentage of records that are broken JSON (dead-lettered by level A)")
	fs.Uint64Var(&f.seed, "seed", 0, "random seed, for a reproducible sequence (0: random)")
	fs.StringVar(&f.prefix, "prefix", "", "application ID prefix (default: V and the time, unique per run)")
}

// generator checks the flags and returns the generator they describe.
func (f *genFlags) generator() (*visa.Generator, error) {
	if f.count < 0 || f.rate < 0 {
		return nil, errors.New("--count and --rate must be 0 or more")
	}
	mix, err := visa.ParseMix(f.mix)
	if err != nil {
		return nil, fmt.Errorf("--mix: %w", err)
	}
	if f.prefix == "" {
		f.prefix = "V" + strings.ToUpper(strconv.FormatInt(time.Now().Unix(), 36))
	}
	g, err := visa.NewGenerator(visa.GeneratorConfig{
		Mix: mix, Invalid: f.invalid, Malformed: f.malformed, Seed: f.seed, Prefix: f.prefix,
	})
	if err != nil {
		return nil, fmt.Errorf("--invalid or --malformed: %w", err)
	}
	return g, nil
}

// String describes what the flags generate, for the progress output.
func (f *genFlags) String() string {
	rate := strconv.Itoa(f.rate) + "/s"
	if f.rate == 0 {
		rate = "full speed"
	}
	return fmt.Sprintf("%d applications %s at %s (mix %s, %g%% invalid, %g%% malformed)", f.count, f.prefix+"-*", rate, f.mix, f.invalid, f.malformed)
}
