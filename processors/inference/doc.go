// Package inference serves model predictions from a stream of requests: an
// agent joins each request with the requesting entity's feature vector from a
// feature store's table, scores it with a [Model] and emits a [Prediction].
//
// # Models
//
// A [Model] scores one feature vector whose values are in the order its
// Features method names. [LoadLogistic] reads a logistic regression from JSON;
// [LoadLeaves] reads a LightGBM text model or an XGBoost binary model through
// github.com/dmitryikh/leaves (pure Go, no cgo). Every load failure wraps
// [ErrModel] and names the file, so a bad model file stops start-up with a
// message that says what is wrong.
//
// # Joining features
//
// Requests are keyed by entity and the feature table is the feature store's
// (featurestore.New), co-partitioned with the requests: the agent reads the
// entity's vector from its local copy of the table (a goka join), with no
// network call per request. The copy follows the table's changelog, so an
// update the store wrote a moment before a request may not be joined yet; a
// prediction carries the feature values it was computed from. (When the agent
// starts, goka recovers its copy before it reads a request.) A feature the
// vector lacks is missing; what
// happens then is the [MissingPolicy]: [Flag] scores anyway and flags the
// prediction, [DeadLetter] sends the request to the agent's dead-letter topic
// with the missing names as the reason.
//
// # Usage
//
//	m, err := inference.LoadLogistic("fraud.json")
//	if err != nil {
//		return err // wraps inference.ErrModel and names the file
//	}
//	store, _ := featurestore.New(featurestore.Config{Name: "features", Updates: updates})
//	scorer, err := inference.New(inference.Config{
//		Name:     "scorer",
//		Requests: requests,
//		Features: store.Table(),
//		Out:      predictions,
//		Model:    m,
//	})
//
// Add both agents to a topology.Graph and run it with topology.Run.
package inference
