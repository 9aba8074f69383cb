package topology

import (
	"container/heap"
	"sync"
)

// timerPart is the in-memory index of one partition's timers on the instance
// that owns it: every key's set, and heaps of the pending wall-clock and
// stream timers by time. The partition's goroutine changes sets (apply); the
// scheduler takes due timers (dueWall) and gives back those it could not send
// (unsend). Safe for concurrent use.
type timerPart struct {
	p      int32
	loaded chan struct{} // closed once the index is restored (or failed: err)
	err    error         // set before loaded is closed

	mu         sync.Mutex
	keys       map[string]*keyTimers
	wall       timerHeap // pending wall-clock timers not sent, by At
	stream     timerHeap // pending stream timers not fired, by At
	streamTime int64     // Unix ns, 0 when unknown
	pending    int
	// cleans are markers (at-least-once) waiting for the loop partition's
	// mark to pass the offset of the record that fired them.
	cleans []cleanReq
}

// keyTimers is one key's timers in the index.
type keyTimers struct {
	timers map[string]*timerEntry // by name
	fired  []firedMark
}

// timerEntry is one pending timer.
type timerEntry struct {
	key  string
	st   storedTimer
	heap int  // index in its heap, -1 when in none
	sent bool // a fire record was sent (or is due to be) and not yet handled
}

// cleanReq asks for the marker of timer id named name of key to be removed
// once the record at offset is done.
type cleanReq struct {
	key, name string
	id        uint64
	offset    int64
}

func newTimerPart(p int32) *timerPart {
	return &timerPart{p: p, loaded: make(chan struct{}), keys: map[string]*keyTimers{}}
}

// fail ends a restore that failed; callbacks waiting for the partition fail.
func (tp *timerPart) fail(err error) {
	tp.err = err
	close(tp.loaded)
}

// load fills the empty index from the restored sets, sets the stream time to
// the largest recorded, and returns the stream timers already due, marked
// sent. It marks the index loaded.
func (tp *timerPart) load(sets map[string]timerSet) []timerEntry {
	tp.mu.Lock()
	for _, s := range sets {
		tp.streamTime = max(tp.streamTime, s.StreamTime)
	}
	for key, s := range sets {
		tp.applyLocked(key, s)
	}
	due := tp.dueStreamLocked()
	tp.mu.Unlock()
	close(tp.loaded)
	return due
}

// get returns a copy of key's set, with the partition's stream time.
func (tp *timerPart) get(key string) timerSet {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	s := timerSet{StreamTime: tp.streamTime}
	k := tp.keys[key]
	if k == nil {
		return s
	}
	for _, e := range k.timers {
		s.Timers = append(s.Timers, e.st)
	}
	s.Fired = append(s.Fired, k.fired...)
	s.sort()
	return s
}

// lookup returns the pending timer id named name of key.
func (tp *timerPart) lookup(key, name string, id uint64) (storedTimer, bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if k := tp.keys[key]; k != nil {
		if e := k.timers[name]; e != nil && e.st.ID == id {
			return e.st, true
		}
	}
	return storedTimer{}, false
}

// marker returns the marker of the fired timer id named name of key.
func (tp *timerPart) marker(key, name string, id uint64) (firedMark, bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if k := tp.keys[key]; k != nil {
		for _, f := range k.fired {
			if f.Name == name && f.ID == id {
				return f, true
			}
		}
	}
	return firedMark{}, false
}

// apply makes s key's set (written to the timers topic by the caller) and
// returns the stream timers now due, marked sent.
func (tp *timerPart) apply(key string, s timerSet) []timerEntry {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.applyLocked(key, s)
	return tp.dueStreamLocked()
}

