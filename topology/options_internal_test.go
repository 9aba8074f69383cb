package topology

import (
	"slices"
	"testing"
)

// TestCallbacksAdd pins that OnBroker and OnAssign add to each other rather
// than replace: a program's own callback and the live page's both run.
func TestCallbacksAdd(t *testing.T) {
	var calls []string
	c := newRunConfig([]Option{
		OnBroker(func([]string) { calls = append(calls, "broker 1") }),
		OnBroker(nil),
		OnBroker(func([]string) { calls = append(calls, "broker 2") }),
		OnAssign(func(string, []int32) { calls = append(calls, "assign 1") }),
		OnAssign(func(string, []int32) { calls = append(calls, "assign 2") }),
	})
	c.onBroker(nil)
	c.onAssign("a", nil)
	if want := []string{"broker 1", "broker 2", "assign 1", "assign 2"}; !slices.Equal(calls, want) {
		t.Errorf("calls = %q, want %q", calls, want)
	}
}
