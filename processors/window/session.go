package window

import "slices"

// session adds the record (t, v) to the sessions of st: it joins, and so
// merges, every open session it is less than gap from, unless the session it
// would end up in has closed at stream time now (the record is then late);
// then the sessions that closed since stream time old leave st with their
// final results.
func (w spec) session(st *State, t int64, v float64, old, now int64) step {
	var s step
	merged := OpenSession{Aggregate: Aggregate{Start: t}, End: t}
	merged.add(v)
	var rest []OpenSession
	for _, ss := range st.Sessions {
		if ss.Start-w.gap < t && t < ss.End+w.gap {
			merged = mergeSessions(merged, ss)
		} else {
			rest = append(rest, ss)
		}
	}
	if merged.End+w.gap+w.grace <= now {
		s.late = true
	} else {
		i, _ := slices.BinarySearchFunc(rest, merged.Start, func(ss OpenSession, start int64) int { return cmpInt(ss.Start, start) })
		st.Sessions = slices.Insert(rest, i, merged)
		s.added = true
		s.updates = append(s.updates, w.result(merged.Aggregate, merged.Start, merged.End+1, now, false))
	}
	if now > old {
		s.finals = w.closeSessions(st, now)
	}
	return s
}

// mergeSessions returns the session of the records of a and b.
func mergeSessions(a, b OpenSession) OpenSession {
	m := OpenSession{Aggregate: Aggregate{Start: min(a.Start, b.Start), Count: a.Count + b.Count, Sum: a.Sum + b.Sum,
		Min: min(a.Min, b.Min), Max: max(a.Max, b.Max)}, End: max(a.End, b.End)}
	return m
}

// closeSessions removes the sessions of st closed at stream time now (those
// that no record can join any more: their end plus gap and grace is past)
// and returns their final results, by start.
func (w spec) closeSessions(st *State, now int64) []Result {
	var finals []Result
	open := st.Sessions[:0]
	for _, ss := range st.Sessions {
		if ss.End+w.gap+w.grace <= now {
			finals = append(finals, w.result(ss.Aggregate, ss.Start, ss.End+1, now, true))
		} else {
			open = append(open, ss)
		}
	}
	clear(st.Sessions[len(open):])
	st.Sessions = open
	return finals
}
