package lint

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// root is the module's directory, seen from this package's.
const root = "../.."

// A mapRow is one row of DESIGN.md's file map: the paths of its first cell,
// relative to the module's root.
type mapRow struct {
	line    int    // in DESIGN.md
	cell    string // the first cell as written
	section string // the section the row sits in ("internal/"), "" before any
	paths   []string
}

var (
	sectionRe = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	pathRe    = regexp.MustCompile("`([^`]+)`")
)

// fileMap parses the table under "## File map" in DESIGN.md. The rules of
// its first cells (written above the table, too):
//   - **dir/** opens a section: the paths of the rows after it are relative
//     to dir, up to the next section. A section row with a description also
//     covers its directories, as a directory row does.
//   - `file.go` names a file, `txn*.go` the files a glob matches (in one
//     directory), `dir/` a directory and every Go file under it.
//   - Nothing else: names of types and functions go in the other cells.
func fileMap(t *testing.T) []mapRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "DESIGN.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []mapRow
	in, section := false, ""
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "## File map":
			in = true
			continue
		case !in:
			continue
		case strings.HasPrefix(line, "## "):
			return rows
		case !strings.HasPrefix(line, "|"):
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		cell := strings.TrimSpace(cells[1])
		if cell == "file" || strings.Trim(cell, "-: ") == "" {
			continue // the header and the separator
		}
		r := mapRow{line: i + 1, cell: cell}
		rest := cell
		if secs := sectionRe.FindAllStringSubmatch(cell, -1); secs != nil {
			section = secs[0][1]
			described := strings.Trim(strings.Join(cells[2:], ""), " ") != ""
			for _, s := range secs {
				if !strings.HasSuffix(s[1], "/") {
					t.Errorf("DESIGN.md:%d: section **%s** is not a directory: end it with /", r.line, s[1])
				}
				if described {
					r.paths = append(r.paths, s[1])
				}
			}
			rest = sectionRe.ReplaceAllString(rest, "")
		}
		r.section = section
		for _, p := range pathRe.FindAllStringSubmatch(cell, -1) {
			if strings.HasSuffix(p[1], ".go") || strings.HasSuffix(p[1], "/") {
				r.paths = append(r.paths, path.Join(section, p[1])+map[bool]string{true: "/"}[strings.HasSuffix(p[1], "/")])
			} else {
				t.Errorf("DESIGN.md:%d: row %s: `%s` is neither a Go file, a glob of them nor a directory (ending in /): move names to the other cells", r.line, cell, p[1])
			}
		}
		rest = pathRe.ReplaceAllString(rest, "")
		if strings.Trim(rest, ", ") != "" {
			t.Errorf("DESIGN.md:%d: row %s: the first cell holds %q besides paths: it names files (`f.go`), globs (`f*.go`), directories (`d/`) and sections (**d/**) only", r.line, cell, strings.Trim(rest, ", "))
		}
		rows = append(rows, r)
	}
	if !in {
		t.Fatal(`DESIGN.md has no "## File map" section`)
	}
	return rows
}

