package main

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeGraph pins that README.md shows the graph the graph command draws.
func TestReadmeGraph(t *testing.T) {
	m, err := loadModel("")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Graph(m)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "```mermaid\n" + g.Mermaid(); !strings.Contains(string(readme), want) {
		t.Errorf("README.md lacks the graph; paste the output of 'go run ./examples/fraud graph':\n%s", g.Mermaid())
	}
}
