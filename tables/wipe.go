package tables

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// ErrWiped is returned by the writes of a store whose database directory was
// deleted (or replaced) while the database was open, as an operator wiping a
// running agent's state does. The store refuses writes from then on: its
// database lives in deleted files, and Pebble, which cannot create a new log
// file there, would stop the process at its next memtable switch. The agent
// fails, the restart closes the database with its last store, and the next
// open creates it anew, empty: goka recovers every partition from its
// changelog.
var ErrWiped = errors.New("tables: the database's directory was deleted while open")

// wipeCheckEvery is how often a single write checks the directory; commits
// of many writes (recovery batches, Apply) check every time. Pebble's
// memtable is at least 1 MiB, more than a store writes one key at a time in
// this interval.
const wipeCheckEvery = 50 * time.Millisecond

// dirWatch tells whether a database's directory is still the one it opened.
type dirWatch struct {
	path    string
	info    os.FileInfo
	checked atomic.Int64 // unix ns of the last check that found the directory
	wiped   atomic.Bool
}

func newDirWatch(path string) (*dirWatch, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	w := &dirWatch{path: path, info: info}
	w.checked.Store(time.Now().UnixNano())
	return w, nil
}

// check returns ErrWiped if the directory is gone or another one; unless
// always, it looks at most once per wipeCheckEvery.
func (w *dirWatch) check(always bool) error {
	if w == nil {
		return nil
	}
	if w.wiped.Load() {
		return fmt.Errorf("%w: %s", ErrWiped, w.path)
	}
	now := time.Now().UnixNano()
	if !always && now-w.checked.Load() < int64(wipeCheckEvery) {
		return nil
	}
	if info, err := os.Stat(w.path); err != nil || !os.SameFile(info, w.info) {
		w.wiped.Store(true)
		return fmt.Errorf("%w: %s", ErrWiped, w.path)
	}
	w.checked.Store(now)
	return nil
}
