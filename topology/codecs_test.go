package topology_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sluicehq/sluice/topology"
)

// fuzzRecord has a field of each kind encoding/json treats differently, so that
// the JSON fuzz target reaches its interesting paths: numbers, floats, strings,
// base64 bytes, nil versus empty slices and maps, pointers, interfaces and the
// ",string" option.
type fuzzRecord struct {
	Name   string         `json:"name"`
	N      int64          `json:"n"`
	F      float64        `json:"f"`
	OK     bool           `json:"ok"`
	Tags   []string       `json:"tags"`
	Attrs  map[string]int `json:"attrs"`
	Raw    []byte         `json:"raw"`
	Any    any            `json:"any"`
	Quoted int32          `json:"quoted,string"`
	Next   *fuzzRecord    `json:"next,omitempty"`
}

func TestJSONCodec(t *testing.T) {
	c := topology.JSON[fuzzRecord]()
	t.Run("round trip", func(t *testing.T) {
		v := fuzzRecord{
			Name: "ä\u2028<b>", N: math.MinInt64, F: -0.1, OK: true,
			Tags: []string{}, Attrs: map[string]int{"a": 1}, Raw: []byte{0, 0xff},
			Any: map[string]any{"x": []any{1.5, "y", nil}}, Quoted: -7,
			Next: &fuzzRecord{Name: "next"},
		}
		b, err := c.Encode(v)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", v, err)
		}
		got, err := c.Decode(b)
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("Decode(Encode(v)) = %+v, %v; want %+v, nil", got, err, v)
		}
	})
	t.Run("case-insensitive and duplicate keys", func(t *testing.T) {
		// encoding/json matches keys case-insensitively and the last duplicate wins.
		got, err := c.Decode([]byte(`{"NAME":"a","name":"b","n":1,"N":2}`))
		if err != nil || got.Name != "b" || got.N != 2 {
			t.Fatalf("Decode = %+v, %v; want name b, n 2", got, err)
		}
	})
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"broken", `{"name":`},
		{"wrong type", `{"name":1}`},
		{"int overflow", `{"n":9223372036854775808}`},
		{"float overflow", `{"f":1e400}`},
		{"bad base64", `{"raw":"!"}`},
		{"bad quoted", `{"quoted":"x"}`},
		{"not an object", `[1]`},
		{"trailing garbage", `{"name":"a"} x`},
		{"two values", `{} {}`},
		{"invalid byte", "\xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := c.Decode([]byte(tc.in)); err == nil {
				t.Fatalf("Decode(%q) = %+v, nil; want an error", tc.in, got)
			}
		})
	}
	t.Run("nil tombstone", func(t *testing.T) {
		if got, err := c.Decode(nil); err == nil {
			t.Fatalf("Decode(nil) = %+v, nil; want an error", got)
		}
	})
	t.Run("unsupported value", func(t *testing.T) {
		if _, err := topology.JSON[func()]().Encode(func() {}); err == nil {
			t.Fatal("Encode(func) = nil error, want one")
		}
	})
}

func TestStringCodec(t *testing.T) {
	c := topology.String()
	for _, v := range []string{"", "hello", "ä€𝄞", "\xff\xfe not UTF-8", "a\x00b"} {
		b, err := c.Encode(v)
		if err != nil || string(b) != v {
			t.Fatalf("Encode(%q) = %q, %v; want %q, nil", v, b, err, v)
		}
		got, err := c.Decode(b)
		if err != nil || got != v {
			t.Fatalf("Decode(%q) = %q, %v; want %q, nil", b, got, err, v)
		}
	}
}

