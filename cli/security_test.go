package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testcert"
)

// TestSecurityFlags runs the broker command with TLS and a SCRAM user, as a
// user trying a secured cluster locally would, and the topics and lag
// commands against it with the security flags (the password from the
// environment, then from a file): they work; a wrong password and an
// untrusted CA exit 2 with one line saying which; and the flags refuse a
// setting that cannot work before anything dials.
func TestSecurityFlags(t *testing.T) {
	t.Parallel()
	certs, err := testcert.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcert.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, "nil", []string{"SLUICE_SASL_PASSWORD=s3cret"}, "broker", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--ssl-certificate-location", certs.ServerCert, "--ssl-key-location", certs.ServerKey,
		"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-username", "admin")
	addr := p.waitLog(brokerAddr, 20*time.Second)[1]
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := func(ca string) []string {
		return []string{"--brokers", addr, "--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-256",
			"--sasl-username", "admin", "--ssl-ca-location", ca}
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"topics", []string{"SLUICE_SASL_PASSWORD=s3cret"}, append([]string{"topics"}, flags(certs.CAFile)...), 0, "created"},
		{"lag, password file", nil, append([]string{"lag", "--sasl-password-file", pwFile}, flags(certs.CAFile)...), 0, "GROUP"},
		{"wrong password", []string{"SLUICE_SASL_PASSWORD=wrong"}, append([]string{"topics"}, flags(certs.CAFile)...), 2, "SASL authentication failed"},
		{"untrusted CA", []string{"SLUICE_SASL_PASSWORD=s3cret"}, append([]string{"lag"}, flags(other.CAFile)...), 2, "TLS handshake failed"},
		{"no password", nil, append([]string{"topics"}, flags(certs.CAFile)...), 2, "SLUICE_SASL_PASSWORD"},
		{"unknown mechanism", []string{"SLUICE_SASL_PASSWORD=s3cret"}, []string{"topics", "--brokers", addr, "--sasl-mechanism", "GSSAPI", "--sasl-username", "admin"}, 2, "SASL mechanism"},
		{"missing CA file", []string{"SLUICE_SASL_PASSWORD=s3cret"}, append([]string{"topics"}, flags("/nonexistent/ca.pem")...), 2, "ssl.ca.location"},
		{"security without --brokers", []string{"SLUICE_SASL_PASSWORD=s3cret"}, []string{"topics", "--sasl-username", "admin", "--data-dir", t.TempDir()}, 2, "need --brokers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, "test", tc.env, tc.args...)
			out := stdout + stderr
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit status %d, want %d with %q; stdout:\n%s\nstderr:\n%s", code, tc.code, tc.want, stdout, stderr)
			}
			if tc.code == 2 && strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr has %d lines, want one:\n%s", strings.Count(stderr, "\n"), stderr)
			}
		})
	}
	if code := p.stop(10 * time.Second); code != 0 {
		t.Fatalf("broker exit status after SIGTERM = %d, want 0", code)
	}
}
