package topologytest_test

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/topology"
)

// Click is a page view by the user in the record key.
type Click struct {
	Page string `json:"page"`
}

var (
	clicks = topology.Stream[Click]{Name: "clicks", Codec: topology.JSON[Click]()}
	counts = topology.Stream[int64]{Name: "counts", Codec: topology.Int64()}
)

// counter counts clicks per user in its state and emits each new count.
var counter = topology.Agent[int64]{
	Name:  "counter",
	State: topology.Int64(),
	Inputs: []topology.Input[int64]{topology.Consume(clicks,
		func(c *topology.Context[int64], user string, _ Click) error {
			n, _, err := c.State()
			if err != nil {
				return err
			}
			if err := c.SetState(n + 1); err != nil {
				return err
			}
			return topology.Emit(c, counts, user, n+1)
		})},
	Outputs: []topology.Topic{counts},
}

func counterGraph() *topology.Graph {
	return &topology.Graph{
		Name:    "count",
		Sources: []topology.Topic{clicks},
		Sinks:   []topology.Topic{counts},
		Agents:  []topology.AgentDecl{counter},
	}
}

// Order is an order placed in a region.
type Order struct {
	Region string `json:"region"`
	Amount int    `json:"amount"`
}

var (
	orders   = topology.Stream[Order]{Name: "orders", Codec: topology.JSON[Order]()}
	ordersEU = topology.Stream[Order]{Name: "orders-eu", Codec: topology.JSON[Order]()}
	ordersUS = topology.Stream[Order]{Name: "orders-us", Codec: topology.JSON[Order]()}
)

// routerGraph routes each order to "orders-" + its region. Only eu and us are
// declared, so any other region is a routing mistake. With ignoreErr the handler
// drops the error EmitTo returns, as a careless one would.
func routerGraph(ignoreErr bool) *topology.Graph {
	router := topology.Agent[struct{}]{
		Name: "router",
		Inputs: []topology.Input[struct{}]{topology.Consume(orders,
			func(c *topology.Context[struct{}], id string, o Order) error {
				err := topology.EmitTo(c, "orders-"+o.Region, id, o)
				if ignoreErr {
					return nil
				}
				return err
			})},
		Outputs: []topology.Topic{ordersEU, ordersUS},
	}
	return &topology.Graph{
		Name:    "route",
		Sources: []topology.Topic{orders},
		Sinks:   []topology.Topic{ordersEU, ordersUS},
		Agents:  []topology.AgentDecl{router},
	}
}

var (
	payments = topology.Stream[int64]{Name: "payments", Codec: topology.Int64()}
	booked   = topology.Stream[int64]{Name: "booked", Codec: topology.Int64()}
)

// bookerGraph books payments: it adds each to the account's balance (its state),
// emits the new balance, and then calls fail with the number of the attempt for
// this record, starting at 1. A non-nil error from fail fails the record after
// the emit and the state change.
func bookerGraph(fail func(attempt int, amount int64) error) *topology.Graph {
	attempts := map[string]int{} // the tester runs handlers in one goroutine at a time
	booker := topology.Agent[int64]{
		Name:  "booker",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(payments,
			func(c *topology.Context[int64], account string, amount int64) error {
				id := fmt.Sprintf("%s@%d", c.Topic(), c.Offset())
				attempts[id]++
				balance, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(balance + amount); err != nil {
					return err
				}
				if err := topology.Emit(c, booked, account, balance+amount); err != nil {
					return err
				}
				return fail(attempts[id], amount)
			})},
		Outputs: []topology.Topic{booked},
	}
	return &topology.Graph{
		Name:    "book",
		Sources: []topology.Topic{payments},
		Sinks:   []topology.Topic{booked},
		Agents:  []topology.AgentDecl{booker},
	}
}

var errDown = errors.New("ledger down")

// Profile is a user's profile.
type Profile struct {
	Name string `json:"name"`
}

// Visit is a click with what the enricher knows of its user.
type Visit struct {
	Page    string `json:"page"`
	Name    string `json:"name"`
	Country string `json:"country"`
}

var (
	profileUpdates = topology.Stream[Profile]{Name: "profile-updates", Codec: topology.JSON[Profile]()}
	visits         = topology.Stream[Visit]{Name: "visits", Codec: topology.JSON[Visit]()}
	// countries is the table of an agent in another topology: user -> country.
	countries = topology.ExternalTable("geo", topology.String())
)

// profiles keeps the latest profile of each user.
var profiles = topology.Agent[Profile]{
	Name:  "profiles",
	State: topology.JSON[Profile](),
	Inputs: []topology.Input[Profile]{topology.Consume(profileUpdates,
		func(c *topology.Context[Profile], _ string, p Profile) error { return c.SetState(p) })},
}

// enricherGraph turns clicks into visits: it looks the user's profile up in the
// profiles agent's table and joins the user's country from an external table.
func enricherGraph() *topology.Graph {
	enricher := topology.Agent[struct{}]{
		Name: "enricher",
		Inputs: []topology.Input[struct{}]{topology.Consume(clicks,
			func(c *topology.Context[struct{}], user string, cl Click) error {
				v := Visit{Page: cl.Page, Name: "?", Country: "?"}
				p, ok, err := topology.Lookup(c, profiles.Table(), user)
				if err != nil {
					return err
				}
				if ok {
					v.Name = p.Name
				}
				country, ok, err := topology.Join(c, countries)
				if err != nil {
					return err
				}
				if ok {
					v.Country = country
				}
				return topology.Emit(c, visits, user, v)
			})},
		Outputs: []topology.Topic{visits},
		Lookups: []topology.Topic{profiles.Table()},
		Joins:   []topology.Topic{countries},
	}
	return &topology.Graph{
		Name:    "enrich",
		Sources: []topology.Topic{clicks, profileUpdates, countries},
		Sinks:   []topology.Topic{visits},
		Agents:  []topology.AgentDecl{profiles, enricher},
	}
}
