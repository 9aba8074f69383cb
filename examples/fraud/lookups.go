package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"time"
)

// lookupProbe plays an inference service that fetches the features of each
// payment request's user from the lookup service over HTTP, as the request
// is sent, and reports each lookup's latency to the tally: the figures
// beside the scorer's in the summary. Lookups beyond its queue are skipped
// rather than holding up the generator.
type lookupProbe struct {
	base   string // the lookup service's URL, ending in "/"
	client *http.Client
	users  chan string
	tally  *Tally
}

// probeQueue bounds the lookups waiting to be made.
const probeQueue = 4096

func newLookupProbe(base string, t *Tally) *lookupProbe {
	return &lookupProbe{
		base:   base,
		client: &http.Client{Timeout: 5 * time.Second},
		users:  make(chan string, probeQueue),
		tally:  t,
	}
}

// enqueue asks for a lookup of user's features; it never blocks.
func (p *lookupProbe) enqueue(user string) {
	select {
	case p.users <- user:
	default:
		p.tally.Looked(0, lookupSkipped)
	}
}

// run makes the lookups, one at a time on one keep-alive connection, until
// ctx is done.
func (p *lookupProbe) run(ctx context.Context) {
	defer p.client.CloseIdleConnections()
	for {
		select {
		case <-ctx.Done():
			return
		case user := <-p.users:
			start := time.Now()
			outcome := p.get(ctx, user)
			if ctx.Err() != nil {
				return
			}
			p.tally.Looked(time.Since(start), outcome)
		}
	}
}

// get fetches the features of user and says how it went.
func (p *lookupProbe) get(ctx context.Context, user string) lookupOutcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"features/"+url.PathEscape(user), nil)
	if err != nil {
		return lookupFailed
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return lookupFailed
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return lookupFailed
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return lookupFound
	case http.StatusNotFound:
		return lookupMissing
	}
	return lookupFailed
}
