package visa_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/examples/visa/visa"
)

// TestParseRoute pins the route syntax: levels by letter or queue topic, and the
// checks that keep a route inside the routing universe.
func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		in      string
		hops    []string
		wantErr string
	}{
		{"work=B,E,D", []string{"scrutiny-queue-B", "scrutiny-queue-E", "scrutiny-queue-D"}, ""},
		{"work = b, scrutiny-queue-E ,d", []string{"scrutiny-queue-B", "scrutiny-queue-E", "scrutiny-queue-D"}, ""},
		{"tourist=", nil, ""},
		{"work", nil, "want TYPE=LEVEL"},
		{"=B", nil, "want TYPE=LEVEL"},
		{"work=B,F", nil, `hop 2 "F" is no scrutiny queue`},
		{"work=A,B", nil, `hop 1 "scrutiny-queue-A" is no scrutiny queue`},
		{"work=B,B", nil, "appears twice"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := visa.ParseRoute(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseRoute(%q) = %+v, %v, want an error containing %q", tc.in, r, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(r.Hops, tc.hops) {
				t.Fatalf("ParseRoute(%q) = %+v, %v, want hops %q", tc.in, r, err, tc.hops)
			}
		})
	}
}

// TestDefaultRoutes pins the flows of the issue, as data.
func TestDefaultRoutes(t *testing.T) {
	want := []string{
		"tourist: A -> final-decisions-out",
		"business: A -> B -> C -> D -> final-decisions-out",
		"student: A -> B -> D -> final-decisions-out",
	}
	var got []string
	for _, r := range visa.DefaultRoutes {
		if err := r.Check(); err != nil {
			t.Errorf("route %s: %v", r, err)
		}
		got = append(got, r.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("default routes = %q, want %q", got, want)
	}
	if got, want := visa.WorkRoute.String(), "work: A -> B -> E -> D -> final-decisions-out"; got != want {
		t.Errorf("work route = %q, want %q", got, want)
	}
}
