// Package lookupbench is the workload of BenchmarkFeatureLookup, shared by
// the benchmark and the two servers it runs as processes of their own: the
// lookup service (../../lookupsvc, a sluice binary built around [Graph])
// and the floor (../../lookupfloor, plain net/http answering from a map).
package lookupbench

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/topology"
)

// Table is the feature table the lookup service serves.
const Table = "features-table"

// asOf is the time every feature and every table record is as of.
var asOf = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// Graph returns the benchmark's topology: a feature store, "features",
// whose table [Table] has 4 partitions.
func Graph() (*topology.Graph, error) {
	updates := topology.Stream[featurestore.Update]{Name: "feature-updates", Codec: topology.JSON[featurestore.Update]()}
	store, err := featurestore.New(featurestore.Config{Name: "features", Updates: updates})
	if err != nil {
		return nil, err
	}
	return &topology.Graph{Name: "lookup-bench", Sources: []topology.Topic{updates}, Agents: []topology.AgentDecl{store}, Partitions: 4}, nil
}

// Entity returns the key of entity i.
func Entity(i int) string { return "e" + strconv.Itoa(i) }

// Vector returns the table value of entity i: four features, as the feature
// store writes them (its table's codec is topology.JSON).
func Vector(i int) []byte {
	b, err := json.Marshal(featurestore.Vector{Features: map[string]featurestore.Feature{
		"clicks_5m":         {Value: float64(i % 50), AsOf: asOf},
		"txn_count_1h":      {Value: float64(i % 7), AsOf: asOf},
		"avg_txn_value_1h":  {Value: float64(i%300) + 0.5, AsOf: asOf},
		"max_txn_value_24h": {Value: float64(i % 2000), AsOf: asOf},
	}})
	if err != nil {
		panic(err) // unreachable: a vector of finite values marshals
	}
	return b
}

// Answer returns the body of the answer to GET /features/{entity} for
// entity i whose table record was written as of [asOf], as the lookup
// service writes it.
func Answer(i int) []byte {
	v := Vector(i)
	return fmt.Appendf(nil, "{\"entity\":%q,%s,\"as_of\":%q}\n", Entity(i), v[1:len(v)-1], asOf.Format(time.RFC3339Nano))
}

// Timestamp is the time of every table record the benchmark writes, so that
// the lookup service's answers are [Answer]'s.
func Timestamp() time.Time { return asOf }
