package topology_test

import (
	"log/slog"
	"testing"
)

func dumpLogs(t *testing.T, h logRecorder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range *h.recs {
		s := ""
		r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
		t.Logf("%s %s %s%s", r.Time.Format("15:04:05.000"), r.Level, r.Message, s)
	}
}
