// Package lookup serves the values of a topology's tables over HTTP, from
// local copies that keep answering while the broker is down: the online
// half of a feature store, which inference services call for the latest
// values of the entities they score.
//
// # Server
//
// [New] builds a [Server] for some tables of a graph. It reads each through
// a [topology.View]: a full copy of the table's compacted changelog in local
// Pebble storage, followed as the owning agent writes it. [Server.Run] runs
// the views; the Server is an http.Handler:
//
//   - GET /tables/{table}/{key}: the key's value, decoded with the table's
//     codec and written as JSON, with as_of, when it was written ([Value]);
//     404 for a key without a value.
//   - POST /tables/{table} with {"keys": [...]}: many keys at once, each
//     found or not ([Batch]), at most [MaxBatch].
//   - GET /features/{entity} and POST /features with {"entities": [...]}:
//     the feature store's own form (package featurestore), when exactly one
//     served table holds featurestore vectors.
//   - GET /tables: the served tables and how current each copy is.
//   - GET /healthz: 200 while the views run (liveness: a broker outage does
//     not make it fail, so a replica is never restarted for one).
//   - GET /readyz: 200 "serving" or "stale" (serving, possibly stale: a view
//     has not heard from the broker for [DefaultStaleAfter]) once every view
//     has recovered, 503 "loading" while one never has.
//   - GET /metrics: Prometheus metrics, lookups and views among them.
//
// # Freshness
//
// A view answers from its copy from its first recovery on, through broker
// outages, agent restarts and its own restarts on the same storage, also a
// restart while no broker answers (a replica rescheduled during an outage):
// it answers from the copy at once, /readyz "stale", and follows the
// changelog again once the broker answers. Each
// lookup answer says how current it may be: the header [HeaderAge] gives the
// seconds since the view last heard from the broker, and [HeaderLag] how many
// of the changelog offsets written before then it lacks (0: the answer is
// current as of then). A lookup answers 503 with Retry-After
// only while its view has never recovered: on a fresh or wiped data dir,
// until it has caught up.
//
// # Replicas
//
// Every Server holds a full copy of each table it serves, so any number can
// run side by side, each with its own data directory, behind a load
// balancer; each follows the changelog by itself. The serve command of every
// sluice binary (package cli) runs one.
//
// # Usage
//
//	srv, err := lookup.New(g, []string{"features-table"},
//		lookup.Views(topology.Brokers("kafka:9092"), topology.DataDir("/var/lib/lookup")))
//	...
//	go srv.Run(ctx)
//	http.ListenAndServe(":8081", srv)
package lookup
