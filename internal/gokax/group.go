package gokax

import (
	"errors"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
)

// Input is one input topic of a [Group] and the callback for its records. value is
// the raw record value (nil for a tombstone); it is valid only during the call.
type Input struct {
	Topic  string
	Handle func(m *Msg, value []byte)
}

// Group is an untyped processor-group definition.
type Group struct {
	// Name is the consumer group; the table topic is Name+"-table".
	Name string
	// Inputs are the input streams.
	Inputs []Input
	// Outputs are the topics the group may emit to.
	Outputs []string
	// Stateful gives the group a table.
	Stateful bool
	// Lookups are tables read by any key (any partition); Joins are co-partitioned
	// tables read by the record's key.
	Lookups, Joins []string
	// Loop, if set, handles the group's loop topic (goka's Name+"-loop"), to which
	// [Msg.Loopback] and a [Producer] write records for the group itself.
	Loop func(m *Msg, value []byte)
}

// LoopTopic returns the loop topic of the group named group, as goka names it.
func LoopTopic(group string) string { return group + "-loop" }

// define returns goka's definition of g, every value a bytes codec, each of
// its callbacks (inputs and loop) wrapped by callback.
func (g Group) define(callback func(f func(m *Msg, value []byte)) goka.ProcessCallback) (*goka.GroupGraph, error) {
	var edges []goka.Edge
	for _, in := range g.Inputs {
		edges = append(edges, goka.Input(goka.Stream(in.Topic), new(codec.Bytes), callback(in.Handle)))
	}
	if g.Loop != nil {
		edges = append(edges, goka.Loop(new(codec.Bytes), callback(g.Loop)))
	}
	for _, t := range g.Outputs {
		edges = append(edges, goka.Output(goka.Stream(t), new(codec.Bytes)))
	}
	for _, t := range g.Joins {
		edges = append(edges, goka.Join(goka.Table(t), new(codec.Bytes)))
	}
	if g.Stateful {
		edges = append(edges, goka.Persist(new(codec.Bytes)))
	}
	gg := goka.DefineGroup(goka.Group(g.Name), edges...)
	if err := gg.Validate(); err != nil {
		return nil, err
	}
	return gg, nil
}

// msgTemplate returns the [Msg] every callback of g copies: what g declares.
// Its lookups are filled in once the lookup views are built.
func msgTemplate(g Group) Msg {
	set := func(names []string) map[string]bool {
		m := make(map[string]bool, len(names))
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	return Msg{outputs: set(g.Outputs), lookups: map[string]*View{}, joins: set(g.Joins), stateful: g.Stateful}
}

var errNoInputs = errors.New("gokax: group has no inputs")
