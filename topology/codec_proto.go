package topology

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Protobuf returns a codec that encodes messages of type M in the protobuf wire
// format. M is a pointer to a generated message type, written as the stream's
// value type is:
//
//	var Events = topology.Stream[*eventpb.Event]{Name: "events", Codec: topology.Protobuf[*eventpb.Event]()}
//
// Encode is deterministic (map entries are sorted), so equal messages give equal
// bytes. Decode returns a new message that shares no memory with its input; it
// keeps unknown fields, so an agent that forwards a record written with a newer
// schema does not drop them. Input that is not a valid message of type M (bad wire
// format, invalid UTF-8 in a proto3 string, nesting too deep) is an error; as the
// wire format allows, empty input decodes to the empty message.
//
// If M is not a concrete message pointer (an interface such as proto.Message, or a
// dynamic message type), Encode still works but Decode fails.
func Protobuf[M proto.Message]() Codec[M] {
	mt, err := messageType[M]()
	return protoCodec[M]{typ: mt, err: err}
}

// errNotConcrete is the Decode error of a protobuf codec whose type parameter
// names no generated message type.
var errNotConcrete = errors.New("topology: protobuf codec needs a pointer to a generated message type")

type protoCodec[M proto.Message] struct {
	typ protoreflect.MessageType // nil if err is set
	err error
}

var protoMarshal = proto.MarshalOptions{Deterministic: true}

func (protoCodec[M]) Encode(v M) ([]byte, error) { return protoMarshal.Marshal(v) }

func (c protoCodec[M]) Decode(b []byte) (M, error) {
	var zero M
	if c.err != nil {
		return zero, c.err
	}
	m, ok := c.typ.New().Interface().(M)
	if !ok {
		return zero, fmt.Errorf("topology: protobuf codec for %T: %w", zero, errNotConcrete)
	}
	// proto.Unmarshal copies what it keeps of b (bytes fields, unknown fields,
	// lazily decoded submessages), as Codec requires.
	if err := proto.Unmarshal(b, m); err != nil {
		return zero, err
	}
	return m, nil
}

// messageType returns the message type of M, found through the nil M that
// generated code accepts as a receiver of ProtoReflect. Types for which that
// does not work (interfaces, dynamicpb) get an error instead of a panic.
func messageType[M proto.Message]() (mt protoreflect.MessageType, err error) {
	var zero M
	if any(zero) == nil { // M is an interface type
		return nil, fmt.Errorf("topology: protobuf codec for interface type: %w", errNotConcrete)
	}
	defer func() {
		if recover() != nil || (err == nil && mt == nil) {
			mt, err = nil, fmt.Errorf("topology: protobuf codec for %T: %w", zero, errNotConcrete)
		}
	}()
	return zero.ProtoReflect().Type(), nil
}
