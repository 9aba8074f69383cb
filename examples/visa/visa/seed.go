package visa

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/topology"
)

// SeedRoutes writes routes to [RoutesTable] on the cluster named by opts, as
// [WriteRoutes] does, if the table has never had a record (every partition's
// log is empty), and reports whether it wrote them. A table someone wrote
// to, even one whose routes were all deleted since, is left as it is. The
// topic must exist (see topology.Provision).
func SeedRoutes(ctx context.Context, routes []Route, opts ...topology.Option) (bool, error) {
	conn, err := topology.ClientOptions(opts...)
	if err != nil {
		return false, err
	}
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		return false, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, RoutesTable.Name)
	if err != nil {
		return false, fmt.Errorf("routing table %s: %w", RoutesTable.Name, err)
	}
	if err := ends.Error(); err != nil {
		return false, fmt.Errorf("routing table %s: %w", RoutesTable.Name, err)
	}
	written := false
	ends.Each(func(o kadm.ListedOffset) { written = written || o.Offset > 0 })
	if written {
		return false, nil
	}
	if err := WriteRoutes(ctx, routes, opts...); err != nil {
		return false, err
	}
	return true, nil
}
