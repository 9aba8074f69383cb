package visa_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/observe"
)

// TestLivePageFitsWindow pins that the live page draws the visa pipeline, in
// its largest form (retries, the review desk and its SLAs), within a
// 1400-pixel-wide window: neither the page nor the graph's panel scrolls
// sideways, and every agent is drawn. No broker is needed: the page draws
// the graph before it has figures.
func TestLivePageFitsWindow(t *testing.T) {
	exe := proctest.Chromium(t)
	for _, tc := range []struct {
		name string
		o    visa.Options
	}{
		{"default", visa.Options{}},
		{"retry and review", visa.Options{Retry: true, Review: true, ReviewSLA: time.Minute, Concurrency: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := visa.GraphWith(nil, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := observe.NewServer(g, observe.Brokers("127.0.0.1:1"), observe.Interval(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			base := serveHTTP(t, srv)
			allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
				chromedp.ExecPath(exe),
				chromedp.NoSandbox, // root in a container has no user namespace for the sandbox
				chromedp.Flag("disable-dev-shm-usage", true),
				chromedp.WindowSize(1400, 900),
			)...)
			defer cancelAlloc()
			bctx, cancelBrowser := chromedp.NewContext(allocCtx)
			defer cancelBrowser()
			bctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
			defer cancel()
			if err := chromedp.Do(bctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`g.node.agent`))); err != nil {
				t.Fatalf("load the page: %v", err)
			}
			type widths struct {
				Inner, Page, Panel, PanelClient, Agents int
			}
			m, err := chromedp.Run(bctx, chromedp.Evaluate[widths](`({
				Inner: window.innerWidth,
				Page: document.documentElement.scrollWidth,
				Panel: document.querySelector("section.graph").scrollWidth,
				PanelClient: document.querySelector("section.graph").clientWidth,
				Agents: document.querySelectorAll("g.node.agent").length,
			})`))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("window %d px: page %d px, graph panel %d px of %d shown, %d agents", m.Inner, m.Page, m.Panel, m.PanelClient, m.Agents)
			if m.Inner > 1400 || m.Inner < 1300 {
				t.Fatalf("window is %d px wide, want 1400 less a scroll bar at most", m.Inner)
			}
			if m.Page > m.Inner || m.Panel > m.PanelClient {
				t.Errorf("the page scrolls sideways in a 1400-px window: page %d px in %d, graph %d px in %d", m.Page, m.Inner, m.Panel, m.PanelClient)
			}
			if want := len(g.Agents); m.Agents != want {
				t.Errorf("%d agents drawn, want %d", m.Agents, want)
			}
		})
	}
}
