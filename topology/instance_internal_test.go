package topology

import "testing"

// TestInstanceName pins the name exactly-once mode gives a data dir's
// transactional producers: made once, the same on every later run on the
// dir (a restarted instance fences its predecessor), another on another dir.
func TestInstanceName(t *testing.T) {
	dir := t.TempDir()
	a, err := instanceName(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := instanceName(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := instanceName(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if a == "" || a != b || a == c {
		t.Errorf("names %q, %q on one dir and %q on another: want one stable name per dir", a, b, c)
	}
}
