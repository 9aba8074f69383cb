package featurestore

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// A lookup answers with the vector it read, which the store's table holds as
// json.Marshal wrote it. Decoding it into a map of features and marshalling
// it again (a map with reflection, four time parses, four time formats) was
// the largest cost of a lookup beside the storage read. [storedFeatures]
// instead checks that the stored bytes are exactly what json.Marshal writes
// for some Vector, token by token, and then the answer copies them: the bytes
// are the same as decoding and marshalling would give. Anything else (a value
// written by hand, with spaces, escapes, fields out of order, numbers or
// times in another form) takes the decoding path.

// storedFeatures returns the features object of b ("{...}" or "null") if b
// is exactly json.Marshal's encoding of a [Vector], and ok false otherwise.
func storedFeatures(b []byte) (obj []byte, ok bool) {
	const head = `{"features":`
	if !bytes.HasPrefix(b, []byte(head)) || len(b) < len(head)+1 || b[len(b)-1] != '}' {
		return nil, false
	}
	obj = b[len(head) : len(b)-1]
	if string(obj) == "null" || string(obj) == "{}" {
		return obj, true
	}
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil, false
	}
	var (
		rest = obj[1:]
		prev []byte
		t    time.Time
		buf  [64]byte
	)
	for first := true; ; first = false {
		if !first {
			if len(rest) == 0 || rest[0] != ',' {
				break
			}
			rest = rest[1:]
		}
		// "name":{"value":NUMBER,"as_of":"TIME"}
		name, r, ok := plainString(rest)
		if !ok || (!first && bytes.Compare(prev, name) >= 0) {
			return nil, false // escaped, or not in json.Marshal's sorted order
		}
		prev = name
		if r, ok = cut(r, `:{"value":`); !ok {
			return nil, false
		}
		i := 0
		for i < len(r) && (r[i] >= '0' && r[i] <= '9' || r[i] == '-' || r[i] == '+' || r[i] == '.' || r[i] == 'e' || r[i] == 'E') {
			i++
		}
		f, err := strconv.ParseFloat(string(r[:i]), 64)
		if err != nil || !bytes.Equal(r[:i], appendFloat(buf[:0], f)) {
			return nil, false
		}
		if r, ok = cut(r[i:], `,"as_of":`); !ok {
			return nil, false
		}
		ts, r, ok := plainString(r)
		if !ok || t.UnmarshalText(ts) != nil {
			return nil, false
		}
		if out, err := t.AppendText(buf[:0]); err != nil || !bytes.Equal(out, ts) {
			return nil, false
		}
		if rest, ok = cut(r, `}`); !ok {
			return nil, false
		}
	}
	if string(rest) != "}" {
		return nil, false
	}
	return obj, true
}

// plainString returns the contents of the JSON string b starts with, if it
// holds only printable ASCII that json.Marshal writes as itself (no escapes,
// no <, > or &), and the rest of b after it.
func plainString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		if b[i] == '"' {
			return b[1:i], b[i+1:], true
		}
		if !plainByte(b[i]) {
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// plainByte reports whether json.Marshal writes c, in a string, as itself
// and c is printable ASCII.
func plainByte(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// cut returns b after prefix, if b starts with it.
func cut(b []byte, prefix string) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return nil, false
	}
	return b[len(prefix):], true
}

// appendFloat appends f as encoding/json writes a float64.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendVector appends the JSON of Response{Entity: entity, Features: the
// features object obj, AsOf: asOf} as json.Marshal writes it, or with batch
// that of BatchVector{Entity: entity, Found: true, Features: obj, AsOf: asOf}.
func appendVector(b []byte, batch bool, entity string, obj []byte, asOf time.Time) ([]byte, error) {
	b = append(b, `{"entity":`...)
	if plain(entity) {
		b = append(append(append(b, '"'), entity...), '"')
	} else {
		js, err := json.Marshal(entity)
		if err != nil {
			return nil, err
		}
		b = append(b, js...)
	}
	switch {
	case !batch:
		b = append(append(b, `,"features":`...), obj...)
	case string(obj) == "null" || string(obj) == "{}": // omitempty
		b = append(b, `,"found":true`...)
	default:
		b = append(append(b, `,"found":true,"features":`...), obj...)
	}
	if !asOf.IsZero() {
		b = append(b, `,"as_of":"`...)
		var err error
		if b, err = asOf.AppendText(b); err != nil {
			return nil, err
		}
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// plain reports whether json.Marshal writes s as itself between quotes.
func plain(s string) bool {
	for i := range len(s) {
		if !plainByte(s[i]) {
			return false
		}
	}
	return true
}
