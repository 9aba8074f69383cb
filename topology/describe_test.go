package topology_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/topology"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// The visa pipeline: intake (A) routes an application to background checks (B)
// or rejects it outright; B sends it to an interview (C) or straight to the
// decision (D); C always hands over to D; D writes the final decision. Every
// queue is keyed by applicant.
type (
	Application struct {
		ID, Applicant, Country string
		Score                  int
	}
	Decision struct {
		Application string
		Approved    bool
		Reason      string
	}
	Officer struct {
		Name      string
		Countries []string
	}
)

var (
	applications   = topology.Stream[Application]{Name: "applications", Codec: topology.JSON[Application]()}
	officerUpdates = topology.Stream[Officer]{Name: "officer-updates", Codec: topology.JSON[Officer]()}
	queueB         = topology.Stream[Application]{Name: "queue-b", Codec: topology.JSON[Application]()}
	queueC         = topology.Stream[Application]{Name: "queue-c", Codec: topology.JSON[Application]()}
	queueD         = topology.Stream[Application]{Name: "queue-d", Codec: topology.JSON[Application]()}
	finalDecisions = topology.Stream[Decision]{Name: "final-decisions", Codec: topology.JSON[Decision](), Retention: 30 * 24 * time.Hour}
)

// visaGraph has a stateful agent (intake), a lookup of another agent's table
// (interview reads officers-table), a join (decide reads intake-table by key),
// routes between agents, two sources and a sink read by nobody in the graph.
func visaGraph() *topology.Graph {
	type none = struct{}
	officers := topology.Agent[Officer]{
		Name:  "officers",
		State: topology.JSON[Officer](),
		Inputs: []topology.Input[Officer]{topology.Consume(officerUpdates,
			func(c *topology.Context[Officer], _ string, o Officer) error { return c.SetState(o) })},
	}
	intake := topology.Agent[int64]{
		Name:  "intake",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(applications,
			func(c *topology.Context[int64], applicant string, app Application) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(n + 1); err != nil {
					return err
				}
				if app.Score < 10 {
					return topology.Emit(c, finalDecisions, applicant, Decision{Application: app.ID, Reason: "score"})
				}
				return topology.Emit(c, queueB, applicant, app)
			})},
		Outputs: []topology.Topic{queueB, finalDecisions},
	}
	background := topology.Agent[none]{
		Name: "background-check",
		Inputs: []topology.Input[none]{topology.Consume(queueB,
			func(c *topology.Context[none], applicant string, app Application) error {
				next := queueD.Name
				if app.Country != "home" {
					next = queueC.Name
				}
				return topology.EmitTo(c, next, applicant, app)
			})},
		Outputs: []topology.Topic{queueC, queueD},
	}
	interview := topology.Agent[none]{
		Name: "interview",
		Inputs: []topology.Input[none]{topology.Consume(queueC,
			func(c *topology.Context[none], applicant string, app Application) error {
				if _, _, err := topology.Lookup(c, officers.Table(), app.Country); err != nil {
					return err
				}
				return topology.Emit(c, queueD, applicant, app)
			})},
		Outputs: []topology.Topic{queueD},
		Lookups: []topology.Topic{officers.Table()},
	}
	decide := topology.Agent[none]{
		Name: "decide",
		Inputs: []topology.Input[none]{topology.Consume(queueD,
			func(c *topology.Context[none], applicant string, app Application) error {
				n, _, err := topology.Join(c, intake.Table())
				if err != nil {
					return err
				}
				return topology.Emit(c, finalDecisions, applicant, Decision{Application: app.ID, Approved: n < 3})
			})},
		Outputs: []topology.Topic{finalDecisions},
		Joins:   []topology.Topic{intake.Table()},
	}
	return &topology.Graph{
		Name:       "visa",
		Sources:    []topology.Topic{applications, officerUpdates},
		Sinks:      []topology.Topic{finalDecisions},
		Agents:     []topology.AgentDecl{officers, intake, background, interview, decide},
		Partitions: 8,
	}
}

