package topology

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestViewStateHolds pins when storage that recovered in an earlier run is
// served at once: only if the state file says it recovered, every partition
// is open, and none that held records has lost them.
func TestViewStateHolds(t *testing.T) {
	recovered := viewState{Format: viewFormat, Recovered: true}
	recovered.setOffsets(map[int32]int64{0: 12, 1: -1})
	for _, tc := range []struct {
		name    string
		st      viewState
		offsets map[int32]int64
		want    bool
	}{
		{"as recorded", recovered, map[int32]int64{0: 12, 1: -1}, true},
		{"behind what was recorded (unsynced writes lost)", recovered, map[int32]int64{0: 3, 1: -1}, true},
		{"ahead", recovered, map[int32]int64{0: 20, 1: 4}, true},
		{"a partition that held records is empty", recovered, map[int32]int64{0: -1, 1: -1}, false},
		{"a partition not open yet", recovered, map[int32]int64{0: 12}, false},
		{"never recovered", viewState{Format: viewFormat}, map[int32]int64{0: 12, 1: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.st.holds(tc.offsets, 2); got != tc.want {
				t.Errorf("holds(%v) = %t, want %t", tc.offsets, got, tc.want)
			}
		})
	}
}

// TestOpenViewState pins that storage is kept only beside a state file of
// the current format for the same table, and emptied otherwise.
func TestOpenViewState(t *testing.T) {
	heard := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		file      string // the state file's content; "" for none
		wantKept  bool
		wantHeard time.Time
	}{
		{"current", `{"format":1,"table":"t","recovered":true,"heard":"2026-01-02T03:04:05Z","offsets":{"0":3}}`, true, heard},
		{"no state file", "", false, time.Time{}},
		{"older format", `{"format":0,"table":"t","recovered":true}`, false, time.Time{}},
		{"another table", `{"format":1,"table":"u","recovered":true}`, false, time.Time{}},
		{"not JSON", `{"format":`, false, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t")
			part := filepath.Join(dir, "t.0")
			if err := os.MkdirAll(part, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(part, "data"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, viewStateFile), []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			st, wiped, err := openViewState(dir, "t")
			if err != nil {
				t.Fatal(err)
			}
			_, statErr := os.Stat(filepath.Join(part, "data"))
			if kept := statErr == nil; kept != tc.wantKept || wiped == tc.wantKept {
				t.Errorf("storage kept = %t (wiped %t), want kept %t", kept, wiped, tc.wantKept)
			}
			if st.Recovered != tc.wantKept || !st.Heard.Equal(tc.wantHeard) || st.Table != "t" || st.Format != viewFormat {
				t.Errorf("state = %+v, want recovered %t, heard %v", st, tc.wantKept, tc.wantHeard)
			}
			again, wiped, err := openViewState(dir, "t")
			if err != nil || wiped || again.Table != "t" {
				t.Errorf("second open = %+v, wiped %t, %v, want the state written by the first", again, wiped, err)
			}
		})
	}
}

// TestLagOf pins the lag Freshness reports from the broker's end offsets and
// the offsets the local copy holds.
func TestLagOf(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ends, local map[int32]int64
		want        int64
	}{
		{"caught up", map[int32]int64{0: 10, 1: 0}, map[int32]int64{0: 9, 1: -1}, 0},
		{"behind", map[int32]int64{0: 10, 1: 5}, map[int32]int64{0: 4, 1: -1}, 10},
		{"ahead of a stale answer", map[int32]int64{0: 10}, map[int32]int64{0: 12}, 0},
		{"a partition not open", map[int32]int64{0: 10, 1: 5}, map[int32]int64{0: 9}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lagOf(tc.ends, tc.local); got != tc.want {
				t.Errorf("lagOf(%v, %v) = %d, want %d", tc.ends, tc.local, got, tc.want)
			}
		})
	}
}
