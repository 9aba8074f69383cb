package topology

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// JSON returns a codec that encodes values of type T with encoding/json. Decode
// rejects input that is not one JSON value.
func JSON[T any]() Codec[T] { return jsonCodec[T]{} }

type jsonCodec[T any] struct{}

func (jsonCodec[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }

func (jsonCodec[T]) Decode(b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// String returns a codec for UTF-8 text values; any bytes decode.
func String() Codec[string] { return stringCodec{} }

type stringCodec struct{}

func (stringCodec) Encode(v string) ([]byte, error) { return []byte(v), nil }
func (stringCodec) Decode(b []byte) (string, error) { return string(b), nil }

// Int64 returns a codec for int64 values in decimal text, so that any Kafka tool
// shows them as numbers.
func Int64() Codec[int64] { return int64Codec{} }

type int64Codec struct{}

func (int64Codec) Encode(v int64) ([]byte, error) { return strconv.AppendInt(nil, v, 10), nil }

func (int64Codec) Decode(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, errEmpty
	}
	if n, ok := parseShortInt(b); ok {
		return n, nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		// strconv's error quotes all of b; a dead-letter header that copies a large
		// bad value (4 times over for binary) can outgrow the record size limit.
		return 0, fmt.Errorf("parse int64 %s: %w", quoteHead(b, 32), ne.Err)
	}
	return n, err
}

// parseShortInt parses b as strconv.ParseInt(string(b), 10, 64) does when b
// is an optional sign and 1 to 18 decimal digits, which cannot overflow; ok
// is false for anything else, left to strconv. ParseInt's string escapes into
// its error: the conversion was an allocation per state read.
func parseShortInt(b []byte) (n int64, ok bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, b = b[0] == '-', b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// quoteHead quotes at most n bytes of b, noting how much it left out.
func quoteHead(b []byte, n int) string {
	if len(b) <= n {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%q... (%d bytes)", b[:n], len(b))
}

// Bytes returns a codec that passes values through. Decode copies its input and
// keeps nil (a tombstone) apart from empty, so forwarding an empty value does not
// turn it into a tombstone.
func Bytes() Codec[[]byte] { return bytesCodec{} }

type bytesCodec struct{}

func (bytesCodec) Encode(v []byte) ([]byte, error) { return v, nil }
func (bytesCodec) Decode(b []byte) ([]byte, error) { return bytes.Clone(b), nil }

var errEmpty = errors.New("empty value")
