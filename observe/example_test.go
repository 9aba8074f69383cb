package observe_test

import (
	"os"
	"time"

	"github.com/sluicehq/sluice/observe"
)

// WriteLag prints lag rows as kafka-consumer-groups --describe does; in a
// program the rows come from observe.Lag or observe.GraphLag.
func ExampleWriteLag() {
	rows := []observe.LagRow{
		{Group: "counter", Topic: "clicks", Partition: 0, Committed: 40, End: 52, Lag: 12, Age: 2500 * time.Millisecond},
		{Group: "counter", Topic: "clicks", Partition: 1, Committed: 37, End: 37},
	}
	if err := observe.WriteLag(os.Stdout, rows); err != nil {
		panic(err)
	}
	// Output:
	// GROUP    TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  AGE
	// counter  clicks  0          40              52              12   2.5s
	// counter  clicks  1          37              37              0    0s
}
