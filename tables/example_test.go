package tables_test

import (
	"fmt"
	"log"
	"os"

	"github.com/sluicehq/sluice/tables"
)

// Example walks a table partition through the calls goka makes: build and
// open, read the stored offset, replay the changelog, mark recovered, process
// messages, close.
func Example() {
	dir, err := os.MkdirTemp("", "tables-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// goka.WithStorageBuilder(tables.Builder(dir)) makes goka do this.
	build := tables.Builder(dir)
	st, err := build("clicks-table", 0)
	if err != nil {
		log.Fatal(err)
	}
	if err := st.Open(); err != nil {
		log.Fatal(err)
	}
	offset, err := st.GetOffset(-1) // -1: nothing stored, recover from the oldest
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored offset:", offset)

	// Recovery: one Set and one SetOffset per changelog record, batched.
	for i, count := range []string{"1", "2", "3"} {
		if err := st.Set("alice", []byte(count)); err != nil {
			log.Fatal(err)
		}
		if err := st.SetOffset(int64(i)); err != nil {
			log.Fatal(err)
		}
	}
	if err := st.MarkRecovered(); err != nil {
		log.Fatal(err)
	}

	// Processing: Get, Set, and SetOffset when the changelog write is acked.
	v, err := st.Get("alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("alice: %s\n", v)
	if err := st.Set("alice", []byte("4")); err != nil {
		log.Fatal(err)
	}
	if err := st.SetOffset(3); err != nil {
		log.Fatal(err)
	}
	if err := st.Close(); err != nil {
		log.Fatal(err)
	}

	// A restart finds the offset and resumes the changelog after it.
	st, err = build("clicks-table", 0)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	offset, err = st.GetOffset(-1)
	if err != nil {
		log.Fatal(err)
	}
	v, err = st.Get("alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("after restart: offset %d, alice: %s\n", offset, v)
	// Output:
	// stored offset: -1
	// alice: 3
	// after restart: offset 3, alice: 4
}