// oddGraph has names that drawings must escape: topics whose sanitised ids
// collide, a Mermaid keyword, quotes, a table of another topology, and an agent
// without outputs.
func oddGraph() *topology.Graph {
	dotted := topology.Stream[string]{Name: "in.v1", Codec: topology.String(), Partitions: 2, Retention: 90 * time.Minute}
	dashed := topology.Stream[string]{Name: "in-v1", Codec: topology.String(), Partitions: 2}
	end := topology.Stream[[]byte]{Name: "end", Codec: topology.Bytes(), Partitions: 2}
	external := topology.ExternalTable("billing", topology.Int64())
	quoted := topology.Agent[struct{}]{
		Name: `say "hi" #1`,
		Inputs: []topology.Input[struct{}]{
			topology.Consume(dotted, func(*topology.Context[struct{}], string, string) error { return nil }),
			topology.Consume(dashed, func(*topology.Context[struct{}], string, string) error { return nil }),
		},
		Outputs: []topology.Topic{end},
		Lookups: []topology.Topic{external},
	}
	sink := topology.Agent[struct{}]{
		Name: "end",
		Inputs: []topology.Input[struct{}]{
			topology.Consume(end, func(*topology.Context[struct{}], string, []byte) error { return nil }),
		},
	}
	return &topology.Graph{
		Name:    `odd\names`,
		Sources: []topology.Topic{dotted, dashed, external},
		Agents:  []topology.AgentDecl{quoted, sink},
	}
}

var goldenGraphs = []struct {
	name string
	g    func() *topology.Graph
}{
	{"visa", visaGraph},
	{"odd-names", oddGraph},
}

var renderers = []struct {
	name   string
	render func(*topology.Graph) string
}{
	{"describe", (*topology.Graph).Describe},
	{"mermaid", (*topology.Graph).Mermaid},
	{"dot", (*topology.Graph).DOT},
}

// TestGolden pins Describe, Mermaid and DOT output. After an intended change,
// rewrite the files with go test ./topology -run TestGolden -update and review
// the diff.
func TestGolden(t *testing.T) {
	for _, g := range goldenGraphs {
		for _, r := range renderers {
			t.Run(g.name+"/"+r.name, func(t *testing.T) {
				got := r.render(g.g())
				path := filepath.Join("testdata", g.name+"."+r.name+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s: got output differing from %s (-got +want):\n%s\nrun go test ./topology -run TestGolden -update if the change is intended",
						r.name, path, lineDiff(got, string(want)))
				}
			})
		}
	}
}

// TestGoldenGraphsValid pins that the visa graph is a valid one, so that its
// golden files show what a real topology looks like.
func TestGoldenGraphsValid(t *testing.T) {
	if err := visaGraph().Validate(); err != nil {
		t.Fatalf("visaGraph().Validate() = %v, want nil", err)
	}
}

// TestDescribeResolvesDefaults pins that Describe shows the settings topics
// resolve to, not the zeros they were declared with.
func TestDescribeResolvesDefaults(t *testing.T) {
	got := visaGraph().Describe()
	for _, want := range []string{
		"input:  applications (stream, 8 partitions, retention 168h, codec topology.jsonCodec[topology_test.Application]) <-- source",
		"state:  intake-table (table, compacted, 8 partitions, codec topology.int64Codec)",
		"output: final-decisions (stream, 8 partitions, retention 720h, codec topology.jsonCodec[topology_test.Decision]) --> sink",
		"lookup: officers-table (table, compacted, 8 partitions, codec topology.jsonCodec[topology_test.Officer]) <-- officers",
		"join:   intake-table (table, compacted, 8 partitions, codec topology.int64Codec) <-- intake",
		"dlq:    decide-dlq (stream, 8 partitions, retention 168h, codec topology.bytesCodec)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Describe() lacks line %q; got:\n%s", want, got)
		}
	}
}

