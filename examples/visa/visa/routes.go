package visa

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/topology"
)

// Route is the path of one visa type after level A: the scrutiny queues to visit,
// in order. It is data, in [RoutesTable] under the visa type: level A copies Hops
// into each document's routing slip, and changing a route is writing one record.
type Route struct {
	VisaType string `json:"visa_type"`
	// Hops are scrutiny queue topics ([QueueName]); empty means level A decides
	// alone.
	Hops []string `json:"hops"`
}

// DefaultRoutes are the routes of the three visa types the pipeline starts with.
// A visa type without a route ends at level A as needs_review.
var DefaultRoutes = []Route{
	{VisaType: "tourist", Hops: nil},
	{VisaType: "business", Hops: []string{QueueName("B"), QueueName("C"), QueueName("D")}},
	{VisaType: "student", Hops: []string{QueueName("B"), QueueName("D")}},
}

// WorkRoute is the route of the work visa, which uses level E: it is not among
// [DefaultRoutes], and adding it to a running pipeline is how level E comes in.
var WorkRoute = Route{VisaType: "work", Hops: []string{QueueName("B"), QueueName("E"), QueueName("D")}}

// Check returns an error unless every hop is the queue of a level after A in
// [Levels], each at most once.
func (r Route) Check() error {
	if r.VisaType == "" {
		return errors.New("route without a visa type")
	}
	for i, h := range r.Hops {
		if _, ok := levelOfQueue(h); !ok {
			return fmt.Errorf("hop %d %q is no scrutiny queue (the levels after A are %s)", i+1, h, strings.Join(queueLevels(), ", "))
		}
		if slices.Contains(r.Hops[:i], h) {
			return fmt.Errorf("hop %q appears twice", h)
		}
	}
	return nil
}

// String returns the visa type and the route's levels, A first:
// "student: A -> B -> D -> final-decisions-out".
func (r Route) String() string {
	names := []string{"A"}
	for _, h := range r.Hops {
		if l, ok := levelOfQueue(h); ok {
			names = append(names, l.Name)
		} else {
			names = append(names, h)
		}
	}
	return r.VisaType + ": " + strings.Join(names, " -> ") + " -> " + Final.Name
}

// ParseRoute parses "work=B,E,D": a visa type, then the levels after A by name or
// by queue topic. "tourist=" is a route on which level A decides alone.
func ParseRoute(s string) (Route, error) {
	typ, hops, ok := strings.Cut(s, "=")
	typ = strings.TrimSpace(typ)
	if !ok || typ == "" {
		return Route{}, fmt.Errorf("route %q: want TYPE=LEVEL,LEVEL,... such as work=B,E,D", s)
	}
	r := Route{VisaType: typ}
	for _, h := range strings.Split(hops, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if l, ok := LevelOf(h); ok {
			h = QueueName(l.Name)
		}
		r.Hops = append(r.Hops, h)
	}
	if err := r.Check(); err != nil {
		return Route{}, fmt.Errorf("route %q: %w", s, err)
	}
	return r, nil
}

// WriteRoutes writes routes to [RoutesTable] on the cluster named by opts
// (topology.Brokers is required), one record each, and returns when the broker
// has acknowledged them all. The topic must exist (see topology.Provision).
func WriteRoutes(ctx context.Context, routes []Route, opts ...topology.Option) error {
	for _, r := range routes {
		if err := r.Check(); err != nil {
			return fmt.Errorf("route for %q: %w", r.VisaType, err)
		}
	}
	em, err := topology.NewEmitter(routeUpdates, opts...)
	if err != nil {
		return err
	}
	for _, r := range routes {
		if err := em.Send(r.VisaType, r); err != nil {
			return errors.Join(err, em.Close())
		}
	}
	return errors.Join(em.Flush(ctx), em.Close())
}
