package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkareal"
	"github.com/sluicehq/sluice/topology"
)

// kstreamsImpl is the Kafka Streams peer: the application in kstreams/,
// Kafka Streams with its defaults (RocksDB state) except the commit
// interval, which is sluice's.
const kstreamsImpl = "kstreams"

// kstreamsCommit returns the commit.interval.ms the Kafka Streams peer runs
// with in mode: sluice's. At-least-once, sluice commits offsets every
// Consumer.Offsets.AutoCommit.Interval of its Kafka defaults (a second);
// exactly-once, a partition's transaction commits every
// topology.DefaultCommitInterval (100 ms), which is also Kafka Streams' own
// default for exactly_once_v2.
func kstreamsCommit(mode string) time.Duration {
	if mode == exactlyOnce {
		return topology.DefaultCommitInterval
	}
	return topology.DefaultKafkaConfig().Consumer.Offsets.AutoCommit.Interval
}

// kstreamsGuarantee returns Kafka Streams' processing.guarantee of mode.
func kstreamsGuarantee(mode string) string {
	if mode == exactlyOnce {
		return "exactly_once_v2"
	}
	return "at_least_once"
}

// kstreamsBuild is the compiled Kafka Streams application: its classpath.
var kstreamsBuild struct {
	once sync.Once
	cp   string
	err  error
}

// kstreamsClasspath builds the application in kstreams/ once per process and
// returns its classpath. Its dependencies (Kafka Streams and RocksDB, some
// 100 MB) come from Maven Central with `mvn dependency:copy-dependencies`
// into the shared cache beside Kafka's own jars,
// ~/.cache/sluice/kafka/kstreams-VERSION/libs; its sources are compiled with
// javac into classes-HASH beside them, HASH that of the sources and pom.
func kstreamsClasspath(tb testing.TB) string {
	tb.Helper()
	kstreamsBuild.once.Do(func() {
		kstreamsBuild.cp, kstreamsBuild.err = buildKStreams(context.Background())
	})
	if kstreamsBuild.err != nil {
		tb.Fatalf("kstreams: %v", kstreamsBuild.err)
	}
	return kstreamsBuild.cp
}

func buildKStreams(ctx context.Context) (string, error) {
	if _, err := kafkareal.Install(ctx); err != nil { // checks Java, as Kafka needs it anyway
		return "", err
	}
	src, err := filepath.Abs("kstreams")
	if err != nil {
		return "", err
	}
	hash, files, err := hashSources(src)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %w", err)
	}
	home := filepath.Join(cache, "sluice", "kafka", "kstreams-"+kafkareal.Version)
	if err := os.MkdirAll(home, 0o755); err != nil {
		return "", err
	}
	unlock, err := flock(filepath.Join(home, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	libs := filepath.Join(home, "libs-"+hash)
	classes := filepath.Join(home, "classes-"+hash)
	if _, err := os.Stat(classes); err == nil {
		return classes + string(filepath.ListSeparator) + filepath.Join(libs, "*"), nil
	}
	work, err := os.MkdirTemp(home, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = src
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
		}
		return nil
	}
	if _, err := os.Stat(libs); err != nil {
		if _, err := exec.LookPath("mvn"); err != nil {
			return "", fmt.Errorf("mvn not found: install Maven (apt-get install maven) to fetch Kafka Streams %s: %w", kafkareal.Version, kafkareal.ErrUnavailable)
		}
		if err := run("mvn", "-q", "-B", "dependency:copy-dependencies",
			"-Dkafka.version="+kafkareal.Version, "-DoutputDirectory="+filepath.Join(work, "libs")); err != nil {
			return "", err
		}
		if err := os.Rename(filepath.Join(work, "libs"), libs); err != nil {
			return "", err
		}
	}
	args := []string{"-nowarn", "-d", filepath.Join(work, "classes"), "-cp", filepath.Join(libs, "*")}
	if err := run("javac", append(args, files...)...); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(work, "classes"), classes); err != nil {
		return "", err
	}
	return classes + string(filepath.ListSeparator) + filepath.Join(libs, "*"), nil
}

