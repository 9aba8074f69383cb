package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// viewStateFile is the name of the file beside a view's storage that says
// what the storage holds; see [viewState].
const viewStateFile = "sluice-view.json"

// viewFormat is the storage format of views: each value behind its record
// time (gokax.StampValues). Storage without a state file of this format is
// from an older sluice or was never written by a view, and is rebuilt.
const viewFormat = 1

// viewState is what a view keeps beside its local storage, in
// DataDir/views/TABLE/sluice-view.json, so that a view started again on the
// same storage knows what it holds:
//
//   - Recovered: whether the storage has caught up with every partition of the
//     changelog once. A view started on such storage answers from it at once
//     ([View.Recovered]), while it catches up with what it missed.
//   - Offsets: the offset of the last record each partition held when the file
//     was written (-1 for none). Storage that lost a partition that held
//     records (its directory deleted) has not recovered, whatever the file says.
//   - Heard: the last time the view heard from the broker, for [Freshness].
//
// The file is written when the view starts, when it has recovered, every
// [viewSaveInterval] after, and when it stops.
type viewState struct {
	Format    int              `json:"format"`
	Table     string           `json:"table"`
	Recovered bool             `json:"recovered"`
	Heard     time.Time        `json:"heard,omitzero"`
	Offsets   map[string]int64 `json:"offsets,omitempty"` // by partition, as JSON object keys are strings
}

// viewSaveInterval is how often a recovered view writes its state file.
const viewSaveInterval = 10 * time.Second

// openViewState reads the state file of the view of table whose storage is in
// dir. If there is none, or it is of another format or table, it empties dir
// (the storage is a copy of the changelog, rebuilt by recovering it) and
// returns a fresh state, written to dir. wiped reports whether dir held
// anything it removed.
func openViewState(dir, table string) (st viewState, wiped bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, viewStateFile))
	if err == nil && json.Unmarshal(b, &st) == nil && st.Format == viewFormat && st.Table == table {
		return st, false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return viewState{}, false, fmt.Errorf("view state: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return viewState{}, false, fmt.Errorf("view storage: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return viewState{}, false, fmt.Errorf("view storage: rebuild: %w", err)
		}
	}
	st = viewState{Format: viewFormat, Table: table}
	return st, len(entries) > 0, st.save(dir)
}

// save writes st to dir's state file, atomically.
func (st viewState) save(dir string) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("view state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("view state: %w", err)
	}
	tmp := filepath.Join(dir, viewStateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("view state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, viewStateFile)); err != nil {
		return fmt.Errorf("view state: %w", err)
	}
	return nil
}

// setOffsets records the offsets of the local storage's partitions; those of
// partitions missing from offsets (not opened in this Run) stay as they were.
func (st *viewState) setOffsets(offsets map[int32]int64) {
	if st.Offsets == nil {
		st.Offsets = make(map[string]int64, len(offsets))
	}
	for p, o := range offsets {
		st.Offsets[strconv.Itoa(int(p))] = o
	}
}

// holds reports whether storage whose partitions are at offsets (every one of
// its partitions open) still holds what st recorded: st says it recovered,
// and no partition that held records is empty now.
func (st viewState) holds(offsets map[int32]int64, partitions int) bool {
	if !st.Recovered || len(offsets) != partitions {
		return false
	}
	for p, was := range st.Offsets {
		n, err := strconv.Atoi(p)
		if err != nil {
			return false
		}
		now, ok := offsets[int32(n)]
		if !ok || was >= 0 && now < 0 {
			return false
		}
	}
	return true
}

// readViewState returns the state file of the view of table whose storage is
// in dir, without changing anything; ok is false if there is none of this
// format and table.
func readViewState(dir, table string) (st viewState, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, viewStateFile))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Format != viewFormat || st.Table != table {
		return viewState{}, false
	}
	return st, true
}
