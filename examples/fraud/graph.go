package main

import (
	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/processors/inference"
	"github.com/sluicehq/sluice/topology"
)

// Click is one page view by a user: the value of the clicks stream, keyed by
// user.
type Click struct {
	User string `json:"user"`
	Page string `json:"page"`
}

// Txn is one completed card transaction of a user: the value of the
// transactions stream, keyed by user.
type Txn struct {
	ID       string  `json:"txn_id"`
	User     string  `json:"user"`
	Amount   float64 `json:"amount"`
	Merchant string  `json:"merchant"`
}

// Payment is the payload of a payment request: what the user wants to pay. The
// scorer passes it through untouched; the model sees only the user's features.
type Payment struct {
	Amount   float64 `json:"amount"`
	Merchant string  `json:"merchant"`
}

// The graph's streams. Every stream is keyed by user, and all have the graph's
// default partition count, so that the feature table and the requests are
// co-partitioned (the scorer joins them by key).
var (
	// Clicks are page views, written by the generator.
	Clicks = topology.Stream[Click]{Name: "clicks", Codec: topology.JSON[Click]()}
	// Txns are completed transactions, written by the generator.
	Txns = topology.Stream[Txn]{Name: "transactions", Codec: topology.JSON[Txn]()}
	// Requests are payment requests to score, written by the generator.
	Requests = topology.Stream[inference.Request]{Name: "inference-requests", Codec: topology.JSON[inference.Request]()}
	// Predictions are the fraud scores, one per request.
	Predictions = topology.Stream[inference.Prediction]{Name: "predictions", Codec: topology.JSON[inference.Prediction]()}
)

// Agent names.
const (
	clicksAgent   = "clicks-5m"
	txns1hAgent   = "txns-1h"
	txns24hAgent  = "txns-24h"
	sessionsAgent = "click-sessions"
	featuresAgent = "features"
	scorerAgent   = "fraud-scorer"
)

// Graph returns the fraud topology with m as the scorer's model: three window
// agents computing the features from clicks and transactions, the feature
// store merging them into one vector per user, and the scorer joining each
// payment request with its user's vector. extra agents (the all command's
// watcher) are added at the end.
func Graph(m inference.Model, extra ...topology.AgentDecl) (*topology.Graph, error) {
	f, err := newFeatures()
	if err != nil {
		return nil, err
	}
	store, err := featurestore.New(featurestore.Config{Name: featuresAgent, Inputs: f.inputs()})
	if err != nil {
		return nil, err
	}
	scorer, err := inference.New(inference.Config{
		Name:     scorerAgent,
		Requests: Requests,
		Features: store.Table(),
		Out:      Predictions,
		Model:    m,
		Missing:  inference.Flag, // a user's first request may beat its features: score it, flagged
	})
	if err != nil {
		return nil, err
	}
	sinks := append(f.lates(), Predictions)
	agents := append(f.agents(), store, scorer)
	return &topology.Graph{
		Name:    "fraud",
		Sources: []topology.Topic{Clicks, Txns, Requests},
		Sinks:   sinks,
		Agents:  append(agents, extra...),
	}, nil
}

// FeatureTable is the feature store's table: a vector per user.
var FeatureTable = topology.Table[featurestore.Vector]{Name: topology.TableName(featuresAgent), Codec: topology.JSON[featurestore.Vector]()}