func TestInt64Codec(t *testing.T) {
	c := topology.Int64()
	for _, v := range []int64{0, 1, -1, 42, math.MaxInt64, math.MinInt64} {
		b, err := c.Encode(v)
		if err != nil || string(b) != strconv.FormatInt(v, 10) {
			t.Fatalf("Encode(%d) = %q, %v; want %q, nil", v, b, err, strconv.FormatInt(v, 10))
		}
		if got, err := c.Decode(b); err != nil || got != v {
			t.Fatalf("Decode(%q) = %d, %v; want %d, nil", b, got, err, v)
		}
	}
	// Inputs Encode never writes but ParseInt accepts, pinned so a change is seen.
	for in, want := range map[string]int64{"+5": 5, "007": 7, "-0": 0} {
		if got, err := c.Decode([]byte(in)); err != nil || got != want {
			t.Errorf("Decode(%q) = %d, %v; want %d, nil", in, got, err, want)
		}
	}
	for _, tc := range []struct {
		name string
		in   string
		want error // nil: any error
	}{
		{"empty", "", nil},
		{"letters", "abc", strconv.ErrSyntax},
		{"float", "1.5", strconv.ErrSyntax},
		{"space", " 1", strconv.ErrSyntax},
		{"newline", "1\n", strconv.ErrSyntax},
		{"hex", "0x10", strconv.ErrSyntax},
		{"underscore", "1_000", strconv.ErrSyntax},
		{"json string", `"1"`, strconv.ErrSyntax},
		{"overflow", "9223372036854775808", strconv.ErrRange},
		{"underflow", "-9223372036854775809", strconv.ErrRange},
		{"huge", "1" + string(bytes.Repeat([]byte("0"), 100)), strconv.ErrRange},
		{"invalid byte", "\xff", strconv.ErrSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Decode([]byte(tc.in))
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Decode(%q) = %d, %v; want error %v", tc.in, got, err, tc.want)
			}
		})
	}
	t.Run("error of a large value is short", func(t *testing.T) {
		// The error becomes a dead-letter header next to the value: it must not
		// repeat a large value (strconv's error quotes all of it).
		in := bytes.Repeat([]byte{0xff}, 1<<20)
		_, err := c.Decode(in)
		if err == nil || len(err.Error()) > maxErrorLen || !errors.Is(err, strconv.ErrSyntax) {
			t.Fatalf("Decode(1 MiB of 0xff) error of %d bytes (%.80v...), want a short one wrapping strconv.ErrSyntax", len(err.Error()), err)
		}
	})
}

// maxErrorLen bounds the message of a decode error, whatever the input.
const maxErrorLen = 256

func TestBytesCodec(t *testing.T) {
	c := topology.Bytes()
	in := []byte{1, 2, 0xff}
	got, err := c.Decode(in)
	if err != nil || !bytes.Equal(got, in) {
		t.Fatalf("Decode(%x) = %x, %v; want %x, nil", in, got, err, in)
	}
	in[0] = 9 // the runtime reuses record buffers: Decode must have copied
	if got[0] != 1 {
		t.Fatalf("Decode result changed with its input: got %x, want 0102ff", got)
	}
	// nil is a tombstone, empty is a value: passing a record through must not turn
	// one into the other.
	if got, _ := c.Decode(nil); got != nil {
		t.Errorf("Decode(nil) = %#v, want nil", got)
	}
	if got, _ := c.Decode([]byte{}); got == nil || len(got) != 0 {
		t.Errorf("Decode([]byte{}) = %#v, want []byte{}", got)
	}
	if b, err := c.Encode(in); err != nil || !bytes.Equal(b, in) {
		t.Errorf("Encode(%x) = %x, %v; want %x, nil", in, b, err, in)
	}
}

func TestProtobufCodec(t *testing.T) {
	ts := topology.Protobuf[*timestamppb.Timestamp]()
	t.Run("round trip", func(t *testing.T) {
		v := timestamppb.New(time.Date(2024, 2, 29, 12, 30, 0, 5, time.UTC))
		b, err := ts.Encode(v)
		if err != nil {
			t.Fatalf("Encode(%v): %v", v, err)
		}
		got, err := ts.Decode(b)
		if err != nil || !proto.Equal(got, v) {
			t.Fatalf("Decode(Encode(%v)) = %v, %v; want %v, nil", v, got, err, v)
		}
	})
	t.Run("empty is the empty message", func(t *testing.T) {
		got, err := ts.Decode(nil)
		if err != nil || got == nil || !proto.Equal(got, &timestamppb.Timestamp{}) {
			t.Fatalf("Decode(nil) = %v, %v; want an empty Timestamp, nil", got, err)
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		s, err := structpb.NewStruct(map[string]any{"a": 1, "b": "x", "c": true, "d": nil, "e": 2.5})
		if err != nil {
			t.Fatal(err)
		}
		c := topology.Protobuf[*structpb.Struct]()
		first, _ := c.Encode(s)
		for range 20 {
			if b, err := c.Encode(s); err != nil || !bytes.Equal(b, first) {
				t.Fatalf("Encode = %x, %v; want %x, nil every time", b, err, first)
			}
		}
	})
	t.Run("decode copies", func(t *testing.T) {
		c := topology.Protobuf[*wrapperspb.BytesValue]()
		in, _ := c.Encode(wrapperspb.Bytes([]byte("abc")))
		got, err := c.Decode(in)
		if err != nil {
			t.Fatal(err)
		}
		clear(in)
		if string(got.GetValue()) != "abc" {
			t.Fatalf("value after clearing the input = %q, want %q", got.GetValue(), "abc")
		}
	})
	sv := topology.Protobuf[*wrapperspb.StringValue]()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"invalid tag", []byte{0xff}},
		{"truncated varint", []byte{0x08, 0x80}},
		{"truncated length", []byte{0x0a, 0x05, 'a'}},
		{"field number zero", []byte{0x00, 0x00}},
		{"invalid UTF-8 in proto3 string", []byte{0x0a, 0x01, 0xff}},
		{"unmatched end group", []byte{0x0c}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := sv.Decode(tc.in); err == nil {
				t.Fatalf("Decode(%x) = %v, nil; want an error", tc.in, got)
			}
		})
	}
	t.Run("interface type", func(t *testing.T) {
		// Protobuf[proto.Message] compiles; its Decode cannot know what to build.
		c := topology.Protobuf[proto.Message]()
		if _, err := c.Encode(wrapperspb.String("x")); err != nil {
			t.Errorf("Encode: %v, want nil", err)
		}
		if got, err := c.Decode([]byte{0x0a, 0x01, 'x'}); err == nil {
			t.Errorf("Decode = %v, nil; want an error", got)
		}
	})
}

