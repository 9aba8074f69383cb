package topology

// Codec converts values of type T to and from record bytes.
//
// Decode must not keep a reference to b: the runtime reuses record buffers.
// Implementations must be safe for concurrent use; one codec value serves every
// partition of every agent that reads or writes its topic.
type Codec[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(b []byte) (T, error)
}
