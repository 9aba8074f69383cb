package window

import (
	"fmt"
	"sync/atomic"
)

// Metrics counts what window agents do. Set [Config.Metrics] to use one; read
// it at any time. Its String method returns JSON, so it is an expvar.Var:
// expvar.Publish("windows", m) serves it on /debug/vars.
//
// Counts cover records whose handler call succeeded; a record replayed after a
// crash (at-least-once) counts again. The zero Metrics is ready to use and safe
// for concurrent use.
type Metrics struct {
	records, late, updates, finals atomic.Int64
}

// Records returns the number of records aggregated: added to at least one
// window (a sliding aggregation counts those it keeps for later windows too).
func (m *Metrics) Records() int64 { return m.records.Load() }

// Late returns the number of late records: records sent to [Config.Late]
// because at least one of their windows had closed.
func (m *Metrics) Late() int64 { return m.late.Load() }

// Updates returns the number of update results emitted.
func (m *Metrics) Updates() int64 { return m.updates.Load() }

// Finals returns the number of final results emitted.
func (m *Metrics) Finals() int64 { return m.finals.Load() }

// String returns the counts as a JSON object.
func (m *Metrics) String() string {
	return fmt.Sprintf(`{"records":%d,"late":%d,"updates":%d,"finals":%d}`,
		m.Records(), m.Late(), m.Updates(), m.Finals())
}
