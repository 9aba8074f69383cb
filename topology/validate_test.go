package topology_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/topology"
)

// declInput returns an input of s whose handler does nothing: Validate looks at
// declarations only.
func declInput[S, T any](s topology.Stream[T]) topology.Input[S] {
	return topology.Consume(s, func(*topology.Context[S], string, T) error { return nil })
}

// declStateless declares an agent that reads ins and may write outs.
func declStateless(name string, ins []topology.Stream[string], outs ...topology.Topic) topology.Agent[struct{}] {
	a := topology.Agent[struct{}]{Name: name, Outputs: outs}
	for _, s := range ins {
		a.Inputs = append(a.Inputs, declInput[struct{}](s))
	}
	return a
}

// declCounter declares an agent with an int64 table that reads in.
func declCounter(name string, in topology.Stream[string]) topology.Agent[int64] {
	return topology.Agent[int64]{Name: name, State: topology.Int64(), Inputs: []topology.Input[int64]{declInput[int64](in)}}
}

func declStream(name string, partitions int32) topology.Stream[string] {
	return topology.Stream[string]{Name: name, Codec: topology.String(), Partitions: partitions}
}

func declTopics(ts ...topology.Topic) []topology.Topic { return ts }

func declAgents(as ...topology.AgentDecl) []topology.AgentDecl { return as }

