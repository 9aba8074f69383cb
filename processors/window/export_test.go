package window

// Folder runs an agent's per-record logic without goka or Kafka, so that
// property tests can compare it with a model over thousands of random streams
// in the time the harness takes for a few. It round-trips every state through
// [StateCodec], as the table does.
type Folder struct {
	s      spec
	states map[string][]byte
}

// NewFolder returns the Folder of the agent c declares.
func NewFolder[In any](c Config[In]) (*Folder, error) {
	s, err := c.validate()
	if err != nil {
		return nil, err
	}
	return &Folder{s: s, states: map[string][]byte{}}, nil
}

// Consume folds one record into its key's state and returns the results the
// agent emits for it, in order, and whether the record is late, with the key's
// stream time.
func (f *Folder) Consume(key string, t int64, v float64) (out []Result, late bool, streamTime int64, err error) {
	var st State
	b, ok := f.states[key]
	if ok {
		if st, err = StateCodec().Decode(b); err != nil {
			return nil, false, 0, err
		}
	}
	st, r, changed := f.s.apply(st, ok, t, v)
	if changed {
		if f.states[key], err = StateCodec().Encode(st); err != nil {
			return nil, false, 0, err
		}
	}
	if f.s.updates {
		out = append(out, r.updates...)
	}
	if f.s.finals {
		out = append(out, r.finals...)
	}
	return out, r.late, st.StreamTime, nil
}