func (tp *timerPart) applyLocked(key string, s timerSet) {
	old := tp.keys[key]
	k := &keyTimers{timers: make(map[string]*timerEntry, len(s.Timers)), fired: s.Fired}
	for _, st := range s.Timers {
		if old != nil {
			if e := old.timers[st.Name]; e != nil && e.st.ID == st.ID {
				k.timers[st.Name] = e // unchanged: keeps its place and sent flag
				delete(old.timers, st.Name)
				continue
			}
		}
		e := &timerEntry{key: key, st: st, heap: -1}
		k.timers[st.Name] = e
		tp.pushLocked(e)
		tp.pending++
	}
	if old != nil {
		for _, e := range old.timers {
			tp.removeLocked(e)
			tp.pending--
		}
	}
	for _, f := range s.Fired {
		if old == nil || !hasMark(old.fired, f) {
			tp.cleans = append(tp.cleans, cleanReq{key: key, name: f.Name, id: f.ID, offset: f.Offset})
		}
	}
	if len(k.timers) == 0 && len(k.fired) == 0 {
		delete(tp.keys, key)
		return
	}
	tp.keys[key] = k
}

func hasMark(fired []firedMark, f firedMark) bool {
	for _, g := range fired {
		if g.Name == f.Name && g.ID == f.ID {
			return true
		}
	}
	return false
}

func (tp *timerPart) pushLocked(e *timerEntry) {
	if e.st.Stream {
		heap.Push(&tp.stream, e)
	} else {
		heap.Push(&tp.wall, e)
	}
}

func (tp *timerPart) removeLocked(e *timerEntry) {
	if e.heap < 0 {
		return
	}
	if e.st.Stream {
		heap.Remove(&tp.stream, e.heap)
	} else {
		heap.Remove(&tp.wall, e.heap)
	}
}

// advance moves the partition's stream time to ts if that is later, and
// returns the stream timers that makes due, marked sent.
func (tp *timerPart) advance(ts int64) []timerEntry {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if ts <= tp.streamTime {
		return nil
	}
	tp.streamTime = ts
	return tp.dueStreamLocked()
}

func (tp *timerPart) dueStreamLocked() []timerEntry {
	var due []timerEntry
	for tp.stream.Len() > 0 && tp.stream[0].st.At <= tp.streamTime {
		e := heap.Pop(&tp.stream).(*timerEntry)
		e.sent = true
		due = append(due, *e)
	}
	return due
}

// streamNow returns the partition's stream time, Unix ns.
func (tp *timerPart) streamNow() int64 {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.streamTime
}

// dueWall returns the wall-clock timers due at now (Unix ns), marked sent.
func (tp *timerPart) dueWall(now int64) []timerEntry {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var due []timerEntry
	for tp.wall.Len() > 0 && tp.wall[0].st.At <= now {
		e := heap.Pop(&tp.wall).(*timerEntry)
		e.sent = true
		due = append(due, *e)
	}
	return due
}

// nextWall returns the time of the earliest wall-clock timer not sent.
func (tp *timerPart) nextWall() (int64, bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.wall.Len() == 0 {
		return 0, false
	}
	return tp.wall[0].st.At, true
}

// unsend puts the wall-clock timer id named name of key back among those to
// send, if it is still pending and was sent: its fire record failed, or came
// before its time by this instance's clock.
func (tp *timerPart) unsend(key, name string, id uint64) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	k := tp.keys[key]
	if k == nil {
		return
	}
	if e := k.timers[name]; e != nil && e.st.ID == id && e.sent && !e.st.Stream {
		e.sent = false
		tp.pushLocked(e)
	}
}

// takeCleans removes and returns the clean requests of markers fired below
// mark: the loop records that fired them are done.
func (tp *timerPart) takeCleans(mark int64) []cleanReq {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var out []cleanReq
	keep := tp.cleans[:0]
	for _, c := range tp.cleans {
		if c.offset < mark {
			out = append(out, c)
		} else {
			keep = append(keep, c)
		}
	}
	tp.cleans = keep
	return out
}

// count returns how many timers are pending.
func (tp *timerPart) count() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.pending
}

// timerHeap is a min-heap of timers by At, for container/heap.
type timerHeap []*timerEntry

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if h[i].st.At != h[j].st.At {
		return h[i].st.At < h[j].st.At
	}
	return h[i].st.ID < h[j].st.ID // deterministic among equal times
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heap, h[j].heap = i, j
}

func (h *timerHeap) Push(x any) {
	e := x.(*timerEntry)
	e.heap = len(*h)
	*h = append(*h, e)
}

func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heap = -1
	return e
}