// goFiles returns the module's non-test Go files, slash-separated and
// relative to its root: every directory but testdata, hidden ones and other
// modules.
func goFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); rel != "." && err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestFileMap pins DESIGN.md's file map to the tree: every non-test Go file
// has a row (its own, a glob's or a directory's), and every row names files
// or directories that exist. Each failure says which row to add or remove.
func TestFileMap(t *testing.T) {
	rows := fileMap(t)
	files := goFiles(t)
	if len(rows) < 50 || len(files) < 100 {
		t.Fatalf("%d rows, %d Go files: the parser or the walk is broken", len(rows), len(files))
	}
	covered := map[string]bool{}
	named := map[string]int{} // file -> line of the row naming it
	for _, r := range rows {
		for _, p := range r.paths {
			var matched []string
			switch {
			case strings.HasSuffix(p, "/"):
				st, err := os.Stat(filepath.Join(root, p))
				if err != nil || !st.IsDir() {
					t.Errorf("DESIGN.md:%d: row %s names the directory %s, which does not exist: remove the row or fix its path", r.line, r.cell, p)
					continue
				}
				for _, f := range files {
					if strings.HasPrefix(f, p) {
						covered[f] = true
					}
				}
				continue
			case strings.ContainsAny(p, "*?["):
				for _, f := range files {
					if ok, _ := path.Match(p, f); ok {
						matched = append(matched, f)
					}
				}
				if matched == nil {
					t.Errorf("DESIGN.md:%d: row %s: the glob %s matches no Go file: remove the row or fix its glob", r.line, r.cell, p)
				}
			default:
				if !slices.Contains(files, p) {
					t.Errorf("DESIGN.md:%d: row %s names %s, which does not exist: remove the row or fix its path", r.line, r.cell, p)
					continue
				}
				if l, ok := named[p]; ok {
					t.Errorf("DESIGN.md:%d: row %s names %s again (line %d): one row per file", r.line, r.cell, p, l)
				}
				named[p] = r.line
				matched = []string{p}
			}
			for _, f := range matched {
				covered[f] = true
			}
		}
	}
	for _, f := range files {
		if !covered[f] {
			t.Errorf("%s has no row in DESIGN.md's file map: add %s", f, rowFor(rows, f))
		}
	}
}

// rowFor says where the row of f goes: in the section whose directory holds
// it most closely.
func rowFor(rows []mapRow, f string) string {
	best := ""
	for _, r := range rows {
		if strings.HasPrefix(f, r.section) && len(r.section) > len(best) {
			best = r.section
		}
	}
	if best == "" {
		return fmt.Sprintf("a section row \"| **%s/** | what it does | key names |\"", path.Dir(f))
	}
	return fmt.Sprintf("\"| `%s` | what it does | key names |\" under **%s**", strings.TrimPrefix(f, best), best)
}

// TestDiagramImports pins DESIGN.md's layer diagram to the import graph:
// every arrow A --> B it draws is an import of some non-test package under A
// of some package under B. A node is a directory of the module (its id, or
// internal/ and its id) or one of the dependencies named below.
func TestDiagramImports(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "DESIGN.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "```mermaid\n")
	if start < 0 {
		t.Fatal("DESIGN.md has no mermaid diagram")
	}
	diagram := doc[start:]
	diagram = diagram[:strings.Index(diagram[3:], "```")+3]
	external := map[string][]string{
		"goka":   {"github.com/lovoo/goka", "github.com/IBM/sarama"},
		"pebble": {"github.com/cockroachdb/pebble"},
		"kfake":  {"github.com/twmb/franz-go/pkg/kfake"},
	}
	pkgs := imports(t)
	// prefixes returns the import paths under node id.
	prefixes := func(id string) []string {
		if ext, ok := external[id]; ok {
			return ext
		}
		for _, dir := range []string{id, "internal/" + id} {
			if st, err := os.Stat(filepath.Join(root, dir)); err == nil && st.IsDir() {
				return []string{mod + "/" + dir}
			}
		}
		return nil
	}
	under := func(p string, prefixes []string) bool {
		for _, pre := range prefixes {
			if p == pre || strings.HasPrefix(p, pre+"/") {
				return true
			}
		}
		return false
	}
	edge := regexp.MustCompile(`^\s*(\w+)(?:\[[^\]]*\]|\[\([^)]*\)\])?\s*-->\s*(\w+)`)
	n := 0
	for _, line := range strings.Split(diagram, "\n") {
		m := edge.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n++
		from, to := prefixes(m[1]), prefixes(m[2])
		if from == nil || to == nil {
			t.Errorf("DESIGN.md diagram: %s --> %s: a node is neither a directory of the module nor one of %v", m[1], m[2], slices.Sorted(mapKeys(external)))
			continue
		}
		found := false
		for pkg, imps := range pkgs {
			if under(pkg, from) && slices.ContainsFunc(imps, func(i string) bool { return under(i, to) }) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("DESIGN.md diagram draws %s --> %s, but no package under %v imports one under %v: remove the arrow", m[1], m[2], from, to)
		}
	}
	if n < 10 {
		t.Fatalf("found %d arrows in DESIGN.md's diagram: the parser is broken", n)
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
