package broker

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kfake closes the connection of a client whose SASL authentication fails,
// where Kafka answers SASL_AUTHENTICATION_FAILED with a message and a
// client can tell a wrong password from a broker that went away; and it
// enables every mechanism, where Kafka answers a handshake for a mechanism
// not in sasl.enabled.mechanisms with UNSUPPORTED_SASL_MECHANISM. The
// authenticator below checks each SASL request first, as Kafka would, and
// answers the failures Kafka's way; what it lets through, kfake checks
// again and completes.
//
// To check a SCRAM proof it needs the salt kfake keeps for the user, so it
// sets every SCRAM user's salt itself (AlterUserScramCredentials, as
// kafka-configs does), and rebuilds kfake's server-first message: the
// client's nonce and 16 random bytes of kfake's, the salt, 4096 iterations.

// scramIterations and serverNonceLen are kfake's: its server-first message
// has i=4096 and adds 16 random bytes (22 characters) to the client's nonce.
const (
	scramIterations = 4096
	serverNonceLen  = 22
)

// authenticator is the broker's SASL check; see above.
type authenticator struct {
	users []user
	salts map[user][]byte

	mu     sync.Mutex
	firsts map[string]first // client-first messages by client nonce
}

// first is a client-first message waiting for its client-final.
type first struct {
	user, bare string
	at         time.Time
}

// startAuthenticator sets the salt of every SCRAM user with a client made
// of opts and installs the checks on c.
func startAuthenticator(c *kfake.Cluster, addr string, users []user, opts []kgo.Opt) error {
	if len(users) == 0 {
		return nil
	}
	a := &authenticator{users: users, salts: map[user][]byte{}, firsts: map[string]first{}}
	var ups []kadm.UpsertSCRAM
	for _, u := range users {
		mech, h := kadm.ScramSha256, sha256.New
		switch u.mechanism {
		case "SCRAM-SHA-256":
		case "SCRAM-SHA-512":
			mech, h = kadm.ScramSha512, sha512.New
		default:
			continue
		}
		salt := make([]byte, 16)
		rand.Read(salt)
		salted, err := pbkdf2.Key(h, u.password, salt, scramIterations, h().Size())
		if err != nil {
			return fmt.Errorf("SCRAM credentials of %q: %w", u.name, err)
		}
		a.salts[u] = salt
		ups = append(ups, kadm.UpsertSCRAM{User: u.name, Mechanism: mech, Iterations: scramIterations, Salt: salt, SaltedPassword: salted})
	}
	if len(ups) > 0 {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), cleanTimeout)
		defer cancel()
		res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, ups)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return fmt.Errorf("set SCRAM credentials: %w", err)
		}
	}
	c.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return a.handshake(req.(*kmsg.SASLHandshakeRequest))
	})
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return a.authenticate(req.(*kmsg.SASLAuthenticateRequest))
	})
	return nil
}

// enabled returns the mechanisms that have users, as Kafka's
// sasl.enabled.mechanisms.
func (a *authenticator) enabled() []string {
	var out []string
	for _, u := range a.users {
		if !slices.Contains(out, u.mechanism) {
			out = append(out, u.mechanism)
		}
	}
	return out
}

// handshake refuses a mechanism no user has.
func (a *authenticator) handshake(req *kmsg.SASLHandshakeRequest) (kmsg.Response, error, bool) {
	if slices.Contains(a.enabled(), req.Mechanism) {
		return nil, nil, false
	}
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
	resp.SupportedMechanisms = a.enabled()
	return resp, nil, true
}

// authenticate answers a failing SASL step with SASL_AUTHENTICATION_FAILED.
func (a *authenticator) authenticate(req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error, bool) {
	msg := a.check(req.SASLAuthBytes)
	if msg == "" {
		return nil, nil, false
	}
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
	resp.ErrorMessage = &msg
	return resp, nil, true
}

// check returns why b, a PLAIN message or a SCRAM client message, fails,
// or "" if it does not (kfake checks it again).
func (a *authenticator) check(b []byte) string {
	const failed = "Authentication failed: Invalid username or password"
	s := string(b)
	switch {
	case strings.Count(s, "\x00") == 2: // PLAIN: authzid NUL user NUL password
		f := strings.Split(s, "\x00")
		if slices.Contains(a.users, user{"PLAIN", f[1], f[2]}) {
			return ""
		}
		return failed
	case strings.HasPrefix(s, "c="): // SCRAM client-final: c=biws,r=NONCE,p=PROOF
		return a.checkFinal(s, failed)
	default: // SCRAM client-first: n,,n=USER,r=NONCE
		_, bare, ok := strings.Cut(strings.TrimPrefix(s, "n,"), ",")
		name, nonce := attr(bare, "n"), attr(bare, "r")
		if !ok || name == "" || nonce == "" {
			return "" // not for us to judge
		}
		if !slices.ContainsFunc(a.users, func(u user) bool { return u.name == name && strings.HasPrefix(u.mechanism, "SCRAM") }) {
			return failed
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		for n, f := range a.firsts {
			if time.Since(f.at) > time.Minute { // an exchange that never finished
				delete(a.firsts, n)
			}
		}
		a.firsts[nonce] = first{user: name, bare: bare, at: time.Now()}
		return ""
	}
}

// checkFinal verifies a SCRAM client-final message s against the salts of
// its user.
func (a *authenticator) checkFinal(s, failed string) string {
	nonce, proof64 := attr(s, "r"), attr(s, "p")
	withoutProof, _, _ := strings.Cut(s, ",p=")
	if len(nonce) <= serverNonceLen {
		return ""
	}
	a.mu.Lock()
	f, ok := a.firsts[nonce[:len(nonce)-serverNonceLen]]
	delete(a.firsts, nonce[:len(nonce)-serverNonceLen])
	a.mu.Unlock()
	proof, err := base64.StdEncoding.DecodeString(proof64)
	if !ok || err != nil {
		return ""
	}
	for u, salt := range a.salts {
		if u.name != f.user {
			continue
		}
		h := sha256.New
		if u.mechanism == "SCRAM-SHA-512" {
			h = sha512.New
		}
		serverFirst := fmt.Sprintf("r=%s,s=%s,i=%d", nonce, base64.StdEncoding.EncodeToString(salt), scramIterations)
		if scramProofOK(h, u.password, salt, f.bare+","+serverFirst+","+withoutProof, proof) {
			return ""
		}
	}
	return failed
}

// scramProofOK reports whether proof is the client proof of RFC 5802 for
// password and authMessage.
func scramProofOK(h func() hash.Hash, password string, salt []byte, authMessage string, proof []byte) bool {
	salted, err := pbkdf2.Key(h, password, salt, scramIterations, h().Size())
	if err != nil || len(proof) != h().Size() {
		return false
	}
	mac := hmac.New(h, salted)
	mac.Write([]byte("Client Key"))
	clientKey := mac.Sum(nil)
	sum := h()
	sum.Write(clientKey)
	stored := sum.Sum(nil)
	mac = hmac.New(h, stored)
	mac.Write([]byte(authMessage))
	sig := mac.Sum(nil)
	want := make([]byte, len(sig))
	for i := range sig {
		want[i] = clientKey[i] ^ sig[i]
	}
	return bytes.Equal(want, proof)
}

// attr returns the value of SCRAM attribute name ("r" for r=...) in msg.
func attr(msg, name string) string {
	for _, f := range strings.Split(msg, ",") {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}