func FuzzJSONCodec(f *testing.F) {
	for _, s := range []string{
		``,
		"\xff",
		`null`,
		`{}`,
		`{"name":"a","n":-1,"f":1.5e-7,"ok":true,"tags":["x"],"attrs":{"k":1},"raw":"AP8=","any":{"a":[1,"b",null]},"quoted":"12","next":{"name":"b"}}`,
		`{"name":"a"} garbage`,
		`{"n":9223372036854775807}`,
		`{"n":9223372036854775808}`,
		`{"n":1e30}`,
		`{"f":1e308,"any":1e400}`,
		`{"NAME":"a","name":"b","Name":"c"}`,
		`{"next":{"name":"a"},"next":{"n":1}}`,
		`{"attrs":{"a":1,"a":2},"tags":[],"raw":null}`,
		`{"name":"\ud800\udc00\ud800","any":"\u0000"}`,
		`{"quoted":"null","any":-0}`,
	} {
		f.Add([]byte(s))
	}
	c := topology.JSON[fuzzRecord]()
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := c.Decode(b)
		if err != nil {
			return // invalid input must fail cleanly, which reaching here shows
		}
		b2, err := c.Encode(v)
		if err != nil {
			t.Fatalf("Encode(Decode(%q)) failed: %v", b, err)
		}
		// Compare values, not bytes: JSON input may use other keys' case,
		// duplicates, escapes and number spellings than Encode writes.
		v2, err := c.Decode(b2)
		if err != nil || !reflect.DeepEqual(v2, v) {
			t.Fatalf("round trip of %q via %q = %+v, %v; want %+v, nil", b, b2, v2, err, v)
		}
	})
}

func FuzzStringCodec(f *testing.F) {
	for _, s := range []string{"", "\xff", "hello", "ä€𝄞", "a\x00b", "\xed\xa0\x80"} {
		f.Add([]byte(s))
	}
	c := topology.String()
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := c.Decode(b)
		if err != nil || v != string(b) {
			t.Fatalf("Decode(%q) = %q, %v; want the same bytes, nil", b, v, err)
		}
		b2, err := c.Encode(v)
		if err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("Encode(%q) = %q, %v; want %q, nil", v, b2, err, b)
		}
	})
}

