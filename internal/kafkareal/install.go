package kafkareal

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Version is the Apache Kafka release sluice is tested on, pinned here and
// nowhere else: [Install] fetches its jars from Maven Central at this
// version, and the cache directory is named after it.
const Version = "4.4.0"

// HomeEnv names the environment variable that points at an Apache Kafka
// distribution (the directory with libs/) to use instead of the jars
// [Install] downloads.
const HomeEnv = "SLUICE_KAFKA_HOME"

// ErrUnavailable is returned by [Install] and [Start] when Kafka cannot run
// on this machine: Java 17 or later, or Maven to fetch the jars, is
// missing. The error says what to install.
var ErrUnavailable = errors.New("kafkareal: Apache Kafka cannot run here")

//go:embed pom.xml
var pom []byte

// Install returns the directory of an Apache Kafka installation whose libs/
// holds Kafka's jars: $SLUICE_KAFKA_HOME if set, otherwise the cache
// directory ~/.cache/sluice/kafka/VERSION (under os.UserCacheDir), which it
// fills on first use with `mvn dependency:copy-dependencies` from Maven
// Central (about 55 MB). Processes installing at once wait for each other.
// It fails with [ErrUnavailable] when java (17 or later) or, for a first
// download, mvn is missing.
func Install(ctx context.Context) (string, error) {
	if err := checkJava(ctx); err != nil {
		return "", err
	}
	if home := os.Getenv(HomeEnv); home != "" {
		if m, _ := filepath.Glob(filepath.Join(home, "libs", "kafka_*.jar")); len(m) == 0 {
			return "", fmt.Errorf("%s=%s has no libs/kafka_*.jar: point it at an Apache Kafka distribution, or unset it to download Kafka %s: %w",
				HomeEnv, home, Version, ErrUnavailable)
		}
		return home, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kafkareal: no cache directory (set HOME or %s): %w", HomeEnv, err)
	}
	home := filepath.Join(cache, "sluice", "kafka", Version)
	libs := filepath.Join(home, "libs")
	if complete(libs) {
		return home, nil
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return "", fmt.Errorf("kafkareal: %w", err)
	}
	unlock, err := lock(filepath.Join(home, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if complete(libs) { // another process fetched them while we waited
		return home, nil
	}
	if err := fetch(ctx, home, libs); err != nil {
		return "", err
	}
	return home, nil
}

// complete reports whether libs holds a finished download: fetch renames
// the directory into place only when Maven succeeded.
func complete(libs string) bool {
	m, _ := filepath.Glob(filepath.Join(libs, "kafka_*.jar"))
	return len(m) > 0
}

// fetch runs Maven on the embedded pom into a temporary directory beside
// libs and renames it into place.
func fetch(ctx context.Context, home, libs string) error {
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return fmt.Errorf("mvn not found: install Maven (apt-get install maven) to fetch Kafka %s's jars, or set %s to a Kafka distribution: %w",
			Version, HomeEnv, ErrUnavailable)
	}
	work, err := os.MkdirTemp(home, "fetch-")
	if err != nil {
		return fmt.Errorf("kafkareal: %w", err)
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, "pom.xml"), pom, 0o644); err != nil {
		return fmt.Errorf("kafkareal: %w", err)
	}
	out := filepath.Join(work, "libs")
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "dependency:copy-dependencies",
		"-Dkafka.version="+Version, "-DoutputDirectory="+out)
	cmd.Dir = work
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kafkareal: mvn dependency:copy-dependencies for Kafka %s: %w\n%s", Version, err, tail(log.String(), 20))
	}
	if !complete(out) {
		return fmt.Errorf("kafkareal: mvn fetched no kafka_*.jar for Kafka %s\n%s", Version, tail(log.String(), 20))
	}
	os.RemoveAll(libs) // a partial directory from a version of this code that did not rename
	if err := os.Rename(out, libs); err != nil {
		return fmt.Errorf("kafkareal: %w", err)
	}
	return nil
}

// lock takes an exclusive lock on path, waiting for other processes, and
// returns the function that releases it.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kafkareal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("kafkareal: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

var javaVersion = regexp.MustCompile(`version "(\d+)`)

// checkJava fails with [ErrUnavailable] unless java 17 or later is on PATH.
func checkJava(ctx context.Context) error {
	java, err := exec.LookPath("java")
	if err != nil {
		return fmt.Errorf("java not found: install Java 17 or later (apt-get install openjdk-17-jre-headless) to run Kafka %s: %w", Version, ErrUnavailable)
	}
	out, err := exec.CommandContext(ctx, java, "-version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -version: %w: %s: %w", java, err, tail(string(out), 3), ErrUnavailable)
	}
	m := javaVersion.FindStringSubmatch(string(out))
	if m == nil {
		return nil // an unusual vendor string: let Kafka itself judge
	}
	if v, _ := strconv.Atoi(m[1]); v < 17 {
		return fmt.Errorf("%s is Java %d: Kafka %s needs Java 17 or later: %w", java, v, Version, ErrUnavailable)
	}
	return nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
