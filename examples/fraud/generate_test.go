package main

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func events(t *testing.T, c GenConfig) []Event {
	t.Helper()
	g, err := NewGenerator(c)
	if err != nil {
		t.Fatal(err)
	}
	var es []Event
	for {
		e, ok := g.Next()
		if !ok {
			return es
		}
		es = append(es, e)
	}
}

// TestGeneratorSeeded pins that a seed gives one sequence of events, and
// another seed another.
func TestGeneratorSeeded(t *testing.T) {
	c := GenConfig{Count: 300, Rate: 100, Users: 50, Fraud: 10, Seed: 7, Prefix: "S"}
	a, b := events(t, c), events(t, c)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two generators with seed 7 differ")
	}
	c.Seed = 8
	if reflect.DeepEqual(a, events(t, c)) {
		t.Fatal("seeds 7 and 8 give the same events")
	}
}

// TestGeneratorSessions checks the shape of the events: in order of time,
// one request per session with unique IDs, each after a click and a
// transaction of its user, and the sessions of fraud-ish users in about the
// share asked for, with larger amounts than the others.
func TestGeneratorSessions(t *testing.T) {
	const count = 2000
	es := events(t, GenConfig{Count: count, Rate: 200, Users: 500, Fraud: 10, Seed: 1, Prefix: "S"})
	type seen struct{ clicks, txns int }
	sessions := map[int]*seen{}
	ids := map[string]bool{}
	fraudUser := map[string]bool{}
	var requests, fraud int
	var amount [2]struct {
		n   int
		sum float64
	}
	for i, e := range es {
		if i > 0 && e.At < es[i-1].At {
			t.Fatalf("event %d at %v after one at %v", i, e.At, es[i-1].At)
		}
		if f, ok := fraudUser[e.User]; ok && f != e.Fraud {
			t.Fatalf("user %s has fraud-ish and normal sessions, want one kind per user", e.User)
		}
		fraudUser[e.User] = e.Fraud
		s := sessions[e.Session]
		if s == nil {
			s = new(seen)
			sessions[e.Session] = s
		}
		label := 0
		if e.Fraud {
			label = 1
		}
		if s.clicks < 0 {
			t.Fatalf("event %+v after the request of its session", e)
		}
		switch {
		case e.Click != nil:
			s.clicks++
		case e.Txn != nil:
			s.txns++
			amount[label].n++
			amount[label].sum += e.Txn.Amount
		case e.Request != nil:
			requests++
			if e.Fraud {
				fraud++
			}
			if ids[e.Request.ID] {
				t.Errorf("request ID %s twice", e.Request.ID)
			}
			ids[e.Request.ID] = true
			if id := fmt.Sprintf("S-%06d", e.Session); e.Request.ID != id || e.Request.Entity != e.User || s.clicks == 0 || s.txns == 0 {
				t.Errorf("request %s of %s (entity %s) ends session %d of %d clicks and %d transactions; want ID %s, its user's, at least one of each",
					e.Request.ID, e.User, e.Request.Entity, e.Session, s.clicks, s.txns, id)
			}
			s.clicks = -1000 // the session is over: nothing follows its request
		}
	}
	if requests != count || !ids[fmt.Sprintf("S-%06d", count)] {
		t.Errorf("%d requests, want %d numbered S-000001 to S-%06d", requests, count, count)
	}
	if fraud < count*5/100 || fraud > count*15/100 {
		t.Errorf("%d fraud-ish of %d requests, want about 10%%", fraud, count)
	}
	normal, risky := amount[0].sum/float64(amount[0].n), amount[1].sum/float64(amount[1].n)
	if normal > 100 || risky < 1000 {
		t.Errorf("mean transaction %.2f normal, %.2f fraud-ish; want under 100 and over 1000", normal, risky)
	}
	if n := len(es); n < count*5 {
		t.Errorf("%d events for %d sessions, want clicks and transactions too", n, count)
	}
}

func TestNewGeneratorErrors(t *testing.T) {
	ok := GenConfig{Count: 1, Rate: 1, Users: 1, Fraud: 5}
	for _, tc := range []struct {
		name string
		edit func(*GenConfig)
	}{
		{"negative count", func(c *GenConfig) { c.Count = -1 }},
		{"zero rate", func(c *GenConfig) { c.Rate = 0 }},
		{"no users", func(c *GenConfig) { c.Users = 0 }},
		{"fraud over 100", func(c *GenConfig) { c.Fraud = 101 }},
		{"fraud negative", func(c *GenConfig) { c.Fraud = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if _, err := NewGenerator(c); !errors.Is(err, ErrGenConfig) {
				t.Errorf("NewGenerator(%+v) = %v, want ErrGenConfig", c, err)
			}
		})
	}
	if _, err := NewGenerator(ok); err != nil {
		t.Errorf("NewGenerator(%+v) = %v, want nil", ok, err)
	}
}
