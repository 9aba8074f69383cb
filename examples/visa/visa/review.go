package visa

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// reviewWeb holds the review view's page: it loads nothing from elsewhere.
//
//go:embed web/review.html
var reviewWeb embed.FS

// reviewTimeout bounds each request of the review view to the cluster.
const reviewTimeout = 15 * time.Second

// ReviewItem is an application in the review table as the review view lists
// it.
type ReviewItem struct {
	ID       string    `json:"id"`
	VisaType string    `json:"visa_type"`
	Reasons  []string  `json:"reasons"`
	Path     []Step    `json:"path"`
	Since    time.Time `json:"since"`
	// Waiting is how long it has waited for review, in seconds.
	Waiting   float64 `json:"waiting_seconds"`
	Escalated bool    `json:"escalated"`
	Audit     []Audit `json:"audit,omitempty"`
}

// ReviewView returns the review view of the live page, to mount with
// observe.Views (or cli.Observe's AddView) at /review/: the applications in
// the desk's review table ([DeskTable], see [Options]) with their reasons,
// path and time waiting, oldest first, and for each a comment field and
// buttons to approve or reject it, which write a [ReviewDecision] to
// [Reviews]; the desk then writes the final decision. brokers returns the
// cluster's seed brokers, nil until they are known; conn are the options
// that reach it ([topology.WithSecurity], [topology.KafkaConfig]) on a
// secured cluster.
//
// Its JSON API: GET /review/api/cases lists the [ReviewItem]s; POST
// /review/api/decide takes {"id", "decision" (approved or rejected),
// "comment", "reviewer"} and answers 202 once the decision is written, 400 for
// a bad one, 503 while the brokers are unknown.
func ReviewView(brokers func() []string, conn ...topology.Option) observe.View {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /review/{$}", func(w http.ResponseWriter, _ *http.Request) {
		b, _ := reviewWeb.ReadFile("web/review.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /review/api/cases", func(w http.ResponseWriter, r *http.Request) {
		addrs := brokers()
		if len(addrs) == 0 {
			writeReviewJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "waiting for the broker"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), reviewTimeout)
		defer cancel()
		items, err := AwaitingReview(ctx, cluster(addrs, conn), time.Now())
		if err != nil {
			writeReviewJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		writeReviewJSON(w, http.StatusOK, items)
	})
	mux.HandleFunc("POST /review/api/decide", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID string `json:"id"`
			ReviewDecision
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			writeReviewJSON(w, http.StatusBadRequest, map[string]string{"error": "want a JSON object with id, decision, comment and reviewer: " + err.Error()})
			return
		}
		if strings.TrimSpace(req.ID) == "" || (req.Decision != Approved && req.Decision != Rejected) {
			writeReviewJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("want an id and a decision of %s or %s", Approved, Rejected)})
			return
		}
		addrs := brokers()
		if len(addrs) == 0 {
			writeReviewJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "waiting for the broker"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), reviewTimeout)
		defer cancel()
		if err := SendReview(ctx, cluster(addrs, conn), req.ID, req.ReviewDecision); err != nil {
			writeReviewJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		writeReviewJSON(w, http.StatusAccepted, map[string]string{"id": req.ID, "decision": req.Decision})
	})
	return observe.View{Path: "/review/", Title: "Review queue", Handler: mux}
}

func writeReviewJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// cluster returns the options of the cluster at addrs reached as conn says.
func cluster(addrs []string, conn []topology.Option) []topology.Option {
	return append([]topology.Option{topology.Brokers(addrs...)}, conn...)
}

// SendReview writes a reviewer's decision about the application id to
// [Reviews] on the cluster that the options name ([topology.Brokers], and
// [topology.WithSecurity] or [topology.KafkaConfig] for a secured one).
func SendReview(ctx context.Context, cluster []topology.Option, id string, r ReviewDecision) (err error) {
	em, err := topology.NewEmitter(Reviews, cluster...)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, em.Close()) }()
	return em.Write(ctx, id, r)
}

// AwaitingReview returns the applications in the desk's review table on the
// cluster the options name (as [SendReview]'s), oldest first, with their time waiting at now. It reads
// the desk's table topic, committed records only, from its start to its end.
func AwaitingReview(ctx context.Context, cluster []topology.Option, now time.Time) ([]ReviewItem, error) {
	cases, err := readCases(ctx, cluster)
	if err != nil {
		return nil, err
	}
	items := []ReviewItem{}
	for _, cs := range cases {
		if cs.Status != StatusAwaitingReview {
			continue
		}
		items = append(items, ReviewItem{ID: cs.ID, VisaType: cs.VisaType, Reasons: cs.Reasons, Path: cs.Path,
			Since: cs.ReviewSince, Waiting: now.Sub(cs.ReviewSince).Seconds(), Escalated: cs.Escalated, Audit: cs.Audit})
	}
	slices.SortFunc(items, func(a, b ReviewItem) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return items, nil
}

// readCases reads the last committed value of every key of the desk's table.
func readCases(ctx context.Context, cluster []topology.Option) (map[string]Case, error) {
	conn, err := topology.ClientOptions(cluster...)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(conn, kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.FetchMaxWait(50*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, DeskTable.Name)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("review table: end offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, DeskTable.Name)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("review table: start offsets: %w", err)
	}
	left := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && s.Offset < o.Offset {
			left[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	out := map[string]Case{}
	if len(left) == 0 {
		return out, nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{DeskTable.Name: from})
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("review table: %d partitions not read to their end: %w", len(left), err)
		}
		if err := fs.Err0(); err != nil {
			return nil, fmt.Errorf("review table: %w", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset >= end-1 {
				delete(left, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			if r.Value == nil {
				delete(out, string(r.Key))
				return
			}
			var cs Case
			if json.Unmarshal(r.Value, &cs) == nil {
				out[string(r.Key)] = cs
			}
		})
	}
	return out, nil
}
