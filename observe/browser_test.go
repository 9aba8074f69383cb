package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// screenshot names a file to write the browser test's PNG of the live page
// to, for the README: go test ./observe -run TestLivePage -screenshot ../docs/live-page.png
var screenshot = flag.String("screenshot", "", "write a PNG of the live page to this `file` (relative to the package directory)")

// TestLivePage drives the live page in headless Chromium while a topology
// runs on its embedded broker and records flow: the page draws every agent,
// its figures change, dead letters show, and a table lookup shows a value and
// says when a key has none.
func TestLivePage(t *testing.T) {
	exe := proctest.Chromium(t)
	g := testGraph()
	srv, err := observe.NewServer(g)
	if err != nil {
		t.Fatal(err)
	}
	brokers := make(chan []string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- topology.Run(ctx, g, topology.EmbeddedListen("127.0.0.1:0"), topology.DataDir(t.TempDir()),
			topology.OnProvisioned(func(addrs []string) {
				srv.SetBrokers(addrs)
				brokers <- addrs
			}))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("topology.Run: %v", err)
		}
	})
	base := serve(t, srv)
	var addrs []string
	select {
	case addrs = <-brokers:
	case <-time.After(60 * time.Second):
		t.Fatal("the embedded broker did not start within 60s")
	}
	produceClicks(t, addrs, 10, 10)
	stopFlow := flow(t, addrs)
	defer stopFlow()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root in a container has no user namespace for the sandbox
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	defer cancelTimeout()

	if err := chromedp.Do(bctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`g.node.agent`)),
	); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	drawn, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("g.node.agent")).map(g => g.dataset.agent)`))
	if err != nil {
		t.Fatalf("read the agents drawn: %v", err)
	}
	if want := []string{"counter", "auditor"}; !slices.Equal(drawn, want) {
		t.Errorf("agents drawn = %q, want %q", drawn, want)
	}

	// text returns the text of the element sel selects; SVG text has no
	// innerText, which chromedp.Text reads.
	text := func(sel string) string {
		t.Helper()
		js, _ := json.Marshal(sel)
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(`+string(js)+`).textContent`))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	records := `g[data-topic="clicks"] [data-field="records"]`
	rate := `g[data-agent="counter"] [data-field="rate"]`
	waitFor(t, 60*time.Second, "figures on the page", func() error {
		if r := text(records); !strings.HasSuffix(r, " records") {
			return fmt.Errorf("%w: clicks shows %q", errNotYet, r)
		}
		return nil
	})
	first := text(records)
	waitFor(t, 60*time.Second, "the clicks count to change", func() error {
		if r := text(records); r == first {
			return fmt.Errorf("%w: clicks still shows %q", errNotYet, r)
		}
		return nil
	})
	waitFor(t, 60*time.Second, "counter's rate above zero", func() error {
		if r := text(rate); !strings.HasSuffix(r, " rec/s") || strings.HasPrefix(r, "0.0 ") {
			return fmt.Errorf("%w: counter's rate shows %q", errNotYet, r)
		}
		return nil
	})
	waitFor(t, 60*time.Second, "counter's dead letter", func() error {
		if d := text(`g[data-agent="counter"] [data-field="dlq"]`); d != "dead letters 1" {
			return fmt.Errorf("%w: counter's dead letters show %q", errNotYet, d)
		}
		return nil
	})
	waitFor(t, 60*time.Second, "rows in the lag table", func() error {
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#lag tbody tr").length`))
		if err != nil {
			return err
		}
		if n != 4 {
			return fmt.Errorf("%w: %d rows, want 4", errNotYet, n)
		}
		return nil
	})

	lookup := func(key string) (state, result string) {
		t.Helper()
		if err := chromedp.Do(bctx,
			chromedp.SetValue(chromedp.ID("lookup-table"), "counter-table"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("lookup-key").value = ""`),
			chromedp.SendKeys(chromedp.ID("lookup-key"), key),
			chromedp.Click(chromedp.ID("lookup-go")),
			chromedp.WaitVisible(chromedp.CSS(`#lookup-result[data-state]`)),
		); err != nil {
			t.Fatalf("look up %q: %v", key, err)
		}
		attr, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.ID("lookup-result"), "data-state"))
		if err != nil {
			t.Fatalf("look up %q: %v", key, err)
		}
		result = text("#lookup-result")
		// The next lookup waits for its own answer.
		if err := chromedp.Do(bctx, chromedp.RemoveAttribute(chromedp.ID("lookup-result"), "data-state")); err != nil {
			t.Fatal(err)
		}
		return attr.Value, result
	}
	if state, result := lookup("nobody"); state != "missing" || !strings.Contains(result, "no value") {
		t.Errorf("lookup of a missing key shows %s %q, want it to say there is no value", state, result)
	}
	state, result := lookup("u1")
	var v struct {
		Count int64  `json:"count"`
		Last  string `json:"last"`
	}
	if err := json.Unmarshal([]byte(result), &v); state != "found" || err != nil || v.Count < 1 || !strings.HasPrefix(v.Last, "/p") {
		t.Errorf("lookup of u1 shows %s %q (%v), want a count and a last page", state, result, err)
	}

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() < 600 {
		t.Fatalf("screenshot is not a page-sized PNG: %v", err)
	}
	if *screenshot != "" {
		if err := os.WriteFile(*screenshot, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", *screenshot, len(shot))
	}
}

// flow produces a click every 20 ms, and one record counter cannot decode,
// until the returned function is called.
func flow(t *testing.T, addrs []string) (stop func()) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(clicks.Name))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Key: []byte("u1"), Value: []byte("not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v := fmt.Appendf(nil, `{"page":"/p%d"}`, i)
			cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "u%d", i%10), Value: v}, nil)
		}
	}()
	var stopped bool
	return func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		cl.Close()
	}
}
