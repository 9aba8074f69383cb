package main

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/kafkareal"
	"github.com/sluicehq/sluice/internal/testcert"
)

// secureKafka is the package's Apache Kafka: one node with a SASL_SSL
// listener (certificates made by the harness) and a SCRAM user.
var secureKafka = kafkareal.Config{Nodes: 1, Secure: &kafkareal.Listener{}}

const scramUser, scramPassword = "visa-app", "visa-secret"

var scramOnce sync.Once

// TestAllOnSASLSSL runs the built binary as a user would against a SASL_SSL
// Kafka 4.4 with SCRAM-SHA-512, the password in the environment: 'visa all
// --brokers' provisions, writes the routes, runs every level, sends
// applications, serves the live page and reads the lag, all through the
// security flags, and exits 0 with every application decided and lag 0. A
// wrong password and an untrusted CA each stop it with status 2 and one
// line that says which.
func TestAllOnSASLSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary against Apache Kafka")
	}
	c := kafkareal.Shared(t, secureKafka)
	var err error
	scramOnce.Do(func() { err = c.AddSCRAM(t.Context(), "SCRAM-SHA-512", scramUser, scramPassword) })
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcert.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	flags := func(ca string) []string {
		return []string{"all", "--brokers", strings.Join(c.SecureAddrs(), ","),
			"--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", scramUser,
			"--ssl-ca-location", ca, "--data-dir", t.TempDir(), "--http", "127.0.0.1:0",
			"--count", "200", "--rate", "200", "--seed", "3", "--prefix", "S"}
	}
	for _, tc := range []struct {
		name, password, ca string
		code               int
		want               string
	}{
		{"right password", scramPassword, c.Certs().CAFile, cli.ExitOK, "every application has an outcome"},
		{"wrong password", "wrong", c.Certs().CAFile, cli.ExitUsage, "SASL authentication failed"},
		{"untrusted CA", scramPassword, other.CAFile, cli.ExitUsage, "TLS handshake failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startEnv(t, "all", []string{"SLUICE_SASL_PASSWORD=" + tc.password}, flags(tc.ca)...)
			if code := p.Wait(3 * time.Minute); code != tc.code {
				t.Fatalf("exit status %d, want %d:\n%s", code, tc.code, p.log.String())
			}
			out := p.log.String()
			if !strings.Contains(out, tc.want) {
				t.Fatalf("output lacks %q:\n%s", tc.want, out)
			}
			if tc.code != cli.ExitOK {
				t.Logf("%s: %s", tc.name, out)
				if n := strings.Count(strings.TrimSpace(out), "\n"); n != 0 {
					t.Errorf("a refused %s printed %d lines, want one:\n%s", tc.name, n+1, out)
				}
				return
			}
			for _, re := range []string{
				`summary: 200 applications sent, \d+ decided, \d+ dead-lettered, 0 missing, 0 duplicates`,
				`lag \(records not yet committed per level\): A 0, B 0, C 0, D 0, E 0`,
				`live page http://127\.0\.0\.1:\d+/`,
			} {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("output lacks %s:\n%s", re, out)
				}
			}
		})
	}
}