// TestDescribeInvalid pins that Describe and the drawings describe a broken graph
// instead of failing: nil agents and topics, empty names, no codec, nobody on
// the other side of a topic.
func TestDescribeInvalid(t *testing.T) {
	noCodec := topology.Stream[string]{Name: "no-codec"}
	g := &topology.Graph{
		Sources: []topology.Topic{nil, topology.Stream[string]{Codec: topology.String()}},
		Sinks:   []topology.Topic{nil},
		Agents: []topology.AgentDecl{
			nil,
			topology.Agent[struct{}]{
				Inputs:  []topology.Input[struct{}]{topology.Consume(noCodec, func(*topology.Context[struct{}], string, string) error { return nil })},
				Outputs: []topology.Topic{nil, topology.Stream[int64]{Name: "nowhere", Codec: topology.Int64()}},
				Lookups: []topology.Topic{topology.ExternalTable("gone", topology.String())},
			},
		},
	}
	got := g.Describe()
	for _, want := range []string{
		`Topology: ""`,
		`Agent: ""`,
		"input:  no-codec (stream, 4 partitions, retention 168h, codec none) <-- nobody",
		"output: nowhere (stream, 4 partitions, retention 168h, codec topology.int64Codec) --> nobody",
		"lookup: gone-table (table, compacted, 4 partitions, codec topology.stringCodec) <-- nobody",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Describe() lacks %q; got:\n%s", want, got)
		}
	}
	checkMermaid(t, g.Mermaid())
	checkDOT(t, g.DOT())
}

// TestDraw checks that every drawing is well formed: Mermaid by its grammar's
// shape, DOT by the same and, where Graphviz is installed, by dot itself.
func TestDraw(t *testing.T) {
	graphs := append([]struct {
		name string
		g    func() *topology.Graph
	}{{"empty", func() *topology.Graph { return &topology.Graph{} }}}, goldenGraphs...)
	for _, g := range graphs {
		t.Run(g.name+"/mermaid", func(t *testing.T) { checkMermaid(t, g.g().Mermaid()) })
		t.Run(g.name+"/dot", func(t *testing.T) { checkDOT(t, g.g().DOT()) })
	}
}

// TestDrawIDs pins that names whose sanitised ids collide get distinct ids and
// that a topic and an agent of the same name ("end") are different nodes.
func TestDrawIDs(t *testing.T) {
	got := oddGraph().Mermaid()
	for _, want := range []string{
		`t_in_v1[/"in.v1"/]`,
		`t_in_v1_2[/"in-v1"/]`,
		`t_end[/"end"/]`,
		`a_end["end"]`,
		`a_say__hi___1["say #quot;hi#quot; #35;1"]`,
		"t_end --> a_end",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("Mermaid() lacks line %q; got:\n%s", want, got)
		}
	}
}

var (
	mermaidNode = regexp.MustCompile(`^    ([A-Za-z][A-Za-z0-9_]*)(?:\["[^"]*"\]|\[\("[^"]*"\)\]|\[/"[^"]*"/\])$`)
	mermaidEdge = regexp.MustCompile(`^    ([A-Za-z][A-Za-z0-9_]*) (?:-->|== state ==>|-\. (?:lookup|join|dlq) \.->) ([A-Za-z][A-Za-z0-9_]*)$`)
	mermaidMisc = regexp.MustCompile(`^    (?:%%.*|classDef \w+ [^;]+|class ([A-Za-z0-9_,]+) \w+)$`)
)

