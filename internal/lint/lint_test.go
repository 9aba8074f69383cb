package lint

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/sluicehq/sluice"

// imports returns each package of the module with its non-test imports.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	return goList(t, "{{.ImportPath}} {{join .Imports \" \"}}")
}

// importsWithTests returns each package of the module with its imports and
// those of its tests.
func importsWithTests(t *testing.T) map[string][]string {
	t.Helper()
	return goList(t, "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}")
}

// goList runs go list -f format over the module's packages and returns each
// line's first field (the import path) with the fields after it.
func goList(t *testing.T, format string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", format, mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		m[f[0]] = f[1:]
	}
	return m
}

// TestImportGraph pins the layering of STYLE.md: each rule is one subtest.
func TestImportGraph(t *testing.T) {
	pkgs, withTests := imports(t), importsWithTests(t)
	for _, p := range []string{"tables", "topology", "internal/gokax", "internal/broker", "observe", "cli", "internal/soak"} {
		if _, ok := pkgs[mod+"/"+p]; !ok {
			t.Fatalf("go list did not report %s/%s: the rules below would check nothing", mod, p)
		}
	}
	under := func(pkg, dir string) bool { return pkg == mod+"/"+dir || strings.HasPrefix(pkg, mod+"/"+dir+"/") }
	// withTestsToo names the rules that hold for the packages' tests too.
	withTestsToo := map[string]bool{"no package above topology imports internal/gokax": true}
	for _, rule := range []struct {
		name   string
		from   func(pkg string) bool
		banned func(imp string) bool
	}{
		{
			"tables imports nothing of sluice above it",
			func(p string) bool { return under(p, "tables") },
			func(i string) bool { return strings.HasPrefix(i, mod+"/") },
		},
		{
			"tables imports only goka/storage of goka",
			func(p string) bool { return under(p, "tables") },
			func(i string) bool {
				return strings.HasPrefix(i, "github.com/lovoo/goka") && i != "github.com/lovoo/goka/storage"
			},
		},
		{
			"topology imports neither processors, examples, cmd nor cli",
			func(p string) bool { return under(p, "topology") },
			func(i string) bool {
				return under(i, "processors") || under(i, "examples") || under(i, "cmd") || under(i, "cli")
			},
		},
		{
			"processors imports neither examples, cmd nor cli",
			func(p string) bool { return under(p, "processors") },
			func(i string) bool { return under(i, "examples") || under(i, "cmd") || under(i, "cli") },
		},
		{
			// internal/soak is test infrastructure over the public API (the
			// library of cmd/sluice-soak), internal only so that users do not
			// take it for part of sluice's surface.
			"internal packages import no public sluice package (internal/soak excepted)",
			func(p string) bool { return under(p, "internal") && !under(p, "internal/soak") },
			func(i string) bool {
				return strings.HasPrefix(i, mod+"/") && !under(i, "internal") && !under(i, "tables")
			},
		},
		{
			// topologytest is the test harness over goka's tester (STYLE.md: a test
			// package like net/http/httptest); it drives goka's mock Kafka directly.
			"only internal/gokax, internal/logadapt and topology/topologytest import goka's any-typed API",
			func(p string) bool {
				return !under(p, "internal/gokax") && !under(p, "internal/logadapt") && !under(p, "topology/topologytest")
			},
			func(i string) bool {
				return strings.HasPrefix(i, "github.com/lovoo/goka") && i != "github.com/lovoo/goka/storage"
			},
		},
		{
			"only internal/broker and internal/logadapt import kfake",
			func(p string) bool { return !under(p, "internal/broker") && !under(p, "internal/logadapt") },
			func(i string) bool { return strings.HasPrefix(i, "github.com/twmb/franz-go/pkg/kfake") },
		},
		{
			// What users build on (and what shows them how) must get by with
			// topology's public API: sluice's Kafka defaults are
			// topology.DefaultKafkaConfig, its partitioner topology.Partition.
			// Their tests and benchmarks too: they measure and show what a
			// user gets.
			"no package above topology imports internal/gokax",
			func(p string) bool {
				for _, above := range []string{"observe", "cli", "lookup", "processors", "examples", "cmd", "internal/soak", "benchmarks"} {
					if under(p, above) {
						return true
					}
				}
				return false
			},
			func(i string) bool { return under(i, "internal/gokax") },
		},
		{
			"examples use the public API only",
			func(p string) bool { return under(p, "examples") },
			func(i string) bool { return strings.HasPrefix(i, mod+"/internal") },
		},
	} {
		t.Run(rule.name, func(t *testing.T) {
			checked := pkgs
			if withTestsToo[rule.name] {
				checked = withTests
			}
			for pkg, imps := range checked {
				if !rule.from(pkg) {
					continue
				}
				for _, imp := range imps {
					if rule.banned(imp) {
						t.Errorf("%s imports %s", pkg, imp)
					}
				}
			}
		})
	}
}
