package topology

import (
	"fmt"
)

// Tables returns the names of g's tables: its agents' states, and the tables
// among their lookups and joins and g's sources (tables of other
// topologies), in the order of first declaration, each once.
func (g *Graph) Tables() []string {
	var names []string
	for _, s := range g.tableSpecs() {
		names = append(names, s.name)
	}
	return names
}

// TableOf returns the table of g named name with its declared codec, if its
// values are of type T: a typed handle for [NewView] built from the graph
// alone. It fails with [ErrUnknownTopic] if g has no table of that name and
// with [ErrCodecMismatch] if its values are of another type.
func TableOf[T any](g *Graph, name string) (Table[T], error) {
	s, err := g.tableSpec(name)
	if err != nil {
		return Table[T]{}, err
	}
	c, ok := s.codec.(Codec[T])
	if !ok {
		var zero T
		return Table[T]{}, fmt.Errorf("table %q has codec %s, not one of %T values: %w", name, s.codecName(), zero, ErrCodecMismatch)
	}
	return Table[T]{Name: s.name, Codec: c, Partitions: s.partitions}, nil
}

// AnyTable returns the table of g named name with its codec's value type
// erased: the codec decodes with the declared codec and returns the value as
// an any, and encodes only values of the declared type. It is for tools that
// treat every table alike, such as a lookup service that marshals values to
// JSON; declare tables with their own types. It fails with [ErrUnknownTopic]
// if g has no table of that name.
func AnyTable(g *Graph, name string) (Table[any], error) {
	s, err := g.tableSpec(name)
	if err != nil {
		return Table[any]{}, err
	}
	return Table[any]{Name: s.name, Codec: s.erased(), Partitions: s.partitions}, nil
}

// tableSpecs returns the specs of g's tables with a codec, each once; see
// [Graph.Tables].
func (g *Graph) tableSpecs() []topicSpec {
	var out []topicSpec
	seen := map[string]bool{}
	add := func(s topicSpec) {
		if s.kind == KindTable && s.erased != nil && !seen[s.name] {
			seen[s.name] = true
			out = append(out, s)
		}
	}
	for _, a := range g.specs() {
		if a.state != nil {
			add(*a.state)
		}
		for _, s := range a.lookups {
			add(s)
		}
		for _, s := range a.joins {
			add(s)
		}
	}
	for _, t := range g.Sources {
		if t != nil {
			add(t.spec())
		}
	}
	return out
}

// tableSpec returns the spec of g's table named name.
func (g *Graph) tableSpec(name string) (topicSpec, error) {
	for _, s := range g.tableSpecs() {
		if s.name == name {
			return s, nil
		}
	}
	return topicSpec{}, fmt.Errorf("no table %q in topology %q (it has %q): %w", name, g.Name, g.Tables(), ErrUnknownTopic)
}

// erasedCodec is a Codec[T] seen as a Codec[any]; see [AnyTable].
type erasedCodec[T any] struct{ c Codec[T] }

func (e erasedCodec[T]) Encode(v any) ([]byte, error) {
	t, ok := v.(T)
	if !ok {
		return nil, fmt.Errorf("topology: encode %T with a codec of %T values", v, *new(T))
	}
	return e.c.Encode(t)
}

func (e erasedCodec[T]) Decode(b []byte) (any, error) { return e.c.Decode(b) }
