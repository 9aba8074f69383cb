package visa_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/observe"
)

// reviewShot names a file to write the browser test's PNG of the review view
// to, for the README: go test ./examples/visa/visa -run TestReviewView -review-screenshot ../../../docs/review-queue.png
var reviewShot = flag.String("review-screenshot", "", "write a PNG of the review view to this `file` (relative to the package directory)")

// TestReviewView drives the live page's review view in headless Chromium
// while the pipeline runs with the desk on the embedded broker: two
// applications that level A finds need review appear in the review queue
// with their reasons, path and time waiting, one gets escalated when its
// review SLA passes, and a reviewer approves one and rejects the other with
// a comment, from the page. Both leave the queue, and each gets one final
// decision whose path ends with the reviewer's step.
func TestReviewView(t *testing.T) {
	exe := proctest.Chromium(t)
	g, err := visa.GraphWith(nil, visa.Options{Review: true, ReviewSLA: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	addrs := setUp(t, g, visa.DefaultRoutes)
	tl := newTail(t, addrs, visa.Final.Name)
	running(t, g, addrs, t.TempDir())
	srv, err := observe.NewServer(g, observe.Brokers(addrs...), observe.Views(visa.ReviewView(func() []string { return addrs })))
	if err != nil {
		t.Fatal(err)
	}
	base := serveHTTP(t, srv)

	for _, id := range []string{"rev-1", "rev-2"} {
		app := valid(id, "tourist")
		app.Passport.Number = "bad!" // level A: needs review
		sendApp(t, addrs, app)
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root in a container has no user namespace for the sandbox
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 800),
	)...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	defer cancelTimeout()

	// The live page links to the review view.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`a.view[href="/review/"]`)),
		chromedp.Click(chromedp.CSS(`a.view[href="/review/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#cases tbody tr[data-id="rev-1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#cases tbody tr[data-id="rev-2"]`)),
	); err != nil {
		t.Fatalf("open the review view from the live page: %v", err)
	}
	row := func(id, what string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(
			`(document.querySelector('tr[data-id=%q] %s') || {textContent: ""}).textContent`, id, what)))
		if err != nil {
			t.Fatalf("read %s of %s: %v", what, id, err)
		}
		return strings.TrimSpace(s)
	}
	if r := row("rev-1", ".reasons"); !strings.Contains(r, "A:") && !strings.Contains(r, "passport") {
		t.Errorf("reasons of rev-1 show %q, want level A's finding about the passport", r)
	}
	if p := row("rev-1", ".path"); p != "A needs_review" {
		t.Errorf("path of rev-1 shows %q, want %q", p, "A needs_review")
	}
	if w := row("rev-1", ".waiting .since"); !strings.HasSuffix(w, " s") && !strings.HasSuffix(w, " min") {
		t.Errorf("waiting of rev-1 shows %q, want a time", w)
	}
	// Its review SLA passes: the desk escalates it, and the page shows it.
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`tr[data-id="rev-1"][data-escalated="true"] .badge`))); err != nil {
		t.Fatalf("wait for the escalation of rev-1: %v", err)
	}
	if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-id="rev-1"] .badge').length`)); err != nil || n != 1 {
		t.Errorf("rev-1 shows %d escalation badges (%v), want 1", n, err)
	}

	decide := func(id, button, comment string) {
		t.Helper()
		sel := fmt.Sprintf(`tr[data-id=%q]`, id)
		if err := chromedp.Do(bctx,
			chromedp.SendKeys(chromedp.CSS(sel+` input.comment`), comment),
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector('%s input.reviewer').value = ""`, sel)),
			chromedp.SendKeys(chromedp.CSS(sel+` input.reviewer`), "ana"),
			chromedp.Click(chromedp.CSS(sel+` button.`+button)),
		); err != nil {
			t.Fatalf("%s %s: %v", button, id, err)
		}
	}
	if *reviewShot != "" {
		shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(*reviewShot, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	decide("rev-1", "approve", "passport checked by phone")
	decide("rev-2", "reject", "no valid passport")
	waitUntil(t, func() bool { return len(tl.finals(t, "rev-1")) > 0 && len(tl.finals(t, "rev-2")) > 0 })
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#empty`))); err != nil {
		t.Fatalf("wait for the queue to empty: %v", err)
	}
	for id, want := range map[string]struct{ decision, comment string }{
		"rev-1": {visa.Approved, "passport checked by phone"},
		"rev-2": {visa.Rejected, "no valid passport"},
	} {
		fs := tl.finals(t, id)
		if len(fs) != 1 {
			t.Fatalf("%s: %d final decisions, want 1", id, len(fs))
		}
		f := fs[0]
		last := f.Path[len(f.Path)-1]
		if f.Decision != want.decision || !slices.Equal(pathLevels(f.Path), []string{"A", visa.ReviewLevel}) ||
			last.Reviewer != "ana" || !slices.Equal(last.Finding.Reasons, []string{want.comment}) {
			t.Errorf("%s: final %+v, want %s along A, review, by ana: %q", id, f, want.decision, want.comment)
		}
	}
}

// serveHTTP serves h on a free port of 127.0.0.1 until the test ends and
// returns its base URL.
func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}