// checkMermaid checks the parts of Mermaid's flowchart grammar that Mermaid uses:
// one header, node statements with quoted labels, each id declared once, edges
// and classes only between declared ids.
func checkMermaid(t *testing.T, s string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if lines[0] != "flowchart LR" {
		t.Fatalf("first line = %q, want %q", lines[0], "flowchart LR")
	}
	declared := map[string]bool{}
	for i, line := range lines[1:] {
		switch m := mermaidNode.FindStringSubmatch(line); {
		case m != nil:
			if declared[m[1]] {
				t.Errorf("line %d: node %s declared twice", i+2, m[1])
			}
			declared[m[1]] = true
		case mermaidEdge.MatchString(line):
			m := mermaidEdge.FindStringSubmatch(line)
			for _, id := range m[1:] {
				if !declared[id] {
					t.Errorf("line %d: edge %q uses undeclared node %s", i+2, line, id)
				}
			}
		case mermaidMisc.MatchString(line):
			if m := mermaidMisc.FindStringSubmatch(line); m[1] != "" {
				for _, id := range strings.Split(m[1], ",") {
					if !declared[id] {
						t.Errorf("line %d: class of undeclared node %s", i+2, id)
					}
				}
			}
		default:
			t.Errorf("line %d: got %q, want a node, edge, class or comment", i+2, line)
		}
	}
	if t.Failed() {
		t.Logf("Mermaid:\n%s", s)
	}
}

var (
	dotID   = `"(?:[^"\\]|\\.)*"`
	dotAttr = `(?: \[[^\[\]]*\])?;`
	dotNode = regexp.MustCompile(`^\t(` + dotID + `)` + dotAttr + `$`)
	dotEdge = regexp.MustCompile(`^\t(` + dotID + `) -> (` + dotID + `)` + dotAttr + `$`)
	dotMisc = regexp.MustCompile(`^\t(?:rankdir=\w+|(?:node|edge) \[[^\[\]]*\]);$`)
)

// checkDOT checks that s is a digraph whose statements are node, edge or
// default statements, whose quotes and brackets balance, and whose edges join
// declared nodes; then, if dot is on PATH, that dot renders it without a
// warning.
func checkDOT(t *testing.T, s string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if !regexp.MustCompile(`^digraph `+dotID+` \{$`).MatchString(lines[0]) || lines[len(lines)-1] != "}" {
		t.Fatalf("DOT = %q..., want digraph \"name\" { ... }", lines[0])
	}
	if depth, ok := dotBalance(s); !ok || depth != 0 {
		t.Errorf("unbalanced quotes or brackets in:\n%s", s)
	}
	declared := map[string]bool{}
	for i, line := range lines[1 : len(lines)-1] {
		switch {
		case dotEdge.MatchString(line):
			m := dotEdge.FindStringSubmatch(line)
			for _, id := range m[1:] {
				if !declared[id] {
					t.Errorf("line %d: edge %q uses undeclared node %s", i+2, line, id)
				}
			}
		case dotNode.MatchString(line):
			id := dotNode.FindStringSubmatch(line)[1]
			if declared[id] {
				t.Errorf("line %d: node %s declared twice", i+2, id)
			}
			declared[id] = true
		case dotMisc.MatchString(line):
		default:
			t.Errorf("line %d: got %q, want a node, edge or default statement", i+2, line)
		}
	}
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Logf("dot (Graphviz) not on PATH, checked without it: %v", err)
		return
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), dot, "-Tsvg", "-o", os.DevNull)
	cmd.Stdin, cmd.Stderr = strings.NewReader(s), &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("dot -Tsvg: got %v, %q; want success and no warnings; input:\n%s", err, stderr.String(), s)
	}
}

// dotBalance returns the bracket depth at the end of s, ignoring brackets in
// quoted strings; ok is false if a quote is left open or depth goes negative.
func dotBalance(s string) (depth int, ok bool) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth < 0 {
				return depth, false
			}
		}
	}
	return depth, !inQuote
}

// lineDiff returns a line diff of got and want: " " lines in both, "-" only in
// got, "+" only in want. Golden files are small, so a quadratic LCS is fine.
func lineDiff(got, want string) string {
	a := strings.Split(got, "\n")
	b := strings.Split(want, "\n")
	// lcs[i][j] is the length of the longest common subsequence of a[i:], b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			fmt.Fprintf(&out, "  %s\n", a[i])
			i, j = i+1, j+1
		case j == len(b) || i < len(a) && lcs[i+1][j] >= lcs[i][j+1]:
			fmt.Fprintf(&out, "- %s\n", a[i])
			i++
		default:
			fmt.Fprintf(&out, "+ %s\n", b[j])
			j++
		}
	}
	return out.String()
}
