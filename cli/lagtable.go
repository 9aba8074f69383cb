package cli

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/observe"
)

// writeLag writes rows to w as a table in the manner of kafka-consumer-groups
// --describe: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG AGE,
// with "-" for what is unknown (nothing committed, an offset that could not be
// read), then one line per row that has an error. Without rows it writes a
// line saying so.
func writeLag(w io.Writer, rows []observe.LagRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no consumer group offsets yet: no agent has run or committed")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tAGE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Group, r.Topic, r.Partition,
			offset(r.Committed), offset(r.End), offset(r.Lag), formatAge(r.Age))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Err != nil {
			if _, err := fmt.Fprintf(w, "%s %s/%d: %v\n", r.Group, r.Topic, r.Partition, r.Err); err != nil {
				return err
			}
		}
	}
	return nil
}

func offset(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}

// formatAge formats the age of a lag for people: "-" when unknown (negative),
// "0s", milliseconds under a second ("850ms"), tenths of a second under a
// minute ("12.3s"), whole seconds beyond ("5m3s").
func formatAge(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d == 0:
		return "0s"
	case d < time.Second:
		return max(d.Round(time.Millisecond), time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