func TestValidate(t *testing.T) {
	in := declStream("in", 0)
	mid := declStream("mid", 0)
	out := declStream("out", 0)
	counter := declCounter("counter", in)
	for _, tc := range []struct {
		name string
		g    *topology.Graph
		want []error  // each must match with errors.Is; nil: Validate returns nil
		not  []error  // none may match
		says []string // what the message must name (agent, topic)
	}{
		{
			name: "valid: source, route between agents, sink",
			g: &topology.Graph{
				Sources: declTopics(in), Sinks: declTopics(out),
				Agents: declAgents(
					declStateless("router", []topology.Stream[string]{in}, mid, out),
					declStateless("worker", []topology.Stream[string]{mid}, out),
				),
			},
		},
		{
			name: "valid: lookup and join of an agent's table, external table",
			g: &topology.Graph{
				Sources: declTopics(in, topology.ExternalTable("billing", topology.Int64())),
				Agents: declAgents(
					counter,
					topology.Agent[struct{}]{
						Name:    "reader",
						Inputs:  []topology.Input[struct{}]{declInput[struct{}](in)},
						Lookups: []topology.Topic{topology.ExternalTable("billing", topology.Int64())},
						Joins:   []topology.Topic{counter.Table()},
					},
				),
			},
		},
		{
			name: "valid: explicit partitions equal to the default",
			g: &topology.Graph{
				Sources: declTopics(declStream("in", topology.DefaultPartitions)),
				Agents:  declAgents(declCounter("counter", in)),
			},
		},
		{
			name: "valid: empty graph",
			g:    &topology.Graph{},
		},
		{
			name: "no input",
			g:    &topology.Graph{Agents: declAgents(declStateless("lonely", nil))},
			want: []error{topology.ErrNoInput},
			says: []string{`"lonely"`},
		},
		{
			name: "duplicate agent",
			g: &topology.Graph{
				Sources: declTopics(in),
				Agents:  declAgents(declStateless("twin", []topology.Stream[string]{in}), declStateless("twin", []topology.Stream[string]{in})),
			},
			want: []error{topology.ErrDuplicateAgent},
			says: []string{`"twin"`},
		},
		{
			name: "unknown input",
			g:    &topology.Graph{Agents: declAgents(declStateless("reader", []topology.Stream[string]{declStream("orphan", 0)}))},
			want: []error{topology.ErrUnknownTopic},
			says: []string{`"reader"`, `"orphan"`},
		},
		{
			name: "lookup of a table nobody owns",
			g: &topology.Graph{
				Sources: declTopics(in),
				Agents: declAgents(topology.Agent[struct{}]{
					Name:    "reader",
					Inputs:  []topology.Input[struct{}]{declInput[struct{}](in)},
					Lookups: []topology.Topic{topology.ExternalTable("ghost", topology.String())},
				}),
			},
			want: []error{topology.ErrUnknownTopic},
			says: []string{`"reader"`, `"ghost-table"`},
		},
		{
			name: "route to a stream nobody reads",
			g: &topology.Graph{
				Sources: declTopics(in),
				Agents:  declAgents(declStateless("writer", []topology.Stream[string]{in}, declStream("void", 0))),
			},
			want: []error{topology.ErrNoReader},
			says: []string{`"writer"`, `"void"`},
		},
		{
			name: "writer and reader disagree on the codec",
			g: &topology.Graph{
				Sources: declTopics(in),
				Agents: declAgents(
					declStateless("writer", []topology.Stream[string]{in}, declStream("shared", 0)),
					topology.Agent[struct{}]{
						Name:   "reader",
						Inputs: []topology.Input[struct{}]{declInput[struct{}](topology.Stream[int64]{Name: "shared", Codec: topology.Int64()})},
					},
				),
			},
			want: []error{topology.ErrCodecMismatch},
			says: []string{`"reader"`, `"shared"`, "int64Codec", "stringCodec"},
		},
		{
			name: "JSON codecs of different types",
			g: &topology.Graph{
				Sources: declTopics(topology.Stream[Application]{Name: "apps", Codec: topology.JSON[Application]()}),
				Agents: declAgents(topology.Agent[struct{}]{
					Name:   "reader",
					Inputs: []topology.Input[struct{}]{declInput[struct{}](topology.Stream[Decision]{Name: "apps", Codec: topology.JSON[Decision]()})},
				}),
			},
			want: []error{topology.ErrCodecMismatch},
			says: []string{`"apps"`, "Application", "Decision"},
		},
		{
			name: "join of a table with other partitions",
			g: &topology.Graph{
				Sources: declTopics(in, declStream("wide", 8)),
				Agents: declAgents(
					declCounter("wide-counter", declStream("wide", 8)),
					topology.Agent[struct{}]{
						Name:   "joiner",
						Inputs: []topology.Input[struct{}]{declInput[struct{}](in)},
						Joins:  []topology.Topic{declCounter("wide-counter", declStream("wide", 8)).Table()},
					},
				),
			},
			want: []error{topology.ErrCopartition},
			says: []string{`"joiner"`, `"wide-counter-table"`, `"in"`, "8", "4"},
		},
		{
			name: "inputs with different partitions",
			g: &topology.Graph{
				Sources: declTopics(declStream("narrow", 2), declStream("wide", 8)),
				Agents:  declAgents(declStateless("merger", []topology.Stream[string]{declStream("narrow", 2), declStream("wide", 8)})),
			},
			want: []error{topology.ErrCopartition},
			says: []string{`"merger"`, `"narrow"`, `"wide"`},
		},
		{
			name: "stream and table of one name",
			g: &topology.Graph{
				Sources: declTopics(in),
				Agents: declAgents(
					counter,
					declStateless("clash", []topology.Stream[string]{in}, declStream("counter-table", 0)),
				),
			},
			want: []error{topology.ErrTopicConflict},
			says: []string{`"counter-table"`},
		},
		{
			name: "one stream with two partition counts",
			g: &topology.Graph{
				Sources: declTopics(declStream("in", 8)),
				Agents:  declAgents(declStateless("reader", []topology.Stream[string]{declStream("in", 2)})),
			},
			want: []error{topology.ErrTopicConflict},
			says: []string{`"in"`, "8", "2"},
		},
		{
			name: "lookup of a stream",
			g: &topology.Graph{
				Sources: declTopics(in, mid),
				Agents: declAgents(topology.Agent[struct{}]{
					Name:    "reader",
					Inputs:  []topology.Input[struct{}]{declInput[struct{}](in)},
					Lookups: []topology.Topic{mid},
				}),
			},
			want: []error{topology.ErrTopicConflict},
			says: []string{`"reader"`, `"mid"`},
		},
		{
			name: "output to a table",
			g: &topology.Graph{
				Sources: declTopics(in),
				Agents:  declAgents(counter, declStateless("writer", []topology.Stream[string]{in}, counter.Table())),
			},
			want: []error{topology.ErrTopicConflict},
			says: []string{`"writer"`, `"counter-table"`},
		},
		{
			name: "agent without a name",
			g:    &topology.Graph{Sources: declTopics(in), Agents: declAgents(declStateless("", []topology.Stream[string]{in}))},
			want: []error{topology.ErrNoName},
		},
		{
			name: "topic without a name",
			g: &topology.Graph{
				Sources: declTopics(in),
				Agents:  declAgents(declStateless("writer", []topology.Stream[string]{in}, declStream("", 0))),
			},
			want: []error{topology.ErrNoName},
			says: []string{`"writer"`},
		},
		{
			name: "nil output",
			g: &topology.Graph{
				Sources: declTopics(in),
				Agents:  declAgents(declStateless("writer", []topology.Stream[string]{in}, nil)),
			},
			want: []error{topology.ErrNoName},
			says: []string{`"writer"`},
		},
		{
			name: "stream without a codec",
			g: &topology.Graph{
				Sources: declTopics(in),
				Agents:  declAgents(declStateless("writer", []topology.Stream[string]{in}, topology.Stream[string]{Name: "raw"})),
				Sinks:   declTopics(topology.Stream[string]{Name: "raw"}),
			},
			want: []error{topology.ErrNoCodec},
			not:  []error{topology.ErrCodecMismatch},
			says: []string{`"writer"`, `"raw"`},
		},
		{
			// A missing codec is one problem, not also a mismatch with the topic's
			// other declarations.
			name: "codec missing in one of two declarations",
			g: &topology.Graph{
				Sources: declTopics(in),
				Agents: declAgents(
					declStateless("writer", []topology.Stream[string]{in}, topology.Stream[string]{Name: "half"}),
					declStateless("reader", []topology.Stream[string]{declStream("half", 0)}),
				),
			},
			want: []error{topology.ErrNoCodec},
			not:  []error{topology.ErrCodecMismatch},
			says: []string{`"writer"`, `"half"`},
		},
		{
			name: "every problem reported",
			g: &topology.Graph{Agents: declAgents(
				declStateless("lonely", nil),
				declStateless("reader", []topology.Stream[string]{declStream("orphan", 0)}, declStream("void", 0)),
			)},
			want: []error{topology.ErrNoInput, topology.ErrUnknownTopic, topology.ErrNoReader},
			says: []string{`"lonely"`, `"orphan"`, `"void"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %v", tc.want)
			}
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Errorf("Validate() = %v, want an error matching %v", err, want)
				}
			}
			for _, not := range tc.not {
				if errors.Is(err, not) {
					t.Errorf("Validate() = %v, want no error matching %v", err, not)
				}
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Validate() = %q, want a message naming %s", err, s)
				}
			}
		})
	}
}
