package window_test

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/processors/window"
)

func TestStateCodecRoundTrip(t *testing.T) {
	c := window.StateCodec()
	for _, tc := range []struct {
		name string
		s    window.State
	}{
		{"empty", window.State{}},
		{"stream time only", window.State{StreamTime: 1_700_000_000_123}},
		{"windows", window.State{StreamTime: 99, Windows: []window.Aggregate{
			{Start: -5, Count: 1, Sum: 1.5, Min: 1.5, Max: 1.5},
			{Start: 0, Count: math.MaxInt64, Sum: -3, Min: math.Inf(-1), Max: math.MaxFloat64},
		}}},
		{"events", window.State{StreamTime: 1 << 40, Events: []window.Event{
			{Time: 1 << 40, Value: 0.1}, {Time: 1<<40 + 7, Value: -2}, {Time: math.MaxInt64, Value: 3},
		}}},
		{"sessions", window.State{StreamTime: 1_700_000_000_000, Sessions: []window.OpenSession{
			{Aggregate: window.Aggregate{Start: 1_700_000_000_000, Count: 1, Sum: 2, Min: 2, Max: 2}, End: 1_700_000_000_000},
			{Aggregate: window.Aggregate{Start: 1_700_000_100_000, Count: 3, Sum: -1, Min: -5, Max: 4}, End: 1_700_000_160_000},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := c.Encode(tc.s)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := c.Decode(b)
			if err != nil {
				t.Fatalf("Decode(%x): %v", b, err)
			}
			if !reflect.DeepEqual(got, tc.s) {
				t.Errorf("round trip = %+v, want %+v", got, tc.s)
			}
		})
	}
}

func TestStateCodecRejects(t *testing.T) {
	c := window.StateCodec()
	good, err := c.Encode(window.State{StreamTime: 5, Windows: []window.Aggregate{{Start: 1, Count: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(bytes.Clone(good), 0)},
		{"huge window count", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"huge event count", []byte{1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"version 2 without sessions", []byte{2, 0, 0, 0, 0}},
		{"session of negative length", func() []byte {
			b, _ := c.Encode(window.State{Sessions: []window.OpenSession{{Aggregate: window.Aggregate{Start: 5, Count: 1}, End: 5}}})
			return append(b[:len(b)-1], 0x01) // varint -1
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := c.Decode(tc.b); err == nil {
				t.Fatalf("Decode(%x) = %+v, want an error", tc.b, s)
			}
		})
	}
	if _, err := c.Encode(window.State{Windows: []window.Aggregate{{Count: -1}}}); err == nil {
		t.Error("Encode of a negative count succeeded, want an error")
	}
}

// FuzzStateCodec checks that Decode fails cleanly on any input and that what
// it accepts encodes to bytes that decode and encode to the same bytes.
func FuzzStateCodec(f *testing.F) {
	c := window.StateCodec()
	for _, s := range []window.State{
		{},
		{StreamTime: 12, Windows: []window.Aggregate{{Start: 10, Count: 3, Sum: 6, Min: 1, Max: 3}}},
		{StreamTime: 12, Events: []window.Event{{Time: 3, Value: 1}, {Time: 12, Value: math.NaN()}}},
		{StreamTime: 40, Sessions: []window.OpenSession{{Aggregate: window.Aggregate{Start: 30, Count: 2, Sum: 3, Min: 1, Max: 2}, End: 38}}},
	} {
		b, err := c.Encode(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 0x80})
	f.Add([]byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := c.Decode(b)
		if err != nil {
			return // invalid input must fail cleanly, which reaching here shows
		}
		b2, err := c.Encode(s)
		if err != nil {
			t.Fatalf("Encode(Decode(%x)): %v", b, err)
		}
		s2, err := c.Decode(b2)
		if err != nil {
			t.Fatalf("Decode(%x), re-encoded from %x: %v", b2, b, err)
		}
		if b3, err := c.Encode(s2); err != nil || !bytes.Equal(b3, b2) {
			t.Fatalf("re-encoding %x gave %x, %v", b2, b3, err)
		}
		if len(s.Windows) > len(b) || len(s.Events) > len(b) {
			t.Fatalf("%d bytes decoded to %d windows and %d events", len(b), len(s.Windows), len(s.Events))
		}
	})
}
