package topology

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzTimerSet: any value of a timers topic decodes to a set or fails with
// errTimerSet, never panics, and a set that decodes encodes to a value that
// decodes to the same set (restore reads what sluice wrote, and anything
// else is reported, not fatal).
func FuzzTimerSet(f *testing.F) {
	f.Add([]byte(`{"timers":[{"name":"sla","id":"7","at":1700000000000000000,"data":"eA=="}],"stream_time":5}`))
	f.Add([]byte(`{"fired":[{"name":"sla","id":"7","at":1,"offset":42}]}`))
	f.Add([]byte(`{"timers":[{"name":"a","id":"1","at":1},{"name":"a","id":"2","at":2}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeTimerSet(b)
		if err != nil {
			if !errors.Is(err, errTimerSet) {
				t.Fatalf("decode %q: %v, want an errTimerSet", b, err)
			}
			return
		}
		b2, err := encodeTimerSet(s)
		if err != nil {
			t.Fatalf("encode %+v: %v", s, err)
		}
		s2, err := decodeTimerSet(b2)
		if err != nil {
			t.Fatalf("decode re-encoded %q: %v", b2, err)
		}
		if s.empty() {
			if b2 != nil || !s2.empty() {
				t.Fatalf("empty set %q encoded as %q, want a tombstone", b, b2)
			}
			return
		}
		j1, _ := json.Marshal(s)
		j2, _ := json.Marshal(s2)
		if !reflect.DeepEqual(j1, j2) {
			t.Fatalf("round trip of %q: %s, want %s", b, j2, j1)
		}
	})
}

// TestTimerSetRejects pins the values restore refuses: what no writer of the
// timers topic writes.
func TestTimerSetRejects(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"not json", `{`},
		{"no name", `{"timers":[{"id":"1","at":1}]}`},
		{"no id", `{"timers":[{"name":"a","at":1}]}`},
		{"no time", `{"timers":[{"name":"a","id":"1"}]}`},
		{"duplicate name", `{"timers":[{"name":"a","id":"1","at":1},{"name":"a","id":"2","at":2}]}`},
		{"marker without id", `{"fired":[{"name":"a","at":1,"offset":1}]}`},
		{"marker at negative offset", `{"fired":[{"name":"a","id":"1","at":1,"offset":-1}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeTimerSet([]byte(tc.value)); !errors.Is(err, errTimerSet) {
				t.Fatalf("decode %s = %v, want %v", tc.value, err, errTimerSet)
			}
		})
	}
}