// hashSources returns a hash of the pom and the Java sources under dir, and
// the sources' paths.
func hashSources(dir string) (string, []string, error) {
	h := sha256.New()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".java") || d.Name() == "pom.xml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path[len(dir):], len(b))
		h.Write(b)
		if strings.HasSuffix(path, ".java") {
			files = append(files, path)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12], files, err
}

// flock takes an exclusive lock on path and returns its release.
func flock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// ksApp is a running Kafka Streams application (see kstreams/Bench.java).
type ksApp struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr syncWriter
	done   chan struct{} // closed when the JVM exited
	start  time.Time     // when the JVM was started

	mu     sync.Mutex
	events map[string]time.Time // the first of each event
	wake   chan struct{}        // closed and replaced on every event
}

// startKStreams starts the Kafka Streams application app ("count" or "pipe")
// in mode on addrs with application.id id, state in a temporary directory,
// and args (key=value, see Bench.java). It is stopped at the end of tb.
func startKStreams(tb testing.TB, addrs []string, app, mode, id string, args ...string) *ksApp {
	tb.Helper()
	cp := kstreamsClasspath(tb)
	argv := []string{
		// Kafka Streams logs at INFO per rebalance and commit; warnings
		// and errors go to the benchmark's log when it fails.
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", cp, "dev.sluice.bench.Bench",
		"app=" + app, "id=" + id, "bootstrap=" + strings.Join(addrs, ","), "state=" + tb.TempDir(),
		"guarantee=" + kstreamsGuarantee(mode),
		"commit=" + strconv.FormatInt(kstreamsCommit(mode).Milliseconds(), 10),
	}
	a := &ksApp{cmd: exec.Command("java", append(argv, args...)...), done: make(chan struct{}),
		events: map[string]time.Time{}, wake: make(chan struct{})}
	a.cmd.Stderr = &a.stderr
	stdout, err := a.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if a.stdin, err = a.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	a.start = time.Now()
	if err := a.cmd.Start(); err != nil {
		tb.Fatalf("kstreams: start java: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			i := strings.LastIndexByte(line, ' ')
			if i <= 0 {
				continue
			}
			name := line[:i]
			n, err := strconv.ParseInt(line[i+1:], 10, 64)
			if err != nil {
				continue
			}
			a.mu.Lock()
			if _, seen := a.events[name]; !seen {
				a.events[name] = time.Unix(0, n)
			}
			close(a.wake)
			a.wake = make(chan struct{})
			a.mu.Unlock()
		}
		a.cmd.Wait()
		close(a.done)
	}()
	tb.Cleanup(func() { a.stop(tb) })
	return a
}

// await returns when the application first reported event, failing tb if it
// exited or timeout passed first.
func (a *ksApp) await(tb testing.TB, event string, timeout time.Duration) time.Time {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		at, ok := a.events[event]
		wake := a.wake
		a.mu.Unlock()
		if ok {
			return at
		}
		select {
		case <-wake:
		case <-a.done:
			tb.Fatalf("kstreams exited (%v) before %q:\n%s", a.cmd.ProcessState, event, a.output())
		case <-deadline:
			tb.Fatalf("kstreams: no %q within %v:\n%s", event, timeout, a.output())
		}
	}
}

// event returns when the application first reported name, if it did.
func (a *ksApp) event(name string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.events[name]
	return at, ok
}

// stop closes the application's stdin, on which it closes Kafka Streams and
// exits, and waits; after a minute it kills it.
func (a *ksApp) stop(tb testing.TB) {
	a.stdin.Close()
	select {
	case <-a.done:
	case <-time.After(time.Minute):
		a.cmd.Process.Kill()
		<-a.done
		tb.Errorf("kstreams did not stop within a minute:\n%s", a.output())
	}
}

// output returns the last of the application's stderr.
func (a *ksApp) output() string {
	s := a.stderr.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// syncWriter is a buffer safe for the writer and a reader.
type syncWriter struct {
	mu sync.Mutex
	w  bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// procCPU returns the CPU time (user + system) process pid has used, from
// /proc/PID/stat in clock ticks of 10 ms (Linux's USER_HZ).
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatalf("cpu time of process %d: %v", pid, err)
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis start with field 3.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
