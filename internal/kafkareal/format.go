package kafkareal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// format formats every node's log directory for one new cluster id.
//
// Kafka's StorageTool writes two files per node: meta.properties (cluster
// id, node id, a random directory id), and in __cluster_metadata-0 the
// bootstrap snapshot of the feature levels. With static controller voters
// only meta.properties differs between nodes (and the snapshot's
// timestamps), so the tool runs once per Kafka
// installation, into a template in the cache, and each node gets a copy
// with its own meta.properties: a JVM start (3-30 s on 2 busy cores) saved
// per node of every cluster.
func (c *Cluster) format(ctx context.Context) error {
	tmpl, err := c.template(ctx)
	if err != nil {
		return err
	}
	clusterID := newID()
	for _, n := range c.nodes {
		data := filepath.Join(n.dir, "data")
		if err := os.MkdirAll(filepath.Join(data, metadataDir), 0o755); err != nil {
			return fmt.Errorf("kafkareal: %w", err)
		}
		b, err := os.ReadFile(filepath.Join(tmpl, metadataDir, snapshot))
		if err != nil {
			return fmt.Errorf("kafkareal: format template: %w", err)
		}
		if err := os.WriteFile(filepath.Join(data, metadataDir, snapshot), b, 0o444); err != nil {
			return fmt.Errorf("kafkareal: %w", err)
		}
		meta := fmt.Sprintf("node.id=%d\ndirectory.id=%s\nversion=1\ncluster.id=%s\n", n.ID, newID(), clusterID)
		if err := os.WriteFile(filepath.Join(data, "meta.properties"), []byte(meta), 0o644); err != nil {
			return fmt.Errorf("kafkareal: %w", err)
		}
	}
	return nil
}

// Files of a formatted log directory that do not depend on the node.
const (
	metadataDir = "__cluster_metadata-0"
	snapshot    = "00000000000000000000-0000000000.checkpoint"
)

// template returns a log directory formatted by Kafka's StorageTool for
// this installation, making it on first use.
func (c *Cluster) template(ctx context.Context) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kafkareal: %w", err)
	}
	sum := sha256.Sum256([]byte(c.home))
	dir := filepath.Join(cache, "sluice", "kafka", "format-"+hex.EncodeToString(sum[:6]))
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, metadataDir, snapshot)); err == nil {
		return data, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kafkareal: %w", err)
	}
	unlock, err := lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(data, metadataDir, snapshot)); err == nil {
		return data, nil
	}
	work, err := os.MkdirTemp(dir, "format-")
	if err != nil {
		return "", fmt.Errorf("kafkareal: %w", err)
	}
	defer os.RemoveAll(work)
	props := fmt.Sprintf("process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:9\n"+
		"listeners=PLAINTEXT://127.0.0.1:8,CONTROLLER://127.0.0.1:9\ncontroller.listener.names=CONTROLLER\nlog.dirs=%s\n",
		filepath.Join(work, "data"))
	if err := os.WriteFile(filepath.Join(work, "server.properties"), []byte(props), 0o644); err != nil {
		return "", fmt.Errorf("kafkareal: %w", err)
	}
	cmd := c.java(ctx, "128m", "kafka.tools.StorageTool", "format", "-t", newID(), "-c", filepath.Join(work, "server.properties"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("kafkareal: kafka-storage format: %w\n%s", err, tail(string(out), 10))
	}
	os.RemoveAll(data)
	if err := os.Rename(filepath.Join(work, "data"), data); err != nil {
		return "", fmt.Errorf("kafkareal: %w", err)
	}
	return data, nil
}

// newID returns a random Kafka Uuid in its text form (base64url of 16
// bytes, unpadded), as cluster and directory ids are written.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
