package inference_test

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/processors/inference"
)

// readRows reads whitespace-separated numbers, one row per line.
func readRows(t *testing.T, path string) [][]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]float64
	s := bufio.NewScanner(f)
	for s.Scan() {
		var row []float64
		for _, field := range strings.Fields(s.Text()) {
			x, err := strconv.ParseFloat(field, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			row = append(row, x)
		}
		rows = append(rows, row)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// readLibsvm reads rows of "label index:value ..." into dense rows of n
// values, NaN where a row has no value (XGBoost's missing).
func readLibsvm(t *testing.T, path string, n int) [][]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]float64
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		row := make([]float64, n)
		for i := range row {
			row[i] = math.NaN()
		}
		for _, f := range fields[1:] { // fields[0] is the label
			i, v, _ := strings.Cut(f, ":")
			col, err1 := strconv.Atoi(i)
			x, err2 := strconv.ParseFloat(v, 64)
			if err := errors.Join(err1, err2); err != nil || col >= n {
				t.Fatalf("%s: bad entry %q (%v)", path, f, err)
			}
			row[col] = x
		}
		rows = append(rows, row)
	}
	return rows
}

// names returns n feature names f0...
func names(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("f%d", i)
	}
	return s
}

// checkScores scores every row with m and compares with want, as leaves' own
// tests do (absolute difference 1e-7: the expected values were written by
// LightGBM and XGBoost themselves with float32 arithmetic in places).
func checkScores(t *testing.T, m inference.Model, rows [][]float64, want [][]float64) {
	t.Helper()
	if len(rows) != len(want) || len(rows) == 0 {
		t.Fatalf("%d rows, %d expected predictions", len(rows), len(want))
	}
	for i, row := range rows {
		got, err := m.Predict(row)
		if err != nil {
			t.Fatalf("row %d: Predict: %v", i, err)
		}
		if math.Abs(got-want[i][0]) > 1e-7 {
			t.Errorf("row %d: score %.10f, want %.10f (from the model's own library)", i, got, want[i][0])
		}
	}
}

// TestLeavesLightGBM pins that a LightGBM text model scores the rows of
// leaves' sample set as LightGBM itself did, and that feature names come from
// the file when not given.
func TestLeavesLightGBM(t *testing.T) {
	m, err := inference.LoadLeaves(filepath.Join("testdata", "lg_dart_breast_cancer.model"), inference.LeavesOptions{
		Format:    inference.LightGBM,
		Version:   "7",
		Transform: true,
	})
	if err != nil {
		t.Fatalf("LoadLeaves: %v", err)
	}
	if got := m.Features(); len(got) != 30 || got[0] != "Column_0" || got[29] != "Column_29" {
		t.Errorf("Features() = %v, want Column_0..Column_29 from the file", got)
	}
	if m.Name() != "lg_dart_breast_cancer" || m.Version() != "7" {
		t.Errorf("Name, Version = %q, %q, want the file's base name and 7", m.Name(), m.Version())
	}
	checkScores(t, m, readRows(t, filepath.Join("testdata", "breast_cancer_test.tsv")),
		readRows(t, filepath.Join("testdata", "lg_dart_breast_cancer_true_predictions.txt")))
}

// TestLeavesXGBoost pins that an XGBoost binary model scores the rows of
// leaves' sample set (sparse: absent values are missing) as XGBoost did.
func TestLeavesXGBoost(t *testing.T) {
	const n = 127 // agaricus has features 1..126
	m, err := inference.LoadLeaves(filepath.Join("testdata", "xgagaricus.model"), inference.LeavesOptions{
		Format:    inference.XGBoost,
		Name:      "agaricus",
		Features:  names(n),
		Transform: true,
	})
	if err != nil {
		t.Fatalf("LoadLeaves: %v", err)
	}
	if m.Name() != "agaricus" || len(m.Version()) != 12 {
		t.Errorf("Name, Version = %q, %q, want agaricus and 12 hex digits of the file's hash", m.Name(), m.Version())
	}
	checkScores(t, m, readLibsvm(t, filepath.Join("testdata", "agaricus_test_300.libsvm"), n),
		readRows(t, filepath.Join("testdata", "xgagaricus_true_predictions_300.txt")))
	if _, err := m.Predict(make([]float64, n-1)); err == nil {
		t.Error("Predict with one value too few succeeded, want an error")
	}
}

// TestLeavesRaw pins Transform=false: the score is the raw margin, whose
// sigmoid is the probability.
func TestLeavesRaw(t *testing.T) {
	path := filepath.Join("testdata", "lg_dart_breast_cancer.model")
	raw, err := inference.LoadLeaves(path, inference.LeavesOptions{Format: inference.LightGBM})
	if err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, filepath.Join("testdata", "breast_cancer_test.tsv"))
	want := readRows(t, filepath.Join("testdata", "lg_dart_breast_cancer_true_predictions.txt"))
	z, err := raw.Predict(rows[0])
	if err != nil {
		t.Fatal(err)
	}
	if p := 1 / (1 + math.Exp(-z)); math.Abs(p-want[0][0]) > 1e-7 {
		t.Errorf("sigmoid(raw score %v) = %v, want %v", z, p, want[0][0])
	}
}

func TestLoadLeavesErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lgb := filepath.Join("testdata", "lg_dart_breast_cancer.model")
	xgb := filepath.Join("testdata", "xgagaricus.model")
	truncated, err := os.ReadFile(lgb)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		o    inference.LeavesOptions
		want string
	}{
		{"missing file", filepath.Join(dir, "nope.model"), inference.LeavesOptions{Format: inference.LightGBM}, "no such file"},
		{"unknown format", lgb, inference.LeavesOptions{Format: "catboost"}, `Format "catboost"`},
		{"no format", lgb, inference.LeavesOptions{}, `Format ""`},
		{"garbage", write("garbage.model", "this is not a model\n"), inference.LeavesOptions{Format: inference.LightGBM}, "not a lightgbm model"},
		{"empty xgboost", write("empty.model", ""), inference.LeavesOptions{Format: inference.XGBoost, Features: names(3)}, "not a xgboost model"},
		{"truncated", write("trunc.model", string(truncated[:len(truncated)/2])), inference.LeavesOptions{Format: inference.LightGBM}, "not a lightgbm model"},
		{"lightgbm read as xgboost", lgb, inference.LeavesOptions{Format: inference.XGBoost, Features: names(30)}, "not a xgboost model"},
		{"xgboost without features", xgb, inference.LeavesOptions{Format: inference.XGBoost}, "names no features: list them"},
		{"too few features", xgb, inference.LeavesOptions{Format: inference.XGBoost, Features: names(5)}, "names 5"},
		{"duplicate feature", lgb, inference.LeavesOptions{Format: inference.LightGBM, Features: []string{"a", "a"}}, `"a" is named twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := inference.LoadLeaves(tc.path, tc.o)
			if !errors.Is(err, inference.ErrModel) {
				t.Fatalf("LoadLeaves = %v, %v, want ErrModel", m, err)
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name the file %s and say %q", err, tc.path, tc.want)
			}
		})
	}
}
