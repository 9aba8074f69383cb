package cli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/observe"
)

// TestWriteLag pins the lag table's format, close to kafka-consumer-groups
// --describe: aligned columns, "-" for the unknown, then the errors.
func TestWriteLag(t *testing.T) {
	rows := []observe.LagRow{
		{Group: "counter", Topic: "clicks", Partition: 0, Committed: 12, End: 15, Lag: 3, Age: 1234 * time.Millisecond},
		{Group: "counter", Topic: "clicks", Partition: 1, Committed: 9, End: 9, Lag: 0},
		{Group: "auditor-with-a-long-name", Topic: "counts", Partition: 0, Committed: -1, End: 7, Lag: 7, Age: 90 * time.Second},
		{Group: "auditor-with-a-long-name", Topic: "counts", Partition: 1, Committed: -1, End: -1, Lag: -1, Age: -1, Err: errors.New("NOT_LEADER_FOR_PARTITION")},
	}
	var b strings.Builder
	if err := writeLag(&b, rows); err != nil {
		t.Fatal(err)
	}
	want := `GROUP                     TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  AGE
counter                   clicks  0          12              15              3    1.2s
counter                   clicks  1          9               9               0    0s
auditor-with-a-long-name  counts  0          -               7               7    1m30s
auditor-with-a-long-name  counts  1          -               -               -    -
auditor-with-a-long-name counts/1: NOT_LEADER_FOR_PARTITION
`
	if got := b.String(); got != want {
		t.Errorf("WriteLag =\n%s\nwant\n%s", got, want)
	}

	b.Reset()
	if err := writeLag(&b, nil); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "no consumer group offsets yet") {
		t.Errorf("WriteLag(nil) = %q, want a line saying there is nothing", got)
	}
}

// TestFormatAge pins the age column's rounding.
func TestFormatAge(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-1, "-"},
		{0, "0s"},
		{300 * time.Microsecond, "1ms"},
		{850 * time.Millisecond, "850ms"},
		{12345 * time.Millisecond, "12.3s"},
		{5*time.Minute + 3400*time.Millisecond, "5m3s"},
	} {
		if got := formatAge(tc.d); got != tc.want {
			t.Errorf("formatAge(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
