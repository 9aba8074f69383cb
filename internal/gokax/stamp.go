package gokax

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Unstamp splits a value as a stamped view stores it (see [StampValues]) into
// the value and its record time (zero if the record had none). nil stays nil.
// It is how [View.GetStamped] reads local storage, for a reader of that storage
// without a running view.
func Unstamp(b []byte) ([]byte, time.Time, error) {
	if b == nil {
		return nil, time.Time{}, nil
	}
	if len(b) < stampSize {
		return nil, time.Time{}, fmt.Errorf("gokax: stamped value has %d bytes, want at least %d", len(b), stampSize)
	}
	var at time.Time
	if ns := int64(binary.BigEndian.Uint64(b)); ns != 0 {
		at = time.Unix(0, ns)
	}
	return b[stampSize:], at, nil
}