func FuzzInt64Codec(f *testing.F) {
	for _, s := range []string{
		"", "\xff", "0", "-0", "+1", "007", "42x", "1.0", " 1",
		"9223372036854775807", "9223372036854775808",
		"-9223372036854775808", "-9223372036854775809",
		"99999999999999999999999999999999999999",
		string(bytes.Repeat([]byte{0xff}, 300)),
	} {
		f.Add([]byte(s), int64(len(s)))
	}
	f.Add([]byte("1"), int64(math.MinInt64))
	f.Add([]byte("1"), int64(math.MaxInt64))
	c := topology.Int64()
	f.Fuzz(func(t *testing.T, b []byte, n int64) {
		// Every int64 survives a round trip.
		enc, err := c.Encode(n)
		if err != nil {
			t.Fatalf("Encode(%d): %v", n, err)
		}
		if got, err := c.Decode(enc); err != nil || got != n {
			t.Fatalf("Decode(Encode(%d)) = %d, %v; want %d, nil", n, got, err, n)
		}
		// Any bytes decode as strconv.ParseInt reads them.
		v, err := c.Decode(b)
		if want, werr := strconv.ParseInt(string(b), 10, 64); (err == nil) != (werr == nil && len(b) > 0) || (err == nil && v != want) {
			t.Fatalf("Decode(%q) = %d, %v; strconv.ParseInt says %d, %v", b, v, err, want, werr)
		}
		// Any bytes either fail with a short error or decode to a value that
		// round-trips.
		if err != nil {
			if len(err.Error()) > maxErrorLen {
				t.Fatalf("Decode(%q) error of %d bytes, want at most %d", b, len(err.Error()), maxErrorLen)
			}
			return
		}
		b2, err := c.Encode(v)
		if err != nil {
			t.Fatalf("Encode(Decode(%q)) failed: %v", b, err)
		}
		if v2, err := c.Decode(b2); err != nil || v2 != v {
			t.Fatalf("round trip of %q via %q = %d, %v; want %d, nil", b, b2, v2, err, v)
		}
	})
}

func FuzzBytesCodec(f *testing.F) {
	for _, s := range []string{"", "\xff", "hello", "\x00\x00"} {
		f.Add([]byte(s))
	}
	c := topology.Bytes()
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := c.Decode(b)
		if err != nil || !bytes.Equal(v, b) || (v == nil) != (b == nil) {
			t.Fatalf("Decode(%#v) = %#v, %v; want an equal copy, nil", b, v, err)
		}
		if len(b) > 0 && &v[0] == &b[0] {
			t.Fatalf("Decode(%q) returned its input, want a copy", b)
		}
		b2, err := c.Encode(v)
		if err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("Encode(%q) = %q, %v; want %q, nil", v, b2, err, b)
		}
	})
}

func FuzzProtobufCodec(f *testing.F) {
	seed := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	st, err := structpb.NewStruct(map[string]any{"a": 1.5, "b": []any{"x", true, nil}, "c": map[string]any{"d": math.Inf(1)}})
	if err != nil {
		f.Fatal(err)
	}
	valid := [][]byte{
		seed(timestamppb.New(time.Unix(1700000000, 42))),
		seed(wrapperspb.String("hello")),
		seed(st),
		seed(&structpb.Value{Kind: &structpb.Value_NumberValue{NumberValue: math.NaN()}}),
		seed(&descriptorpb.FileDescriptorProto{Name: proto.String("a.proto"), Dependency: []string{"b.proto"}}),
	}
	for _, b := range valid {
		f.Add(b)
		f.Add(append(append([]byte{}, b...), 0xff, 0x01)) // valid + garbage
	}
	for _, b := range [][]byte{
		{},
		{0xff},
		{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // max varint
		{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // varint too long
		{0x0a, 0x01, 0xff},       // invalid UTF-8 string
		{0xf8, 0xff, 0x7f, 0x00}, // unknown field 262143
		{0x0b, 0x0c},             // empty group in field 1
	} {
		f.Add(b)
	}
	// The same bytes, read as messages of a few shapes: scalars, wrappers, a
	// recursive message with doubles, maps and oneofs, and a proto2 message with
	// required fields and extension ranges.
	checks := []func(t *testing.T, b []byte){
		roundTrip(topology.Protobuf[*timestamppb.Timestamp]()),
		roundTrip(topology.Protobuf[*wrapperspb.StringValue]()),
		roundTrip(topology.Protobuf[*structpb.Struct]()),
		roundTrip(topology.Protobuf[*descriptorpb.FileDescriptorProto]()),
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, check := range checks {
			check(t, b)
		}
	})
}

// roundTrip returns a fuzz check that b either fails to decode with c or decodes
// to a message that encodes and decodes to an equal one.
func roundTrip[M proto.Message](c topology.Codec[M]) func(t *testing.T, b []byte) {
	return func(t *testing.T, b []byte) {
		v, err := c.Decode(b)
		if err != nil {
			return
		}
		b2, err := c.Encode(v)
		if err != nil {
			t.Fatalf("%T: Encode(Decode(%x)) failed: %v", v, b, err)
		}
		v2, err := c.Decode(b2)
		if err != nil || !proto.Equal(v2, v) {
			t.Fatalf("%T: round trip of %x via %x = %v, %v; want %v, nil", v, b, b2, v2, err, v)
		}
	}
}
