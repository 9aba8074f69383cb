package topology

import (
	"slices"
	"testing"
)

// TestCallbacksAdd pins that OnProvisioned and OnAssign add to each other rather
// than replace: a program's own callback and the live page's both run.
func TestCallbacksAdd(t *testing.T) {
	var calls []string
	c := newRunConfig([]Option{
		OnProvisioned(func([]string) { calls = append(calls, "broker 1") }),
		OnProvisioned(nil),
		OnProvisioned(func([]string) { calls = append(calls, "broker 2") }),
		OnAssign(func(string, []int32) { calls = append(calls, "assign 1") }),
		OnAssign(func(string, []int32) { calls = append(calls, "assign 2") }),
	})
	c.onBroker(nil)
	c.onAssign("a", nil)
	if want := []string{"broker 1", "broker 2", "assign 1", "assign 2"}; !slices.Equal(calls, want) {
		t.Errorf("calls = %q, want %q", calls, want)
	}
}

// TestReadyWatch pins that OnReady fires once, after every agent got
// partitions, and not for empty assignments.
func TestReadyWatch(t *testing.T) {
	n := 0
	w := readyWatch([]string{"a", "b"}, func() { n++ })
	for _, step := range []struct {
		agent string
		parts []int32
		want  int
	}{
		{"a", []int32{0}, 0},
		{"b", nil, 0},
		{"a", []int32{1}, 0},
		{"b", []int32{0}, 1},
		{"b", []int32{1}, 1},
		{"a", []int32{0}, 1},
	} {
		w(step.agent, step.parts)
		if n != step.want {
			t.Fatalf("after %s %v: ready called %d times, want %d", step.agent, step.parts, n, step.want)
		}
	}
}
