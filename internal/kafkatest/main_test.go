package kafkatest_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fatalTB records the first Fatalf instead of failing the test, so that the
// helpers' failure paths can be tested. ctx, if set, replaces the test's
// context.
type fatalTB struct {
	testing.TB
	ctx context.Context
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalTB) Context() context.Context {
	if f.ctx != nil {
		return f.ctx
	}
	return f.TB.Context()
}

// fatal runs fn with a fatalTB on its own goroutine, as Fatalf ends the
// goroutine, and returns the Fatalf message, "" if there was none.
func fatal(t *testing.T, ctx context.Context, fn func(testing.TB)) string {
	f := &fatalTB{TB: t, ctx: ctx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}
