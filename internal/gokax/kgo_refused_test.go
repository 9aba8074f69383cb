package gokax

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupRefusal pins which group session errors stop a processor
// (configuration alone fixes them) and which franz-go keeps retrying.
func TestGroupRefusal(t *testing.T) {
	cfg := Config()
	cfg.Consumer.Group.Session.Timeout = 3 * time.Second
	for _, tc := range []struct {
		name string
		err  error
		want string // in the refusal; "" for none
	}{
		{"session timeout", &kgo.ErrGroupSession{Err: kerr.InvalidSessionTimeout}, "(INVALID_SESSION_TIMEOUT): session timeout 3s: set KafkaConfig's Consumer.Group.Session.Timeout"},
		{"group id", &kgo.ErrGroupSession{Err: kerr.InvalidGroupID}, "(INVALID_GROUP_ID): rename the agent"},
		{"group ACL", &kgo.ErrGroupSession{Err: fmt.Errorf("offset fetch: %w", kerr.GroupAuthorizationFailed)}, ""},
		{"other members' protocol", &kgo.ErrGroupSession{Err: kerr.InconsistentGroupProtocol}, ""},
		{"full group", &kgo.ErrGroupSession{Err: kerr.GroupMaxSizeReached}, ""},
		{"coordinator", &kgo.ErrGroupSession{Err: kerr.CoordinatorNotAvailable}, ""},
		{"fetch error", kerr.InvalidSessionTimeout, ""},
		{"not Kafka's", &kgo.ErrGroupSession{Err: errors.New("i/o timeout")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := groupRefusal(cfg, "counter", tc.err)
			switch {
			case tc.want == "" && got != nil:
				t.Fatalf("groupRefusal = %v, want nil (retried)", got)
			case tc.want == "":
			case !errors.Is(got, ErrGroupRefused) || !strings.Contains(got.Error(), `consumer group "counter" `+tc.want):
				t.Fatalf("groupRefusal = %v, want ErrGroupRefused saying %q", got, tc.want)
			}
		})
	}
}
