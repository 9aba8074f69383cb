// Package featurestore keeps the latest feature vector of every entity in an
// agent's compacted table and serves it by key over HTTP.
//
// # Store
//
// [New] returns an agent that consumes [Update] records ({entity, name, value,
// as_of}) keyed by entity and merges each into the entity's [Vector], the
// agent's state: a feature keeps the value as of the latest time, so updates
// that arrive out of order or twice leave it as it should be ([Vector.Apply]).
// The table is a compacted changelog topic: it holds one vector per entity,
// survives restarts, and is what the lookup service reads. [From] adds inputs
// of other types, such as the results of package window's aggregations.
//
// # Lookup
//
// [Handler] answers GET /features/{entity}, and POST /features for many
// entities at once, from a [Reader], normally a [topology.View] of the
// store's table: a local copy of the compacted topic in Pebble, kept up to
// date by following the changelog. Lookups never reach Kafka or the agent:
// from the view's first recovery on, the service keeps answering while the
// agent restarts and while the broker is down, and it sees the agent's writes
// again when they reach the broker. An entity the store has no features of is
// a 404; each answer carries as_of, when the store wrote the vector.
//
// The serve command of every sluice binary (package cli) runs this handler as
// a deployable service, with health checks, metrics and headers that say how
// current each answer is (package lookup):
//
//	fraud serve --tables features-table --brokers kafka:9092 --http :8081
//
// # Usage
//
//	store, err := featurestore.New(featurestore.Config{Name: "features", Updates: updates})
//	...
//	g := &topology.Graph{Name: "features", Sources: []topology.Topic{updates}, Agents: []topology.AgentDecl{store}}
//	go topology.Run(ctx, g, topology.Brokers(brokers...))
//
//	view, err := topology.NewView(store.Table(), topology.Brokers(brokers...), topology.DataDir("lookup"))
//	...
//	go view.Run(ctx)
//	http.ListenAndServe(":8080", featurestore.Handler(view))
package featurestore
